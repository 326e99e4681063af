"""PEP (XEP-0163) on xmpp-core against real peers: slixmpp clients with the
XEP-0060/0163/0115 plugins (caps with +notify interests, as Conversations,
Dino and Gajim send them) and raw IQs where a plugin has no call for what
is tested."""

import asyncio

import pytest
import slixmpp
from slixmpp.xmlstream import ET
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from pgcluster import PgCluster
from xmpptest import XmppServer, arun, connect, disconnect, online, recv, until

PW = "correct horse battery staple"
NS_PS = "http://jabber.org/protocol/pubsub"
NS_EV = NS_PS + "#event"
NS_ERR = NS_PS + "#errors"
MOOD = "urn:example:mood"
OMEMO = "eu.siacs.conversations.axolotl.devicelist"


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


PUBSUB_CONF = """
[pubsub]
max_nodes = 6
max_items = 20
max_item_size = "2K"
"""


@pytest.fixture(scope="module")
def server(pg):
    s = XmppServer(pg, extra=PUBSUB_CONF)
    s.test_pg = pg
    yield s
    if s.daemon:
        s.stop()


async def login(server, jid, interests=(), go_online=True):
    c = await connect(jid, PW, server.port)
    c.events = asyncio.Queue()
    c.register_handler(Callback("pubsub events", MatchXPath(
        "{jabber:client}message/{%s}event" % NS_EV), lambda m: c.events.put_nowait(m)))
    for p in ("xep_0004", "xep_0060", "xep_0115", "xep_0163", "xep_0223"):
        c.register_plugin(p)
    for ns in interests:
        c["xep_0030"].add_feature(ns + "+notify")
    await c["xep_0115"].update_caps(broadcast=False)
    if go_online:
        await online(c)
    return c


def payload(text, ns=MOOD):
    e = ET.Element("{%s}mood" % ns)
    e.text = text
    return e


def options(**kw):
    f = slixmpp.plugins.xep_0004.stanza.Form()
    f["type"] = "submit"
    f.add_field(var="FORM_TYPE", ftype="hidden",
                value=NS_PS + "#publish-options")
    for k, v in kw.items():
        f.add_field(var="pubsub#" + k, value=v)
    return f


async def iq_error(coro):
    with pytest.raises(slixmpp.exceptions.IqError) as ei:
        await coro
    return ei.value.iq


def app_condition(iq):
    err = iq.xml.find("{jabber:client}error")
    return [c.tag.split("}")[1] for c in err if c.tag.startswith("{" + NS_ERR)]


def ids_of(iq):
    return [i["id"] for i in iq["pubsub"]["items"]]


async def befriend(owner, contact):
    """contact gets a subscription to owner's presence."""
    contact.send_presence(pto=owner.boundjid.bare, ptype="subscribe")
    await recv(owner.subscriptions)
    owner.send_presence(pto=contact.boundjid.bare, ptype="subscribed")
    await until(lambda: contact.client_roster[owner.boundjid.bare]["subscription"]
                in ("to", "both"))


async def events(c, node, seconds=1.0):
    """Pubsub event messages for node that c received so far (drained)."""
    out = []
    deadline = asyncio.get_event_loop().time() + seconds
    while True:
        left = deadline - asyncio.get_event_loop().time()
        if left <= 0:
            break
        try:
            m = await asyncio.wait_for(c.events.get(), left)
        except asyncio.TimeoutError:
            break
        ev = m.xml.find("{%s}event" % NS_EV)
        if ev is None:
            continue
        for child in ev:
            if child.get("node") == node:
                out.append((str(m["from"]), child))
    return out


def test_disco_account_pep(server):
    server.adduser("disco", PW)

    async def scenario():
        c = await login(server, "disco@localhost/a")
        info = await c["xep_0030"].get_info(jid="disco@localhost")
        ids = info["disco_info"]["identities"]
        assert ("pubsub", "pep", None, None) in ids
        feats = info["disco_info"]["features"]
        for f in ("publish", "publish-options", "access-presence", "access-open",
                  "access-whitelist", "auto-create", "filtered-notifications",
                  "retrieve-items", "retract-items", "config-node", "last-published"):
            assert NS_PS + "#" + f in feats
        await c["xep_0060"].publish("disco@localhost", MOOD, id="x", payload=payload("a"))
        items = await c["xep_0030"].get_items(jid="disco@localhost")
        assert ("disco@localhost", MOOD, None) in items["disco_items"]["items"]
        await disconnect(c)
    arun(scenario())


