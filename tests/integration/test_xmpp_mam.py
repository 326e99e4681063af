"""xmpp-core issue 6: Message Archive Management (XEP-0313) with its
preferences (XEP-0441) and stanza-ids (XEP-0359), with real slixmpp
clients: paging a 1000-message archive both ways, filters, preferences,
what is and is not archived, offline storage, restarts, old namespaces."""

import asyncio
import os
import re
import signal
import socket
import ssl
import struct
import time
import xml.etree.ElementTree as ET

import pytest
import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from pgcluster import PgCluster
from xmpptest import Raw, XmppServer, arun, connect, disconnect, online, recv

PW = "correct horse battery staple"
MAM2 = "urn:xmpp:mam:2"
MAM1 = "urn:xmpp:mam:1"
MAM0 = "urn:xmpp:mam:0"
SID = "urn:xmpp:sid:0"
RSM = "http://jabber.org/protocol/rsm"
FWD = "urn:xmpp:forward:0"
CLIENT = "jabber:client"
MAX_PAGE = 200
DEFAULT_PAGE = 20


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def server(pg):
    s = XmppServer(pg, extra="[mam]\nmax_page = %d\ndefault_page = %d\nmax_prefs = 5\n"
                   % (MAX_PAGE, DEFAULT_PAGE))
    yield s
    s.destroy()


class MamError(Exception):
    def __init__(self, cond):
        super().__init__(cond)
        self.cond = cond


async def mam(c, ns=MAM2, fields=None, rsm=None, flip=False, extra=None, queryid=None):
    """One query: ([(id, stamp, forwarded message element)], fin element).
    Raises MamError with the condition of an error answer."""
    qid = queryid or c.new_id()
    results, fins = [], []

    def on_result(msg):
        r = msg.xml.find("{%s}result" % ns)
        if r is None or r.get("queryid") != qid:
            return
        assert str(msg["from"]) == c.boundjid.bare
        fwd = r.find("{%s}forwarded" % FWD)
        stamp = fwd.find("{urn:xmpp:delay}delay").get("stamp")
        results.append((r.get("id"), stamp, fwd.find("{%s}message" % CLIENT)))

    def on_fin(msg):
        f = msg.xml.find("{%s}fin" % ns)
        if f is not None and f.get("queryid") == qid:
            fins.append(f)

    c.register_handler(Callback("mam-r-" + qid, MatchXPath("{%s}message/{%s}result" % (CLIENT, ns)),
                                on_result))
    c.register_handler(Callback("mam-f-" + qid, MatchXPath("{%s}message/{%s}fin" % (CLIENT, ns)),
                                on_fin))
    iq = c.make_iq_set()
    q = ET.SubElement(iq.xml, "{%s}query" % ns, queryid=qid)
    if fields is not None:
        x = ET.SubElement(q, "{jabber:x:data}x", type="submit")
        f = ET.SubElement(x, "{jabber:x:data}field", var="FORM_TYPE", type="hidden")
        ET.SubElement(f, "{jabber:x:data}value").text = ns
        for var, vals in fields.items():
            f = ET.SubElement(x, "{jabber:x:data}field", var=var)
            for v in (vals if isinstance(vals, list) else [vals]):
                ET.SubElement(f, "{jabber:x:data}value").text = v
    if rsm is not None:
        s = ET.SubElement(q, "{%s}set" % RSM)
        for k, v in rsm.items():
            ET.SubElement(s, "{%s}%s" % (RSM, k)).text = v
    if flip:
        ET.SubElement(q, "{%s}flip-page" % ns)
    if extra is not None:
        q.append(extra)
    try:
        resp = await iq.send(timeout=20)
    except slixmpp.exceptions.IqError as e:
        raise MamError(e.iq["error"]["condition"])
    finally:
        c.remove_handler("mam-r-" + qid)
        c.remove_handler("mam-f-" + qid)
    fin = resp.xml.find("{%s}fin" % ns)
    if ns == MAM0:
        assert fin is None and len(fins) == 1
        fin = fins[0]
    return results, fin


def fin_set(fin):
    s = fin.find("{%s}set" % RSM)
    first = s.find("{%s}first" % RSM)
    last = s.find("{%s}last" % RSM)
    return {
        "complete": fin.get("complete") == "true",
        "first": first.text if first is not None else None,
        "index": first.get("index") if first is not None else None,
        "last": last.text if last is not None else None,
        "count": int(s.find("{%s}count" % RSM).text),
    }


def body(m):
    b = m.find("{%s}body" % CLIENT)
    return b.text if b is not None else None


async def mam_error(coro):
    with pytest.raises(MamError) as ei:
        await coro
    return ei.value.cond


async def next_body(c, timeout=10):
    while True:
        m = await recv(c.messages, timeout)
        if m["body"]:
            return m


async def login(server, jid):
    c = await connect(jid, PW, server.port)
    await online(c)
    return c


def stanza_ids(m, by):
    return [e.get("id") for e in m.xml.findall("{%s}stanza-id" % SID) if e.get("by") == by]


