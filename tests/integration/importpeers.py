"""The source hosts of the import tests (issue 16): a real ejabberd 23.01
or Prosody 0.12 on PostgreSQL, populated by real slixmpp clients with
what a live host holds (accounts registered in-band, rosters with groups
and pending subscriptions, a vCard avatar, offline messages, a MAM
history, bookmarks and OMEMO nodes in PEP, a blocklist, push, a
persistent room with members and an archive), and the checks that the
same clients find the same data on xmpp-core after the import.

populate() returns what it did (the stanza-ids each account's archive
holds, the room's, the messages waiting offline) so that verify() can
compare exactly."""

import asyncio
import base64
import hashlib
import os
import sys
import xml.etree.ElementTree as ET

import slixmpp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench"))

from xmpptest import Client, arun, connect, disconnect, online, recv, until  # noqa: E402

PW = {"alice": "alice's old password 1",
      "bob": "bob-has-a-long-one 22",
      "carol": "carol carol carol 333",
      "dave": "dave's password 4444"}
ARCHIVE = 240		# messages between alice and bob
ROOM_MSGS = 30		# messages in the room
OFFLINE = 3		# messages waiting for carol
ROOM = "lounge@conference.localhost"
AVATAR = bytes(range(256)) * 4	# a "PNG" of 1 KiB
DEVICE = 424242
MAM2 = "urn:xmpp:mam:2"
PUBSUB = "http://jabber.org/protocol/pubsub"
OMEMO = "eu.siacs.conversations.axolotl"
BOOKMARKS = "urn:xmpp:bookmarks:1"


# ejabberd as the reference host runs it: everything in SQL, the
# multi-host schema, SCRAM (SHA-1, the default) passwords
EJABBERD_MODULES = """  mod_vcard:
    search: false
  mod_vcard_xupdate: {}
  mod_private: {}
  mod_blocking: {}
  mod_privacy: {}
  mod_mam:
    default: always
  mod_pubsub:
    plugins: ["flat", "pep"]
    force_node_config:
      "eu.siacs.conversations.axolotl.*":
        access_model: open
      "storage:bookmarks":
        access_model: whitelist
  mod_push: {}
  mod_caps: {}
  mod_stream_mgmt: {}
  mod_muc:
    host: "conference.localhost"
    access_create: all
    default_room_options:
      persistent: true
      mam: true
  mod_muc_admin: {}
"""


def iq(c, typ, xml, to=None):
    q = c.Iq()
    q["type"] = typ
    if to:
        q["to"] = to
    q.append(ET.fromstring(xml))
    return q.send(timeout=15)


async def register(port, user):
    c = Client("%s@localhost" % user, PW[user], register=True)
    c.connect(("127.0.0.1", port), force_starttls=True)
    await asyncio.wait_for(c.registered.wait(), 20)
    await disconnect(c)


async def login(port, user, **kw):
    return await connect("%s@localhost" % user, PW[user], port, **kw)


def vcard_xml():
    return ("<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>alice</NICKNAME>"
            "<PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL></PHOTO></vCard>"
            % base64.b64encode(AVATAR).decode())


def publish(node, item_id, payload, access=None):
    opts = ""
    if access:
        opts = ("<publish-options><x xmlns='jabber:x:data' type='submit'>"
                "<field var='FORM_TYPE' type='hidden'><value>%s#publish-options</value></field>"
                "<field var='pubsub#access_model'><value>%s</value></field>"
                "<field var='pubsub#persist_items'><value>true</value></field>"
                "</x></publish-options>" % (PUBSUB, access))
    return ("<pubsub xmlns='%s'><publish node='%s'><item id='%s'>%s</item></publish>%s</pubsub>"
            % (PUBSUB, node, item_id, payload, opts))


BOOKMARK = ("<conference xmlns='%s' name='The Lounge' autojoin='true'>"
            "<nick>alice</nick></conference>" % BOOKMARKS)