def test_publish_retrieve_retract(server):
    server.adduser("pub", PW)

    async def scenario():
        c = await login(server, "pub@localhost/a")
        r = await c["xep_0060"].publish("pub@localhost", MOOD, id="one",
                                        payload=payload("happy"),
                                        options=options(max_items="5"))
        assert r["pubsub"]["publish"]["item"]["id"] == "one"
        await c["xep_0060"].publish("pub@localhost", MOOD, id="two", payload=payload("sad"))
        # an id chosen by the server
        r = await c["xep_0060"].publish("pub@localhost", MOOD, payload=payload("calm"))
        third = r["pubsub"]["publish"]["item"]["id"]
        assert third
        got = await c["xep_0060"].get_items("pub@localhost", MOOD)
        assert ids_of(got) == ["one", "two", third]
        assert list(got["pubsub"]["items"])[0]["payload"].text == "happy"
        got = await c["xep_0060"].get_items("pub@localhost", MOOD, max_items=2)
        assert ids_of(got) == ["two", third]
        got = await c["xep_0060"].get_item("pub@localhost", MOOD, "one")
        assert ids_of(got) == ["one"]
        await c["xep_0060"].retract("pub@localhost", MOOD, "one", notify=True)
        got = await c["xep_0060"].get_items("pub@localhost", MOOD)
        assert ids_of(got) == ["two", third]
        e = await iq_error(c["xep_0060"].retract("pub@localhost", MOOD, "one"))
        assert e["error"]["condition"] == "item-not-found"
        await c["xep_0060"].purge("pub@localhost", MOOD)
        assert ids_of(await c["xep_0060"].get_items("pub@localhost", MOOD)) == []
        await c["xep_0060"].delete_node("pub@localhost", MOOD)
        e = await iq_error(c["xep_0060"].get_items("pub@localhost", MOOD))
        assert e["error"]["condition"] == "item-not-found"
        await disconnect(c)
    arun(scenario())


def test_access_models(server):
    for u in ("owner", "friend", "stranger"):
        server.adduser(u, PW)

    async def scenario():
        o = await login(server, "owner@localhost/a")
        f = await login(server, "friend@localhost/a")
        s = await login(server, "stranger@localhost/a")
        await befriend(o, f)
        # presence (PEP's default): the subscribed contact reads, a stranger not
        await o["xep_0060"].publish("owner@localhost", MOOD, id="m", payload=payload("x"))
        assert ids_of(await f["xep_0060"].get_items("owner@localhost", MOOD)) == ["m"]
        e = await iq_error(s["xep_0060"].get_items("owner@localhost", MOOD))
        assert e["error"]["condition"] == "not-authorized"
        assert app_condition(e) == ["presence-subscription-required"]
        # OMEMO devicelist published with access_model=open: anyone reads it
        dl = ET.Element("{eu.siacs.conversations.axolotl}list")
        ET.SubElement(dl, "{eu.siacs.conversations.axolotl}device", id="1234")
        await o["xep_0060"].publish("owner@localhost", OMEMO, id="current", payload=dl,
                                    options=options(access_model="open"))
        got = await s["xep_0060"].get_items("owner@localhost", OMEMO)
        assert ids_of(got) == ["current"]
        # the forced option: even asked for presence, axolotl nodes stay open
        bundle = "eu.siacs.conversations.axolotl.bundles:1234"
        await o["xep_0060"].publish("owner@localhost", bundle, id="current",
                                    payload=payload("b", "eu.siacs.conversations.axolotl"))
        assert ids_of(await s["xep_0060"].get_items("owner@localhost", bundle)) == ["current"]
        # whitelist: only the owner
        await o["xep_0060"].publish("owner@localhost", "urn:example:secret", id="s",
                                    payload=payload("s"),
                                    options=options(access_model="whitelist"))
        e = await iq_error(f["xep_0060"].get_items("owner@localhost", "urn:example:secret"))
        assert e["error"]["condition"] == "not-allowed"
        assert app_condition(e) == ["closed-node"]
        assert ids_of(await o["xep_0060"].get_items("owner@localhost",
                                                    "urn:example:secret")) == ["s"]
        # nobody else publishes on the account's nodes
        e = await iq_error(f["xep_0060"].publish("owner@localhost", MOOD, payload=payload("y")))
        assert e["error"]["condition"] == "forbidden"
        # disco#items of the account: what the requester may see
        items = await s["xep_0030"].get_items(jid="owner@localhost")
        nodes = {i[1] for i in items["disco_items"]["items"]}
        assert OMEMO in nodes and MOOD not in nodes and "urn:example:secret" not in nodes
        items = await f["xep_0030"].get_items(jid="owner@localhost")
        nodes = {i[1] for i in items["disco_items"]["items"]}
        assert MOOD in nodes and "urn:example:secret" not in nodes
        await disconnect(o, f, s)
    arun(scenario())


