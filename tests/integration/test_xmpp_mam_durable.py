"""xmpp-core issue 18: the archive is written in the background, and what
a sender is promised holds across crashes.

Delivery never waits for the archive (a message is delivered with its
stanza-id while mam_archive is locked); an XEP-0198 <a h=/> (and the h
of a <resumed/>) covers a message only once its archive rows are
committed, and so does offline storage; killing PostgreSQL (immediate
shutdown, no checkpoint) or xmpp-core (SIGKILL) while messages flow loses
no message that was acknowledged, the client resends what was not, and no
stanza-id is handed out twice.

The clients are raw sockets speaking XEP-0198 themselves, so that what
the sender holds unacknowledged (and resends after a failed resumption,
as XEP-0198 §4 asks of a client) is exactly known."""

import re
import signal
import socket
import threading
import ssl
import time
import uuid

import pytest

from pgcluster import PgCluster
from xmpptest import Raw, XmppServer

PW = "correct horse battery staple"
SM = "urn:xmpp:sm:3"
DEADLINE = 60


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    # an acknowledged row must survive PostgreSQL's own crash: commits wait
    # for the WAL write (fsync stays off: the machine does not crash)
    cluster.psql("ALTER DATABASE %s SET synchronous_commit = on" % cluster.dbname)
    yield cluster
    cluster.destroy()


@pytest.fixture
def server(pg):
    s = XmppServer(pg, extra="[sm]\nresume_timeout = 300\n[mam]\nbatch_delay_ms = 2\n")
    yield s
    s.destroy()


def fresh(server, tag):
    u = "%s%s" % (tag, uuid.uuid4().hex[:8])
    server.adduser(u, PW)
    return u


def wait_for(cond, what, timeout=DEADLINE):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


class SmClient(Raw):
    """A raw session with stream management; reads into self.buf."""

    def __init__(self, server, user, resource):
        super().__init__(server.port)
        self.buf = ""
        self.user = user
        self.session(user, PW, resource)
        self.send("<enable xmlns='%s' resume='true'/>" % SM)
        self.until(lambda: "<enabled" in self.buf, "<enabled/>")
        self.smid = re.search(r"<enabled [^>]*id='([^']+)'", self.buf).group(1)

    def pump(self, timeout=0.05):
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        except (ssl.SSLError, OSError):
            return False
        if not d:
            return False
        self.buf += d.decode(errors="replace")
        return True

    def until(self, cond, what, timeout=DEADLINE):
        deadline = time.time() + timeout
        while not cond():
            if time.time() > deadline:
                raise AssertionError("timed out waiting for %s: %r" % (what, self.buf[-500:]))
            if not self.pump():
                if cond():
                    break
                raise AssertionError("closed while waiting for %s" % what)
        return True

    def acks(self):
        return [int(h) for h in re.findall(r"<a xmlns='%s' h='(\d+)'/>" % SM, self.buf)]

    def acked(self):
        a = self.acks()
        return a[-1] if a else 0

    def barrier(self):
        """<r/> and a second <enable/> (a nonza: h does not count it), until
        its <failed/>: an ack not sent by then is held back (acks are never
        delayed by anything else)."""
        n = self.buf.count("<failed")
        self.send("<r xmlns='%s'/><enable xmlns='%s'/>" % (SM, SM))
        self.until(lambda: self.buf.count("<failed") > n, "the <failed/> of <enable/>")

    def msgids(self):
        return re.findall(r"<message [^>]*id='(m\d+)'", self.buf)


def chat(to, i):
    return ("<message to='%s@localhost' type='chat' id='m%d'><body>message %d</body>"
            "</message>" % (to, i, i))


def archived_ids(pg, user, outgoing):
    out = pg.psql("SELECT stanza FROM mam_archive WHERE username = '%s' AND outgoing = %s"
                  % (user, "true" if outgoing else "false"))
    return re.findall(r" id='(m\d+)'", out)


