"""xmpp-core issue 16: XEP-0227 (portable import/export) both ways.

A real Prosody 0.12 (Debian) on PostgreSQL is populated by real slixmpp
clients, stopped, and Prosody's own prosody-migrator writes its
accounts as XEP-0227 files (mod_storage_xep0227); `xmppctl import
xep0227` reads them into xmpp-core A, where the same clients log in with
the same passwords and find their data.  A then gets what Prosody's
files cannot carry (an offline message, a blocklist, a vCard change) from
clients, `xmppctl export --all` writes it as XEP-0227, and xmpp-core B
imports that file: B's tables equal A's (same SCRAM keys, same archive
ids and stanzas) and the clients find the same on B.  Broken files are
refused or imported as far as valid."""

import asyncio
import os
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

pytestmark = pytest.mark.skipif(shutil.which("prosody-migrator") is None,
                                reason="prosody is not installed")

MODULES = ("mam", "vcard4", "vcard_legacy", "private", "blocklist", "pep", "bookmarks",
           "cloud_notify", "carbons", "smacks")
EXTRA = 'archive_expires_after = "never"\ndefault_archive_policy = true\n'
# what mod_storage_xep0227 can write in Prosody 0.12
STORES = '"accounts"; "roster"; "private"; "vcard"; "pep-pubsub"; "archive-archive"'


