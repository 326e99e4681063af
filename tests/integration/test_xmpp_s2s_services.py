"""What builds on s2s, between two xmpp-core instances on loopback:
MAM (a remote contact's messages in our user's archive, stamped by
us; a remote occupant's groupchat in a room's archive), push
notifications (XEP-0357) to an app server on the other server, and PEP
notifications to a remote contact (+notify from its client's caps) and
from one."""

import asyncio
import time

import pytest

from pgcluster import PgCluster
from s2slab import MUC, S2sServer, Seen, body, muc_codes
from test_xmpp_mam import mam, stanza_ids
from test_xmpp_push import AppServer, enable
from xmpptest import arun, connect, disconnect, online, recv

A = "a.svc.test"
B = "b.svc.test"
MAM = "urn:xmpp:mam:2"

# [push] of A: quick retries, so a test does not wait min_interval
PUSH = "[push]\nmin_interval = 1\ntimeout = 5\n"


@pytest.fixture(scope="module")
def pair():
    pg = PgCluster()
    a = S2sServer(pg, A, start=False, s2s_extra=PUSH)
    b = S2sServer(pg, B, start=False)
    try:
        a.route_to(b)
        b.route_to(a)
        a.routes["conference." + B] = a.routes[B]
        b.routes["conference." + A] = b.routes[A]
        a.write_conf()
        b.write_conf()
        a.start()
        b.start()
        for u in ("alice", "anna", "apush"):
            a.adduser(u, u + "-pw-4")
        for u in ("bob", "app", "carol"):
            b.adduser(u, u + "-pw-4")
        yield a, b
        print("---- %s ----\n%s\n---- %s ----\n%s" % (A, a.log()[-30000:], B, b.log()[-20000:]))
    finally:
        a.destroy()
        b.destroy()
        pg.destroy()


async def login(jid, server):
    c = await connect(jid, jid.split("@")[0] + "-pw-4", server.port)
    await online(c)
    return c


def wait_log(server, text, timeout=20):
    deadline = time.time() + timeout
    while text not in server.log():
        assert time.time() < deadline, "no %r in the log" % text
        time.sleep(0.05)


def test_remote_messages_in_the_archive(pair):
    """bob (B) writes to alice (A): she gets it stamped with A's
    stanza-id for her archive (a forged one of B's for her dropped), where a query with `with` = bob finds it
    under that id; her answer is in her archive and in bob's (B's)."""
    a, b = pair

    async def scenario():
        alice = await login("alice@%s/mam" % A, a)
        bob = await login("bob@%s/mam" % B, b)
        # a stanza-id claiming to be A's for alice is B's forgery: A drops it
        bob.send_raw("<message to='alice@%s' type='chat'><body>archived across</body>"
                     "<stanza-id xmlns='urn:xmpp:sid:0' by='alice@%s' id='forged'/></message>"
                     % (A, A))
        m = await recv(alice.messages, 30)
        assert m["body"] == "archived across"
        ids = stanza_ids(m, "alice@%s" % A)
        assert len(ids) == 1 and ids != ["forged"], m
        res, _ = await mam(alice, fields={"with": "bob@%s" % B})
        assert [(r[0], r[2].findtext("{jabber:client}body")) for r in res] == \
            [(ids[0], "archived across")], res
        assert res[0][2].get("from") == "bob@%s/mam" % B
        alice.send_message(mto="bob@%s/mam" % B, mbody="and back", mtype="chat")
        m = await recv(bob.messages, 30)
        bob_ids = stanza_ids(m, "bob@%s" % B)
        assert len(bob_ids) == 1, m
        res, _ = await mam(bob, fields={"with": "alice@%s" % A})
        assert [r[2].findtext("{jabber:client}body") for r in res] == \
            ["archived across", "and back"] and res[1][0] == bob_ids[0], res
        res, _ = await mam(alice, fields={"with": "bob@%s" % B})
        assert [r[2].findtext("{jabber:client}body") for r in res] == \
            ["archived across", "and back"], res
        await disconnect(alice, bob)

    arun(scenario(), 90)


