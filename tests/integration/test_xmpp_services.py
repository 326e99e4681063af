"""xmpp-core's account and discovery services (issue 6, first slice)
against real peers: slixmpp clients (XEP-0049, XEP-0054, XEP-0363 plugins
and hand-made XEP-0215 IQs), the real upload-gw serving the slots' URLs,
and the real turnd accepting the XEP-0215 TURN credentials."""

import asyncio
import base64
import hashlib
import http.client
import os
import time
import urllib.parse

import pytest
import slixmpp
from slixmpp.xmlstream import ElementBase, ET, register_stanza_plugin

from pgcluster import PgCluster
from test_turnd_stun import ALLOCATE, SUCCESS, SECRET as TURN_SECRET, Turnd
from test_upload_gw import Gw, SECRET as UPLOAD_SECRET
from xmpptest import XmppServer, arun, connect, disconnect, online, recv, until

PW = "correct horse battery staple"
MAX = 1024 * 1024


class Prefs(ElementBase):
    name = "prefs"
    namespace = "urn:example:prefs"
    plugin_attrib = "prefs"
    interfaces = {"colour"}
    sub_interfaces = interfaces


class Notes(ElementBase):
    name = "notes"
    namespace = "urn:example:notes"
    plugin_attrib = "notes"
    interfaces = {"text"}
    sub_interfaces = interfaces


class Bad(ElementBase):
    name = "sneaky"
    namespace = "jabber:iq:private"
    plugin_attrib = "sneaky"


def secret_file(tmp, name, value):
    p = os.path.join(str(tmp), name)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, (value + "\n").encode())
    os.close(fd)
    return p


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gw(tmp_path_factory.mktemp("gw"))
    yield g
    g.d.stop()


@pytest.fixture(scope="module")
def turnd(tmp_path_factory):
    t = Turnd(tmp_path_factory.mktemp("turnd"))
    yield t
    t.stop()


def services_conf(tmp, gw, turnd, mac="v"):
    return """
[vcard]
max_size = "8K"

[upload]
url = "http://localhost:%d/upload"
secret_file = "%s"
max_file_size = %d
mac = "%s"

[extdisco]
secret_file = "%s"
ttl = "1h"

[[extdisco.service]]
type = "stun"
host = "localhost"
port = %d
transport = "udp"

[[extdisco.service]]
type = "turn"
host = "localhost"
port = %d
transport = "udp"

[[extdisco.service]]
type = "turns"
host = "localhost"
port = 3443
transport = "tcp"
""" % (gw.port, secret_file(tmp, "upload.secret", UPLOAD_SECRET), MAX, mac,
       secret_file(tmp, "turn.secret", TURN_SECRET), turnd.port, turnd.port)


@pytest.fixture(scope="module")
def server(pg, gw, turnd, tmp_path_factory):
    s = XmppServer(pg, extra=services_conf(tmp_path_factory.mktemp("svc"), gw, turnd))
    s.test_pg = pg
    yield s
    if s.daemon:
        s.stop()


async def login(server, jid, **plugins):
    c = await connect(jid, PW, server.port)
    for p in ("xep_0049", "xep_0054", "xep_0128", "xep_0363"):
        c.register_plugin(p)
    register_stanza_plugin(c["xep_0049"].stanza.PrivateXML, Prefs)
    register_stanza_plugin(c["xep_0049"].stanza.PrivateXML, Notes)
    register_stanza_plugin(c["xep_0049"].stanza.PrivateXML, Bad)
    return c


async def iq_error(coro):
    with pytest.raises(slixmpp.exceptions.IqError) as ei:
        await coro
    return ei.value.iq["error"]


def test_disco_advertises_services(server):
    server.adduser("disco", PW)

    async def scenario():
        c = await login(server, "disco@localhost")
        info = await c["xep_0030"].get_info(jid="localhost")
        feats = info["disco_info"]["features"]
        for f in ("jabber:iq:private", "vcard-temp", "urn:xmpp:extdisco:2", "urn:xmpp:blocking"):
            assert f in feats
        items = await c["xep_0030"].get_items(jid="localhost")
        assert ("upload.localhost", None, "HTTP File Upload") in items["disco_items"]["items"]
        await disconnect(c)

    arun(scenario())