DEVICELIST = "<list xmlns='%s'><device id='%d'/></list>" % (OMEMO, DEVICE)
BUNDLE = ("<bundle xmlns='%s'><signedPreKeyPublic signedPreKeyId='1'>AAAA</signedPreKeyPublic>"
          "<signedPreKeySignature>BBBB</signedPreKeySignature><identityKey>CCCC</identityKey>"
          "<prekeys><preKeyPublic preKeyId='1'>DDDD</preKeyPublic></prekeys></bundle>" % OMEMO)


async def mam_ids(c, to=None):
    """Every stanza-id of an archive (the account's, or a room's), oldest first."""
    ids, after = [], None
    while True:
        rsm = "<set xmlns='http://jabber.org/protocol/rsm'><max>100</max>%s</set>" % (
            "<after>%s</after>" % after if after else "")
        got = []
        qid = c.new_id()

        def on(msg):
            r = msg.xml.find("{%s}result" % MAM2)
            if r is not None and r.get("queryid") == qid:
                body = r.find(".//{jabber:client}body")
                got.append((r.get("id"), body.text if body is not None else None))
        h = slixmpp.xmlstream.handler.Callback(
            "mam" + qid, slixmpp.xmlstream.matcher.MatchXPath("{jabber:client}message"), on)
        c.register_handler(h)
        res = await iq(c, "set", "<query xmlns='%s' queryid='%s'>%s</query>" % (MAM2, qid, rsm),
                       to=to)
        c.remove_handler("mam" + qid)
        ids += got
        fin = res.xml.find("{%s}fin" % MAM2)
        if fin is None or fin.get("complete") == "true" or not got:
            return ids
        after = got[-1][0]


async def populate(port, muc=True):
    """Fills the source host as its users would; returns what verify needs."""
    for u in PW:
        await register(port, u)
    a = await login(port, "alice")
    b = await login(port, "bob")
    await online(a)
    await online(b)
    # alice <-> bob: both, in groups; alice -> carol: pending (carol never answers)
    a.update_roster("bob@localhost", name="Bob", groups=["Friends", "Work"])
    b.update_roster("alice@localhost", name="Alice", groups=["Friends"])
    a.auto_authorize = b.auto_authorize = True
    a.auto_subscribe = b.auto_subscribe = True
    a.send_presence(pto="bob@localhost", ptype="subscribe")
    await asyncio.sleep(2)
    # None: requests wait for the user (False would refuse them)
    a.auto_authorize = b.auto_authorize = None
    a.auto_subscribe = b.auto_subscribe = False
    a.update_roster("carol@localhost", name="Carol", groups=["Later"])
    a.send_presence(pto="carol@localhost", ptype="subscribe")
    await asyncio.sleep(1)
    # dave asks alice, who does not answer: a pending inbound request
    d = await login(port, "dave")
    await online(d)
    d.send_presence(pto="alice@localhost", ptype="subscribe")
    await asyncio.sleep(0.5)
    await disconnect(d)
    # vCard with an avatar, private XML, bookmarks and OMEMO in PEP
    await iq(a, "set", vcard_xml())
    await iq(a, "set", "<query xmlns='jabber:iq:private'><notes xmlns='storage:rosternotes'>"
             "<note jid='bob@localhost'>met at FOSDEM</note></notes></query>")
    await iq(a, "set", publish(BOOKMARKS, ROOM, BOOKMARK, access="whitelist"))
    await iq(a, "set", publish(OMEMO + ".devicelist", "current", DEVICELIST, access="open"))
    await iq(a, "set", publish(OMEMO + ".bundles:%d" % DEVICE, "current", BUNDLE, access="open"))
    await iq(a, "set", publish("http://jabber.org/protocol/nick", "current",
                               "<nick xmlns='http://jabber.org/protocol/nick'>Alice L.</nick>"))
    # a blocklist, a push registration, MAM preferences
    await iq(a, "set", "<block xmlns='urn:xmpp:blocking'><item jid='spammer@example.org'/>"
             "<item jid='spam.example.net'/></block>")
    await iq(a, "set", "<enable xmlns='urn:xmpp:push:0' jid='push.example.net' node='n0de'/>")
    await iq(b, "set", "<prefs xmlns='%s' default='always'><always/><never>"
             "<jid>noarchive@example.org</jid></never></prefs>" % MAM2)
    # the archive: ARCHIVE messages back and forth
    for i in range(ARCHIVE):
        src, dst = (a, "bob") if i % 2 == 0 else (b, "alice")
        src.send_message(mto="%s@localhost" % dst, mbody="archived %d" % i, mtype="chat")
        if i % 40 == 39:
            await asyncio.sleep(0.3)
    await asyncio.sleep(1)
    # carol is offline: messages wait for her
    for i in range(OFFLINE):
        b.send_message(mto="carol@localhost", mbody="offline %d" % i, mtype="chat")
    await asyncio.sleep(0.5)
    state = {"alice_ids": await mam_ids(a), "bob_ids": await mam_ids(b)}
    if muc:
        state["room_ids"] = await make_room(a, b)
    await disconnect(a, b)
    return state


