"""xmpp-core issue 18: a live host's archive survives the schema change
that keys the archive on an integer account key (migrations 005 and 023).

A database made by the schema before them (every migration but those two
applied, archive rows written as the old server wrote them: ids unique in
the table, the indexes on (host, username)) is handed to the current
xmpp-core, which migrates it at start-up.  Then, with real clients: the
old archive pages as before (the same ids, counts, order, `with`
filters), a new message is archived after the old ones, an archive id
that another archive also holds is accepted now (ids are unique per
archive), and removing an account removes its archive and nothing else.
While a migration runs, systemd's start time-out is extended (a large
archive takes seconds per million rows to rewrite)."""

import glob
import os
import re

import pytest

from edgetest import REPO
from pgcluster import PgCluster
from xmpptest import Raw, XmppServer

PW = "upgrade horse battery staple 23"
NEW = ("005_account_key", "023_mam_owner_key", "024_mam_counted",
       "025_mam_expiry_by_owner")
OLD_MSGS = 30


def migrations():
    files = glob.glob(os.path.join(REPO, "xmpp-core", "core", "db", "sql", "*.sql"))
    files += glob.glob(os.path.join(REPO, "xmpp-core", "*", "sql", "*.sql"))
    return sorted(set(files), key=os.path.basename)


@pytest.fixture(scope="module")
def keys():
    """SCRAM keys made by xmppctl on a throw-away database (the current
    schema), to be copied into the old one."""
    tmpl = PgCluster()
    try:
        s = XmppServer(tmpl, start=False)
        try:
            for u in ("upa", "upb", "upc"):
                s.adduser(u, PW)
        finally:
            s.destroy()
        cols = ("host, username, sha1_salt, sha1_iter, sha1_stored, sha1_server, "
                "sha256_salt, sha256_iter, sha256_stored, sha256_server")
        out = tmpl.psql("SELECT %s FROM users ORDER BY username" % cols)
        yield cols, [ln.split("|") for ln in out.split("\n") if ln]
    finally:
        tmpl.destroy()


@pytest.fixture(scope="module")
def old_db(keys):
    pg = PgCluster()
    pg.psql("CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
    applied = 0
    for f in migrations():
        name = os.path.basename(f)[:-4]
        if name in NEW:
            continue
        with open(f) as fh:
            pg.psql(fh.read())
        pg.psql("INSERT INTO schema_migrations (version, name) VALUES (%d, '%s')"
                % (int(name.split("_")[0]), name))
        applied += 1
    assert applied >= 15
    assert "mam_archive_pkey" in pg.psql("SELECT indexname FROM pg_indexes "
                                         "WHERE tablename = 'mam_archive'")
    cols, rows = keys
    for r in rows:
        pg.psql("INSERT INTO users (%s) VALUES (%s)" % (cols, ", ".join(
            "'%s'" % v if not v.isdigit() else v for v in r)))
    # the old server's rows: OLD_MSGS messages upa -> upb an hour ago, each
    # in both archives under ids of its own, and one upc <-> upb message
    base = 1765000000000000
    pg.psql("""
INSERT INTO mam_archive (id, host, username, with_bare, with_res, outgoing, stanza)
SELECT %(b)d + 2 * g, 'localhost', 'upa', 'upb@localhost', 'r', true,
       '<message xmlns=''jabber:client'' from=''upa@localhost/r'' to=''upb@localhost'' '
       || 'type=''chat''><body>old ' || g || '</body></message>'
FROM generate_series(0, %(n)d - 1) g
UNION ALL
SELECT %(b)d + 2 * g + 1, 'localhost', 'upb', 'upa@localhost', 'r', false,
       '<message xmlns=''jabber:client'' from=''upa@localhost/r'' to=''upb@localhost'' '
       || 'type=''chat''><body>old ' || g || '</body></message>'
FROM generate_series(0, %(n)d - 1) g
UNION ALL
SELECT %(b)d + 1000, 'localhost', 'upc', 'upb@localhost', 'r', true,
       '<message xmlns=''jabber:client'' from=''upc@localhost/r'' to=''upb@localhost'' '
       || 'type=''chat''><body>from c</body></message>';
INSERT INTO mam_stats (host, username, messages)
    SELECT host, username, count(*) FROM mam_archive GROUP BY 1, 2;
INSERT INTO mam_with_stats (host, username, with_bare, messages)
    SELECT host, username, with_bare, count(*) FROM mam_archive GROUP BY 1, 2, 3;
""" % {"b": base, "n": OLD_MSGS})
    yield pg, base
    pg.destroy()


def query(raw, qid, extra="", rsm="<set xmlns='http://jabber.org/protocol/rsm'>"
          "<max>10</max></set>"):
    raw.send("<iq type='set' id='%s'><query xmlns='urn:xmpp:mam:2' queryid='%s'>%s%s"
             "</query></iq>" % (qid, qid, extra, rsm))
    text = raw.recv_until("</fin>", 20)
    text += raw.recv_until("</iq>", 5) if "</iq>" not in text.split("</fin>")[-1] else ""
    ids = re.findall(r"<result[^>]*queryid='%s'[^>]*id='(\d+)'|<result[^>]*id='(\d+)'"
                     r"[^>]*queryid='%s'" % (qid, qid), text)
    ids = [a or b for a, b in ids]
    count = re.search(r"<count>(\d+)</count>", text)
    bodies = re.findall(r"<body>([^<]*)</body>", text)
    return ids, int(count.group(1)) if count else None, bodies, text


def with_form(jid):
    return ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
            "<value>urn:xmpp:mam:2</value></field><field var='with'><value>%s</value>"
            "</field></x>" % jid)


