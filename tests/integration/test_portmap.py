"""portmap against a real kernel in a namespace lab: the seed's forwards
(443 on the second IP -> 5223, 443 on the TURN IP -> 3443, IPv4 and IPv6)
with real TCP and UDP from another host and from the host itself, a foreign
table left alone, idempotent and atomic re-applies, bad configs refused
without touching anything, and a destination on another host."""

import json
import os
import re
import tempfile
import threading

import pytest

from edgetest import binary, run
import netlab as nl

SEED_CONF = """
# the seed host's XMPP-over-TLS and TURNS forwards, plus TURN over UDP
[[forward]]
name = "xmpps"
listen = ["{XMPPS4}", "{XMPPS6}"]
port = 443
to = ["{XMPP4}", "{XMPP6}"]
to_port = 5223

[[forward]]
name = "turns"
listen = ["{TURNIP4}", "{TURNIP6}"]
port = 443
to = ["{TURN4}", "{TURN6}"]
to_port = 3443

[[forward]]
name = "turn-udp"
protocols = ["udp"]
listen = ["{TURNIP4}", "{TURNIP6}"]
port = 443
to = ["{TURN4}", "{TURN6}"]
to_port = 3478
""".format(**{k: getattr(nl, k) for k in dir(nl) if k.isupper()})

FOREIGN = """
table inet foreign {
    counter seen { }
    chain input {
        type filter hook input priority 10; policy accept;
        tcp dport 22 counter accept comment "ssh"
    }
    chain pre {
        type nat hook prerouting priority -150; policy accept;
        udp dport 9999 counter
    }
}
table ip legacy {
    chain forwarding { type filter hook forward priority 0; policy accept; }
}
"""


@pytest.fixture(scope="module")
def lab():
    ok, why = nl.can_create_netns()
    if not ok:
        pytest.skip(why)
    lab = nl.Lab("pm")
    try:
        lab.echo_server("xmpp", [5223, 3443], [3478])
        lab.echo_server("web", [8080], [])
        yield lab
    finally:
        lab.close()


@pytest.fixture
def conf(lab):
    d = tempfile.mkdtemp(prefix="edge-portmap-")
    path = os.path.join(d, "portmap.toml")
    with open(path, "w") as f:
        f.write(SEED_CONF)
    yield path
    for host in ("xmpp", "web"):
        lab.ex(host, "nft", "flush", "ruleset", check=False)


def portmap(lab, host, conf, *cmd):
    return run(["ip", "netns", "exec", lab.ns[host], binary("portmap"),
                "-c", conf] + list(cmd))


def ruleset_json(lab, host):
    """nft -j list ruleset without handles (a re-created table gets new
    ones) — everything else must be identical."""
    data = json.loads(lab.nft(host, "-j", "list", "ruleset"))

    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if k != "handle"}
        if isinstance(o, list):
            return [strip(v) for v in o]
        return o
    return strip(data["nftables"])


def tables(lab, host):
    return re.findall(r"^table (\S+ \S+)", lab.nft(host, "list", "tables"), re.M)


def test_check_prints_nft_syntax_and_touches_nothing(lab, conf):
    before = lab.nft("xmpp", "list", "ruleset")
    r = run([binary("portmap"), "-c", conf, "check"])
    assert r.returncode == 0, r.stderr
    assert "table inet portmap {" in r.stdout
    assert ('ip daddr %s th dport 443 counter dnat ip to %s:5223 comment "xmpps"'
            % (nl.XMPPS4, nl.XMPP4)) in r.stdout
    assert ('ip6 daddr %s th dport 443 counter dnat ip6 to [%s]:3443 '
            'comment "turns"' % (nl.TURNIP6, nl.TURN6)) in r.stdout
    # -t is check
    r2 = run([binary("portmap"), "-c", conf, "-t"])
    assert r2.returncode == 0 and r2.stdout == r.stdout
    # nft itself accepts the text as it is (dry run in the lab)
    path = conf + ".nft"
    with open(path, "w") as f:
        f.write(r.stdout)
    lab.ex("xmpp", "nft", "-c", "-f", path)
    assert lab.nft("xmpp", "list", "ruleset") == before