async def all_pages(c, page, fields=None, backward=False):
    """Pages through the whole result set: ids and bodies in archive order."""
    got, cursor, pages = [], None, 0
    while True:
        rsm = {"max": str(page)}
        if backward:
            rsm["before"] = cursor or ""
        elif cursor:
            rsm["after"] = cursor
        res, fin = await mam(c, fields=fields, rsm=rsm)
        s = fin_set(fin)
        pages += 1
        assert len(res) <= page
        chunk = [(r[0], body(r[2])) for r in res]
        got = chunk + got if backward else got + chunk
        if s["complete"]:
            return got, pages, s
        assert len(res) == page
        cursor = s["first"] if backward else s["last"]
        assert cursor == (res[0][0] if backward else res[-1][0])


def test_disco_features(server):
    server.adduser("mdisco", PW)

    async def scenario():
        c = await login(server, "mdisco@localhost/a")
        info = await c["xep_0030"].get_info(jid="mdisco@localhost")
        feats = info["disco_info"]["features"]
        for f in (MAM2, MAM2 + "#extended", MAM1, MAM0, SID):
            assert f in feats
        info = await c["xep_0030"].get_info(jid="localhost")
        assert SID in info["disco_info"]["features"]
        await disconnect(c)

    arun(scenario())


def test_1000_messages_page_both_ways(server):
    server.adduser("pa", PW)
    server.adduser("pb", PW)

    async def scenario():
        a = await login(server, "pa@localhost/r")
        b = await login(server, "pb@localhost/r")
        a.register_plugin("xep_0059")
        a.register_plugin("xep_0313")
        for i in range(500):
            a.send_message(mto="pb@localhost", mbody="a%03d" % i, mtype="chat")
            b.send_message(mto="pa@localhost", mbody="b%03d" % i, mtype="chat")
        for c in (a, b):
            for i in range(500):
                await next_body(c)
        fwd, pages, s = await all_pages(a, 50)
        assert pages == 20 and s["count"] == 1000
        ids = [i for i, _ in fwd]
        assert len(set(ids)) == 1000
        assert ids == sorted(ids, key=int)
        bodies = [bd for _, bd in fwd]
        assert [x for x in bodies if x[0] == "a"] == ["a%03d" % i for i in range(500)]
        assert [x for x in bodies if x[0] == "b"] == ["b%03d" % i for i in range(500)]
        back, pages, _ = await all_pages(a, 100, backward=True)
        assert pages == 10 and back == fwd
        # the first page starts the set at index 0; the last page knows its place
        res, fin = await mam(a, rsm={"max": "50"})
        assert fin_set(fin)["index"] == "0" and not fin_set(fin)["complete"]
        res, fin = await mam(a, rsm={"max": "50", "before": ""})
        s = fin_set(fin)
        assert [r[0] for r in res] == ids[-50:] and s["index"] == "950" and not s["complete"]
        # RSM index paging
        res, fin = await mam(a, rsm={"max": "10", "index": "500"})
        assert [r[0] for r in res] == ids[500:510] and fin_set(fin)["index"] == "500"
        # without <max/> the default page; a too-large max is capped
        res, fin = await mam(a)
        assert len(res) == DEFAULT_PAGE and not fin_set(fin)["complete"]
        res, fin = await mam(a, rsm={"max": "100000"})
        assert len(res) == MAX_PAGE and [r[0] for r in res] == ids[:MAX_PAGE]
        assert not fin_set(fin)["complete"]
        # max=0: just the count
        res, fin = await mam(a, rsm={"max": "0"})
        assert res == [] and fin_set(fin)["count"] == 1000
        # flipped page (#extended): the same page, newest first
        res, fin = await mam(a, rsm={"max": "10", "before": ""}, flip=True)
        assert [r[0] for r in res] == list(reversed(ids[-10:]))
        # the other side has the same 1000 messages
        other, _, s = await all_pages(b, 100)
        assert s["count"] == 1000 and sorted(bd for _, bd in other) == sorted(bodies)
        # slixmpp's own XEP-0313 plugin reads the archive too
        iq = await a["xep_0313"].retrieve(with_jid=slixmpp.JID("pb@localhost"),
                                         rsm={"max": 5})
        assert [m["mam_result"]["forwarded"]["stanza"]["body"]
                for m in iq["mam"]["results"]] == bodies[:5]
        await disconnect(a, b)

    arun(scenario())