def test_publish_options_preconditions(server):
    server.adduser("prec", PW)

    async def scenario():
        c = await login(server, "prec@localhost/a")
        await c["xep_0060"].publish("prec@localhost", MOOD, id="1", payload=payload("a"))
        # matching options (the defaults) succeed
        await c["xep_0060"].publish("prec@localhost", MOOD, id="2", payload=payload("b"),
                                    options=options(access_model="presence"))
        # conflicting ones do not, and change nothing
        e = await iq_error(c["xep_0060"].publish("prec@localhost", MOOD, id="3",
                                                 payload=payload("c"),
                                                 options=options(access_model="open")))
        assert e["error"]["condition"] == "conflict"
        assert app_condition(e) == ["precondition-not-met"]
        assert ids_of(await c["xep_0060"].get_items("prec@localhost", MOOD)) == ["2"]
        # private storage (XEP-0223) as clients ask for it
        node = "urn:example:private"
        opts = options(persist_items="true", access_model="whitelist")
        await c["xep_0060"].publish("prec@localhost", node, id="current",
                                    payload=payload("p"), options=opts)
        await c["xep_0060"].publish("prec@localhost", node, id="current",
                                    payload=payload("q"),
                                    options=options(persist_items="true",
                                                    access_model="whitelist"))
        # bookmarks-style max_items=max
        await c["xep_0060"].publish("prec@localhost", "urn:example:many", id="a",
                                    payload=payload("p"), options=options(max_items="max"))
        await c["xep_0060"].publish("prec@localhost", "urn:example:many", id="b",
                                    payload=payload("p"), options=options(max_items="max"))
        got = await c["xep_0060"].get_items("prec@localhost", "urn:example:many")
        assert ids_of(got) == ["a", "b"]
        await disconnect(c)
    arun(scenario())


def test_node_configuration(server):
    for u in ("conf", "conffriend"):
        server.adduser(u, PW)

    async def scenario():
        c = await login(server, "conf@localhost/a")
        f = await login(server, "conffriend@localhost/a")
        await c["xep_0060"].publish("conf@localhost", MOOD, id="1", payload=payload("a"))
        got = await c["xep_0060"].get_node_config("conf@localhost", MOOD)
        form = got["pubsub_owner"]["configure"]["form"]
        values = form.get_values()
        assert values["pubsub#access_model"] == "presence"
        assert str(values["pubsub#max_items"]) == "1"
        assert values["pubsub#send_last_published_item"] == "on_sub_and_presence"
        form["type"] = "submit"
        new = slixmpp.plugins.xep_0004.stanza.Form()
        new["type"] = "submit"
        new.add_field(var="FORM_TYPE", ftype="hidden", value=NS_PS + "#node_config")
        new.add_field(var="pubsub#access_model", value="open")
        new.add_field(var="pubsub#max_items", value="3")
        await c["xep_0060"].set_node_config("conf@localhost", MOOD, new)
        values = (await c["xep_0060"].get_node_config("conf@localhost", MOOD)
                  )["pubsub_owner"]["configure"]["form"].get_values()
        assert values["pubsub#access_model"] == "open"
        assert str(values["pubsub#max_items"]) == "3"
        # now a stranger reads it; it keeps 3 items
        for i in range(2, 6):
            await c["xep_0060"].publish("conf@localhost", MOOD, id=str(i), payload=payload("x"))
        assert ids_of(await f["xep_0060"].get_items("conf@localhost", MOOD)) == ["3", "4", "5"]
        # a bad value is refused
        bad = slixmpp.plugins.xep_0004.stanza.Form()
        bad["type"] = "submit"
        bad.add_field(var="pubsub#access_model", value="everyone")
        e = await iq_error(c["xep_0060"].set_node_config("conf@localhost", MOOD, bad))
        assert e["error"]["condition"] == "not-acceptable"
        # only the owner configures
        e = await iq_error(f["xep_0060"].get_node_config("conf@localhost", MOOD))
        assert e["error"]["condition"] == "forbidden"
        await disconnect(c, f)
    arun(scenario())


