"""The modern IM set, side by side: xmpp-core vs ejabberd (PostgreSQL
backend, as the reference host runs it) vs Prosody (mod_storage_sql on
PostgreSQL), each fresh on loopback, one harness for all.

  msgs/s, cpu/message   a saturating stream of chat messages between two
                        accounts with two resources each, carbons enabled on
                        all four and every message archived (MAM) on both
                        sides: server CPU and server+PostgreSQL CPU per
                        message, p50/p99 delivery latency
  MAM query latency     on the receiver's archive once it holds ARCHIVE
                        messages (100k by default): the newest page
                        (<before/>), the oldest page, a page from the
                        middle (start filter) and one filtered by 'with',
                        50 messages each, median of repeated queries
  resume latency        XEP-0198: a session with unacked messages is cut
                        (TCP reset); the client reconnects (TLS + SCRAM) and
                        resumes; time from connect to <resumed/> and from
                        <resume/> to <resumed/>, and server CPU per resume

Figures come from the client clock for latencies and /proc for CPU.
Printed as absolute figures and as ratios xmpp-core/other.
"""

import asyncio
import base64
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import xmppservers  # noqa: E402
from bench_xmpp import HDR, login, open_tls, register, scram_client_final  # noqa: E402

ARCHIVE = int(os.environ.get("XMPP_BENCH_ARCHIVE", "100000"))
WINDOW = 1000
QUERIES = int(os.environ.get("XMPP_BENCH_QUERIES", "20"))
RESUMES = int(os.environ.get("XMPP_BENCH_RESUMES", "100"))
MAM = "urn:xmpp:mam:2"


def drain(conn, counter, key, marker):
    """Reads a stream forever, counting marker (a background task)."""
    async def run():
        tail = b""
        while True:
            d = await conn.r.read(262144)
            if not d:
                return
            data = tail + d
            counter[key] += data.count(marker)
            tail = data[-(len(marker) - 1):]
    return asyncio.ensure_future(run())


async def enable_carbons(c, n):
    c.send("<iq type='set' id='carb%d'><enable xmlns='urn:xmpp:carbons:2'/></iq>" % n)
    await c.until("carb%d" % n)
    await c.until(">")