def test_seed_forwards_carry_tcp_and_udp_v4_v6(lab, conf):
    r = portmap(lab, "xmpp", conf, "apply")
    assert r.returncode == 0, r.stderr
    assert "3 forwards, 12 rules installed" in r.stderr
    cases = [("tcp", nl.XMPPS4, 443, 5223, nl.XMPP4),
             ("tcp", nl.XMPPS6, 443, 5223, nl.XMPP6),
             ("tcp", nl.TURNIP4, 443, 3443, nl.TURN4),
             ("tcp", nl.TURNIP6, 443, 3443, nl.TURN6),
             ("udp", nl.TURNIP4, 443, 3478, None),
             ("udp", nl.TURNIP6, 443, 3478, None)]
    for proto, addr, port, want_port, want_local in cases:
        # from another host: the server sees the real client address
        got = lab.probe("client", proto, addr, port)
        assert got.get("port") == want_port, (proto, addr, got)
        assert got["peer"] in (nl.CLIENT4, nl.CLIENT6), got
        if want_local:
            assert got["local"] == want_local, got
        # from the XMPP host itself (nat output chain)
        got = lab.probe("xmpp", proto, addr, port)
        assert got.get("port") == want_port, ("local", proto, addr, got)
    # ports that are not forwarded stay closed
    assert "error" in lab.probe("client", "tcp", nl.XMPPS4, 444, timeout=1)
    assert "error" in lab.probe("client", "tcp", nl.XMPP4, 443, timeout=1)
    # show reads the live rules back with their counters
    r = portmap(lab, "xmpp", conf, "show")
    assert r.returncode == 0, r.stderr
    assert "DIFFERS" not in r.stdout
    rows = [l.split(None, 4) for l in r.stdout.splitlines() if not l.startswith("#")][1:]
    assert len(rows) == 12
    assert rows[0][4] == ('meta nfproto ipv4 meta l4proto tcp ip daddr %s th dport '
                          '443 counter dnat ip to %s:5223 comment "xmpps"'
                          % (nl.XMPPS4, nl.XMPP4))
    rows = [row[:4] for row in rows]
    pre = {(c, n): int(p) for c, n, p, b in rows if c == "prerouting"}
    assert pre[("prerouting", "xmpps")] >= 1
    assert pre[("prerouting", "turn-udp")] >= 1
    assert any(c == "output" and int(p) > 0 for c, n, p, b in rows)


def test_foreign_table_untouched_and_apply_idempotent(lab, conf):
    path = conf + ".foreign"
    with open(path, "w") as f:
        f.write(FOREIGN)
    lab.ex("xmpp", "nft", "-f", path)
    foreign = lab.nft("xmpp", "list", "table", "inet", "foreign")
    legacy = lab.nft("xmpp", "list", "table", "ip", "legacy")
    assert portmap(lab, "xmpp", conf, "apply").returncode == 0
    first = ruleset_json(lab, "xmpp")
    exact = lab.nft("xmpp", "-j", "list", "ruleset")
    # applying again finds everything in place and leaves the ruleset as
    # it is, byte for byte (handles and counters included)
    lab.probe("client", "tcp", nl.XMPPS4, 443)
    exact = lab.nft("xmpp", "-j", "list", "ruleset")
    r = portmap(lab, "xmpp", conf, "apply")
    assert r.returncode == 0 and "already in place; nothing changed" in r.stderr
    assert lab.nft("xmpp", "-j", "list", "ruleset") == exact
    # a changed config really replaces, and going back gives the same rules
    other = conf + ".other"
    with open(other, "w") as f:
        f.write(SEED_CONF.replace("to_port = 5223", "to_port = 5224"))
    r = portmap(lab, "xmpp", other, "apply")
    assert r.returncode == 0 and "installed" in r.stderr
    assert ruleset_json(lab, "xmpp") != first
    assert portmap(lab, "xmpp", conf, "apply").returncode == 0
    assert ruleset_json(lab, "xmpp") == first
    assert sorted(tables(lab, "xmpp")) == ["inet foreign", "inet portmap",
                                           "ip legacy"]
    assert lab.nft("xmpp", "list", "table", "inet", "foreign") == foreign
    # show notices a table changed behind portmap's back
    lab.ex("xmpp", "nft", "add", "rule", "inet", "portmap", "prerouting", "counter")
    r = portmap(lab, "xmpp", conf, "show")
    assert r.returncode == 0 and "DIFFERS" in r.stdout and "differs" in r.stderr
    r = portmap(lab, "xmpp", conf, "flush")
    assert r.returncode == 0, r.stderr
    assert sorted(tables(lab, "xmpp")) == ["inet foreign", "ip legacy"]
    assert lab.nft("xmpp", "list", "table", "inet", "foreign") == foreign
    assert lab.nft("xmpp", "list", "table", "ip", "legacy") == legacy
    # flushing an absent table is fine; show says it is not there
    assert portmap(lab, "xmpp", conf, "flush").returncode == 0
    r = portmap(lab, "xmpp", conf, "show")
    assert r.returncode == 1 and "not installed" in r.stderr