def test_remote_occupant_in_the_room_archive(pair):
    """bob (B) in an archived room of A's: his groupchat is in the
    room's archive under the stanza-id he got live, from his nick."""
    a, b = pair
    room = "archived@conference." + A

    async def scenario():
        alice = await login("alice@%s/room" % A, a)
        bob = await login("bob@%s/room" % B, b)
        sa, sb = Seen(alice), Seen(bob)
        alice.send_raw("<presence to='%s/alice'><x xmlns='%s'/></presence>" % (room, MUC))
        await sa.first(lambda s: s.get("from") == room + "/alice" and 201 in muc_codes(s))
        alice.send_raw(
            "<iq type='set' id='cfg' to='%s'><query xmlns='%s#owner'><x xmlns='jabber:x:data' "
            "type='submit'><field var='FORM_TYPE'><value>%s#roomconfig</value></field>"
            "<field var='muc#roomconfig_persistentroom'><value>1</value></field>"
            "<field var='mam'><value>1</value></field></x></query></iq>" % (room, MUC, MUC))
        assert (await sa.first(lambda s: s.get("id") == "cfg")).get("type") == "result"
        bob.send_raw("<presence to='%s/bob'><x xmlns='%s'/></presence>" % (room, MUC))
        await sb.first(lambda s: s.get("from") == room + "/bob" and 110 in muc_codes(s), 30)
        bob.send_raw("<message to='%s' type='groupchat'><body>kept by the room</body>"
                     "</message>" % room)
        live = await sb.first(lambda s: body(s) == "kept by the room")
        sid = [e.get("id") for e in live.findall("{urn:xmpp:sid:0}stanza-id")
               if e.get("by") == room]
        assert len(sid) == 1, live
        await sa.first(lambda s: body(s) == "kept by the room")
        qid = "rq1"
        alice.send_raw("<iq type='set' id='rm' to='%s'><query xmlns='%s' queryid='%s'/></iq>"
                       % (room, MAM, qid))
        await sa.first(lambda s: s.get("id") == "rm" and s.get("type") == "result")
        got = [(r.get("id"), r.find("{urn:xmpp:forward:0}forwarded/{jabber:client}message"))
               for s in sa.got for r in s.findall("{%s}result" % MAM)
               if r.get("queryid") == qid]
        assert [(i, m.get("from"), body(m)) for i, m in got] == \
            [(sid[0], room + "/bob", "kept by the room")], got
        # bob's client catches up on the room through its archive too, over
        # s2s: the form, then a page with the same stanza-id, then the fin
        bob.send_raw("<iq type='get' id='rf' to='%s'><query xmlns='%s'/></iq>" % (room, MAM))
        form = await sb.first(lambda s: s.get("id") == "rf")
        assert form.get("type") == "result" and form.find(
            "{%s}query/{jabber:x:data}x" % MAM) is not None, form
        bob.send_raw("<iq type='set' id='rb' to='%s'><query xmlns='%s' queryid='rq2'>"
                     "<set xmlns='http://jabber.org/protocol/rsm'><max>10</max></set>"
                     "</query></iq>" % (room, MAM))
        fin = await sb.first(lambda s: s.get("id") == "rb", 30)
        assert fin.get("type") == "result", fin
        assert fin.findtext("{%s}fin/{http://jabber.org/protocol/rsm}set/"
                            "{http://jabber.org/protocol/rsm}count" % MAM) == "1", fin
        got = [(r.get("id"), r.find("{urn:xmpp:forward:0}forwarded/{jabber:client}message"))
               for s in sb.got for r in s.findall("{%s}result" % MAM)
               if r.get("queryid") == "rq2"]
        assert [(i, m.get("from"), body(m)) for i, m in got] == \
            [(sid[0], room + "/bob", "kept by the room")], got
        # a remote account that is neither occupant nor member of a
        # members-only room is refused, as a local one would be
        carol = await login("carol@%s/room" % B, b)
        sc = Seen(carol)
        alice.send_raw(
            "<iq type='set' id='cfg2' to='%s'><query xmlns='%s#owner'><x xmlns='jabber:x:data' "
            "type='submit'><field var='FORM_TYPE'><value>%s#roomconfig</value></field>"
            "<field var='muc#roomconfig_membersonly'><value>1</value></field>"
            "</x></query></iq>" % (room, MUC, MUC))
        assert (await sa.first(lambda s: s.get("id") == "cfg2")).get("type") == "result"
        carol.send_raw("<iq type='set' id='rc' to='%s'><query xmlns='%s'/></iq>" % (room, MAM))
        err = await sc.first(lambda s: s.get("id") == "rc", 30)
        assert err.get("type") == "error" and err.find(
            "{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}forbidden") \
            is not None, err
        await disconnect(alice, bob, carol)

    arun(scenario(), 90)


