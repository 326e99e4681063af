"""xmpp-core's web side (issue 15): the HTTP listener, XEP-0156
host-meta (curl), client addresses through trusted proxies, and XMPP
over WebSocket (RFC 7395) as a c2s transport: a raw RFC 6455 client for
the framing edge cases (wsclient.py) and xmpp.js 0.14 from node as the
real peer, with a slixmpp user on TCP on the other side."""

import asyncio
import base64
import json
import signal
import subprocess
import time

import pytest

from edgetest import binary, free_port, run
from pgcluster import PgCluster
from wsclient import BINARY, CLOSE, CONT, NS_FRAMING, PING, PONG, TEXT, WS, http_request
from xmpptest import XmppServer, arun, connect, disconnect, recv
from xmppjsweb import Cut, XmppJsWeb

PW = "web-test-password-123"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
PER_IP = 6


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def server(pg):
    wp = free_port()
    # 127.0.0.1 is the proxy; ::1 is loopback but not trusted (its headers
    # are not believed, its sessions are still secure: loopback)
    s = XmppServer(pg, c2s_extra="""max_connections_per_ip = %d

[web]
listen = ["127.0.0.1:%d", "[::1]:%d"]
websocket_url = "wss://xmpp.example.org/ws"
trusted_proxies = ["127.0.0.1"]
ping_after = "2s"
ping_timeout = "2s"
""" % (PER_IP, wp, wp))
    s.web = wp
    for u in ("alice", "bob", "carol", "dave", "erin"):
        s.adduser(u, PW)
    yield s
    s.destroy()


def login(w, user, resource="raw"):
    """Opens, authenticates (PLAIN), restarts and binds over WebSocket."""
    w.open()
    assert w.recv().startswith("<open xmlns='%s'" % NS_FRAMING)
    feats = w.recv()
    assert "PLAIN" in feats and "starttls" not in feats, feats
    w.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (
        NS_SASL, base64.b64encode(("\0%s\0%s" % (user, PW)).encode()).decode()))
    assert "<success" in w.recv()
    w.open()
    assert w.recv().startswith("<open ")
    assert "urn:ietf:params:xml:ns:xmpp-bind" in w.recv()
    w.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns="
           "'urn:ietf:params:xml:ns:xmpp-bind'><resource>%s</resource></bind></iq>" % resource)
    r = w.recv()
    assert "type='result'" in r and "%s@localhost/%s" % (user, resource) in r, r
    return r


def stream_error(w):
    """The stream error condition, after which <close/> and close 1000."""
    code, seen = w.expect_close()
    errs = [m for m in seen if m.startswith("<stream:error")]
    assert errs, seen
    assert errs[0].startswith("<stream:error xmlns:stream='http://etherx.jabber.org/streams'>")
    assert seen[-1] == "<close xmlns='%s'/>" % NS_FRAMING, seen
    assert code == 1000
    return errs[0]


# ---- config ----

@pytest.mark.parametrize("web,msg", [
    ('websocket_url = "http://xmpp.example.org/ws"', "web.websocket_url: a ws:// or wss:// URL"),
    ('websocket_url = "wss://"', "web.websocket_url:"),
    ('websocket_url = "wss://x.example/<ws>"', "web.websocket_url:"),
    ('trusted_proxies = ["nginx.local"]', 'web.trusted_proxies: "nginx.local" is not an address'),
    ('listen = ["unix:/tmp/x.sock"]', "web.listen: a TCP address"),
    ('listen = []', "web.listen: between 1 and 16 addresses"),
    ('ping_after = "0s"', "web.ping_after"),
    ('bosh_url = "ftp://xmpp.example.org/bosh"', "web.bosh_url: an https:// or http:// URL"),
])
def test_web_config_errors(pg, web, msg):
    s = XmppServer(pg, start=False, c2s_extra="\n[web]\n%s\n" % web)
    try:
        r = run([binary("xmpp-core"), "-t", "-c", s.conf])
        assert r.returncode != 0
        assert msg in r.stderr + r.stdout, r.stderr
    finally:
        s.destroy()


# ---- HTTP: host-meta, handshake refusals ----