def counters_exact(pg, *users):
    """Once the fold has run, the counters hold exactly the archive:
    mam_stats per account, mam_with_stats per conversation, counted_to at
    the last id (retried batches counted once, none lost)."""
    def exact():
        for u in users:
            # (messages, counted_to) and the conversations' counts, as the
            # counters hold them and as the archive has them
            held = pg.psql(
                "SELECT s.messages, s.counted_to, (SELECT string_agg(with_bare || '=' || "
                "messages, ',' ORDER BY with_bare) FROM mam_with_stats WHERE username = "
                "'%s' AND messages > 0) FROM mam_stats s WHERE s.username = '%s'" % (u, u))
            has = pg.psql(
                "SELECT count(*), coalesce(max(id), 0), (SELECT string_agg(w || '=' || n, "
                "',' ORDER BY w) FROM (SELECT with_bare AS w, count(*) AS n FROM mam_archive "
                "WHERE username = '%s' GROUP BY 1) g) FROM mam_archive WHERE username = '%s'"
                % (u, u))
            if held.strip() != has.strip():
                return False
        return True
    wait_for(exact, "the counters to hold the archive")


def offline(pg, user):
    return int(pg.psql("SELECT count(*) FROM offline WHERE username = '%s'" % user))


def stat(server, key):
    r = server.ctl("stats")
    m = re.search(r"^%s\t(\S+)$" % key, r.stdout, re.M)
    return m.group(1) if m else None


def test_delivery_does_not_wait_ack_does(server, pg):
    a, b = fresh(server, "da"), fresh(server, "db")
    snd, rcv = SmClient(server, a, "s"), SmClient(server, b, "r")
    locker = pg.lock_table("mam_archive")
    try:
        for i in range(1, 6):
            snd.send(chat(b, i))
        snd.send("<r xmlns='%s'/>" % SM)
        # delivered at once, with the recipient's archive id
        rcv.until(lambda: len(rcv.msgids()) == 5, "five messages")
        assert len(re.findall(r"<stanza-id xmlns='urn:xmpp:sid:0' by='%s@localhost' id='\d+'/>"
                              % b, rcv.buf)) == 5
        # the rows are not committed: no ack yet
        wait_for(lambda: stat(server, "mam_durable") == "no", "rows pending")
        snd.barrier()
        assert snd.acks() == []
    finally:
        pg.unlock_table(locker)
    snd.until(lambda: snd.acked() == 5, "<a h='5'/>")
    assert sorted(archived_ids(pg, a, True)) == sorted("m%d" % i for i in range(1, 6))
    assert sorted(archived_ids(pg, b, False)) == sorted("m%d" % i for i in range(1, 6))
    snd.close()
    rcv.close()


def test_resumed_h_waits_for_the_archive(server, pg):
    a, b = fresh(server, "ra"), fresh(server, "rb")
    snd, rcv = SmClient(server, a, "s"), SmClient(server, b, "r")
    locker = pg.lock_table("mam_archive")
    try:
        for i in range(1, 4):
            snd.send(chat(b, i))
        rcv.until(lambda: len(rcv.msgids()) == 3, "three messages")
        snd.sock.close()	# the session detaches
        again = Raw(server.port)
        again.starttls()
        assert "<success" in again.login_plain(a, PW)
        again.send(again.HEADER)
        again.recv_until("</stream:features>")
        again.send("<resume xmlns='%s' previd='%s' h='0'/>" % (SM, snd.smid))
        out = again.recv_until("<resumed", 1.0)
        assert "<resumed" not in out	# h would cover rows not yet written
    finally:
        pg.unlock_table(locker)
    out += again.recv_until("<resumed", DEADLINE)
    assert re.search(r"<resumed [^>]*h='3'", out), out
    assert len(archived_ids(pg, a, True)) == 3
    again.close()
    rcv.close()


