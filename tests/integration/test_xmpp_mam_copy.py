"""Archive rows as COPY (issue 18): once a batch's answer has told the
writer an account's key (users.uid), its later rows go to PostgreSQL as
COPY FROM STDIN, without a lookup.  What a client gets back is exactly
what was sent, whatever COPY's text format would have to escape (tabs,
newlines, backslashes); a COPY that fails is sent again as an ordinary
statement; and removing an account on the running server never files a
row under the key of the account that is gone: a new account of the same
name gets its own archive, and no row is left without an account."""

import asyncio
import re
import time

import pytest

from pgcluster import PgCluster
from test_xmpp_mam import PW, all_pages, login, next_body
from test_xmpp_mam_counters import wait_for
from xmpptest import XmppServer, arun, disconnect, until

DEADLINE = 30


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


def stat(s, key):
    r = s.ctl("stats")
    m = re.search(r"^%s\t(\d+)$" % key, r.stdout, re.M)
    assert m, "no %s in xmppctl stats: %r %r" % (key, r.stdout[-3000:], r.stderr)
    return int(m.group(1))


def durable(s):
    return re.search(r"^mam_durable\tyes$", s.ctl("stats").stdout, re.M) is not None


def orphans(pg):
    return int(pg.psql("SELECT count(*) FROM mam_archive a WHERE NOT EXISTS "
                       "(SELECT 1 FROM users u WHERE u.uid = a.owner)").strip())


def rows_of(pg, user):
    return int(pg.psql("SELECT count(*) FROM mam_archive a JOIN users u ON "
                       "u.uid = a.owner WHERE u.username = '%s'" % user).strip())


async def chat(frm, to, c_to, bodies):
    for b in bodies:
        frm.send_message(mto=to, mbody=b, mtype="chat")
        got = await next_body(c_to)
        assert got["body"] == b


async def known(s, x, y, bodies):
    """x and y logged in, y has sent x bodies, and the writer has their
    rows: the batches' answers gave both accounts' keys, so their next
    rows go as COPY."""
    a = await login(s, "%s@localhost/r" % x)
    b = await login(s, "%s@localhost/r" % y)
    rows = stat(s, "mam_rows_written")
    await chat(b, "%s@localhost" % x, a, bodies)
    await until(lambda: stat(s, "mam_rows_written") >= rows + 2 * len(bodies), DEADLINE)
    return a, b


ODD = ["tab\there", "two\nlines", "back\\slash \\t \\n \\\\", "quote \" and ' too",
       "unicode \u00e9\u4e2d\U0001f600", "{braces,commas}", "NULL", "\\N",
       "trailing backslash \\"]


def test_rows_go_as_copy_and_come_back_exact(pg):
    s = XmppServer(pg)
    try:
        s.adduser("cpa", PW)
        s.adduser("cpb", PW)

        async def scenario():
            # the first batches look the accounts up; their answer gives the keys
            a, b = await known(s, "cpa", "cpb", ["first %d" % i for i in range(3)])
            copies = stat(s, "mam_batches_copy")
            await chat(b, "cpa@localhost", a, ODD)
            await chat(a, "cpb@localhost", b, ["back %d" % i for i in range(3)])
            await until(lambda: stat(s, "mam_rows_written") >= 2 * (6 + len(ODD)),
                        DEADLINE)
            assert stat(s, "mam_batches_copy") > copies
            want = ["first %d" % i for i in range(3)] + ODD + ["back %d" % i for i in range(3)]
            got_a, _, _ = await all_pages(a, 5)
            got_b, _, _ = await all_pages(b, 5)
            assert [x[1] for x in got_a] == want
            assert [x[1] for x in got_b] == want
            await disconnect(a, b)

        arun(scenario())
        assert orphans(pg) == 0
    finally:
        s.destroy()


REFUSED = ["refused %s" % x for x in ODD]


def test_a_failed_copy_is_sent_again(pg):
    s = XmppServer(pg)
    try:
        s.adduser("cfa", PW)
        s.adduser("cfb", PW)

        async def scenario():
            a, b = await known(s, "cfa", "cfb", ["known %d" % i for i in range(2)])
            retries, copies = stat(s, "mam_retries"), stat(s, "mam_batches_copy")
            # the database refuses the next rows for a while: the COPY fails
            pg.psql("ALTER TABLE mam_archive ADD CONSTRAINT cf_refuse "
                    "CHECK (stanza NOT LIKE '%refused%') NOT VALID")
            try:
                # what COPY escapes, unescaped again for the statement
                await chat(b, "cfa@localhost", a, REFUSED)
                await until(lambda: stat(s, "mam_retries") > retries, DEADLINE)
            finally:
                pg.psql("ALTER TABLE mam_archive DROP CONSTRAINT cf_refuse")
            # (a batch still in its delay when the refusal ended goes as COPY)
            await until(lambda: rows_of(pg, "cfa") == 2 + len(REFUSED), DEADLINE)
            await chat(b, "cfa@localhost", a, ["after"])
            await until(lambda: stat(s, "mam_batches_copy") > copies, DEADLINE)
            got, _, st = await all_pages(a, 10)
            assert [x[1] for x in got] == ["known %d" % i for i in range(2)] + \
                REFUSED + ["after"]
            assert st["count"] == 3 + len(REFUSED)
            await disconnect(a, b)

        arun(scenario())
    finally:
        s.destroy()


