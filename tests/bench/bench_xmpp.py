"""xmpp-core vs Prosody and ejabberd, side by side on loopback, each on a
fresh server.

One harness (asyncio, raw XMPP over TLS, SCRAM-SHA-1 client) drives every
server the same way and reads server-side figures from /proc, so they hold
on a busy machine:

  rss/session    RSS growth per idle authenticated TLS session at each N of
                 XMPP_BENCH_SESSIONS (default 1000,4000,8000), measured
                 after 11 s of idleness; idle CPU over those 11 s
  cpu/login      server CPU per login (STARTTLS + SCRAM + bind + presence)
  cpu/message    server CPU per delivered ~230-byte chat message under a
                 saturating stream, with p50/p99 delivery latency, next to
                 the floor: a bare write+read of one message of the same
                 size through a loopback TCP connection in one thread
                 (xmpp_floor.c), measured in the same run
  churn          once the largest N sessions have opened and closed: the
                 RSS kept, and CPU per login and per message again

Printed as absolute figures and as ratios xmpp-core/other.  Knobs:
XMPP_BENCH_SESSIONS (comma list), XMPP_BENCH_MESSAGES, XMPP_BENCH_ONLY
(e.g. "xmpp-core"), XMPP_BENCH_KEY ("rsa" = RSA-2048, the default, or
"ec" = ECDSA P-256: the same certificate type for every server).  Beyond
20000 sessions the client spreads its connections over 127.0.0.2...
source addresses (one address has ~28000 ephemeral ports).
"""

import asyncio
import base64
import hashlib
import hmac
import os
import resource
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from edgetest import BUILD  # noqa: E402
sys.path.insert(0, HERE)
import xmppservers  # noqa: E402
from xmppservers import cpu_seconds  # noqa: E402

LEVELS = sorted(int(x) for x in os.environ.get("XMPP_BENCH_SESSIONS", "1000,4000,8000").split(","))
MSGS = int(os.environ.get("XMPP_BENCH_MESSAGES", "100000"))
KEY = os.environ.get("XMPP_BENCH_KEY", "rsa")
NMAX = LEVELS[-1]
AFTER_N = min(LEVELS[0], 1000)	# logins measured again after the churn
WINDOW = 2000
CONCURRENCY = 100	# logins in flight
IDLE_S = 11.0		# xmpp-core releases parsers after 1-2 s in this config
PER_SOURCE = 20000	# connections per client source address
PW = "bench horse battery staple 42"
HDR = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
       "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
FLOOR = os.path.join(BUILD, "bench", "xmpp_floor")
TLS_MEM = os.path.join(BUILD, "bench", "tls_mem")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def raise_nofile():
    """Enough descriptors for NMAX client connections here and NMAX server
    connections in the server (which inherits the limit)."""
    need = NMAX + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))	# root only
            return
        except (ValueError, OSError):
            sys.exit("bench_xmpp: %d sessions need %d descriptors, the hard limit is %d"
                     % (NMAX, need, hard))
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def make_cert(d):
    return xmppservers.make_cert(d, KEY)


class Conn:
    def __init__(self, reader, writer):
        self.r, self.w = reader, writer
        self.buf = b""

    async def until(self, marker, timeout=60):
        m = marker.encode()
        while m not in self.buf:
            d = await asyncio.wait_for(self.r.read(65536), timeout)
            if not d:
                raise ConnectionError("closed while waiting for %s: %r" % (marker, self.buf[-300:]))
            self.buf += d
        i = self.buf.index(m) + len(m)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out.decode(errors="replace")

    def send(self, s):
        self.w.write(s.encode() if isinstance(s, str) else s)


CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