def test_private_storage(server):
    server.adduser("priv", PW)
    server.adduser("snoop", PW)

    async def scenario():
        a = await login(server, "priv@localhost/one")
        # nothing stored yet: the empty element comes back
        r = await a["xep_0049"].retrieve("prefs")
        assert r["private"]["prefs"]["colour"] == ""
        p, n = Prefs(), Notes()
        p["colour"] = "green"
        n["text"] = "a <b> & 'c' \u00e9"
        await a["xep_0049"].store([p, n])
        p2 = Prefs()
        p2["colour"] = "blue"
        await a["xep_0049"].store(p2)	# replaces only the prefs namespace
        # jabber:iq:private itself cannot be stored (XEP-0049 §3.3)
        e = await iq_error(a["xep_0049"].store(Bad()))
        assert e["condition"] == "not-acceptable"
        await disconnect(a)
        # another session of the account reads it back, after a reconnect
        b = await login(server, "priv@localhost/two")
        r = await b["xep_0049"].retrieve("prefs")
        assert r["private"]["prefs"]["colour"] == "blue"
        r = await b["xep_0049"].retrieve("notes")
        assert r["private"]["notes"]["text"] == "a <b> & 'c' \u00e9"
        # another account cannot read it
        s = await login(server, "snoop@localhost")
        iq = s.make_iq_get(ito="priv@localhost")
        iq["private"].enable("prefs")
        e = await iq_error(iq.send())
        assert e["condition"] in ("service-unavailable", "forbidden")
        r = await s["xep_0049"].retrieve("prefs")
        assert r["private"]["prefs"]["colour"] == ""
        await disconnect(b, s)

    arun(scenario())
    assert server.test_pg.psql("SELECT count(*) FROM private_storage WHERE username = 'priv'").strip() == "2"


def test_vcard(server):
    server.adduser("vcarol", PW)
    server.adduser("vdave", PW)
    photo = os.urandom(300)

    async def scenario():
        c = await login(server, "vcarol@localhost")
        d = await login(server, "vdave@localhost")
        # no vCard yet: an empty one
        r = await d["xep_0054"].get_vcard("vcarol@localhost")
        assert r["vcard_temp"]["FN"] == ""
        v = c["xep_0054"].make_vcard()
        v["FN"] = "Carol Example"
        v["NICKNAME"] = "carol"
        v["PHOTO"]["TYPE"] = "image/png"
        v["PHOTO"]["BINVAL"] = photo
        await c["xep_0054"].publish_vcard(v)
        # the owner and another account read it
        r = await c["xep_0054"].get_vcard("vcarol@localhost")
        assert r["vcard_temp"]["FN"] == "Carol Example"
        r = await d["xep_0054"].get_vcard("vcarol@localhost")
        assert r["vcard_temp"]["NICKNAME"] in ("carol", ["carol"])
        assert r["vcard_temp"]["PHOTO"]["BINVAL"] == photo
        assert str(r["from"]) == "vcarol@localhost"
        # only the owner sets it
        iq = d.make_iq_set(ito="vcarol@localhost")
        iq.append(d["xep_0054"].make_vcard())
        e = await iq_error(iq.send())
        assert e["condition"] == "forbidden"
        # over max_size (8K)
        big = c["xep_0054"].make_vcard()
        big["DESC"] = "x" * 9000
        e = await iq_error(c["xep_0054"].publish_vcard(big))
        assert e["condition"] == "not-acceptable"
        r = await d["xep_0054"].get_vcard("vcarol@localhost")
        assert r["vcard_temp"]["FN"] == "Carol Example"
        # unknown accounts have no vCard at all
        e = await iq_error(d["xep_0054"].get_vcard("nobody@localhost"))
        assert e["condition"] == "service-unavailable"
        # XEP-0153: the server adds the photo hash to available presence
        # (seen here by another resource of the account)
        c2 = await login(server, "vcarol@localhost/two")
        await online(c2)
        await online(c)
        p = await recv(c2.presences)
        while str(p["from"]) != "vcarol@localhost/" + c.boundjid.resource:
            p = await recv(c2.presences)
        ph = p.xml.find("{vcard-temp:x:update}x/{vcard-temp:x:update}photo")
        assert ph is not None and ph.text == hashlib.sha1(photo).hexdigest()
        # an update element without <photo/> ("not ready") gets the hash
        # (XEP-0398 §4); a client's own <photo/>, even empty, is left alone
        for own, want in (("<x xmlns='vcard-temp:x:update'/>", hashlib.sha1(photo).hexdigest()),
                          ("<x xmlns='vcard-temp:x:update'><photo/></x>", None)):
            pr = c.make_presence()
            pr.append(ET.fromstring(own))
            pr.send()
            p = await recv(c2.presences)
            while str(p["from"]) != "vcarol@localhost/" + c.boundjid.resource:
                p = await recv(c2.presences)
            ph = p.xml.findall("{vcard-temp:x:update}x/{vcard-temp:x:update}photo")
            assert len(ph) == 1 and ph[0].text == want, ET.tostring(p.xml)
        await disconnect(c, c2, d)

    arun(scenario())
    h = server.test_pg.psql("SELECT avatar_hash FROM vcard WHERE username = 'vcarol'").strip()
    assert h == hashlib.sha1(photo).hexdigest()


