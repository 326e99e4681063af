"""xmpp-core's message path with the archive on and off, in one run
(issue 18): what archiving costs in latency and in CPU, PostgreSQL's
included.

  light load    PAIRS sender/receiver pairs, each with one message in
                flight (the next is sent when the last arrived): p50/p99
                delivery latency, xmpp-core CPU and PostgreSQL CPU per
                message
  saturating    the same pairs, each with WINDOW messages in flight:
                messages/s and CPU per message

Run once with `[mam] enabled = true` (every message archived on both
sides, so two rows per message) and once with it false, on the same
server (switched by a reload) and the same PostgreSQL cluster.  The CPU
of a phase is taken once the archive holds every row the phase made, so
writes still in flight count.  Printed as absolute figures and as ratios
on/off, and against the goals of issue 18 (CPU of xmpp-core plus
PostgreSQL per archived message: <= 15 us saturating, <= 40 us at light
load; light-load p50 on/off <= 1.2).

The same two loads then run against the anchors, ejabberd and Prosody,
each archiving every message into its own PostgreSQL cluster (mod_mam
with SQL storage, as bench_xmpp_im.py sets them up), for the issue's
"below both anchors at every load": their CPU per message (server plus
PostgreSQL, taken once their CPU has come to rest after a phase, since
they may write the archive after delivering).

Knobs: MAM_LOAD_PAIRS (10), MAM_LOAD_LIGHT (messages per pair at light
load, 2000), MAM_LOAD_SAT (per pair saturating, 10000), MAM_LOAD_WINDOW (200),
MAM_LOAD_ANCHORS (1; 0 leaves ejabberd and Prosody out), MAM_LOAD_ANCHOR_LIGHT
(300) and MAM_LOAD_ANCHOR_SAT (1000): their messages per pair.
"""

import asyncio
import os
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import xmppservers  # noqa: E402
from bench_xmpp import login, register  # noqa: E402

PAIRS = int(os.environ.get("MAM_LOAD_PAIRS", "10"))
LIGHT = int(os.environ.get("MAM_LOAD_LIGHT", "2000"))
SAT = int(os.environ.get("MAM_LOAD_SAT", "10000"))
WINDOW = int(os.environ.get("MAM_LOAD_WINDOW", "200"))
DELAY = os.environ.get("MAM_LOAD_DELAY")	# [mam] batch_delay_ms, default the server's
ANCHORS = os.environ.get("MAM_LOAD_ANCHORS", "1") != "0"
# per pair for the anchors, which archive 20-100 times more slowly
ANCHOR_LIGHT = int(os.environ.get("MAM_LOAD_ANCHOR_LIGHT", "300"))
ANCHOR_SAT = int(os.environ.get("MAM_LOAD_ANCHOR_SAT", "1000"))
BODY = "x" * 160


def mam_switch(srv):
    """[mam] enabled on or off through a reload (SIGHUP)."""
    def switch(on):
        with open(srv.conf) as f:
            text = f.read()
        text = re.sub(r"\n\[mam\]\n.*", "", text, flags=re.S)
        text += "\n[mam]\nenabled = %s\n" % ("true" if on else "false")
        if DELAY is not None:
            text += "batch_delay_ms = %s\n" % DELAY
        with open(srv.conf, "w") as f:
            f.write(text)
        os.kill(srv.pid, signal.SIGHUP)
        time.sleep(1.0)
    return switch


def rows(srv):
    return int(srv.pg.psql("SELECT count(*) FROM mam_archive").strip())


def writer_stats(srv):
    """(rows, statements) the archive writer has committed so far."""
    out = srv.ctl("stats").stdout
    get = lambda k: int(re.search(r"^%s\t(\d+)$" % k, out, re.M).group(1))
    return get("mam_rows_written"), get("mam_batches")


async def settle(srv, want, timeout=120):
    """Until the writer has committed want rows (the writes of a phase are
    done).  Asked of xmpp-core, not of PostgreSQL: a count(*) there would
    be PostgreSQL CPU of the phase that the server did not cause."""
    deadline = time.time() + timeout
    while writer_stats(srv)[0] < want:
        if time.time() > deadline:
            raise RuntimeError("%d rows written, %d expected" % (writer_stats(srv)[0], want))
        await asyncio.sleep(0.05)


