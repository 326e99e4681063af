"""Group chat (XEP-0045), side by side: xmpp-core vs ejabberd (mod_muc and
mod_mam on PostgreSQL, as the reference host runs it) vs Prosody (its muc
component with mod_muc_mam on mod_storage_sql, PostgreSQL), each fresh on
loopback (xmppservers.py starts them with MUC on conference.localhost).

The occupants are real c2s sessions (STARTTLS, SASL PLAIN, bind) of
muc_load.c, one epoll process that reads everything the server sends.

  fan-out     rooms of 100 and 500 occupants; two occupants post groupchat
              messages (send time in the body) as fast as the slowest
              occupant receives them (at most WINDOW messages ahead) for
              SECONDS: delivered stanzas/s, server CPU and PostgreSQL CPU
              per delivered stanza, p50/p99 delivery latency at the
              receivers; then the same with one message at a time
              (window 1: the server cannot coalesce writes to a socket).
              Next to it the floor of the same run: the same-sized stanza
              written to as many loopback TCP sockets and read from each
              (xmpp_floor.c), per delivered stanza.
  join        a new session joins the 500-occupant room (100 messages of
              history by then), fresh nick each time: wall time from its
              presence (asking for 100 messages of history) to the
              subject (the whole §7.2 join: 500
              presences, its own, the history, the subject) and server
              CPU for it; RSS per occupant: the server's RSS with the 500
              sessions in the room minus the same 500 sessions online and
              already in another room of 500 (the allocator warmed up),
              over 500.
  start-up    10,000 persistent rooms cloned into the server's own
              database tables from one room it created itself: time from
              starting the process to the port accepting and to the first
              login answered, and RSS then, against the same database
              without those rooms.

Knobs: XMPP_BENCH_MUC_SECONDS (fan-out duration, default 8),
XMPP_BENCH_MUC_JOINS (default 10), XMPP_BENCH_MUC_ROOMS (default 10000),
XMPP_BENCH_ONLY (e.g. "xmpp-core" or "xmpp-core,prosody").
"""

import asyncio
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import xmppservers  # noqa: E402
from bench_xmpp import BUILD, PW, login, register, rss_kib  # noqa: E402

SECONDS = float(os.environ.get("XMPP_BENCH_MUC_SECONDS", "8"))
JOINS = int(os.environ.get("XMPP_BENCH_MUC_JOINS", "10"))
ROOMS = int(os.environ.get("XMPP_BENCH_MUC_ROOMS", "10000"))
SIZES = (100, 500)
BIG = 500
WINDOW = 32
SENDERS = 2
PAD = 100	# body bytes besides sequence number and time
MUC = "conference.localhost"
LOAD = os.path.join(BUILD, "bench", "muc_load")
FLOOR = os.path.join(BUILD, "bench", "xmpp_floor")


def progress(name, what):
    print("  [%s] %s" % (name, what), flush=True)