def test_filters(server):
    for u in ("fa", "fb", "fc"):
        server.adduser(u, PW)

    async def scenario():
        a = await login(server, "fa@localhost/one")
        b = await login(server, "fb@localhost/res1")
        c = await login(server, "fc@localhost/x")
        for i in range(6):
            b.send_message(mto="fa@localhost", mbody="b%d" % i, mtype="chat")
            await next_body(a)
            c.send_message(mto="fa@localhost", mbody="c%d" % i, mtype="chat")
            await next_body(a)
        a.send_message(mto="fb@localhost/res2", mbody="to res2", mtype="chat")
        await next_body(b)
        a.send_message(mto="fa@localhost", mbody="note to self", mtype="chat")
        await next_body(a)
        res, fin = await mam(a, rsm={"max": "100"})
        assert fin_set(fin)["complete"]
        allr = [(r[0], r[1], body(r[2])) for r in res]
        assert [x[2] for x in allr][:4] == ["b0", "c0", "b1", "c1"]
        assert len(allr) == 14
        # with: a bare JID matches every resource and both directions
        res, fin = await mam(a, fields={"with": "fb@localhost"})
        assert [body(r[2]) for r in res] == ["b%d" % i for i in range(6)] + ["to res2"]
        # a whole conversation is counted (from its stored size), also on a
        # page of it, and counts only that conversation
        assert fin_set(fin)["count"] == 7
        res, fin = await mam(a, fields={"with": "fb@localhost"}, rsm={"max": "2", "before": ""})
        assert [body(r[2]) for r in res] == ["b5", "to res2"] and fin_set(fin)["count"] == 7
        res, fin = await mam(a, fields={"with": "fc@localhost"}, rsm={"max": "0"})
        assert fin_set(fin)["count"] == 6
        # with a full JID: only that resource
        res, fin = await mam(a, fields={"with": "fb@localhost/res2"})
        assert [body(r[2]) for r in res] == ["to res2"] and fin_set(fin)["count"] == 1
        # with one's own JID: only messages to oneself
        res, _ = await mam(a, fields={"with": "fa@localhost"})
        assert [body(r[2]) for r in res] == ["note to self"]
        # start/end are inclusive, to the microsecond of the stamp
        res, _ = await mam(a, fields={"start": allr[3][1], "end": allr[6][1]})
        assert [r[0] for r in res] == [x[0] for x in allr[3:7]]
        res, _ = await mam(a, fields={"start": allr[10][1]}, rsm={"max": "100"})
        assert [r[0] for r in res] == [x[0] for x in allr[10:]]
        res, fin = await mam(a, fields={"start": "2000-01-01T00:00:00Z",
                                        "end": "2000-01-02T00:00:00+02:00"})
        assert res == [] and fin_set(fin)["count"] == 0 and fin_set(fin)["complete"]
        # after-id / before-id (#extended), alone and together, with 'with'
        res, _ = await mam(a, fields={"after-id": allr[11][0]})
        assert [r[0] for r in res] == [x[0] for x in allr[12:]]
        res, _ = await mam(a, fields={"before-id": allr[2][0]})
        assert [r[0] for r in res] == [x[0] for x in allr[:2]]
        res, _ = await mam(a, fields={"after-id": allr[1][0], "before-id": allr[5][0],
                                      "with": "fc@localhost"})
        assert [body(r[2]) for r in res] == ["c1"]
        # before-id does not page backwards: the oldest of the range first
        res, fin = await mam(a, fields={"before-id": allr[8][0]}, rsm={"max": "3"})
        assert [r[0] for r in res] == [x[0] for x in allr[:3]]
        assert fin_set(fin)["count"] == 8
        # ids: just those
        res, _ = await mam(a, fields={"ids": [allr[7][0], allr[2][0]]})
        assert [r[0] for r in res] == [allr[2][0], allr[7][0]]
        # unknown ids: item-not-found, wherever they are named
        old = str(int(allr[0][0]) - 1)
        for kw in ({"rsm": {"after": old}}, {"rsm": {"before": old}},
                   {"fields": {"after-id": old}}, {"fields": {"before-id": "nonsense"}},
                   {"fields": {"ids": [allr[1][0], old]}}, {"rsm": {"after": "x-y"}}):
            assert await mam_error(mam(a, **kw)) == "item-not-found"
        # another account's id is unknown here
        resb, _ = await mam(b, rsm={"max": "1"})
        assert await mam_error(mam(a, rsm={"after": resb[0][0]})) == "item-not-found"
        # bad values
        assert await mam_error(mam(a, fields={"start": "yesterday"})) == "bad-request"
        assert await mam_error(mam(a, fields={"end": "2020-02-30T00:00:00Z"})) == "bad-request"
        assert await mam_error(mam(a, fields={"with": "@@"})) == "jid-malformed"
        assert await mam_error(mam(a, rsm={"max": "-1"})) == "bad-request"
        assert await mam_error(mam(a, rsm={"max": "10", "index": "1", "after": allr[0][0]})) \
            == "bad-request"
        assert await mam_error(mam(a, fields={"{urn:example}fulltext": "x"})) \
            == "feature-not-implemented"
        assert await mam_error(mam(a, fields={"include-groupchat": "true"})) \
            == "feature-not-implemented"
        assert await mam_error(mam(a, fields={"ids": [str(10**15 + i) for i in range(MAX_PAGE + 1)]})) \
            == "not-acceptable"
        # a form of another FORM_TYPE
        x = ET.Element("{jabber:x:data}x", type="submit")
        f = ET.SubElement(x, "{jabber:x:data}field", var="FORM_TYPE")
        ET.SubElement(f, "{jabber:x:data}value").text = "urn:example"
        assert await mam_error(mam(a, extra=x)) == "bad-request"
        await disconnect(a, b, c)

    arun(scenario())