def run_migrator(workdir, datadir, config, *flags):
    """prosody-migrator with config (its input and output stores).  Its
    XEP-0227 driver reads and writes the data directory compiled into
    the script (/var/lib/prosody), so a copy of the script with datadir
    as that directory is run: the system's stays untouched.  It runs as
    Prosody's user (it drops root like prosody does)."""
    if os.getuid() == 0:
        for d in (workdir, datadir):
            for root, dirs, files in os.walk(d):
                for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                    shutil.chown(n, "prosody", "prosody")
    script = os.path.join(workdir, "migrator.lua")
    with open("/usr/bin/prosody-migrator") as f:
        text = f.read()
    with open(script, "w") as f:
        f.write(text.replace("CFG_DATADIR='/var/lib/prosody';", "CFG_DATADIR='%s';" % datadir))
    cfg = os.path.join(workdir, "migrator.cfg.lua")
    with open(cfg, "w") as f:
        f.write(config)
    lua = text.splitlines()[0].split()[-1] if text.startswith("#!") else "lua5.4"
    r = subprocess.run([shutil.which(lua) or "lua5.4", script, *flags, "--config=" + cfg],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Done!" in r.stdout + r.stderr, (r.stdout, r.stderr)
    return r


def migrate(pg, outdir):
    """prosody-migrator from Prosody's SQL store to XEP-0227 files in outdir."""
    run_migrator(outdir, outdir,
                 'input { hosts = { ["localhost"] = { %s } }; type = "sql"; '
                 'driver = "PostgreSQL"; database = "prosody"; host = "%s"; port = %d; '
                 'username = "postgres" }\noutput { type = "xep0227" }\n'
                 % (STORES, pg.dir, pg.port))
    return sorted(os.path.join(outdir, n) for n in os.listdir(outdir) if n.endswith(".xml"))


@pytest.fixture(scope="module")
def pie():
    tmp = tempfile.mkdtemp(prefix="edge-pie-")
    try:
        with xmppservers.prosody(MODULES, EXTRA, sql=True) as pr:
            state = arun(P.populate(pr.port, muc=False), timeout=300)
            pr.stop()
            files = migrate(pr.pg, tmp)
        yield files, state, tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def server():
    pg = PgCluster()
    return XmppServer(pg, start=False), pg


@pytest.fixture(scope="module")
def a():
    s, pg = server()
    yield s, pg
    s.destroy()
    pg.destroy()


@pytest.fixture(scope="module")
def b():
    s, pg = server()
    yield s, pg
    s.destroy()
    pg.destroy()


def summary(out):
    return {l.split("  ")[0]: l.split()[-2:] for l in out.splitlines()[2:] if "  " in l}


def test_prosody_migrator_files(pie, a):
    files, state, _ = pie
    s, pg = a
    assert [os.path.basename(f) for f in files] == [
        "alice@localhost.xml", "bob@localhost.xml", "carol@localhost.xml", "dave@localhost.xml"]
    r = s.ctl("import", "xep0227", *files)
    assert r.returncode == 0, r.stderr
    n = summary(r.stdout)
    assert n["accounts"] == ["4", "0"], r.stdout
    assert n["archived messages"] == [str(len(state["alice_ids"]) + len(state["bob_ids"]) +
                                          P.OFFLINE), "0"], r.stdout
    assert pg.psql("SELECT ask_in, visible FROM roster WHERE username = 'alice' "
                   "AND jid = 'dave@localhost'").strip() == "t|f"
    s.start()
    try:
        async def go():
            c = await P.login(s.port, "alice", mech="SCRAM-SHA-1")
            await c.get_roster()
            r = P.roster_of(c)
            assert r["bob@localhost"][0] == "both" and r["bob@localhost"][2] == ["Friends", "Work"]
            assert r["carol@localhost"][0] == "none" and r["carol@localhost"][1]
            assert "dave@localhost" not in r
            P.same_archive(await P.mam_ids(c), state["alice_ids"], False)
            bm = await P.items(c, "alice@localhost", P.BOOKMARKS)
            assert [i.get("id") for i in bm] == [P.ROOM]
            priv = await P.iq(c, "get", "<query xmlns='jabber:iq:private'><notes "
                              "xmlns='storage:rosternotes'/></query>")
            assert priv.xml.find(".//{storage:rosternotes}note").text == "met at FOSDEM"
            d = await P.login(s.port, "bob", mech="SCRAM-SHA-1")
            dl = await P.items(d, "alice@localhost", P.OMEMO + ".devicelist")
            assert dl[0].find("{%s}list/{%s}device" % (P.OMEMO, P.OMEMO)).get("id") == \
                str(P.DEVICE)
            # mod_vcard_legacy kept the vCard as vcard4 and avatar PEP
            # nodes: the vcard-temp is made from them again
            vc = await P.iq(d, "get", "<vCard xmlns='vcard-temp'/>", to="alice@localhost")
            assert P.base64.b64decode(vc.xml.find(".//{vcard-temp}BINVAL").text) == P.AVATAR
            assert vc.xml.find(".//{vcard-temp}FN").text == "Alice Liddell"
            # what Prosody's files do not carry, made on A for the round trip
            await P.iq(c, "set", P.vcard_xml())
            await P.iq(c, "set", "<block xmlns='urn:xmpp:blocking'><item "
                       "jid='spammer@example.org'/></block>")
            d.send_message(mto="dave@localhost", mbody="waiting for dave", mtype="chat")
            await P.iq(d, "get", "<ping xmlns='urn:xmpp:ping'/>")
            await disconnect(c, d)
        arun(go(), timeout=120)
    finally:
        s.stop()
    assert pg.psql("SELECT count(*) FROM offline WHERE username = 'dave'").strip() == "1"


TABLES = {
    "users": "host, username, sha1_salt, sha1_iter, sha1_stored, sha1_server, "
             "sha256_salt, sha256_stored, roster_version",
    "roster": "username, jid, name, groups, sub_to, sub_from, ask_out, ask_in, visible",
    "mam_archive": "id, username, with_bare, with_res, outgoing, stanza",
    "private_storage": "username, namespace, data",
    "vcard": "username, data, avatar_hash",
    "blocklist": "username, jid",
    "offline": "username, stanza",
    "pubsub_node": "service, node, config, max_items",
}


def dump(pg, table):
    cols = TABLES[table]
    return pg.psql("SELECT %s FROM %s ORDER BY %s" % (cols, table, cols))


def test_export_then_import_into_another_server(pie, a, b):
    _, _, tmp = pie
    sa, pga = a
    sb, pgb = b
    out = os.path.join(tmp, "export.xml")
    r = sa.ctl("export", "--all", "--out", out)
    assert r.returncode == 0, r.stderr
    assert summary(r.stdout)["accounts"] == ["4", "0"], r.stdout
    assert os.stat(out).st_mode & 0o077 == 0	# it holds credentials
    r = sb.ctl("import", "xep0227", out)
    assert r.returncode == 0, r.stderr
    assert "skipped" not in r.stderr, r.stderr
    for t in TABLES:
        assert dump(pga, t) == dump(pgb, t), t
    assert pgb.psql("SELECT count(*) FROM pubsub_item").strip() == \
        pga.psql("SELECT count(*) FROM pubsub_item").strip() != "0"
    # one account alone
    one = os.path.join(tmp, "alice.xml")
    r = sa.ctl("export", "--user", "alice@localhost", "--out", one)
    assert r.returncode == 0, r.stderr
    with open(one) as f:
        text = f.read()
    assert "<user name='alice'>" in text and "<user name='bob'>" not in text
    assert "mechanism='SCRAM-SHA-1'" in text and "password" not in text
    r = sa.ctl("export", "--user", "nobody@localhost", "--out", one + ".x")
    assert r.returncode == 1 and "no account" in r.stderr
    assert not os.path.exists(one + ".x")
    sb.start()
    try:
        async def go():
            c = await P.login(sb.port, "alice", mech="SCRAM-SHA-1")
            vc = await P.iq(c, "get", "<vCard xmlns='vcard-temp'/>")
            assert vc.xml.find(".//{vcard-temp}NICKNAME").text == "alice"
            await disconnect(c)
            d = await P.login(sb.port, "dave")
            await online(d)
            m = await recv(d.messages, 10)
            assert m["body"] == "waiting for dave"
            assert m.xml.find("{urn:xmpp:delay}delay") is not None
            await disconnect(d)
        arun(go(), timeout=60)
    finally:
        sb.stop()


# ---- xmpp-core's export read by Prosody's and ejabberd's own tools ----

# mod_vcard (not mod_vcard_legacy): the vcard-temp the file carries is
# what Prosody's "vcard" store holds
TARGET_MODULES = ("mam", "vcard", "private", "pep", "bookmarks", "blocklist")
TARGET_STORES = '"accounts"; "roster"; "vcard"; "private"; "pep-pubsub"; "archive-archive"'


def archive_ids(pg, user):
    return pg.psql("SELECT id FROM mam_archive WHERE username = '%s' ORDER BY id" %
                   user).split()


def test_into_prosody_by_prosody_migrator(pie, a):
    """`xmppctl export --user` (one file per account, as Prosody's
    mod_storage_xep0227 keeps them) read by prosody-migrator into
    Prosody's file store: the users log in with their passwords and find
    roster (groups, pending both ways), vCard, private XML, PEP
    (bookmarks, OMEMO) and the archive under the same stanza-ids.  Not
    carried (Prosody's XEP-0227 driver has no store for them): offline
    messages, the blocklist, archive preferences."""
    _, state, tmp = pie
    sa, pga = a
    src = os.path.join(tmp, "to-prosody")
    os.makedirs(src)
    for u in P.PW:
        r = sa.ctl("export", "--user", u + "@localhost", "--out",
                   os.path.join(src, u + "@localhost.xml"))
        assert r.returncode == 0, r.stderr
    with xmppservers.prosody(TARGET_MODULES, EXTRA) as pr:
        pr.stop()
        data = os.path.join(pr.dir, "data")
        work, out = os.path.join(tmp, "migrator-in"), os.path.join(tmp, "prosody-data")
        os.makedirs(work)
        os.makedirs(out)
        if os.getuid() == 0:
            shutil.chown(out, "prosody", "prosody")
        # --keep-going: the driver has no host-wide archive (no file for
        # the host alone) and says so as an error; the users' stores follow
        r = run_migrator(work, src, 'input { hosts = { ["localhost"] = { %s } }; '
                         'type = "xep0227" }\noutput { type = "internal"; path = "%s" }\n'
                         % (TARGET_STORES, out), "--keep-going")
        errors = [l for l in (r.stdout + r.stderr).splitlines()
                  if re.match(r"\S+\s+error\s", l)]
        assert errors and all("no 227 user element found" in l for l in errors), errors
        # Prosody's data directory is root's (prosody runs as root here)
        shutil.copytree(out, data, dirs_exist_ok=True)
        pr.start()

        async def go():
            c = await P.login(pr.port, "alice", mech="SCRAM-SHA-1")
            await c.get_roster()
            r = P.roster_of(c)
            assert r["bob@localhost"][0] == "both" and r["bob@localhost"][2] == ["Friends", "Work"]
            assert r["carol@localhost"][0] == "none" and r["carol@localhost"][1]
            assert "dave@localhost" not in r
            vc = await P.iq(c, "get", "<vCard xmlns='vcard-temp'/>")
            assert vc.xml.find(".//{vcard-temp}NICKNAME").text == "alice"
            assert P.base64.b64decode(vc.xml.find(".//{vcard-temp}BINVAL").text) == P.AVATAR
            priv = await P.iq(c, "get", "<query xmlns='jabber:iq:private'><notes "
                              "xmlns='storage:rosternotes'/></query>")
            assert priv.xml.find(".//{storage:rosternotes}note").text == "met at FOSDEM"
            bm = await P.items(c, "alice@localhost", P.BOOKMARKS)
            assert [i.get("id") for i in bm] == [P.ROOM]
            got = await P.mam_ids(c)
            assert [i for i, _ in got] == archive_ids(pga, "alice")
            assert [b for _, b in got] == [b for _, b in state["alice_ids"]]
            d = await P.login(pr.port, "bob", mech="SCRAM-SHA-1")
            dl = await P.items(d, "alice@localhost", P.OMEMO + ".devicelist")
            assert dl[0].find("{%s}list/{%s}device" % (P.OMEMO, P.OMEMO)).get("id") == \
                str(P.DEVICE)
            await disconnect(c, d)
            with pytest.raises(AssertionError):
                await connect("bob@localhost", "not bob's password", pr.port,
                              mech="SCRAM-SHA-1", timeout=5)
        arun(go(), timeout=90)


EJ_MODULES = """  mod_vcard:
    search: false
  mod_private: {}
  mod_privacy: {}
  mod_blocking: {}
"""


def test_into_ejabberd_by_import_piefxis(pie, a):
    """`xmppctl export --all --ejabberd` read by ejabberd 23.01's
    `ejabberdctl import_piefxis`: the users log in with their passwords
    (SCRAM-SHA-1) and find roster (groups, names, a pending inbound
    request; an outbound one stays an item without its ask), vCard,
    private XML and their offline messages.  ejabberd's import has no form for
    PEP, archives or the blocklist (it reads roster, vCard, private,
    offline messages, privacy lists, presence subscriptions)."""
    _, _, tmp = pie
    sa, _ = a
    with xmppservers.ejabberd(modules=EJ_MODULES) as ej:
        f = os.path.join(ej.dir, "from-xmpp-core.xml")
        r = sa.ctl("export", "--all", "--ejabberd", "--out", f)
        assert r.returncode == 0, r.stderr
        with open(f) as fh:
            text = fh.read()
        assert "<scram-credentials" in text and "password=" not in text
        shutil.chown(f, "ejabberd", "ejabberd")
        r = P.ejabberdctl(ej, "import_piefxis", f)
        assert r.returncode == 0, (r.stdout, r.stderr)

        async def go():
            c = await P.login(ej.port, "alice", mech="SCRAM-SHA-1")
            await c.get_roster()
            r = P.roster_of(c)
            assert r["bob@localhost"][0] == "both" and r["bob@localhost"][2] == ["Friends", "Work"]
            assert r["bob@localhost"][3] == "Bob"
            # its set_items takes no ask: the request to carol stays an item
            assert r["carol@localhost"][0] == "none" and r["carol@localhost"][2] == ["Later"]
            # dave's request (a presence in the file) waits for alice
            asked = asyncio.get_event_loop().create_future()
            c.auto_authorize = None
            c.add_event_handler("presence_subscribe", lambda p: asked.done() or
                                asked.set_result(p["from"].bare))
            c.send_presence()
            assert await asyncio.wait_for(asked, 10) == "dave@localhost"
            vc = await P.iq(c, "get", "<vCard xmlns='vcard-temp'/>")
            assert vc.xml.find(".//{vcard-temp}NICKNAME").text == "alice"
            assert P.base64.b64decode(vc.xml.find(".//{vcard-temp}BINVAL").text) == P.AVATAR
            priv = await P.iq(c, "get", "<query xmlns='jabber:iq:private'><notes "
                              "xmlns='storage:rosternotes'/></query>")
            assert priv.xml.find(".//{storage:rosternotes}note").text == "met at FOSDEM"
            await disconnect(c)
            d = await P.login(ej.port, "dave", mech="SCRAM-SHA-1")
            await online(d)
            m = await recv(d.messages, 10)
            assert m["body"] == "waiting for dave"
            await disconnect(d)
            with pytest.raises(AssertionError):
                await connect("bob@localhost", "not bob's password", ej.port,
                              mech="SCRAM-SHA-1", timeout=5)
        arun(go(), timeout=90)



BAD_DTD = ("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]>"
           "<server-data xmlns='urn:xmpp:pie:0'/>")
MIXED = """<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'>
<user name='Not Valid' password='whatever 1234'/>
<user name='nokeys'/>
<user name='frank' password='frank has a plain one 7'>
<query xmlns='jabber:iq:roster'><item jid='not a jid@@' subscription='both'/>
<item jid='alice@localhost' subscription='weird'/><item jid='bob@localhost' subscription='to'/></query>
<archive xmlns='urn:xmpp:pie:0#mam'><result xmlns='urn:xmpp:mam:2' id='x1'/>
<result xmlns='urn:xmpp:mam:2' id='x2'><forwarded xmlns='urn:xmpp:forward:0'>
<delay xmlns='urn:xmpp:delay' stamp='2024-01-02T03:04:05.5Z'/>
<message xmlns='jabber:client' to='bob@localhost' type='chat'><body>hi</body></message>
</forwarded></result></archive>
<unknown xmlns='urn:example:other'/>
</user></host><host jid='elsewhere.example'><user name='zed' password='zzzzzzzzzzzz 9'/></host>
</server-data>"""


def test_bad_files(pie, b):
    _, _, tmp = pie
    s, pg = b
    paths = {}
    for name, text in (("dtd", BAD_DTD), ("broken", "<server-data xmlns='urn:xmpp:pie:0'><host"),
                       ("other", "<roster/>"), ("mixed", MIXED)):
        paths[name] = os.path.join(tmp, name + ".xml")
        with open(paths[name], "w") as f:
            f.write(text)
    for name, why in (("dtd", "a DTD"), ("broken", "line 1"), ("other", "root element")):
        r = s.ctl("import", "xep0227", paths[name])
        assert r.returncode == 1 and "not a XEP-0227 file" in r.stderr and why in r.stderr, \
            (name, r.stderr)
    r = s.ctl("import", "xep0227", paths["mixed"])
    assert r.returncode == 0, r.stderr
    err = r.stderr
    assert '"Not Valid" is not a valid (normalised) JID localpart' in err, err
    assert "nokeys@localhost: no credentials" in err, err
    assert "zed@elsewhere.example: elsewhere.example is not a host of this server" in err, err
    assert 'roster item "not a jid@@": not a valid bare JID' in err, err
    assert 'subscription "weird"' in err, err
    assert "archive entry x1: not a result with a forwarded message" in err, err
    assert "<unknown xmlns='urn:example:other'/>: xmpp-core keeps nothing of it" in err, err
    assert summary(r.stdout)["accounts"] == ["1", "3"], r.stdout
    assert pg.psql("SELECT jid, sub_to FROM roster WHERE username = 'frank'").split() == \
        ["bob@localhost|t"]
    assert pg.psql("SELECT id FROM mam_archive WHERE username = 'frank'").strip() == \
        "1704164645500000"
    s.start()
    try:
        async def go():
            c = await connect("frank@localhost", "frank has a plain one 7", s.port,
                              mech="SCRAM-SHA-1")
            await disconnect(c)
        arun(go(), timeout=30)
    finally:
        s.stop()
