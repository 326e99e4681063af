"""s2s through DNS: two xmpp-core instances in a network namespace on
documentation addresses, a lab DNS server (netlab.py's) answering SRV
and A records, /etc/netns/NAME/resolv.conf pointing at it.  a.dns.test
has three _xmpp-server SRV records (priority 0 to a port nobody listens
on, 5 to an address whose packets are dropped, 10 to the real server):
the resolver thread orders them, the refused one fails at once and the
silent one is raced after 250 ms (RFC 8305) rather than waited for; b.dns.test has no SRV record, only an A record: RFC 6120
§3.2.2, the domain itself on 5269.  c.dns.test is reached only by its
_xmpps-server record (XEP-0368 direct TLS; its _xmpp-server record
names a port nobody listens on).  A domain without records bounces."""

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from netlab import PY, can_create_netns, sh
from pgcluster import PgCluster
from s2slab import S2sServer

HERE = os.path.dirname(os.path.abspath(__file__))
A4, B4, C4, DNS4 = "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.53"
DEAD4 = "198.51.100.99"	# SYNs to it are dropped (nft in the namespace)
A, B, C = "a.dns.test", "b.dns.test", "c.dns.test"

ok, why = can_create_netns()
pytestmark = pytest.mark.skipif(not ok, reason=why)


