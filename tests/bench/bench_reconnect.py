"""A reconnect storm of mobile clients: server CPU and round trips per
reconnect, xmpp-core's modern path against today's path on xmpp-core,
ejabberd and Prosody (tests/bench/xmppservers.py starts them, each with
its own PostgreSQL, SM resumption enabled).

N clients (XMPP_BENCH_RECONNECTS, default 2000; 10 per account) each
hold a session with XEP-0198 resumption enabled; every TCP connection is
then cut at once (a train enters a tunnel) and every client reconnects
and resumes, CONCURRENCY (XMPP_BENCH_CONCURRENCY, default 50) at a time.
Only the reconnect phase is measured: server CPU from the scheduler's
counters of the server process (and, apart, of its PostgreSQL), wall
time, and the round trips after the TCP handshake the client had to wait
for, counted by the client step by step (a TLS 1.3 handshake, full or
resumed, is one).

  (a) today: STARTTLS, a full TLS handshake (the certificate's RSA-2048
      signature), SASL1 SCRAM-SHA-1, the stream restart, XEP-0198
      <resume/>: every server.
  (b) xmpp-core's modern path: direct TLS (XEP-0368) resuming the
      previous TLS 1.3 session (PSK-DHE, a ticket), SASL2 with the FAST
      token of the first login (HT-SHA-256-NONE) and the SM <resume/>
      inline in <authenticate/>.  (b) waits for the stream features
      before authenticating, as Conversations does; (b+) sends the
      stream header and <authenticate/> in one write (pipelined).
  (c) (b) with a full TLS handshake instead of the resumption: what
      FAST and the inline resume save on their own.

The clients are blocking sockets in threads (Python's asyncio cannot
resume a TLS session); their own CPU is theirs and not counted.
XMPP_BENCH_ONLY limits the comparison (e.g. "xmpp-core").
"""

import base64
import concurrent.futures
import hashlib
import hmac
import os
import re
import socket
import ssl
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import xmppservers  # noqa: E402

N = int(os.environ.get("XMPP_BENCH_RECONNECTS", "2000"))
CONC = int(os.environ.get("XMPP_BENCH_CONCURRENCY", "50"))
PER_USER = 10
PW = "bench horse battery staple 42"
HDR = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
       "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_SASL2 = "urn:xmpp:sasl:2"
NS_SM = "urn:xmpp:sm:3"
NS_FAST = "urn:xmpp:fast:0"


def tls_ctx():
    """A client context without the system's CA store (thousands of them
    would take gigabytes; the test certificates are self-signed)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


PHONE_CTX = tls_ctx()	# a resumed session needs the context it came from


SALTED = {}
SALTED_LOCK = threading.Lock()


def salted(salt, it):
    """The client's PBKDF2, once per account (a phone keeps it too)."""
    with SALTED_LOCK:
        if (salt, it) not in SALTED:
            SALTED[(salt, it)] = hashlib.pbkdf2_hmac("sha1", PW.encode(), salt, it)
        return SALTED[(salt, it)]


