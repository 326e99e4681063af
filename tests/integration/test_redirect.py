"""dumbclient-redirect in the namespace lab: a client connects to the web
host's 5222/5269/5223 and lands on the XMPP host (seen from the web host's
address: SNAT), IPv4 and IPv6; --once and flush; the daemon's reload and
stop; SRV-driven retargeting from a DNS server in the lab, and keeping the
last good rules when DNS fails."""

import json
import os
import re
import signal
import tempfile
import time

import pytest

from edgetest import Daemon, binary, run
import netlab as nl

PORTS = [5222, 5269, 5223]


@pytest.fixture(scope="module")
def lab():
    ok, why = nl.can_create_netns()
    if not ok:
        pytest.skip(why)
    lab = nl.Lab("rd")
    try:
        lab.echo_server("xmpp", PORTS, [])
        yield lab
    finally:
        lab.close()


@pytest.fixture
def tmp(lab):
    d = tempfile.mkdtemp(prefix="edge-redirect-")
    yield d
    lab.ex("web", "nft", "flush", "ruleset", check=False)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def static_conf(tmp, ports=PORTS, extra=""):
    return write(os.path.join(tmp, "redirect.toml"), """
ports = [%s]
listen = ["%s", "%s"]
target = ["%s", "%s"]
%s""" % (", ".join('"%d"' % p for p in ports), nl.WEB4, nl.WEB6,
         nl.XMPP4, nl.XMPP6, extra))


def redirect(lab, conf, *args):
    return run(["ip", "netns", "exec", lab.ns["web"],
                binary("dumbclient-redirect"), "-c", conf] + list(args))


def daemon(lab, conf):
    return Daemon(["ip", "netns", "exec", lab.ns["web"],
                   binary("dumbclient-redirect"), "-c", conf])


def reaches(lab, addr, port, local):
    got = lab.probe("client", "tcp", addr, port)
    return got.get("port") == port and got.get("local") == local, got


def tables(lab):
    return re.findall(r"^table (\S+ \S+)", lab.nft("web", "list", "tables"), re.M)


def reload(d):
    d.notifications.clear()
    d.signal(signal.SIGHUP)
    d.wait_notify("RELOADING=1")
    d.wait_notify("READY=1")


def test_once_redirects_with_snat_and_flush_removes(lab, tmp):
    conf = static_conf(tmp)
    r = redirect(lab, conf, "--once")
    assert r.returncode == 0, r.stderr
    assert tables(lab) == ["inet dumbclient_redirect"]
    for port in PORTS:
        for web, xmpp in ((nl.WEB4, nl.XMPP4), (nl.WEB6, nl.XMPP6)):
            got = lab.probe("client", "tcp", web, port)
            assert got.get("port") == port and got["local"] == xmpp, got
            # SNAT: the XMPP host sees the web host, not the client
            assert got["peer"] == web, got
    # --once twice is idempotent
    before = lab.nft("web", "list", "ruleset")
    assert redirect(lab, conf, "--once").returncode == 0
    after = lab.nft("web", "list", "ruleset")
    strip = lambda s: re.sub(r"counter packets \d+ bytes \d+", "counter", s)
    assert strip(after) == strip(before)
    r = redirect(lab, conf, "flush")
    assert r.returncode == 0, r.stderr
    assert tables(lab) == []
    assert "error" in lab.probe("client", "tcp", nl.WEB4, 5222, timeout=1)


def test_check_and_bad_config(lab, tmp):
    conf = static_conf(tmp)
    r = run([binary("dumbclient-redirect"), "-c", conf, "-t"])
    assert r.returncode == 0, r.stderr
    assert ("ip daddr %s th dport 5269 counter dnat ip to %s:5269 "
            'comment "xmpp-server:5269"' % (nl.WEB4, nl.XMPP4)) in r.stdout
    assert "masquerade" in r.stdout
    bad = write(os.path.join(tmp, "bad.toml"),
                'ports = ["5222", "70000"]\ntarget = ["%s"]\n' % nl.XMPP4)
    r = run([binary("dumbclient-redirect"), "-c", bad, "-t"])
    assert r.returncode == 1
    assert "bad.toml:1: ports:" in r.stderr and "70000" in r.stderr
    bad = write(os.path.join(tmp, "bad2.toml"), 'ports = ["5222"]\n')
    r = run([binary("dumbclient-redirect"), "-c", bad, "-t"])
    assert r.returncode == 1 and "target" in r.stderr
    assert run([binary("dumbclient-redirect"), "-c", conf, "bogus"]).returncode == 2


