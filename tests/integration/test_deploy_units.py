"""The shipped units work as shipped (issue 19).

From a `make install DESTDIR=` tree, each daemon runs with exactly its
unit's user, groups, capabilities and filesystem view (deployunits.py
reproduces them from the installed unit file) and the installed example
config with only the certificate, the secrets and the optional tables a
test needs filled in.  Each starts (ExecStartPre= `-t` included), reloads
on SIGHUP (a renewed certificate is served afterwards, a rotated secret is
used) and stops on SIGTERM.  The named bugs each have their check:
xmpp-core re-reads its secrets on SIGHUP as its own user (and a secret the
user cannot read is a failed reload, so the check can fail); its database
connection is made as the user xmpp-core under `peer` authentication;
/run/xmpp-core/control.sock answers xmppctl under ProtectSystem=strict;
portmap's table comes back after nftables' `flush ruleset` on reload.
Every unit passes `systemd-analyze verify`.

Each daemon has its own network namespace (the units' fixed ports never
meet another test's) with the documentation addresses of its config on lo.
"""

import os
import re
import shutil
import subprocess

import pytest

from deployunits import (InstalledTree, PeerPostgres, UnitRun, edit_config, exec_argv,
                         make_cert, pem_body, served_cert, unit_value, upload_put,
                         wait_for, write_secret)

UNITS = ["xmpp-core", "turnd", "upload-gw", "portmap", "dumbclient-redirect"]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("systemd-sysusers"),
    reason="needs root, setpriv (util-linux) and systemd-sysusers (systemd)")


@pytest.fixture(scope="module")
def tree():
    t = InstalledTree()
    yield t
    t.destroy()


