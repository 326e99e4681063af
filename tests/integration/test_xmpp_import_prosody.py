"""xmpp-core issue 16: moving a live Prosody host over.

A real Prosody 0.12 (Debian) on a real PostgreSQL (mod_storage_sql) is
populated by real slixmpp clients (importpeers.populate: accounts
registered in-band with internal_hashed, rosters with groups and pending
requests, a vCard with an avatar, private XML, bookmarks and OMEMO in PEP,
a blocklist, push, MAM, offline messages, a persistent room with members,
a subject and an archive); Prosody stops; `xmppctl import prosody` moves
everything into xmpp-core; the same clients log in with the same
passwords and find it all.  A few broken rows are added to the source
first (as a long-lived host has them): each is reported and the rest of
its account imported."""

import asyncio
import os
import pwd
import shutil
import subprocess
import sys

import pytest
import slixmpp

import importpeers as P
from pgcluster import PgCluster
from edgetest import free_port
from xmpptest import XmppServer, arun, connect, disconnect

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import xmppservers  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("prosody") is None,
                                reason="prosody is not installed")

MUC = "[muc]\nenabled = true\n"
# what a Prosody host serving Conversations-style clients loads
MODULES = ("mam", "vcard4", "vcard_legacy", "private", "blocklist", "pep", "bookmarks",
           "cloud_notify", "carbons", "smacks")
EXTRA = 'archive_expires_after = "never"\ndefault_archive_policy = true\n'
EVE_PW = "eve's plain password 5"


def q(s):
    return s.replace("'", "''")


def kv(host, user, store, key, typ, value):
    return ("INSERT INTO prosody (host, \"user\", store, key, type, value) VALUES "
            "('%s', '%s', '%s', '%s', '%s', '%s');" % (host, user, store, q(key), typ, q(value)))


def arch(user, store, key, when, with_, value, typ="xml"):
    return ("INSERT INTO prosodyarchive (host, \"user\", store, key, \"when\", \"with\", type, "
            "value) VALUES ('localhost', '%s', '%s', '%s', %d, '%s', '%s', '%s');"
            % (user, store, key, when, with_, typ, q(value)))


def break_source(pg):
    """eve: an account kept by internal_plain, with broken rows beside good
    ones; rows of an account that is gone; a localpart no JID allows."""
    sql = [
        kv("localhost", "eve", "accounts", "password", "string", EVE_PW),
        kv("localhost", "eve", "roster", "bob@localhost", "json",
           '{"name":"Bob","groups":{"Pals":true},"subscription":"none","ask":"subscribe"}'),
        kv("localhost", "eve", "roster", "not a jid@@", "json", '{"subscription":"both"}'),
        kv("localhost", "eve", "roster", "mallory@localhost", "json", '{"subscription": tru'),
        kv("localhost", "eve", "blocklist", "spam@example.org", "number", "1"),
        kv("localhost", "eve", "private", "x:jabber:x:broken", "json", '{"name":"x"'),
        # a vCard over [vcard] max_size (64 KiB), made by the server
        "INSERT INTO prosody (host, \"user\", store, key, type, value) VALUES "
        "('localhost', 'eve', 'vcard', '', 'json', '{\"name\":\"vCard\",\"attr\":"
        "{\"xmlns\":\"vcard-temp\"},\"__array\":[{\"name\":\"FN\",\"attr\":{},"
        "\"__array\":[\"' || repeat('E', 100000) || '\"]}]}');",
        arch("eve", "archive", "a0", 1700000000, "bob@localhost",
             "<message xmlns='jabber:client' to='bob@localhost' type='chat'>"
             "<body>eve 0</body></message>"),
        arch("eve", "archive", "a1", 1700000000, "bob@localhost", "<message><body>", "xml"),
        arch("eve", "archive", "a2", 1700000001, "bob@localhost",
             "<message xmlns='jabber:client' to='bob@localhost' type='chat'>"
             "<body>eve 2</body></message>"),
        kv("localhost", "ghost", "roster", "alice@localhost", "json", '{"subscription":"both"}'),
        arch("ghost", "archive", "g0", 1700000000, "alice@localhost", "<message/>"),
        kv("localhost", "Bad User", "accounts", "password", "string", "whatever 123456"),
    ]
    pg.psql("\n".join(sql))