async def join(c, nick):
    c.send_presence(pto="%s/%s" % (ROOM, nick))
    while True:
        p = await recv(c.presences, 10)
        if str(p["from"]) == "%s/%s" % (ROOM, nick):
            return


async def muc_join(c, nick):
    """A XEP-0045 join (with the MUC <x/>: Prosody creates a room only
    for that) and the room's self-presence (status 110)."""
    mine = "%s/%s" % (ROOM, nick)
    seen = asyncio.get_event_loop().create_future()

    def on(p):
        if str(p["from"]) == mine and not seen.done():
            seen.set_result(True)
    name = "join-%s-%s" % (nick, c.new_id())
    c.register_handler(slixmpp.xmlstream.handler.Callback(
        name, slixmpp.xmlstream.matcher.MatchXPath("{jabber:client}presence"), on))
    p = c.Presence()
    p["to"] = mine
    p.append(ET.fromstring("<x xmlns='http://jabber.org/protocol/muc'/>"))
    p.send()
    try:
        await asyncio.wait_for(seen, 15)
    finally:
        c.remove_handler(name)


async def make_room(a, b):
    await muc_join(a, "alice")
    form = ("<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
            "type='submit'><field var='FORM_TYPE'><value>"
            "http://jabber.org/protocol/muc#roomconfig</value></field>"
            "<field var='muc#roomconfig_roomname'><value>The Lounge</value></field>"
            "<field var='muc#roomconfig_roomdesc'><value>Where we meet</value></field>"
            "<field var='muc#roomconfig_persistentroom'><value>1</value></field>"
            "<field var='muc#roomconfig_publicroom'><value>0</value></field>"
            "<field var='muc#roomconfig_membersonly'><value>1</value></field>"
            "<field var='muc#roomconfig_maxusers'><value>50</value></field>"
            "<field var='mam'><value>1</value></field>"
            "</x></query>")
    await iq(a, "set", form, to=ROOM)
    await iq(a, "set", "<query xmlns='http://jabber.org/protocol/muc#admin'>"
             "<item jid='bob@localhost' affiliation='member'/>"
             "<item jid='carol@localhost' affiliation='admin'/></query>", to=ROOM)
    await muc_join(b, "bob")
    m = a.Message()
    m["to"] = ROOM
    m["type"] = "groupchat"
    m["subject"] = "Welcome to the lounge"
    m.send()
    for i in range(ROOM_MSGS):
        (a if i % 2 == 0 else b).send_message(mto=ROOM, mbody="room %d" % i, mtype="groupchat")
    await asyncio.sleep(1.5)
    ids = await mam_ids(a, to=ROOM)
    a.send_presence(pto="%s/alice" % ROOM, ptype="unavailable")
    b.send_presence(pto="%s/bob" % ROOM, ptype="unavailable")
    await asyncio.sleep(0.3)
    return ids


