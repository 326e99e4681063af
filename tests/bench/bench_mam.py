"""xmpp-core message archive (XEP-0313) query latency on a large archive.

Fills one account's archive with MAM_BENCH_ROWS messages (default 100000,
with 50 contacts, ~300-byte stanzas, as the server writes them) straight
into PostgreSQL, starts xmpp-core on it and times, over one raw TLS
stream, MAM_BENCH_REPEAT queries (default 50) of each kind with max=50:

  first page      the oldest 50 messages (RSM, no after)
  last page       the newest 50 (empty <before/>), what clients ask first
  middle page     50 after an id in the middle of the archive
  with filter     the newest 50 with one contact (2000 messages of them)
  with + start    one contact's messages after a date, oldest first

Each query returns 50 results plus <fin/> with the count of the whole
result set (the count is part of the figure).  Latency is measured from
sending the IQ to reading its answer, so it includes TLS, the database
round trip and writing 50 results.  Also printed: the same queries'
server-side execution time from EXPLAIN ANALYZE, and how fast messages
are archived while two sessions chat (MAM_BENCH_MESSAGES, default 5000).

Run:  make && EDGE_BUILD=$PWD/build /usr/bin/python3 tests/bench/bench_mam.py
(needs postgresql; not part of make check).
"""

import os
import re
import socket
import ssl
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from pgcluster import PgCluster  # noqa: E402
from xmpptest import Raw, XmppServer  # noqa: E402

ROWS = int(os.environ.get("MAM_BENCH_ROWS", "100000"))
REPEAT = int(os.environ.get("MAM_BENCH_REPEAT", "50"))
MSGS = int(os.environ.get("MAM_BENCH_MESSAGES", "5000"))
CONTACTS = 50
PW = "bench horse battery staple 42"
MAM = "urn:xmpp:mam:2"


def fill(pg, rows):
    """rows messages of owner@localhost, one every 10 ms ending an hour ago,
    half outgoing, round-robin over CONTACTS contacts."""
    end_us = int((time.time() - 3600) * 1e6)
    start_us = end_us - rows * 10000
    pg.psql("""
INSERT INTO mam_archive (id, host, username, owner, with_bare, with_res, outgoing, stanza)
SELECT %d + g * 10000, 'localhost', 'owner',
       (SELECT uid FROM users WHERE host = 'localhost' AND username = 'owner'),
       'contact' || (g %% %d) || '@localhost', 'phone',
       g %% 2 = 0,
       CASE WHEN g %% 2 = 0 THEN
         '<message xmlns=''jabber:client'' from=''owner@localhost/desk'' to=''contact'
         || (g %% %d) || '@localhost'' type=''chat'' id=''' || md5(g::text) || '''><body>'
         || repeat('x', 120) || ' ' || g || '</body><origin-id xmlns=''urn:xmpp:sid:0'' id='''
         || md5(g::text) || '''/></message>'
       ELSE
         '<message xmlns=''jabber:client'' from=''contact' || (g %% %d)
         || '@localhost/phone'' to=''owner@localhost'' type=''chat'' id=''' || md5(g::text)
         || '''><body>' || repeat('y', 120) || ' ' || g || '</body><active '
         || 'xmlns=''http://jabber.org/protocol/chatstates''/></message>'
       END
FROM generate_series(0, %d - 1) g;
INSERT INTO mam_stats (host, username, messages) VALUES ('localhost', 'owner', %d);
INSERT INTO mam_with_stats (host, username, with_bare, messages)
  SELECT host, username, with_bare, count(*) FROM mam_archive GROUP BY 1, 2, 3;
""" % (start_us, CONTACTS, CONTACTS, CONTACTS, rows, rows))
    pg.psql("VACUUM ANALYZE mam_archive")
    return start_us, end_us


def query_xml(qid, form="", rsm=""):
    x = ""
    if form:
        x = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
             "<value>%s</value></field>%s</x>" % (MAM, form))
    return ("<iq type='set' id='%s'><query xmlns='%s' queryid='%s'>%s"
            "<set xmlns='http://jabber.org/protocol/rsm'>%s</set></query></iq>"
            % (qid, MAM, qid, x, rsm))


def read_until(r, needle, timeout=30):
    buf = b""
    deadline = time.time() + timeout
    nb = needle.encode()
    while nb not in buf:
        r.sock.settimeout(max(0.05, deadline - time.time()))
        d = r.sock.recv(1 << 20)
        if not d:
            raise RuntimeError("connection closed")
        buf += d
        if time.time() > deadline:
            raise RuntimeError("timeout waiting for %s" % needle)
    return buf.decode(errors="replace")


def field(var, val):
    return "<field var='%s'><value>%s</value></field>" % (var, val)


def stamp(us):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(us / 1e6)) + "Z"