def http_req(method, url, body=None, headers=None):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    path = u.path + ("?" + u.query if u.query else "")
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def test_upload_slot_accepted_by_upload_gw(server, gw):
    server.adduser("uploader", PW)
    data = os.urandom(5000)

    async def scenario():
        c = await login(server, "uploader@localhost")
        # what xep_0363's find_upload_service does (its helper passes bare
        # coroutines to asyncio.wait, which Python 3.11 refuses): disco#items
        # of the server, disco#info of each, the store/file identity
        items = await c["xep_0030"].get_items(jid="localhost")
        info = None
        for jid, _, _ in items["disco_items"]["items"]:
            i = await c["xep_0030"].get_info(jid=jid)
            if ("store", "file", None, "HTTP File Upload") in i["disco_info"]["identities"] \
                    and "urn:xmpp:http:upload:0" in i["disco_info"]["features"]:
                info = i
        assert info is not None and str(info["from"]) == "upload.localhost"
        form = info["disco_info"].iterables[0]["values"]
        assert int(form["max-file-size"]) == MAX
        slot = (await c["xep_0363"].request_slot(
            "upload.localhost", "holiday photo \u00e9t\u00e9.jpg", len(data),
            "image/jpeg"))["http_upload_slot"]
        put, get = slot["put"]["url"], slot["get"]["url"]
        assert put.startswith("http://localhost:%d/upload/" % gw.port)
        assert get.endswith(".jpg") and "?" not in get
        # upload-gw accepts the PUT URL exactly once, and serves the GET URL
        st, _ = http_req("PUT", put, data, {"Content-Type": "image/jpeg"})
        assert st == 201
        st, _ = http_req("PUT", put, data, {"Content-Type": "image/jpeg"})
        assert st == 409
        st, body = http_req("GET", get)
        assert st == 200 and body == data
        # names upload-gw would refuse to store are given another one
        for name, stored in ((".profile", "_profile"), ("50%2e.txt", "50_2e.txt")):
            slot = (await c["xep_0363"].request_slot("upload.localhost", name, 3,
                                                     "text/plain"))["http_upload_slot"]
            st, _ = http_req("PUT", slot["put"]["url"], b"abc", {"Content-Type": "text/plain"})
            assert st == 201, name
            assert slot["get"]["url"].endswith("/" + stored)
            st, body = http_req("GET", slot["get"]["url"])
            assert st == 200 and body == b"abc"
        # the MAC binds the size: a different length is refused
        slot = (await c["xep_0363"].request_slot("upload.localhost", "a.txt", 10,
                                                 "text/plain"))["http_upload_slot"]
        st, _ = http_req("PUT", slot["put"]["url"], b"x" * 11)
        assert st == 403
        # ... and the GET URL carries no permission to write
        st, _ = http_req("PUT", slot["get"]["url"], b"x" * 10)
        assert st == 403
        # too large: the error says the limit (XEP-0363 §4.1)
        iq = c.make_iq_get(ito="upload.localhost")
        iq["http_upload_request"]["filename"] = "big.bin"
        iq["http_upload_request"]["size"] = str(MAX + 1)
        e = await iq_error(iq.send())
        assert e["condition"] == "not-acceptable"
        ftl = e.xml.find("{urn:xmpp:http:upload:0}file-too-large")
        assert ftl is not None
        assert ftl.find("{urn:xmpp:http:upload:0}max-file-size").text == str(MAX)
        # a nonsense size
        iq = c.make_iq_get(ito="upload.localhost")
        iq["http_upload_request"]["filename"] = "x"
        iq["http_upload_request"]["size"] = "-1"
        e = await iq_error(iq.send())
        assert e["condition"] == "bad-request"
        await disconnect(c)

    arun(scenario())
    assert "?v=" not in server.daemon.log()