def test_daemon_reload_and_stop(lab, tmp):
    conf = static_conf(tmp)
    d = daemon(lab, conf)
    try:
        assert reaches(lab, nl.WEB4, 5222, nl.XMPP4)[0]
        static_conf(tmp, ports=[5269], extra='snat_to = ["%s", "%s"]' %
                    (nl.WEB4, nl.WEB6))
        reload(d)
        assert "error" in lab.probe("client", "tcp", nl.WEB4, 5222, timeout=1)
        ok, got = reaches(lab, nl.WEB6, 5269, nl.XMPP6)
        assert ok and got["peer"] == nl.WEB6, got
        # a broken config is refused and the running rules stay
        write(conf, "ports = [\"x\"]\n")
        reload(d)
        assert reaches(lab, nl.WEB4, 5269, nl.XMPP4)[0]
        assert "keeping the old configuration" in d.log()
        # a foreign table stays untouched through stop
        lab.ex("web", "nft", "add", "table", "inet", "mine")
    finally:
        log = d.stop()
    assert tables(lab) == ["inet mine"], log


ZONE = "example.test."


def zone(addr4, addr6, ttl=1, c2s_port=5222):
    return {
        "_xmpp-client._tcp." + ZONE: {"ttl": ttl, "SRV": [
            [10, 5, c2s_port, "xmpp." + ZONE], [20, 5, 5222, "backup." + ZONE]]},
        "_xmpp-server._tcp." + ZONE: {"ttl": ttl, "SRV": [
            [0, 5, 5269, "xmpp." + ZONE]]},
        "xmpp." + ZONE: {"ttl": ttl, "A": [addr4], "AAAA": [addr6]},
        "backup." + ZONE: {"ttl": ttl, "A": ["192.0.2.99"]},
    }


def wait_for(fn, timeout=15):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        ok, last = fn()
        if ok:
            return last
        time.sleep(0.2)
    raise AssertionError("timed out; last: %s" % (last,))


def test_srv_retarget_and_dns_failure(lab, tmp):
    zpath = write(os.path.join(tmp, "zone.json"),
                  json.dumps(zone(nl.XMPP4, nl.XMPP6)))
    dns = lab.dns_server("web", "127.0.0.1", 5353, zpath)
    conf = write(os.path.join(tmp, "redirect.toml"), """
domain = "example.test"
nameserver = "127.0.0.1:5353"
listen = ["%s", "%s"]
min_ttl = "1s"
retry = "1s"
dns_timeout = "1s"
""" % (nl.WEB4, nl.WEB6))
    # --once resolves synchronously and installs
    r = redirect(lab, conf, "--once")
    assert r.returncode == 0, r.stderr
    assert reaches(lab, nl.WEB4, 5222, nl.XMPP4)[0]
    assert reaches(lab, nl.WEB6, 5269, nl.XMPP6)[0]
    d = daemon(lab, conf)
    try:
        wait_for(lambda: reaches(lab, nl.WEB4, 5222, nl.XMPP4))
        wait_for(lambda: reaches(lab, nl.WEB6, 5269, nl.XMPP6))
        # the answer changes: new connections follow
        write(zpath, json.dumps(zone(nl.XMPP_ALT4, nl.XMPP_ALT6)))
        wait_for(lambda: reaches(lab, nl.WEB4, 5222, nl.XMPP_ALT4))
        wait_for(lambda: reaches(lab, nl.WEB6, 5269, nl.XMPP_ALT6))
        assert "redirecting to c2s %s" % nl.XMPP_ALT4 in d.log()
        # the SRV record moves c2s to another port: 5222 follows it
        write(zpath, json.dumps(zone(nl.XMPP_ALT4, nl.XMPP_ALT6, c2s_port=5223)))
        got = wait_for(lambda: (lab.probe("client", "tcp", nl.WEB4, 5222)
                                .get("port") == 5223, None))
        write(zpath, json.dumps(zone(nl.XMPP_ALT4, nl.XMPP_ALT6)))
        wait_for(lambda: reaches(lab, nl.WEB4, 5222, nl.XMPP_ALT4))
        # someone deletes our table: the next refresh puts it back
        lab.ex("web", "nft", "delete", "table", "inet", "dumbclient_redirect")
        wait_for(lambda: reaches(lab, nl.WEB4, 5222, nl.XMPP_ALT4))
        assert "was removed by someone else" in d.log()
        # DNS goes away: the last good rules stay, logged once
        lab.kill(dns)
        time.sleep(4.5)
        assert reaches(lab, nl.WEB4, 5222, nl.XMPP_ALT4)[0]
        assert d.log().count("keeping the current rules") == 1, d.log()
        # and it comes back
        dns = lab.dns_server("web", "127.0.0.1", 5353, zpath)
        write(zpath, json.dumps(zone(nl.XMPP4, nl.XMPP6)))
        wait_for(lambda: reaches(lab, nl.WEB4, 5222, nl.XMPP4))
        assert "DNS answers again" in d.log()
    finally:
        log = d.stop()
    assert tables(lab) == [], log
    assert "Sanitizer" not in log