class Conn:
    """One blocking client connection; rt counts the waits for the server."""

    def __init__(self, port, ctx, direct=False, session=None):
        self.ctx = ctx
        self.rt = 0
        self.buf = b""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not direct:
            self.send(HDR)
            self.wait("</stream:features>")
            self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            self.wait("<proceed")
            self.wait(">", rt=False)
            self.buf = b""
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost", session=session)
        self.rt += 1 if self.sock.version() == "TLSv1.3" else 2
        self.resumed = self.sock.session_reused

    def send(self, s):
        self.sock.sendall(s.encode() if isinstance(s, str) else s)

    def wait(self, marker, rt=True):
        """Reads until marker; returns what came up to it."""
        if rt:
            self.rt += 1
        m = marker.encode()
        while m not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise ConnectionError("closed waiting for %s: %r" % (marker, self.buf[-300:]))
            self.buf += d
        i = self.buf.index(m) + len(m)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out.decode(errors="replace")

    def cut(self):
        """The connection dies: RST, no </stream>, no SM ack."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            self.sock.close()
        except OSError:
            pass


def b64(b):
    return base64.b64encode(b if isinstance(b, bytes) else b.encode()).decode()


def scram_final(user, first_bare, sfirst):
    attrs = dict(kv.split("=", 1) for kv in sfirst.split(","))
    sp = salted(base64.b64decode(attrs["s"]), int(attrs["i"]))
    ckey = hmac.new(sp, b"Client Key", "sha1").digest()
    stored = hashlib.sha1(ckey).digest()
    without = "c=biws,r=%s" % attrs["r"]
    auth = ("%s,%s,%s" % (first_bare, sfirst, without)).encode()
    proof = bytes(a ^ b for a, b in zip(ckey, hmac.new(stored, auth, "sha1").digest()))
    return "%s,p=%s" % (without, b64(proof))


def sasl1(c, user):
    c.send(HDR)
    c.wait("</stream:features>")
    first_bare = "n=%s,r=%s" % (user, b64(os.urandom(18)))
    c.send("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>" % (NS_SASL, b64("n,," + first_bare)))
    ch = c.wait("</challenge>")
    sf = base64.b64decode(ch.split(">", 1)[1].split("<", 1)[0]).decode()
    c.send("<response xmlns='%s'>%s</response>" % (NS_SASL, b64(scram_final(user, first_bare, sf))))
    out = c.wait("</success>")
    assert "<success" in out, out
    c.send(HDR)
    c.wait("</stream:features>")


def sm_id(text):
    i = text.index("enabled")
    return re.search(r"id=['\"]([^'\"]+)['\"]", text[i:]).group(1)


def legacy_login(port, user, res):
    """Setup for (a): full login, bind, SM enabled."""
    c = Conn(port, tls_ctx())
    sasl1(c, user)
    c.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>%s</resource></bind></iq>" % res)
    c.wait("</iq>")
    c.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    text = c.wait("/>")
    while "enabled" not in text:
        text += c.wait("/>", rt=False)
    return c, sm_id(text)


def legacy_resume(port, user, smid):
    """(a): the measured reconnect of today's path."""
    c = Conn(port, tls_ctx())
    sasl1(c, user)
    c.send("<resume xmlns='%s' previd='%s' h='0'/>" % (NS_SM, smid))
    text = c.wait("/>")
    while "resumed" not in text and "failed" not in text:
        text += c.wait("/>", rt=False)
    if "resumed" not in text:
        raise RuntimeError("resume failed: %s" % text[-300:])
    m = re.search(r"previd=['\"]([^'\"]+)['\"]", text)
    return c, m.group(1) if m else smid


