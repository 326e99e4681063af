"""xmpp-core issue 16: half-broken sources and interrupted imports.

ejabberd's own schema (pg.new.sql, as Debian's ejabberd 23.01 ships it)
and Prosody 0.12's mod_storage_sql tables, filled by SQL: beside good
rows, rows of accounts that do not exist, invalid JIDs, an oversized
vCard, the same archive id twice in one archive and in two, stanzas
that do not parse.  The
import takes what is valid, names every row it leaves out, and the
target holds exactly the valid rows.  Then a larger source whose import
is killed (SIGKILL) part way: every account in the target is whole or
absent, and the next run imports the rest (what is there is skipped).
(The Prosody reader's broken rows are in test_xmpp_import_prosody.py,
with a real Prosody; this file adds what that one has not.)"""

import os
import signal
import subprocess
import time

import pytest

from edgetest import san_env
from pgcluster import PgCluster
from xmpptest import XmppServer, arun, binary, connect, disconnect

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/share/ejabberd/sql/pg.new.sql"),
                                reason="ejabberd's SQL schema is not installed")

EVE_PW = "eve's plain password 5"
ACCOUNTS = 200		# the interrupted imports: per source
ARCHIVE = 200		# archived messages per account
ROSTER = 20

# as Prosody 0.12's mod_storage_sql creates them
PROSODY_SCHEMA = """
CREATE TABLE prosody (host TEXT NOT NULL, "user" TEXT NOT NULL, store TEXT NOT NULL,
  key TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL);
CREATE UNIQUE INDEX prosody_index ON prosody (host, "user", store, key);
CREATE TABLE prosodyarchive (sort_id BIGSERIAL PRIMARY KEY, host TEXT NOT NULL,
  "user" TEXT NOT NULL, store TEXT NOT NULL, key TEXT NOT NULL, "when" INTEGER NOT NULL,
  "with" TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL);
CREATE UNIQUE INDEX prosodyarchive_index ON prosodyarchive (host, "user", store, key);
CREATE INDEX prosodyarchive_with_when ON prosodyarchive (host, "user", store, "with", "when");
CREATE INDEX prosodyarchive_when ON prosodyarchive (host, "user", store, "when");
"""


def q(s):
    return s.replace("'", "''")


def msg(to, body):
    return ("<message xmlns='jabber:client' to='%s' from='eve@localhost/r' type='chat'>"
            "<body>%s</body></message>" % (to, body))


def ej_row(table, **cols):
    names = ", ".join('"%s"' % k for k in cols)
    vals = ", ".join("'%s'" % q(str(v)) if not str(v).startswith("=") else str(v)[1:]
                     for v in cols.values())
    return "INSERT INTO %s (%s) VALUES (%s);" % (table, names, vals)