async def throughput(srv):
    """Chat stream a/snd -> b/rcv; a/snd2 and b/rcv2 take carbons."""
    snd = await login(srv.port, "ima", "snd")
    snd2 = await login(srv.port, "ima", "snd2")
    rcv = await login(srv.port, "imb", "rcv")
    rcv2 = await login(srv.port, "imb", "rcv2")
    for i, c in enumerate((snd, snd2, rcv, rcv2)):
        await enable_carbons(c, i)
    await asyncio.sleep(1.0)
    for c in (snd, snd2, rcv, rcv2):
        c.buf = b""
    counts = {"snd2": 0, "rcv2": 0, "snd": 0}
    tasks = [drain(snd2, counts, "snd2", b"</sent>"), drain(rcv2, counts, "rcv2", b"</received>"),
             drain(snd, counts, "snd", b"</message>")]
    body = "x" * 160
    lat = []
    got = 0
    progress = asyncio.Event()
    mid = {}

    async def reader():
        nonlocal got
        buf = b""
        while got < ARCHIVE:
            d = await asyncio.wait_for(rcv.r.read(262144), 120)
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
        to = "imb@localhost/rcv"
        for i in range(0, ARCHIVE, 50):
            while i - got > WINDOW:
                progress.clear()
                await progress.wait()
            if i >= ARCHIVE // 2 and "t" not in mid:
                await asyncio.sleep(1.1)	# a clear second boundary for 'start'
                mid["t"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                await asyncio.sleep(1.1)
            chunk = "".join("<message to='%s' type='chat'><thread>%.6f</thread><body>%s</body>"
                            "</message>" % (to, time.perf_counter(), body)
                            for _ in range(min(50, ARCHIVE - i)))
            snd.send(chunk)
            await snd.w.drain()

    cpu0, db0 = srv.cpu(), srv.db_cpu()
    t0 = time.perf_counter()
    await asyncio.gather(reader(), writer())
    wall = time.perf_counter() - t0 - 2.2
    # the carbons arrive too before the figure is taken
    deadline = time.time() + 60
    while (counts["rcv2"] < ARCHIVE or counts["snd2"] < ARCHIVE) and time.time() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(2.0)	# archive writes still in flight
    cpu1, db1 = srv.cpu(), srv.db_cpu()
    for t in tasks:
        t.cancel()
    lat.sort()
    res = {
        "msgs/s": ARCHIVE / wall,
        "cpu/message us": (cpu1 - cpu0) * 1e6 / ARCHIVE,
        "cpu+db/message us": (cpu1 - cpu0 + db1 - db0) * 1e6 / ARCHIVE,
        "p50 latency ms": lat[len(lat) // 2] * 1000,
        "p99 latency ms": lat[int(len(lat) * 0.99)] * 1000,
        "carbons received %": 100.0 * counts["rcv2"] / ARCHIVE,
        "carbons sent %": 100.0 * counts["snd2"] / ARCHIVE,
    }
    for c in (snd, snd2, rcv, rcv2):
        c.w.close()
    return res, mid.get("t")


def mam_form(fields):
    if not fields:
        return ""
    out = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
           "<value>%s</value></field>" % MAM)
    for k, v in fields.items():
        out += "<field var='%s'><value>%s</value></field>" % (k, v)
    return out + "</x>"


async def mam_query(c, n, fields, rsm):
    qid = "mq%d" % n
    c.send("<iq type='set' id='%s'><query xmlns='%s' queryid='%s'>%s"
           "<set xmlns='http://jabber.org/protocol/rsm'><max>50</max>%s</set></query></iq>"
           % (qid, MAM, qid, mam_form(fields), rsm))
    t0 = time.perf_counter()
    pat = re.compile(r"<iq[^>]*id=['\"]%s['\"][^>]*(/>|>.*?</iq>)" % qid, re.S)
    while True:
        m = pat.search(c.buf.decode(errors="replace"))
        if m:
            break
        d = await asyncio.wait_for(c.r.read(262144), 60)
        if not d:
            raise ConnectionError("closed during a MAM query")
        c.buf += d
    dt = time.perf_counter() - t0
    text = c.buf.decode(errors="replace")
    results = text[:m.start()].count("</result>")
    if "type='result'" not in m.group(0) and 'type="result"' not in m.group(0):
        raise RuntimeError("MAM query failed: %s" % m.group(0)[:300])
    c.buf = b""
    return dt, results


async def mam_latency(srv, mid):
    c = await login(srv.port, "imb", "query")
    await asyncio.sleep(0.5)
    c.buf = b""
    cases = [
        ("mam newest page ms", {}, "<before/>"),
        ("mam oldest page ms", {}, ""),
        ("mam middle page ms", {"start": mid} if mid else {}, ""),
        ("mam with-filter ms", {"with": "ima@localhost"}, "<before/>"),
    ]
    res = {}
    n = 0
    for name, fields, rsm in cases:
        times = []
        for _ in range(QUERIES):
            n += 1
            dt, count = await mam_query(c, n, fields, rsm)
            if count != 50:
                raise RuntimeError("%s: %d results, not 50" % (name, count))
            times.append(dt)
        times.sort()
        res[name] = times[len(times) // 2] * 1000
    c.w.close()
    return res


async def sasl_only(port, user):
    c = await open_tls(port)
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=%s,r=%s" % (user, nonce)
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>%s</auth>"
           % base64.b64encode(("n,," + first_bare).encode()).decode())
    ch = await c.until("</challenge>")
    sf = base64.b64decode(ch.split(">", 1)[1].split("<", 1)[0]).decode()
    final = scram_client_final(user, first_bare, sf)
    c.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>"
           % base64.b64encode(final.encode()).decode())
    await c.until("</success>")
    c.send(HDR)
    await c.until("</stream:features>")
    return c


def abort(c):
    sock = c.w.get_extra_info("socket")
    if sock is not None:
        import socket
        import struct
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.w.transport.abort()


async def bound(port, user, resource):
    """Authenticated and bound, no presence: only what we send arrives."""
    c = await sasl_only(port, user)
    c.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>%s</resource></bind></iq>" % resource)
    await c.until("</iq>")
    return c


