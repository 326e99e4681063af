"""xmpp-core issue 6, IM slice: message carbons (XEP-0280, XEP-0334
hints), client state indication (XEP-0352) and stream management
(XEP-0198), with real slixmpp clients and raw streams."""

import asyncio

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
    s = XmppServer(pg)
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
            m.append(__import__("xml.etree.ElementTree", fromlist=["x"]).fromstring(hint))
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