@pytest.fixture(scope="module")
def lab():
    ns = "edge-s2sdns-%d" % os.getpid()
    tmp = tempfile.mkdtemp(prefix="edge-s2s-dns-")
    etc = "/etc/netns/%s" % ns
    procs, servers = [], []
    pg = None
    sh("ip", "netns", "add", ns)
    try:
        os.makedirs(etc)
        with open(os.path.join(etc, "resolv.conf"), "w") as f:
            f.write("nameserver %s\noptions timeout:1 attempts:1\n" % DNS4)
        ex = lambda *a: sh("ip", "netns", "exec", ns, *a)
        ex("ip", "link", "set", "lo", "up")
        for a in (A4, B4, C4, DNS4, DEAD4):	# on the namespace's own loopback
            ex("ip", "addr", "add", a + "/32", "dev", "lo")
        # a server that never answers a connect (the namespace's own table)
        ex("nft", "add", "table", "inet", "lab")
        ex("nft", "add", "chain", "inet", "lab", "out",
           "{ type filter hook output priority 0; }")
        ex("nft", "add", "rule", "inet", "lab", "out", "ip", "daddr", DEAD4, "drop")
        zone = os.path.join(tmp, "zone.json")
        with open(zone, "w") as f:
            json.dump({
                "_xmpp-server._tcp.%s." % A: {"SRV": [[10, 0, 5269, "xmpp.%s" % A],
                                                      [0, 0, 5999, "xmpp.%s" % A],
                                                      [5, 0, 5269, "dead.%s" % A]],
                                              "ttl": 30},
                "xmpp.%s." % A: {"A": [A4]},
                "dead.%s." % A: {"A": [DEAD4]},
                "%s." % B: {"A": [B4]},
                "_xmpps-server._tcp.%s." % C: {"SRV": [[0, 0, 5270, "xmpp.%s" % C]]},
                "_xmpp-server._tcp.%s." % C: {"SRV": [[10, 0, 5999, "xmpp.%s" % C]]},
                "xmpp.%s." % C: {"A": [C4]},
            }, f)
        p = subprocess.Popen(["ip", "netns", "exec", ns, PY, os.path.join(HERE, "netlab.py"),
                              "dns", DNS4, "53", zone], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        procs.append(p)
        assert "listening" in p.stdout.readline()
        pg = PgCluster()
        a = S2sServer(pg, A, netns=ns, addr=A4, start=False)
        b = S2sServer(pg, B, netns=ns, addr=B4, start=False)
        c = S2sServer(pg, C, netns=ns, addr=C4, start=False)
        servers = [a, b, c]
        for x in servers:
            x.s2s_port = 5269
            x.s2s_tls_port = 5270
            x.write_conf()
            x.start()
        a.adduser("alice", "alice-pw-4")
        b.adduser("bob", "bob-pw-4")
        c.adduser("carol", "carol-pw-4")
        yield ns, a, b, c
        for x in servers:
            print("---- %s ----\n%s" % (x.domain, x.log()[-15000:]))
    finally:
        for x in servers:
            x.destroy()
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        if pg:
            pg.destroy()
        sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(etc, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def client(ns, *args):
    return subprocess.Popen(["ip", "netns", "exec", ns, PY, os.path.join(HERE, "s2slab.py")]
                            + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONPATH=HERE))


def exchange(ns, frm, to):
    """frm = (jid, pw, server), to = (jid, pw, server): the received message."""
    r = client(ns, "recv", to[0] + "/lab", to[1], to[2].addr, str(to[2].port))
    try:
        assert r.stdout.readline().strip() == "ready", r.stderr.read()
        s = client(ns, "send", frm[0] + "/lab", frm[1], frm[2].addr, str(frm[2].port),
                   to[0] + "/lab", "via DNS")
        out, err = s.communicate(timeout=60)
        assert json.loads(out.strip().splitlines()[-1]) == {"sent": True}, out + err
        line = r.stdout.readline()
        assert line, r.stderr.read()
        return json.loads(line)
    finally:
        if r.poll() is None:
            r.kill()
        r.wait()


def test_srv_order_and_a_fallback(lab):
    ns, a, b, _ = lab
    # a -> b: no SRV for b.dns.test, its A record on 5269
    t0 = time.time()
    m = exchange(ns, ("alice@" + A, "alice-pw-4", a), ("bob@" + B, "bob-pw-4", b))
    took = time.time() - t0
    assert m == {"from": "alice@%s/lab" % A, "body": "via DNS"}
    # b dialled back a.dns.test through its SRV records: priority 0
    # refused, priority 5 silent (raced after 250 ms), then priority 10;
    # waiting the silent one out would take its whole 10 s connect time
    log = b.log()
    assert "%s:5999" % A4 in log, log[-3000:]
    assert "connecting to %s:5269" % DEAD4 in log, log[-3000:]
    assert "racing the next address" in log, log[-3000:]
    assert "connected to %s:5269 for %s" % (A4, A) in log, log[-3000:]
    print("first message incl. both links: %.2f s" % took)
    assert took < 9, took
    m = exchange(ns, ("bob@" + B, "bob-pw-4", b), ("alice@" + A, "alice-pw-4", a))
    assert m["body"] == "via DNS"


def test_domain_without_records_bounces(lab):
    ns, a, _, _ = lab
    t0 = time.time()
    s = client(ns, "send", "alice@%s/x" % A, "alice-pw-4", a.addr, str(a.port),
               "nobody@nothing.dns.test", "hello?")
    out, err = s.communicate(timeout=60)
    assert json.loads(out.strip().splitlines()[-1]) == {"error": "remote-server-not-found"}, out + err
    assert time.time() - t0 < 30


def test_xmpps_server_record_gives_direct_tls(lab):
    ns, a, _, c = lab
    m = exchange(ns, ("alice@" + A, "alice-pw-4", a), ("carol@" + C, "carol-pw-4", c))
    assert m == {"from": "alice@%s/lab" % A, "body": "via DNS"}
    # the _xmpps-server target (priority 0, direct TLS on 5270) took it;
    # the _xmpp-server one on 5999 was never needed
    log = a.log()
    assert "connected to %s:5270 for %s" % (C4, C) in log, log[-3000:]
    assert "%s:5999" % C4 not in log, log[-3000:]
    m = exchange(ns, ("carol@" + C, "carol-pw-4", c), ("alice@" + A, "alice-pw-4", a))
    assert m["body"] == "via DNS"
