"""The Conversations compliance tester's three group chat checks, done the
way the tester does them, with slixmpp's xep_0030/xep_0045/xep_0054
plugins instead of its Java library:

- xep0045: an item of the server's disco#items whose disco#info has
  the MUC namespace;
- xep0313muc: a new room (random name) created and entered as "test",
  whose configuration form has a `mam` field (or whose disco#info has a
  MAM namespace), then destroyed;
- vcard_muc: the group chat service advertises vcard-temp (XEP-0486 §3),
  an owner sets the room's vCard with a photo and anyone reads it back,
  its hash in the room's presence and in muc#roominfo_avatarhash.
"""

import hashlib
import uuid

import pytest
from slixmpp.plugins.xep_0054.stanza import VCardTemp

from pgcluster import PgCluster
from test_xmpp_muc import PW, record
from xmpptest import XmppServer, arun, connect, disconnect, until

MUC = "http://jabber.org/protocol/muc"
MAM = ("urn:xmpp:mam:2", "urn:xmpp:mam:1", "urn:xmpp:mam:0", "urn:xmpp:mam:tmp")


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def server(pg):
    s = XmppServer(pg)
    yield s
    s.destroy()


async def client(server, name):
    server.adduser(name, PW)
    c = await connect(name + "@localhost", PW, server.port)
    for p in ("xep_0045", "xep_0054", "xep_0153"):
        c.register_plugin(p)
    record(c)
    c.send_presence()
    return c


async def chat_services(c):
    """As MultiUserChatManager.discoverChatServices: the server's items
    whose disco#info has the MUC namespace."""
    items = await c["xep_0030"].get_items(jid="localhost", timeout=10)
    found = []
    for jid, _node, _name in items["disco_items"]["items"]:
        info = await c["xep_0030"].get_info(jid=jid, timeout=10)
        if MUC in info["disco_info"]["features"]:
            found.append(jid)
    return found


def test_xep0045_multi_user_chat(server):
    async def go():
        c = await client(server, "cmuc1")
        assert await chat_services(c) == ["conference.localhost"]
        await disconnect(c)
    arun(go())


def test_xep0313muc_message_archive_in_rooms(server):
    async def go():
        c = await client(server, "cmuc2")
        svc = (await chat_services(c))[0]
        room = "%s@%s" % (uuid.uuid4(), svc)
        await c["xep_0045"].join_muc_wait(room, "test", maxstanzas=0, timeout=10)
        form = await c["xep_0045"].get_room_config(room)
        fields = form.get_fields()
        info = await c["xep_0030"].get_info(jid=room, timeout=10)
        assert "mam" in fields or set(MAM) & set(info["disco_info"]["features"])
        # what the tester accepts first: the field in the form
        assert "mam" in fields
        await c["xep_0045"].destroy(room)
        await disconnect(c)
    arun(go())


def test_vcard_muc_room_avatars(server):
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    sha1 = hashlib.sha1(photo).hexdigest()

    async def go():
        owner = await client(server, "cmuc3")
        other = await client(server, "cmuc4")
        svc = (await chat_services(owner))[0]
        info = await owner["xep_0030"].get_info(jid=svc, timeout=10)
        assert "vcard-temp" in info["disco_info"]["features"]
        room = "avatar-%s@%s" % (uuid.uuid4().hex[:8], svc)
        await owner["xep_0045"].join_muc_wait(room, "owner", maxstanzas=0, timeout=10)
        form = await owner["xep_0045"].get_room_config(room)
        form["type"] = "submit"
        await owner["xep_0045"].set_room_config(room, form)
        assert "vcard-temp" in (await owner["xep_0030"].get_info(jid=room, timeout=10))[
            "disco_info"]["features"]
        vc = VCardTemp()
        vc["PHOTO"]["TYPE"] = "image/png"
        vc["PHOTO"]["BINVAL"] = photo
        await owner["xep_0054"].publish_vcard(vc, jid=room, timeout=10)
        got = await other["xep_0054"].get_vcard(jid=room, cached=False, timeout=10)
        assert got["vcard_temp"]["PHOTO"]["BINVAL"] == photo
        info = await other["xep_0030"].get_info(jid=room, timeout=10)
        hashes = [f for f in info.xml.iter("{jabber:x:data}field")
                  if f.get("var") == "muc#roominfo_avatarhash"]
        assert hashes and hashes[0].findtext("{jabber:x:data}value") == sha1
        # the occupants are told: a presence from the room with the hash
        def announced():
            return [p for p in owner.got if p.tag == "{jabber:client}presence" and
                    p.get("from") == room and
                    p.findtext("{vcard-temp:x:update}x/{vcard-temp:x:update}photo") == sha1]
        await until(announced, 10)
        await owner["xep_0045"].destroy(room)
        await disconnect(owner, other)
    arun(go())