async def open_tls(port, k=0):
    src = None
    if NMAX > PER_SOURCE:
        src = ("127.0.0.%d" % (2 + k // PER_SOURCE), 0)
    r, w = await asyncio.open_connection("127.0.0.1", port, local_addr=src)
    c = Conn(r, w)
    c.send(HDR)
    await c.until("</stream:features>")
    c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await c.until("<proceed")
    await c.until(">")
    c.buf = b""
    await w.start_tls(CTX, server_hostname="localhost")
    c.send(HDR)
    await c.until("</stream:features>")
    return c


async def register(port, user):
    c = await open_tls(port)
    c.send("<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>%s</username>"
           "<password>%s</password></query></iq>" % (user, PW))
    out = await c.until("r1")
    out += await c.until(">")
    if "type='result'" not in out and 'type="result"' not in out and "conflict" not in out:
        raise RuntimeError("registration of %s failed: %s" % (user, out))
    c.w.close()


SALTED = {}	# (salt, iterations) -> salted password: the client's PBKDF2 once per account


def scram_client_final(user, first_bare, server_first, gs2=b"n,,"):
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salt = base64.b64decode(attrs["s"])
    k = (salt, int(attrs["i"]))
    if k not in SALTED:
        SALTED[k] = hashlib.pbkdf2_hmac("sha1", PW.encode(), salt, int(attrs["i"]))
    salted = SALTED[k]
    ckey = hmac.new(salted, b"Client Key", "sha1").digest()
    stored = hashlib.sha1(ckey).digest()
    without = "c=%s,r=%s" % (base64.b64encode(gs2).decode(), attrs["r"])
    auth = ("%s,%s,%s" % (first_bare, server_first, without)).encode()
    sig = hmac.new(stored, auth, "sha1").digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    return "%s,p=%s" % (without, base64.b64encode(proof).decode())


async def login(port, user, resource, k=0):
    c = await open_tls(port, k)
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=%s,r=%s" % (user, nonce)
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>%s</auth>"
           % base64.b64encode(("n,," + first_bare).encode()).decode())
    ch = await c.until("</challenge>")
    sf = base64.b64decode(ch.split(">", 1)[1].split("<", 1)[0]).decode()
    final = scram_client_final(user, first_bare, sf)
    c.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>"
           % base64.b64encode(final.encode()).decode())
    out = await c.until("</success>")
    assert "success" in out
    c.send(HDR)
    await c.until("</stream:features>")
    c.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>%s</resource></bind></iq>" % resource)
    await c.until("</iq>")
    c.send("<presence/>")
    return c


