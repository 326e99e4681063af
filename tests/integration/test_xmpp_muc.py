"""Group chat (XEP-0045) on xmpp-core's conference.localhost against real
peers: slixmpp clients, with raw stanzas where the xep_0045 plugin has no
call for what is tested (presence order, status codes, error conditions).
Every test uses its own accounts and rooms."""

import asyncio
import itertools

import pytest
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from pgcluster import PgCluster
from xmpptest import XmppServer, arun, connect, disconnect, until

PW = "correct horse battery staple"
MUC = "http://jabber.org/protocol/muc"
USER = MUC + "#user"
OWNER = MUC + "#owner"
XD = "jabber:x:data"
SVC = "conference.localhost"
ERR = "urn:ietf:params:xml:ns:xmpp-stanzas"
_ids = itertools.count()

MUC_CONF = """
[muc]
max_subject = 64
max_name = 32
max_nick = 20
"""


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def server(pg):
    s = XmppServer(pg, extra=MUC_CONF)
    yield s
    if s.daemon:
        s.stop()


async def login(server, name, new=True):
    if new:
        server.adduser(name, PW)
    c = await connect(name + "@localhost", PW, server.port)
    record(c)
    c.send_presence()
    return c


def record(c):
    """Every presence, message and IQ c gets goes to c.got."""
    c.got = []
    for kind in ("presence", "message", "iq"):
        c.register_handler(Callback("muc " + kind, MatchXPath("{jabber:client}%s" % kind),
                                    lambda s: c.got.append(s.xml)))


def from_room(c, room, kind=None):
    return [s for s in c.got if (s.get("from") or "").split("/")[0] == room and
            (kind is None or s.tag == "{jabber:client}" + kind)]


def codes(p):
    return sorted(int(s.get("code")) for s in p.findall("{%s}x/{%s}status" % (USER, USER)))


def err_cond(s):
    e = s.find("{jabber:client}error")
    return None if e is None else [ch.tag.split("}")[1] for ch in e if ch.tag.startswith("{" + ERR)][0]


async def wait_for(c, pred, timeout=15):
    """The first stanza c got that satisfies pred (polled)."""
    found = []

    def check():
        found[:] = [s for s in c.got if pred(s)]
        return bool(found)
    await until(check, timeout)
    return found[0]


def join_raw(c, room, nick, x="<x xmlns='%s'/>" % MUC):
    c.send_raw("<presence to='%s/%s'>%s</presence>" % (room, nick, x))


def iq_raw(c, to, typ, payload):
    i = "q%d" % next(_ids)
    c.send_raw("<iq type='%s' id='%s' to='%s'>%s</iq>" % (typ, i, to, payload))
    return i


async def iq_reply(c, i):
    return await wait_for(c, lambda s: s.tag == "{jabber:client}iq" and s.get("id") == i)


def self_presence(room, nick):
    return lambda s: (s.tag == "{jabber:client}presence" and s.get("from") == room + "/" + nick
                      and 110 in codes(s))


async def create_instant(c, room, nick):
    join_raw(c, room, nick)
    p = await wait_for(c, self_presence(room, nick))
    assert 201 in codes(p)
    r = await iq_reply(c, iq_raw(c, room, "set",
                                 "<query xmlns='%s'><x xmlns='%s' type='submit'/></query>" % (OWNER, XD)))
    assert r.get("type") == "result"


def configure(c, room, **fields):
    body = "".join("<field var='muc#roomconfig_%s'><value>%s</value></field>" % kv
                   for kv in fields.items())
    return iq_raw(c, room, "set", "<query xmlns='%s'><x xmlns='%s' type='submit'>"
                  "<field var='FORM_TYPE'><value>%s#roomconfig</value></field>%s</x></query>"
                  % (OWNER, XD, MUC, body))