class Load:
    """muc_load: one command line in, one answer line out."""

    def __init__(self, port):
        self.p = subprocess.Popen([LOAD, str(port), "localhost", MUC, "occ", PW],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline().strip()
        if not out.startswith("ok"):
            raise RuntimeError("muc_load: %s: %s" % (line, out or "exited"))
        return dict(kv.split("=") for kv in out.split()[1:] if "=" in kv)

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.close()
            self.p.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()


def settle(srv, limit=60):
    """Until the archive writes still in flight are done: the server and
    its PostgreSQL less than 4% busy over half a second."""
    deadline = time.time() + limit
    while time.time() < deadline:
        c0 = srv.cpu() + srv.db_cpu()
        time.sleep(0.5)
        if srv.cpu() + srv.db_cpu() - c0 < 0.02:
            return


def fanout(srv, load, room, n, window, seconds):
    cpu0, db0 = srv.cpu(), srv.db_cpu()
    r = load.cmd("fanout %s %d %d %g %d %d" % (room, n, SENDERS, seconds, window, PAD))
    settle(srv)
    cpu, db = srv.cpu() - cpu0, srv.db_cpu() - db0
    delivered = int(r["delivered"])
    if int(r["expected"]) != delivered:
        raise RuntimeError("%s: %d of %s stanzas delivered" % (room, delivered, r["expected"]))
    return {"sent": int(r["sent"]), "delivered": delivered,
            "rate": delivered / float(r["wall"]),
            "cpu": cpu * 1e6 / delivered, "db": db * 1e6 / delivered,
            "p50": int(r["p50_us"]) / 1000, "p99": int(r["p99_us"]) / 1000,
            "bytes": float(r["bytes"])}


async def joins(srv, room):
    """JOINS joins of a fresh nick each into room; per join: wall, CPU."""
    c = await login(srv.port, "joiner", "j")
    await asyncio.sleep(1.0)
    c.buf = b""
    walls, cpus, dbs, pres, hist = [], [], [], [], []
    for k in range(JOINS):
        cpu0, db0 = srv.cpu(), srv.db_cpu()
        t0 = time.perf_counter()
        # the 100 asked for: without <history/> Prosody sends 20
        c.send("<presence to='%s@%s/joiner%d'><x xmlns='http://jabber.org/protocol/muc'>"
               "<history maxstanzas='100'/></x></presence>" % (room, MUC, k))
        out = await c.until("bench</subject>")
        walls.append(time.perf_counter() - t0)
        cpus.append(srv.cpu() - cpu0)
        dbs.append(srv.db_cpu() - db0)
        pres.append(out.count("<presence"))
        hist.append(len(re.findall(r"<delay[^>]*urn:xmpp:delay", out)))
        c.send("<presence to='%s@%s/joiner%d' type='unavailable'/>" % (room, MUC, k))
        await asyncio.sleep(0.5)	# the leave reaches the 500
        while True:
            try:
                d = await asyncio.wait_for(c.r.read(262144), 0.2)
            except asyncio.TimeoutError:
                break
            if not d:
                raise ConnectionError("joiner closed")
        c.buf = b""
    c.w.close()
    if os.environ.get("XMPP_BENCH_DEBUG"):
        print("joins (ms):", " ".join("%.1f" % (w * 1000) for w in walls))
    return {"join ms": 1000 * sum(walls) / JOINS,
            "join ms median": 1000 * sorted(walls)[JOINS // 2],
            "join ms max": 1000 * max(walls), "join cpu ms": 1000 * sum(cpus) / JOINS,
            "join db ms": 1000 * sum(dbs) / JOINS,
            "presences": sum(pres) / JOINS, "history": sum(hist) / JOINS}


# Cloning one room the server made into ROOMS rows of its own tables:
# (table, the column naming the room, its text columns mentioning it).
CLONES = {
    "xmpp-core": [("muc_room", "jid = 'r100@%s'" % MUC, ["jid", "name"]),
                  ("muc_affiliation", "room = 'r100@%s'" % MUC, ["room"])],
    "ejabberd": [("muc_room", "name = 'r100' AND host = '%s'" % MUC, ["name", "opts"])],
    "prosody": [("prosody", "host = '%s' AND store = 'config' AND \"user\" = 'r100'" % MUC,
                 ["user", "value"]),
                ("prosody", "host = '%s' AND store = 'persistent' AND key = 'r100@%s'"
                 % (MUC, MUC), ["key"])],
}


def clone_rooms(srv, name):
    db = {"xmpp-core": "xmpp", "ejabberd": "ejabberd", "prosody": "prosody"}[name]
    sql = []
    for table, where, cols in CLONES[name]:
        sets = ", ".join('"%s" = replace("%s", \'r100\', \'idle\' || g)' % (c, c) for c in cols)
        sql.append("CREATE TEMP TABLE t AS SELECT x.*, g FROM %s x, generate_series(1, %d) g "
                   "WHERE %s; UPDATE t SET %s; ALTER TABLE t DROP COLUMN g; "
                   "INSERT INTO %s SELECT * FROM t; DROP TABLE t;"
                   % (table, ROOMS, where, sets, table))
    t0 = time.time()
    srv.pg.psql(" ".join(sql), db=db)
    return time.time() - t0


async def first_login(srv):
    deadline = time.time() + 60
    while True:
        try:
            return await login(srv.port, "joiner", "s")
        except (OSError, ConnectionError, asyncio.TimeoutError, AssertionError):
            if time.time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def room_known(c, room):
    """disco#info of a room: does the server know it (persistent)?"""
    c.send("<iq type='get' id='dk' to='%s@%s'><query xmlns='http://jabber.org/protocol/"
           "disco#info'/></iq>" % (room, MUC))
    out = await c.until("</iq>")
    while "id='dk'" not in out and 'id="dk"' not in out:
        out = await c.until("</iq>")
    return "muc_persistent" in out


def startup(srv):
    srv.stop()
    t0 = time.perf_counter()
    srv.start()
    t1 = time.perf_counter()

    async def go():
        c = await first_login(srv)
        t2 = time.perf_counter()
        await asyncio.sleep(2.0)
        known = await room_known(c, "idle%d" % (ROOMS // 2))
        c.w.close()
        return t2, known
    t2, known = asyncio.run(go())
    return {"port s": t1 - t0, "login s": t2 - t0, "rss MiB": rss_kib(srv.pid) / 1024,
            "known": known}


def archived(srv, name):
    q = {"xmpp-core": ("xmpp", "SELECT count(*) FROM muc_archive"),
         "ejabberd": ("ejabberd", "SELECT count(*) FROM archive WHERE kind = 'groupchat'"),
         "prosody": ("prosody", "SELECT count(*) FROM prosodyarchive WHERE store = 'muc_log'")}
    db, sql = q[name]
    r = subprocess.run(["/usr/lib/postgresql/15/bin/psql", "-h", srv.pg.dir, "-p",
                        str(srv.pg.port), "-U", "postgres", "-d", db, "-At", "-c", sql],
                       capture_output=True, text=True)
    return int(r.stdout.strip()) if r.returncode == 0 else None


def bench(name, srv):
    res = {}
    asyncio.run(register(srv.port, "joiner"))
    load = Load(srv.port)
    try:
        t = time.time()
        load.cmd("login %d" % BIG)
        progress(name, "%d sessions in %.1f s" % (BIG, time.time() - t))
        # a first room warms the allocator up (the join storm's buffers):
        # the RSS per occupant is then what one more room costs
        load.cmd("join warm %d" % BIG)
        time.sleep(3.0)
        rss0 = rss_kib(srv.pid)
        t = time.time()
        load.cmd("join r%d %d" % (BIG, BIG))
        progress(name, "%d joined in %.1f s" % (BIG, time.time() - t))
        time.sleep(3.0)
        res["rss/occupant B"] = (rss_kib(srv.pid) - rss0) * 1024 / BIG
        for n in sorted(SIZES, reverse=True):
            if n != BIG:
                load.cmd("join r%d %d" % (n, n))
            f = fanout(srv, load, "r%d" % n, n, WINDOW, SECONDS)
            for k, v in f.items():
                res["%d:%s" % (n, k)] = v
            f1 = fanout(srv, load, "r%d" % n, n, 1, SECONDS / 2)
            for k in ("rate", "cpu", "db", "p50", "p99"):
                res["%d:w1 %s" % (n, k)] = f1[k]
            progress(name, "room of %d: %.0f stanzas/s, %.2f us each (window 1: %.2f us)"
                     % (n, f["rate"], f["cpu"], f1["cpu"]))
            if n == BIG:
                res.update(asyncio.run(joins(srv, "r%d" % BIG)))
                progress(name, "join: %.1f ms, %.1f ms CPU (%.0f presences, %.0f history)"
                         % (res["join ms"], res["join cpu ms"], res["presences"],
                            res["history"]))
        res["archived"] = archived(srv, name)
    finally:
        load.close()
    time.sleep(1.0)
    e = startup(srv)
    res.update({"empty " + k: v for k, v in e.items()})
    res["clone s"] = clone_rooms(srv, name)
    f = startup(srv)
    res.update({"rooms " + k: v for k, v in f.items()})
    progress(name, "start-up: %.2f s empty, %.2f s with %d rooms (%s)"
             % (e["login s"], f["login s"], ROOMS,
                "a cloned room is known" if f["known"] else "cloned rooms NOT known"))
    return res


def run(name):
    if name == "xmpp-core":
        cm = xmppservers.xmpp_core(extra=xmppservers.XMPP_CORE_MUC)
    elif name == "ejabberd":
        cm = xmppservers.ejabberd(xmppservers.EJABBERD_MUC, sql=True)
    else:
        cm = xmppservers.prosody(sql=True, components=xmppservers.PROSODY_MUC)
    with cm as srv:
        return bench(name, srv)


def floors(res):
    """The loopback floor for each room size, the stanza size xmpp-core's
    occupants received."""
    out = {}
    for n in SIZES:
        size = int(round(res["%d:bytes" % n]))
        runs = sorted(int(subprocess.run([FLOOR, "200000", str(size), str(n)], check=True,
                                         capture_output=True, text=True).stdout) / 1000
                      for _ in range(3))
        out[n] = runs[1]
    return out


ROWS = [
    # (key, label, format, higher is better)
    ("%d:rate", "delivered stanzas/s", "%.0f", True),
    ("%d:cpu", "server CPU/stanza us", "%.2f", False),
    ("%d:db", "PostgreSQL CPU/stanza us", "%.2f", False),
    ("%d:p50", "p50 latency ms", "%.1f", False),
    ("%d:p99", "p99 latency ms", "%.1f", False),
    ("%d:w1 rate", "window 1: stanzas/s", "%.0f", True),
    ("%d:w1 cpu", "window 1: CPU/stanza us", "%.2f", False),
    ("%d:w1 db", "window 1: PG CPU/st. us", "%.2f", False),
    ("%d:w1 p50", "window 1: p50 ms", "%.2f", False),
    ("%d:sent", "messages posted", "%.0f", None),
    ("%d:bytes", "bytes/stanza received", "%.0f", None),
]
JOIN_ROWS = [
    ("join ms", "join wall ms (mean)", "%.1f", False),
    ("join ms median", "join wall ms (median)", "%.1f", False),
    ("join ms max", "join wall ms (slowest)", "%.1f", False),
    ("join cpu ms", "join server CPU ms", "%.2f", False),
    ("join db ms", "join PostgreSQL CPU ms", "%.2f", False),
    ("presences", "presences per join", "%.0f", None),
    ("history", "history msgs per join", "%.0f", None),
    ("rss/occupant B", "RSS per occupant bytes", "%.0f", False),
]
START_ROWS = [
    ("empty port s", "empty: port open s", "%.2f", False),
    ("empty login s", "empty: first login s", "%.2f", False),
    ("empty rss MiB", "empty: RSS MiB", "%.1f", False),
    ("rooms port s", "%d rooms: port open s" % ROOMS, "%.2f", False),
    ("rooms login s", "%d rooms: first login s" % ROOMS, "%.2f", False),
    ("rooms rss MiB", "%d rooms: RSS MiB" % ROOMS, "%.1f", False),
    ("clone s", "cloning the rooms (SQL) s", "%.2f", None),
]
NAMES = ["xmpp-core", "ejabberd", "prosody"]


def table(title, rows, results, n=None):
    print("\n%s" % title)
    print("%-28s %12s %12s %12s" % ("", *NAMES))
    for key, label, f, better in rows:
        k = key % n if n is not None and "%d" in key else key
        vals = [results[s].get(k) if results[s] else None for s in NAMES]
        print("%-28s %12s %12s %12s" % (label, *[(f % v) if v is not None else "-"
                                                 for v in vals]))
        a = vals[0]
        if better is None or not a:
            continue
        ratios = []
        for s, b in zip(NAMES[1:], vals[1:]):
            if b:
                ratios.append("xmpp-core/%s = %.1f×" % (s, a / b) if better
                              else "%s/xmpp-core = %.1f×" % (s, b / a))
        if ratios:
            print("%-28s %s" % ("", ", ".join(ratios)))


def main():
    only = os.environ.get("XMPP_BENCH_ONLY")
    results = {}
    for name in NAMES:
        if only and name not in only.split(",") and name != "xmpp-core":
            results[name] = None
            continue
        print("%s:" % name, flush=True)
        try:
            results[name] = run(name)
        except Exception as e:	# a comparison must not hide our own figures
            if name == "xmpp-core":
                raise
            print("%s: failed: %s" % (name, e))
            results[name] = None
    fl = floors(results["xmpp-core"])
    for n in SIZES:
        table("fan-out, room of %d occupants (%d senders, window %d, %g s; window 1: %g s)"
              % (n, SENDERS, WINDOW, SECONDS, SECONDS / 2), ROWS, results, n)
        a = results["xmpp-core"]
        print("%-28s %12.2f   (write+read of %d bytes to %d loopback sockets)"
              % ("floor us/stanza", fl[n], round(a["%d:bytes" % n]), n))
        print("%-28s saturated %.2f×, window 1 %.2f× the floor (goal <= 2×)"
              % ("xmpp-core / floor", a["%d:cpu" % n] / fl[n], a["%d:w1 cpu" % n] / fl[n]))
    table("join of a %d-occupant room with 100 history messages (%d joins)" % (BIG, JOINS),
          JOIN_ROWS, results)
    table("start-up with %d persistent rooms in the database" % ROOMS, START_ROWS, results)
    print("\narchived groupchat rows: " + ", ".join(
        "%s %s" % (s, results[s]["archived"] if results[s] else "-") for s in NAMES))
    print("a cloned room known after the restart: " + ", ".join(
        "%s %s" % (s, results[s]["rooms known"] if results[s] else "-") for s in NAMES))


if __name__ == "__main__":
    main()