def broken_ejabberd(src):
    """eve (a plain password, as an old host kept them) with good and
    broken rows; an account no JID allows; rows of one that is gone."""
    ros = dict(server_host="localhost", nick="", ask="N", askmessage="", server="N",
               subscribe="", type="item")
    arch = dict(username="eve", server_host="localhost", txt="", kind="chat", nick="")
    sql = [
        ej_row("users", username="eve", server_host="localhost", password=EVE_PW),
        ej_row("users", username="Bad User", server_host="localhost", password="x 123456"),
        ej_row("users", username="frank", server_host="elsewhere.example",
               password="frank 123456"),
        ej_row("rosterusers", username="eve", jid="bob@localhost", subscription="B", **ros),
        ej_row("rosterusers", username="eve", jid="not a jid@@", subscription="B", **ros),
        ej_row("rostergroups", username="eve", server_host="localhost", jid="bob@localhost",
               grp="Pals"),
        ej_row("rostergroups", username="eve", server_host="localhost", jid="nobody@localhost",
               grp="Lost"),
        # a vCard over [vcard] max_size (64 KiB)
        "INSERT INTO vcard (username, server_host, vcard) VALUES ('eve', 'localhost', "
        "'<vCard xmlns=''vcard-temp''><FN>' || repeat('E', 100000) || '</FN></vCard>');",
        ej_row("private_storage", username="eve", server_host="localhost",
               namespace="storage:rosternotes",
               data="<notes xmlns='storage:rosternotes'><note"),
        ej_row("archive", timestamp=1700000000000001, peer="bob@localhost/r",
               bare_peer="bob@localhost", xml=msg("bob@localhost", "eve 1"), **arch),
        # the same row (ejabberd's timestamp and message) twice
        ej_row("archive", timestamp=1700000000000001, peer="bob@localhost/r",
               bare_peer="bob@localhost", xml=msg("bob@localhost", "eve 1"), **arch),
        ej_row("archive", timestamp=1700000000000002, peer="bob@localhost/r",
               bare_peer="bob@localhost", xml="<message><body>", **arch),
        ej_row("archive", timestamp=1700000000000003, peer="not a jid@@",
               bare_peer="not a jid@@", xml=msg("bob@localhost", "eve 3"), **arch),
        ej_row("archive", timestamp=1700000000000004, peer="bob@localhost/r",
               bare_peer="bob@localhost", xml=msg("bob@localhost", "eve 4"), **arch),
        # another message at the same time (ejabberd's sender and recipient
        # processes each take one): kept, a microsecond on
        ej_row("archive", timestamp=1700000000000004, peer="bob@localhost/r",
               bare_peer="bob@localhost", xml=msg("bob@localhost", "eve 4 too"), **arch),
        # fred's archive holds eve's id too (one message, both archives):
        # ids are unique per archive, so both keep it
        ej_row("users", username="fred", server_host="localhost", password="fred's 123456"),
        ej_row("archive", username="fred", server_host="localhost",
               timestamp=1700000000000004, peer="eve@localhost/r", bare_peer="eve@localhost",
               xml=msg("fred@localhost", "eve 4"), txt="", kind="chat", nick=""),
        ej_row("spool", username="eve", server_host="localhost", xml="<presence/>"),
        ej_row("spool", username="eve", server_host="localhost",
               xml=msg("eve@localhost", "waiting")),
        # rows of an account that is gone
        ej_row("rosterusers", username="ghost", jid="eve@localhost", subscription="B", **ros),
        ej_row("vcard", username="ghost", server_host="localhost",
               vcard="<vCard xmlns='vcard-temp'/>"),
        ej_row("archive", username="ghost", server_host="localhost",
               timestamp=1700000000000009, peer="eve@localhost", bare_peer="eve@localhost",
               xml=msg("eve@localhost", "boo"), txt="", kind="chat", nick=""),
    ]
    src.psql("\n".join(sql), db="ejabberd")


def fill_ejabberd(src, prefix):
    """ACCOUNTS accounts with SCRAM-SHA-1 keys, ROSTER items and ARCHIVE
    messages each, as bench_import.sh makes them."""
    src.psql("""
INSERT INTO users (username, server_host, password, serverkey, salt, iterationcount)
  SELECT '{p}' || i, 'localhost', 'eW716XAqPTyX0wArs5l7eN9/UAY=',
         '8GXVGIdYYlWZOS1UluuPm8L+98E=', '5qRs7X0Ew66L/u+PDOwYKg==', 4096
  FROM generate_series(1, {n}) i;
INSERT INTO rosterusers (username, server_host, jid, nick, subscription, ask, askmessage,
                         server, subscribe, type)
  SELECT '{p}' || i, 'localhost', 'c' || j || '@example.org', 'C ' || j, 'B', 'N', '', 'N',
         '', 'item' FROM generate_series(1, {n}) i, generate_series(1, {r}) j;
INSERT INTO archive (username, server_host, timestamp, peer, bare_peer, xml, txt, kind, nick)
  SELECT '{p}' || i, 'localhost', 1710000000000000 + i::bigint * 1000000 + j,
         'c1@example.org/r', 'c1@example.org',
         '<message xmlns=''jabber:client'' from=''c1@example.org/r'' type=''chat''>'
         || '<body>' || j || '</body></message>', '', 'chat', ''
  FROM generate_series(1, {n}) i, generate_series(1, {a}) j;
""".format(p=prefix, n=ACCOUNTS, r=ROSTER, a=ARCHIVE), db="ejabberd")


