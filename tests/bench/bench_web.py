"""The web transports side by side: xmpp-core's WebSocket (RFC 7395) and
BOSH (XEP-0206) against its own c2s over TCP+TLS in the same run, against
Prosody 0.12's mod_websocket and mod_bosh, and BOSH against ejabberd's
mod_bosh; each server fresh on loopback (tests/bench/xmppservers.py).
One asyncio harness drives all of them the same way:

  cpu/message   server CPU per delivered ~100-byte chat message between
                two sessions of two accounts: MESSAGES of them (default
                5000), the sender writing as fast as the transport lets
                it (WebSocket and TCP: a stream of frames / stanzas; BOSH:
                20 messages per request, two requests in flight), on the
                fresh server
  rss/session   RSS growth of the server per idle session (authenticated,
                bound, initial presence) over SESSIONS of them (default
                200), measured after IDLE_S of idleness, then closed
  cpu/message (after)  the same streams again once those sessions came
                and went

No server archives (xmpp-core's [mam] is off for this run: Prosody and
ejabberd are run without MAM), so the figures are the transports' and
routing's.  WebSocket and BOSH run in plain HTTP on loopback (TLS is nginx's in front
of xmpp-core; Prosody is told to trust it: consider_*_secure), so the
TCP figure carries TLS and the web figures do not.  Printed as absolute
figures and as ratios; knobs XMPP_BENCH_SESSIONS (one number),
XMPP_BENCH_MESSAGES, XMPP_BENCH_ONLY (a comma list of xmpp-core, prosody,
ejabberd)."""

import asyncio
import base64
import os
import re
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("XMPP_BENCH_SESSIONS", "200")

import xmppservers  # noqa: E402
from bench_xmpp import PW, login, register, rss_kib  # noqa: E402
from edgetest import free_port  # noqa: E402

SESSIONS = int(os.environ["XMPP_BENCH_SESSIONS"].split(",")[-1])
MESSAGES = int(os.environ.get("XMPP_BENCH_MESSAGES", "5000"))
ONLY = [x for x in os.environ.get("XMPP_BENCH_ONLY", "xmpp-core,prosody,ejabberd").split(",")
        if x]
IDLE_S = 5.0
CONCURRENCY = 50
BATCH = 20		# BOSH: messages per request
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
HTTPBIND = "http://jabber.org/protocol/httpbind"
BODY = "x" * 60


def plain(user):
    return base64.b64encode(("\0%s\0%s" % (user, PW)).encode()).decode()


def msg(to, i):
    return ("<message xmlns='jabber:client' to='%s@localhost' type='chat' id='m%d'>"
            "<body>%s</body></message>" % (to, i, BODY))


# ---- WebSocket (RFC 6455 client side, RFC 7395) ----

