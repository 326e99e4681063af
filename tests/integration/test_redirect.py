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


def zone(addr4, addr6, ttl=1):
    return {
        "_xmpp-client._tcp." + ZONE: {"ttl": ttl, "SRV": [
            [10, 5, 5222, "xmpp." + ZONE], [20, 5, 5222, "backup." + ZONE]]},
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
    d = daemon(lab, conf)
    try:
        wait_for(lambda: reaches(lab, nl.WEB4, 5222, nl.XMPP4))
        wait_for(lambda: reaches(lab, nl.WEB6, 5269, nl.XMPP6))
        # the answer changes: new connections follow
        write(zpath, json.dumps(zone(nl.XMPP_ALT4, nl.XMPP_ALT6)))
        wait_for(lambda: reaches(lab, nl.WEB4, 5222, nl.XMPP_ALT4))
        wait_for(lambda: reaches(lab, nl.WEB6, 5269, nl.XMPP_ALT6))
        assert "redirecting to c2s %s" % nl.XMPP_ALT4 in d.log()
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