def test_stanza_id_is_the_archive_id(server):
    server.adduser("sa", PW)
    server.adduser("sb", PW)

    async def scenario():
        a = await login(server, "sa@localhost/r")
        a2 = await login(server, "sa@localhost/other")
        a2.register_plugin("xep_0280")
        a2.carbons = asyncio.Queue()
        a2.add_event_handler("carbon_sent", lambda m: a2.carbons.put_nowait(m))
        await a2["xep_0280"].enable()
        b = await login(server, "sb@localhost/r")
        # a spoofed stanza-id claiming to be the recipient's is removed
        m = a.make_message(mto="sb@localhost", mbody="hello", mtype="chat")
        m.append(ET.fromstring("<stanza-id xmlns='%s' by='sb@localhost' id='forged'/>" % SID))
        m.append(ET.fromstring("<stanza-id xmlns='%s' by='sa@localhost' id='forged2'/>" % SID))
        m.append(ET.fromstring("<stanza-id xmlns='%s' by='room@muc.example' id='kept'/>" % SID))
        m.send()
        got = await next_body(b)
        sids = stanza_ids(got, "sb@localhost")
        assert len(sids) == 1 and sids[0] != "forged"
        own = stanza_ids(got, "sa@localhost")	# the sender's archive id, not the forged one
        assert len(own) == 1 and own[0] != "forged2"
        assert stanza_ids(got, "room@muc.example") == ["kept"]
        res, _ = await mam(b, rsm={"max": "10", "before": ""})
        assert [r[0] for r in res] == sids
        # the archived copy has the original addresses and no forged ids
        fm = res[0][2]
        assert fm.get("from") == "sa@localhost/r" and fm.get("to") == "sb@localhost"
        assert "forged" not in ET.tostring(fm).decode()
        # the sender's archive has the outgoing message under its own id,
        # which its other resource got with the <sent/> carbon
        res, _ = await mam(a, rsm={"max": "10", "before": ""})
        assert [body(r[2]) for r in res] == ["hello"] and res[0][0] != sids[0]
        assert res[0][0] == own[0]
        sent = (await recv(a2.carbons))["carbon_sent"]
        assert sent["body"] == "hello"
        assert [e.get("id") for e in sent.xml.findall("{%s}stanza-id" % SID)
                if e.get("by") == "sa@localhost"] == own
        # a query right after a message sees it
        for i in range(20):
            b.send_message(mto="sa@localhost", mbody="q%d" % i, mtype="chat")
            res, _ = await mam(b, rsm={"max": "1", "before": ""})
            assert body(res[0][2]) == "q%d" % i
        await disconnect(a, a2, b)

    arun(scenario())


def test_offline_messages_keep_their_stanza_id(server):
    server.adduser("oa", PW)
    server.adduser("ob", PW)

    async def scenario():
        a = await login(server, "oa@localhost/r")
        for i in range(3):
            a.send_message(mto="ob@localhost", mbody="while away %d" % i, mtype="chat")
        await asyncio.sleep(0.5)
        b = await login(server, "ob@localhost/r")
        got = [await next_body(b) for _ in range(3)]
        assert [m["body"] for m in got] == ["while away %d" % i for i in range(3)]
        sids = [stanza_ids(m, "ob@localhost") for m in got]
        assert all(len(s) == 1 for s in sids)
        res, _ = await mam(b)
        assert [r[0] for r in res] == [s[0] for s in sids]
        assert [body(r[2]) for r in res] == ["while away %d" % i for i in range(3)]
        # the sender's archive has them as outgoing
        res, _ = await mam(a)
        assert [body(r[2]) for r in res] == ["while away %d" % i for i in range(3)]
        await disconnect(a, b)

    arun(scenario())