async def resume_latency(srv):
    peer = await login(srv.port, "ima", "peer")
    c = await bound(srv.port, "imc", "mobile")
    c.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
    text = await c.until("/>")
    while "enabled" not in text:
        text = await c.until("/>")
    smid = re.search(r"id=['\"]([^'\"]+)['\"]", text[text.index("enabled"):]).group(1)
    total, inner = [], []
    cpu = 0.0
    for k in range(RESUMES):
        for i in range(5):
            peer.send("<message to='imc@localhost/mobile' type='chat'><body>r%d-%d</body>"
                      "</message>" % (k, i))
        await peer.w.drain()
        await c.until("r%d-4</body>" % k)
        await asyncio.sleep(0.05)
        abort(c)
        await asyncio.sleep(0.5)	# the server sees the reset
        cpu0 = srv.cpu()
        t0 = time.perf_counter()
        c = await sasl_only(srv.port, "imc")
        t1 = time.perf_counter()
        c.send("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='%d'/>" % (smid, 5 * k))
        text = await c.until("/>")
        while "resumed" not in text and "failed" not in text:
            text += await c.until("/>")
        t2 = time.perf_counter()
        if "failed" in text:
            raise RuntimeError("resume failed: %s" % text[-300:])
        if os.environ.get("XMPP_BENCH_DEBUG"):
            print(k, text[-300:])
        # the unacked messages come again; acknowledge everything so far
        await c.until("r%d-4</body>" % k)
        cpu += srv.cpu() - cpu0
        m = re.search(r"previd=['\"]([^'\"]+)['\"]", text)
        smid = m.group(1) if m else smid
        c.send("<a xmlns='urn:xmpp:sm:3' h='%d'/>" % (5 * (k + 1)))
        total.append(t2 - t0)
        inner.append(t2 - t1)
    total.sort()
    inner.sort()
    c.w.close()
    peer.w.close()
    return {"reconnect+resume ms": total[len(total) // 2] * 1000,
            "resume only ms": inner[len(inner) // 2] * 1000,
            "cpu/resume ms": cpu * 1000 / RESUMES}


async def bench(srv):
    for u in ("ima", "imb", "imc"):
        await register(srv.port, u)
    await asyncio.sleep(0.5)
    res, mid = await throughput(srv)
    res.update(await mam_latency(srv, mid))
    res.update(await resume_latency(srv))
    return res


EJABBERD_MODULES = """  mod_carboncopy: {}
  mod_mam:
    default: always
    db_type: sql
  mod_stream_mgmt:
    resume_timeout: 300
    max_ack_queue: 100000
"""

PROSODY_EXTRA = """default_archive_policy = true
archive_expires_after = "never"
max_archive_query_results = 50
smacks_hibernation_time = 300
smacks_max_unacked_stanzas = 0
"""


def run(name):
    if name == "xmpp-core":
        cm = xmppservers.xmpp_core(extra="[sm]\nresume_timeout = 300\nmax_unacked = 100000\n")
    elif name == "ejabberd":
        cm = xmppservers.ejabberd(EJABBERD_MODULES, sql=True)
    else:
        cm = xmppservers.prosody(("carbons", "mam", "smacks"), PROSODY_EXTRA, sql=True)
    with cm as srv:
        return asyncio.run(bench(srv))


def main():
    names = ["xmpp-core", "ejabberd", "prosody"]
    only = os.environ.get("XMPP_BENCH_ONLY")
    results = {}
    for name in names:
        if only and name not in only.split(",") and name != "xmpp-core":
            results[name] = None
            continue
        try:
            results[name] = run(name)
        except Exception as e:	# a comparison must not hide our own figures
            if name == "xmpp-core":
                raise
            print("%s: failed: %s" % (name, e))
            results[name] = None
    print("%-22s %10s %10s %10s %9s %9s" % ("archive=%d" % ARCHIVE, "xmpp-core", "ejabberd",
                                            "prosody", "/ejabberd", "/prosody"))
    for k in results["xmpp-core"]:
        a = results["xmpp-core"][k]
        cells, ratios = [], []
        for other in ("ejabberd", "prosody"):
            b = results[other].get(k) if results[other] else None
            cells.append("%.2f" % b if b is not None else "-")
            ratios.append("%.2f" % (a / b) if b else "-")
        print("%-22s %10.2f %10s %10s %9s %9s" % (k, a, cells[0], cells[1], *ratios))


if __name__ == "__main__":
    main()