def test_notifications_filtered_by_caps(server):
    for u in ("poster", "wants", "nowant", "outsider"):
        server.adduser(u, PW)

    async def scenario():
        p = await login(server, "poster@localhost/a", interests=[MOOD])
        p2 = await login(server, "poster@localhost/b")
        w = await login(server, "wants@localhost/a", interests=[MOOD])
        n = await login(server, "nowant@localhost/a", interests=["urn:example:other"])
        o = await login(server, "outsider@localhost/a", interests=[MOOD])
        await befriend(p, w)
        await befriend(p, n)
        await asyncio.sleep(0.5)	# the server verifies the caps
        for c in (p, p2, w, n, o):
            await events(c, MOOD, 0.2)
        await p["xep_0060"].publish("poster@localhost", MOOD, id="e1", payload=payload("joy"))
        got = await events(w, MOOD)
        assert len(got) == 1
        frm, items = got[0]
        assert frm == "poster@localhost"
        assert items.find("{%s}item" % NS_EV).get("id") == "e1"
        assert items.find("{%s}item/{%s}mood" % (NS_EV, MOOD)).text == "joy"
        # the owner's resource with +notify gets it, the one without not
        assert len(await events(p, MOOD, 0.3)) == 1
        assert await events(p2, MOOD, 0.1) == []
        # a contact whose caps lack MOOD+notify, and a non-contact, get nothing
        assert await events(n, MOOD, 0.1) == []
        assert await events(o, MOOD, 0.1) == []
        # retract and delete are notified
        await p["xep_0060"].retract("poster@localhost", MOOD, "e1", notify=True)
        got = await events(w, MOOD)
        assert [i.find("{%s}retract" % NS_EV).get("id") for _, i in got] == ["e1"]
        await p["xep_0060"].delete_node("poster@localhost", MOOD)
        got = await events(w, MOOD)
        assert [i.tag for _, i in got] == ["{%s}delete" % NS_EV]
        await disconnect(p, p2, w, n, o)
    arun(scenario())


def test_last_item_when_coming_online(server):
    for u in ("lastpub", "lastsub"):
        server.adduser(u, PW)

    async def scenario():
        p = await login(server, "lastpub@localhost/a")
        s = await login(server, "lastsub@localhost/a", interests=[MOOD])
        await befriend(p, s)
        await disconnect(s)
        await p["xep_0060"].publish("lastpub@localhost", MOOD, id="l1", payload=payload("old"))
        await p["xep_0060"].publish("lastpub@localhost", MOOD, id="l2", payload=payload("new"))
        s = await login(server, "lastsub@localhost/b", interests=[MOOD])
        got = await events(s, MOOD, 3)
        assert [i.find("{%s}item" % NS_EV).get("id") for _, i in got] == ["l2"]
        assert got[0][1].find("{%s}item/{%s}mood" % (NS_EV, MOOD)).text == "new"
        # the account's own node too, on its own other resource
        p2 = await login(server, "lastpub@localhost/c", interests=[MOOD])
        got = await events(p2, MOOD, 3)
        assert [i.find("{%s}item" % NS_EV).get("id") for _, i in got] == ["l2"]
        await disconnect(p, s, p2)
    arun(scenario())