async def open_sessions(port, users, first, count, tag):
    """count logins (at most CONCURRENCY in flight), session k as resource
    tag+k of users[k // 10]."""
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(k):
        async with sem:
            return await login(port, users[(k // 10) % len(users)], "%s%d" % (tag, k), k)
    return await asyncio.gather(*(one(k) for k in range(first, first + count)))


async def close_all(conns):
    for c in conns:
        c.w.close()
    for i in range(0, len(conns), 1000):
        await asyncio.gather(*(c.w.wait_closed() for c in conns[i:i + 1000]),
                             return_exceptions=True)


async def messages(port, pid, pair, tag):
    """One sender, one receiver, a saturating stream (at most WINDOW in flight)."""
    snd = await login(port, pair[0], "snd" + tag)
    rcv = await login(port, pair[1], "rcv" + tag)
    await asyncio.sleep(0.3)
    body = "x" * 160
    lat = []
    got = 0
    progress = asyncio.Event()
    size = []

    async def reader():
        nonlocal got
        buf = b""
        while got < MSGS:
            d = await asyncio.wait_for(rcv.r.read(262144), 60)
            if not d:
                raise ConnectionError("receiver closed")
            now = time.perf_counter()
            buf += d
            while True:
                i = buf.find(b"</message>")
                if i < 0:
                    break
                m, buf = buf[:i], buf[i + 10:]
                j = m.find(b"<thread>")
                if j >= 0:
                    lat.append(now - float(m[j + 8:m.find(b"</thread>")]))
                got += 1
            progress.set()

    async def writer():
        to = "%s@localhost/rcv%s" % (pair[1], tag)
        for i in range(0, MSGS, 100):
            # saturating, yet inside every server's overload protection
            # (ejabberd drops a session whose queue passes max_fsm_queue)
            while i - got > WINDOW:
                progress.clear()
                await progress.wait()
            n = min(100, MSGS - i)
            chunk = "".join("<message to='%s' type='chat'><thread>%.6f</thread><body>%s</body>"
                            "</message>" % (to, time.perf_counter(), body) for _ in range(n))
            size.append(len(chunk) // n)
            snd.send(chunk)
            await snd.w.drain()

    cpu0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    await asyncio.gather(reader(), writer())
    wall = time.perf_counter() - t0
    cpu1 = cpu_seconds(pid)
    lat.sort()
    await close_all([snd, rcv])
    return {"cpu us": (cpu1 - cpu0) * 1e6 / MSGS, "msgs/s": MSGS / wall,
            "p50 ms": lat[len(lat) // 2] * 1000, "p99 ms": lat[int(len(lat) * 0.99)] * 1000,
            "size": max(size)}


def progress(name, what):
    print("  %s: %s" % (name, what), file=sys.stderr, flush=True)


def mam_switch(conf, pid):
    """xmpp-core only: [mam] enabled on or off through a reload (the other
    servers in this bench keep no archive)."""
    def switch(on):
        with open(conf) as f:
            text = f.read()
        text = text.replace("[mam]\nenabled = %s\n" % ("false" if on else "true"), "")
        with open(conf, "w") as f:
            f.write(text + "[mam]\nenabled = %s\n" % ("true" if on else "false"))
        os.kill(pid, signal.SIGHUP)
        time.sleep(1.0)
    return switch


async def bench_server(name, port, pid, mam=None):
    users = ["b%d" % i for i in range((NMAX + 9) // 10)]
    # the message stream has accounts of its own: the idle sessions use up
    # the others' ten sessions each
    pair = ["msnd", "mrcv"]
    for i in range(0, len(users), 20):
        await asyncio.gather(*(register(port, u) for u in users[i:i + 20]))
    await asyncio.gather(*(register(port, u) for u in pair))
    await asyncio.sleep(0.5)
    res = {}
    warm = await open_sessions(port, users, 0, 5, "warm")
    # sessions first, on a fresh heap: a message burst before them leaves
    # memory the server trims later, which would hide the sessions' growth
    await asyncio.sleep(2.0)
    rss0 = rss_kib(pid)
    conns = []
    login_cpu = 0.0
    for n in LEVELS:
        cpu0 = cpu_seconds(pid)
        conns += await open_sessions(port, users, len(conns), n - len(conns), "r")
        login_cpu += cpu_seconds(pid) - cpu0
        cpu0 = cpu_seconds(pid)
        await asyncio.sleep(IDLE_S)
        res["rss/session KiB @%d" % n] = (rss_kib(pid) - rss0) / n
        res["idle cpu %% @%d" % n] = (cpu_seconds(pid) - cpu0) * 100 / IDLE_S
        progress(name, "%d sessions: %.1f KiB each" % (n, res["rss/session KiB @%d" % n]))
    res["cpu/login ms"] = login_cpu * 1000 / NMAX

    # messages while those sessions sit idle
    rss_s = rss_kib(pid)
    m = await messages(port, pid, pair, "a")
    res["cpu/message us"] = m["cpu us"]
    res["msgs/s"] = m["msgs/s"]
    res["p50 latency ms"] = m["p50 ms"]
    res["p99 latency ms"] = m["p99 ms"]
    res["_size"] = m["size"]
    progress(name, "%.2f us per message" % m["cpu us"])
    if mam:
        # the same without archiving, as the other two run here
        mam(False)
        m2 = await messages(port, pid, pair, "n")
        mam(True)
        res["cpu/message us, no archive"] = m2["cpu us"]
        res["msgs/s, no archive"] = m2["msgs/s"]
        progress(name, "%.2f us per message without the archive" % m2["cpu us"])
    await asyncio.sleep(2.0)
    # heap the burst left (counted in the churn figure below too)
    res["messages: heap kept MiB"] = (rss_kib(pid) - rss_s) / 1024

    # churn: all of them close; what stays, and does anything get slower?
    await close_all(conns)
    conns = None
    await asyncio.sleep(IDLE_S)
    rss1 = rss_kib(pid)
    res["churn: RSS kept MiB"] = (rss1 - rss0) / 1024
    cpu0 = cpu_seconds(pid)
    again = await open_sessions(port, users, 0, AFTER_N, "s")
    res["churn: cpu/login ms"] = (cpu_seconds(pid) - cpu0) * 1000 / AFTER_N
    await asyncio.sleep(IDLE_S)
    res["churn: rss/session KiB @%d" % AFTER_N] = (rss_kib(pid) - rss0) / AFTER_N
    await close_all(again)
    m = await messages(port, pid, pair, "b")
    res["churn: cpu/message us"] = m["cpu us"]
    res["churn: login after/before"] = res["churn: cpu/login ms"] / res["cpu/login ms"]
    res["churn: message after/before"] = m["cpu us"] / res["cpu/message us"]
    await close_all(warm)
    return res


def floor_us(size):
    """Median of three runs of the bare read+write floor, in microseconds."""
    runs = []
    for _ in range(3):
        out = subprocess.run([FLOOR, "100000", str(size)], capture_output=True, text=True,
                             check=True).stdout
        runs.append(int(out) / 1000)
    return sorted(runs)[1]


def run_xmpp_core():
    with xmppservers.xmpp_core(key=KEY) as srv:
        return asyncio.run(bench_server("xmpp-core", srv.port, srv.pid,
                                        mam_switch(srv.conf, srv.pid)))


def run_prosody():
    """Prosody from Debian, its default (file) storage."""
    if shutil.which("prosody") is None:
        return None
    with xmppservers.prosody(key=KEY) as srv:
        return asyncio.run(bench_server("prosody", srv.port, srv.pid))


def run_ejabberd():
    """ejabberd from Debian (mnesia storage), in a private node and spool."""
    if shutil.which("ejabberdctl") is None:
        return None
    with xmppservers.ejabberd(key=KEY) as srv:
        return asyncio.run(bench_server("ejabberd", srv.port, srv.pid))


def tls_memory():
    """What OpenSSL holds per idle server connection, before and after
    tls_conn_park (tls_mem.c: 1000 in-process connections)."""
    d = tempfile.mkdtemp(prefix="edge-bench-tlsmem-")
    try:
        crt, key = make_cert(d)
        out = subprocess.run([TLS_MEM, crt, key, "1000"], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print("OpenSSL per idle server connection (tls_mem, 1000 connections):")
    sites = 0
    for line in out:
        if line.startswith("client"):
            sites = -1
        elif line.startswith(("server", "parked", "after")):
            print("  " + line)
            sites = 4 if line.startswith("server") and sites == 0 else -1
        elif line.startswith("  ") and sites > 0:
            print("  " + line)
            sites -= 1


def fmt(v):
    if v is None:
        return "-"
    return "%.2f" % v if abs(v) < 1000 else "%.0f" % v


def main():
    raise_nofile()
    only = os.environ.get("XMPP_BENCH_ONLY")	# e.g. "xmpp-core": skip the others
    results = {}
    for name, fn in (("xmpp-core", run_xmpp_core), ("prosody", run_prosody),
                     ("ejabberd", run_ejabberd)):
        if only and name not in only.split(","):
            results[name] = None
            continue
        print("%s ..." % name, file=sys.stderr, flush=True)
        if name == "xmpp-core":
            results[name] = fn()	# our own failure is the bench's failure
            continue
        try:
            results[name] = fn()
        except Exception as e:  # a comparison must not hide our own figures
            print("%s: failed: %s" % (name, e))
            results[name] = None
    ours = results["xmpp-core"]
    size = ours.pop("_size")
    for r in results.values():
        if r:
            r.pop("_size", None)
    floor = floor_us(size)
    print("N = %s sessions, %d messages of %d bytes, %s certificate, load %s"
          % (",".join(map(str, LEVELS)), MSGS, size,
             "RSA-2048" if KEY == "rsa" else "ECDSA P-256",
             open("/proc/loadavg").read().split()[0]))
    print("floor: bare loopback TCP write+read of %d bytes: %.2f us (median of 3)"
          % (size, floor))
    print("%-30s %10s %10s %10s %9s %9s" % ("figure", "xmpp-core", "prosody", "ejabberd",
                                           "/prosody", "/ejabberd"))
    for k, a in ours.items():
        row = [results[o].get(k) if results[o] else None for o in ("prosody", "ejabberd")]
        ratios = ["%.2f" % (a / b) if b and "after/before" not in k else "-" for b in row]
        print("%-30s %10s %10s %10s %9s %9s" % (k, fmt(a), fmt(row[0]), fmt(row[1]), *ratios))
        if k.startswith("cpu/message us"):
            print("%-30s %10s %10s %10s" % ("  ... / floor", fmt(a / floor),
                                          *(fmt(b / floor) if b else "-" for b in row)))
    tls_memory()
    if results["ejabberd"] is None and shutil.which("ejabberdctl") is None:
        print("ejabberd: not installed (apt-get install ejabberd to compare)")


if __name__ == "__main__":
    main()