def test_units_verify(tree):
    """systemd-analyze verify of every installed unit; the binaries are
    looked up in the tree (not installed on the host)."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed")
    d = os.path.join(tree.work, "verify")
    os.makedirs(d, exist_ok=True)
    for u in UNITS:
        text = open(tree.unit_path(u)).read()
        with open(os.path.join(d, u + ".service"), "w") as f:
            f.write(text.replace("/usr/sbin/", tree.path("/usr/sbin") + "/"))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no"]
                       + [os.path.join(d, u + ".service") for u in UNITS],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    # portmap and dumbclient-redirect follow nftables.service (its
    # `flush ruleset` drops their tables)
    for u in ("portmap", "dumbclient-redirect"):
        unit = tree.unit(u)
        assert unit["Unit"]["PartOf"] == ["nftables.service"]
        assert unit["Unit"]["ReloadPropagatedFrom"] == ["nftables.service"]
        assert "nftables.service" in " ".join(unit["Install"]["WantedBy"])
    # what sysusers made: a group per shared secret, members as planned
    groups = {}
    for line in open(tree.path("/etc/group")):
        p = line.rstrip("\n").split(":")
        groups[p[0]] = set(filter(None, p[3].split(",")))
    assert groups["edge-turn"] == {"xmpp-core", "turnd"}
    assert groups["edge-upload"] == {"xmpp-core", "upload-gw"}
    assert groups["edge-tls"] == {"xmpp-core", "turnd"}


def test_xmpp_core_unit(tree):
    pg = PeerPostgres(tree)
    unit = None
    try:
        make_cert(tree, "example.org", "example.org")
        write_secret(tree, "upload.secret", "edge-upload", "upload-secret-one")
        write_secret(tree, "turn.secret", "edge-turn", "turn-secret-one")
        # the shipped example with its [upload] and [extdisco] tables on:
        # the secrets SIGHUP must re-read as xmpp-core
        edit_config(tree, "xmpp-core", append='''
[upload]
url = "https://upload.example.org/upload/"
secret_file = "/etc/edge/secrets/upload.secret"

[extdisco]
secret_file = "/etc/edge/secrets/turn.secret"
[[extdisco.service]]
type = "turns"
host = "turns.example.org"
port = 443
transport = "tcp"
''')
        unit = UnitRun(tree, "xmpp-core", pg_socket_dir=pg.sock)
        assert unit_value(unit.svc, "User") == "xmpp-core"
        unit.start()
        # peer authentication: the server's connections are the role xmpp-core
        roles = pg.psql("SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'xmpp'")
        assert roles.split() == ["xmpp-core"], roles
        assert pg.psql("SELECT count(*) FROM pg_tables WHERE tableowner = 'xmpp-core'", db="xmpp") \
            .strip() != "0"
        first = served_cert(unit, "::1", 5223)
        assert pem_body(first) == pem_body(open(tree.path("/etc/edge/tls/example.org.fullchain.pem")).read())
        # xmppctl over /run/xmpp-core/control.sock, as the same user
        ctl = subprocess.run(["nsenter", "-t", str(unit.proc.pid), "-n", "-m"]
                             + unit._setpriv() + ["/usr/sbin/xmppctl", "stats"],
                             capture_output=True, text=True, timeout=30)
        assert ctl.returncode == 0 and ctl.stdout.strip(), ctl.stdout + ctl.stderr

        # acme.sh renews, the TURN secret rotates: SIGHUP applies both
        renewed = make_cert(tree, "example.org", "example.org")
        assert pem_body(renewed) != pem_body(first)
        write_secret(tree, "turn.secret", "edge-turn", "turn-secret-two")
        unit.reload()
        assert "configuration reloaded" in unit.log()
        assert pem_body(served_cert(unit, "::1", 5223)) == pem_body(renewed)
        assert pem_body(served_cert(unit, "::1", 5223)) != pem_body(first)

        # a secret its user cannot read is a failed reload, logged, and the
        # running configuration stays (what the old unit did silently)
        write_secret(tree, "upload.secret", "edge-upload", "upload-secret-two", mode=0o600)
        unit.reload()
        assert re.search(r"reload: .*upload\.secret: Permission denied", unit.log()), unit.log()
        write_secret(tree, "upload.secret", "edge-upload", "upload-secret-two")
        before = unit.log().count("configuration reloaded")
        unit.reload()
        assert unit.log().count("configuration reloaded") == before + 1, unit.log()
        log = unit.stop()
        assert "stopped" in log
    finally:
        if unit:
            unit.cleanup()
        pg.stop()


def test_turnd_unit(tree):
    make_cert(tree, "example.org", "example.org")
    write_secret(tree, "turn.secret", "edge-turn", "turn-secret-one")
    unit = UnitRun(tree, "turnd", addresses=["198.51.100.251", "2001:db8:50e:1::251"])
    try:
        unit.start()
        first = served_cert(unit, "198.51.100.251", 3443)
        renewed = make_cert(tree, "example.org", "example.org")
        write_secret(tree, "turn.secret", "edge-turn", "turn-secret-two")
        unit.reload()
        assert pem_body(served_cert(unit, "198.51.100.251", 3443)) == pem_body(renewed)
        assert pem_body(renewed) != pem_body(first)
        assert "reload" in unit.log() and "keeping" not in unit.log(), unit.log()
        unit.stop()
    finally:
        unit.cleanup()


def test_upload_gw_unit(tree):
    write_secret(tree, "upload.secret", "edge-upload", "upload-secret-one")
    unit = UnitRun(tree, "upload-gw")
    try:
        unit.start()
        assert upload_put(unit, "a/one.txt", "one", "upload-secret-one") == "201"
        # stored in the unit's StateDirectory=, owned by the unit's user
        stored = [os.path.join(r, n) for r, _, ns in os.walk(tree.path("/var/lib/edge/upload-gw"))
                  for n in ns if n == "one.txt"]
        assert stored and os.stat(stored[0]).st_uid == tree.ids("upload-gw")[0]
        write_secret(tree, "upload.secret", "edge-upload", "upload-secret-two")
        assert upload_put(unit, "b/two.txt", "two", "upload-secret-two") == "403"
        unit.reload()
        assert upload_put(unit, "b/two.txt", "two", "upload-secret-two") == "201"
        assert upload_put(unit, "c/three.txt", "three", "upload-secret-one") == "403"
        unit.stop()
    finally:
        unit.cleanup()


class NetnsHolder:
    """A network namespace kept by one sleeping process, for a oneshot
    unit whose commands each run in it."""

    def __init__(self):
        self.proc = subprocess.Popen(["unshare", "-n", "sleep", "600"])
        wait_for(lambda: os.readlink("/proc/%d/ns/net" % self.proc.pid)
                 != os.readlink("/proc/self/ns/net"), "netns")

    def run(self, argv):
        return subprocess.run(["nsenter", "-t", str(self.proc.pid), "-n"] + argv,
                              capture_output=True, text=True, timeout=30)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def test_portmap_unit(tree):
    if not shutil.which("nft"):
        pytest.skip("nft not installed")
    ns = NetnsHolder()
    try:
        unit = UnitRun(tree, "portmap")
        assert unit_value(unit.svc, "User") is None

        def step(key):
            for line in unit.svc[key]:
                r = ns.run(["unshare", "-m", "sh", "-c", unit.script(exec_argv(line), {})])
                assert r.returncode == 0, (key, r.stdout, r.stderr)

        def table():
            return ns.run(["nft", "list", "table", "inet", "portmap"])

        step("ExecStartPre")
        step("ExecStart")
        t = table()
        assert t.returncode == 0 and "192.0.2.137" in t.stdout and "3443" in t.stdout, t.stderr
        # nftables.service starting again: Debian's nftables.conf flushes
        # the ruleset, then ReloadPropagatedFrom= runs our ExecReload=
        assert ns.run(["nft", "flush", "ruleset"]).returncode == 0
        assert table().returncode != 0
        step("ExecReload")
        assert table().returncode == 0
        step("ExecStop")
        assert table().returncode != 0
    finally:
        ns.close()


def test_dumbclient_redirect_unit(tree):
    if not shutil.which("nft"):
        pytest.skip("nft not installed")
    # the example follows the domain's SRV records; with no DNS in the
    # namespace, the example's own alternative (fixed targets) is used
    edit_config(tree, "dumbclient-redirect",
                replace=[('domain = "example.org"\n', '# domain = "example.org"\n'),
                         ('# target = ["192.0.2.136", "2001:db8:508::136"]',
                          'target = ["192.0.2.136", "2001:db8:508::136"]')])
    unit = UnitRun(tree, "dumbclient-redirect", addresses=["192.0.2.132", "2001:db8:508::132"])
    try:
        unit.start()
        t = unit.nsenter(["nft", "list", "table", "inet", "dumbclient_redirect"], text=True)
        assert t.returncode == 0 and "192.0.2.136" in t.stdout, t.stderr
        assert unit.nsenter(["nft", "flush", "ruleset"]).returncode == 0
        unit.reload()
        t = wait_for(lambda: (lambda r: r if r.returncode == 0 else None)(
            unit.nsenter(["nft", "list", "table", "inet", "dumbclient_redirect"], text=True)),
            "the table back after reload")
        assert "192.0.2.136" in t.stdout
        unit.stop()
        assert unit.proc.returncode == 0
    finally:
        unit.cleanup()


def test_man_pages(tree):
    """make install puts a page for each daemon (8) and its config (5);
    each renders without a warning from man/groff."""
    daemons = UNITS + ["xmppctl"]
    for d in daemons:
        assert os.path.exists(tree.path("/usr/share/man/man8/%s.8" % d)), d
    for d in UNITS:
        assert os.path.exists(tree.path("/usr/share/man/man5/%s.toml.5" % d)), d
    if not shutil.which("man"):
        pytest.skip("man-db not installed")
    for sec, names in (("8", daemons), ("5", [u + ".toml" for u in UNITS])):
        for n in names:
            page = tree.path("/usr/share/man/man%s/%s.%s" % (sec, n, sec))
            r = subprocess.run(["man", "--warnings", "-l", page], capture_output=True,
                               text=True, timeout=60, env=dict(os.environ, MANWIDTH="80"))
            assert r.returncode == 0 and r.stderr.strip() == "", (page, r.stderr)
            text = re.sub(".\b", "", r.stdout)	# overstrike bold, as man pipes it
            assert "NAME" in text and n in text, text