def test_limits(server):
    server.adduser("limits", PW)

    async def scenario():
        c = await login(server, "limits@localhost/a")
        # item bigger than max_item_size (2K)
        e = await iq_error(c["xep_0060"].publish("limits@localhost", MOOD,
                                                 payload=payload("x" * 3000)))
        assert e["error"]["condition"] == "not-acceptable"
        assert app_condition(e) == ["payload-too-big"]
        # max_items above the configured 20 is refused; "max" gives 20
        e = await iq_error(c["xep_0060"].publish("limits@localhost", MOOD, id="a",
                                                 payload=payload("x"),
                                                 options=options(max_items="21")))
        assert app_condition(e) == ["precondition-not-met"]
        for i in range(25):
            await c["xep_0060"].publish("limits@localhost", MOOD, id="i%d" % i,
                                        payload=payload("x"), options=options(max_items="max"))
        got = ids_of(await c["xep_0060"].get_items("limits@localhost", MOOD))
        assert got == ["i%d" % i for i in range(5, 25)]
        # max_nodes = 6
        for i in range(5):
            await c["xep_0060"].publish("limits@localhost", "urn:example:n%d" % i,
                                        payload=payload("x"))
        e = await iq_error(c["xep_0060"].publish("limits@localhost", "urn:example:n9",
                                                 payload=payload("x")))
        assert e["error"]["condition"] == "resource-constraint"
        await disconnect(c)
    arun(scenario())


def test_survives_restart_and_account_removal(server):
    server.adduser("durable", PW)

    async def scenario(phase):
        c = await login(server, "durable@localhost/a")
        if phase == 0:
            await c["xep_0060"].publish("durable@localhost", MOOD, id="d",
                                        payload=payload("kept"))
        else:
            got = await c["xep_0060"].get_items("durable@localhost", MOOD)
            assert ids_of(got) == ["d"]
            assert list(got["pubsub"]["items"])[0]["payload"].text == "kept"
        await disconnect(c)
    arun(scenario(0))
    server.stop()
    server.start()
    arun(scenario(1))
    pg = server.test_pg
    assert pg.psql("SELECT count(*) FROM pubsub_node WHERE service = 'durable@localhost'"
                   ).strip() == "1"
    r = server.ctl("deluser", "durable@localhost")
    assert r.returncode == 0, r.stderr
    assert pg.psql("SELECT count(*) FROM pubsub_node WHERE service = 'durable@localhost'"
                   ).strip() == "0"
    assert pg.psql("SELECT count(*) FROM pubsub_item i LEFT JOIN pubsub_node n "
                   "ON n.id = i.node_id WHERE n.id IS NULL").strip() == "0"




def test_pubsub_service(server):
    for u in ("svcowner", "svcsub", "svcother"):
        server.adduser(u, PW)
    svc = "pubsub.localhost"

    async def scenario():
        o = await login(server, "svcowner@localhost/a")
        s = await login(server, "svcsub@localhost/a")
        x = await login(server, "svcother@localhost/a")
        items = await o["xep_0030"].get_items(jid="localhost")
        assert svc in {i[0] for i in items["disco_items"]["items"]}
        info = await o["xep_0030"].get_info(jid=svc)
        assert ("pubsub", "service", None, "Publish-Subscribe") in info["disco_info"]["identities"]
        assert NS_PS + "#publish" in info["disco_info"]["features"]
        await o["xep_0060"].create_node(svc, "news")
        e = await iq_error(s["xep_0060"].create_node(svc, "news"))
        assert e["error"]["condition"] == "conflict"
        items = await s["xep_0030"].get_items(jid=svc)
        assert (svc, "news", None) in items["disco_items"]["items"]
        r = await s["xep_0060"].subscribe(svc, "news")
        assert r["pubsub"]["subscription"]["subscription"] == "subscribed"
        subs = await s["xep_0060"].get_subscriptions(svc)
        assert [(i["node"], str(i["jid"])) for i in subs["pubsub"]["subscriptions"]] == [
            ("news", "svcsub@localhost")]
        # only the owner (and publishers) publish
        e = await iq_error(s["xep_0060"].publish(svc, "news", payload=payload("no")))
        assert e["error"]["condition"] == "forbidden"
        await o["xep_0060"].publish(svc, "news", id="n1", payload=payload("hello"))
        got = await events(s, "news")
        assert len(got) == 1 and got[0][0] == svc
        assert got[0][1].find("{%s}item/{%s}mood" % (NS_EV, MOOD)).text == "hello"
        assert await events(x, "news", 0.2) == []
        assert ids_of(await x["xep_0060"].get_items(svc, "news")) == ["n1"]
        # affiliations: the owner makes svcother a publisher
        aff = await o["xep_0060"].get_node_affiliations(svc, "news")
        assert [(str(a["jid"]), a["affiliation"]) for a in
                aff["pubsub_owner"]["affiliations"]] == [("svcowner@localhost", "owner")]
        await o["xep_0060"].modify_affiliations(svc, "news",
                                                [("svcother@localhost", "publisher")])
        await x["xep_0060"].publish(svc, "news", id="n2", payload=payload("second"))
        assert len(await events(s, "news")) == 1
        await s["xep_0060"].unsubscribe(svc, "news")
        await o["xep_0060"].publish(svc, "news", id="n3", payload=payload("third"))
        assert await events(s, "news", 0.3) == []
        e = await iq_error(s["xep_0060"].unsubscribe(svc, "news"))
        assert e["error"]["condition"] == "unexpected-request"
        # delete: subscribers are told
        await s["xep_0060"].subscribe(svc, "news")
        await o["xep_0060"].delete_node(svc, "news")
        got = await events(s, "news")
        assert [i.tag for _, i in got] == ["{%s}delete" % NS_EV]
        e = await iq_error(s["xep_0060"].get_items(svc, "news"))
        assert e["error"]["condition"] == "item-not-found"
        await disconnect(o, s, x)
    arun(scenario())


