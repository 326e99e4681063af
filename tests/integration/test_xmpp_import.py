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
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

import importpeers as P
from pgcluster import PgCluster
from xmpptest import XmppServer, arun, connect, disconnect, online, recv

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
        # ejabberd's own XEP-0227 export, while it runs (it is a command to
        # the live node), for test_ejabberd_export_piefxis
        state["piefxis"] = export_piefxis(ej)
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


def export_piefxis(ej):
    """`ejabberdctl export_piefxis DIR`: the files it wrote (a main file
    xi:including one file per host)."""
    out = os.path.join(ej.dir, "piefxis")
    pw = pwd.getpwnam("ejabberd")
    os.makedirs(out)
    os.chown(out, pw.pw_uid, pw.pw_gid)
    r = subprocess.run(["ejabberdctl", "--config-dir", ej.dir, "--ctl-config",
                        os.path.join(ej.dir, "ejabberdctl.cfg"), "--node", ej.node,
                        "export_piefxis", out], user=pw.pw_uid, group=pw.pw_gid,
                       env=dict(ej.env, HOME=ej.dir), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    files = {}
    for n in os.listdir(out):
        with open(os.path.join(out, n)) as f:
            files[n] = f.read()
    return files


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
    # every message, also two that ejabberd gave one time in one archive
    # (the later goes a microsecond on: see same_archive)
    assert lines["archived messages"] == [str(len(state["alice_ids"]) +
                                              len(state["bob_ids"]) + P.OFFLINE), "0"], r.stderr
    assert lines["offline messages"] == [str(P.OFFLINE), "0"]
    assert lines["rooms"] == ["1", "0"]
    # the one thing left out: the subject change, kept as the room's subject
    assert "a subject change" in r.stderr
    assert "import: 5/5 accounts and rooms" in r.stderr
    # dave's request to alice, unanswered, is still pending
    assert pg.psql("SELECT ask_in, visible FROM roster WHERE username = 'alice' "
                   "AND jid = 'dave@localhost'").strip() == "t|f"
    # ejabberd's stanza-ids are unique per archive, and so are ours: the
    # two copies of one message keep ejabberd's id even when they share a
    # microsecond, so no client re-reads anything
    assert "another archive's" not in r.stderr, r.stderr
    expect = dict(state)
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


def test_ejabberd_export_piefxis(source):
    """ejabberd's XEP-0227 export (export_piefxis: a main file that
    xi:includes the host's file; the SCRAM keys base64 of the base64 text
    ejabberd keeps) read by `xmppctl import xep0227` into another
    xmpp-core: the same passwords, rosters, vCard, private XML, offline
    messages."""
    _, state = source
    tmp = tempfile.mkdtemp(prefix="edge-piefxis-")
    pg = PgCluster()
    s = XmppServer(pg, start=False)
    try:
        main = None
        for n, text in state["piefxis"].items():
            with open(os.path.join(tmp, n), "w") as f:
                f.write(text)
            if "xi:include" in text and "<user " not in text:
                main = os.path.join(tmp, n)
        assert main, list(state["piefxis"])
        r = s.ctl("import", "xep0227", main)
        assert r.returncode == 0, r.stderr
        n = {l.split("  ")[0]: l.split()[-2:] for l in r.stdout.splitlines()[2:] if "  " in l}
        assert n["accounts"] == ["4", "0"], r.stdout
        assert n["offline messages"] == [str(P.OFFLINE), "0"], r.stdout
        s.start()

        async def go():
            a = await P.login(s.port, "alice", mech="SCRAM-SHA-1")
            await a.get_roster()
            r = P.roster_of(a)
            assert r["bob@localhost"][0] == "both" and r["bob@localhost"][2] == ["Friends", "Work"]
            vc = await P.iq(a, "get", "<vCard xmlns='vcard-temp'/>")
            assert P.base64.b64decode(vc.xml.find(".//{vcard-temp}BINVAL").text) == P.AVATAR
            priv = await P.iq(a, "get", "<query xmlns='jabber:iq:private'><notes "
                              "xmlns='storage:rosternotes'/></query>")
            assert priv.xml.find(".//{storage:rosternotes}note").text == "met at FOSDEM"
            await disconnect(a)
            # carol and dave had plain passwords in ejabberd's SQL only after
            # the export: they log in with the SCRAM keys ejabberd exported
            c = await P.login(s.port, "carol", mech="SCRAM-SHA-1")
            await online(c)
            got = [(await recv(c.messages, 10))["body"] for _ in range(P.OFFLINE)]
            assert got == ["offline %d" % i for i in range(P.OFFLINE)]
            await disconnect(c)
            with pytest.raises(AssertionError):
                await connect("bob@localhost", "not bob's password", s.port,
                              mech="SCRAM-SHA-1", timeout=5)
        arun(go(), timeout=90)
    finally:
        s.destroy()
        pg.destroy()
        shutil.rmtree(tmp, ignore_errors=True)
