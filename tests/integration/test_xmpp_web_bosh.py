"""BOSH (XEP-0124 / XEP-0206) on xmpp-core's web listener, as a c2s
transport: a session through SASL, restart and bind, messages both ways
with a slixmpp user on TCP, and the request rules: wait, hold, the rid
window (early requests wait, a repeated rid gets its answer again, one
outside the window ends the session), pause and the inactivity time-out,
terminate, stream errors as remote-stream-error, CORS, bad bodies."""

import asyncio
import base64
import http.client
import re
import threading
import time
import urllib.request

import pytest

from boshclient import NS_HTTPBIND, Bosh
from edgetest import free_port
from pgcluster import PgCluster
from xmpptest import XmppServer, arun, connect, disconnect, recv

PW = "bosh-test-password-123"


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def server(pg):
    wp = free_port()
    s = XmppServer(pg, c2s_extra="""
[web]
listen = ["127.0.0.1:%d", "[::1]:%d"]
bosh_url = "https://xmpp.example.org/bosh"
trusted_proxies = ["127.0.0.1"]
""" % (wp, wp))
    s.web = wp
    for u in ("bea", "cid", "dan", "eve", "fay", "gus"):
        s.adduser(u, PW)
    yield s
    s.destroy()


def session(server, user, resource="bosh", wait=10, **kw):
    b = Bosh(server.web, **kw)
    st, _, text = b.create(wait=wait)
    assert st == 200 and b.sid, text
    assert "PLAIN" in text and "<stream:features" in text
    assert b.attrs["wait"] == str(wait) and b.attrs["hold"] == "1" and b.attrs["ver"] == "1.6"
    st, _, text = b.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                         "%s</auth>" % base64.b64encode(("\0%s\0%s" % (user, PW)).encode()).decode())
    assert "<success" in text, text
    st, _, text = b.send(xmpp__restart="true")
    assert "urn:ietf:params:xml:ns:xmpp-bind" in text, text
    st, _, text = b.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns="
                         "'urn:ietf:params:xml:ns:xmpp-bind'><resource>%s</resource></bind>"
                         "</iq>" % resource)
    assert "%s@localhost/%s" % (user, resource) in text, text
    return b


def test_bosh_requests_refused(server):
    b = Bosh(server.web)
    st, _, text = b.post("<body xmlns='%s' rid='1' to='elsewhere.example' wait='5' hold='1'/>"
                         % NS_HTTPBIND)
    assert st == 200 and "condition='host-unknown'" in text and "type='terminate'" in text
    st, _, text = b.post("<body xmlns='urn:wrong' rid='1' to='localhost'/>")
    assert st == 400 and "bad-request" in text
    st, _, text = b.post("<body xmlns='%s' to='localhost'/>" % NS_HTTPBIND)	# no rid
    assert st == 400
    st, _, text = b.post("not xml")
    assert st == 400
    st, _, text = b.post("<body xmlns='%s' rid='5' sid='0123456789abcdef'/>" % NS_HTTPBIND)
    assert st == 200 and "condition='item-not-found'" in text
    # over the stanza limit: refused before it is all read
    big = "<body xmlns='%s' rid='2' to='localhost'>%s</body>" % (NS_HTTPBIND, "x" * 300000)
    try:
        st, _, _ = b.post(big)
        assert st == 413 or st >= 400
    except (ConnectionError, OSError):
        pass
    # CORS preflight
    c = http.client.HTTPConnection("127.0.0.1", server.web, timeout=10)
    c.request("OPTIONS", "/bosh", headers={"Origin": "https://web.example",
                                           "Access-Control-Request-Method": "POST"})
    r = c.getresponse()
    r.read()
    assert r.status == 204 and r.getheader("Access-Control-Allow-Origin") == "*"
    assert "POST" in r.getheader("Access-Control-Allow-Methods")
    c.request("GET", "/bosh")
    r = c.getresponse()
    r.read()
    assert r.status == 405
    c.close()


def test_bosh_host_meta_link(server):
    with urllib.request.urlopen("http://127.0.0.1:%d/.well-known/host-meta" % server.web,
                                timeout=10) as r:
        body = r.read().decode()
    assert "<Link rel='urn:xmpp:alt-connections:xbosh' href='https://xmpp.example.org/bosh'/>" \
        in body