def test_what_is_not_archived(server):
    server.adduser("na", PW)
    server.adduser("nb", PW)

    async def scenario():
        a = await login(server, "na@localhost/r")
        b = await login(server, "nb@localhost/r")

        def send(xml):
            a.send_raw(xml)

        send("<message to='nb@localhost' type='chat'><body>no-store</body>"
             "<no-store xmlns='urn:xmpp:hints'/></message>")
        send("<message to='nb@localhost' type='chat'><body>no-permanent-store</body>"
             "<no-permanent-store xmlns='urn:xmpp:hints'/></message>")
        send("<message to='nb@localhost' type='headline'><body>headline</body></message>")
        send("<message to='nb@localhost' type='groupchat'><body>groupchat</body></message>")
        send("<message to='nb@localhost' type='error'><body>error</body></message>")
        send("<message to='nb@localhost' type='chat'>"
             "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
        send("<message to='nb@localhost' type='chat'>"
             "<received xmlns='urn:xmpp:receipts' id='x'/></message>")
        # archived: OMEMO without body, a stored chat marker (store hint), a body
        send("<message to='nb@localhost' type='chat'>"
             "<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'/></encrypted>"
             "</message>")
        send("<message to='nb@localhost' type='chat'>"
             "<displayed xmlns='urn:xmpp:chat-markers:0' id='y'/>"
             "<store xmlns='urn:xmpp:hints'/></message>")
        send("<message to='nb@localhost' type='chat'><body>last</body></message>")
        while (await next_body(b))["body"] != "last":
            pass
        for c in (a, b):
            res, _ = await mam(c)
            kinds = []
            for r in res:
                m = r[2]
                kinds.append(body(m) or [ch.tag for ch in m][0])
            assert kinds == ["{eu.siacs.conversations.axolotl}encrypted",
                             "{urn:xmpp:chat-markers:0}displayed", "last"], kinds
        await disconnect(a, b)

    arun(scenario())


def prefs_iq(c, ns=MAM2, default=None, always=(), never=()):
    iq = c.make_iq_set() if default else c.make_iq_get()
    p = ET.SubElement(iq.xml, "{%s}prefs" % ns)
    if default:
        p.set("default", default)
        for name, jids in (("always", always), ("never", never)):
            el = ET.SubElement(p, "{%s}%s" % (ns, name))
            for j in jids:
                ET.SubElement(el, "{%s}jid" % ns).text = j
    return iq


def prefs_of(resp, ns=MAM2):
    p = resp.xml.find("{%s}prefs" % ns)
    lists = {}
    for name in ("always", "never"):
        el = p.find("{%s}%s" % (ns, name))
        lists[name] = sorted(j.text for j in el.findall("{%s}jid" % ns)) if el is not None else []
    return p.get("default"), lists["always"], lists["never"]


def test_preferences(server, pg):
    for u in ("ra", "rb", "rc", "rd"):
        server.adduser(u, PW)

    async def scenario():
        a = await login(server, "ra@localhost/r")
        b = await login(server, "rb@localhost/r")
        c = await login(server, "rc@localhost/r")
        # the default: always, empty lists
        assert prefs_of(await prefs_iq(a).send()) == ("always", [], [])
        resp = await prefs_iq(a, default="always", never=["rc@localhost"],
                              always=["rd@localhost/home"]).send()
        assert prefs_of(resp) == ("always", ["rd@localhost/home"], ["rc@localhost"])
        assert prefs_of(await prefs_iq(a).send()) == \
            ("always", ["rd@localhost/home"], ["rc@localhost"])
        # never for one contact: neither direction archived in a's archive
        c.send_message(mto="ra@localhost", mbody="from c", mtype="chat")
        got = await next_body(a)
        assert stanza_ids(got, "ra@localhost") == []
        a.send_message(mto="rc@localhost", mbody="to c", mtype="chat")
        await next_body(c)
        b.send_message(mto="ra@localhost", mbody="from b", mtype="chat")
        assert stanza_ids(await next_body(a), "ra@localhost") != []
        res, _ = await mam(a)
        assert [body(r[2]) for r in res] == ["from b"]
        # c's own archive is c's business
        res, _ = await mam(c)
        assert [body(r[2]) for r in res] == ["from c", "to c"]
        # bad preferences
        for kw, cond in (({"default": "sometimes"}, "bad-request"),
                         ({"default": "always", "never": ["@x"]}, "jid-malformed"),
                         ({"default": "always", "never": ["n%d@localhost" % i for i in range(6)]},
                          "not-acceptable")):
            with pytest.raises(slixmpp.exceptions.IqError) as ei:
                await prefs_iq(a, **kw).send()
            assert ei.value.iq["error"]["condition"] == cond
        # default never, b on the always list
        await prefs_iq(a, default="never", always=["rb@localhost"]).send()
        c.send_message(mto="ra@localhost", mbody="c again", mtype="chat")
        await next_body(a)
        b.send_message(mto="ra@localhost", mbody="b again", mtype="chat")
        await next_body(a)
        res, _ = await mam(a)
        assert [body(r[2]) for r in res] == ["from b", "b again"]
        # default roster, decided by the database while a is offline:
        # b is in a's roster, c is not
        a.update_roster("rb@localhost", name="b")
        await asyncio.sleep(0.3)
        await prefs_iq(a, default="roster").send()
        await disconnect(a)
        c.send_message(mto="ra@localhost", mbody="c offline", mtype="chat")
        b.send_message(mto="ra@localhost", mbody="b offline", mtype="chat")
        await asyncio.sleep(0.5)
        a = await login(server, "ra@localhost/r")
        got = [await next_body(a) for _ in range(2)]
        assert [m["body"] for m in got] == ["c offline", "b offline"]
        assert stanza_ids(got[0], "ra@localhost") == []
        assert len(stanza_ids(got[1], "ra@localhost")) == 1
        # and in memory while online (roster loaded)
        c.send_message(mto="ra@localhost", mbody="c online", mtype="chat")
        await next_body(a)
        b.send_message(mto="ra@localhost", mbody="b online", mtype="chat")
        await next_body(a)
        res, _ = await mam(a)
        assert [body(r[2]) for r in res] == ["from b", "b again", "b offline", "b online"]
        assert res[2][0] == stanza_ids(got[1], "ra@localhost")[0]
        # the old namespace reads the same preferences
        assert prefs_of(await prefs_iq(a, ns=MAM1).send(), MAM1)[0] == "roster"
        await disconnect(a, b, c)

    arun(scenario())


def test_old_namespaces_form_and_metadata(server):
    server.adduser("va", PW)
    server.adduser("vb", PW)

    async def scenario():
        a = await login(server, "va@localhost/r")
        b = await login(server, "vb@localhost/r")
        for i in range(3):
            b.send_message(mto="va@localhost", mbody="m%d" % i, mtype="chat")
            await next_body(a)
        for ns in (MAM1, MAM0):
            res, fin = await mam(a, ns=ns, fields={"with": "vb@localhost"}, rsm={"max": "2"})
            assert [body(r[2]) for r in res] == ["m0", "m1"]
            s = fin_set(fin)
            assert not s["complete"] and s["count"] == 3
            res, fin = await mam(a, ns=ns, rsm={"after": s["last"]})
            assert [body(r[2]) for r in res] == ["m2"] and fin_set(fin)["complete"]
        # form discovery
        iq = a.make_iq_get()
        ET.SubElement(iq.xml, "{%s}query" % MAM2)
        resp = await iq.send()
        x = resp.xml.find("{%s}query/{jabber:x:data}x" % MAM2)
        assert x.get("type") == "form"
        fields = {f.get("var"): f.get("type") for f in x.findall("{jabber:x:data}field")}
        assert fields["FORM_TYPE"] == "hidden" and fields["with"] == "jid-single"
        assert fields["start"] == "text-single" and fields["end"] == "text-single"
        for v in ("before-id", "after-id", "ids"):
            assert v in fields
        # metadata: first and last message
        res, _ = await mam(a)
        iq = a.make_iq_get()
        ET.SubElement(iq.xml, "{%s}metadata" % MAM2)
        resp = await iq.send()
        md = resp.xml.find("{%s}metadata" % MAM2)
        assert md.find("{%s}start" % MAM2).get("id") == res[0][0]
        assert md.find("{%s}end" % MAM2).get("id") == res[-1][0]
        assert md.find("{%s}end" % MAM2).get("timestamp") == res[-1][1]
        # someone else's archive is not ours to read
        iq = a.make_iq_set(ito="vb@localhost")
        ET.SubElement(iq.xml, "{%s}query" % MAM2)
        with pytest.raises(slixmpp.exceptions.IqError):
            await iq.send()
        await disconnect(a, b)

    arun(scenario())


def test_archive_survives_restart_and_account_removal(pg):
    s = XmppServer(pg, extra="[mam]\nmax_age = \"0\"\n")
    try:
        s.adduser("xa", PW)
        s.adduser("xb", PW)

        async def before():
            a = await login(s, "xa@localhost/r")
            b = await login(s, "xb@localhost/r")
            b.send_message(mto="xa@localhost", mbody="before restart", mtype="chat")
            await next_body(a)
            res, _ = await mam(a)
            await disconnect(a, b)
            return res

        old = arun(before())
        s.stop()
        s.start()

        async def after():
            a = await login(s, "xa@localhost/r")
            b = await login(s, "xb@localhost/r")
            b.send_message(mto="xa@localhost", mbody="after restart", mtype="chat")
            await next_body(a)
            res, _ = await mam(a)
            assert [body(r[2]) for r in res] == ["before restart", "after restart"]
            assert res[0][0] == old[0][0] and int(res[1][0]) > int(old[0][0])
            # XEP-0077 removal takes the archive with it
            iq = a.make_iq_set()
            q = ET.SubElement(iq.xml, "{jabber:iq:register}query")
            ET.SubElement(q, "{jabber:iq:register}remove")
            try:
                await iq.send(timeout=5)
            except Exception:
                pass
            await disconnect(b)

        arun(after())
        time.sleep(0.5)
        assert pg.psql("SELECT count(*) FROM mam_archive WHERE username = 'xa'").strip() == "0"
        assert pg.psql("SELECT count(*) FROM mam_archive WHERE username = 'xb'").strip() == "2"
        r = s.ctl("deluser", "xb@localhost")
        assert r.returncode == 0, r.stderr
        assert pg.psql("SELECT count(*) FROM mam_archive WHERE username = 'xb'").strip() == "0"
    finally:
        s.destroy()


def test_expiry(pg):
    s = XmppServer(pg, extra="[mam]\nmax_age = \"4s\"\nexpire_batch = 2\n")
    try:
        s.adduser("ea", PW)
        s.adduser("eb", PW)

        async def scenario():
            a = await login(s, "ea@localhost/r")
            b = await login(s, "eb@localhost/r")
            for i in range(5):
                b.send_message(mto="ea@localhost", mbody="old %d" % i, mtype="chat")
                await next_body(a)
            res, _ = await mam(a)
            assert len(res) == 5
            deadline = time.time() + 15
            while time.time() < deadline:
                res, _ = await mam(a)
                if not res:
                    break
                await asyncio.sleep(0.5)
            assert res == []
            b.send_message(mto="ea@localhost", mbody="new", mtype="chat")
            await next_body(a)
            res, _ = await mam(a)
            assert [body(r[2]) for r in res] == ["new"]
            # the stored conversation size followed the expiry
            res, fin = await mam(a, fields={"with": "eb@localhost"})
            assert len(res) == 1 and fin_set(fin)["count"] == 1
            await disconnect(a, b)

        arun(scenario())
    finally:
        s.destroy()


def test_config_errors(pg, tmp_path):
    for bad in ("max_page = 0", "default_page = 300\nmax_page = 100", "max_age = \"-1\"",
                "max_prefs = -1", 'max_pending = "1K"', 'max_pending = "2G"'):
        s = XmppServer(pg, extra="[mam]\n%s\n" % bad, start=False)
        try:
            from edgetest import binary, run
            r = run([binary("xmpp-core"), "-t", "-c", s.conf])
            assert r.returncode != 0
            assert "xmpp-core.toml:" in r.stderr + r.stdout
        finally:
            s.destroy()


def read_re(r, pattern, timeout=10):
    buf = b""
    deadline = time.time() + timeout
    while not re.search(pattern, buf.decode(errors="replace")) and time.time() < deadline:
        r.sock.settimeout(max(0.05, deadline - time.time()))
        try:
            d = r.sock.recv(65536)
        except (socket.timeout, ssl.SSLError, ConnectionResetError):
            break
        if not d:
            break
        buf += d
    return buf.decode(errors="replace")


def test_stream_management_requeue_keeps_the_archive_id(pg):
    """An unacknowledged message of a lost XEP-0198 session goes to offline
    storage with its stanza-id and is not archived twice."""
    s = XmppServer(pg, extra="[sm]\nresume_timeout = 1\nrequest_every = 100\n")
    try:
        s.adduser("msleep", PW)
        s.adduser("msend", PW)
        peer = Raw(s.port)
        peer.session("msend", PW, "p")
        r = Raw(s.port)
        r.starttls()
        assert "<success" in r.login_plain("msleep", PW)
        r.send(Raw.HEADER)
        r.recv_until("</stream:features>")
        r.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
               "<resource>raw</resource></bind></iq>")
        assert "</jid>" in r.recv_until("</iq>")
        r.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/><presence/>")
        read_re(r, r"<enabled[^>]*/>")
        peer.send("<message to='msleep@localhost/raw' type='chat' id='u1'>"
                  "<body>unacked</body></message>")
        text = read_re(r, "unacked</body>.*?</message>")
        tags = [t for t in re.findall(r"<stanza-id [^>]*>", text) if "by='msleep@localhost'" in t]
        assert len(tags) == 1, text
        sid = re.search(r"id='(\d+)'", tags[0]).group(1)
        r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        r.sock.close()
        deadline = time.time() + 10
        while "not resumed in time" not in s.daemon.log():
            assert time.time() < deadline
            time.sleep(0.1)

        async def later():
            c = await login(s, "msleep@localhost/new")
            got = await next_body(c)
            assert got["body"] == "unacked"
            assert stanza_ids(got, "msleep@localhost") == [sid]
            res, _ = await mam(c)
            assert [r[0] for r in res] == [sid]
            await disconnect(c)

        arun(later())
        peer.close()
    finally:
        s.destroy()