def alternate_conf(conf):
    """The seed config plus one more forward: applying it and the seed in
    turn really replaces the rules every time (portmap leaves a table that
    already matches alone)."""
    path = conf + ".alt"
    with open(path, "w") as f:
        f.write(SEED_CONF + '\n[[forward]]\nname = "extra"\nport = 9999\n'
                'to = ["%s"]\n' % nl.XMPP4)
    return path


def test_reapply_is_atomic_under_load(lab, conf):
    alt = alternate_conf(conf)
    assert portmap(lab, "xmpp", conf, "apply").returncode == 0
    loops = {}

    def loop(proto, addr):
        r = lab.ex("client", nl.PY, nl.HERE, "loop", proto, addr, "443", "4",
                   timeout=30)
        loops[(proto, addr)] = json.loads(r.stdout)

    threads = [threading.Thread(target=loop, args=a) for a in
               [("tcp", nl.XMPPS4), ("tcp", nl.XMPPS6), ("udp", nl.TURNIP4)]]
    for t in threads:
        t.start()
    applies = 0
    while any(t.is_alive() for t in threads):
        r = portmap(lab, "xmpp", (alt, conf)[applies % 2], "apply")
        assert r.returncode == 0 and "installed" in r.stderr, r.stderr
        applies += 1
    for t in threads:
        t.join()
    assert applies >= 5
    for key, res in loops.items():
        assert res["ok"] > 10 and res["failures"] == [], (key, res)


BAD = [
    ('name = "bad"\nport = 443\nto = ["192.0.2.1"]\nto_port = 70000\n',
     'forward.to_port'),
    ('name = "bad"\nport = 443\nto = ["192.0.2.1", "192.0.2.9"]\n',
     'forward "bad": more than one address of a family'),
    ('name = "bad"\nport = 443\nlisten = ["2001:db8:a::2"]\nto = ["192.0.2.1"]\n',
     'forward "bad": listens on an IPv6 address but has no IPv6 destination'),
    ('name = "bad"\nport = "443-80"\nto = ["192.0.2.1"]\n', 'forward "bad"'),
    ('name = "bad"\nport = 443\nto = ["xmpp.example.org"]\n', 'forward "bad"'),
    ('name = "bad"\nport = 443\nto = ["192.0.2.1"]\nprotcols = ["tcp"]\n',
     'forward.protcols: unknown key'),
    ('name = "xmpps"\nport = 5\nto = ["192.0.2.1"]\n',
     'forward "xmpps": name already used'),
    ('name = "bad"\nlisten = ["192.0.2.2"]\nport = 443\nto = ["192.0.2.9"]\n',
     'forward "bad": catches the same traffic as forward "xmpps"'),
]


@pytest.mark.parametrize("entry,message", BAD)
def test_invalid_config_changes_nothing_and_names_entry(lab, conf, entry, message):
    assert portmap(lab, "xmpp", conf, "apply").returncode == 0
    before = lab.nft("xmpp", "list", "ruleset")
    bad = conf + ".bad"
    with open(bad, "w") as f:
        f.write(SEED_CONF + "\n[[forward]]\n" + entry)
    line = SEED_CONF.count("\n") + 2
    for cmd in ("apply", "check", "flush"):
        r = portmap(lab, "xmpp", bad, cmd)
        assert r.returncode == 1, (cmd, r.stdout, r.stderr)
        assert message in r.stderr, r.stderr
        assert re.search(r"%s:\d+: " % re.escape(bad), r.stderr), r.stderr
        assert r.stdout == ""
    # the line named is the bad entry's header or one of its keys
    assert int(re.search(r"%s:(\d+): " % re.escape(bad), r.stderr).group(1)) >= line
    assert lab.nft("xmpp", "list", "ruleset") == before