NS_BM2 = "urn:xmpp:bookmarks:1"
NS_BM = "storage:bookmarks"


def conference2(name, nick, autojoin=True):
    c = ET.Element("{%s}conference" % NS_BM2, name=name,
                   autojoin="true" if autojoin else "false")
    ET.SubElement(c, "{%s}nick" % NS_BM2).text = nick
    return c


async def private_bookmarks(c):
    iq = c.Iq(stype="get")
    q = ET.SubElement(iq.xml, "{jabber:iq:private}query")
    ET.SubElement(q, "{%s}storage" % NS_BM)
    r = await iq.send()
    st = r.xml.find("{jabber:iq:private}query/{%s}storage" % NS_BM)
    return {c.get("jid"): (c.get("name"), c.get("autojoin"),
                           c.findtext("{%s}nick" % NS_BM)) for c in st}


async def set_private_bookmarks(c, rooms):
    iq = c.Iq(stype="set")
    q = ET.SubElement(iq.xml, "{jabber:iq:private}query")
    st = ET.SubElement(q, "{%s}storage" % NS_BM)
    for jid, (name, autojoin, nick) in rooms.items():
        e = ET.SubElement(st, "{%s}conference" % NS_BM, jid=jid, name=name,
                          autojoin=autojoin)
        ET.SubElement(e, "{%s}nick" % NS_BM).text = nick
    await iq.send()


async def bookmarks2(c, jid):
    got = await c["xep_0060"].get_items(jid, NS_BM2)
    out = {}
    for it in got["pubsub"]["items"]:
        conf = it.xml.find("{%s}conference" % NS_BM2)
        out[it["id"]] = (conf.get("name"), conf.get("autojoin"),
                         conf.findtext("{%s}nick" % NS_BM2))
    return out


