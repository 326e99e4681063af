"""Room archives (XEP-0313 on the room JID), history on join from the
archive (XEP-0045 §7.2.15), stanza-ids by the room (XEP-0359) and
moderated message retraction (XEP-0425) on xmpp-core's
conference.localhost, against slixmpp clients, with raw stanzas where the
plugins have no call for what is tested (RSM edges, error conditions).
Every test uses its own accounts and rooms."""

import itertools
import subprocess
import time

import pytest

from edgetest import binary
from pgcluster import PgCluster
from xmpptest import XmppServer, arun, disconnect, until

PW = "correct horse battery staple"
MUC = "http://jabber.org/protocol/muc"
USER = MUC + "#user"
OWNER = MUC + "#owner"
ADMIN = MUC + "#admin"
XD = "jabber:x:data"
RSM = "http://jabber.org/protocol/rsm"
MAM = "urn:xmpp:mam:2"
FWD = "urn:xmpp:forward:0"
SID = "urn:xmpp:sid:0"
OCC = "urn:xmpp:occupant-id:0"
RETRACT = "urn:xmpp:message-retract:1"
MODERATE = "urn:xmpp:message-moderate:1"
DISCO = "http://jabber.org/protocol/disco#info"
SVC = "conference.localhost"
ERR = "urn:ietf:params:xml:ns:xmpp-stanzas"
C = "{jabber:client}"
_ids = itertools.count()