def test_usage_errors(lab, conf):
    assert run([binary("portmap"), "-c", conf]).returncode == 2
    assert run([binary("portmap"), "-c", conf, "frobnicate"]).returncode == 2
    r = run([binary("portmap"), "-c", conf + ".missing", "check"])
    assert r.returncode == 1 and ".missing" in r.stderr
    assert run([binary("portmap"), "-V"]).stdout.startswith("portmap ")


def test_destination_on_another_host_masquerade(lab, conf):
    path = conf + ".remote"
    with open(path, "w") as f:
        f.write("""
[[forward]]
name = "to-xmpp"
listen = ["%s", "%s"]
port = 8443
to = ["%s", "%s"]
to_port = 5223
masquerade = true
""" % (nl.WEB4, nl.WEB6, nl.XMPP4, nl.XMPP6))
    lab.ex("web", "sysctl", "-qw", "net.ipv4.ip_forward=0")
    lab.ex("web", "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0")
    r = portmap(lab, "web", path, "apply")
    assert r.returncode == 0, r.stderr
    assert "net.ipv4.ip_forward = 1" in r.stderr
    assert "net.ipv6.conf.all.forwarding = 1" in r.stderr
    for addr, peer in ((nl.WEB4, nl.WEB4), (nl.WEB6, nl.WEB6)):
        got = lab.probe("client", "tcp", addr, 8443)
        assert got.get("port") == 5223 and got["peer"] == peer, got
    # the host's own unforwarded service still answers
    assert lab.probe("client", "tcp", nl.WEB4, 8080).get("port") == 8080


def test_deploy_example_reproduces_seed(lab, conf):
    example = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "deploy", "portmap.toml")
    r = run([binary("portmap"), "-c", example, "-t"])
    assert r.returncode == 0, r.stderr
    assert ('ip daddr 192.0.2.137 th dport 443 counter dnat ip to '
            '192.0.2.136:5223 comment "xmpps"') in r.stdout
    assert ('ip6 daddr 2001:db8:50e:1::254 th dport 443 counter dnat ip6 to '
            '[2001:db8:50e:1::251]:3443 comment "turns"') in r.stdout
    assert "snat" not in r.stdout and "masquerade" not in r.stdout
    path = conf + ".example.nft"
    with open(path, "w") as f:
        f.write(r.stdout)
    lab.ex("xmpp", "nft", "-c", "-f", path)


def test_without_cap_net_admin_nothing_changes(lab, conf):
    assert portmap(lab, "xmpp", conf, "apply").returncode == 0
    before = lab.nft("xmpp", "list", "ruleset")
    os.chmod(os.path.dirname(conf), 0o755)   # readable for nobody
    os.chmod(conf, 0o644)
    r = run(["ip", "netns", "exec", lab.ns["xmpp"], "setpriv",
             "--reuid=65534", "--regid=65534", "--clear-groups",
             "--inh-caps=-all", "--bounding-set=-all",
             binary("portmap"), "-c", conf, "flush"])
    assert r.returncode == 1, r.stderr
    assert "Operation not permitted" in r.stderr
    assert "CAP_NET_ADMIN" in r.stderr
    assert lab.nft("xmpp", "list", "ruleset") == before