def bench_queries(r, start_us, end_us):
    mid = start_us + (ROWS // 2) * 10000
    kinds = [
        ("first page", "", "<max>50</max>"),
        ("last page", "", "<max>50</max><before/>"),
        ("middle page", "", "<max>50</max><after>%d</after>" % mid),
        ("with filter", field("with", "contact7@localhost"), "<max>50</max><before/>"),
        ("with + start", field("with", "contact7@localhost") +
         field("start", stamp(mid)), "<max>50</max>"),
    ]
    out = []
    n = 0
    for name, form, rsm in kinds:
        times = []
        for i in range(REPEAT + 3):
            n += 1
            qid = "q%d" % n
            t0 = time.perf_counter()
            r.send(query_xml(qid, form, rsm))
            text = read_until(r, "</iq>")	# one query at a time: its answer
            dt = time.perf_counter() - t0
            if i >= 3:			# warm-up: plans cached, pages in memory
                times.append(dt * 1000)
            got = text.count("<result ")
            if got != 50 or "<count>" not in text:
                raise RuntimeError("%s: %d results\n%s" % (name, got, text[-2000:]))
        count = re.search(r"<count>(\d+)</count>", text).group(1)
        out.append((name, statistics.median(times), sorted(times)[int(len(times) * 0.95) - 1],
                    count))
    return out


def explain(pg, start_us):
    """Server-side execution time of the statements as xmpp-core sends them."""
    mid = start_us + (ROWS // 2) * 10000
    page = ("WITH page AS (SELECT id, stanza FROM mam_archive WHERE owner = "
            "(SELECT uid FROM users WHERE host = 'localhost' AND username = 'owner') AND id > %d AND id < %d %s ORDER BY id %s LIMIT 51), "
            "c AS (SELECT (%s) AS total, "
            "(SELECT count(*) FROM mam_archive WHERE owner = (SELECT uid FROM users WHERE host = 'localhost' AND username = 'owner') "
            "AND id = ANY('{}'::bigint[])) AS refs) "
            "SELECT c.total, c.refs, p.id, p.stanza FROM c LEFT JOIN page p ON true ORDER BY p.id")
    total = ("SELECT coalesce((SELECT messages FROM mam_stats WHERE host = 'localhost' "
             "AND username = 'owner'), 0)")
    w = "AND with_bare = 'contact7@localhost'"
    wtotal = ("SELECT count(*) FROM mam_archive WHERE owner = (SELECT uid FROM users WHERE host = 'localhost' AND username = 'owner') "
              "AND id > 0 AND id < 9223372036854775807 " + w)
    res = []
    for name, sql in (("first page", page % (0, 2**63 - 1, "", "ASC", total)),
                      ("last page", page % (0, 2**63 - 1, "", "DESC", total)),
                      ("middle page", page % (mid, 2**63 - 1, "", "ASC", total)),
                      ("with filter", page % (0, 2**63 - 1, w, "DESC", wtotal))):
        best = None
        for _ in range(5):
            plan = pg.psql("EXPLAIN (ANALYZE, TIMING OFF) " + sql)
            ms = float(re.search(r"Execution Time: ([\d.]+) ms", plan).group(1))
            best = ms if best is None else min(best, ms)
        res.append((name, best))
    return res


def bench_archiving(s, pg):
    """Two raw sessions chat; time until every message is delivered and
    until both archives hold them."""
    s.adduser("alice", PW)
    s.adduser("bob", PW)
    a, b = Raw(s.port), Raw(s.port)
    a.session("alice", PW, "a")
    b.session("bob", PW, "b")
    time.sleep(0.5)
    t0 = time.perf_counter()
    batch = []
    for i in range(MSGS):
        batch.append("<message to='bob@localhost' type='chat' id='m%d'><body>%s %d</body>"
                     "</message>" % (i, "z" * 150, i))
        if len(batch) == 200:
            a.send("".join(batch))
            batch = []
    if batch:
        a.send("".join(batch))
    buf = b""
    last = ("z %d</body>" % (MSGS - 1)).encode()
    while last not in buf:
        b.sock.settimeout(30)
        buf = buf[-100:] + b.sock.recv(1 << 20)
    delivered = time.perf_counter() - t0
    while True:
        n = int(pg.psql("SELECT count(*) FROM mam_archive WHERE username IN ('alice', 'bob')"))
        if n >= 2 * MSGS:
            break
        time.sleep(0.01)
    stored = time.perf_counter() - t0
    a.close()
    b.close()
    return delivered, stored


def main():
    pg = PgCluster()
    s = None
    try:
        s = XmppServer(pg, start=False)
        s.start()
        s.adduser("owner", PW)
        t0 = time.time()
        start_us, end_us = fill(pg, ROWS)
        print("archive: %d messages of owner@localhost (%d contacts) filled in %.1f s"
              % (ROWS, CONTACTS, time.time() - t0))
        print("table size: %s" % pg.psql(
            "SELECT pg_size_pretty(pg_total_relation_size('mam_archive'))").strip())
        r = Raw(s.port)
        r.session("owner", PW, "bench")
        time.sleep(0.3)
        rows = bench_queries(r, start_us, end_us)
        r.close()
        print("\nquery latency over TLS, max=50, %d queries each (ms):" % REPEAT)
        print("%-14s %8s %8s %10s" % ("query", "p50", "p95", "count"))
        for name, p50, p95, count in rows:
            print("%-14s %8.2f %8.2f %10s" % (name, p50, p95, count))
        print("\nserver-side execution (EXPLAIN ANALYZE, best of 5, ms):")
        for name, ms in explain(pg, start_us):
            print("%-14s %8.2f" % (name, ms))
        delivered, stored = bench_archiving(s, pg)
        print("\narchiving: %d chat messages delivered in %.2f s (%.0f/s), "
              "both archives written after %.2f s (%.0f rows/s)"
              % (MSGS, delivered, MSGS / delivered, stored, 2 * MSGS / stored))
    finally:
        if s:
            s.destroy()
        pg.destroy()


if __name__ == "__main__":
    main()
