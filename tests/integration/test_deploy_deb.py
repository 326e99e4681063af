"""The Debian packages (issue 19): `make deb` builds them with debhelper
from this build's objects, lintian finds nothing but what
debian/*.lintian-overrides explain, and they are installed on this machine with dpkg -i: the
maintainer scripts make the users, groups, directories and the two shared
secrets (root:<group> 0640), enable and start nothing; the daemons then
start from the installed files under their installed units (deployunits.py,
each in its own namespaces, with a private copy of /etc/edge so the host's
stays as the package left it), and dpkg --purge removes it all again.

Installing on the host is what a sysadmin does, and it is kept harmless
for tests running beside this one: nothing is started or enabled, no file
another test reads is touched, and whatever the packages made that was not
there before (users, groups, /etc/edge) is removed at the end.  The test
is skipped when an edge package is already installed (a real deployment),
and under SAN=1 (packages are made from the plain build; test_deploy_units
runs the sanitizer binaries under the same units).
"""

import glob
import os
import re
import shutil
import subprocess
import time

import pytest

from deployunits import (InstalledTree, PeerPostgres, UnitRun, make_cert, pem_body,
                         served_cert, upload_put)
from edgetest import BUILD, REPO, SAN

PACKAGES = ["edge-common", "edge-xmpp-core", "edge-turnd", "edge-upload-gw",
            "edge-portmap", "edge-dumbclient-redirect"]
DAEMONS = {"edge-xmpp-core": ["xmpp-core", "xmppctl"], "edge-turnd": ["turnd"],
           "edge-upload-gw": ["upload-gw"], "edge-portmap": ["portmap"],
           "edge-dumbclient-redirect": ["dumbclient-redirect"]}
USERS = ["xmpp-core", "turnd", "upload-gw"]
GROUPS = ["xmpp-core", "turnd", "upload-gw", "edge-tls", "edge-turn", "edge-upload"]
# lintian warnings and errors allowed beyond debian/*.lintian-overrides
# (each with its reason there): none
ALLOWED_TAGS = set()


def installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", pkg],
                       capture_output=True, text=True)
    return r.stdout.startswith("ii")


def dpkg(args, timeout=300):
    """dpkg, waiting (on a deadline) while another dpkg or apt holds the lock."""
    deadline = time.time() + timeout
    while True:
        r = subprocess.run(["dpkg"] + args, capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if r.returncode == 0 or "lock" not in r.stderr or time.time() > deadline:
            return r
        time.sleep(1)


def names(db):
    with open("/etc/" + db) as f:
        return {line.split(":")[0] for line in f if ":" in line}


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("dpkg-buildpackage")
                       or not shutil.which("dh") or not shutil.which("setpriv"),
                       reason="needs root, dpkg-dev and debhelper (deploy/deps.sh check)"),
    pytest.mark.skipif(SAN, reason="packages are built from the plain build"),
]


class PackageTree(InstalledTree):
    """The installed packages as InstalledTree sees a DESTDIR: units and
    binaries are the host's own (/usr/lib/systemd/system, /usr/sbin), the
    passwd/group the maintainer scripts wrote, and a copy of /etc/edge
    (the package's configs and secrets, ownership and modes kept)."""

    def __init__(self):
        import tempfile
        self.work = tempfile.mkdtemp(prefix="deploy-deb-", dir=BUILD)
        os.chmod(self.work, 0o755)
        self.root = os.path.join(self.work, "root")
        for d in ("usr/sbin", "etc", "var/lib/edge"):
            os.makedirs(os.path.join(self.root, d))
        for f in ("passwd", "group", "shadow", "gshadow"):
            shutil.copy2("/etc/" + f, os.path.join(self.root, "etc", f))
        subprocess.run(["cp", "-a", "/etc/edge", os.path.join(self.root, "etc/edge")], check=True)

    def unit_path(self, name):
        return "/usr/lib/systemd/system/%s.service" % name