def test_thousand_forwards_apply_and_show(lab, conf):
    path = conf + ".big"
    with open(path, "w") as f:
        for i in range(1000):
            f.write('[[forward]]\nname = "f%d"\nprotocols = ["tcp", "udp"]\n'
                    'listen = ["%s"]\nport = %d\nto = ["%s"]\nto_port = %d\n\n'
                    % (i, nl.XMPPS4, 10000 + i, nl.XMPP4, 20000 + i))
    r = portmap(lab, "xmpp", path, "apply")
    assert r.returncode == 0, r.stderr
    assert "1000 forwards, 4000 rules installed" in r.stderr
    r = portmap(lab, "xmpp", path, "show")
    assert r.returncode == 0, r.stderr
    rows = [l.split()[:4] for l in r.stdout.splitlines()[2:]]
    assert len(rows) == 4000
    assert {n for c, n, p, b in rows} == {"f%d" % i for i in range(1000)}
    assert lab.nft("xmpp", "list", "table", "inet", "portmap").count("dnat ip to") == 4000
    assert portmap(lab, "xmpp", path, "flush").returncode == 0


def test_forward_without_listen_catches_only_local_addresses(lab, conf):
    path = conf + ".any"
    with open(path, "w") as f:
        f.write('[[forward]]\nname = "any"\nport = 8000\nto = ["%s", "%s"]\n'
                'to_port = 5223\n' % (nl.XMPP4, nl.XMPP6))
    r = portmap(lab, "xmpp", path, "apply")
    assert r.returncode == 0, r.stderr
    for addr in (nl.XMPPS4, nl.TURN6, nl.XMPP_ALT4):
        assert lab.probe("client", "tcp", addr, 8000).get("port") == 5223, addr
        assert lab.probe("xmpp", "tcp", addr, 8000).get("port") == 5223, addr
    # the host's own connections to other hosts are left alone
    got = lab.probe("xmpp", "tcp", nl.WEB4, 8000, timeout=1)
    assert "error" in got, got
    assert lab.probe("xmpp", "tcp", nl.WEB6, 8080).get("port") == 8080


def table_handle(lab):
    out = lab.nft("xmpp", "-a", "list", "table", "inet", "portmap")
    return re.search(r"^table inet portmap \{ # handle (\d+)", out, re.M).group(1)


def test_reapply_keeps_table_and_repairs_it(lab, conf):
    assert portmap(lab, "xmpp", conf, "apply").returncode == 0
    handle = table_handle(lab)
    want = ruleset_json(lab, "xmpp")
    # re-applying keeps the table and its hooks (only the rules change)
    assert portmap(lab, "xmpp", conf, "apply").returncode == 0
    assert table_handle(lab) == handle
    # a stray chain and rule in our table are removed
    lab.ex("xmpp", "nft", "add", "chain", "inet", "portmap", "stray")
    lab.ex("xmpp", "nft", "add", "rule", "inet", "portmap", "stray", "counter")
    lab.ex("xmpp", "nft", "add", "rule", "inet", "portmap", "prerouting",
           "tcp", "dport", "1", "counter")
    assert portmap(lab, "xmpp", conf, "apply").returncode == 0
    assert ruleset_json(lab, "xmpp") == want
    # one of our chains turned into something else: the table is rebuilt
    lab.ex("xmpp", "nft", "delete", "chain", "inet", "portmap", "output")
    lab.ex("xmpp", "nft", "add", "chain", "inet", "portmap", "output",
           "{ type filter hook output priority 0; policy accept; }")
    r = portmap(lab, "xmpp", conf, "apply")
    assert r.returncode == 0, r.stderr
    assert ruleset_json(lab, "xmpp") == want
    assert table_handle(lab) != handle
    assert lab.probe("xmpp", "tcp", nl.XMPPS4, 443).get("port") == 5223


def test_apply_while_others_change_the_ruleset(lab, conf):
    stop = threading.Event()
    errors = []

    def churn():
        while not stop.is_set():
            for cmd in (["add", "table", "ip", "churn"],
                        ["delete", "table", "ip", "churn"]):
                r = lab.ex("xmpp", "nft", *cmd, check=False)
                if r.returncode != 0:
                    errors.append(r.stderr)

    t = threading.Thread(target=churn)
    t.start()
    alt = alternate_conf(conf)
    try:
        for i in range(30):
            r = portmap(lab, "xmpp", (conf, alt)[i % 2], "apply")
            assert r.returncode == 0, r.stderr
    finally:
        stop.set()
        t.join()
    assert errors == []
    assert tables(lab, "xmpp") == ["inet portmap"]
    assert lab.probe("client", "tcp", nl.XMPPS6, 443).get("port") == 5223