# ---- after the switch: the same clients on xmpp-core ----

def roster_of(c):
    out = {}
    for jid in c.client_roster:
        it = c.client_roster[jid]
        out[jid] = (it["subscription"], bool(it["pending_out"]), sorted(it["groups"]),
                    it["name"])
    return out


async def items(c, owner, node):
    res = await iq(c, "get", "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (PUBSUB, node),
                   to=owner)
    return [i for i in res.xml.iter("{%s}item" % PUBSUB)]


def same_archive(got, want, same_ids):
    """The archive a client pages now against the one it paged before:
    the same stanza-ids (ejabberd's are times, kept), or (Prosody's are
    UUIDs, replaced) the same messages in the same order under new,
    distinct ids."""
    if same_ids:
        if got != want:
            # only a time ejabberd gave two messages of the archive explains
            # a difference: the later was imported a microsecond on
            moved, last = [], 0
            for i, _ in want:
                n = int(i) if int(i) > last else last + 1
                moved.append(str(n))
                last = n
            assert moved != [i for i, _ in want], (got, want)
            assert [i for i, _ in got] == moved, (got, want)
            assert sorted(b for _, b in got) == sorted(b for _, b in want), (got, want)
        return
    assert [b for _, b in got] == [b for _, b in want], (got, want)
    assert len(set(i for i, _ in got)) == len(got)
    assert all(i.isdigit() for i, _ in got)