class Phone:
    """(b)'s client: its TLS context and session, FAST token, SM id."""

    def __init__(self, user, res):
        self.user, self.res = user, res
        self.agent = "%s-%s-%s" % (user, res, b64(os.urandom(6)))
        self.ctx = PHONE_CTX
        self.session = self.token = self.smid = None

    def ua(self):
        return ("<user-agent id='%s'><software>bench</software><device>%s</device>"
                "</user-agent>" % (self.agent, self.res))

    def first_login(self, port):
        c = Conn(port, self.ctx, direct=True)
        c.send(HDR)
        c.wait("</stream:features>")
        first_bare = "n=%s,r=%s" % (self.user, b64(os.urandom(18)))
        c.send("<authenticate xmlns='%s' mechanism='SCRAM-SHA-1'><initial-response>%s"
               "</initial-response>%s<bind xmlns='urn:xmpp:bind:0'><tag>%s</tag>"
               "<enable xmlns='%s' resume='true'/></bind>"
               "<request-token xmlns='%s' mechanism='HT-SHA-256-NONE'/></authenticate>"
               % (NS_SASL2, b64("n,," + first_bare), self.ua(), self.res, NS_SM, NS_FAST))
        ch = c.wait("</challenge>")
        sf = base64.b64decode(ch.split(">", 1)[1].split("<", 1)[0]).decode()
        c.send("<response xmlns='%s'>%s</response>" % (NS_SASL2, b64(
            scram_final(self.user, first_bare, sf))))
        out = c.wait("</success>")
        self.token = re.search(r"token='([^']+)'", out).group(1)
        self.smid = sm_id(out)
        c.wait("</stream:features>", rt=False)
        # the TLS 1.3 ticket arrives after the handshake: read it in
        c.send("<r xmlns='%s'/>" % NS_SM)
        c.wait("<a ", rt=False)
        c.wait("/>", rt=False)
        self.session = c.sock.session
        assert self.session is not None and self.session.has_ticket
        return c

    def reconnect(self, port, pipelined, tls_resume=True):
        """(b): the measured reconnect of the modern path ((c): without
        the TLS resumption, to show what each half saves)."""
        c = Conn(port, self.ctx, direct=True, session=self.session if tls_resume else None)
        mac = hmac.new(self.token.encode(), b"Initiator", "sha256").digest()
        auth = ("<authenticate xmlns='%s' mechanism='HT-SHA-256-NONE'><initial-response>%s"
                "</initial-response>%s<fast xmlns='%s'/><resume xmlns='%s' previd='%s' h='0'/>"
                "</authenticate>" % (NS_SASL2, b64(self.user.encode() + b"\0" + mac), self.ua(),
                                     NS_FAST, NS_SM, self.smid))
        if pipelined:
            c.send(HDR + auth)
        else:
            c.send(HDR)
            c.wait("</stream:features>")
            c.send(auth)
        out = c.wait("</success>")
        if "<resumed" not in out:
            raise RuntimeError("FAST resume failed: %s" % out[-400:])
        m = re.search(r"token='([^']+)'", out)
        if m:
            self.token = m.group(1)	# rotated
        self.session = c.sock.session or self.session
        return c


def pool(fn, items):
    with concurrent.futures.ThreadPoolExecutor(CONC) as ex:
        return list(ex.map(fn, items))


