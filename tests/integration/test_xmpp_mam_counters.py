"""The archive's counters (issue 18): archiving a message writes no
counter; mam_stats and mam_with_stats take in an account's new rows in a
fold about a second later (everything up to mam_stats.counted_to), and a
query counts the rows above counted_to itself.  The RSM counts a client
sees (XEP-0313 with XEP-0059 <count/>) stay exact throughout: right after
the messages, once folded, after a server killed while its fold could not
run (the next start takes the rest in, and two folds of one account never
both count), and the counters hold exactly what the archive holds."""

import signal
import time

import pytest

from pgcluster import PgCluster
from test_xmpp_mam import PW, fin_set, login, mam, next_body
from xmpptest import XmppServer, arun, disconnect

DEADLINE = 30


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


def wait_for(cond, what, timeout=DEADLINE):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def stats(pg, user):
    """(messages, counted_to, last id of the archive) of user."""
    out = pg.psql("SELECT s.messages, s.counted_to, (SELECT coalesce(max(id), 0) FROM "
                  "mam_archive WHERE username = '%s') FROM mam_stats s WHERE "
                  "s.username = '%s'" % (user, user)).strip()
    return tuple(int(v) for v in out.split("|"))


def with_stats(pg, user):
    out = pg.psql("SELECT with_bare, messages FROM mam_with_stats WHERE username = '%s' "
                  "ORDER BY 1" % user).strip()
    return dict((ln.split("|")[0], int(ln.split("|")[1])) for ln in out.split("\n") if ln)


async def counts(c, contact):
    """The sizes a client is told: whole archive, one conversation."""
    _, fin = await mam(c, rsm={"max": "1"})
    _, fin_w = await mam(c, fields={"with": contact}, rsm={"max": "1"})
    return int(fin_set(fin)["count"]), int(fin_set(fin_w)["count"])


async def chat(frm, to, c_to, n, tag):
    for i in range(n):
        frm.send_message(mto=to, mbody="%s %d" % (tag, i), mtype="chat")
        await next_body(c_to)


def test_counts_exact_before_and_after_the_fold(pg):
    s = XmppServer(pg)
    try:
        s.adduser("fa", PW)
        s.adduser("fb", PW)
        s.adduser("fc", PW)
        # the account's counters row is made with the account
        assert stats(pg, "fa") == (0, 0, 0)

        async def scenario():
            a = await login(s, "fa@localhost/r")
            b = await login(s, "fb@localhost/r")
            c = await login(s, "fc@localhost/r")
            await chat(b, "fa@localhost", a, 12, "from b")
            await chat(c, "fa@localhost", a, 3, "from c")
            # at once: whatever the fold has taken in, the sizes are exact
            assert await counts(a, "fb@localhost") == (15, 12)
            assert await counts(b, "fa@localhost") == (12, 12)
            # the fold: counted_to reaches the last id, the counters hold all
            wait_for(lambda: stats(pg, "fa")[0] == 15, "the fold of fa")
            messages, counted_to, last = stats(pg, "fa")
            assert counted_to == last
            assert with_stats(pg, "fa") == {"fb@localhost": 12, "fc@localhost": 3}
            wait_for(lambda: stats(pg, "fb")[0] == 12, "the fold of fb")
            assert await counts(a, "fc@localhost") == (15, 3)
            # more after the fold: counters plus the rows above counted_to
            await chat(a, "fb@localhost", b, 4, "from a")
            assert await counts(a, "fb@localhost") == (19, 16)
            assert await counts(b, "fa@localhost") == (16, 16)
            wait_for(lambda: stats(pg, "fa")[0] == 19, "the second fold of fa")
            assert with_stats(pg, "fa") == {"fb@localhost": 16, "fc@localhost": 3}
            assert await counts(a, "fb@localhost") == (19, 16)
            await disconnect(a, b, c)

        arun(scenario())
    finally:
        s.destroy()


def test_killed_before_its_fold_the_next_start_counts(pg):
    s = XmppServer(pg)
    try:
        s.adduser("ka", PW)
        s.adduser("kb", PW)

        locker = None

        async def first():
            nonlocal locker
            a = await login(s, "ka@localhost/r")
            b = await login(s, "kb@localhost/r")
            await chat(b, "ka@localhost", a, 5, "folded")
            wait_for(lambda: stats(pg, "ka")[0] == 5, "the first fold")
            # a fold cannot run (it writes mam_with_stats); archiving still can
            locker = pg.lock_table("mam_with_stats")
            await chat(b, "ka@localhost", a, 7, "not folded")
            wait_for(lambda: pg.psql("SELECT count(*) FROM mam_archive WHERE "
                                     "username = 'ka'").strip() == "12", "12 rows archived")
            assert stats(pg, "ka")[0] == 5
            await disconnect(a, b)

        try:
            arun(first())
            s.daemon.signal(signal.SIGKILL)
            s.daemon.proc.wait(30)
            s.daemon.stop(expect_rc=None)
        finally:
            # the killed server's fold, if it was waiting, runs now
            if locker is not None:
                pg.unlock_table(locker)
        s.start()
        wait_for(lambda: stats(pg, "ka")[0] == 12, "the rows taken in")
        wait_for(lambda: pg.psql("SELECT count(*) FROM pg_stat_activity WHERE "
                                 "query LIKE 'WITH a AS MATERIALIZED%' AND "
                                 "state = 'active'").strip() == "0", "no fold running")
        messages, counted_to, last = stats(pg, "ka")
        assert (messages, counted_to) == (12, last)
        assert with_stats(pg, "ka") == {"kb@localhost": 12}
        assert stats(pg, "kb")[0] == 12 and with_stats(pg, "kb") == {"ka@localhost": 12}

        async def after():
            a = await login(s, "ka@localhost/r2")
            b = await login(s, "kb@localhost/r2")
            assert await counts(a, "kb@localhost") == (12, 12)
            assert await counts(b, "ka@localhost") == (12, 12)
            await disconnect(a, b)

        arun(after())
    finally:
        s.destroy()