def test_service_disco(server):
    async def go():
        a = await login(server, "svc1")
        r = await iq_reply(a, iq_raw(a, SVC, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"))
        q = r.find("{http://jabber.org/protocol/disco#info}query")
        ident = q.find("{http://jabber.org/protocol/disco#info}identity")
        assert (ident.get("category"), ident.get("type")) == ("conference", "text")
        feats = [f.get("var") for f in q.findall("{http://jabber.org/protocol/disco#info}feature")]
        assert MUC in feats
        r = await iq_reply(a, iq_raw(a, "localhost", "get", "<query xmlns='http://jabber.org/protocol/disco#items'/>"))
        items = [i.get("jid") for i in r.iter("{http://jabber.org/protocol/disco#items}item")]
        assert SVC in items
        await disconnect(a)
    arun(go())


def test_reserved_room_locked_until_configured(server):
    room = "locked@" + SVC

    async def go():
        a, b = await login(server, "lock1"), await login(server, "lock2")
        join_raw(a, room, "owner")
        p = await wait_for(a, self_presence(room, "owner"))
        assert codes(p) == [110, 201]
        join_raw(b, room, "bob")
        e = await wait_for(b, lambda s: s.get("type") == "error" and s.get("from") == room + "/bob")
        assert err_cond(e) == "item-not-found"
        r = await iq_reply(a, iq_raw(a, room, "get", "<query xmlns='%s'/>" % OWNER))
        x = r.find("{%s}query/{%s}x" % (OWNER, XD))
        vars_ = {f.get("var"): f for f in x.findall("{%s}field" % XD)}
        for v in ("roomname", "roomdesc", "publicroom", "membersonly", "moderatedroom",
                  "passwordprotectedroom", "roomsecret", "maxusers", "whois", "allowpm",
                  "allowinvites", "changesubject"):
            assert "muc#roomconfig_" + v in vars_
        assert vars_["muc#roomconfig_publicroom"].findtext("{%s}value" % XD) == "0"
        assert vars_["muc#roomconfig_maxusers"].findtext("{%s}value" % XD) == "500"
        # a bad value changes nothing
        r = await iq_reply(a, configure(a, room, maxusers="100000"))
        assert r.get("type") == "error" and err_cond(r) == "not-acceptable"
        r = await iq_reply(a, configure(a, room, roomname="x" * 33))
        assert err_cond(r) == "not-acceptable"
        r = await iq_reply(a, configure(a, room, roomname="Lounge", publicroom="1",
                                        roomdesc="A place"))
        assert r.get("type") == "result"
        b.got.clear()
        join_raw(b, room, "bob")
        await wait_for(b, self_presence(room, "bob"))
        r = await iq_reply(b, iq_raw(b, room, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"))
        q = r.find("{http://jabber.org/protocol/disco#info}query")
        feats = [f.get("var") for f in q.findall("{http://jabber.org/protocol/disco#info}feature")]
        assert {MUC, "muc_public", "muc_open", "muc_semianonymous", "muc_unsecured"} <= set(feats)
        assert q.find("{http://jabber.org/protocol/disco#info}identity").get("name") == "Lounge"
        form = {f.get("var"): f.findtext("{%s}value" % XD) for f in q.iter("{%s}field" % XD)}
        assert form["FORM_TYPE"] == MUC + "#roominfo"
        assert form["muc#roominfo_occupants"] == "2"
        assert form["muc#roominfo_description"] == "A place"
        r = await iq_reply(b, iq_raw(b, SVC, "get", "<query xmlns='http://jabber.org/protocol/disco#items'/>"))
        assert room in [i.get("jid") for i in r.iter("{http://jabber.org/protocol/disco#items}item")]
        # only owners configure
        r = await iq_reply(b, iq_raw(b, room, "get", "<query xmlns='%s'/>" % OWNER))
        assert err_cond(r) == "forbidden"
        await disconnect(a, b)
    arun(go())


def test_join_order_history_subject(server):
    room = "order@" + SVC

    async def go():
        a, b, c = [await login(server, "ord%d" % i) for i in range(3)]
        await create_instant(a, room, "alice")
        a.send_raw("<message to='%s' type='groupchat'><subject>Topic</subject></message>" % room)
        await wait_for(a, lambda s: s.findtext("{jabber:client}subject") == "Topic")
        for i in range(3):
            a.send_raw("<message to='%s' type='groupchat' id='h%d'><body>m%d</body></message>" % (room, i, i))
        await wait_for(a, lambda s: s.findtext("{jabber:client}body") == "m2")
        join_raw(b, room, "bob")
        await wait_for(b, lambda s: s.findtext("{jabber:client}subject") is not None)
        got = from_room(b, room)
        kinds = [(s.tag.split("}")[1], s.get("from").split("/")[-1]) for s in got]
        assert kinds[0] == ("presence", "alice")
        # 170: the room (persistent, archived by default) keeps what is said
        assert kinds[1] == ("presence", "bob") and codes(got[1]) == [110, 170]
        assert [s.findtext("{jabber:client}body") for s in got[2:5]] == ["m0", "m1", "m2"]
        for s in got[2:5]:
            assert s.find("{urn:xmpp:delay}delay").get("from") == room
        assert got[5].findtext("{jabber:client}subject") == "Topic"
        # alice, the owner, sees bob's real JID
        p = await wait_for(a, lambda s: s.get("from") == room + "/bob")
        assert p.find("{%s}x/{%s}item" % (USER, USER)).get("jid") == "ord1@localhost"
        # history limits
        join_raw(c, room, "carol", "<x xmlns='%s'><history maxstanzas='1'/></x>" % MUC)
        await wait_for(c, lambda s: s.findtext("{jabber:client}subject") is not None)
        assert [s.findtext("{jabber:client}body") for s in from_room(c, room, "message")
                if s.findtext("{jabber:client}body")] == ["m2"]
        # carol, a participant, does not (semi-anonymous)
        p = await wait_for(c, lambda s: s.get("from") == room + "/bob")
        assert p.find("{%s}x/{%s}item" % (USER, USER)).get("jid") is None
        # a groupchat message reaches everyone, the sender included
        c.send_raw("<message to='%s' type='groupchat'><body>hello all</body></message>" % room)
        for x in (a, b, c):
            m = await wait_for(x, lambda s: s.findtext("{jabber:client}body") == "hello all")
            assert m.get("from") == room + "/carol" and m.get("type") == "groupchat"
        # oversized subject: refused, unchanged
        b.send_raw("<message to='%s' type='groupchat' id='big'><subject>%s</subject></message>"
                   % (room, "s" * 65))
        e = await wait_for(b, lambda s: s.get("id") == "big" and s.get("type") == "error")
        assert err_cond(e) == "not-acceptable"
        await disconnect(a, b, c)
    arun(go())


def test_nicks_conflict_malformed_change_leave(server):
    room = "nicks@" + SVC

    async def go():
        a, b = await login(server, "nick1"), await login(server, "nick2")
        await create_instant(a, room, "Alice")
        join_raw(b, room, "alice")          # case-insensitive: same nick
        e = await wait_for(b, lambda s: s.get("type") == "error")
        assert err_cond(e) == "conflict"
        b.got.clear()
        join_raw(b, room, "x" * 21)         # over max_nick
        e = await wait_for(b, lambda s: s.get("type") == "error")
        assert err_cond(e) == "jid-malformed"
        b.got.clear()
        join_raw(b, room, "\u0378bell")     # an unassigned code point
        e = await wait_for(b, lambda s: s.get("type") == "error")
        assert err_cond(e) == "jid-malformed"
        join_raw(b, room, "bob")
        await wait_for(b, self_presence(room, "bob"))
        b.got.clear()
        b.send_raw("<presence to='%s/robert'/>" % room)
        p = await wait_for(b, lambda s: s.get("type") == "unavailable" and 303 in codes(s))
        assert p.get("from") == room + "/bob" and codes(p) == [110, 303]
        assert p.find("{%s}x/{%s}item" % (USER, USER)).get("nick") == "robert"
        await wait_for(b, self_presence(room, "robert"))
        await wait_for(a, lambda s: s.get("from") == room + "/bob" and 303 in codes(s))
        b.send_raw("<presence to='%s/robert' type='unavailable'/>" % room)
        p = await wait_for(b, lambda s: s.get("type") == "unavailable" and
                           s.get("from") == room + "/robert")
        assert 110 in codes(p)
        await wait_for(a, lambda s: s.get("type") == "unavailable" and
                       s.get("from") == room + "/robert")
        await disconnect(a, b)
    arun(go())


def test_multi_session_nick(server):
    room = "multi@" + SVC

    async def go():
        server.adduser("ms1", PW)
        a1 = await connect("ms1@localhost/one", PW, server.port)
        a2 = await connect("ms1@localhost/two", PW, server.port)
        b = await login(server, "ms2")
        record(a1)
        record(a2)
        await create_instant(a1, room, "ann")
        join_raw(b, room, "bob")
        await wait_for(b, self_presence(room, "bob"))
        join_raw(a2, room, "ann")
        await wait_for(a2, self_presence(room, "ann"))
        b.send_raw("<message to='%s' type='groupchat'><body>to both</body></message>" % room)
        for c in (a1, a2):
            await wait_for(c, lambda s: s.findtext("{jabber:client}body") == "to both")
        b.send_raw("<message to='%s/ann' type='chat'><body>pm</body></message>" % room)
        for c in (a1, a2):
            m = await wait_for(c, lambda s: s.findtext("{jabber:client}body") == "pm")
            assert m.get("from") == room + "/bob"
        # one session leaves: the occupant stays for the others
        a2.send_raw("<presence to='%s/ann' type='unavailable'/>" % room)
        await wait_for(a2, lambda s: s.get("type") == "unavailable" and 110 in codes(s))
        r = await iq_reply(b, iq_raw(b, room, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"))
        form = {f.get("var"): f.findtext("{%s}value" % XD) for f in r.iter("{%s}field" % XD)}
        assert form["muc#roominfo_occupants"] == "2"
        assert not [s for s in b.got if s.get("type") == "unavailable" and
                    s.get("from") == room + "/ann"]
        # the last session ends its connection: the others see it leave
        await disconnect(a1)
        await wait_for(b, lambda s: s.get("type") == "unavailable" and s.get("from") == room + "/ann")
        await disconnect(a2, b)
    arun(go())


def test_password_members_only_max_users(server):
    room = "guarded@" + SVC

    async def go():
        a, b, c = [await login(server, "gd%d" % i) for i in range(3)]
        await create_instant(a, room, "own")
        r = await iq_reply(a, configure(a, room, passwordprotectedroom="1", roomsecret="s3cret",
                                        maxusers="2"))
        assert r.get("type") == "result"
        join_raw(b, room, "bob")
        e = await wait_for(b, lambda s: s.get("type") == "error")
        assert err_cond(e) == "not-authorized"
        b.got.clear()
        join_raw(b, room, "bob", "<x xmlns='%s'><password>wrong</password></x>" % MUC)
        e = await wait_for(b, lambda s: s.get("type") == "error")
        assert err_cond(e) == "not-authorized"
        join_raw(b, room, "bob", "<x xmlns='%s'><password>s3cret</password></x>" % MUC)
        await wait_for(b, self_presence(room, "bob"))
        join_raw(c, room, "carol", "<x xmlns='%s'><password>s3cret</password></x>" % MUC)
        e = await wait_for(c, lambda s: s.get("type") == "error")
        assert err_cond(e) == "service-unavailable"
        # members only: bob, not a member, is removed with 322
        r = await iq_reply(a, configure(a, room, membersonly="1"))
        assert r.get("type") == "result"
        p = await wait_for(b, lambda s: s.get("type") == "unavailable" and 322 in codes(s))
        assert 110 in codes(p)
        c.got.clear()
        join_raw(c, room, "carol", "<x xmlns='%s'><password>s3cret</password></x>" % MUC)
        e = await wait_for(c, lambda s: s.get("type") == "error")
        assert err_cond(e) == "registration-required"
        await disconnect(a, b, c)
    arun(go())


def test_private_messages_and_destroy(server):
    room = "pmroom@" + SVC

    async def go():
        a, b, c = [await login(server, "pm%d" % i) for i in range(3)]
        await create_instant(a, room, "ann")
        join_raw(b, room, "bob")
        await wait_for(b, self_presence(room, "bob"))
        b.send_raw("<message to='%s/ann' type='chat'><body>psst</body></message>" % room)
        m = await wait_for(a, lambda s: s.findtext("{jabber:client}body") == "psst")
        assert m.get("from") == room + "/bob"
        b.send_raw("<message to='%s/nobody' type='chat' id='n1'><body>x</body></message>" % room)
        e = await wait_for(b, lambda s: s.get("id") == "n1")
        assert err_cond(e) == "item-not-found"
        # not an occupant: not-acceptable (and XEP-0410 self-ping says so too)
        c.send_raw("<message to='%s' type='groupchat' id='g1'><body>x</body></message>" % room)
        e = await wait_for(c, lambda s: s.get("id") == "g1")
        assert err_cond(e) == "not-acceptable"
        r = await iq_reply(c, iq_raw(c, room + "/ann", "get", "<ping xmlns='urn:xmpp:ping'/>"))
        assert err_cond(r) == "not-acceptable"
        r = await iq_reply(b, iq_raw(b, room + "/bob", "get", "<ping xmlns='urn:xmpp:ping'/>"))
        assert r.get("type") == "result"
        r = await iq_reply(a, configure(a, room, allowpm="none"))
        b.send_raw("<message to='%s/ann' type='chat' id='n2'><body>x</body></message>" % room)
        e = await wait_for(b, lambda s: s.get("id") == "n2")
        assert err_cond(e) == "not-allowed"
        # bob may not destroy; ann may, with a reason and an alternate venue
        r = await iq_reply(b, iq_raw(b, room, "set", "<query xmlns='%s'><destroy/></query>" % OWNER))
        assert err_cond(r) == "forbidden"
        r = await iq_reply(a, iq_raw(a, room, "set", "<query xmlns='%s'><destroy jid='new@%s'>"
                                     "<reason>moved</reason></destroy></query>" % (OWNER, SVC)))
        assert r.get("type") == "result"
        p = await wait_for(b, lambda s: s.get("type") == "unavailable" and
                           s.find("{%s}x/{%s}destroy" % (USER, USER)) is not None)
        d = p.find("{%s}x/{%s}destroy" % (USER, USER))
        assert d.get("jid") == "new@" + SVC and d.findtext("{%s}reason" % USER) == "moved"
        r = await iq_reply(b, iq_raw(b, room, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"))
        assert err_cond(r) == "item-not-found"
        await disconnect(a, b, c)
    arun(go())


def test_bad_addresses(server):
    async def go():
        a = await login(server, "bad1")
        a.send_raw("<presence to='%s/nick'/>" % SVC)
        e = await wait_for(a, lambda s: s.get("type") == "error" and s.get("from") == SVC + "/nick")
        assert err_cond(e) == "jid-malformed"
        join_raw(a, "nonick@" + SVC, "")
        a.send_raw("<presence to='nonick@%s'><x xmlns='%s'/></presence>" % (SVC, MUC))
        e = await wait_for(a, lambda s: s.get("type") == "error" and s.get("from") == "nonick@" + SVC)
        assert err_cond(e) == "jid-malformed"
        r = await iq_reply(a, iq_raw(a, "nonick@" + SVC, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"))
        assert err_cond(r) == "item-not-found"
        await disconnect(a)
    arun(go())


def test_invitation_and_create_policy(server):
    room = "invite@" + SVC

    async def go():
        a, b = await login(server, "inv1"), await login(server, "inv2")
        await create_instant(a, room, "ann")
        a.send_raw("<message to='%s'><x xmlns='%s'><invite to='inv2@localhost'>"
                   "<reason>join us</reason></invite></x></message>" % (room, USER))
        m = await wait_for(b, lambda s: s.find("{%s}x/{%s}invite" % (USER, USER)) is not None)
        assert m.get("from") == room
        inv = m.find("{%s}x/{%s}invite" % (USER, USER))
        assert inv.get("from") == "inv1@localhost"
        assert inv.findtext("{%s}reason" % USER) == "join us"
        # the invitee declines: the inviter hears it from the room
        b.send_raw("<message to='%s'><x xmlns='%s'><decline to='inv1@localhost'>"
                   "<reason>busy</reason></decline></x></message>" % (room, USER))
        m = await wait_for(a, lambda s: s.find("{%s}x/{%s}decline" % (USER, USER)) is not None)
        d = m.find("{%s}x/{%s}decline" % (USER, USER))
        assert m.get("from") == room and d.get("from") == "inv2@localhost"
        assert d.findtext("{%s}reason" % USER) == "busy"
        # the room relays declines to no stranger
        b.send_raw("<message to='%s' id='d2'><x xmlns='%s'><decline to='nobody@localhost'/>"
                   "</x></message>" % (room, USER))
        e = await wait_for(b, lambda s: s.get("id") == "d2")
        assert err_cond(e) == "item-not-found"
        # a participant may not invite unless the room allows it
        join_raw(b, room, "bob")
        await wait_for(b, self_presence(room, "bob"))
        b.send_raw("<message to='%s' id='i2'><x xmlns='%s'><invite to='inv1@localhost'/>"
                   "</x></message>" % (room, USER))
        e = await wait_for(b, lambda s: s.get("id") == "i2")
        assert err_cond(e) == "forbidden"
        await disconnect(a, b)
    arun(go())


def test_invitation_into_members_only_room_makes_a_member(server):
    room = "invite-members@" + SVC

    async def go():
        a, b, c = (await login(server, "minv1"), await login(server, "minv2"),
                   await login(server, "minv3"))
        await create_instant(a, room, "ann")
        r = await iq_reply(a, configure(a, room, membersonly="1", allowinvites="0"))
        assert r.get("type") == "result"
        join_raw(b, room, "bob")
        e = await wait_for(b, lambda s: s.get("from") == room + "/bob" and s.get("type") == "error")
        assert err_cond(e) == "registration-required"
        # the owner invites: the invitee is a member and may enter
        a.send_raw("<message to='%s'><x xmlns='%s'><invite to='MInv2@localhost'/></x></message>"
                   % (room, USER))
        await wait_for(b, lambda s: s.find("{%s}x/{%s}invite" % (USER, USER)) is not None)
        r = await iq_reply(a, admin_get(a, room, "affiliation='member'"))
        assert items_of(r) == [("minv2@localhost", "member")]
        join_raw(b, room, "bob2")
        p = await wait_for(b, self_presence(room, "bob2"))
        assert p.find("{%s}x/{%s}item" % (USER, USER)).get("affiliation") == "member"
        # a member may not invite where participants may not
        b.send_raw("<message to='%s' id='mi2'><x xmlns='%s'><invite to='minv3@localhost'/>"
                   "</x></message>" % (room, USER))
        e = await wait_for(b, lambda s: s.get("id") == "mi2")
        assert err_cond(e) == "forbidden"
        r = await iq_reply(a, admin_get(a, room, "affiliation='member'"))
        assert items_of(r) == [("minv2@localhost", "member")]
        # when they may, the invitee becomes a member too; an outcast stays out
        r = await iq_reply(a, configure(a, room, allowinvites="1"))
        assert r.get("type") == "result"
        r = await iq_reply(a, admin_set(a, room, "<item affiliation='outcast' jid='out@localhost'/>"))
        assert r.get("type") == "result"
        for who in ("minv3", "out"):
            b.send_raw("<message to='%s'><x xmlns='%s'><invite to='%s@localhost'/></x></message>"
                       % (room, USER, who))
        await wait_for(c, lambda s: s.find("{%s}x/{%s}invite" % (USER, USER)) is not None)
        r = await iq_reply(a, admin_get(a, room, "affiliation='member'"))
        assert sorted(items_of(r)) == [("minv2@localhost", "member"), ("minv3@localhost", "member")]
        r = await iq_reply(a, admin_get(a, room, "affiliation='outcast'"))
        assert items_of(r) == [("out@localhost", "outcast")]
        await disconnect(a, b, c)
    arun(go())


def test_admins_only_creation_and_332_on_shutdown(pg):
    s = XmppServer(pg, extra='[muc]\ncreate = "admins"\nadmins = ["boss@localhost"]\n')
    room = "staff@" + SVC

    async def go():
        a, b = await login(s, "boss"), await login(s, "worker")
        join_raw(b, "other@" + SVC, "w")
        e = await wait_for(b, lambda x: x.get("type") == "error")
        assert err_cond(e) == "not-allowed"
        await create_instant(a, room, "boss")
        join_raw(b, room, "w")
        await wait_for(b, self_presence(room, "w"))
        s.daemon.proc.terminate()
        p = await wait_for(b, lambda x: x.get("type") == "unavailable" and 332 in codes(x))
        assert p.get("from") == room + "/w"
        await disconnect(a, b)
    try:
        arun(go())
        # one SIGTERM only: stop() below checks the exit status and the log
        s.daemon.proc.wait(10)
    finally:
        s.destroy()


def stats(s):
    r = s.ctl("stats")
    assert r.returncode == 0, r.stderr
    return dict(l.split("\t", 1) for l in r.stdout.splitlines() if "\t" in l)


def test_persistent_room_survives_restart(pg):
    s = XmppServer(pg, extra="[muc]\nhistory = 2\n")
    room, temp = "keep@" + SVC, "gone@" + SVC
    seen = {}

    async def first():
        a, b = await login(s, "keep1"), await login(s, "keep2")
        await create_instant(a, room, "ann")
        seen["ann"] = occ_id(await wait_for(a, self_presence(room, "ann")))
        r = await iq_reply(a, configure(a, room, roomname="Kept", membersonly="0",
                                        passwordprotectedroom="1", roomsecret="pw"))
        assert r.get("type") == "result"
        r = await iq_reply(a, admin_set(a, room, "<item affiliation='outcast' jid='spam@localhost'/>"
                                        "<item affiliation='member' jid='keep2@localhost'/>"))
        assert r.get("type") == "result"
        a.send_raw("<message to='%s' type='groupchat'><subject>Stays</subject></message>" % room)
        await wait_for(a, lambda x: x.findtext("{jabber:client}subject") == "Stays")
        for i in range(3):
            a.send_raw("<message to='%s' type='groupchat'><body>k%d</body></message>" % (room, i))
        await wait_for(a, lambda x: x.findtext("{jabber:client}body") == "k2")
        seen["sids"] = [x.find("{urn:xmpp:sid:0}stanza-id").get("id") for x in a.got
                        if x.findtext("{jabber:client}body") in ("k1", "k2")]
        # a temporary room
        await create_instant(b, temp, "bob")
        r = await iq_reply(b, configure(b, temp, persistentroom="0"))
        assert r.get("type") == "result"
        await disconnect(a, b)
        await until(lambda: stats(s).get("muc_rooms") == "0")

    async def second():
        assert stats(s).get("muc_rooms") == "0"       # nothing loaded at start
        a, b = await login(s, "keep1", False), await login(s, "keep2", False)
        r = await iq_reply(b, iq_raw(b, temp, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"))
        assert err_cond(r) == "item-not-found"
        r = await iq_reply(b, iq_raw(b, room, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"))
        q = r.find("{http://jabber.org/protocol/disco#info}query")
        assert q.find("{http://jabber.org/protocol/disco#info}identity").get("name") == "Kept"
        feats = [f.get("var") for f in q.findall("{http://jabber.org/protocol/disco#info}feature")]
        assert "muc_persistent" in feats and "muc_passwordprotected" in feats
        assert stats(s).get("muc_rooms") == "0"       # a disco does not keep it
        join_raw(b, room, "bob")
        e = await wait_for(b, lambda x: x.get("type") == "error" and x.tag.endswith("presence"))
        assert err_cond(e) == "not-authorized"
        join_raw(b, room, "bob", "<x xmlns='%s'><password>pw</password></x>" % MUC)
        await wait_for(b, lambda x: x.findtext("{jabber:client}subject") is not None)
        got = from_room(b, room, "message")
        assert [m.findtext("{jabber:client}body") for m in got[:-1]] == ["k1", "k2"]
        # history carries the stanza-ids the messages had when sent
        assert [m.find("{urn:xmpp:sid:0}stanza-id").get("id") for m in got[:-1]] == seen["sids"]
        assert all(m.find("{urn:xmpp:delay}delay") is not None for m in got[:-1])
        assert got[-1].findtext("{jabber:client}subject") == "Stays"
        assert got[-1].get("from") == room + "/ann"
        # the creator is still its owner
        join_raw(a, room, "ann")
        p = await wait_for(a, self_presence(room, "ann"))
        assert p.find("{%s}x/{%s}item" % (USER, USER)).get("affiliation") == "owner"
        assert occ_id(p) == seen["ann"]         # XEP-0421 ids survive the restart
        r = await iq_reply(a, iq_raw(a, room, "get", "<query xmlns='%s'/>" % OWNER))
        assert r.get("type") == "result"
        r = await iq_reply(a, admin_get(a, room, "affiliation='outcast'"))
        assert items_of(r) == [("spam@localhost", "outcast")]
        r = await iq_reply(a, admin_get(a, room, "affiliation='member'"))
        assert items_of(r) == [("keep2@localhost", "member")]
        # destroyed: gone from the database too
        r = await iq_reply(a, iq_raw(a, room, "set", "<query xmlns='%s'><destroy/></query>" % OWNER))
        assert r.get("type") == "result"
        await disconnect(a, b)

    try:
        arun(first())
        s.stop()
        s.start()
        arun(second())
        s.stop()
        s.start()

        async def third():
            c = await login(s, "keep3")
            r = await iq_reply(c, iq_raw(c, room, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"))
            assert err_cond(r) == "item-not-found"
            await disconnect(c)
        arun(third())
    finally:
        s.destroy()


ADMIN = MUC + "#admin"


def admin_set(c, room, items):
    return iq_raw(c, room, "set", "<query xmlns='%s'>%s</query>" % (ADMIN, items))


def admin_get(c, room, what):
    return iq_raw(c, room, "get", "<query xmlns='%s'><item %s/></query>" % (ADMIN, what))


def items_of(iq):
    return [(i.get("jid"), i.get("affiliation")) for i in iq.iter("{%s}item" % ADMIN)]


def test_affiliations_kick_ban(server):
    room = "ruled@" + SVC

    async def go():
        a, b, c = [await login(server, "rule%d" % i) for i in range(3)]
        await create_instant(a, room, "ann")
        for x, nick in ((b, "bob"), (c, "cat")):
            join_raw(x, room, nick)
            await wait_for(x, self_presence(room, nick))
        r = await iq_reply(a, admin_get(a, room, "affiliation='owner'"))
        assert items_of(r) == [("rule0@localhost", "owner")]
        # a member: everyone sees the new affiliation
        r = await iq_reply(a, admin_set(a, room, "<item affiliation='member' jid='rule1@localhost/x'/>"))
        assert r.get("type") == "result"
        p = await wait_for(c, lambda s: s.get("from") == room + "/bob" and
                           s.find("{%s}x/{%s}item[@affiliation='member']" % (USER, USER)) is not None)
        r = await iq_reply(a, admin_get(a, room, "affiliation='member'"))
        assert items_of(r) == [("rule1@localhost", "member")]
        # not an admin: may neither read nor change the lists (semi-anonymous)
        r = await iq_reply(b, admin_get(b, room, "affiliation='member'"))
        assert err_cond(r) == "forbidden"
        r = await iq_reply(b, admin_set(b, room, "<item nick='cat' role='none'/>"))
        assert err_cond(r) == "forbidden"
        # the last owner stays; a bad item changes nothing of the rest
        r = await iq_reply(a, admin_set(a, room, "<item affiliation='none' jid='rule0@localhost'/>"))
        assert err_cond(r) == "conflict"
        r = await iq_reply(a, admin_set(a, room, "<item affiliation='member' jid='rule2@localhost'/>"
                                        "<item affiliation='bogus' jid='x@localhost'/>"))
        assert r.get("type") == "error"
        r = await iq_reply(a, admin_get(a, room, "affiliation='member'"))
        assert items_of(r) == [("rule1@localhost", "member")]
        # kick with a reason: 307 to everyone, 110 to the kicked
        r = await iq_reply(a, admin_set(a, room, "<item nick='cat' role='none'><reason>calm down</reason></item>"))
        assert r.get("type") == "result"
        p = await wait_for(c, lambda s: s.get("type") == "unavailable" and 307 in codes(s))
        assert codes(p) == [110, 307]
        it = p.find("{%s}x/{%s}item" % (USER, USER))
        assert it.findtext("{%s}reason" % USER) == "calm down"
        assert it.find("{%s}actor" % USER).get("nick") == "ann"
        await wait_for(b, lambda s: s.get("from") == room + "/cat" and 307 in codes(s))
        # ban: 301, and no way back in
        join_raw(c, room, "cat")
        await wait_for(c, lambda s: s.get("from") == room + "/cat" and 110 in codes(s)
                       and s.get("type") != "unavailable")
        r = await iq_reply(a, admin_set(a, room, "<item affiliation='outcast' jid='rule2@localhost'/>"))
        assert r.get("type") == "result"
        p = await wait_for(c, lambda s: s.get("type") == "unavailable" and 301 in codes(s))
        c.got.clear()
        join_raw(c, room, "cat")
        e = await wait_for(c, lambda s: s.get("type") == "error")
        assert err_cond(e) == "forbidden"
        r = await iq_reply(a, admin_get(a, room, "affiliation='outcast'"))
        assert items_of(r) == [("rule2@localhost", "outcast")]
        # an owner cannot be kicked
        r = await iq_reply(a, admin_set(a, room, "<item nick='ann' role='none'/>"))
        assert err_cond(r) == "not-allowed"
        await disconnect(a, b, c)
    arun(go())


def test_voice_in_moderated_room(server):
    room = "quiet@" + SVC

    async def go():
        a, d = await login(server, "voice1"), await login(server, "voice2")
        await create_instant(a, room, "ann")
        r = await iq_reply(a, configure(a, room, moderatedroom="1"))
        assert r.get("type") == "result"
        join_raw(d, room, "dan")
        p = await wait_for(d, self_presence(room, "dan"))
        assert p.find("{%s}x/{%s}item" % (USER, USER)).get("role") == "visitor"
        d.send_raw("<message to='%s' type='groupchat' id='v1'><body>hi</body></message>" % room)
        e = await wait_for(d, lambda s: s.get("id") == "v1" and s.get("type") == "error")
        assert err_cond(e) == "forbidden"
        r = await iq_reply(a, admin_set(a, room, "<item nick='dan' role='participant'/>"))
        assert r.get("type") == "result"
        await wait_for(d, lambda s: s.get("from") == room + "/dan" and
                       s.find("{%s}x/{%s}item[@role='participant']" % (USER, USER)) is not None)
        d.send_raw("<message to='%s' type='groupchat'><body>now I may</body></message>" % room)
        await wait_for(a, lambda s: s.findtext("{jabber:client}body") == "now I may")
        r = await iq_reply(a, admin_get(a, room, "role='participant'"))
        assert [i.get("nick") for i in r.iter("{%s}item" % ADMIN)] == ["dan"]
        r = await iq_reply(a, admin_set(a, room, "<item nick='dan' role='visitor'/>"))
        assert r.get("type") == "result"
        await wait_for(d, lambda s: s.get("from") == room + "/dan" and
                       s.find("{%s}x/{%s}item[@role='visitor']" % (USER, USER)) is not None)
        # a voice request (§7.13): the moderator gets a form and approves it
        req = ("<message to='%s'><x xmlns='%s' type='submit'>"
               "<field var='FORM_TYPE'><value>%s#request</value></field>"
               "<field var='muc#role'><value>participant</value></field></x></message>"
               % (room, XD, MUC))
        d.send_raw(req)
        f = await wait_for(a, lambda s: s.get("from") == room and
                           s.find("{%s}x[@type='form']" % XD) is not None)
        vals = {x.get("var"): x.findtext("{%s}value" % XD) for x in f.iter("{%s}field" % XD)}
        assert vals["FORM_TYPE"] == MUC + "#request" and vals["muc#roomnick"] == "dan"
        assert vals["muc#jid"] == "voice2@localhost"
        a.send_raw("<message to='%s'><x xmlns='%s' type='submit'>"
                   "<field var='FORM_TYPE'><value>%s#request</value></field>"
                   "<field var='muc#role'><value>participant</value></field>"
                   "<field var='muc#roomnick'><value>dan</value></field>"
                   "<field var='muc#request_allow'><value>true</value></field></x></message>"
                   % (room, XD, MUC))
        d.got.clear()
        await wait_for(d, lambda s: s.get("from") == room + "/dan" and
                       s.find("{%s}x/{%s}item[@role='participant']" % (USER, USER)) is not None)
        # a visitor cannot approve anything
        r = await iq_reply(a, admin_set(a, room, "<item nick='dan' role='visitor'/>"))
        d.send_raw("<message to='%s' id='ap'><x xmlns='%s' type='submit'>"
                   "<field var='FORM_TYPE'><value>%s#request</value></field>"
                   "<field var='muc#roomnick'><value>dan</value></field>"
                   "<field var='muc#request_allow'><value>true</value></field></x></message>"
                   % (room, XD, MUC))
        e = await wait_for(d, lambda s: s.get("id") == "ap")
        assert err_cond(e) == "forbidden"
        await disconnect(a, d)
    arun(go())


def test_room_limits(pg):
    s = XmppServer(pg, extra='[muc]\nmax_rooms_per_creator = 1\nmax_presence = "2K"\n'
                   'message_rate = 1\nmessage_burst = 3\n')
    first, second = "lim1@" + SVC, "lim2@" + SVC

    async def go():
        a = await login(s, "limit1")
        await create_instant(a, first, "ann")
        # while the first is in memory the second is refused at once
        join_raw(a, second, "ann")
        e = await wait_for(a, lambda x: x.get("type") == "error" and x.tag.endswith("presence"))
        assert err_cond(e) == "resource-constraint"
        a.send_raw("<presence to='%s/ann' type='unavailable'/>" % first)
        await until(lambda: stats(s).get("muc_rooms") == "0")
        # out of memory it still counts: the database refuses to store a second
        a.got.clear()
        join_raw(a, second, "ann")
        await wait_for(a, self_presence(second, "ann"))
        r = await iq_reply(a, iq_raw(a, second, "set", "<query xmlns='%s'><x xmlns='%s' "
                                     "type='submit'/></query>" % (OWNER, XD)))
        assert err_cond(r) == "resource-constraint"
        # as a temporary room it may be
        r = await iq_reply(a, configure(a, second, persistentroom="0"))
        assert r.get("type") == "result"
        # an oversized presence is refused and changes nothing
        a.got.clear()
        a.send_raw("<presence to='%s/ann'><status>%s</status></presence>" % (second, "x" * 3000))
        e = await wait_for(a, lambda x: x.get("type") == "error" and x.tag.endswith("presence"))
        assert err_cond(e) == "not-acceptable"
        # the room's flood limit: a burst of 3, then 1 a second
        for i in range(6):
            a.send_raw("<message to='%s' type='groupchat' id='f%d'><body>f%d</body></message>"
                       % (second, i, i))
        e = await wait_for(a, lambda x: (x.get("id") or "").startswith("f") and
                           x.get("type") == "error")
        assert err_cond(e) == "policy-violation"
        assert [x.findtext("{jabber:client}body") for x in a.got
                if x.get("type") == "groupchat" and x.findtext("{jabber:client}body")][:3] == \
            ["f0", "f1", "f2"]
        await disconnect(a)
    try:
        arun(go())
    finally:
        s.destroy()


def test_public_rooms_paged(pg):
    s = XmppServer(pg)
    # sorted before the other tests' rooms (one database for the module)
    names = ["0pa@" + SVC, "0pb@" + SVC, "0pc@" + SVC, "0pd@" + SVC]

    def items(c, rsm=""):
        return iq_raw(c, SVC, "get", "<query xmlns='http://jabber.org/protocol/disco#items'>%s</query>"
                      % rsm)

    async def go():
        a = await login(s, "pager")
        for i, room in enumerate(names):
            await create_instant(a, room, "ann")
            r = await iq_reply(a, configure(a, room, publicroom="0" if i == 3 else "1",
                                            persistentroom="0" if i == 1 else "1",
                                            roomname="Room %d" % i))
            assert r.get("type") == "result"
        # the persistent ones leave memory and are listed from the database
        for room in (names[0], names[2]):
            a.send_raw("<presence to='%s/ann' type='unavailable'/>" % room)
        await until(lambda: stats(s).get("muc_rooms") == "2")
        r = await iq_reply(a, items(a))
        got = [(i.get("jid"), i.get("name")) for i in r.iter("{http://jabber.org/protocol/disco#items}item")]
        assert got[:3] == [(names[0], "Room 0"), (names[1], "Room 1"), (names[2], "Room 2")]
        assert names[3] not in [j for j, _ in got]
        rsm = "{http://jabber.org/protocol/rsm}"
        r = await iq_reply(a, items(a, "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set>"))
        assert [i.get("jid") for i in r.iter("{http://jabber.org/protocol/disco#items}item")] == names[:2]
        last = r.find(".//%sset/%slast" % (rsm, rsm)).text
        assert last == names[1]
        r = await iq_reply(a, items(a, "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max>"
                                    "<after>%s</after></set>" % last))
        assert [i.get("jid") for i in r.iter("{http://jabber.org/protocol/disco#items}item")][0] == names[2]
        # the whole list forwards, page by page; its count; then backwards
        every, after = [], ""
        while True:
            r = await iq_reply(a, items(a, "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max>"
                                        "%s</set>" % after))
            page = [i.get("jid") for i in r.iter("{http://jabber.org/protocol/disco#items}item")]
            count = int(r.find(".//%sset/%scount" % (rsm, rsm)).text)
            if not page:
                break
            every += page
            after = "<after>%s</after>" % page[-1]
        assert every == sorted(every) and len(every) == len(set(every)) == count >= 3
        assert every[:3] == names[:3]
        r = await iq_reply(a, items(a, "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max>"
                                    "<before/></set>"))
        assert [i.get("jid") for i in r.iter("{http://jabber.org/protocol/disco#items}item")] == every[-2:]
        r = await iq_reply(a, items(a, "<set xmlns='http://jabber.org/protocol/rsm'><max>2</max>"
                                    "<before>%s</before></set>" % names[2]))
        assert [i.get("jid") for i in r.iter("{http://jabber.org/protocol/disco#items}item")] == names[:2]
        assert r.find(".//%sset/%sfirst" % (rsm, rsm)).text == names[0]
        # <max>0</max>: the count alone (XEP-0059 §2.6)
        r = await iq_reply(a, items(a, "<set xmlns='http://jabber.org/protocol/rsm'><max>0</max></set>"))
        assert not list(r.iter("{http://jabber.org/protocol/disco#items}item"))
        assert int(r.find(".//%sset/%scount" % (rsm, rsm)).text) == count
        for bad in ("<max>-1</max>", "<max>x</max>", "<after>not a room</after>",
                    "<before>x@elsewhere.example</before>"):
            r = await iq_reply(a, items(a, "<set xmlns='http://jabber.org/protocol/rsm'>%s</set>" % bad))
            assert err_cond(r) == "bad-request", bad
        await disconnect(a)
    try:
        arun(go())
    finally:
        s.destroy()


def test_iq_to_occupants_relayed(server):
    room = "relay@" + SVC

    async def go():
        a, b = await login(server, "rel1"), await login(server, "rel2")
        r = await iq_reply(a, iq_raw(a, "rel1@localhost", "set",
                                     "<vCard xmlns='vcard-temp'><FN>Ann A.</FN></vCard>"))
        assert r.get("type") == "result"
        await create_instant(a, room, "ann")
        join_raw(b, room, "bob")
        await wait_for(b, self_presence(room, "bob"))
        # vCard: answered for ann's account, seen as from her occupant JID
        i = iq_raw(b, room + "/ann", "get", "<vCard xmlns='vcard-temp'/>")
        r = await iq_reply(b, i)
        assert r.get("type") == "result" and r.get("from") == room + "/ann"
        assert r.findtext("{vcard-temp}vCard/{vcard-temp}FN") == "Ann A."
        # anything else: to ann's client (slixmpp answers version queries)
        i = iq_raw(b, room + "/ann", "get", "<query xmlns='jabber:iq:version'/>")
        r = await iq_reply(b, i)
        assert r.get("type") == "result" and r.get("from") == room + "/ann"
        assert r.find("{jabber:iq:version}query") is not None
        # ann's client saw the request from bob's occupant JID, not his JID
        q = await wait_for(a, lambda s: s.tag == "{jabber:client}iq" and
                           s.find("{jabber:iq:version}query") is not None)
        assert q.get("from") == room + "/bob"
        i = iq_raw(b, room + "/nobody", "get", "<query xmlns='jabber:iq:version'/>")
        r = await iq_reply(b, i)
        assert err_cond(r) == "item-not-found"
        await disconnect(a, b)
    arun(go())


OCC = "urn:xmpp:occupant-id:0"


def occ_id(s):
    e = s.find("{%s}occupant-id" % OCC)
    return None if e is None else e.get("id")


def test_occupant_ids(server):
    room = "ids@" + SVC

    async def go():
        a, b = await login(server, "oid1"), await login(server, "oid2")
        await create_instant(a, room, "ann")
        r = await iq_reply(a, iq_raw(a, room, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"))
        feats = [f.get("var") for f in r.iter("{http://jabber.org/protocol/disco#info}feature")]
        assert OCC in feats and "urn:xmpp:sid:0" in feats
        join_raw(b, room, "bob")
        p = await wait_for(b, self_presence(room, "bob"))
        bob_id = occ_id(p)
        ann_id = occ_id(await wait_for(b, lambda s: s.get("from") == room + "/ann"))
        assert bob_id and ann_id and bob_id != ann_id
        # a forged id is replaced by the room's
        b.send_raw("<message to='%s' type='groupchat'><body>mine</body>"
                   "<occupant-id xmlns='%s' id='%s'/></message>" % (room, OCC, ann_id))
        m = await wait_for(a, lambda s: s.findtext("{jabber:client}body") == "mine")
        assert [e.get("id") for e in m.findall("{%s}occupant-id" % OCC)] == [bob_id]
        # XEP-0359: the room's stanza-id, a forged one of the room's dropped
        b.send_raw("<message to='%s' type='groupchat'><body>sid</body>"
                   "<stanza-id xmlns='urn:xmpp:sid:0' by='%s' id='forged'/></message>" % (room, room))
        m = await wait_for(a, lambda s: s.findtext("{jabber:client}body") == "sid")
        sids = [(e.get("by"), e.get("id")) for e in m.findall("{urn:xmpp:sid:0}stanza-id")]
        assert len(sids) == 1 and sids[0][0] == room and sids[0][1] != "forged"
        mine = await wait_for(b, lambda s: s.findtext("{jabber:client}body") == "sid")
        assert mine.find("{urn:xmpp:sid:0}stanza-id").get("id") == sids[0][1]
        # the same after leaving, renaming and coming back
        b.send_raw("<presence to='%s/bob' type='unavailable'/>" % room)
        await wait_for(b, lambda s: s.get("type") == "unavailable" and 110 in codes(s))
        b.got.clear()
        join_raw(b, room, "robert")
        p = await wait_for(b, self_presence(room, "robert"))
        assert occ_id(p) == bob_id
        await disconnect(a, b)
    arun(go())


def test_service_turned_off_on_reload(pg):
    import signal
    s = XmppServer(pg)
    room = "reload@" + SVC

    async def go():
        a = await login(s, "rl1")
        await create_instant(a, room, "ann")
        with open(s.conf, "a") as f:
            f.write("\n[muc]\nenabled = false\n")
        s.daemon.proc.send_signal(signal.SIGHUP)
        p = await wait_for(a, lambda x: x.get("type") == "unavailable" and 332 in codes(x))
        assert p.get("from") == room + "/ann"
        await until(lambda: stats(s).get("muc_rooms") == "0")
        r = await iq_reply(a, iq_raw(a, "localhost", "get", "<query xmlns='http://jabber.org/protocol/disco#items'/>"))
        assert SVC not in [i.get("jid") for i in r.iter("{http://jabber.org/protocol/disco#items}item")]
        await disconnect(a)
    try:
        arun(go())
    finally:
        s.destroy()


def test_room_vcard_avatar(pg):
    import base64
    import hashlib
    s = XmppServer(pg)
    room = "avatar@" + SVC
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    b64 = base64.b64encode(png).decode()
    sha = hashlib.sha1(png).hexdigest()
    vcard = ("<vCard xmlns='vcard-temp'><FN>Room</FN><PHOTO><TYPE>image/png</TYPE>"
             "<BINVAL>%s</BINVAL></PHOTO></vCard>" % b64)

    async def go():
        a, b = await login(s, "av1"), await login(s, "av2")
        await create_instant(a, room, "ann")
        join_raw(b, room, "bob")
        await wait_for(b, self_presence(room, "bob"))
        r = await iq_reply(b, iq_raw(b, room, "set", vcard))
        assert err_cond(r) == "forbidden"
        r = await iq_reply(a, iq_raw(a, room, "set", vcard))
        assert r.get("type") == "result"
        p = await wait_for(b, lambda x: x.get("from") == room and x.tag.endswith("presence"))
        assert p.findtext("{vcard-temp:x:update}x/{vcard-temp:x:update}photo") == sha
        assert 104 in codes(p)
        r = await iq_reply(b, iq_raw(b, room, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"))
        feats = [f.get("var") for f in r.iter("{http://jabber.org/protocol/disco#info}feature")]
        form = {f.get("var"): f.findtext("{%s}value" % XD) for f in r.iter("{%s}field" % XD)}
        assert "vcard-temp" in feats and form["muc#roominfo_avatarhash"] == sha
        await disconnect(a, b)

    async def after():
        c = await login(s, "av3")
        r = await iq_reply(c, iq_raw(c, room, "get", "<vCard xmlns='vcard-temp'/>"))
        assert r.findtext("{vcard-temp}vCard/{vcard-temp}PHOTO/{vcard-temp}BINVAL") == b64
        await disconnect(c)
    try:
        arun(go())
        s.stop()
        s.start()
        arun(after())
    finally:
        s.destroy()


def test_blocking_applies_to_rooms(server):
    """XEP-0191 on rooms: an occupant whose account blocks another
    occupant's room JID stays in the room (it never sent that JID
    presence, so no §3.3 unavailable goes there, which the room would
    take as leaving) and gets nothing from that occupant, groupchat or
    private, while the others still reach it; blocking the room's own JID
    makes it leave under its own nick (§3.3)."""
    room = "blkroom@" + SVC
    blk = "urn:xmpp:blocking"

    def block(c, op, jid):
        return iq_raw(c, "blk2@localhost", "set",
                      "<%s xmlns='%s'><item jid='%s'/></%s>" % (op, blk, jid, op))

    async def roundtrip(c):
        # anything the server sent c before this answer is in c.got
        r = await iq_reply(c, iq_raw(c, "localhost", "get", "<ping xmlns='urn:xmpp:ping'/>"))
        assert r.get("type") == "result"

    def left(c):
        return [s for s in c.got if s.get("from") == room + "/bob" and
                s.get("type") == "unavailable"]

    async def go():
        a, b, c = [await login(server, "blk%d" % i) for i in (1, 2, 3)]
        await create_instant(a, room, "ann")
        for x, nick in ((b, "bob"), (c, "cid")):
            join_raw(x, room, nick)
            await wait_for(x, self_presence(room, nick))
        assert (await iq_reply(b, block(b, "block", room + "/ann"))).get("type") == "result"
        a.send_raw("<message to='%s/bob' type='chat'><body>private</body></message>" % room)
        a.send_raw("<message to='%s' type='groupchat'><body>hidden</body></message>" % room)
        # ann's own echo proves the room sent it to its occupants
        await wait_for(a, lambda s: s.findtext("{jabber:client}body") == "hidden")
        c.send_raw("<message to='%s' type='groupchat'><body>from-c</body></message>" % room)
        await wait_for(b, lambda s: s.findtext("{jabber:client}body") == "from-c")
        assert not [s for s in b.got if s.findtext("{jabber:client}body") in ("hidden", "private")]
        await roundtrip(a)
        assert not left(a), "bob must still be in the room"
        assert (await iq_reply(b, block(b, "unblock", room + "/ann"))).get("type") == "result"
        a.send_raw("<message to='%s' type='groupchat'><body>seen</body></message>" % room)
        await wait_for(b, lambda s: s.findtext("{jabber:client}body") == "seen")
        # the room's own JID blocked: bob leaves it, under his nick
        assert (await iq_reply(b, block(b, "block", room))).get("type") == "result"
        await wait_for(a, lambda s: left(a) and s in left(a))
        await disconnect(a, b, c)
    arun(go())


def configure_raw(c, room, fields_xml):
    return iq_raw(c, room, "set", "<query xmlns='%s'><x xmlns='%s' type='submit'>"
                  "<field var='FORM_TYPE'><value>%s#roomconfig</value></field>%s</x></query>"
                  % (OWNER, XD, MUC, fields_xml))


def test_language_and_presence_broadcast_by_role(server):
    room = "hushed@" + SVC

    def pres_of(c, nick):
        return [s for s in c.got if s.tag == "{jabber:client}presence" and
                s.get("from") == room + "/" + nick]

    async def go():
        a, b, c = (await login(server, "pb1"), await login(server, "pb2"),
                   await login(server, "pb3"))
        await create_instant(a, room, "ann")
        # the form offers both; bad values change nothing
        r = await iq_reply(a, iq_raw(a, room, "get", "<query xmlns='%s'/>" % OWNER))
        fields = {f.get("var"): f for f in r.iter("{%s}field" % XD)}
        pb = fields["muc#roomconfig_presencebroadcast"]
        assert pb.get("type") == "list-multi"
        assert sorted(v.text for v in pb.findall("{%s}value" % XD)) == ["moderator", "participant", "visitor"]
        assert "muc#roomconfig_lang" in fields
        for bad in ("<field var='muc#roomconfig_lang'><value>not a tag!</value></field>",
                    "<field var='muc#roomconfig_lang'><value>toolongsubtag</value></field>",
                    "<field var='muc#roomconfig_presencebroadcast'><value>owner</value></field>"):
            r = await iq_reply(a, configure_raw(a, room, bad))
            assert err_cond(r) == "not-acceptable", bad
        r = await iq_reply(a, configure_raw(
            a, room, "<field var='muc#roomconfig_lang'><value>de-CH</value></field>"
            "<field var='muc#roomconfig_presencebroadcast'><value>moderator</value></field>"))
        assert r.get("type") == "result"
        r = await iq_reply(a, iq_raw(a, room, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>"))
        langs = [f.findtext("{%s}value" % XD) for f in r.iter("{%s}field" % XD)
                 if f.get("var") == "muc#roominfo_lang"]
        assert langs == ["de-CH"]
        # participants see the moderators only; moderators see everyone
        join_raw(b, room, "bob")
        await wait_for(b, self_presence(room, "bob"))
        join_raw(c, room, "cat")
        await wait_for(c, self_presence(room, "cat"))
        await wait_for(a, lambda s: s.get("from") == room + "/cat")
        assert pres_of(c, "ann") and not pres_of(c, "bob")
        assert pres_of(a, "bob") and pres_of(a, "cat")
        assert not pres_of(b, "cat")
        # bob becomes a moderator: the others see him enter; and leave
        r = await iq_reply(a, admin_set(a, room, "<item nick='bob' role='moderator'/>"))
        assert r.get("type") == "result"
        p = await wait_for(c, lambda s: s.get("from") == room + "/bob")
        assert p.get("type") is None and p.find("{%s}x/{%s}item[@role='moderator']" % (USER, USER)) is not None
        r = await iq_reply(a, admin_set(a, room, "<item nick='bob' role='participant'/>"))
        assert r.get("type") == "result"
        await wait_for(c, lambda s: s.get("from") == room + "/bob" and s.get("type") == "unavailable")
        await wait_for(b, lambda s: s.get("from") == room + "/bob" and
                       s.find("{%s}x/{%s}item[@role='participant']" % (USER, USER)) is not None)
        # cat leaves: nobody but the moderators hears it
        c.send_raw("<presence to='%s/cat' type='unavailable'/>" % room)
        await wait_for(a, lambda s: s.get("from") == room + "/cat" and s.get("type") == "unavailable")
        # messages still reach everyone
        a.send_raw("<message to='%s' type='groupchat'><body>all of you</body></message>" % room)
        await wait_for(b, lambda s: s.findtext("{jabber:client}body") == "all of you")
        assert not [s for s in b.got if s.get("from") == room + "/cat"]
        await disconnect(a, b, c)
        out = server.ctl("room", room).stdout
        assert "lang\tde-CH\n" in out and "presence_broadcast\tmoderator\n" in out
    arun(go())


def test_bookmarked_room_autojoined_after_reconnect(server):
    """XEP-0402 (and its XEP-0048 view): a client bookmarks a persistent
    room with autojoin; its next session reads the bookmark, joins under
    the bookmarked nick and gets the room's history, as Conversations,
    Dino and Gajim do at login."""
    room = "bookmarked@" + SVC
    ps = "http://jabber.org/protocol/pubsub"

    async def go():
        a = await login(server, "bmj1")
        await create_instant(a, room, "ann")
        a.send_raw("<message to='%s' type='groupchat'><body>before you left</body></message>" % room)
        await wait_for(a, lambda s: s.findtext("{jabber:client}body") == "before you left")
        r = await iq_reply(a, iq_raw(a, "bmj1@localhost", "set",
                                     "<pubsub xmlns='%s'><publish node='urn:xmpp:bookmarks:1'>"
                                     "<item id='%s'><conference xmlns='urn:xmpp:bookmarks:1' "
                                     "name='Ours' autojoin='true'><nick>annie</nick></conference>"
                                     "</item></publish><publish-options><x xmlns='%s' type='submit'>"
                                     "<field var='FORM_TYPE' type='hidden'><value>%s#publish-options"
                                     "</value></field><field var='pubsub#persist_items'><value>true"
                                     "</value></field><field var='pubsub#access_model'><value>"
                                     "whitelist</value></field></x></publish-options></pubsub>"
                                     % (ps, room, XD, ps)))
        assert r.get("type") == "result"
        await disconnect(a)
        b = await login(server, "bmj1", new=False)
        r = await iq_reply(b, iq_raw(b, "bmj1@localhost", "get",
                                     "<pubsub xmlns='%s'><items node='urn:xmpp:bookmarks:1'/></pubsub>" % ps))
        conf = [(i.get("id"), i.find("{urn:xmpp:bookmarks:1}conference")) for i in r.iter("{%s}item" % ps)]
        assert [(j, c.get("autojoin"), c.findtext("{urn:xmpp:bookmarks:1}nick")) for j, c in conf] == \
            [(room, "true", "annie")]
        for jid, c in conf:
            join_raw(b, jid, c.findtext("{urn:xmpp:bookmarks:1}nick"))
        await wait_for(b, self_presence(room, "annie"))
        h = await wait_for(b, lambda s: s.findtext("{jabber:client}body") == "before you left")
        assert h.find("{urn:xmpp:delay}delay") is not None
        # the same bookmark, as an old client reads it (XEP-0048 in private storage)
        # (converted in the background: polled)
        for _ in range(100):
            r = await iq_reply(b, iq_raw(b, "bmj1@localhost", "get",
                                         "<query xmlns='jabber:iq:private'><storage "
                                         "xmlns='storage:bookmarks'/></query>"))
            old = r.find(".//{storage:bookmarks}conference")
            if old is not None:
                break
            await asyncio.sleep(0.1)
        assert old is not None and old.get("jid") == room and old.get("autojoin") in ("true", "1")
        await disconnect(b)
    arun(go())