def test_archive_backpressure(pg):
    """A database slower than the senders ([mam] max_pending): once 64 KiB of
    archive rows wait for it, the sender is no longer read (its messages
    stop flowing, others are still served), and when the database is back
    every message is delivered and archived, in order, none lost."""
    import threading
    s = XmppServer(pg, extra='[mam]\nmax_pending = "64K"\n',
                   c2s_extra='max_output_buffer = "8M"\n')
    locker = None
    try:
        for u in ("bpsend", "bprecv", "bpother"):
            s.adduser(u, PW)
        rcv = Raw(s.port)
        rcv.session("bprecv", PW, "r")
        snd = Raw(s.port)
        snd.session("bpsend", PW, "s")
        other = Raw(s.port)
        other.session("bpother", PW, "o")
        time.sleep(0.3)
        locker = pg.lock_table("mam_archive")
        n, pad = 1000, "x" * 300
        data = "".join("<message to='bprecv@localhost' type='chat' id='m%d'>"
                       "<body>%d %s</body></message>" % (i, i, pad) for i in range(n))
        sender = threading.Thread(target=snd.send, args=(data,), daemon=True)
        sender.start()
        # what reaches the receiver while the archive cannot be written
        got = read_re(rcv, "<body>%d " % (n - 1), timeout=3)
        held = len(re.findall("<body>", got))
        assert 0 < held < n // 4, held
        assert "archive writes are behind" in s.daemon.log()
        # a client that sends nothing to the archive is still served
        other.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        t0 = time.time()
        pong = read_re(other, r"<iq[^>]*id=.p1.", timeout=5)
        assert re.search(r"<iq[^>]*id=.p1.", pong) and time.time() - t0 < 2, pong
        pg.unlock_table(locker)
        locker = None
        got += read_re(rcv, "<body>%d " % (n - 1), timeout=20)
        sender.join(10)
        nums = [int(x) for x in re.findall(r"<body>(\d+) ", got)]
        assert nums == list(range(n))
        deadline = time.time() + 20
        while time.time() < deadline:
            counts = pg.psql("SELECT count(*) FROM mam_archive WHERE username IN "
                             "('bpsend', 'bprecv') GROUP BY username").split()
            if counts == [str(n), str(n)]:
                break
            time.sleep(0.2)
        assert counts == [str(n), str(n)]
        for r in (rcv, snd, other):
            r.close()
    finally:
        if locker is not None:
            pg.unlock_table(locker)
        s.destroy()


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_reset_while_blocked(pg):
    """A client resets its connection while its MAM query waits for a
    locked archive: epoll reports a hang-up whatever events are asked for,
    so the descriptor must leave epoll until the query is over (it spun the
    loop before: ~100% of a core); then the connection is closed and
    nothing of it stays."""
    s = XmppServer(pg)
    locker = None
    try:
        s.adduser("hupq", PW)
        s.adduser("hupok", PW)
        c = Raw(s.port)
        c.session("hupq", PW, "r")
        time.sleep(0.3)
        locker = pg.lock_table("mam_archive")
        c.send("<iq type='set' id='q1'><query xmlns='urn:xmpp:mam:2'/></iq>")
        time.sleep(0.5)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        time.sleep(0.3)
        pid = s.daemon.proc.pid
        cpu0 = proc_cpu_s(pid)
        time.sleep(2.0)
        used = proc_cpu_s(pid) - cpu0
        assert used < 0.5, "%.2f s of CPU in 2 s with a reset connection waiting" % used
        pg.unlock_table(locker)
        locker = None
        deadline = time.time() + 10
        while "hupq@" in s.ctl("sessions").stdout and time.time() < deadline:
            time.sleep(0.2)
        assert "hupq@" not in s.ctl("sessions").stdout
        ok = Raw(s.port)
        ok.session("hupok", PW, "r")
        ok.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        assert re.search(r"<iq[^>]*id=.p1.", read_re(ok, r"<iq[^>]*id=.p1."))
        ok.close()
    finally:
        if locker is not None:
            pg.unlock_table(locker)
        s.destroy()