@pytest.fixture(scope="module")
def source():
    """Prosody's database, populated, with Prosody stopped (the switch)."""
    with xmppservers.prosody(MODULES, EXTRA, sql=True,
                             components=xmppservers.PROSODY_MUC) as pr:
        state = arun(P.populate(pr.port), timeout=300)
        pr.stop()
        # carol is as on a host that ran internal_plain: a password, no keys
        pr.pg.psql("DELETE FROM prosody WHERE \"user\" = 'carol' AND store = 'accounts'; "
                   + kv("localhost", "carol", "accounts", "password", "string", P.PW["carol"]))
        break_source(pr.pg)
        yield pr.pg, state


@pytest.fixture(scope="module")
def target():
    pg = PgCluster()
    s = XmppServer(pg, start=False, extra=MUC)
    yield s, pg
    s.destroy()
    pg.destroy()


def count(pg, table):
    return int(pg.psql("SELECT count(*) FROM %s" % table).strip())


def conninfo(pg):
    return pg.conninfo		# the cluster's database is "prosody"


def summary(out):
    return {l.split("  ")[0]: l.split()[-2:] for l in out.splitlines()[2:] if "  " in l}


def test_dry_run_writes_nothing(source, target):
    src, _ = source
    s, pg = target
    r = s.ctl("import", "prosody", "--from", conninfo(src), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "dry run" in r.stdout
    assert summary(r.stdout)["accounts"] == ["5", "1"], r.stdout
    assert count(pg, "users") == 0 and count(pg, "mam_archive") == 0


def test_sqlite_source_is_refused_with_the_way(target):
    s, _ = target
    r = s.ctl("import", "prosody", "--from", "sqlite:/var/lib/prosody/prosody.sqlite")
    assert r.returncode == 1
    assert "prosody-migrator" in r.stderr


def test_import_then_clients_find_everything(source, target):
    src, state = source
    s, pg = target
    r = s.ctl("import", "prosody", "--from", conninfo(src))
    assert r.returncode == 0, r.stderr
    n = summary(r.stdout)
    assert n["accounts"] == ["5", "1"], r.stdout
    # alice's and bob's archives, carol's copies of her offline messages, eve's good two
    assert n["archived messages"] == [str(len(state["alice_ids"]) + len(state["bob_ids"]) +
                                          P.OFFLINE + 2), "1"], r.stdout
    assert n["offline messages"] == [str(P.OFFLINE), "0"]
    assert n["rooms"] == ["1", "0"]
    err = r.stderr
    assert "import: 7/7 accounts and rooms" in err, err
    # every broken row is named with its reason
    assert "Bad User@localhost" in err and "not a valid (normalised) JID localpart" in err, err
    assert 'roster item "not a jid@@": not a valid bare JID' in err, err
    assert "mallory@localhost: its JSON does not parse" in err, err
    assert "private XML" in err and "x:jabber:x:broken" in err, err
    assert "over [vcard] max_size" in err, err
    assert "archive id" in err and "not a message stanza" in err, err
    assert "ghost@localhost: 1 rows of store \"roster\": no such account" in err, err
    assert "ghost@localhost: 1 rows of store \"archive\": no such account" in err, err
    # eve's good rows are there
    assert pg.psql("SELECT jid, ask_out FROM roster WHERE username = 'eve'").split() == \
        ["bob@localhost|t"]
    assert count(pg, "blocklist WHERE username = 'eve'") == 1
    # dave's request to alice, unanswered, is still pending (not shown)
    assert pg.psql("SELECT ask_in, visible FROM roster WHERE username = 'alice' "
                   "AND jid = 'dave@localhost'").strip() == "t|f"
    assert pg.psql("SELECT jid, node FROM push_registrations WHERE username = 'alice'"
                   ).strip() == "push.example.net|n0de"
    # carol's offline messages name their archive copies by the new ids
    assert pg.psql("SELECT count(*) FROM offline o WHERE username = 'carol' AND "
                   "o.stanza LIKE '%urn:xmpp:sid:0%' AND EXISTS (SELECT 1 FROM "
                   "mam_archive a WHERE a.username = 'carol' AND o.stanza LIKE "
                   "'%' || a.id || '%')").strip() == str(P.OFFLINE)
    # mod_vcard_legacy's vcard4 and avatar PEP nodes made a vcard-temp again
    vc = pg.psql("SELECT data FROM vcard WHERE username = 'alice'")
    assert "<FN>Alice Liddell</FN>" in vc and "<NICKNAME>alice</NICKNAME>" in vc, vc
    # Prosody's roster version stays what clients cached
    assert int(pg.psql("SELECT roster_version FROM users WHERE username = 'alice'")) > 1
    s.start()
    try:
        arun(P.verify(s.port, state, same_ids=False), timeout=120)

        async def after():
            c = await connect("eve@localhost", EVE_PW, s.port, mech="SCRAM-SHA-1")
            await disconnect(c)
            # a client that synced with Prosody asks after its last UUID:
            # not an id of this archive (deploy/MIGRATION.md)
            a = await P.login(s.port, "alice")
            with pytest.raises(slixmpp.exceptions.IqError) as e:
                await P.iq(a, "set", "<query xmlns='%s'><set xmlns='http://jabber.org/"
                           "protocol/rsm'><after>%s</after></set></query>"
                           % (P.MAM2, state["alice_ids"][-1][0]))
            assert e.value.condition == "item-not-found"
            await disconnect(a)
        arun(after(), timeout=30)
    finally:
        s.stop()


def test_rerun_skips_what_is_there(source, target):
    src, _ = source
    s, pg = target
    before = count(pg, "mam_archive")
    r = s.ctl("import", "prosody", "--from", conninfo(src))
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("already in xmpp-core") == 6
    assert count(pg, "mam_archive") == before


def test_sha1_only_accounts_upgrade(source, target):
    """internal_hashed keeps SCRAM-SHA-1 only: that is what is offered
    until a PLAIN login makes the SHA-256 keys."""
    s, pg = target
    assert pg.psql("SELECT username FROM users WHERE sha256_stored IS NULL "
                   "ORDER BY 1").split() == ["alice", "bob", "dave"]
    s.start()
    try:
        async def go():
            c = await P.login(s.port, "alice", mech="SCRAM-SHA-1")
            await disconnect(c)
            with pytest.raises(AssertionError):
                await P.login(s.port, "alice", mech="SCRAM-SHA-256", timeout=5)
            for u in ("alice", "bob", "dave"):
                c = await P.login(s.port, u, mech="PLAIN")
                await disconnect(c)
            await asyncio.sleep(1)
            assert pg.psql("SELECT count(*) FROM users WHERE sha256_stored IS NULL "
                           "OR sha1_stored IS NULL").strip() == "0"
            for u in P.PW:
                c = await P.login(s.port, u, mech="SCRAM-SHA-256")
                await disconnect(c)
            with pytest.raises(AssertionError):
                await connect("bob@localhost", "wrong password", s.port,
                              mech="PLAIN", timeout=5)
        arun(go(), timeout=120)
    finally:
        s.stop()


# ---- Prosody's default file storage, moved to SQL by prosody-migrator ----

FILE_STORES = ('"accounts"; "roster"; "vcard"; "private"; "blocklist"; "archive_prefs"; '
               '"cloud_notify"; "pep-pubsub"; "archive-archive"; "offline-archive"')


def prosody_migrator(pr, source, dest):
    """prosody-migrator from the input store source to dest (their
    settings), as Prosody's user (which it runs as)."""
    pw = pwd.getpwnam("prosody")
    os.chmod(pr.dir, 0o711)
    for root, dirs, files in os.walk(os.path.join(pr.dir, "data")):
        for n in [root] + [os.path.join(root, x) for x in dirs + files]:
            os.chown(n, pw.pw_uid, pw.pw_gid)
    cfg = os.path.join(pr.dir, "migrator.cfg.lua")
    with open(cfg, "w") as f:
        f.write('input { hosts = { ["localhost"] = { %s } }; %s }\noutput { %s }\n'
                % (FILE_STORES, source, dest))
    os.chmod(cfg, 0o644)
    r = subprocess.run(["prosody-migrator", "--config=" + cfg, "input", "output"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Done!" in r.stdout + r.stderr, (r.stdout, r.stderr)


def migrate_to_sql(pr, pg, data=None):
    """prosody-migrator from Prosody's internal (file) store (in data, by
    default Prosody's own) to mod_storage_sql on PostgreSQL, the step
    deploy/MIGRATION.md gives for a host not on PostgreSQL."""
    prosody_migrator(pr, 'type = "internal"; path = "%s"' % (data or os.path.join(pr.dir, "data")),
                     'type = "sql"; driver = "PostgreSQL"; database = "prosody"; '
                     'host = "127.0.0.1"; port = %d; username = "postgres"' % pg.port)


@pytest.fixture(scope="module")
def filesource():
    pg = PgCluster(dbname="prosody", tcp_port=free_port())
    try:
        with xmppservers.prosody(MODULES, EXTRA) as pr:
            state = arun(P.populate(pr.port, muc=False), timeout=300)
            pr.stop()
            migrate_to_sql(pr, pg)
        yield pg, state
    finally:
        pg.destroy()


def test_file_storage_through_prosody_migrator(filesource):
    src, state = filesource
    pg = PgCluster()
    s = XmppServer(pg, start=False)
    try:
        r = s.ctl("import", "prosody", "--from", src.conninfo)
        assert r.returncode == 0, r.stderr
        assert summary(r.stdout)["accounts"] == ["4", "0"], r.stdout
        s.start()
        arun(P.verify(s.port, state, muc=False, same_ids=False), timeout=120)
    finally:
        s.destroy()
        pg.destroy()


# ---- Prosody on SQLite (lua-dbi-sqlite3), moved to PostgreSQL the same way ----

@pytest.fixture(scope="module")
def sqlitesource():
    if subprocess.run(["dpkg", "-s", "lua-dbi-sqlite3"], capture_output=True).returncode:
        pytest.skip("lua-dbi-sqlite3 is not installed")
    pg = PgCluster(dbname="prosody", tcp_port=free_port())
    try:
        sqlite = 'storage = "sql"\nsql = { driver = "SQLite3"; database = "prosody.sqlite" }\n'
        with xmppservers.prosody(MODULES, EXTRA + sqlite) as pr:
            state = arun(P.populate(pr.port, muc=False), timeout=300)
            pr.stop()
            db = os.path.join(pr.dir, "data", "prosody.sqlite")
            assert os.path.getsize(db) > 0
            # two steps: the migrator has one "sql" store per host, so it
            # cannot read one SQL database and write another (a run from
            # SQLite to PostgreSQL writes nothing): SQLite to files, files
            # to PostgreSQL
            files = os.path.join(pr.dir, "data", "files")
            os.makedirs(files)
            prosody_migrator(pr, 'type = "sql"; driver = "SQLite3"; database = "%s"' % db,
                             'type = "internal"; path = "%s"' % files)
            assert os.path.isdir(os.path.join(files, "localhost", "accounts"))
            migrate_to_sql(pr, pg, files)
        yield pg, state
    finally:
        pg.destroy()


def test_sqlite_storage_through_prosody_migrator(sqlitesource):
    src, state = sqlitesource
    pg = PgCluster()
    s = XmppServer(pg, start=False)
    try:
        r = s.ctl("import", "prosody", "--from", src.conninfo)
        assert r.returncode == 0, r.stderr
        assert summary(r.stdout)["accounts"] == ["4", "0"], r.stdout
        s.start()
        # the one loss: Prosody's SQL reader drops the false-valued keys
        # of archive_prefs (the "never" JIDs) on the way to the files
        arun(P.verify(s.port, state, muc=False, same_ids=False, never=False), timeout=120)
    finally:
        s.destroy()
        pg.destroy()