def test_upload_v2_mac(pg, gw, turnd, tmp_path):
    s = XmppServer(pg, extra=services_conf(tmp_path, gw, turnd, mac="v2"))
    try:
        s.adduser("upv2", PW)

        async def scenario():
            c = await login(s, "upv2@localhost")
            slot = (await c["xep_0363"].request_slot(
                "upload.localhost", "notes.txt", 4, "text/plain"))["http_upload_slot"]
            assert "?v2=" in slot["put"]["url"]
            # the type is signed too
            st, _ = http_req("PUT", slot["put"]["url"], b"abcd", {"Content-Type": "image/png"})
            assert st == 403
            st, _ = http_req("PUT", slot["put"]["url"], b"abcd", {"Content-Type": "text/plain"})
            assert st == 201
            st, body = http_req("GET", slot["get"]["url"])
            assert st == 200 and body == b"abcd"
            await disconnect(c)

        arun(scenario())
    finally:
        s.stop()


def extdisco_iq(c, payload):
    iq = c.make_iq_get(ito="localhost")
    iq.append(ET.fromstring(payload))
    return iq.send()


def services_of(iq, tag="services"):
    el = iq.xml.find("{urn:xmpp:extdisco:2}" + tag)
    return [s.attrib for s in el.findall("{urn:xmpp:extdisco:2}service")]


def test_extdisco_credentials_work_on_turnd(server, turnd):
    server.adduser("caller", PW)

    async def scenario():
        c = await login(server, "caller@localhost")
        r = await extdisco_iq(c, "<services xmlns='urn:xmpp:extdisco:2'/>")
        svcs = services_of(r)
        assert [(s["type"], s["port"]) for s in svcs] == [
            ("stun", str(turnd.port)), ("turn", str(turnd.port)), ("turns", "3443")]
        assert "username" not in svcs[0] and "restricted" not in svcs[0]
        turn = svcs[1]
        assert turn["restricted"] == "1" and turn["transport"] == "udp"
        exp, who = turn["username"].split(":", 1)
        assert who == "caller@localhost"
        assert 3500 < int(exp) - time.time() <= 3600
        # only one type
        r = await extdisco_iq(c, "<services xmlns='urn:xmpp:extdisco:2' type='turns'/>")
        assert [s["type"] for s in services_of(r)] == ["turns"]
        # a credential request for a restricted service (XEP-0215 §3.3)
        r = await extdisco_iq(c, "<credentials xmlns='urn:xmpp:extdisco:2'>"
                              "<service type='turn' host='localhost'/></credentials>")
        cred = services_of(r, "credentials")
        assert len(cred) == 1 and cred[0]["username"].endswith(":caller@localhost")
        e = await iq_error(extdisco_iq(c, "<credentials xmlns='urn:xmpp:extdisco:2'>"
                                       "<service type='turn' host='elsewhere'/></credentials>"))
        assert e["condition"] == "item-not-found"
        await disconnect(c)
        return turn

    turn = arun(scenario())
    # the credential allocates a relay on the real turnd
    cl = turnd.client()
    cl.login(turn["username"], turn["password"])
    r = cl.allocate()
    assert r.cls == SUCCESS and r.method == ALLOCATE, r.error()
    cl.close()
    # a tampered password does not
    cl = turnd.client()
    bad = base64.b64encode(b"\0" * 20).decode()
    cl.login(turn["username"], bad)
    assert cl.allocate().error() == 401
    cl.close()