def users(phase):
    """Each phase its own accounts: the detached sessions a phase leaves
    count against the accounts' session limits."""
    return ["rc%s%d" % (phase, u) for u in range((N + PER_USER - 1) // PER_USER)]


def register_all(port, phases):
    import asyncio
    from bench_xmpp import register

    async def go():
        us = [u for p in phases for u in users(p)]
        for i in range(0, len(us), 20):
            await asyncio.gather(*(register(port, u) for u in us[i:i + 20]))
    asyncio.run(go())


def clients(phase):
    return [(users(phase)[k // PER_USER], "m%d" % k) for k in range(N)]


def storm(srv, fn, conns):
    """Cuts every connection, waits until the server has seen it, then
    measures fn(k) for every client."""
    for c in conns:
        c.cut()
    time.sleep(2.0)
    cpu0, db0, t0 = srv.cpu(), srv.db_cpu(), time.perf_counter()
    out = pool(fn, range(N))
    t1, cpu1, db1 = time.perf_counter(), srv.cpu(), srv.db_cpu()
    for c, _ in out:
        c.cut()
    rts = sorted(c.rt for c, _ in out)
    resumed = sum(1 for c, _ in out if c.resumed)
    return {"cpu_ms": (cpu1 - cpu0) * 1000 / N, "db_ms": (db1 - db0) * 1000 / N,
            "wall_s": t1 - t0, "rt": rts[len(rts) // 2], "rt_max": rts[-1],
            "tls_resumed": resumed}, [x for _, x in out]


def run_legacy(srv):
    cl = clients("a")
    setup = pool(lambda k: legacy_login(srv.port, *cl[k]), range(N))
    conns = [c for c, _ in setup]
    ids = [i for _, i in setup]
    res, _ = storm(srv, lambda k: legacy_resume(srv.port, cl[k][0], ids[k]), conns)
    return res


def run_modern(srv, phase, pipelined=False, tls_resume=True):
    phones = [Phone(u, r) for u, r in clients(phase)]
    conns = pool(lambda k: phones[k].first_login(srv.tls_port), range(N))
    res, _ = storm(srv, lambda k: (phones[k].reconnect(srv.tls_port, pipelined, tls_resume),
                                   None), conns)
    return res


def server(name):
    if name == "xmpp-core":
        return xmppservers.xmpp_core(extra="[sm]\nresume_timeout = 300\n")
    if name == "ejabberd":
        return xmppservers.ejabberd("  mod_stream_mgmt:\n    resume_timeout: 300\n", sql=True)
    return xmppservers.prosody(("smacks",), "smacks_hibernation_time = 300\n", sql=True)


def tls_floor():
    """OpenSSL's own cost per server handshake here (tls_resume_floor.c),
    with a certificate like the servers'."""
    import subprocess
    import tempfile
    from edgetest import BUILD
    d = tempfile.mkdtemp(prefix="edge-bench-floor-")
    try:
        crt, key = xmppservers.make_cert(d, "rsa")
        r = subprocess.run([os.path.join(BUILD, "bench", "tls_resume_floor"), crt, key, "2000"],
                           capture_output=True, text=True, timeout=300)
        return r.stdout
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


def main():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * N + 256)), hard))
    only = os.environ.get("XMPP_BENCH_ONLY")
    rows = {}
    for name in ("xmpp-core", "ejabberd", "prosody"):
        if only and name not in only.split(",") and name != "xmpp-core":
            continue
        try:
            with server(name) as srv:
                if name == "xmpp-core":
                    srv.tls_port = tls_port_of(srv)
                register_all(srv.port, "abpc" if name == "xmpp-core" else "a")
                rows[name + " (a)"] = run_legacy(srv)
                if name == "xmpp-core":
                    rows[name + " (b)"] = run_modern(srv, "b")
                    rows[name + " (b+)"] = run_modern(srv, "p", pipelined=True)
                    rows[name + " (c)"] = run_modern(srv, "c", tls_resume=False)
        except Exception as e:	# a comparison must not hide our own figures
            if name == "xmpp-core":
                raise
            print("bench_reconnect: %s skipped: %s" % (name, e), file=sys.stderr)
    report(rows)
    print("OpenSSL %s alone, in one process over memory BIOs (tls_resume_floor):" %
          ssl.OPENSSL_VERSION.split()[1])
    print(tls_floor(), end="")


def tls_port_of(srv):
    with open(srv.conf) as f:
        m = re.search(r'listen_tls = \["127\.0\.0\.1:(\d+)"', f.read())
    return int(m.group(1))


def report(rows):
    print("reconnect storm: %d clients, %d at a time, RSA-2048 certificates" % (N, CONC))
    print("%-18s %12s %12s %8s %8s %10s %8s" % ("", "CPU ms/rec", "+PG ms/rec", "RTs",
                                                  "RTs max", "TLS resumed", "wall s"))
    for k, r in rows.items():
        print("%-18s %12.4f %12.4f %8d %8d %10d %8.1f" % (
            k, r["cpu_ms"], r["cpu_ms"] + r["db_ms"], r["rt"], r["rt_max"], r["tls_resumed"],
            r["wall_s"]))
    b = rows.get("xmpp-core (b)")
    if b:
        print("ratios of xmpp-core (b) server CPU per reconnect (and with PostgreSQL):")
        for k, r in rows.items():
            if k != "xmpp-core (b)" and r["cpu_ms"] > 0:
                print("  / %-16s %8.3f  (%.3f)   round trips %d vs %d" % (
                    k, b["cpu_ms"] / r["cpu_ms"],
                    (b["cpu_ms"] + b["db_ms"]) / (r["cpu_ms"] + r["db_ms"]), b["rt"], r["rt"]))
        print("goal: (b) <= 0.1 ms server CPU per reconnect: %s (%.4f ms)" % (
            "met" if b["cpu_ms"] <= 0.1 else "NOT met", b["cpu_ms"]))


if __name__ == "__main__":
    main()
