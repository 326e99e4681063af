"""s2s between two xmpp-core instances on loopback (static routes):
direct TLS (XEP-0368) one way, STARTTLS the other, Server Dialback with the verify step on the peer's
own stream, then messages, iq ping to a full JID and the subscription
handshake between slixmpp clients; bounces for unreachable domains;
stream errors for spoofed 'from', unknown 'to' and garbage."""

import asyncio
import os
import signal
import socket
import ssl
import time

import pytest

from pgcluster import PgCluster
from s2slab import MUC, RawS2s, S2sServer, Seen, body, muc_codes, muc_item
from xmpptest import arun, connect, disconnect, online, recv, until
from edgetest import free_port

A = "a.s2s.test"
B = "b.s2s.test"


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


TIMEOUT = 3	# connect_timeout of A, seconds
AUTH_TIMEOUT = 2	# auth_timeout of A
PER_IP = 6	# max_connections_per_ip of A
RATE, BURST = 10, 5	# stanza_rate and stanza_burst of B


@pytest.fixture(scope="module")
def blackhole():
    """A port that takes TCP connections and never says a word."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s.getsockname()[1]
    s.close()


@pytest.fixture(scope="module")
def pair(pg, blackhole):
    a = S2sServer(pg, A, start=False, s2s_extra='connect_timeout = "%ds"\nauth_timeout = "%ds"\n'
                  'max_connections_per_ip = %d\n' % (TIMEOUT, AUTH_TIMEOUT, PER_IP))
    b = S2sServer(pg, B, start=False, s2s_extra="stanza_rate = %d\nstanza_burst = %d\n"
                  % (RATE, BURST))
    a.route_to(b, direct_tls=True)	# XEP-0368 one way, STARTTLS the other
    b.route_to(a)
    # the MUC services: their own links (and dialback back to them)
    a.routes["conference." + B] = a.routes[B]
    b.routes["conference." + A] = b.routes[A]
    # a domain whose server is down: a free port nobody listens on
    a.routes["down.s2s.test"] = "127.0.0.1:%d" % free_port()
    a.routes["silent.s2s.test"] = "127.0.0.1:%d" % blackhole
    a.write_conf()
    b.write_conf()
    a.start()
    b.start()
    a.adduser("alice", "alice-pw-1")
    b.adduser("bob", "bob-pw-1")
    yield a, b
    # shown by pytest when a test failed
    print("---- %s ----\n%s\n---- %s ----\n%s" % (A, a.log()[-20000:], B, b.log()[-20000:]))
    a.destroy()
    b.destroy()


def test_message_and_ping(pair):
    a, b = pair

    async def scenario():
        alice = await connect("alice@%s/pc" % A, "alice-pw-1", a.port)
        bob = await connect("bob@%s/phone" % B, "bob-pw-1", b.port)
        await online(alice)
        await online(bob)
        t0 = time.time()
        alice.send_message(mto="bob@%s/phone" % B, mbody="hello over s2s")
        m = await recv(bob.messages, 20)
        assert m["body"] == "hello over s2s"
        assert m["from"].bare == "alice@%s" % A
        setup = time.time() - t0
        bob.send_message(mto="alice@%s" % A, mbody="and back")
        m = await recv(alice.messages, 20)
        assert m["body"] == "and back" and m["from"].full == "bob@%s/phone" % B

        # iq round trip to a full JID on the other server (XEP-0199)
        rtt = await alice["xep_0199"].ping("bob@%s/phone" % B, timeout=10)
        assert rtt is not None

        await disconnect(alice, bob)
        return setup

    setup = arun(scenario(), 90)
    print("first message incl. link set-up: %.3f s" % setup)
    links_a = a.links()
    assert any(l[0] == B and l[1] == "out" and l[3] == "dialback" for l in links_a), links_a
    assert any(l[0] == B and l[1] == "in" and l[3] == "dialback" for l in links_a), links_a
    assert "TLSv1.3" in " ".join(" ".join(l) for l in links_a)
    assert "s2s: listening on 127.0.0.1:%d (direct TLS)" % b.s2s_tls_port in b.log()
    out = [l for l in links_a if l[0] == B and l[1] == "out"][0]
    assert out[5] == "127.0.0.1:%d" % b.s2s_tls_port, out


def test_server_iqs_from_the_other_server(pair):
    """IQs to the other server's own domain (IQ_REMOTE): ping, disco,
    version, time, uptime are answered to a remote sender; what only a
    local account may ask (carbons) gets service-unavailable."""
    a, b = pair

    async def scenario():
        import xml.etree.ElementTree as ET
        from slixmpp.exceptions import IqError

        alice = await connect("alice@%s/iq" % A, "alice-pw-1", a.port)
        bob = await connect("bob@%s/iq" % B, "bob-pw-1", b.port)
        assert await alice["xep_0199"].ping(B, timeout=15) is not None
        assert await bob["xep_0199"].ping(A, timeout=15) is not None
        info = await alice["xep_0030"].get_info(jid=B, timeout=10)
        q = info["disco_info"]
        assert ("server", "im") in [(i[0], i[1]) for i in q["identities"]], q
        assert "urn:xmpp:ping" in q["features"] and "jabber:iq:version" in q["features"]
        items = await bob["xep_0030"].get_items(jid=A, timeout=10)
        assert items["type"] == "result" and items["from"] == A
        v = await alice["xep_0092"].get_version(B, timeout=10)
        assert v["software_version"]["name"] == "edge xmpp-core", v
        t = bob.make_iq_get(ito=A)
        t.append(ET.Element("{urn:xmpp:time}time"))
        r = await t.send(timeout=10)
        assert r.xml.find("{urn:xmpp:time}time/{urn:xmpp:time}utc").text.endswith("Z")
        last = alice.make_iq_get(queryxmlns="jabber:iq:last", ito=B)
        r = await last.send(timeout=10)
        assert int(r.xml.find("{jabber:iq:last}query").get("seconds")) >= 0
        # carbons are for the host's own accounts: not answered to a remote one
        iq = alice.make_iq_set(ito=B)
        iq.append(ET.Element("{urn:xmpp:carbons:2}enable"))
        with pytest.raises(IqError) as e:
            await iq.send(timeout=10)
        assert e.value.iq["error"]["condition"] == "service-unavailable"
        await disconnect(alice, bob)

    arun(scenario(), 90)


def test_subscription_handshake(pair):
    a, b = pair

    async def scenario():
        alice = await connect("alice@%s/sub" % A, "alice-pw-1", a.port)
        bob = await connect("bob@%s/sub" % B, "bob-pw-1", b.port)
        await online(alice)
        await online(bob)
        # RFC 6121 §3: the full subscription handshake across servers
        bob.auto_authorize = True
        alice.send_presence(pto="bob@%s" % B, ptype="subscribe")
        while True:
            p = await recv(bob.subscriptions, 20)
            if p["type"] == "subscribe":
                break
        bob.send_presence(pto="alice@%s" % A, ptype="subscribed")
        while True:
            p = await recv(alice.subscriptions, 20)
            if p["type"] == "subscribed":
                break
        await until(lambda: alice.client_roster["bob@%s" % B]["subscription"] in ("to", "both"), 20)
        # bob's available presence reaches alice now that she is subscribed
        bob.send_presence(pstatus="here")
        while True:
            p = await recv(alice.presences, 20)
            if p["from"].bare == "bob@%s" % B and p["status"] == "here":
                break
        await disconnect(alice, bob)

    arun(scenario(), 90)


def test_unreachable_domains_bounce(pair):
    a, _ = pair

    async def scenario():
        alice = await connect("alice@%s/bounce" % A, "alice-pw-1", a.port)
        await online(alice)
        for to, cond in (("nobody@down.s2s.test", "remote-server-not-found"),
                         ("nobody@no-such-domain.invalid", "remote-server-not-found")):
            t0 = time.time()
            alice.send_message(mto=to, mbody="anyone?")
            while True:
                m = await recv(alice.messages, 30)
                if m["type"] == "error":
                    break
            assert m["error"]["condition"] == cond, m
            assert m["from"].bare == to
            assert time.time() - t0 < 30
        # a domain that just failed is not tried again at once: the next
        # stanza bounces without a connection attempt
        alice.send_message(mto="nobody@down.s2s.test", mbody="again?")
        while True:
            m = await recv(alice.messages, 30)
            if m["type"] == "error":
                break
        assert m["error"]["condition"] == "remote-server-not-found", m
        await disconnect(alice)

    arun(scenario(), 90)
    log = a.log()
    assert "down.s2s.test: next attempt in 1 s at the earliest" in log
    assert "down.s2s.test failed: no attempt now (backing off" in log


def test_spoofed_from_gets_invalid_from(pair):
    a, b = pair
    # authenticate a raw stream as B through real dialback is not
    # possible without B's secret: an unauthenticated stanza is refused
    r = RawS2s(a.s2s_port)
    try:
        feats = r.starttls(B, A)
        assert "urn:xmpp:features:dialback" in feats
        r.send("<message from='mallory@%s' to='alice@%s'><body>x</body></message>" % (B, A))
        got = r.recv_until("</stream:stream>")
        assert "<invalid-from" in got, got
        assert r.closed()
    finally:
        r.close()


def test_forged_dialback_key_refused(pair):
    a, b = pair
    r = RawS2s(a.s2s_port)
    try:
        r.starttls(B, A)
        # A asks B (the authoritative server) over its own link: B says invalid
        r.send("<db:result from='%s' to='%s'>%s</db:result>" % (B, A, "0" * 64))
        got = r.recv_until("type='invalid'", 20)
        assert "<db:result" in got
        r.send("<message from='bob@%s' to='alice@%s'><body>x</body></message>" % (B, A))
        got = r.recv_until("</stream:stream>")
        assert "<invalid-from" in got, got
    finally:
        r.close()


def test_unknown_to_and_plaintext_and_garbage(pair):
    a, _ = pair
    r = RawS2s(a.s2s_port)
    try:
        r.header(B, "not-ours.test")
        got = r.recv_until("</stream:stream>")
        assert "<host-unknown" in got, got
    finally:
        r.close()
    r = RawS2s(a.s2s_port)
    try:
        r.header(B, A)
        r.recv_until("</stream:features>")
        r.send("<db:result from='%s' to='%s'>abc</db:result>" % (B, A))
        got = r.recv_until("</stream:stream>")
        assert "<policy-violation" in got, got
    finally:
        r.close()
    r = RawS2s(a.s2s_port)
    try:
        r.send(b"\x16\x03\x01\x00\xa5garbage<<<>>>\x00\xff" * 4)
        got = r.recv_until("</stream:stream>")
        assert "<not-well-formed" in got or "<invalid" in got, got
        assert r.closed()
    finally:
        r.close()
    # the server is still fine
    assert a.daemon.proc.poll() is None


def test_silent_server_times_out(pair):
    a, _ = pair

    async def scenario():
        alice = await connect("alice@%s/slow" % A, "alice-pw-1", a.port)
        await online(alice)
        t0 = time.time()
        for i in range(3):
            alice.send_message(mto="nobody@silent.s2s.test", mbody="queued %d" % i)
        conds = []
        while len(conds) < 3:
            m = await recv(alice.messages, TIMEOUT + 20)
            if m["type"] == "error":
                conds.append(m["error"]["condition"])
        took = time.time() - t0
        assert conds == ["remote-server-timeout"] * 3, conds
        # RFC 6120 §8.3.3.17: bounced once the configured time-out passed
        assert TIMEOUT - 0.5 <= took < TIMEOUT + 3, took
        await disconnect(alice)
        return took

    print("bounced after %.2f s (connect_timeout %d s)" % (arun(scenario(), 60), TIMEOUT))


def test_oversized_stanza_stream_error(pair):
    a, _ = pair
    r = RawS2s(a.s2s_port)
    try:
        r.starttls(B, A)
        try:
            r.send("<message from='x@%s' to='alice@%s'><body>" % (B, A) + "x" * 600000 +
                   "</body></message>")
        except (OSError, ssl.SSLError):
            pass	# the server may close before the rest of it was sent
        got = r.recv_until("</stream:stream>", 20)
        assert "<policy-violation" in got or "<not-well-formed" in got, got[-500:]
    finally:
        r.close()


def test_peer_restart_traffic_resumes(pair):
    a, b = pair

    async def exchange(tag):
        alice = await connect("alice@%s/r%s" % (A, tag), "alice-pw-1", a.port)
        bob = await connect("bob@%s/r%s" % (B, tag), "bob-pw-1", b.port)
        await online(alice)
        await online(bob)
        alice.send_message(mto="bob@%s/r%s" % (B, tag), mbody="before/after " + tag)
        while True:
            m = await recv(bob.messages, 20)
            if m["body"] == "before/after " + tag:
                break
        await disconnect(alice, bob)

    arun(exchange("1"), 60)
    b.stop()
    b.start()
    # A learns of the restart from B's <system-shutdown/>, and the next
    # stanza sets a new link up, xmpp-core A untouched
    arun(exchange("2"), 60)
    assert a.daemon.proc.poll() is None


def test_xmppctl_lists_and_closes_links(pair):
    a, b = pair

    async def exchange(tag):
        alice = await connect("alice@%s/c%s" % (A, tag), "alice-pw-1", a.port)
        bob = await connect("bob@%s/c%s" % (B, tag), "bob-pw-1", b.port)
        await online(alice)
        await online(bob)
        alice.send_message(mto="bob@%s/c%s" % (B, tag), mbody="ctl " + tag)
        while (await recv(bob.messages, 20))["body"] != "ctl " + tag:
            pass
        await disconnect(alice, bob)

    arun(exchange("1"), 60)
    links = a.links()
    # remote, direction, local, auth, TLS, peer, queued, idle seconds, bidi
    out = [l for l in links if l[0] == B and l[1] == "out"]
    assert len(out) == 1 and len(out[0]) == 9 and out[0][2] == A, links
    assert out[0][8] in ("bidi", "-"), links
    r = a.ctl("s2s", "close", B)
    assert r.returncode == 0 and r.stdout.startswith("closed "), r.stdout + r.stderr
    deadline = time.time() + 10
    while any(l[0] == B for l in a.links()):
        assert time.time() < deadline, a.links()
        time.sleep(0.05)
    r = a.ctl("s2s", "close", B)
    assert r.returncode == 1 and "no connection" in r.stdout + r.stderr
    arun(exchange("2"), 60)	# the next stanza sets a new link up



def test_slowloris_and_connections_per_ip(pair):
    a, _ = pair
    # a stream that never authenticates is cut at auth_timeout
    r = RawS2s(a.s2s_port)
    try:
        t0 = time.time()
        r.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' ")
        got = r.recv_until("</stream:stream>", AUTH_TIMEOUT + 10)
        assert "<connection-timeout" in got, got
        assert AUTH_TIMEOUT - 0.5 <= time.time() - t0 < AUTH_TIMEOUT + 3
    finally:
        r.close()
    # connections beyond max_connections_per_ip are closed at once (the
    # links from b already hold some)
    socks = [RawS2s(a.s2s_port) for _ in range(PER_IP + 1)]
    try:
        assert socks[-1].closed(timeout=5)
    finally:
        for s in socks:
            s.close()
    assert "over max_connections_per_ip" in a.log()


def test_stanza_rate_slows_a_flood(pair):
    a, b = pair
    n = 30

    async def scenario():
        alice = await connect("alice@%s/flood" % A, "alice-pw-1", a.port)
        bob = await connect("bob@%s/flood" % B, "bob-pw-1", b.port)
        await online(alice)
        await online(bob)
        # the link first, so that only the flood is measured
        alice.send_message(mto="bob@%s/flood" % B, mbody="start")
        while (await recv(bob.messages, 20))["body"] != "start":
            pass
        t0 = time.time()
        for i in range(n):
            alice.send_message(mto="bob@%s/flood" % B, mbody="%d %s" % (i, "x" * 1000))
        got = []
        while len(got) < n:
            m = await recv(bob.messages, 30)
            got.append(int(m["body"].split()[0]))
        took = time.time() - t0
        assert got == list(range(n))	# nothing lost, in order
        # B reads no faster than RATE stanzas/s after the burst
        assert took >= (n - BURST - 2) / RATE * 0.8, took
        await disconnect(alice, bob)
        return took

    print("%d stanzas at stanza_rate %d: %.2f s" % (n, RATE, arun(scenario(), 90)))


def test_muc_occupants_from_the_other_server(pair):
    """A room on A's conference service with bob of B in it: the join
    (occupants, own presence, history, subject), groupchat and private
    messages both ways, a kick (307); then B dies: what the room sends
    bob bounces, and the others see him removed (333).  Last in this
    file: B is restarted, and A backs off from it for a moment."""
    a, b = pair
    room = "fed@conference." + A

    async def scenario():
        alice = await connect("alice@%s/muc" % A, "alice-pw-1", a.port)
        bob = await connect("bob@%s/muc" % B, "bob-pw-1", b.port)
        sa, sb = Seen(alice), Seen(bob)
        alice.send_presence()
        bob.send_presence()
        # an instant room (a gc-1.0 join), a subject, two messages
        alice.send_raw("<presence to='%s/alice'/>" % room)
        p = await sa.first(lambda s: s.get("from") == room + "/alice" and 110 in muc_codes(s))
        assert 201 in muc_codes(p)
        alice.send_raw("<message to='%s' type='groupchat'><subject>Federated</subject></message>"
                       % room)
        for i in range(2):
            alice.send_raw("<message to='%s' type='groupchat'><body>m%d</body></message>"
                           % (room, i))
        await sa.first(lambda s: body(s) == "m1")
        # bob joins from B: alice's presence, his own (110), history, subject
        bob.send_raw("<presence to='%s/bob'><x xmlns='%s'/></presence>" % (room, MUC))
        await sb.first(lambda s: s.findtext("{jabber:client}subject") == "Federated", 30)
        got = [s for s in sb.got if (s.get("from") or "").startswith(room)]
        kinds = [(s.tag.split("}")[1], s.get("from").split("/")[-1]) for s in got]
        assert kinds[:2] == [("presence", "alice"), ("presence", "bob")], kinds
        assert 110 in muc_codes(got[1])
        assert [body(s) for s in got[2:4]] == ["m0", "m1"], kinds
        # alice, the owner, sees bob's real JID on B
        p = await sa.first(lambda s: s.get("from") == room + "/bob")
        assert muc_item(p).get("jid") == "bob@%s" % B
        # groupchat from B reaches both
        bob.send_raw("<message to='%s' type='groupchat'><body>hi from B</body></message>" % room)
        for x in (sa, sb):
            m = await x.first(lambda s: body(s) == "hi from B")
            assert m.get("from") == room + "/bob" and m.get("type") == "groupchat"
        # private messages both ways
        alice.send_raw("<message to='%s/bob' type='chat'><body>psst</body></message>" % room)
        m = await sb.first(lambda s: body(s) == "psst")
        assert m.get("from") == room + "/alice"
        bob.send_raw("<message to='%s/alice' type='chat'><body>psst back</body></message>"
                     % room)
        m = await sa.first(lambda s: body(s) == "psst back")
        assert m.get("from") == room + "/bob"
        # kicked by the owner: 307 to everyone, 110 to him
        alice.send_raw("<iq type='set' id='kick1' to='%s'><query xmlns='%s#admin'>"
                       "<item nick='bob' role='none'/></query></iq>" % (room, MUC))
        assert (await sa.first(lambda s: s.get("id") == "kick1")).get("type") == "result"
        p = await sb.first(lambda s: s.get("type") == "unavailable" and 307 in muc_codes(s))
        assert muc_codes(p) == [110, 307]
        await sa.first(lambda s: s.get("from") == room + "/bob" and 307 in muc_codes(s))
        # back in; then B dies without a word (SIGKILL)
        sb.got.clear()
        bob.send_raw("<presence to='%s/bob'><x xmlns='%s'><history maxstanzas='0'/></x>"
                     "</presence>" % (room, MUC))
        await sb.first(lambda s: s.get("from") == room + "/bob" and 110 in muc_codes(s) and
                       s.get("type") is None)
        b.daemon.signal(signal.SIGKILL)
        b.daemon.proc.wait()
        sa.got.clear()
        alice.send_raw("<message to='%s' type='groupchat'><body>anyone?</body></message>" % room)
        p = await sa.first(lambda s: s.get("from") == room + "/bob" and
                           s.get("type") == "unavailable", 30)
        assert muc_codes(p) == [333], p.attrib
        await disconnect(alice)

    try:
        arun(scenario(), 120)
    finally:
        if b.daemon and b.daemon.proc.poll() is not None:
            b.daemon.stop(expect_rc=None)
            b.daemon = None
            sock = os.path.join(b.tmp, "control.sock")
            if os.path.exists(sock):
                os.unlink(sock)
            b.start()