def test_old_archive_after_the_upgrade(old_db):
    pg, base = old_db
    s = XmppServer(pg, start=False)
    try:
        s.start()
        log = s.daemon.log()
        for name in NEW:
            assert "applied migration %s" % name in log, log
            # systemd's start time-out is extended while a migration runs
            assert any("EXTEND_TIMEOUT_USEC=" in n and "migration %s" % name in n
                       for n in s.daemon.notifications), s.daemon.notifications
        idx = pg.psql("SELECT indexname FROM pg_indexes WHERE tablename = 'mam_archive' "
                      "ORDER BY 1").split()
        assert idx == ["mam_archive_owner_id", "mam_archive_owner_with"], idx
        assert pg.psql("SELECT count(*) FROM mam_archive WHERE owner IS NULL").strip() == "0"
        # the old rows page as before: ids, order, counts, bodies
        a = Raw(s.port)
        a.session("upa", PW)
        ids, count, bodies, text = query(a, "q1")
        assert count == OLD_MSGS, text
        assert ids == [str(base + 2 * g) for g in range(10)], text
        assert bodies == ["old %d" % g for g in range(10)], text
        ids, count, bodies, text = query(
            a, "q2", rsm="<set xmlns='http://jabber.org/protocol/rsm'><max>5</max>"
            "<before/></set>")
        assert ids == [str(base + 2 * g) for g in range(OLD_MSGS - 5, OLD_MSGS)], text
        b = Raw(s.port)
        b.session("upb", PW)
        ids, count, bodies, text = query(b, "q3", extra=with_form("upa@localhost"))
        assert count == OLD_MSGS and ids == [str(base + 2 * g + 1) for g in range(10)], text
        ids, count, bodies, text = query(b, "q4", extra=with_form("upc@localhost"))
        assert count == 0 and ids == [], text
        # a new message goes in after the old ones, in both archives
        a.send("<message to='upb@localhost' type='chat' id='n1'><body>new one</body>"
               "</message>")
        assert "new one" in b.recv_until("</message>", 10)
        ids, count, bodies, text = query(
            a, "q5", rsm="<set xmlns='http://jabber.org/protocol/rsm'><max>1</max>"
            "<before/></set>")
        assert count == OLD_MSGS + 1 and bodies == ["new one"], text
        assert int(ids[0]) > base + 1000, text
        # ids are unique per archive now: upc's archive may hold an id that
        # upa's holds too (an import from ejabberd keeps such ids)
        pg.psql("INSERT INTO mam_archive (id, host, username, owner, with_bare, with_res, "
                "outgoing, stanza) SELECT %d, 'localhost', 'upc', uid, 'upa@localhost', '', "
                "true, '<message xmlns=''jabber:client'' to=''upa@localhost'' "
                "type=''chat''><body>same id</body></message>' FROM users "
                "WHERE username = 'upc'" % base)
        # the same id twice in one archive is still refused
        with pytest.raises(RuntimeError, match="mam_archive_owner_id"):
            pg.psql("INSERT INTO mam_archive (id, host, username, owner, with_bare, "
                    "with_res, outgoing, stanza) SELECT %d, 'localhost', 'upc', uid, "
                    "'upa@localhost', '', true, '<message/>' FROM users "
                    "WHERE username = 'upc'" % base)
        a.close()
        b.close()
        # removing an account removes its archive, and only its
        r = s.ctl("deluser", "upb@localhost")
        assert r.returncode == 0, r.stderr
        left = pg.psql("SELECT username, count(*) FROM mam_archive GROUP BY 1 ORDER BY 1")
        assert left.split() == ["upa|%d" % (OLD_MSGS + 1), "upc|2"], left
    finally:
        s.destroy()