def test_push_to_an_app_server_on_the_other_server(pair):
    """apush (A) registers an app server on B (app@B/app, answering
    as a pubsub service would): a message while she is offline sends
    the publish over s2s and the result comes back to the push module;
    an error answer (cancel) removes the registration (XEP-0357 §7.1)."""
    a, b = pair
    me = "apush@" + A
    app_jid = "app@%s/app" % B

    async def scenario():
        app = AppServer(await login(app_jid, b), me)
        bob = await login("bob@%s/push" % B, b)
        c = await login(me + "/phone", a)
        await enable(c, "remote-node", secret="s2s-secret", jid=app_jid)
        await disconnect(c)
        bob.send_message(mto=me, mbody="wake up", mtype="chat")
        n = await app.next(30)
        assert n["from"] == me and n["to"] == app_jid and n["node"] == "remote-node", n
        assert n["summary"]["message-count"] == "1"
        assert n["options"]["secret"] == "s2s-secret"
        await asyncio.get_running_loop().run_in_executor(
            None, wait_log, a, "push: %s: %s accepted a notification" % (me, app_jid))
        app.answer = ("cancel", "item-not-found")
        await asyncio.sleep(1.2)	# min_interval of A
        bob.send_message(mto=me, mbody="again", mtype="chat")
        await app.next(30)
        await asyncio.get_running_loop().run_in_executor(
            None, wait_log, a, "push: %s: %s refused a notification (cancel, item-not-found): "
            "registration removed" % (me, app_jid))
        await asyncio.sleep(1.2)
        bob.send_message(mto=me, mbody="not notified", mtype="chat")
        await app.quiet(2)
        await disconnect(app.c, bob)

    arun(scenario(), 90)


NS_PS = "http://jabber.org/protocol/pubsub"
NS_EV = NS_PS + "#event"
NICK = "http://jabber.org/protocol/nick"
MOOD = "urn:example:s2s-mood"


async def pep_login(jid, port, interests, pw=None):
    """A client with caps (XEP-0115) saying <node>+notify for interests
    (password: this file's, unless given)."""
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath

    c = await connect(jid, pw or jid.split("@")[0] + "-pw-4", port)
    c.events = asyncio.Queue()
    c.register_handler(Callback("pep events", MatchXPath(
        "{jabber:client}message/{%s}event" % NS_EV), lambda m: c.events.put_nowait(m.xml)))
    for p in ("xep_0004", "xep_0060", "xep_0115", "xep_0163"):
        c.register_plugin(p)
    for ns in interests:
        c["xep_0030"].add_feature(ns + "+notify")
    await c["xep_0115"].update_caps(broadcast=False)
    await online(c)
    return c


async def befriend(x, y):
    """x and y, on either server, subscribed to each other (both)."""
    for a_, b_ in ((x, y), (y, x)):
        a_.send_presence(pto=b_.boundjid.bare, ptype="subscribe")
        while (await recv(b_.subscriptions, 30))["type"] != "subscribe":
            pass
        b_.send_presence(pto=a_.boundjid.bare, ptype="subscribed")
        while (await recv(a_.subscriptions, 30))["type"] != "subscribed":
            pass


def item(node, text, ns):
    import xml.etree.ElementTree as ET
    e = ET.Element("{%s}%s" % (ns, node))
    e.text = text
    return e


async def event_items(c, node, frm, timeout=30):
    """The ids and texts of the next event for node from frm that c
    gets (its own account's events pass by)."""
    deadline = time.time() + timeout
    while True:
        m = await recv(c.events, max(0.1, deadline - time.time()))
        items = m.find("{%s}event/{%s}items" % (NS_EV, NS_EV))
        if items is not None and items.get("node") == node and m.get("from") == frm:
            return [(i.get("id"), "".join(i.itertext()))
                    for i in items.findall("{%s}item" % NS_EV)]