def fill_prosody(src, prefix):
    src.psql("""
INSERT INTO prosody SELECT 'localhost', '{p}' || i, 'accounts', k, t, v FROM
  generate_series(1, {n}) i, (VALUES
  ('stored_key', 'string', '43f02ef5cc868a669709b24a6b6a405a508c40d6'),
  ('server_key', 'string', 'ed247114246efdf54df785e8b32b21e0e033c1d1'),
  ('salt', 'string', 'b173a4a1-a5b8-42e2-a088-18c3b5b78ed8'),
  ('iteration_count', 'number', '10000')) AS a(k, t, v);
INSERT INTO prosody SELECT 'localhost', '{p}' || i, 'roster', 'c' || j || '@example.org',
  'json', '{{"subscription":"both","groups":{{}}}}'
  FROM generate_series(1, {n}) i, generate_series(1, {r}) j;
INSERT INTO prosodyarchive (host, "user", store, key, "when", "with", type, value)
  SELECT 'localhost', '{p}' || i, 'archive', md5(i || '/' || j), 1710000000 + j,
         'c1@example.org', 'xml', '<message xmlns=''jabber:client'' from=''c1@example.org/r'' '
         || 'type=''chat''><body>' || j || '</body></message>'
  FROM generate_series(1, {n}) i, generate_series(1, {a}) j;
""".format(p=prefix, n=ACCOUNTS, r=ROSTER, a=ARCHIVE), db="prosody")


@pytest.fixture(scope="module")
def src():
    pg = PgCluster(dbname="ejabberd")
    try:
        pg.psql("CREATE DATABASE prosody", db="postgres")
        with open("/usr/share/ejabberd/sql/pg.new.sql") as f:
            pg.psql(f.read(), db="ejabberd")
        pg.psql(PROSODY_SCHEMA, db="prosody")
        yield pg
    finally:
        pg.destroy()


@pytest.fixture(scope="module")
def target():
    pg = PgCluster()
    s = XmppServer(pg, start=False)
    yield s, pg
    s.destroy()
    pg.destroy()


def conninfo(src, db):
    return "host=%s port=%d dbname=%s user=postgres" % (src.dir, src.port, db)


def summary(out):
    return {l.split("  ")[0]: l.split()[-2:] for l in out.splitlines()[2:] if "  " in l}


def rows(pg, sql):
    return pg.psql(sql).split()


def test_broken_ejabberd_source(src, target):
    broken_ejabberd(src)
    s, pg = target
    r = s.ctl("import", "ejabberd", "--from", conninfo(src, "ejabberd"))
    assert r.returncode == 0, r.stderr
    err = r.stderr
    n = summary(r.stdout)
    assert n["accounts"] == ["2", "2"], r.stdout
    for why in ('Bad User@localhost: "Bad User" is not a valid (normalised) JID localpart',
                "frank@elsewhere.example: elsewhere.example is not a host of this server",
                'roster item "not a jid@@": not a valid bare JID',
                'group "Lost" of nobody@localhost: no such roster item',
                "over [vcard] max_size",
                'private XML "storage:rosternotes": does not parse',
                "archive id 1700000000000001 twice: the second copy left out",
                "archive id 1700000000000002: not a message stanza",
                'archive id 1700000000000003: peer "not a jid@@" is not a valid JID',
                "offline message: not a message stanza",
                "1 rows of rosterusers for ghost@localhost: no such account",
                "1 rows of vcard for ghost@localhost: no such account",
                "1 rows of archive for ghost@localhost: no such account"):
        assert why in err, (why, err)
    assert "another archive's" not in err, err
    # every skipped row is one report line, and the summary counts them
    skipped = sum(int(v[1]) for v in n.values())
    assert skipped == err.count("xmppctl import: skipped "), (r.stdout, err)
    # the target holds exactly eve's valid rows
    assert rows(pg, "SELECT username FROM users ORDER BY 1") == ["eve", "fred"]
    assert rows(pg, "SELECT jid || ':' || array_to_string(groups, ',') FROM roster") == \
        ["bob@localhost:Pals"]
    assert rows(pg, "SELECT username || ':' || id FROM mam_archive ORDER BY id, 1") == \
        ["eve:1700000000000001", "eve:1700000000000004", "fred:1700000000000004",
         "eve:1700000000000005"]
    assert rows(pg, "SELECT id FROM mam_archive WHERE stanza LIKE '%eve 4 too%'") == \
        ["1700000000000005"]
    assert rows(pg, "SELECT count(*) FROM vcard") == ["0"]
    assert rows(pg, "SELECT count(*) FROM private_storage") == ["0"]
    assert rows(pg, "SELECT count(*) FROM offline") == ["1"]
    s.start()
    try:
        async def go():
            c = await connect("eve@localhost", EVE_PW, s.port, mech="SCRAM-SHA-1")
            await disconnect(c)
        arun(go(), timeout=30)
    finally:
        s.stop()