def curl(*args):
    r = subprocess.run(["curl", "-sS", "-i", "--max-time", "10"] + list(args),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.replace("\r\n", "\n").partition("\n\n")
    return head.lower(), body


def test_host_meta_xrd_and_json(server):
    head, body = curl("http://127.0.0.1:%d/.well-known/host-meta" % server.web)
    assert head.startswith("http/1.1 200")
    assert "access-control-allow-origin: *" in head
    assert "content-type: application/xrd+xml" in head
    assert "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>" in body
    assert ("<Link rel='urn:xmpp:alt-connections:websocket' "
            "href='wss://xmpp.example.org/ws'/>") in body
    head, body = curl("http://[::1]:%d/.well-known/host-meta.json" % server.web)
    assert head.startswith("http/1.1 200")
    assert "access-control-allow-origin: *" in head
    assert json.loads(body) == {"links": [{"rel": "urn:xmpp:alt-connections:websocket",
                                           "href": "wss://xmpp.example.org/ws"}]}
    head, _ = curl("-X", "OPTIONS", "http://127.0.0.1:%d/.well-known/host-meta" % server.web)
    assert head.startswith("http/1.1 204") and "access-control-allow-origin: *" in head
    head, _ = curl("http://127.0.0.1:%d/nothing-here" % server.web)
    assert head.startswith("http/1.1 404")
    head, _ = curl("-X", "POST", "-d", "x=1", "http://127.0.0.1:%d/.well-known/host-meta"
                   % server.web)
    assert head.startswith("http/1.1 405")


def test_websocket_handshake_refusals(server):
    head, _ = curl("http://127.0.0.1:%d/ws" % server.web)
    assert head.startswith("http/1.1 426")
    w = WS(server.web, protocol=None)
    assert w.status == 400
    w.close()
    w = WS(server.web, protocol="chat")
    assert w.status == 400
    w.close()
    s, st, hdrs, _ = http_request("127.0.0.1", server.web, (
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
        "Sec-WebSocket-Protocol: xmpp\r\n\r\n").encode())
    s.close()
    assert st == 426 and hdrs.get("sec-websocket-version") == "13"
    # ~7 KiB of headers pass (a browser's cookies through nginx), more is 431
    w = WS(server.web, headers={"Cookie": "c=" + "x" * 6000})
    assert w.status == 101
    w.close()
    w = WS(server.web, headers={"Cookie": "c=" + "x" * 20000})
    assert w.status == 431
    w.close()
    s, st, _, _ = http_request("127.0.0.1", server.web, (
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: xmpp\r\n\r\n").encode())
    s.close()
    assert st == 400


# ---- RFC 7395 framing ----

def test_ws_login_roster_and_clean_close(server):
    w = WS(server.web)
    assert w.status == 101 and w.headers["sec-websocket-protocol"] == "xmpp"
    login(w, "alice")
    w.send("<iq xmlns='jabber:client' type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
    r = w.recv()
    assert r.startswith("<iq xmlns='jabber:client'") and "jabber:iq:roster" in r
    w.send("<close xmlns='%s'/>" % NS_FRAMING)
    code, seen = w.expect_close()
    assert seen == ["<close xmlns='%s'/>" % NS_FRAMING] and code == 1000
    assert w.eof()
    w.close()


def test_ws_fragments_and_pings(server):
    w = WS(server.web)
    w.open()
    w.recv()
    w.recv()
    msg = "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (
        NS_SASL, base64.b64encode(("\0bob\0%s" % PW).encode()).decode())
    # three fragments with control frames between them (RFC 6455 §5.4)
    w.send_raw(w.frame(TEXT, msg[:10], fin=False))
    w.send_raw(w.frame(PING, b"p-1"))
    w.send_raw(w.frame(CONT, msg[10:30], fin=False))
    w.send_raw(w.frame(PONG, b"unsolicited"))
    w.send_raw(w.frame(CONT, msg[30:], fin=True))
    fin, op, p = w.recv_frame()
    assert (op, p) == (PONG, b"p-1")
    assert "<success" in w.recv()
    # an idle socket gets pings; answering keeps it
    t0 = time.monotonic()
    fin, op, p = w.recv_frame(timeout=10)
    assert op == PING and time.monotonic() - t0 >= 1.0
    w.send_raw(w.frame(PONG, p))
    w.open()
    assert w.recv().startswith("<open ")
    w.close()


def test_ws_unanswered_pings_drop_the_socket(server):
    w = WS(server.web)
    fin, op, _ = w.recv_frame(timeout=10)
    assert op == PING
    assert w.eof(timeout=10)	# no pong: gone after ping_timeout
    w.close()


@pytest.mark.parametrize("case,code", [
    ("unmasked", 1002), ("binary", 1003), ("rsv", 1002), ("bad-opcode", 1002),
    ("oversize", 1009), ("oversize-fragments", 1009), ("cont-first", 1002),
    ("text-in-fragment", 1002), ("bad-utf8", 1007), ("long-ping", 1002),
    ("bad-close-code", 1002), ("close", 1000), ("close-4000", 4000),
])
def test_ws_frame_violations(server, case, code):
    w = WS(server.web)
    w.open()
    w.recv()
    w.recv()
    big = "<iq xmlns='jabber:client' type='get' id='x'>%s</iq>" % ("a" * 300000)
    f = {
        "unmasked": w.frame(TEXT, "<presence/>", mask=False),
        "binary": w.frame(BINARY, b"\x00\x01"),
        "rsv": w.frame(TEXT, "<presence/>", rsv=4),
        "bad-opcode": w.frame(3, b"x"),
        # the header alone is refused: no need to send 300 kB
        "oversize": w.frame(TEXT, big[:1000], length=len(big)),
        "oversize-fragments": b"".join(
            w.frame(TEXT if i == 0 else CONT, "a" * 60000, fin=False) for i in range(6)),
        "cont-first": w.frame(CONT, "<presence/>"),
        "text-in-fragment": w.frame(TEXT, "<pres", fin=False) + w.frame(TEXT, "ence/>"),
        "bad-utf8": w.frame(TEXT, b"<message xmlns='jabber:client'><body>\xc3\x28</body></message>"),
        "long-ping": w.frame(PING, b"x" * 126),
        "bad-close-code": w.frame(CLOSE, b"\x03\xed"),	# 1005 is never sent
        "close": w.frame(CLOSE, b"\x03\xe8bye"),
        "close-4000": w.frame(CLOSE, b"\x0f\xa0"),
    }[case]
    try:
        w.send_raw(f)
    except (BrokenPipeError, ConnectionResetError):
        pass
    got, _ = w.expect_close()
    assert got == code, (case, got)
    assert w.eof()
    w.close()


def test_ws_bad_open_and_messages(server):
    # an <open/> in another namespace
    w = WS(server.web)
    w.send("<open xmlns='jabber:client' to='localhost' version='1.0'/>")
    assert w.recv().startswith("<open xmlns='%s'" % NS_FRAMING)
    assert "<invalid-namespace" in stream_error(w)
    w.close()
    # a host we do not serve
    w = WS(server.web)
    w.open(to="elsewhere.example")
    w.recv()
    assert "<host-unknown" in stream_error(w)
    w.close()
    # a stanza before <open/>
    w = WS(server.web)
    w.send("<presence xmlns='jabber:client'/>")
    w.recv()
    assert "<invalid-xml" in stream_error(w)
    w.close()
    # two elements in one message, half an element, not XML
    for bad in ("<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>",
                "<message xmlns='jabber:client'><body>half",
                "hello"):
        w = WS(server.web)
        w.open()
        w.recv()
        w.recv()
        w.send(bad)
        assert "<not-well-formed" in stream_error(w), bad
        w.close()
    # a second <open/> without a restart
    w = WS(server.web)
    w.open()
    w.recv()
    w.recv()
    w.open()
    assert "<invalid-xml" in stream_error(w)
    w.close()
    # the session's own limits hold: no SASL, no bind before auth
    w = WS(server.web)
    w.open()
    w.recv()
    w.recv()
    w.send("<iq xmlns='jabber:client' type='get' id='v'><query xmlns='jabber:iq:version'/></iq>")
    assert "<not-authorized" in stream_error(w)
    w.close()


# ---- client addresses ----

def sessions(server):
    r = server.ctl("sessions")
    assert r.returncode == 0, r.stderr
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def test_forwarded_for_from_trusted_proxy_only(server):
    a = WS(server.web, headers={"X-Forwarded-For": "192.0.2.66, 203.0.113.7"})
    login(a, "carol", "viaproxy")
    b = WS(server.web, headers={"Forwarded": 'for="[2001:db8::7]:4711";proto=https'})
    login(b, "carol", "viaforwarded")
    # ::1 is not a trusted proxy: its header is the client's own claim
    c = WS(server.web, host="::1", headers={"X-Forwarded-For": "198.51.100.99"})
    login(c, "carol", "direct")
    peers = {s[0]: s[1] for s in sessions(server)}
    assert peers["carol@localhost/viaproxy"].startswith("203.0.113.7 via 127.0.0.1:")
    assert peers["carol@localhost/viaforwarded"].startswith("2001:db8::7 via 127.0.0.1:")
    assert peers["carol@localhost/direct"].startswith("[::1]:")
    assert "198.51.100.99" not in peers["carol@localhost/direct"]
    for w in (a, b, c):
        w.close()
    # the request's log line (written when the upgraded socket is gone)
    deadline = time.time() + 10
    while "web: 203.0.113.7 via 127.0.0.1:" not in server.daemon.log():
        assert time.time() < deadline, server.daemon.log()[-3000:]
        time.sleep(0.05)


def test_per_ip_limit_counts_the_forwarded_address(server):
    held = []
    try:
        for _ in range(PER_IP):
            w = WS(server.web, headers={"X-Forwarded-For": "198.51.100.9"})
            assert w.status == 101
            w.open()
            w.recv()
            held.append(w)
        w = WS(server.web, headers={"X-Forwarded-For": "198.51.100.9"})
        assert w.status == 503
        w.close()
        # another client behind the same proxy is not affected
        w = WS(server.web, headers={"X-Forwarded-For": "198.51.100.10"})
        assert w.status == 101
        held.append(w)
    finally:
        for w in held:
            w.close()


# ---- xmpp.js over WebSocket with a slixmpp user on TCP ----

def test_xmppjs_over_websocket_with_tcp_peer_and_sm_resumption(server):
    cut = Cut(server.web)
    js = None

    async def scenario():
        nonlocal js
        # dave's roster holds erin (set up from TCP)
        d = await connect("dave@localhost", PW, server.port)
        await d.get_roster()
        await d.update_roster("erin@localhost", name="Erin")
        await disconnect(d)
        erin = await connect("erin@localhost", PW, server.port)
        erin.send_presence()
        js = XmppJsWeb("ws://127.0.0.1:%d/ws" % cut.port, "dave", PW)
        on = await js.await_("online")
        full = on["jid"]
        assert full.startswith("dave@localhost/web"), on
        inp = "".join(e["data"] for e in js.seen if e["ev"] == "in")
        assert '<enabled xmlns="urn:xmpp:sm:3"' in inp, inp[-2000:]
        js.cmd("roster")
        r = await js.await_("roster")
        assert r["items"] == ["erin@localhost"]
        js.cmd("presence")
        await js.await_("sent")
        # both ways
        js.cmd("send erin@localhost hello from the web")
        m = await recv(erin.messages)
        assert m["body"] == "hello from the web" and str(m["from"]) == full
        erin.send_message(mto=full, mbody="hello from TCP", mtype="chat")
        got = await js.await_("message", body="hello from TCP")
        assert got["from"] == "erin@localhost/%s" % erin.boundjid.resource
        # the socket drops: the session stays (SM), what comes meanwhile waits
        cut.cut()
        await js.await_("disconnect", allow_errors=True)
        deadline = time.time() + 10
        while any(x[0] == full for x in sessions(server)):
            assert time.time() < deadline, "the server did not see the drop"
            await asyncio.sleep(0.05)
        erin.send_message(mto=full, mbody="while you were away", mtype="chat")
        await asyncio.sleep(0)
        mark = len(js.seen)
        js.cmd("reconnect")

        def resumed_with_queue():
            ev = js.seen[mark:]
            return any(e["ev"] == "resumed" and e["jid"] == full for e in ev) and \
                any(e["ev"] == "message" and e["body"] == "while you were away" for e in ev)

        deadline = time.time() + 20
        while not resumed_with_queue():
            assert time.time() < deadline, [e for e in js.seen[mark:] if e["ev"] not in ("in", "out")]
            try:
                await js.await_("none", timeout=0.2, allow_errors=True)
            except AssertionError:
                pass
        inp = "".join(e["data"] for e in js.seen[mark:] if e["ev"] == "in")
        assert '<resumed xmlns="urn:xmpp:sm:3"' in inp
        ws = "".join(e["data"] for e in js.seen if e["ev"] == "out")
        assert "<resume" in ws, ws[-2000:]
        await disconnect(erin)

    try:
        arun(scenario(), timeout=90)
    finally:
        if js:
            js.close()
        cut.close()


def test_sigterm_with_websocket_sessions(pg):
    """A graceful stop tells WebSocket sessions system-shutdown, closes
    them, and the server exits in time (the upgraded sockets go back to
    libmicrohttpd before it stops)."""
    wp = free_port()
    s = XmppServer(pg, c2s_extra='\n[web]\nlisten = ["127.0.0.1:%d"]\n' % wp)
    try:
        s.adduser("zoe", PW)
        a = WS(wp)
        login(a, "zoe", "one")
        b = WS(wp)	# not yet authenticated
        b.open()
        b.recv()
        b.recv()
        s.daemon.signal(signal.SIGTERM)
        for w in (a, b):
            assert "<system-shutdown" in stream_error(w)
            assert w.eof()
            w.close()
        log = s.stop()
        assert "web:" in log
    finally:
        s.destroy()