class WS:
    def __init__(self, r, w):
        self.r, self.w = r, w
        self.buf = b""

    @classmethod
    async def open(cls, port, path):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        w.write(("GET %s HTTP/1.1\r\nHost: localhost:%d\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13"
                 "\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n" % (path, port, key)).encode())
        head = await r.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError("no upgrade: %r" % head[:200])
        return cls(r, w)

    def send(self, text):
        p = text.encode()
        n = len(p)
        if n < 126:
            h = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            h = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            h = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        # the whole payload XORed at once as one big integer
        m = (mask * (n // 4 + 1))[:n]
        x = (int.from_bytes(p, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")
        self.w.write(h + mask + x)

    async def _need(self, n):
        while len(self.buf) < n:
            d = await self.r.read(262144)
            if not d:
                raise ConnectionError("websocket closed")
            self.buf += d

    async def recv(self):
        """The next text message (pings answered)."""
        while True:
            await self._need(2)
            b0, b1 = self.buf[0], self.buf[1]
            n, off = b1 & 0x7f, 2
            if n == 126:
                await self._need(4)
                n, off = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                await self._need(10)
                n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
            await self._need(off + n)
            p, self.buf = self.buf[off:off + n], self.buf[off + n:]
            op = b0 & 0x0f
            if op == 9:
                self.w.write(struct.pack("!BB", 0x8a, 0x80 | len(p)) + b"\0\0\0\0" + p)
                continue
            if op == 8:
                raise ConnectionError("websocket close frame")
            if op == 1:
                return p.decode()

    async def count_messages(self):
        """Reads once more; the <message/>s in the text frames now complete
        (a bytearray and an offset: no copy per frame)."""
        d = await self.r.read(262144)
        if not d:
            raise ConnectionError("websocket closed")
        buf = bytearray(self.buf)
        buf += d
        pos, n_msgs, end = 0, 0, len(buf)
        while end - pos >= 2:
            b1 = buf[pos + 1]
            n, off = b1 & 0x7f, 2
            if n == 126:
                if end - pos < 4:
                    break
                n, off = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif n == 127:
                if end - pos < 10:
                    break
                n, off = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if end - pos < off + n:
                break
            if buf[pos] & 0x0f == 1:
                n_msgs += buf.count(b"<message", pos + off, pos + off + n)
            pos += off + n
        self.buf = bytes(buf[pos:])
        return n_msgs

    async def until(self, needle):
        while True:
            t = await self.recv()
            if needle in t:
                return t


async def ws_login(port, path, user, resource):
    c = await WS.open(port, path)
    c.send("<open xmlns='%s' to='localhost' version='1.0'/>" % FRAMING)
    await c.until("features")
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
           % plain(user))
    t = await c.until("xmpp-sasl")
    if "success" not in t:
        raise RuntimeError("websocket login of %s: %s" % (user, t[:200]))
    c.send("<open xmlns='%s' to='localhost' version='1.0'/>" % FRAMING)
    await c.until("features")
    c.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns="
           "'urn:ietf:params:xml:ns:xmpp-bind'><resource>%s</resource></bind></iq>" % resource)
    await c.until("</iq>")
    c.send("<presence xmlns='jabber:client'/>")
    return c


# ---- BOSH (XEP-0124/0206) over keep-alive HTTP/1.1 ----

class HTTP:
    def __init__(self, r, w, host_port, path):
        self.r, self.w, self.hp, self.path = r, w, host_port, path

    @classmethod
    async def open(cls, port, path):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(r, w, "localhost:%d" % port, path)

    def post(self, body):
        b = body.encode()
        self.w.write(("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/xml; charset=utf-8"
                      "\r\nContent-Length: %d\r\n\r\n" % (self.path, self.hp, len(b))).encode()
                     + b)

    async def response(self):
        head = await self.r.readuntil(b"\r\n\r\n")
        m = re.search(rb"(?i)content-length:\s*(\d+)", head)
        if not m or b" 200 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError("BOSH answer: %r" % head[:300])
        return (await self.r.readexactly(int(m.group(1)))).decode()


class Bosh:
    """A BOSH session on two connections (hold 1, requests 2)."""

    def __init__(self, conns):
        self.c = conns
        self.rid = int.from_bytes(os.urandom(4), "big") + 1000
        self.sid = None
        self.turn = 0

    def body(self, inner="", attrs=""):
        self.rid += 1
        return "<body xmlns='%s' rid='%d' sid='%s'%s>%s</body>" % (HTTPBIND, self.rid, self.sid,
                                                                  attrs, inner)

    async def call(self, inner="", attrs=""):
        """One request at a time on the first connection: its answer."""
        self.c[0].post(self.body(inner, attrs))
        return await self.c[0].response()

    async def until(self, needle, inner="", attrs=""):
        t = await self.call(inner, attrs)
        while needle not in t:
            if "type='terminate'" in t or 'type="terminate"' in t:
                raise RuntimeError("BOSH session ended: %s" % t[:300])
            t = await self.call()
        return t


async def bosh_login(port, path, user, resource):
    conns = [await HTTP.open(port, path), await HTTP.open(port, path)]
    b = Bosh(conns)
    b.rid += 1
    conns[0].post("<body xmlns='%s' xmlns:xmpp='urn:xmpp:xbosh' rid='%d' to='localhost' "
                  "xml:lang='en' wait='10' hold='1' ver='1.6' xmpp:version='1.0'/>"
                  % (HTTPBIND, b.rid))
    t = await conns[0].response()
    b.sid = re.search(r"sid=['\"]([^'\"]+)", t).group(1)
    if "mechanisms" not in t:
        await b.until("mechanisms")
    t = await b.until("xmpp-sasl", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                      "mechanism='PLAIN'>%s</auth>" % plain(user))
    if "success" not in t:
        raise RuntimeError("BOSH login of %s: %s" % (user, t[:300]))
    await b.until("bind", attrs=" xmlns:xmpp='urn:xmpp:xbosh' xmpp:restart='true' "
                  "to='localhost' xml:lang='en'")
    await b.until("</iq>", "<iq xmlns='jabber:client' type='set' id='b'><bind xmlns="
                  "'urn:ietf:params:xml:ns:xmpp-bind'><resource>%s</resource></bind></iq>"
                  % resource)
    await b.call("<presence xmlns='jabber:client'/>")
    return b


# ---- the measurements ----

def cpu(srv):
    return xmppservers.cpu_seconds(srv.pid)


async def gather_limited(coros):
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(c):
        async with sem:
            return await c
    return await asyncio.gather(*(one(c) for c in coros))


async def idle_rss(srv, opener, n, tag):
    """RSS growth per idle session (KiB)."""
    before = rss_kib(srv.pid)
    conns = await gather_limited([opener("idle%d" % (k % 10), "%s%d" % (tag, k))
                                  for k in range(n)])
    await asyncio.sleep(IDLE_S)	# parsers released, buffers trimmed
    after = rss_kib(srv.pid)
    for c in conns:
        for w in ([c.w] if hasattr(c, "w") else [x.w for x in c.c]):
            w.close()
    await asyncio.sleep(1)
    return (after - before) / n


async def stream_cpu(srv, open_pair, send_all, count_in):
    """Server CPU (us) per delivered message between two sessions."""
    a, b = await open_pair()
    got = [0]
    done = asyncio.Event()

    async def reader():
        while got[0] < MESSAGES:
            got[0] += await count_in(b)
        done.set()
    t0 = cpu(srv)
    w0 = time.monotonic()
    rd = asyncio.ensure_future(reader())
    await send_all(a)
    await asyncio.wait_for(done.wait(), 120)
    used = cpu(srv) - t0
    wall = time.monotonic() - w0
    rd.cancel()
    for c in (a, b):
        for w in ([c.w] if hasattr(c, "w") else [x.w for x in c.c]):
            w.close()
    await asyncio.sleep(1)
    return used / MESSAGES * 1e6, MESSAGES / wall


def ws_opener(port, path):
    return lambda user, res: ws_login(port, path, user, res)


def bosh_opener(port, path):
    return lambda user, res: bosh_login(port, path, user, res)


async def ws_stream(srv, port, path):
    async def pair():
        return (await ws_login(port, path, "wssender", "ws"),
                await ws_login(port, path, "wsreceiver", "ws"))

    async def send_all(a):
        for i in range(MESSAGES):
            a.send(msg("wsreceiver", i))
            if i % 100 == 99:
                await a.w.drain()
        await a.w.drain()

    async def count_in(b):
        return await b.count_messages()
    return await stream_cpu(srv, pair, send_all, count_in)


async def tcp_stream(srv):
    async def pair():
        return (await login(srv.port, "tcpsender", "tcp"),
                await login(srv.port, "tcpreceiver", "tcp"))

    async def send_all(a):
        for i in range(MESSAGES):
            a.send(msg("tcpreceiver", i).replace(" xmlns='jabber:client'", ""))
            if i % 100 == 99:
                await a.w.drain()
        await a.w.drain()

    async def count_in(b):
        d = await b.r.read(262144)
        if not d:
            raise ConnectionError("closed")
        return d.count(b"<message")
    return await stream_cpu(srv, pair, send_all, count_in)


async def bosh_stream(srv, port, path):
    async def pair():
        return (await bosh_login(port, path, "boshsender", "bosh"),
                await bosh_login(port, path, "boshreceiver", "bosh"))

    async def send_all(a):
        # two requests in flight: each new one lets the server answer the
        # one it holds (XEP-0124 §11), so the sender never waits for 'wait'
        a.c[0].post(a.body())
        i, k = 0, 1
        while i < MESSAGES:
            inner = "".join(msg("boshreceiver", j)
                            for j in range(i, min(i + BATCH, MESSAGES)))
            i += BATCH
            a.c[k].post(a.body(inner))
            await a.c[1 - k].response()
            k = 1 - k
        # the last request stays held: nothing more to wait for

    async def count_in(b):
        t = await b.call()
        return t.count("<message")
    return await stream_cpu(srv, pair, send_all, count_in)


async def accounts(port):
    for u in ["%s%s" % (t, r) for t in ("ws", "tcp", "bosh") for r in ("sender", "receiver")] + \
            ["idle%d" % i for i in range(10)]:
        await register(port, u)


async def streams(srv, out, ws, bosh, tcp, tag=""):
    if ws:
        out["ws cpu/message us" + tag], out["ws msgs/s" + tag] = await ws_stream(srv, *ws)
    if tcp:
        out["tcp cpu/message us" + tag], out["tcp msgs/s" + tag] = await tcp_stream(srv)
    if bosh:
        out["bosh cpu/message us" + tag], out["bosh msgs/s" + tag] = \
            await bosh_stream(srv, *bosh)


async def bench(name, srv, ws=None, bosh=None, tcp=False):
    """The message streams on the fresh server, the idle sessions, then
    the streams again once SESSIONS of each kind came and went."""
    out = {}
    await accounts(srv.port)
    await streams(srv, out, ws, bosh, tcp)
    if ws:
        out["ws rss/session KiB"] = await idle_rss(srv, ws_opener(*ws), SESSIONS, "w")
    if tcp:
        out["tcp rss/session KiB"] = await idle_rss(
            srv, lambda user, res: login(srv.port, user, res), SESSIONS, "t")
    if bosh:
        out["bosh rss/session KiB"] = await idle_rss(srv, bosh_opener(*bosh), SESSIONS, "b")
    await streams(srv, out, ws, bosh, tcp, " (after)")
    print("  %s: %s" % (name, ", ".join("%s %.1f" % kv for kv in out.items())), flush=True)
    return out


PROSODY_WEB = """http_ports = {{ {port} }}
http_interfaces = {{ "127.0.0.1" }}
https_ports = {{ }}
consider_websocket_secure = true
consider_bosh_secure = true
bosh_max_inactivity = 60
"""

EJABBERD_BOSH_LISTEN = """  - port: {port}
    ip: "127.0.0.1"
    module: ejabberd_http
    request_handlers:
      "/bosh": mod_bosh
"""


def run_xmpp_core():
    wp = free_port()
    # no archive: the anchors here archive nothing either (this compares
    # transports; bench_xmpp_im.py compares archiving)
    with xmppservers.xmpp_core(extra='[web]\nlisten = ["127.0.0.1:%d"]\n\n[mam]\n'
                               'enabled = false\n' % wp) as srv:
        return asyncio.run(bench("xmpp-core", srv, ws=(wp, "/ws"), bosh=(wp, "/bosh"),
                                 tcp=True))


def run_prosody():
    hp = free_port()
    with xmppservers.prosody(modules=("websocket", "bosh"),
                             extra=PROSODY_WEB.format(port=hp)) as srv:
        return asyncio.run(bench("prosody", srv, ws=(hp, "/xmpp-websocket"),
                                 bosh=(hp, "/http-bind")))


def run_ejabberd():
    hp = free_port()
    yml = xmppservers.EJABBERD_YML
    xmppservers.EJABBERD_YML = yml.replace(
        "    backlog: 1024\n", "    backlog: 1024\n" + EJABBERD_BOSH_LISTEN.format(port=hp))
    try:
        with xmppservers.ejabberd(modules="  mod_bosh: {}\n") as srv:
            return asyncio.run(bench("ejabberd", srv, bosh=(hp, "/bosh")))
    finally:
        xmppservers.EJABBERD_YML = yml


def ratio(a, b):
    return "%.2f" % (a / b) if a and b else "-"


def main():
    print("bench_web: %d idle sessions, %d messages" % (SESSIONS, MESSAGES), flush=True)
    res = {}
    for name, fn in (("xmpp-core", run_xmpp_core), ("prosody", run_prosody),
                     ("ejabberd", run_ejabberd)):
        if name in ONLY:
            try:
                res[name] = fn()
            except Exception as e:	# an anchor that cannot run is reported, not fatal
                print("  %s: not measured (%s)" % (name, e), flush=True)
    x = res.get("xmpp-core", {})
    p = res.get("prosody", {})
    e = res.get("ejabberd", {})
    rows = [
        ("RSS per idle session (KiB)", "ws rss/session KiB", "tcp rss/session KiB"),
        ("CPU per message (us)", "ws cpu/message us", "tcp cpu/message us"),
        ("CPU per message after the idle sessions (us)", "ws cpu/message us (after)",
         "tcp cpu/message us (after)"),
    ]
    print("\n| figure | xmpp-core | xmpp-core TCP+TLS | Prosody | ejabberd | "
          "ws/TCP | /Prosody | /ejabberd |")
    print("|---|---|---|---|---|---|---|---|")
    for label, k, kt in rows:
        print("| WebSocket %s | %.1f | %.1f | %s | - | %s | %s | - |" % (
            label, x.get(k, 0), x.get(kt, 0), "%.1f" % p[k] if k in p else "-",
            ratio(x.get(k), x.get(kt)), ratio(x.get(k), p.get(k))))
    for label, k in (("RSS per idle session (KiB)", "bosh rss/session KiB"),
                     ("CPU per message (us)", "bosh cpu/message us"),
                     ("CPU per message after the idle sessions (us)",
                      "bosh cpu/message us (after)")):
        print("| BOSH %s | %.1f | - | %s | %s | - | %s | %s |" % (
            label, x.get(k, 0), "%.1f" % p[k] if k in p else "-",
            "%.1f" % e[k] if k in e else "-", ratio(x.get(k), p.get(k)),
            ratio(x.get(k), e.get(k))))
    for label, k in (("WebSocket msgs/s", "ws msgs/s"), ("TCP+TLS msgs/s", "tcp msgs/s"),
                     ("BOSH msgs/s", "bosh msgs/s")):
        print("| %s | %.0f | - | %s | %s | - | %s | %s |" % (
            label, x.get(k, 0), "%.0f" % p[k] if k in p else "-",
            "%.0f" % e[k] if k in e else "-", ratio(x.get(k), p.get(k)),
            ratio(x.get(k), e.get(k))))


if __name__ == "__main__":
    main()