def interrupted(s, pg, source, conn, prefix):
    """Kills the import part way (once some accounts are in), checks
    that each account is whole or absent, runs it again to the end."""
    user_like = "username LIKE '%s%%'" % prefix
    p = subprocess.Popen([binary("xmppctl"), "-c", s.conf, "import", source, "--from", conn],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env=san_env(os.environ))
    try:
        deadline = time.time() + 120
        while int(pg.psql("SELECT count(*) FROM users WHERE " + user_like)) < 10:
            assert p.poll() is None, "the import ended before it was interrupted"
            assert time.time() < deadline, "no account imported in time"
            time.sleep(0.05)
        p.send_signal(signal.SIGKILL)
    finally:
        p.wait()
    assert p.returncode == -signal.SIGKILL
    done = int(pg.psql("SELECT count(*) FROM users WHERE " + user_like))
    assert 10 <= done < ACCOUNTS, done
    # one transaction per account: nothing of one that was cut
    per = pg.psql("SELECT u.username, (SELECT count(*) FROM roster r WHERE r.username = "
                  "u.username), (SELECT count(*) FROM mam_archive a WHERE a.username = "
                  "u.username) FROM users u WHERE u." + user_like).split()
    assert len(per) == done and all(l.endswith("|%d|%d" % (ROSTER, ARCHIVE)) for l in per), per
    assert int(pg.psql("SELECT count(*) FROM mam_archive WHERE " + user_like)) == \
        done * ARCHIVE
    r = s.ctl("import", source, "--from", conn)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("already in xmpp-core") == done, r.stderr
    n = summary(r.stdout)
    assert n["accounts"] == [str(ACCOUNTS - done), str(done)], r.stdout
    assert int(pg.psql("SELECT count(*) FROM users WHERE " + user_like)) == ACCOUNTS
    assert int(pg.psql("SELECT count(*) FROM mam_archive WHERE " + user_like)) == \
        ACCOUNTS * ARCHIVE
    assert int(pg.psql("SELECT count(*) FROM roster WHERE " + user_like)) == ACCOUNTS * ROSTER
    assert pg.psql("SELECT count(DISTINCT (owner, id)) = count(*) FROM mam_archive").strip() == "t"


def test_interrupted_ejabberd_import_resumes(src, target):
    s, pg = target
    fill_ejabberd(src, "ej")
    src.psql("DELETE FROM users WHERE username IN ('eve', 'fred', 'Bad User', 'frank'); "
             "DELETE FROM rosterusers WHERE NOT username LIKE 'ej%'; "
             "DELETE FROM archive WHERE NOT username LIKE 'ej%'; "
             "DELETE FROM vcard; DELETE FROM spool; DELETE FROM private_storage; "
             "DELETE FROM rostergroups", db="ejabberd")
    interrupted(s, pg, "ejabberd", conninfo(src, "ejabberd"), "ej")


def test_interrupted_prosody_import_resumes(src, target):
    s, pg = target
    fill_prosody(src, "pr")
    interrupted(s, pg, "prosody", conninfo(src, "prosody"), "pr")
