"""xmpp-core issue 16: moving a live ejabberd host over.

A real ejabberd 23.01 (Debian) on a real PostgreSQL with pg.new.sql
(new_sql_schema: true, as the reference host) is populated by real
slixmpp clients (importpeers.populate); ejabberd stops; `xmppctl import
ejabberd` moves everything into xmpp-core; the same clients log in with
the same passwords and find their rosters, offline messages (once), the
archive with the same stanza-ids, vCard avatar, private XML, bookmarks,
OMEMO devices, blocklist, archive preferences and the room (config,
members, subject, archive)."""

import asyncio
import os
import re
import shutil
import sys

import pytest

import importpeers as P
from pgcluster import PgCluster
from xmpptest import XmppServer, arun, connect, disconnect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import xmppservers  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("ejabberdctl") is None,
                                reason="ejabberd is not installed")

MUC = "[muc]\nenabled = true\n"


@pytest.fixture(scope="module")
def source():
    """ejabberd's database, populated, with ejabberd stopped (the switch)."""
    with xmppservers.ejabberd(modules=P.EJABBERD_MODULES, sql=True,
                              schema="pg.new.sql") as ej:
        state = arun(P.populate(ej.port), timeout=300)
        ej.stop()
        # alice and bob keep what ejabberd made at in-band registration
        # (SCRAM-SHA-1 only, Debian's default); carol and dave are as on an
        # old host that kept plain passwords (auth_password_format: plain),
        # converted to SCRAM-SHA-1 and SCRAM-SHA-256 at import
        for u in ("carol", "dave"):
            pw = P.PW[u]
            ej.pg.psql("UPDATE users SET password = '%s', serverkey = '', salt = '', "
                       "iterationcount = 0 WHERE username = '%s'"
                       % (pw.replace("'", "''"), u))
        yield ej.pg, state


@pytest.fixture(scope="module")
def target():
    pg = PgCluster()
    s = XmppServer(pg, start=False, extra=MUC)
    yield s, pg
    s.destroy()
    pg.destroy()


def count(pg, table):
    return int(pg.psql("SELECT count(*) FROM %s" % table).strip())


def test_dry_run_writes_nothing(source, target):
    src, _ = source
    s, pg = target
    r = s.ctl("import", "ejabberd", "--from", src.conninfo, "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "dry run" in r.stdout
    assert "accounts                        4" in r.stdout.replace("would be", "")
    assert count(pg, "users") == 0 and count(pg, "mam_archive") == 0


def test_import_then_clients_find_everything(source, target):
    src, state = source
    s, pg = target
    r = s.ctl("import", "ejabberd", "--from", src.conninfo)
    assert r.returncode == 0, r.stderr
    lines = {l.split("  ")[0]: l.split()[-2:] for l in r.stdout.splitlines()[2:]
             if "  " in l}
    assert lines["accounts"] == ["4", "0"]
    assert lines["archived messages"] == [str(len(state["alice_ids"]) +
                                              len(state["bob_ids"]) + P.OFFLINE), "0"]
    assert lines["offline messages"] == [str(P.OFFLINE), "0"]
    assert lines["rooms"] == ["1", "0"]
    # the one thing left out: the subject change, kept as the room's subject
    assert "a subject change" in r.stderr
    assert "import: 5/5 accounts and rooms" in r.stderr
    # dave's request to alice, unanswered, is still pending
    assert pg.psql("SELECT ask_in, visible FROM roster WHERE username = 'alice' "
                   "AND jid = 'dave@localhost'").strip() == "t|f"
    # ejabberd's stanza-ids are unique per archive, ours in the table: the
    # two copies of one message may share a microsecond, and the import
    # stores the second at the next free id and says so (that client
    # re-reads one message); the archives are then those ids
    expect = dict(state)
    for m in re.finditer(r"note: (\w+)@localhost: archive id (\d+) is another "
                         r"archive's: stored as (\d+)", r.stderr):
        key = m.group(1) + "_ids"
        expect[key] = sorted(((m.group(3) if i == m.group(2) else i), b)
                             for i, b in expect[key])
    s.start()
    try:
        arun(P.verify(s.port, expect), timeout=120)
    finally:
        s.stop()


def test_rerun_skips_what_is_there(source, target):
    src, _ = source
    s, pg = target
    before = count(pg, "mam_archive")
    r = s.ctl("import", "ejabberd", "--from", src.conninfo)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("already in xmpp-core") == 5
    assert count(pg, "mam_archive") == before


def test_sha1_only_accounts_upgrade(source, target):
    """ejabberd's SCRAM-SHA-1-only accounts: SCRAM-SHA-256 is not offered
    while some account lacks its keys (an exchange that cannot succeed);
    a PLAIN login makes the missing keys, after which it is offered."""
    s, pg = target
    assert pg.psql("SELECT username FROM users WHERE sha256_stored IS NULL "
                   "ORDER BY 1").split() == ["alice", "bob"]
    s.start()
    try:
        async def go():
            c = await P.login(s.port, "alice", mech="SCRAM-SHA-1")
            await disconnect(c)
            with pytest.raises(AssertionError):
                await P.login(s.port, "alice", mech="SCRAM-SHA-256", timeout=5)
            for u in ("alice", "bob"):
                c = await P.login(s.port, u, mech="PLAIN")
                await disconnect(c)
            await asyncio.sleep(1)
            assert pg.psql("SELECT count(*) FROM users WHERE sha256_stored IS NULL "
                           "OR sha1_stored IS NULL").strip() == "0"
            for u in P.PW:
                c = await P.login(s.port, u, mech="SCRAM-SHA-256")
                await disconnect(c)
            c = await P.login(s.port, "alice", mech="SCRAM-SHA-1")
            await disconnect(c)
            with pytest.raises(AssertionError):
                await connect("alice@localhost", "wrong password", s.port,
                              mech="PLAIN", timeout=5)
        arun(go(), timeout=120)
    finally:
        s.stop()