def test_pep_notifications_across_servers(pair):
    """anna (A) and bob (B) subscribed to each other; bob's client wants
    nick notifications (+notify in its caps), not mood: anna's nick
    reaches him over s2s (A learnt his caps from his presence, asking
    his client over s2s), her mood does not; bob's nick reaches anna
    (B learnt hers the same way); a resource of his coming online later
    gets her last nick."""
    a, b = pair

    async def scenario():
        anna = await pep_login("anna@%s/pep" % A, a.port, [NICK])
        bob = await pep_login("bob@%s/pep" % B, b.port, [NICK])
        await befriend(anna, bob)
        # presence with caps went both ways with the subscriptions; a
        # fresh one makes sure each server saw the other's caps
        bob.send_presence(pstatus="pep")
        anna.send_presence(pstatus="pep")
        await asyncio.get_running_loop().run_in_executor(
            None, wait_log, a, "caps: bob@%s/pep: caps" % B)
        await asyncio.get_running_loop().run_in_executor(
            None, wait_log, b, "caps: anna@%s/pep: caps" % A)
        await anna["xep_0060"].publish("anna@" + A, NICK, id="n1",
                                       payload=item("nick", "Anna A", NICK))
        assert await event_items(bob, NICK, "anna@" + A) == [("n1", "Anna A")]
        await anna["xep_0060"].publish("anna@" + A, MOOD, id="m1",
                                       payload=item("mood", "not wanted", MOOD))
        await bob["xep_0060"].publish("bob@" + B, NICK, id="n2",
                                      payload=item("nick", "Bob B", NICK))
        assert await event_items(anna, NICK, "bob@" + B) == [("n2", "Bob B")]
        # anna's mood went before her nick n4: bob gets n4, never the mood
        await anna["xep_0060"].publish("anna@" + A, NICK, id="n4",
                                       payload=item("nick", "Anna 4", NICK))
        assert await event_items(bob, NICK, "anna@" + A) == [("n4", "Anna 4")]
        while not bob.events.empty():
            m = bob.events.get_nowait()
            assert m.find("{%s}event/{%s}items" % (NS_EV, NS_EV)).get("node") != MOOD, m
        # a resource of bob's that comes online later gets anna's last
        # nick (A sends it once it has the resource's caps), not her mood
        late = await pep_login("bob@%s/late" % B, b.port, [NICK])
        assert await event_items(late, NICK, "anna@" + A) == [("n4", "Anna 4")]
        await asyncio.sleep(0.5)
        while not late.events.empty():
            m = late.events.get_nowait()
            assert m.get("from") != "anna@" + A, m
        await disconnect(late)
        # bob goes offline: his unavailable presence makes A forget his
        # resource (run here for the sanitizers; what is not sent is not
        # seen on B: a headline to a gone resource is dropped silently)
        await disconnect(bob)
        while True:
            p = await recv(anna.presences, 30)
            if p["from"].full == "bob@%s/pep" % B and p["type"] == "unavailable":
                break
        await anna["xep_0060"].publish("anna@" + A, NICK, id="n5",
                                       payload=item("nick", "Anna again", NICK))
        await disconnect(anna)

    arun(scenario(), 90)


def test_quiet_links_park_and_carry_on(pair):
    """A link quiet for release_parser_after (5 s) lets go of its parser
    and, incoming, of OpenSSL's state; the next stanzas both ways pass
    as before."""
    a, b = pair

    async def scenario():
        alice = await login("alice@%s/park" % A, a)
        bob = await login("bob@%s/park" % B, b)
        bob.send_message(mto="alice@%s/park" % A, mbody="before", mtype="chat")
        assert (await recv(alice.messages, 30))["body"] == "before"
        mark = len(a.log())
        deadline = time.time() + 30
        # this quiet spell parks a link's parser; the incoming link's TLS
        # state is parked in this spell, or was in an earlier one and not
        # taken back since (which link carries which direction, and so
        # what was read since, depends on the earlier tests' timing)
        while not ("quiet: parked (parser" in a.log()[mark:] and
                   ("parked (parser, TLS)" in a.log() or "parked (TLS)" in a.log())):
            assert time.time() < deadline, a.log()[mark:][-3000:]
            await asyncio.sleep(0.2)
        bob.send_message(mto="alice@%s/park" % A, mbody="after, in", mtype="chat")
        assert (await recv(alice.messages, 30))["body"] == "after, in"
        alice.send_message(mto="bob@%s/park" % B, mbody="after, out", mtype="chat")
        assert (await recv(bob.messages, 30))["body"] == "after, out"
        await disconnect(alice, bob)

    arun(scenario(), 90)