def test_bookmarks_conversion(server):
    server.adduser("bm", PW)

    async def scenario():
        c = await login(server, "bm@localhost/new")
        opts = options(persist_items="true", max_items="max",
                       send_last_published_item="never", access_model="whitelist")
        await c["xep_0060"].publish("bm@localhost", NS_BM2, id="room@muc.localhost",
                                    payload=conference2("Room", "me"), options=opts)
        await c["xep_0060"].publish("bm@localhost", NS_BM2, id="other@muc.localhost",
                                    payload=conference2("Other", "me2", False),
                                    options=opts)
        want = {"room@muc.localhost": ("Room", "true", "me"),
                "other@muc.localhost": ("Other", "false", "me2")}
        # an old client's private storage (XEP-0048 over XEP-0049)
        got = {}
        for _ in range(50):
            got = await private_bookmarks(c)
            if got == want:
                break
            await asyncio.sleep(0.1)
        assert got == want
        # ... and the legacy PEP node
        legacy = await c["xep_0060"].get_items("bm@localhost", NS_BM)
        st = list(legacy["pubsub"]["items"])[0].xml.find("{%s}storage" % NS_BM)
        assert {e.get("jid") for e in st} == set(want)
        # retracting a room removes it from the legacy copies
        await c["xep_0060"].retract("bm@localhost", NS_BM2, "other@muc.localhost")
        for _ in range(50):
            got = await private_bookmarks(c)
            if set(got) == {"room@muc.localhost"}:
                break
            await asyncio.sleep(0.1)
        assert set(got) == {"room@muc.localhost"}
        # an old client replaces the private bookmarks: new clients see them
        await set_private_bookmarks(c, {"third@muc.localhost": ("Third", "true", "n3"),
                                        "room@muc.localhost": ("Room 2", "false", "me")})
        want = {"third@muc.localhost": ("Third", "true", "n3"),
                "room@muc.localhost": ("Room 2", "false", "me")}
        for _ in range(50):
            got = await bookmarks2(c, "bm@localhost")
            if got == want:
                break
            await asyncio.sleep(0.1)
        assert got == want
        # the bookmarks node is the owner's only
        server.adduser("bmpeer", PW)
        p = await login(server, "bmpeer@localhost/a")
        e = await iq_error(p["xep_0060"].get_items("bm@localhost", NS_BM2))
        assert e["error"]["condition"] == "not-allowed"
        e = await iq_error(p["xep_0060"].get_items("bm@localhost", NS_BM))
        assert e["error"]["condition"] == "not-allowed"
        await disconnect(c, p)
    arun(scenario())


def test_avatar_vcard_conversion(server):
    import base64
    import hashlib
    server.adduser("face", PW)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    sha = hashlib.sha1(png).hexdigest()

    async def scenario():
        c = await login(server, "face@localhost/a")
        c2 = await login(server, "face@localhost/b")
        for cl in (c, c2):
            cl.register_plugin("xep_0054")
            cl.register_plugin("xep_0084")
        info = await c["xep_0030"].get_info(jid="localhost")
        assert "urn:xmpp:pep-vcard-conversion:0" in info["disco_info"]["features"]
        # XEP-0084 publication -> vCard PHOTO and the XEP-0153 hash
        await c["xep_0084"].publish_avatar(png)
        await c["xep_0084"].publish_avatar_metadata(
            items=[{"id": sha, "type": "image/png", "bytes": len(png)}])
        photo = None
        for _ in range(50):
            vc = await c2["xep_0054"].get_vcard("face@localhost")
            photo = vc.xml.find("{vcard-temp}vCard/{vcard-temp}PHOTO")
            if photo is not None:
                break
            await asyncio.sleep(0.1)
        assert photo is not None
        assert base64.b64decode(photo.findtext("{vcard-temp}BINVAL")) == png
        assert photo.findtext("{vcard-temp}TYPE") == "image/png"
        while not c2.presences.empty():
            c2.presences.get_nowait()
        c.send_presence()
        p = await recv(c2.presences)
        while str(p["from"]) != "face@localhost/a":
            p = await recv(c2.presences)
        assert p.xml.findtext("{vcard-temp:x:update}x/{vcard-temp:x:update}photo") == sha
        # a vCard with a new photo -> XEP-0084 data and metadata
        png2 = png + b"second"
        sha2 = hashlib.sha1(png2).hexdigest()
        vc = c["xep_0054"].make_vcard()
        vc["FN"] = "Face"
        vc["PHOTO"]["TYPE"] = "image/png"
        vc["PHOTO"]["BINVAL"] = png2
        await c["xep_0054"].publish_vcard(vc)
        meta = None
        for _ in range(50):
            got = await c["xep_0060"].get_items("face@localhost", "urn:xmpp:avatar:metadata")
            meta = list(got["pubsub"]["items"])[0]
            if meta["id"] == sha2:
                break
            await asyncio.sleep(0.1)
        assert meta["id"] == sha2
        info = meta.xml.find("{urn:xmpp:avatar:metadata}metadata/{urn:xmpp:avatar:metadata}info")
        assert info.get("id") == sha2 and info.get("bytes") == str(len(png2))
        data = await c["xep_0060"].get_item("face@localhost", "urn:xmpp:avatar:data", sha2)
        item = list(data["pubsub"]["items"])[0]
        assert base64.b64decode(item.xml.findtext("{urn:xmpp:avatar:data}data")) == png2
        await disconnect(c, c2)
    arun(scenario())