async def drain(q, seconds=0.5):
    """Everything that arrives on q within seconds."""
    got = []
    try:
        while True:
            got.append(await asyncio.wait_for(q.get(), seconds))
    except asyncio.TimeoutError:
        return got


def test_blocking(server):
    for u in ("victim", "mallory", "friend"):
        server.adduser(u, PW)

    async def scenario():
        v1 = await login(server, "victim@localhost/one")
        v2 = await login(server, "victim@localhost/two")
        m = await login(server, "mallory@localhost/x")
        f = await login(server, "friend@localhost/x")
        for c in (v1, v2, m, f):
            c.register_plugin("xep_0191")
            await online(c)
        # mallory is subscribed to the victim's presence
        m.send_presence(pto="victim@localhost", ptype="subscribe")
        await recv(v1.subscriptions)
        v1.send_presence(pto="mallory@localhost", ptype="subscribed")
        await until(lambda: m.client_roster["victim@localhost"]["subscription"] == "to")
        await drain(m.presences)
        pushes = asyncio.Queue()
        v2.add_event_handler("blocked", lambda iq: pushes.put_nowait(iq))
        assert (await v1["xep_0191"].get_blocked())["blocklist"]["items"] == set()
        await v2["xep_0191"].get_blocked()
        # block: a push to the other resource, and mallory sees us leave
        await v1["xep_0191"].block("mallory@localhost")
        p = await recv(pushes)
        assert "mallory@localhost" in p["block"]["items"]
        gone = await drain(m.presences, 1)
        assert {str(p["from"]) for p in gone if p["type"] == "unavailable"} == {
            "victim@localhost/one", "victim@localhost/two"}
        # mallory's messages and IQs bounce; nothing arrives
        m.send_message(mto="victim@localhost", mbody="hello?", mtype="chat")
        err = await recv(m.messages)
        assert err["type"] == "error" and err["error"]["condition"] == "service-unavailable"
        e = await iq_error(m["xep_0054"].get_vcard("victim@localhost"))
        assert e["condition"] == "service-unavailable"
        m.send_presence(pto="victim@localhost/one")
        # the victim's broadcast does not reach mallory, a message to
        # mallory is refused with <blocked/>
        v1.send_presence(pstatus="busy")
        v1.send_message(mto="mallory@localhost", mbody="oops", mtype="chat")
        err = await recv(v1.messages)
        assert err["type"] == "error" and err["error"]["condition"] == "not-acceptable"
        assert err.xml.find(".//{urn:xmpp:blocking:errors}blocked") is not None
        assert [p for p in await drain(m.presences, 1) if p["from"].bare == "victim@localhost"] == []
        assert [x for x in await drain(v1.messages, 0.3) + await drain(v1.presences, 0)
                if x["from"].bare == "mallory@localhost"] == []
        await disconnect(v1, v2)
        # offline: mallory's message is refused, not stored; a friend's is
        m.send_message(mto="victim@localhost", mbody="while you sleep", mtype="chat")
        err = await recv(m.messages)
        assert err["error"]["condition"] == "service-unavailable"
        f.send_message(mto="victim@localhost", mbody="from a friend", mtype="chat")
        await asyncio.sleep(0.5)
        v = await login(server, "victim@localhost/three")
        v.register_plugin("xep_0191")
        await online(v)
        got = await drain(v.messages, 1)
        assert [g["body"] for g in got] == ["from a friend"]
        # the list survived; unblocking everything lets mallory through again
        items = (await v["xep_0191"].get_blocked())["blocklist"]["items"]
        assert {str(j) for j in items} == {"mallory@localhost"}
        await v["xep_0191"].unblock([])
        assert (await v["xep_0191"].get_blocked())["blocklist"]["items"] == set()
        m.send_message(mto="victim@localhost", mbody="friends again?", mtype="chat")
        got = await recv(v.messages)
        assert got["body"] == "friends again?"
        await disconnect(v, m, f)

    arun(scenario())
    assert server.test_pg.psql("SELECT count(*) FROM blocklist").strip() == "0"