def test_removed_account_leaves_no_row_and_its_successor_archives(pg):
    s = XmppServer(pg)
    try:
        s.adduser("rma", PW)
        s.adduser("rmb", PW)

        async def first():
            a, b = await known(s, "rma", "rmb", ["old %d" % i for i in range(3)])
            copies = stat(s, "mam_batches_copy")
            # rma's key is known now: these go as COPY
            await chat(b, "rma@localhost", a, ["old copy %d" % i for i in range(3)])
            await until(lambda: stat(s, "mam_batches_copy") > copies, DEADLINE)
            # rmb goes on writing to rma while rma is removed
            for i in range(20):
                b.send_message(mto="rma@localhost", mbody="racing %d" % i, mtype="chat")
            r = await asyncio.to_thread(s.ctl, "deluser", "rma@localhost")
            assert r.returncode == 0, r.stderr
            await disconnect(b)

        arun(first())
        # every row made for the old account is in (or was dropped) before
        # an account of the same name exists again
        wait_for(lambda: durable(s), "the writer to catch up")
        s.adduser("rma", PW)

        async def second():
            b = await login(s, "rmb@localhost/r2")
            a = await login(s, "rma@localhost/r")
            # online, so the archive's writer files these itself (by key)
            await chat(b, "rma@localhost", a, ["new %d" % i for i in range(4)])
            await until(lambda: rows_of(pg, "rma") == 4, DEADLINE)
            await chat(b, "rma@localhost", a, ["newer %d" % i for i in range(2)])
            await until(lambda: rows_of(pg, "rma") == 6, DEADLINE)
            got, _, _ = await all_pages(a, 10)
            assert [x[1] for x in got] == ["new %d" % i for i in range(4)] + \
                ["newer %d" % i for i in range(2)]
            await disconnect(a, b)

        arun(second())
        wait_for(lambda: orphans(pg) == 0, "no row without its account", timeout=5)
        assert orphans(pg) == 0
    finally:
        s.destroy()


def test_removal_fails_while_the_archive_cannot_write(pg):
    """Removal waits for the rows filed under the account's key, but not
    for ever: with the archive table locked it fails after about ten
    seconds, the account stays, and its rows go in once the lock is gone."""
    s = XmppServer(pg)
    try:
        s.adduser("tla", PW)
        s.adduser("tlb", PW)

        async def scenario():
            a, b = await known(s, "tla", "tlb", ["before %d" % i for i in range(2)])
            locker = pg.lock_table("mam_archive")
            try:
                await chat(b, "tla@localhost", a, ["locked"])
                t0 = time.time()
                r = await asyncio.to_thread(s.ctl, "deluser", "tla@localhost")
                took = time.time() - t0
                assert r.returncode != 0
                assert "behind" in r.stderr, r.stderr
                assert 8 < took < 40, took
            finally:
                pg.unlock_table(locker)
            assert pg.psql("SELECT count(*) FROM users WHERE username = 'tla'").strip() == "1"
            await until(lambda: rows_of(pg, "tla") == 3, DEADLINE)
            got, _, _ = await all_pages(a, 10)
            assert [x[1] for x in got] == ["before 0", "before 1", "locked"]
            # the account stays, so its key is kept again: after one batch
            # that looks it up, its rows go as COPY (no statement batch)
            await chat(b, "tla@localhost", a, ["after 0"])
            await until(lambda: rows_of(pg, "tla") == 4, DEADLINE)
            statements = stat(s, "mam_batches") - stat(s, "mam_batches_copy")
            for i in range(1, 6):
                rows = stat(s, "mam_rows_written")
                await chat(b, "tla@localhost", a, ["after %d" % i])
                await until(lambda: stat(s, "mam_rows_written") >= rows + 2, DEADLINE)
            assert stat(s, "mam_batches") - stat(s, "mam_batches_copy") == statements
            assert rows_of(pg, "tla") == 9
            await disconnect(a, b)

        arun(scenario(), timeout=120)
    finally:
        s.destroy()