@pytest.fixture(scope="module")
def debs():
    r = subprocess.run(["make", "--no-print-directory", "-C", REPO, "deb", "BUILD=" + BUILD],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    files = {}
    for p in PACKAGES:
        m = glob.glob(os.path.join(BUILD, "deb", p + "_*.deb"))
        assert len(m) == 1, (p, m)
        files[p] = m[0]
    return files


def test_lintian(debs):
    if not shutil.which("lintian"):
        pytest.skip("lintian not installed")
    changes = glob.glob(os.path.join(BUILD, "deb", "*.changes"))
    r = subprocess.run(["lintian", "--tag-display-limit", "0"] + changes,
                       capture_output=True, text=True, timeout=300)
    tags = set()
    for line in r.stdout.splitlines():
        m = re.match(r"^([EWI]): \S+: (\S+)", line)
        if m and m.group(1) in "EW":
            tags.add(m.group(2))
    assert tags <= ALLOWED_TAGS, r.stdout


def test_install_start_purge(debs):
    if any(installed(p) for p in PACKAGES):
        pytest.skip("edge packages are installed on this machine; not touching them")
    users0, groups0 = names("passwd"), names("group")
    etc_edge0 = os.path.exists("/etc/edge")
    varlib0 = os.path.exists("/var/lib/edge")
    tree = None
    try:
        r = dpkg(["-i"] + [debs[p] for p in PACKAGES])
        assert r.returncode == 0, r.stdout + r.stderr
        # the maintainer scripts: users, groups, directories, secrets
        users, groups = names("passwd"), names("group")
        assert set(USERS) <= users and set(GROUPS) <= groups
        for name, group in (("turn.secret", "edge-turn"), ("upload.secret", "edge-upload")):
            p = "/etc/edge/secrets/" + name
            st = os.stat(p)
            assert st.st_uid == 0 and st.st_mode & 0o7777 == 0o640, oct(st.st_mode)
            assert st.st_gid == int(subprocess.run(["getent", "group", group], capture_output=True,
                                                   text=True).stdout.split(":")[2])
            assert re.fullmatch(r"[0-9a-f]{64}\n", open(p).read())
        assert os.stat("/etc/edge/tls").st_mode & 0o777 == 0o750
        # ... and nothing enabled, nothing started
        wants = glob.glob("/etc/systemd/system/*.wants/*")
        for bins in DAEMONS.values():
            for b in bins:
                assert not any(os.path.basename(w) == b + ".service" for w in wants), wants
                assert os.access("/usr/sbin/" + b, os.X_OK)
        running = []
        for pid in os.listdir("/proc"):
            try:
                if os.readlink("/proc/%s/exe" % pid).startswith("/usr/sbin/") and \
                        os.path.basename(os.readlink("/proc/%s/exe" % pid)) in \
                        sum(DAEMONS.values(), []):
                    running.append(pid)
            except OSError:
                pass
        assert running == []

        # the daemons start from the packages, under the packages' units
        tree = PackageTree()
        secret = open(tree.path("/etc/edge/secrets/upload.secret")).read().strip()
        unit = UnitRun(tree, "upload-gw")
        try:
            unit.start()
            assert upload_put(unit, "p/x.txt", "x", secret) == "201"
            unit.reload()
            unit.stop()
        finally:
            unit.cleanup()

        make_cert(tree, "example.org", "example.org")
        unit = UnitRun(tree, "turnd", addresses=["198.51.100.251", "2001:db8:50e:1::251"])
        try:
            unit.start()
            served_cert(unit, "198.51.100.251", 3443)
            unit.stop()
        finally:
            unit.cleanup()

        pg = PeerPostgres(tree)
        unit = UnitRun(tree, "xmpp-core", pg_socket_dir=pg.sock)
        try:
            unit.start()
            cert = open(tree.path("/etc/edge/tls/example.org.fullchain.pem")).read()
            assert pem_body(served_cert(unit, "::1", 5223)) == pem_body(cert)
            renewed = make_cert(tree, "example.org", "example.org")
            unit.reload()
            assert pem_body(served_cert(unit, "::1", 5223)) == pem_body(renewed)
            unit.stop()
        finally:
            unit.cleanup()
            pg.stop()
        # the host's /etc/edge is as the packages left it
        assert not os.path.exists("/etc/edge/tls/example.org.key")
    finally:
        if tree:
            tree.destroy()
        r = dpkg(["--purge"] + [p for p in reversed(PACKAGES) if installed(p)])
        # postrm purge removes the secrets postinst made
        secrets_left = glob.glob("/etc/edge/secrets/*.secret")
        for u in USERS:
            if u not in users0 and u in names("passwd"):
                subprocess.run(["userdel", u], capture_output=True)
        for g in GROUPS:
            if g not in groups0 and g in names("group"):
                subprocess.run(["groupdel", g], capture_output=True)
        if not varlib0:
            shutil.rmtree("/var/lib/edge", ignore_errors=True)
        if not etc_edge0:
            shutil.rmtree("/etc/edge", ignore_errors=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not any(installed(p) for p in PACKAGES)
    for bins in DAEMONS.values():
        for b in bins:
            assert not os.path.exists("/usr/sbin/" + b)
    assert secrets_left == [], secrets_left