def test_bosh_messages_both_ways_with_tcp_peer(server):
    async def scenario():
        cid = await connect("cid@localhost", PW, server.port)
        cid.send_presence()
        b = session(server, "bea", headers={"X-Forwarded-For": "203.0.113.21"})
        sess = {l.split("\t")[0]: l.split("\t")[1] for l in
                server.ctl("sessions").stdout.splitlines() if l}
        assert sess["bea@localhost/bosh"].startswith("203.0.113.21 via 127.0.0.1:")
        loop = asyncio.get_running_loop()
        st, _, text = await loop.run_in_executor(None, lambda: b.send(
            "<message xmlns='jabber:client' to='cid@localhost' type='chat'>"
            "<body>hello over bosh</body></message>"))
        m = await recv(cid.messages)
        assert m["body"] == "hello over bosh" and str(m["from"]) == "bea@localhost/bosh"
        # an empty request is held until something comes for it
        t = b.send_async()
        await asyncio.sleep(0.3)
        assert t.is_alive()
        cid.send_message(mto="bea@localhost/bosh", mbody="hello back", mtype="chat")
        await loop.run_in_executor(None, t.join, 10)
        st, _, text = t.result
        assert st == 200 and "<body>hello back</body>" in text, text
        assert "<message xmlns='jabber:client'" in text
        # what comes while no request is held answers the next one at once
        cid.send_message(mto="bea@localhost/bosh", mbody="between requests", mtype="chat")
        # no request is held meanwhile: it waits in the session (the window
        # only makes the case likely; the answer is right either way)
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        st, _, text = await loop.run_in_executor(None, b.send)
        assert "<body>between requests</body>" in text and time.monotonic() - t0 < 2, text
        b.send(type="terminate")
        await disconnect(cid)

    arun(scenario(), timeout=60)


def test_bosh_wait_hold_and_rid_window(server):
    b = session(server, "dan", wait=2)
    # nothing to say: answered empty after wait
    t0 = time.monotonic()
    st, _, text = b.send()
    assert st == 200 and re.fullmatch(r"<body [^>]*>\s*</body>", text), text
    assert 1.5 < time.monotonic() - t0 < 5
    # hold=1: a second request answers the first at once
    t = b.send_async()
    time.sleep(0.3)
    t0 = time.monotonic()
    t2 = b.send_async()
    t.join(5)
    assert not t.is_alive() and time.monotonic() - t0 < 1.5
    t2.join(5)
    # the last rid again: the same answer (XEP-0124 §14.3)
    last = b.rid
    st, _, again = b.post(b.body(rid=last))
    assert st == 200 and again == t2.result[2]
    # an early request (rid + 2) waits for rid + 1, then both go in order
    r1, r2 = b.rid + 1, b.rid + 2
    early = b.body("<iq xmlns='jabber:client' type='get' id='second'><ping xmlns='urn:xmpp:ping'/></iq>",
                   rid=r2)
    out = {}
    te = threading.Thread(target=lambda: out.setdefault("early", b.post(early)), daemon=True)
    te.start()
    time.sleep(0.3)
    assert te.is_alive()
    st, _, text = b.post(b.body("<iq xmlns='jabber:client' type='get' id='first'>"
                                "<ping xmlns='urn:xmpp:ping'/></iq>", rid=r1))
    te.join(5)
    both = text + out["early"][2]
    assert both.index("id='first'") < both.index("id='second'"), both
    b.rid = r2
    # outside the window: the session ends
    st, _, text = b.post(b.body(rid=b.rid + 5))
    assert "condition='item-not-found'" in text
    st, _, text = b.send()
    assert "condition='item-not-found'" in text


def test_bosh_pause_then_inactivity(server):
    b = session(server, "eve")
    t0 = time.monotonic()
    st, _, text = b.send(pause="1")
    assert st == 200 and time.monotonic() - t0 < 1.5	# answered at once
    deadline = time.time() + 15
    while any(l.startswith("eve@localhost/") for l in server.ctl("sessions").stdout.splitlines()):
        assert time.time() < deadline, "the paused session did not time out"
        time.sleep(0.1)
    st, _, text = b.send()
    assert "condition='item-not-found'" in text


def test_bosh_terminate_and_stream_error(server):
    b = session(server, "fay")
    st, _, text = b.send("<presence xmlns='jabber:client' type='unavailable'/>", type="terminate")
    assert st == 200 and "type='terminate'" in text and "condition=" not in text, text
    # a stream error ends the session as remote-stream-error (XEP-0206 §4)
    b = session(server, "gus")
    st, _, text = b.send("<nonsense xmlns='jabber:client'/>")
    assert "type='terminate'" in text and "condition='remote-stream-error'" in text, text
    assert "<stream:error><unsupported-stanza-type" in text