def test_disabled(pg):
    """[mam] enabled = false: no archive features, no stanza-ids (forged
    ones still removed), queries answered service-unavailable, nothing
    stored; a reload turns it back on."""
    s = XmppServer(pg, extra="[mam]\nenabled = false\n")
    try:
        for u in ("offa", "offb"):
            s.adduser(u, PW)
        a = Raw(s.port)
        a.session("offa", PW, "r")
        b = Raw(s.port)
        b.session("offb", PW, "r")
        time.sleep(0.3)
        a.send("<iq type='get' id='d1' to='offa@localhost'>"
               "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        info = read_re(a, "</iq>")
        assert "disco#info" in info and "urn:xmpp:mam" not in info and SID not in info
        a.send("<iq type='get' id='d2' to='localhost'>"
               "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        info = read_re(a, "</iq>")
        assert "urn:xmpp:ping" in info and SID not in info
        b.send("<message to='offa@localhost' type='chat'><body>unarchived</body>"
               "<stanza-id xmlns='urn:xmpp:sid:0' by='offa@localhost' id='forged'/></message>")
        got = read_re(a, "unarchived</body>")
        assert "unarchived" in got and "stanza-id" not in got, got
        a.send("<iq type='set' id='q1'><query xmlns='urn:xmpp:mam:2'/></iq>")
        err = read_re(a, "</iq>")
        assert "type='error'" in err and "service-unavailable" in err, err
        time.sleep(0.5)
        assert pg.psql("SELECT count(*) FROM mam_archive WHERE username IN "
                       "('offa', 'offb')").strip() == "0"
        with open(s.conf) as f:
            conf = f.read().replace("enabled = false", "enabled = true")
        with open(s.conf, "w") as f:
            f.write(conf)
        s.daemon.signal(signal.SIGHUP)
        deadline = time.time() + 5
        while "configuration reloaded" not in s.daemon.log() and time.time() < deadline:
            time.sleep(0.1)
        b.send("<message to='offa@localhost' type='chat'><body>archived now</body></message>")
        got = read_re(a, "</message>")
        assert "archived now" in got and "stanza-id" in got, got
        for r in (a, b):
            r.close()
    finally:
        s.destroy()