def test_offline_storage_waits_for_the_archive(server, pg):
    a, b = fresh(server, "oa"), fresh(server, "ob")
    snd = SmClient(server, a, "s")
    locker = pg.lock_table("mam_archive")
    try:
        snd.send(chat(b, 1))
        snd.send("<r xmlns='%s'/>" % SM)
        wait_for(lambda: stat(server, "mam_durable") == "no", "the row pending")
        snd.barrier()
        assert offline(pg, b) == 0
        assert snd.acks() == []
    finally:
        pg.unlock_table(locker)
    wait_for(lambda: offline(pg, b) == 1, "offline storage")
    snd.until(lambda: snd.acked() == 1, "<a h='1'/>")
    assert archived_ids(pg, b, False) == ["m1"]
    snd.close()


def immediate_stop(pg):
    """PostgreSQL's crash: SIGQUIT (immediate shutdown, no checkpoint)."""
    pg.proc.send_signal(signal.SIGQUIT)
    pg.proc.wait(30)
    pg.proc = None


def flow(snd, to, first, count, every=5):
    for i in range(first, first + count):
        snd.send(chat(to, i))
        if i % every == 0:
            snd.send("<r xmlns='%s'/>" % SM)
        snd.pump(0.001)


def test_postgresql_crash_loses_no_acked_message(server, pg):
    a, b = fresh(server, "pa"), fresh(server, "pb")
    snd, rcv = SmClient(server, a, "s"), SmClient(server, b, "r")
    flow(snd, b, 1, 200)
    immediate_stop(pg)
    acked_at_crash = snd.acked()
    flow(snd, b, 201, 100)	# while it is down: delivered, not acked
    rcv.until(lambda: len(rcv.msgids()) == 300, "300 messages delivered")
    pg.start()
    snd.send("<r xmlns='%s'/>" % SM)
    snd.until(lambda: snd.acked() == 300, "<a h='300'/>")
    assert acked_at_crash <= 300
    want = sorted("m%d" % i for i in range(1, 301))
    assert sorted(archived_ids(pg, a, True)) == want
    assert sorted(archived_ids(pg, b, False)) == want
    counters_exact(pg, a, b)
    snd.close()
    rcv.close()


def test_core_crash_unacked_are_resent(server, pg):
    a, b = fresh(server, "ka"), fresh(server, "kb")
    snd, rcv = SmClient(server, a, "s"), SmClient(server, b, "r")
    flow(snd, b, 1, 50)
    snd.send("<r xmlns='%s'/>" % SM)
    snd.until(lambda: snd.acked() == 50, "<a h='50'/>")
    locker = pg.lock_table("mam_archive")
    try:
        flow(snd, b, 51, 30)
        rcv.until(lambda: len(rcv.msgids()) == 80, "80 messages delivered")
        wait_for(lambda: stat(server, "mam_durable") == "no", "rows pending")
        snd.barrier()
        server.daemon.signal(signal.SIGKILL)
        server.daemon.proc.wait(30)
        server.daemon.stop(expect_rc=None)
    finally:
        pg.unlock_table(locker)
    acked = snd.acked()
    assert acked == 50	# nothing after the lock was acknowledged
    server.start()
    # resumption fails after the crash: the client sends again what it holds
    snd2 = Raw(server.port)
    snd2.starttls()
    assert "<success" in snd2.login_plain(a, PW)
    snd2.send(snd2.HEADER)
    snd2.recv_until("</stream:features>")
    snd2.send("<resume xmlns='%s' previd='%s' h='0'/>" % (SM, snd.smid))
    assert "item-not-found" in snd2.recv_until("</failed>")
    snd2.close()
    snd.close()
    rcv.close()
    snd = SmClient(server, a, "s2")
    for i in range(acked + 1, 81):
        snd.send(chat(b, i))
    snd.send("<r xmlns='%s'/>" % SM)
    snd.until(lambda: snd.acked() == 80 - acked, "the resent messages acknowledged")
    got = archived_ids(pg, a, True)
    # every message is archived; the unacked ones perhaps twice (once
    # committed after the crash, once resent), never with one id twice
    assert set(got) == set("m%d" % i for i in range(1, 81))
    assert all(got.count("m%d" % i) == 1 for i in range(1, 51))
    ids = pg.psql("SELECT id FROM mam_archive WHERE username IN ('%s', '%s')" % (a, b)).split()
    assert len(ids) == len(set(ids))
    counters_exact(pg, a, b)
    snd.close()