async def pair_run(snd, rcv, to, count, window, lat):
    got = 0
    progress = asyncio.Event()

    async def reader():
        nonlocal got
        buf = b""
        while got < count:
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
        i = 0
        while i < count:
            while i - got >= window:
                progress.clear()
                await progress.wait()
            n = min(window - (i - got), 50, count - i)
            snd.send("".join("<message to='%s' type='chat'><thread>%.6f</thread><body>%s"
                             "</body></message>" % (to, time.perf_counter(), BODY)
                             for _ in range(n)))
            await snd.w.drain()
            i += n
    await asyncio.gather(reader(), writer())


async def phase(srv, pairs, count, window, archived):
    lat = []
    before = srv.expected
    w0 = writer_stats(srv)
    cpu0, db0 = srv.cpu(), srv.db_cpu()
    t0 = time.perf_counter()
    await asyncio.gather(*(pair_run(s, r, to, count, window, lat) for s, r, to in pairs))
    wall = time.perf_counter() - t0
    if archived:
        srv.expected += 2 * count * len(pairs)
        await settle(srv, srv.expected)
    cpu1, db1 = srv.cpu(), srv.db_cpu()
    w1 = writer_stats(srv)
    n = count * len(pairs)
    lat.sort()
    return {"msgs/s": n / wall, "p50 ms": lat[len(lat) // 2] * 1000,
            "p99 ms": lat[int(len(lat) * 0.99)] * 1000,
            "core us": (cpu1 - cpu0) * 1e6 / n, "pg us": (db1 - db0) * 1e6 / n,
            "total us": (cpu1 - cpu0 + db1 - db0) * 1e6 / n,
            "rows/statement": (w1[0] - w0[0]) / max(w1[1] - w0[1], 1)}


async def open_pairs(srv):
    """PAIRS senders and receivers registered and logged in: (sender,
    receiver, the receiver's full JID), nothing unread."""
    names = ["ls%d" % i for i in range(PAIRS)] + ["lr%d" % i for i in range(PAIRS)]
    for u in names:
        await register(srv.port, u)
    pairs = []
    for i in range(PAIRS):
        s = await login(srv.port, "ls%d" % i, "s")
        r = await login(srv.port, "lr%d" % i, "r")
        pairs.append((s, r, "lr%d@localhost/r" % i))
    await asyncio.sleep(0.5)
    for _, r, _ in pairs:
        r.buf = b""
    return pairs


async def bench(srv):
    pairs = await open_pairs(srv)
    switch = mam_switch(srv)
    srv.expected = writer0 = writer_stats(srv)[0]
    stored = rows(srv)
    res = {}
    for on in (True, False):
        switch(on)
        await phase(srv, pairs, 50, 1, on)	# warm-up
        res[("light", on)] = await phase(srv, pairs, LIGHT, 1, on)
        res[("sat", on)] = await phase(srv, pairs, SAT, WINDOW, on)
    for s, r, _ in pairs:
        s.w.close()
        r.w.close()
    # the writer's count is what the archive holds
    if rows(srv) - stored != srv.expected - writer0:
        raise RuntimeError("the archive holds %d new rows, the writer wrote %d"
                           % (rows(srv) - stored, srv.expected - writer0))
    return res


async def at_rest(srv, timeout=30):
    """Until the server and its database use no more CPU (under 1 ms in
    200 ms): what an anchor writes after delivering belongs to the phase."""
    deadline = time.time() + timeout
    last = srv.cpu() + srv.db_cpu()
    while time.time() < deadline:
        await asyncio.sleep(0.2)
        now = srv.cpu() + srv.db_cpu()
        if now - last < 0.001:
            return
        last = now


async def anchor_phase(srv, pairs, count, window):
    lat = []
    cpu0, db0 = srv.cpu(), srv.db_cpu()
    t0 = time.perf_counter()
    await asyncio.gather(*(pair_run(s, r, to, count, window, lat) for s, r, to in pairs))
    wall = time.perf_counter() - t0
    await at_rest(srv)
    cpu1, db1 = srv.cpu(), srv.db_cpu()
    n = count * len(pairs)
    lat.sort()
    return {"msgs/s": n / wall, "p50 ms": lat[len(lat) // 2] * 1000,
            "core us": (cpu1 - cpu0) * 1e6 / n, "pg us": (db1 - db0) * 1e6 / n,
            "total us": (cpu1 - cpu0 + db1 - db0) * 1e6 / n}


async def anchor_bench(srv):
    pairs = await open_pairs(srv)
    await anchor_phase(srv, pairs, 50, 1)	# warm-up
    await at_rest(srv)
    res = {"light": await anchor_phase(srv, pairs, ANCHOR_LIGHT, 1)}
    res["sat"] = await anchor_phase(srv, pairs, ANCHOR_SAT, WINDOW)
    for s, r, _ in pairs:
        s.w.close()
        r.w.close()
    return res


def anchors():
    """ejabberd and Prosody archiving every message (SQL), or None each
    where it cannot run here."""
    from bench_xmpp_im import EJABBERD_MODULES, PROSODY_EXTRA
    out = {}
    for name in ("ejabberd", "prosody"):
        try:
            if name == "ejabberd":
                cm = xmppservers.ejabberd(EJABBERD_MODULES, sql=True)
            else:
                cm = xmppservers.prosody(("carbons", "mam", "smacks"), PROSODY_EXTRA, sql=True)
            with cm as srv:
                out[name] = asyncio.run(anchor_bench(srv))
        except Exception as e:	# a comparison must not hide our own figures
            print("%s: not measured (%s)" % (name, e), file=sys.stderr)
            out[name] = None
    return out


def main():
    with xmppservers.xmpp_core() as srv:
        res = asyncio.run(bench(srv))
    anc = anchors() if ANCHORS else {}
    print("%-34s %10s %10s %8s" % ("pairs=%d window=%d" % (PAIRS, WINDOW), "mam on", "mam off",
                                    "on/off"))
    for load in ("light", "sat"):
        for k in ("msgs/s", "p50 ms", "p99 ms", "core us", "pg us", "total us",
                  "rows/statement"):
            a, b = res[(load, True)][k], res[(load, False)][k]
            print("%-34s %10.2f %10.2f %8s" % ("%s %s" % (load, k), a, b,
                                                "%.2f" % (a / b) if b else "-"))
    light, sat = res[("light", True)], res[("sat", True)]
    print("goal: light p50 on/off            %10.2f  (<= 1.2)"
          % (light["p50 ms"] / res[("light", False)]["p50 ms"]))
    print("goal: light cpu+pg/message us     %10.2f  (<= 40: %.2f of the goal)"
          % (light["total us"], light["total us"] / 40))
    print("goal: saturating cpu+pg/message us%10.2f  (<= 15: %.2f of the goal)"
          % (sat["total us"], sat["total us"] / 15))
    if not anc:
        return
    print()
    print("%-34s %10s %10s %10s" % ("anchors, archiving (SQL)", "xmpp-core", "ejabberd",
                                    "prosody"))
    for load in ("light", "sat"):
        for k in ("msgs/s", "p50 ms", "core us", "pg us", "total us"):
            row = [res[(load, True)][k]] + [anc[a][load][k] if anc.get(a) else None
                                            for a in ("ejabberd", "prosody")]
            print("%-34s %s" % ("%s %s" % (load, k), " ".join(
                "%10.2f" % v if v is not None else "%10s" % "-" for v in row)))
    for load in ("light", "sat"):
        ours = res[(load, True)]["total us"]
        for a in ("ejabberd", "prosody"):
            if anc.get(a):
                print("goal: %-5s cpu+pg/message vs %-8s %5.2fx  (< 1: below it)"
                      % (load, a, ours / anc[a][load]["total us"]))


if __name__ == "__main__":
    main()