async def verify(port, state, muc=True, same_ids=True, never=True):
    """The users of the old host see their data on xmpp-core (port).
    never=False: the source lost the "never" JIDs of the MAM preferences
    (prosody-migrator reading SQL: Prosody 0.12's mod_storage_sql drops
    keys whose value is false)."""
    a = await login(port, "alice")
    a.auto_authorize = None
    await online(a)
    r = roster_of(a)
    assert r["bob@localhost"][0] == "both" and r["bob@localhost"][2] == ["Friends", "Work"]
    assert r["bob@localhost"][3] == "Bob"
    assert r["carol@localhost"][0] == "none" and r["carol@localhost"][1], r
    assert r["carol@localhost"][2] == ["Later"]
    assert "dave@localhost" not in r	# only a request: not an item yet
    # the archive pages with the same stanza-ids (clients do not fetch it again)
    got = await mam_ids(a)
    same_archive(got, state["alice_ids"], same_ids)
    b = await login(port, "bob")
    await b.get_roster()
    got = await mam_ids(b)
    same_archive(got, state["bob_ids"], same_ids)
    # vCard avatar, private XML, PEP: bookmarks (owner only), OMEMO (anyone)
    vc = await iq(b, "get", "<vCard xmlns='vcard-temp'/>", to="alice@localhost")
    binval = vc.xml.find(".//{vcard-temp}BINVAL")
    assert base64.b64decode(binval.text) == AVATAR
    priv = await iq(a, "get", "<query xmlns='jabber:iq:private'><notes "
                    "xmlns='storage:rosternotes'/></query>")
    assert priv.xml.find(".//{storage:rosternotes}note").text == "met at FOSDEM"
    bm = await items(a, "alice@localhost", BOOKMARKS)
    assert [i.get("id") for i in bm] == [ROOM]
    assert bm[0].find("{%s}conference" % BOOKMARKS).get("name") == "The Lounge"
    try:
        await items(b, "alice@localhost", BOOKMARKS)
        raise AssertionError("bob read alice's bookmarks")
    except slixmpp.exceptions.IqError as e:
        assert e.condition in ("forbidden", "not-allowed", "not-authorized"), e.condition
    dl = await items(b, "alice@localhost", OMEMO + ".devicelist")
    assert dl[0].find("{%s}list/{%s}device" % (OMEMO, OMEMO)).get("id") == str(DEVICE)
    bu = await items(b, "alice@localhost", OMEMO + ".bundles:%d" % DEVICE)
    assert bu[0].find("{%s}bundle/{%s}identityKey" % (OMEMO, OMEMO)).text == "CCCC"
    # blocklist, MAM preferences
    bl = await iq(a, "get", "<blocklist xmlns='urn:xmpp:blocking'/>")
    assert sorted(i.get("jid") for i in bl.xml.iter("{urn:xmpp:blocking}item")) == \
        ["spam.example.net", "spammer@example.org"]
    pr = await iq(b, "get", "<prefs xmlns='%s'/>" % MAM2)
    assert [j.text for j in pr.xml.iter("{%s}jid" % MAM2)] == \
        (["noarchive@example.org"] if never else [])
    assert pr.xml.find("{%s}prefs" % MAM2).get("default") == "always"
    if muc:
        room_ids = await mam_ids(a, to=ROOM)
        same_archive(room_ids, [x for x in state["room_ids"] if x[1] is not None], same_ids)
        info = await iq(a, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>",
                        to=ROOM)
        ident = info.xml.find(".//{http://jabber.org/protocol/disco#info}identity")
        assert ident.get("name") == "The Lounge"
        feats = [f.get("var") for f in
                 info.xml.iter("{http://jabber.org/protocol/disco#info}feature")]
        assert "muc_membersonly" in feats and "muc_persistent" in feats
        mem = await iq(a, "get", "<query xmlns='http://jabber.org/protocol/muc#admin'>"
                       "<item affiliation='member'/></query>", to=ROOM)
        assert [i.get("jid") for i in
                mem.xml.iter("{http://jabber.org/protocol/muc#admin}item")] == ["bob@localhost"]
        # joining: the subject the room had
        subj = asyncio.get_event_loop().create_future()

        def on_msg(m):
            s = m.xml.find("{jabber:client}subject")
            if s is not None and not subj.done():
                subj.set_result(s.text)
        a.register_handler(slixmpp.xmlstream.handler.Callback(
            "subject", slixmpp.xmlstream.matcher.MatchXPath("{jabber:client}message"), on_msg))
        p = a.Presence()
        p["to"] = "%s/alice" % ROOM
        p.append(ET.fromstring("<x xmlns='http://jabber.org/protocol/muc'/>"))
        p.send()
        assert await asyncio.wait_for(subj, 10) == "Welcome to the lounge"
    await disconnect(a, b)
    # carol's offline messages, with their original delay, once
    c = await login(port, "carol")
    await online(c)
    got = []
    for _ in range(OFFLINE):
        m = await recv(c.messages, 10)
        got.append((m["body"], m.xml.find("{urn:xmpp:delay}delay") is not None))
    assert got == [("offline %d" % i, True) for i in range(OFFLINE)]
    await disconnect(c)
    c = await login(port, "carol")
    await online(c)
    await asyncio.sleep(1)
    assert c.messages.empty()
    await disconnect(c)


def ejabberdctl(ej, *args, timeout=60):
    """An ejabberdctl command to the node of xmppservers.ejabberd, as
    ejabberd's user (ejabberdctl would su, and su's PAM wants a tty).
    The node takes commands a little after its c2s port is open: until
    `status` answers, a command would find it down."""
    import pwd
    import subprocess
    import time
    pw = pwd.getpwnam("ejabberd")

    def run(*a):
        return subprocess.run(["ejabberdctl", "--config-dir", ej.dir, "--ctl-config",
                               os.path.join(ej.dir, "ejabberdctl.cfg"), "--node", ej.node, *a],
                              user=pw.pw_uid, group=pw.pw_gid, env=dict(ej.env, HOME=ej.dir),
                              capture_output=True, text=True, timeout=timeout)
    deadline = time.time() + 60
    while run("status").returncode != 0:
        assert time.time() < deadline, "ejabberd's node takes no commands"
        time.sleep(0.5)
    return run(*args)