def truth(pg, user):
    """What the archive holds: (rows, {with_bare: rows})."""
    out = pg.psql("SELECT a.with_bare, count(*) FROM mam_archive a JOIN users u ON "
                  "u.uid = a.owner WHERE u.username = '%s' GROUP BY 1 ORDER BY 1"
                  % user).strip()
    w = dict((ln.split("|")[0], int(ln.split("|")[1])) for ln in out.split("\n") if ln)
    return sum(w.values()), w


def folds(s):
    """(folds counted in SQL, folds that added what the writer tallied)."""
    out = s.ctl("stats").stdout
    get = {}
    for ln in out.splitlines():
        k, _, v = ln.partition("\t")
        get[k] = v
    return int(get["mam_folds"]), int(get["mam_folds_tallied"])


def test_tallied_folds_count_exactly(pg):
    """After an account's first fold (in SQL, which tells the writer its
    counted_to), later folds add the rows the writer counted as they were
    committed, reading none; the counters stay exactly what the archive
    holds, per account and per conversation, also when counted_to moved
    behind the writer's back (another server's fold): that fold then
    counts in SQL again."""
    s = XmppServer(pg)
    try:
        for u in ("ta", "tb", "tc", "td"):
            s.adduser(u, PW)

        def exact(users):
            for u in users:
                n, w = truth(pg, u)
                messages, counted_to, last = stats(pg, u)
                if (messages, counted_to) != (n, last) or with_stats(pg, u) != w:
                    return False
            return True

        async def scenario():
            a = await login(s, "ta@localhost/r")
            b = await login(s, "tb@localhost/r")
            c = await login(s, "tc@localhost/r")
            d = await login(s, "td@localhost/r")
            everyone = ("ta", "tb", "tc", "td")
            await chat(b, "ta@localhost", a, 5, "first")
            wait_for(lambda: exact(everyone), "the first folds")
            _, tallied = folds(s)
            for r in range(4):
                await chat(b, "ta@localhost", a, 3, "b round %d" % r)
                await chat(c, "ta@localhost", a, 2, "c round %d" % r)
                await chat(a, "td@localhost", d, 1, "a round %d" % r)
                await chat(d, "tb@localhost", b, 2, "d round %d" % r)
                wait_for(lambda: exact(everyone), "the folds of round %d" % r)
            assert folds(s)[1] > tallied, folds(s)
            assert await counts(a, "tb@localhost") == (5 + 4 * 6, 5 + 4 * 3)
            assert await counts(b, "td@localhost") == (5 + 4 * 5, 4 * 2)
            # ta's counters as another server's would be before its fold:
            # counted_to lower, the counts those of the rows up to it
            cut = int(pg.psql("SELECT a.id FROM mam_archive a JOIN users u ON "
                              "u.uid = a.owner WHERE u.username = 'ta' ORDER BY a.id "
                              "DESC OFFSET 7 LIMIT 1").strip())
            rows = "FROM mam_archive a JOIN users u ON u.uid = a.owner WHERE " \
                   "u.username = 'ta' AND a.id <= %d" % cut
            pg.psql("UPDATE mam_stats SET messages = (SELECT count(*) %s), counted_to = %d "
                    "WHERE username = 'ta'; UPDATE mam_with_stats ws SET messages = "
                    "(SELECT count(*) %s AND a.with_bare = ws.with_bare) WHERE "
                    "ws.username = 'ta'" % (rows, cut, rows))
            assert stats(pg, "ta")[1] == cut and not exact(("ta",))
            sql_folds = folds(s)[0]
            await chat(c, "ta@localhost", a, 3, "after the move")
            await chat(a, "tc@localhost", c, 2, "after the move")
            wait_for(lambda: exact(everyone), "the folds after the move")
            assert folds(s)[0] > sql_folds
            assert await counts(a, "tc@localhost") == (5 + 4 * 6 + 5, 4 * 2 + 5)
            await disconnect(a, b, c, d)

        arun(scenario(), timeout=120)
    finally:
        s.destroy()