def test_account_removed_while_rows_pending(server, pg):
    a, b = fresh(server, "xa"), fresh(server, "xb")
    snd, rcv = SmClient(server, a, "s"), SmClient(server, b, "r")
    locker = pg.lock_table("mam_archive")
    done = []
    try:
        snd.send(chat(b, 1))
        rcv.until(lambda: len(rcv.msgids()) == 1, "the message")
        wait_for(lambda: stat(server, "mam_durable") == "no", "rows pending")
        # the removal's trigger waits for the lock like the batch does
        t = threading.Thread(target=lambda: done.append(server.ctl("deluser", b + "@localhost")))
        t.start()
    finally:
        pg.unlock_table(locker)
    t.join(DEADLINE)
    assert done and done[0].returncode == 0, done
    snd.send("<r xmlns='%s'/>" % SM)
    snd.until(lambda: snd.acked() == 1, "<a h='1'/>")
    assert archived_ids(pg, a, True) == ["m1"]
    assert archived_ids(pg, b, False) == []
    assert pg.psql("SELECT count(*) FROM mam_stats WHERE username = '%s'" % b).strip() == "0"
    snd.close()
    rcv.close()


def test_offline_with_preferences_in_memory_waits(server, pg):
    """The recipient has a session that takes no messages (no presence):
    its preferences are in memory, the row goes in a batch, and offline
    storage waits for that batch's commit."""
    a, b = fresh(server, "qa"), fresh(server, "qb")
    snd = SmClient(server, a, "s")
    quiet = Raw(server.port)
    quiet.starttls()
    assert "<success" in quiet.login_plain(b, PW)
    quiet.send(quiet.HEADER)
    quiet.recv_until("</stream:features>")
    quiet.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
               "<resource>q</resource></bind></iq>")
    assert "</jid>" in quiet.recv_until("</iq>")
    snd.barrier()	# the preferences are loaded by now (same connection order)
    locker = pg.lock_table("mam_archive")
    try:
        snd.send(chat(b, 1))
        wait_for(lambda: stat(server, "mam_durable") == "no", "the row pending")
        snd.barrier()
        assert offline(pg, b) == 0
        assert snd.acks() == [0]	# barrier's first <r/>, before the message
    finally:
        pg.unlock_table(locker)
    wait_for(lambda: offline(pg, b) == 1, "offline storage")
    snd.until(lambda: snd.acked() == 1, "<a h='1'/>")
    assert archived_ids(pg, b, False) == ["m1"]
    quiet.close()
    snd.close()


@pytest.mark.parametrize("rows,delay", [(1, 0), (500, 1000)])
def test_batch_limits(pg, rows, delay):
    """batch_rows = 1: one statement per row; a long batch_delay_ms: a burst
    goes in one statement per database connection (3 here)."""
    s = XmppServer(pg, extra="[sm]\nresume_timeout = 300\n[mam]\nbatch_rows = %d\n"
                   "batch_delay_ms = %d\n" % (rows, delay))
    try:
        a, b = fresh(s, "la"), fresh(s, "lb")
        snd, rcv = SmClient(s, a, "s"), SmClient(s, b, "r")
        snd.barrier()
        r0, b0 = int(stat(s, "mam_rows_written")), int(stat(s, "mam_batches"))
        snd.send("".join(chat(b, i) for i in range(1, 11)) + "<r xmlns='%s'/>" % SM)
        rcv.until(lambda: len(rcv.msgids()) == 10, "ten messages")
        snd.until(lambda: snd.acked() == 10, "<a h='10'/>")
        nrows = int(stat(s, "mam_rows_written")) - r0
        nbatches = int(stat(s, "mam_batches")) - b0
        assert nrows == 20
        if rows == 1:
            assert nbatches == 20
        else:
            assert nbatches <= 3
        assert sorted(archived_ids(pg, b, False)) == sorted("m%d" % i for i in range(1, 11))
        snd.close()
        rcv.close()
    finally:
        s.destroy()
