"""xmpp-core issue 6, IM slice: message carbons (XEP-0280, XEP-0334
hints), client state indication (XEP-0352) and stream management
(XEP-0198), with real slixmpp clients and raw streams."""

import asyncio
import xml.etree.ElementTree as ET

import pytest

from pgcluster import PgCluster
from xmpptest import (Client, XmppServer, arun, disconnect, online, recv,
                      safe_abort)

PW = "correct horse battery staple"


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def server(pg):
    s = XmppServer(pg, extra="[csi]\nmax_queue = 4\n")
    yield s
    s.destroy()


async def login(jid, port, plugins=(), timeout=20):
    c = Client(jid, PW)
    for p in plugins:
        c.register_plugin(p)
    c.carbons = asyncio.Queue()
    c.add_event_handler("carbon_received", lambda m: c.carbons.put_nowait(("received", m)))
    c.add_event_handler("carbon_sent", lambda m: c.carbons.put_nowait(("sent", m)))
    c.connect(("127.0.0.1", port), force_starttls=True)
    await asyncio.wait([asyncio.ensure_future(c.started.wait()),
                        asyncio.ensure_future(c.failed.wait())],
                       timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if not c.started.is_set():
        safe_abort(c)
        raise AssertionError("login of %s failed" % jid)
    return c


async def real_message(q, timeout=10):
    """Next message with a body (carbon wrappers also raise 'message')."""
    while True:
        m = await recv(q, timeout)
        if m["body"]:
            return m


def test_carbons(server):
    server.adduser("cphone", PW)
    server.adduser("ccontact", PW)

    async def scenario():
        phone = await login("cphone@localhost/phone", server.port, ["xep_0280"])
        desk = await login("cphone@localhost/desk", server.port, ["xep_0280"])
        other = await login("ccontact@localhost/x", server.port)
        for c in (phone, desk, other):
            await online(c)
        info = await other["xep_0030"].get_info(jid="localhost")
        assert "urn:xmpp:carbons:2" in info["disco_info"]["features"]
        await desk["xep_0280"].enable()
        # received: a message to the phone's full JID is copied to the desk
        other.send_message(mto="cphone@localhost/phone", mbody="to phone", mtype="chat")
        m = await real_message(phone.messages)
        assert m["body"] == "to phone"
        kind, cm = await recv(desk.carbons)
        assert kind == "received"
        fwd = cm["carbon_received"]
        assert fwd["body"] == "to phone"
        assert str(fwd["from"]) == "ccontact@localhost/x"
        assert str(fwd["to"]) == "cphone@localhost/phone"
        # sent: what the phone sends is copied to the desk
        phone.send_message(mto="ccontact@localhost", mbody="from phone", mtype="chat")
        assert (await real_message(other.messages))["body"] == "from phone"
        kind, cm = await recv(desk.carbons)
        assert kind == "sent"
        assert cm["carbon_sent"]["body"] == "from phone"
        assert str(cm["carbon_sent"]["from"]) == "cphone@localhost/phone"
        # private (XEP-0280 §7) and no-copy (XEP-0334): no copy, and the
        # private element is not forwarded
        for hint in ("<private xmlns='urn:xmpp:carbons:2'/>",
                     "<no-copy xmlns='urn:xmpp:hints'/>"):
            m = phone.make_message(mto="ccontact@localhost", mbody="secret", mtype="chat")
            m.append(ET.fromstring(hint))
            m.send()
            got = await real_message(other.messages)
            assert got["body"] == "secret"
            assert "urn:xmpp:carbons:2" not in str(got)
        # the phone itself has carbons disabled: the desk's messages don't reach it
        desk.send_message(mto="ccontact@localhost", mbody="from desk", mtype="chat")
        assert (await real_message(other.messages))["body"] == "from desk"
        # a marker after the hinted messages: no carbon came for them
        phone.send_message(mto="ccontact@localhost", mbody="marker", mtype="chat")
        kind, cm = await recv(desk.carbons)
        assert kind == "sent" and cm["carbon_sent"]["body"] == "marker"
        assert phone.carbons.empty()
        # disabled: no more copies
        await desk["xep_0280"].disable()
        other.send_message(mto="cphone@localhost/phone", mbody="again", mtype="chat")
        assert (await real_message(phone.messages))["body"] == "again"
        await asyncio.sleep(0.3)
        assert desk.carbons.empty()
        # a negative-priority resource that enabled carbons gets a received
        # copy of a bare-JID message it was not delivered
        await desk["xep_0280"].enable()
        desk.send_presence(ppriority=-1)
        await asyncio.sleep(0.2)
        other.send_message(mto="cphone@localhost", mbody="to bare", mtype="chat")
        assert (await real_message(phone.messages))["body"] == "to bare"
        kind, cm = await recv(desk.carbons)
        assert kind == "received" and cm["carbon_received"]["body"] == "to bare"
        await disconnect(phone, desk, other)

    arun(scenario())


def chat_state(sender, to, state):
    m = sender.make_message(mto=to, mtype="chat")
    m.append(ET.fromstring("<%s xmlns='http://jabber.org/protocol/chatstates'/>" % state))
    m.send()


def drain(q):
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


def test_csi_holds_presence_and_chat_states(server):
    server.adduser("csimobile", PW)
    server.adduser("csipeer", PW)
    full = "csimobile@localhost/m"

    async def scenario():
        a = await login(full, server.port, ["xep_0352", "xep_0085"])
        b = await login("csipeer@localhost/b", server.port)
        a.states = asyncio.Queue()
        a.add_event_handler("chatstate", lambda m: a.states.put_nowait(m["chat_state"]))
        # arrival order of everything a gets from b
        a.seen = []
        a.add_event_handler("chatstate", lambda m: a.seen.append(m["chat_state"]))
        a.add_event_handler("presence_available",
                            lambda p: a.seen.append("presence:" + p["status"]))
        a.add_event_handler("message", lambda m: a.seen.append("body:" + m["body"]))
        await online(a)
        await online(b)
        assert a["xep_0352"].enabled	# the stream feature was offered
        await asyncio.sleep(0.2)
        drain(a.presences)
        a.seen.clear()
        a["xep_0352"].send_inactive()
        await asyncio.sleep(0.2)
        # held back: presence (only the latest per JID) and chat states
        b.send_presence(pto=full, pstatus="first")
        b.send_presence(pto=full, pstatus="second")
        chat_state(b, full, "composing")
        await asyncio.sleep(0.5)
        assert a.seen == []
        # a real message sends what is held, in order, before itself
        b.send_message(mto=full, mbody="wake up", mtype="chat")
        got = await real_message(a.messages)
        assert got["body"] == "wake up"
        assert a.seen == ["presence:second", "composing", "body:wake up"]
        drain(a.states)
        drain(a.presences)
        # still inactive: held again; <active/> sends it
        b.send_presence(pto=full, pstatus="third")
        await asyncio.sleep(0.3)
        assert a.presences.empty()
        a["xep_0352"].send_active()
        p = await recv(a.presences)
        assert p["status"] == "third"
        # active: nothing is held
        chat_state(b, full, "paused")
        assert await recv(a.states) == "paused"
        # the queue is bounded (max_queue = 4): the fifth held stanza
        # sends everything
        a["xep_0352"].send_inactive()
        await asyncio.sleep(0.2)
        for st in ("composing", "paused", "composing", "paused"):
            chat_state(b, full, st)
        await asyncio.sleep(0.4)
        assert a.states.empty()
        chat_state(b, full, "active")
        got = [await recv(a.states) for _ in range(5)]
        assert got == ["composing", "paused", "composing", "paused", "active"]
        await disconnect(a, b)

    arun(scenario())