def test_deploy_example_config_is_valid():
    example = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "deploy", "dumbclient-redirect.toml")
    r = run([binary("dumbclient-redirect"), "-c", example, "-t"])
    assert r.returncode == 0, r.stderr
    assert "example.org" in r.stdout


def test_without_listen_only_local_addresses(lab, tmp):
    conf = write(os.path.join(tmp, "any.toml"),
                 'ports = ["5222"]\ntarget = ["%s", "%s"]\n' % (nl.XMPP4, nl.XMPP6))
    r = redirect(lab, conf, "--once")
    assert r.returncode == 0, r.stderr
    assert reaches(lab, nl.WEB4, 5222, nl.XMPP4)[0]
    assert reaches(lab, nl.WEB6, 5222, nl.XMPP6)[0]
    assert "fib daddr type local" in lab.nft("web", "list", "table", "inet",
                                             "dumbclient_redirect")


def test_runs_as_unprivileged_user_with_cap_net_admin(lab, tmp):
    conf = static_conf(tmp, extra='user = "nobody"\n')
    os.chmod(tmp, 0o755)      # readable for nobody on reload
    os.chmod(conf, 0o644)
    # (the test's private notify socket is root-only, so READY=1 after the
    # drop cannot reach it; wait for the rules instead)
    d = Daemon(["ip", "netns", "exec", lab.ns["web"],
                binary("dumbclient-redirect"), "-c", conf], notify=False)
    try:
        wait_for(lambda: reaches(lab, nl.WEB4, 5222, nl.XMPP4))
        with open("/proc/%d/status" % d.proc.pid) as f:
            status = f.read()
        assert re.search(r"^Uid:\s+65534\s", status, re.M), status
        # only CAP_NET_ADMIN (bit 12) stays
        assert re.search(r"^CapEff:\s+0*1000$", status, re.M), status
        static_conf(tmp, ports=[5269], extra='user = "nobody"\n')
        d.signal(signal.SIGHUP)
        wait_for(lambda: reaches(lab, nl.WEB4, 5269, nl.XMPP4))
        assert "error" in lab.probe("client", "tcp", nl.WEB4, 5222, timeout=1)
    finally:
        log = d.stop()
    assert "configuration reloaded" in log
    assert tables(lab) == [], log


def test_stops_promptly_while_dns_hangs(lab, tmp):
    # a resolver that never answers: the lookup thread is stuck in it
    silent = lab.popen("web", [nl.PY, "-c", (
        "import socket,time\n"
        "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
        "s.bind(('127.0.0.1',5354))\nprint('listening',flush=True)\n"
        "time.sleep(600)\n")], text=True)
    assert "listening" in silent.stdout.readline()
    conf = write(os.path.join(tmp, "hang.toml"), """
domain = "example.test"
nameserver = "127.0.0.1:5354"
dns_timeout = "4s"
""")
    d = daemon(lab, conf)
    time.sleep(0.5)
    t0 = time.time()
    log = d.stop()          # asserts exit 0 within 10 s
    assert time.time() - t0 < 9, log
    lab.kill(silent)


def test_refuses_to_redirect_to_itself(lab, tmp):
    conf = write(os.path.join(tmp, "self.toml"),
                 'ports = ["5222"]\nlisten = ["%s"]\ntarget = ["%s"]\n'
                 % (nl.WEB4, nl.WEB4))
    r = redirect(lab, conf, "--once")
    assert r.returncode == 1
    assert "is one of the listen addresses" in r.stderr
    assert tables(lab) == []
    # the same through DNS: the last good rules stay
    zpath = write(os.path.join(tmp, "zone.json"),
                  json.dumps(zone(nl.XMPP4, nl.XMPP6)))
    dns = lab.dns_server("web", "127.0.0.1", 5355, zpath)
    conf = write(os.path.join(tmp, "dns.toml"), """
domain = "example.test"
nameserver = "127.0.0.1:5355"
ports = ["5222"]
listen = ["%s", "%s"]
min_ttl = "1s"
retry = "1s"
""" % (nl.WEB4, nl.WEB6))
    d = daemon(lab, conf)
    try:
        wait_for(lambda: reaches(lab, nl.WEB4, 5222, nl.XMPP4))
        write(zpath, json.dumps(zone(nl.WEB4, nl.WEB6)))
        deadline = time.time() + 10
        while "is one of the listen addresses" not in d.log():
            assert time.time() < deadline, d.log()
            time.sleep(0.2)
        assert reaches(lab, nl.WEB4, 5222, nl.XMPP4)[0]
    finally:
        d.stop()
        lab.kill(dns)