MUC_CONF = """
[muc]
message_rate = 0
archive_max_page = 100
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


# ---- helpers: test_xmpp_muc.py's, with a longer wait ----

from test_xmpp_muc import codes, err_cond, iq_raw, login, self_presence  # noqa: E402
from test_xmpp_muc import wait_for as _wait_for  # noqa: E402


async def wait_for(c, pred, timeout=30):
    return await _wait_for(c, pred, timeout)


async def iq_reply(c, i):
    return await wait_for(c, lambda s: s.tag == C + "iq" and s.get("id") == i)


async def join(c, room, nick, history=""):
    c.send_raw("<presence to='%s/%s'><x xmlns='%s'>%s</x></presence>" % (room, nick, MUC, history))
    await wait_for(c, self_presence(room, nick))
    # the subject closes the join (§7.2.16)
    return await wait_for(c, lambda s: s.get("from", "").split("/")[0] == room and
                          s.find(C + "subject") is not None)


async def create(c, room, nick, **fields):
    """A room created and configured with muc#roomconfig_ fields (and
    the bare-named ones given with a leading underscore)."""
    c.send_raw("<presence to='%s/%s'><x xmlns='%s'/></presence>" % (room, nick, MUC))
    p = await wait_for(c, self_presence(room, nick))
    assert 201 in codes(p)
    r = await iq_reply(c, configure(c, room, **fields))
    assert r.get("type") == "result", r


def configure(c, room, **fields):
    body = "".join("<field var='%s'><value>%s</value></field>" %
                   (k[1:] if k.startswith("_") else "muc#roomconfig_" + k, v)
                   for k, v in fields.items())
    return iq_raw(c, room, "set", "<query xmlns='%s'><x xmlns='%s' type='submit'>"
                  "<field var='FORM_TYPE'><value>%s#roomconfig</value></field>%s</x></query>"
                  % (OWNER, XD, MUC, body))


def admin_set(c, room, items):
    return iq_raw(c, room, "set", "<query xmlns='%s'>%s</query>" % (ADMIN, items))


def say(c, room, body, extra=""):
    c.send_raw("<message to='%s' type='groupchat'><body>%s</body>%s</message>" % (room, body, extra))


async def said(c, room, body):
    return await wait_for(c, lambda s: s.tag == C + "message" and s.get("type") == "groupchat"
                          and s.findtext(C + "body") == body and s.get("from", "").startswith(room))


def sid_of(m, room):
    for e in m.findall("{%s}stanza-id" % SID):
        if e.get("by") == room:
            return e.get("id")
    return None


def features(c, iq):
    return [f.get("var") for f in iq.findall("{%s}query/{%s}feature" % (DISCO, DISCO))]


async def disco(c, room):
    return features(c, await iq_reply(c, iq_raw(c, room, "get", "<query xmlns='%s'/>" % DISCO)))


def form(fields):
    if not fields:
        return ""
    f = "".join("<field var='%s'>%s</field>" % (k, "".join("<value>%s</value>" % x for x in
                                                            (v if isinstance(v, list) else [v])))
                for k, v in fields.items())
    return "<x xmlns='%s' type='submit'><field var='FORM_TYPE' type='hidden'><value>%s</value></field>%s</x>" \
        % (XD, MAM, f)


async def query(c, room, rsm="", fields=None, extra="", raw_form=None):
    """(iq, results): the answer and the <message/>s forwarded before it."""
    qid = "mq%d" % next(_ids)
    x = raw_form if raw_form is not None else form(fields)
    rs = "<set xmlns='%s'>%s</set>" % (RSM, rsm) if rsm else ""
    i = iq_raw(c, room, "set", "<query xmlns='%s' queryid='%s'>%s%s%s</query>" % (MAM, qid, x, rs, extra))
    r = await iq_reply(c, i)
    res = [s for s in c.got if s.tag == C + "message" and
           s.find("{%s}result" % MAM) is not None and s.find("{%s}result" % MAM).get("queryid") == qid]
    return r, res


def fwd(result):
    return result.find("{%s}result/{%s}forwarded/%smessage" % (MAM, FWD, C))


def ids_of(res):
    return [s.find("{%s}result" % MAM).get("id") for s in res]


def bodies(res):
    return [fwd(s).findtext(C + "body") for s in res]


def fin(r):
    f = r.find("{%s}fin" % MAM)
    s = f.find("{%s}set" % RSM)
    first = s.find("{%s}first" % RSM)
    return {"complete": f.get("complete"), "count": s.findtext("{%s}count" % RSM),
            "first": s.findtext("{%s}first" % RSM), "last": s.findtext("{%s}last" % RSM),
            "index": first.get("index") if first is not None else None}


def real_jid(m):
    it = m.find("{%s}x/{%s}item" % (USER, USER))
    return None if it is None else it.get("jid")


def stats(s):
    r = s.ctl("stats")
    return dict(line.split("\t", 1) for line in r.stdout.splitlines() if "\t" in line)


# ---- tests ----

def test_archive_on_by_default_stanza_ids(server):
    room = "arch@" + SVC

    async def go():
        a, b = await login(server, "ar1"), await login(server, "ar2")
        await create(a, room, "ann")
        feats = await disco(a, room)
        assert MAM in feats and "urn:xmpp:mam:2#extended" in feats and MODERATE in feats
        # the owner's form says so, under ejabberd's name
        r = await iq_reply(a, iq_raw(a, room, "get", "<query xmlns='%s'/>" % OWNER))
        f = [x for x in r.iter("{%s}field" % XD) if x.get("var") == "mam"]
        assert f and f[0].findtext("{%s}value" % XD) == "1"
        await join(b, room, "bob")
        live = []
        for i in range(3):
            say(b, room, "m%d" % i)
            live.append(sid_of(await said(a, room, "m%d" % i), room))
        assert all(live) and live == sorted(live, key=int)
        # the archive's ids are the stanza-ids occupants got
        r, res = await query(b, room)
        assert r.get("type") == "result" and r.get("from") == room
        assert ids_of(res) == live and bodies(res) == ["m0", "m1", "m2"]
        for s in res:
            assert s.get("from") == room
            m = fwd(s)
            assert m.get("from") == room + "/bob" and m.get("type") == "groupchat"
            assert m.find("{%s}occupant-id" % OCC) is not None
            assert s.find("{%s}result/{%s}forwarded/{urn:xmpp:delay}delay" % (MAM, FWD)) is not None
        assert fin(r)["complete"] == "true" and fin(r)["count"] == "3"
        # the query form
        r = await iq_reply(b, iq_raw(b, room, "get", "<query xmlns='%s'/>" % MAM))
        vars_ = [x.get("var") for x in r.iter("{%s}field" % XD)]
        assert {"FORM_TYPE", "with", "start", "end", "before-id", "after-id", "ids"} <= set(vars_)
        # subject changes are not archived
        a.send_raw("<message to='%s' type='groupchat'><subject>S</subject></message>" % room)
        await wait_for(b, lambda s: s.findtext(C + "subject") == "S")
        r, res = await query(b, room)
        assert ids_of(res) == live
        # urn:xmpp:mam:1 too
        i = iq_raw(b, room, "set", "<query xmlns='urn:xmpp:mam:1' queryid='v1'/>")
        r = await iq_reply(b, i)
        assert r.find("{urn:xmpp:mam:1}fin") is not None
        await disconnect(a, b)
    arun(go())


def test_paging_250_forward_backward(server):
    room = "pages@" + SVC

    async def go():
        a = await login(server, "pg1")
        await create(a, room, "ann")
        for i in range(250):
            say(a, room, "p%d" % i)
        await said(a, room, "p249")
        want = ["p%d" % i for i in range(250)]
        # forward, 100 at a time
        seen, after = [], None
        for _ in range(5):
            r, res = await query(a, room, "<max>100</max>" + ("<after>%s</after>" % after if after else ""))
            f = fin(r)
            assert f["count"] == "250"
            seen += res
            if f["complete"] == "true":
                break
            after = f["last"]
            assert f["last"] == ids_of(res)[-1]
        assert bodies(seen) == want and len(set(ids_of(seen))) == 250
        all_ids = ids_of(seen)
        # the first page knows its index
        r, res = await query(a, room, "<max>10</max>")
        assert fin(r)["index"] == "0" and fin(r)["complete"] == "false"
        # backward from the end: empty <before/> is the last page
        back, before = [], ""
        for _ in range(5):
            r, res = await query(a, room, "<max>100</max><before>%s</before>" % before)
            f = fin(r)
            assert f["count"] == "250"
            back = res + back
            if f["complete"] == "true":
                break
            before = f["first"]
        assert bodies(back) == want
        r, res = await query(a, room, "<max>100</max><before/>")
        assert fin(r)["index"] == "150" and bodies(res) == want[150:]
        # flipped page: newest first
        r, res = await query(a, room, "<max>3</max><before/>", extra="<flip-page/>")
        assert bodies(res) == ["p249", "p248", "p247"]
        # #extended: after-id / before-id / ids
        r, res = await query(a, room, "<max>5</max>", {"after-id": all_ids[9], "before-id": all_ids[13]})
        assert bodies(res) == ["p10", "p11", "p12"]
        r, res = await query(a, room, "", {"ids": [all_ids[7], all_ids[3]]})
        assert bodies(res) == ["p3", "p7"]
        # index, count only (max 0), default page size
        r, res = await query(a, room, "<max>2</max><index>20</index>")
        assert bodies(res) == ["p20", "p21"]
        r, res = await query(a, room, "<max>0</max>")
        assert res == [] and fin(r)["count"] == "250"
        r, res = await query(a, room)
        assert len(res) == 50 and fin(r)["complete"] == "false"
        # max above archive_max_page is capped
        r, res = await query(a, room, "<max>100000</max>")
        assert len(res) == 100 and fin(r)["complete"] == "false"
        await disconnect(a)
    arun(go())


def test_time_and_with_filters(server):
    room = "filt@" + SVC

    async def go():
        a, b = await login(server, "fl1"), await login(server, "fl2")
        await create(a, room, "ann")
        await join(b, room, "bob")
        for i in range(6):
            say(a if i % 2 == 0 else b, room, "f%d" % i)
            await said(a, room, "f%d" % i)
        r, res = await query(a, room)
        stamps = [s.find("{%s}result/{%s}forwarded/{urn:xmpp:delay}delay" % (MAM, FWD)).get("stamp")
                  for s in res]
        r, res = await query(a, room, "", {"start": stamps[1], "end": stamps[3]})
        assert bodies(res) == ["f1", "f2", "f3"] and fin(r)["count"] == "3"
        r, res = await query(a, room, "", {"start": stamps[4]})
        assert bodies(res) == ["f4", "f5"]
        r, res = await query(a, room, "", {"end": "2000-01-01T00:00:00Z"})
        assert res == [] and fin(r)["count"] == "0" and fin(r)["complete"] == "true"
        # with: an occupant's room JID
        r, res = await query(a, room, "", {"with": room + "/bob"})
        assert bodies(res) == ["f1", "f3", "f5"]
        # with: a real JID, for who may see them (the owner here)
        r, res = await query(a, room, "", {"with": "fl1@localhost"})
        assert bodies(res) == ["f0", "f2", "f4"]
        # ... and nothing for a participant of this semi-anonymous room
        r, res = await query(b, room, "", {"with": "fl1@localhost"})
        assert res == [] and fin(r)["count"] == "0"
        await disconnect(a, b)
    arun(go())


def test_who_may_query(server):
    pub, hidden, members = "pub@" + SVC, "hid@" + SVC, "mem@" + SVC

    async def go():
        o, x, m, bad = [await login(server, "wq%d" % i) for i in range(4)]
        await create(o, pub, "own", publicroom="1")
        await create(o, hidden, "own")
        await create(o, members, "own", membersonly="1")
        for room in (pub, hidden, members):
            say(o, room, "hello " + room)
            await said(o, room, "hello " + room)
        r = await iq_reply(o, admin_set(o, pub, "<item affiliation='outcast' jid='wq3@localhost'/>"))
        assert r.get("type") == "result"
        r = await iq_reply(o, admin_set(o, members, "<item affiliation='member' jid='wq2@localhost'/>"))
        assert r.get("type") == "result"
        # a public open room: anyone but outcasts, in the room or not
        r, res = await query(x, pub)
        assert r.get("type") == "result" and bodies(res) == ["hello " + pub]
        r, res = await query(bad, pub)
        assert err_cond(r) == "forbidden" and res == []
        # a hidden room: occupants and affiliated users only
        r, res = await query(x, hidden)
        assert err_cond(r) == "forbidden"
        # members-only: members, not others
        r, res = await query(x, members)
        assert err_cond(r) == "forbidden"
        r, res = await query(m, members)
        assert r.get("type") == "result" and bodies(res) == ["hello " + members]
        # an occupant of the hidden room may
        await join(x, hidden, "xavier")
        r, res = await query(x, hidden)
        assert r.get("type") == "result" and bodies(res) == ["hello " + hidden]
        await disconnect(o, x, m, bad)
    arun(go())


def test_real_jids_only_for_those_who_see_them(server):
    semi, open_ = "semi@" + SVC, "nonanon@" + SVC

    async def go():
        a, b = await login(server, "rj1"), await login(server, "rj2")
        await create(a, semi, "ann")
        await create(a, open_, "ann", whois="anyone")
        for room in (semi, open_):
            await join(b, room, "bob")
            # a real JID claimed by the sender is not the room's to pass on
            say(b, room, "hi", "<x xmlns='%s'><item jid='boss@localhost'/></x>" % USER)
            live = await said(a, room, "hi")
            assert real_jid(live) is None
        # semi-anonymous: the moderator sees real JIDs, a participant not
        r, res = await query(a, semi)
        assert [real_jid(fwd(s)) for s in res] == ["rj2@localhost"]
        r, res = await query(b, semi)
        assert [real_jid(fwd(s)) for s in res] == [None]
        assert "rj2@localhost" not in "".join(str(s) for s in b.got if s.get("from", "").startswith(semi))
        # non-anonymous: everyone
        r, res = await query(b, open_)
        assert [real_jid(fwd(s)) for s in res] == ["rj2@localhost"]
        await disconnect(a, b)
    arun(go())


def test_archiving_off(server, pg):
    room, room2 = "noarch@" + SVC, "noarch2@" + SVC

    async def go():
        a, b = await login(server, "of1"), await login(server, "of2")
        await create(a, room, "ann", _mam="0")
        assert MAM not in await disco(a, room) and MODERATE not in await disco(a, room)
        await join(b, room, "bob")
        assert 170 not in codes([x for x in b.got if x.get("from") == room + "/bob"][0])
        say(b, room, "not kept")
        m = await said(a, room, "not kept")
        sid = sid_of(m, room)
        assert sid                                   # stanza-ids all the same
        r, res = await query(a, room)
        assert err_cond(r) == "feature-not-implemented"
        r = await iq_reply(a, iq_raw(a, room, "set", "<moderate xmlns='%s' id='%s'><retract xmlns='%s'/>"
                                     "</moderate>" % (MODERATE, sid, RETRACT)))
        assert err_cond(r) == "feature-not-implemented"
        assert pg.psql("SELECT count(*) FROM muc_archive WHERE room = '%s'" % room).strip() == "0"
        # history on join still works (from muc_history)
        c = await login(server, "of3")
        await join(c, room, "carol")
        assert "not kept" in [s.findtext(C + "body") for s in c.got]
        # Prosody's field name turns it off too, and on again
        await create(a, room2, "ann", enablearchiving="0")
        assert MAM not in await disco(a, room2)
        r = await iq_reply(a, configure(a, room2, enablearchiving="1"))
        assert r.get("type") == "result"
        assert MAM in await disco(a, room2)
        # the occupants are told (§10.2.1: 104 with 170, logging on)
        await wait_for(a, lambda x: x.get("from") == room2 and x.tag == C + "message" and
                       codes(x) == [104, 170])
        # a temporary room is never archived
        tmp = "tmpa@" + SVC
        await create(a, tmp, "ann", persistentroom="0")
        assert MAM not in await disco(a, tmp)
        r, res = await query(a, tmp)
        assert err_cond(r) == "feature-not-implemented"
        # a bad value: the form is refused, nothing changes
        r = await iq_reply(a, configure(a, room2, _mam="maybe"))
        assert err_cond(r) == "not-acceptable"
        assert MAM in await disco(a, room2)
        # a room made temporary loses its archive with its row
        say(a, room2, "kept for now")
        await said(a, room2, "kept for now")
        count = "SELECT count(*) FROM muc_archive WHERE room = '%s'" % room2
        await until(lambda: pg.psql(count).strip() == "1", 30)
        r = await iq_reply(a, configure(a, room2, persistentroom="0"))
        assert r.get("type") == "result"
        await wait_for(a, lambda x: x.get("from") == room2 and x.tag == C + "message" and
                       codes(x) == [104, 171])
        await until(lambda: pg.psql(count).strip() == "0", 30)
        assert MAM not in await disco(a, room2)
        await disconnect(a, b, c)
    arun(go())


def test_moderation(server, pg):
    room = "modr@" + SVC

    async def go():
        a, b, c = [await login(server, "md%d" % i) for i in range(3)]
        await create(a, room, "mod")
        await join(b, room, "bob")
        await join(c, room, "carol")
        say(b, room, "secret spam body")
        sid = sid_of(await said(c, room, "secret spam body"), room)
        say(b, room, "fine")
        keep = sid_of(await said(c, room, "fine"), room)
        # a participant may not
        r = await iq_reply(c, iq_raw(c, room, "set", "<moderate xmlns='%s' id='%s'><retract xmlns='%s'/>"
                                     "</moderate>" % (MODERATE, sid, RETRACT)))
        assert err_cond(r) == "forbidden"
        # malformed: no retract, no id
        r = await iq_reply(a, iq_raw(a, room, "set", "<moderate xmlns='%s' id='%s'/>" % (MODERATE, sid)))
        assert err_cond(r) == "bad-request"
        r = await iq_reply(a, iq_raw(a, room, "set", "<moderate xmlns='%s'><retract xmlns='%s'/></moderate>"
                                     % (MODERATE, RETRACT)))
        assert err_cond(r) == "bad-request"
        # unknown ids
        for bad in ("12345", "not-an-id"):
            r = await iq_reply(a, iq_raw(a, room, "set", "<moderate xmlns='%s' id='%s'><retract xmlns='%s'/>"
                                         "</moderate>" % (MODERATE, bad, RETRACT)))
            assert err_cond(r) == "item-not-found"
        # the moderator retracts it
        r = await iq_reply(a, iq_raw(a, room, "set", "<moderate xmlns='%s' id='%s'><retract xmlns='%s'/>"
                                     "<reason>spam</reason></moderate>" % (MODERATE, sid, RETRACT)))
        assert r.get("type") == "result"
        for x in (a, b, c):
            m = await wait_for(x, lambda s: s.find("{%s}retract" % RETRACT) is not None and
                               s.find("{%s}retract" % RETRACT).get("id") == sid)
            assert m.get("from") == room and m.get("type") == "groupchat"
            md = m.find("{%s}retract/{%s}moderated" % (RETRACT, MODERATE))
            assert md.get("by") == room + "/mod"
            assert md.find("{%s}occupant-id" % OCC) is not None
            assert m.findtext("{%s}retract/{%s}reason" % (RETRACT, RETRACT)) == "spam"
            # the 0.2 form for older clients
            assert m.find("{urn:xmpp:fasten:0}apply-to/{urn:xmpp:message-moderate:0}moderated") is not None
        # the archive has a tombstone, the original is gone from the database
        r, res = await query(c, room, "", {"ids": [sid]})
        t = fwd(res[0])
        assert t.find(C + "body") is None and t.get("from") == room + "/bob"
        rd = t.find("{%s}retracted" % RETRACT)
        assert rd is not None and rd.find("{%s}moderated" % MODERATE).get("by") == room + "/mod"
        assert t.find("{%s}occupant-id" % OCC) is not None
        assert pg.psql("SELECT count(*) FROM muc_archive WHERE stanza LIKE '%secret spam%'").strip() == "0"
        # the announcement is archived after the others, for clients catching up
        r, res = await query(c, room, "", {"after-id": keep})
        assert len(res) == 1 and fwd(res[0]).find("{%s}retract" % RETRACT).get("id") == sid
        # twice: item-not-found; the 0.2 form on another message works
        r = await iq_reply(a, iq_raw(a, room, "set", "<moderate xmlns='%s' id='%s'><retract xmlns='%s'/>"
                                     "</moderate>" % (MODERATE, sid, RETRACT)))
        assert err_cond(r) == "item-not-found"
        r = await iq_reply(a, iq_raw(a, room, "set",
                                     "<apply-to xmlns='urn:xmpp:fasten:0' id='%s'><moderate "
                                     "xmlns='urn:xmpp:message-moderate:0'><retract "
                                     "xmlns='urn:xmpp:message-retract:0'/></moderate></apply-to>" % keep))
        assert r.get("type") == "result"
        await wait_for(b, lambda s: s.find("{%s}retract" % RETRACT) is not None and
                       s.find("{%s}retract" % RETRACT).get("id") == keep)
        # a newcomer's history has the tombstones, not the bodies
        d = await login(server, "md3")
        await join(d, room, "dan")
        hist = [s for s in d.got if s.tag == C + "message" and s.find("{urn:xmpp:delay}delay") is not None]
        assert [h.findtext(C + "body") for h in hist if h.findtext(C + "body")] == []
        assert sum(1 for h in hist if h.find("{%s}retracted" % RETRACT) is not None) == 2
        # an oversized reason is refused
        say(b, room, "again")
        sid3 = sid_of(await said(c, room, "again"), room)
        r = await iq_reply(a, iq_raw(a, room, "set", "<moderate xmlns='%s' id='%s'><retract xmlns='%s'/>"
                                     "<reason>%s</reason></moderate>" % (MODERATE, sid3, RETRACT, "r" * 2000)))
        assert err_cond(r) == "not-acceptable"
        r, res = await query(c, room, "", {"ids": [sid3]})
        assert bodies(res) == ["again"]
        await disconnect(a, b, c, d)
    arun(go())


def test_malformed_queries(server):
    room = "bad@" + SVC

    async def go():
        a = await login(server, "bq1")
        await create(a, room, "ann")
        say(a, room, "x")
        sid = sid_of(await said(a, room, "x"), room)
        bad_form = "<x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x>" % XD
        r, _ = await query(a, room, raw_form=bad_form)
        assert err_cond(r) == "bad-request"
        r, _ = await query(a, room, "", {"start": "yesterday"})
        assert err_cond(r) == "bad-request"
        r, _ = await query(a, room, "<max>many</max>")
        assert err_cond(r) == "bad-request"
        r, _ = await query(a, room, "<index>1</index><after>%s</after>" % sid)
        assert err_cond(r) == "bad-request"
        r, _ = await query(a, room, "", {"with": "@@bad"})
        assert err_cond(r) == "jid-malformed"
        r, _ = await query(a, room, "", {"unknown-field": "1"})
        assert err_cond(r) == "feature-not-implemented"
        r, _ = await query(a, room, "<after>99</after>")
        assert err_cond(r) == "item-not-found"
        r, _ = await query(a, room, "", {"ids": ["abc"]})
        assert err_cond(r) == "item-not-found"
        r, _ = await query(a, room, "", {"ids": [str(i + 1) for i in range(101)]})
        assert err_cond(r) == "not-acceptable"          # more ids than a page
        # the room and its archive are unchanged
        r, res = await query(a, room)
        assert bodies(res) == ["x"]
        # a room that does not exist
        r, _ = await query(a, "nosuch@" + SVC)
        assert err_cond(r) == "item-not-found"
        await disconnect(a)
    arun(go())


def test_history_from_archive_and_restart(pg):
    s = XmppServer(pg, extra="[muc]\nmessage_rate = 0\n")
    room = "hist@" + SVC
    kept = {}

    async def first():
        a = await login(s, "hi1")
        await create(a, room, "ann")
        for i in range(120):
            say(a, room, "h%d" % i)
        m = await said(a, room, "h119")
        kept["last"] = sid_of(m, room)
        t0 = time.time()
        await until(lambda: time.time() > t0 + 1.2, 10)   # a later second for 'since'
        say(a, room, "late")
        await said(a, room, "late")
        kept["t0"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 1.2))
        # default: the newest 100
        b = await login(s, "hi2")
        await join(b, room, "bob")
        got = [x.findtext(C + "body") for x in b.got if x.findtext(C + "body")]
        assert got == ["h%d" % i for i in range(21, 120)] + ["late"]
        await disconnect(a, b)
        await until(lambda: stats(s).get("muc_rooms") == "0")

    async def second():
        assert stats(s).get("muc_rooms") == "0"
        cases = [("<history maxstanzas='5'/>", ["h116", "h117", "h118", "h119", "late"]),
                 ("<history maxstanzas='0'/>", []),
                 ("<history maxchars='0'/>", []),
                 ("<history seconds='100000'/>", ["h%d" % i for i in range(21, 120)] + ["late"]),
                 ("<history since='%s'/>" % kept["t0"], ["late"]),
                 ("<history since='2999-01-01T00:00:00Z'/>", [])]
        for n, (h, want) in enumerate(cases):
            c = await login(s, "hj%d" % n)
            await join(c, room, "c%d" % n, h)
            got = [x.findtext(C + "body") for x in c.got if x.findtext(C + "body")]
            assert got == want, (h, got)
            await disconnect(c)
        # the same stanza-ids as before the restart
        c = await login(s, "hk0")
        await join(c, room, "kay", "<history maxstanzas='2'/>")
        ms = [x for x in c.got if x.findtext(C + "body") == "h119"]
        assert sid_of(ms[0], room) == kept["last"]
        # maxchars: only what fits (serialised bytes)
        d = await login(s, "hk1")
        await join(d, room, "dee", "<history maxchars='600'/>")
        got = [x.findtext(C + "body") for x in d.got if x.findtext(C + "body")]
        assert 0 < len(got) < 5 and got[-1] == "late"
        await disconnect(c, d)
        # the archive itself survived too
        a = await login(s, "hi1", False)
        r, res = await query(a, room, "<max>1</max><before/>")
        assert bodies(res) == ["late"] and fin(r)["count"] == "121"

    try:
        arun(first())
        s.stop()
        s.start()
        arun(second())
    finally:
        s.destroy()


def test_archive_cap_per_room(pg):
    s = XmppServer(pg, extra="[muc]\nmessage_rate = 0\narchive_max_messages = 5\nhistory = 3\n")
    room = "capped@" + SVC

    async def go():
        a = await login(s, "cap1")
        await create(a, room, "ann")
        for i in range(8):
            say(a, room, "c%d" % i)
        await said(a, room, "c7")
        r, res = await query(a, room)
        assert bodies(res) == ["c3", "c4", "c5", "c6", "c7"] and fin(r)["count"] == "5"
        assert pg.psql("SELECT count(*) FROM muc_archive WHERE room = '%s'" % room).strip() == "5"
        await disconnect(a)

    try:
        arun(go())
        # the [muc] keys are checked
        bad = XmppServer(pg, extra="[muc]\narchive_page = 500\narchive_max_page = 100\n", start=False)
        try:
            r = subprocess.run([binary("xmpp-core"), "-c", bad.conf, "-t"], capture_output=True, text=True)
            assert r.returncode != 0 and "archive_page" in r.stderr
        finally:
            bad.destroy()
    finally:
        s.destroy()


def test_migration_moves_history():
    """051 moves the history of rooms stored before it into the archive
    (its own cluster: the schema is taken back to version 50)."""
    pg = PgCluster()
    s = XmppServer(pg, extra="[muc]\nmessage_rate = 0\n")
    room = "old@" + SVC

    async def check():
        a = await login(s, "mg1")
        await join(a, room, "ann")
        hist = [x for x in a.got if x.findtext(C + "body")]
        assert [x.findtext(C + "body") for x in hist] == ["old0", "old1"]
        sids = [sid_of(x, room) for x in hist]
        r, res = await query(a, room)
        assert bodies(res) == ["old0", "old1"] and ids_of(res) == sids
        assert [fwd(x).get("from") for x in res] == [room + "/ann", room + "/ann"]
        await disconnect(a)

    try:
        s.stop()
        pg.psql("DROP TABLE muc_archive, muc_archive_stats; ALTER TABLE muc_room DROP COLUMN archive; "
                "DELETE FROM schema_migrations WHERE version = 51; "
                "INSERT INTO muc_room (jid, service, created_by, public, members_only, moderated, "
                "password_protected, whois_anyone, change_subject, allow_invites, allow_pm, max_users, "
                "occupant_salt) VALUES ('%s', '%s', 'mg1@localhost', false, false, false, false, false, "
                "true, false, 0, 500, 'salt');"
                "INSERT INTO muc_affiliation VALUES ('%s', 'mg1@localhost', 4);"
                "INSERT INTO muc_history (room, at, stanza) VALUES "
                "('%s', now() - interval '2 minutes', '<message from=''%s/ann'' type=''groupchat'' "
                "xmlns=''jabber:client''><body>old0</body><stanza-id xmlns=''urn:xmpp:sid:0'' "
                "id=''aaaa'' by=''%s''/></message>'), "
                "('%s', now() - interval '1 minute', '<message from=''%s/ann'' type=''groupchat'' "
                "xmlns=''jabber:client''><body>old1</body><stanza-id xmlns=''urn:xmpp:sid:0'' "
                "id=''bbbb'' by=''%s''/></message>')"
                % ((room, SVC, room) + (room,) * 6))
        s.start()
        assert pg.psql("SELECT count(*) FROM muc_history").strip() == "0"
        arun(check())
    finally:
        s.destroy()
        pg.destroy()


def test_archive_expiry_by_age(pg):
    """[muc] archive_max_age: messages older than it go (the rows and the
    room's count); the rest stay and page as before."""
    s = XmppServer(pg, extra='[muc]\nmessage_rate = 0\narchive_max_age = "1h"\n')
    room = "ageing@" + SVC

    async def post():
        a = await login(s, "age1")
        await create(a, room, "ann")
        for i in range(5):
            say(a, room, "m%d" % i)
        await said(a, room, "m4")
        await disconnect(a)

    async def check():
        a = await login(s, "age1", new=False)
        r, res = await query(a, room)
        assert bodies(res) == ["m3", "m4"] and fin(r)["count"] == "2"
        # the archive's metadata: its first and last message (XEP-0313 §7.1)
        m = await iq_reply(a, iq_raw(a, room, "get", "<metadata xmlns='urn:xmpp:mam:2'/>"))
        md = m.find("{urn:xmpp:mam:2}metadata")
        assert md.find("{urn:xmpp:mam:2}start").get("id") == ids_of(res)[0]
        assert md.find("{urn:xmpp:mam:2}end").get("id") == ids_of(res)[-1]
        assert md.find("{urn:xmpp:mam:2}end").get("timestamp").endswith("Z")
        m = await iq_reply(a, iq_raw(a, room, "set", "<metadata xmlns='urn:xmpp:mam:2'/>"))
        assert err_cond(m) == "bad-request"
        await disconnect(a)

    try:
        arun(post())
        s.stop()
        # three of them two hours old (ids are microseconds since the epoch)
        pg.psql("UPDATE muc_archive SET id = id - 7200000000 WHERE room = '%s' AND id IN "
                "(SELECT id FROM muc_archive WHERE room = '%s' ORDER BY id LIMIT 3)" % (room, room))
        s.start()
        deadline = time.time() + 30
        while pg.psql("SELECT count(*) FROM muc_archive WHERE room = '%s'" % room).strip() != "2":
            assert time.time() < deadline, "old room messages were not expired"
            time.sleep(0.2)
        assert pg.psql("SELECT messages FROM muc_archive_stats WHERE room = '%s'" % room).strip() == "2"
        arun(check())
        bad = XmppServer(pg, extra='[muc]\narchive_max_age = "forever"\n', start=False)
        try:
            r = subprocess.run([binary("xmpp-core"), "-c", bad.conf, "-t"], capture_output=True, text=True)
            assert r.returncode != 0 and "archive_max_age" in r.stderr
        finally:
            bad.destroy()
    finally:
        s.destroy()
