"""SASL2 (XEP-0388), Bind2 (XEP-0386), FAST (XEP-0484), inline stream
management resumption (XEP-0198) and TLS 1.3 session resumption on
xmpp-core's c2s: raw-socket tests for every success and failure branch
(sasl2client.py), xmpp.js 0.14 from node as the real peer (xmppjs/), and
slixmpp on SASL1 side by side."""

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from pgcluster import PgCluster
from sasl2client import (NS_BIND2, NS_FAST, NS_SASL, NS_SASL2, NS_SM, Closed, S2,
                         failure_cond, success_parts, tag, tls_context)
from xmpptest import XmppServer, arun, connect, disconnect, recv

PW = "sasl2-test-password-123"
NS_CARBONS = "urn:xmpp:carbons:2"
NS_CSI = "urn:xmpp:csi:0"


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def server(pg):
    s = XmppServer(pg, extra="")
    for u in ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
              "ivan", "judy", "mallory", "oscar", "peggy"):
        s.adduser(u, PW)
    yield s
    s.destroy()


def edited_server(pg, edits, **kw):
    """An XmppServer whose config text is edited before it starts."""
    s = XmppServer(pg, start=False, **kw)
    with open(s.conf) as f:
        conf = f.read()
    for a, b in edits.items():
        assert a in conf
        conf = conf.replace(a, b, 1)
    with open(s.conf, "w") as f:
        f.write(conf)
    s.start()
    return s


def ua():
    return str(uuid.uuid4())


def bind(tag_="edgetest", inner=""):
    return "<bind xmlns='%s'><tag>%s</tag>%s</bind>" % (NS_BIND2, tag_, inner)


# ---- features and SASL2 logins ----

def test_features_offer_sasl1_and_sasl2_side_by_side(server):
    c = S2(server.port)
    f = c.features
    assert f.find(tag(NS_SASL, "mechanisms")) is not None, "SASL1 still offered"
    auth = c.auth_feature()
    assert auth is not None
    mechs = c.mechanisms()
    for m in ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"):
        assert m in mechs
    inline = auth.find(tag(NS_SASL2, "inline"))
    feats = [x.get("var") for x in inline.iter("{%s}feature" % NS_BIND2)]
    assert set(feats) >= {NS_SM, NS_CARBONS, NS_CSI}, feats
    assert inline.find(tag(NS_SM, "sm")) is not None
    # TLS 1.3: tls-unique is not defined, so no UNIQ; NONE and ENDP at least
    fm = c.fast_mechanisms()
    assert "HT-SHA-256-NONE" in fm and "HT-SHA-256-ENDP" in fm and "HT-SHA-256-UNIQ" not in fm
    assert inline.find(tag(NS_FAST, "fast")).get("tls-0rtt") is None, "0-RTT stays off"
    assert "tls-server-end-point" in c.cb_types() and "tls-unique" not in c.cb_types()
    c.close()


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-1", "SCRAM-SHA-256-PLUS",
                                  "SCRAM-SHA-1-PLUS"])
def test_scram_login_without_bind_then_legacy_bind(server, mech):
    c = S2(server.port)
    e = c.scram("alice", PW, mech, extra=S2.user_agent(ua()))
    aid, bound, token = success_parts(e)
    assert aid == "alice@localhost" and bound is None and token is None
    f = c.after_success()
    assert f.find("{urn:ietf:params:xml:ns:xmpp-bind}bind") is not None
    c.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>legacy</resource></bind></iq>")
    r = c.next()
    assert r.get("type") == "result" and "alice@localhost/legacy" in ET_str(r)
    c.close()


def ET_str(e):
    import xml.etree.ElementTree as ET
    return ET.tostring(e, encoding="unicode")


def test_plain_over_tls(server):
    c = S2(server.port)
    e = c.authenticate("PLAIN", b"\0bob\0" + PW.encode(), S2.user_agent(ua()))
    assert success_parts(e)[0] == "bob@localhost"
    c.close()


def test_direct_tls_and_tls12(server):
    c = S2(server.tls_port, direct_tls=True)
    assert success_parts(c.scram("bob", PW))[0] == "bob@localhost"
    c.close()
    c = S2(server.port, tls12=True)
    assert "HT-SHA-256-UNIQ" in c.fast_mechanisms() and "tls-unique" in c.cb_types()
    assert success_parts(c.scram("bob", PW, "SCRAM-SHA-256-PLUS", cbtype="tls-unique"))[0]
    c.close()


def test_bind2_inline_sm_carbons_csi_and_user_agent(server):
    agent = ua()
    c = S2(server.port)
    e = c.scram("carol", PW, extra=S2.user_agent(agent, "Conversations", "Pixel 8") + bind(
        "Conv", "<enable xmlns='%s'/><enable xmlns='%s' resume='true'/><inactive xmlns='%s'/>"
        % (NS_CARBONS, NS_SM, NS_CSI)))
    aid, bound, _ = success_parts(e)
    assert aid.startswith("carol@localhost/Conv/") and len(aid.split("/")[2]) == 8, aid
    en = bound.find(tag(NS_SM, "enabled"))
    assert en is not None and en.get("resume") == "true" and en.get("id")
    meta = bound.find("{urn:xmpp:mam:2}metadata")
    assert meta is not None and len(meta) == 0, "an empty archive: no start, no end"

    f = c.after_success()
    assert len(f) == 0, "a bound stream has nothing left to negotiate"
    r = server.ctl("sessions")
    line = [x for x in r.stdout.splitlines() if x.startswith(aid + "\t")]
    assert line and line[0].endswith("\tConversations\tPixel 8"), r.stdout
    # the same device again: the same resource, the old session replaced
    d = S2(server.port)
    e2 = d.scram("carol", PW, extra=S2.user_agent(agent) + bind("Conv"))
    assert success_parts(e2)[0] == aid, "stable per device"
    assert c.closed(), "the earlier session of the device is replaced"
    # another device: another resource
    g = S2(server.port)
    e3 = g.scram("carol", PW, extra=S2.user_agent(ua()) + bind("Conv"))
    assert success_parts(e3)[0] != aid
    for x in (d, g):
        x.close()


def test_bind2_mam_metadata(server):
    """XEP-0386 §3.2: <bound/> tells where the archive stands."""
    async def scenario():
        peer = await connect("mallory@localhost/x", PW, server.port)
        for i in range(3):
            peer.send_message(mto="oscar@localhost", mbody="archived %d" % i, mtype="chat")
        await asyncio.sleep(1.0)
        await disconnect(peer)
    arun(scenario())
    c = S2(server.port)
    e = c.scram("oscar", PW, extra=S2.user_agent(ua()) + bind("m"))
    _, bound, _ = success_parts(e)
    meta = bound.find("{urn:xmpp:mam:2}metadata")
    start, end = meta.find("{urn:xmpp:mam:2}start"), meta.find("{urn:xmpp:mam:2}end")
    assert start is not None and end is not None, ET_str(e)
    assert int(start.get("id")) < int(end.get("id")) and end.get("timestamp").endswith("Z")
    # the query agrees
    c.after_success()
    c.send("<iq type='get' id='m1'><metadata xmlns='urn:xmpp:mam:2'/></iq>")
    r = c.next()
    while r.get("id") != "m1":
        r = c.next()
    assert r.find("{urn:xmpp:mam:2}metadata/{urn:xmpp:mam:2}end").get("id") == end.get("id")
    c.close()


def test_inline_carbons_take_effect(server):
    async def scenario():
        c = S2(server.port)
        e = c.scram("dave", PW, extra=S2.user_agent(ua()) + bind(
            "t", "<enable xmlns='%s'/>" % NS_CARBONS))
        success_parts(e)
        c.after_success()
        c.send("<presence/>")
        other = await connect("dave@localhost/other", PW, server.port)
        other.send_presence()
        peer = await connect("erin@localhost/x", PW, server.port)
        await asyncio.sleep(0.3)
        peer.send_message(mto="dave@localhost/other", mbody="for other", mtype="chat")
        loop = asyncio.get_running_loop()
        deadline = time.time() + 10
        got = ""
        while "for other" not in got and time.time() < deadline:
            el = await loop.run_in_executor(None, c.next)
            got += ET_str(el)
        assert "{urn:xmpp:carbons:2}received" in got or "urn:xmpp:carbons:2" in got
        c.close()
        await disconnect(other, peer)
    arun(scenario())


# ---- failures ----

def _fail(server, send, cond, user_agent=True):
    c = S2(server.port)
    c.send(send)
    e = c.next()
    assert failure_cond(e) == cond, ET_str(e)
    # the stream is exactly as before: not authenticated
    c.send("<message to='bob@localhost'><body>x</body></message>")
    assert c.closed()


def test_failure_branches(server):
    A = "<authenticate xmlns='%s' mechanism='%%s'>%%s</authenticate>" % NS_SASL2
    ir = "<initial-response>%s</initial-response>"
    good = base64.b64encode(b"n,,n=bob,r=abcdefgh").decode()
    _fail(server, A % ("NOPE", ir % good), "invalid-mechanism")
    _fail(server, "<authenticate xmlns='%s'>%s</authenticate>" % (NS_SASL2, ir % good),
          "invalid-mechanism")
    _fail(server, A % ("SCRAM-SHA-256", ir % "!!!notbase64"), "incorrect-encoding")
    _fail(server, A % ("SCRAM-SHA-256", ir % good + ir % good), "malformed-request")
    _fail(server, A % ("SCRAM-SHA-256", ir % base64.b64encode(b"x,,n=bob").decode()),
          "malformed-request")
    _fail(server, A % ("SCRAM-SHA-256", ir % good + S2.user_agent("a" * 129)),
          "malformed-request")
    _fail(server, A % ("SCRAM-SHA-256", ir % good + S2.user_agent("id", "s" * 129)),
          "malformed-request")
    _fail(server, A % ("SCRAM-SHA-256", ir % good + S2.user_agent("id", "a\tb")),
          "malformed-request")
    _fail(server, A % ("SCRAM-SHA-256", ir % good + S2.user_agent(ua()) * 2),
          "malformed-request")
    _fail(server, A % ("SCRAM-SHA-256", ir % good + bind("x") * 2), "malformed-request")
    _fail(server, A % ("SCRAM-SHA-256", ir % good + bind("t" * 65)), "malformed-request")
    _fail(server, A % ("SCRAM-SHA-256", ir % good +
                       "<request-token xmlns='%s' mechanism='HT-SHA-256-BOGUS'/>" % NS_FAST),
          "malformed-request")
    _fail(server, A % ("SCRAM-SHA-256", ir % good +
                       "<request-token xmlns='%s' mechanism='HT-SHA-256-UNIQ'/>" % NS_FAST),
          "malformed-request")
    _fail(server, A % ("SCRAM-SHA-256", ir % good +
                       "<request-token xmlns='%s'/>" % NS_FAST), "malformed-request")
    ht = base64.b64encode(b"bob\0" + b"x" * 32).decode()
    _fail(server, A % ("HT-SHA-256-NONE", ir % ht), "malformed-request")  # no <fast/>
    for bad in ("0", "-1", "x", "99999999999"):
        _fail(server, A % ("HT-SHA-256-NONE", ir % ht + S2.user_agent(ua()) +
                           "<fast xmlns='%s' count='%s'/>" % (NS_FAST, bad)), "malformed-request")
    _fail(server, A % ("HT-SHA-256-NONE", ir % ht + S2.user_agent(ua()) +
                       "<fast xmlns='%s' invalidate='maybe'/>" % NS_FAST), "malformed-request")
    _fail(server, A % ("HT-SHA-256-NONE", ir % base64.b64encode(b"bob\0short").decode() +
                       S2.user_agent(ua()) + "<fast xmlns='%s'/>" % NS_FAST), "malformed-request")
    # a token login needs the user-agent id it was issued to
    _fail(server, A % ("HT-SHA-256-NONE", ir % ht + "<fast xmlns='%s'/>" % NS_FAST),
          "not-authorized")
    _fail(server, A % ("HT-SHA-256-NONE", ir % ht + S2.user_agent(ua()) +
                       "<fast xmlns='%s'/>" % NS_FAST), "not-authorized")
    _fail(server, "<response xmlns='%s'>%s</response>" % (NS_SASL2, good), "malformed-request")
    _fail(server, "<abort xmlns='%s'/>" % NS_SASL2, "aborted")
    _fail(server, "<next xmlns='%s' task='UPGR-SCRAM-SHA-256'/>" % NS_SASL2, "malformed-request")
    _fail(server, "<task-data xmlns='%s'/>" % NS_SASL2, "malformed-request")
    # an upgrade task we do not know is not asked for: plain success
    c = S2(server.port)
    e = c.scram("bob", PW, extra="<upgrade xmlns='urn:xmpp:sasl:upgrade:0'>UPGR-BLOOP</upgrade>")
    assert success_parts(e)[0] == "bob@localhost"
    c.close()


def test_sasl2_before_tls_is_refused(server):
    import socket
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream="
               "'http://etherx.jabber.org/streams' to='localhost' version='1.0'>").encode())
    time.sleep(0.2)
    s.sendall(("<authenticate xmlns='%s' mechanism='PLAIN'><initial-response>AGJvYgB4"
               "</initial-response></authenticate>" % NS_SASL2).encode())
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    text = data.decode()
    assert "<authentication" not in text, "SASL2 is not offered before TLS"
    assert "<failure xmlns='urn:xmpp:sasl:2'><encryption-required" in text
    assert "policy-violation" in text
    s.close()


def test_wrong_password_abort_and_unknown_element(server):
    c = S2(server.port)
    assert failure_cond(c.scram("bob", "wrong")) == "not-authorized"
    # another try on the same stream works (the stream is unchanged)
    assert success_parts(c.scram("bob", PW))[0] == "bob@localhost"
    c.close()
    c = S2(server.port)
    e = c.authenticate("SCRAM-SHA-256", "n,,n=bob,r=abcdefghij")
    assert e.tag == tag(NS_SASL2, "challenge")
    c.send("<abort xmlns='%s'/>" % NS_SASL2)
    assert failure_cond(c.next()) == "aborted"
    # a SASL1 <response/> is no answer to a SASL2 challenge
    e = c.authenticate("SCRAM-SHA-256", "n,,n=bob,r=abcdefghij")
    assert e.tag == tag(NS_SASL2, "challenge")
    c.send("<response xmlns='%s'>biws</response>" % NS_SASL)
    assert failure_cond(c.next()) == "malformed-request"
    c.send("<bogus xmlns='%s'/>" % NS_SASL2)
    assert c.closed()
    # no initial response: an empty challenge asks for it
    c = S2(server.port)
    e = c.authenticate("PLAIN")
    assert e.tag == tag(NS_SASL2, "challenge") and not (e.text or "").strip()
    c.send("<response xmlns='%s'>%s</response>" % (NS_SASL2, base64.b64encode(
        b"\0bob\0" + PW.encode()).decode()))
    assert success_parts(c.next())[0] == "bob@localhost"
    c.close()


def test_channel_binding_only_as_advertised(server):
    # TLS 1.3: tls-unique is not advertised, and SASL2 takes only what was
    c = S2(server.port)
    e = c.scram("bob", PW, "SCRAM-SHA-256-PLUS", cbtype="tls-unique")
    assert failure_cond(e) == "not-authorized"
    # a client that could bind but thinks we cannot ("y"): refused (RFC 5802 §6)
    e = c.authenticate("SCRAM-SHA-256", "y,,n=bob,r=abcdefghij")
    assert failure_cond(e) == "not-authorized"
    c.close()


def test_three_failures_close_the_stream(server):
    c = S2(server.port)
    for _ in range(2):
        assert failure_cond(c.scram("bob", "wrong")) == "not-authorized"
    e = c.scram("bob", "wrong")
    assert failure_cond(e) == "not-authorized"
    assert c.closed()


def test_failures_count_towards_the_ban(pg):
    s = edited_server(pg, {"auth_fail_limit = 1000": "auth_fail_limit = 3\n"
                           "auth_fail_window = \"60s\"\nban_time = \"60s\""})
    try:
        s.adduser("banme", PW)
        token = None
        # a FAST token first, then failed token logins and SCRAM ones
        c = S2(s.port)
        agent = ua()
        e = c.scram("banme", PW, extra=S2.user_agent(agent) +
                    "<request-token xmlns='%s' mechanism='HT-SHA-256-NONE'/>" % NS_FAST)
        token = success_parts(e)[2].get("token")
        c.close()
        for _ in range(2):
            c = S2(s.port)
            e = c.ht("banme", token[::-1], extra=S2.user_agent(agent) +
                     "<fast xmlns='%s'/>" % NS_FAST)
            assert failure_cond(e) == "not-authorized"
            c.close()
        c = S2(s.port)
        assert failure_cond(c.scram("banme", "wrong")) == "not-authorized"
        c.close()
        time.sleep(0.3)
        # banned now: the connection is refused at once
        try:
            c = S2(s.port)
            ok = False
        except (Closed, OSError, AssertionError, TimeoutError):
            ok = True
        assert ok, "the fourth connection is banned"
    finally:
        s.destroy()


# ---- FAST ----

def fast_login(server, user, agent, token, mech="HT-SHA-256-NONE", extra=""):
    c = S2(server.port)
    e = c.ht(user, token, mech, extra=S2.user_agent(agent) + "<fast xmlns='%s'/>" % NS_FAST
             + extra)
    return c, e


def request_token(server, user, agent, mech="HT-SHA-256-NONE", password=PW):
    c = S2(server.port)
    e = c.scram(user, password, extra=S2.user_agent(agent) +
                "<request-token xmlns='%s' mechanism='%s'/>" % (NS_FAST, mech))
    _, _, t = success_parts(e)
    assert t is not None and len(t.get("token")) == 72 and t.get("expiry").endswith("Z")
    c.close()
    return t.get("token")


@pytest.mark.parametrize("mech", ["HT-SHA-256-NONE", "HT-SHA-256-ENDP"])
def test_fast_token_login(server, mech):
    agent = ua()
    token = request_token(server, "frank", agent, mech)
    c, e = fast_login(server, "frank", agent, token, mech, bind("fast"))
    aid, bound, _ = success_parts(e)
    assert aid.startswith("frank@localhost/fast/") and bound is not None
    c.close()
    # bound to the mechanism, the user agent and the user
    other = "HT-SHA-256-ENDP" if mech == "HT-SHA-256-NONE" else "HT-SHA-256-NONE"
    # a token one character off (never the character it already ends with)
    wrong = token[:-1] + ("B" if token[-1] == "A" else "A")
    assert wrong != token
    for args in (("frank", agent, token, other), ("frank", ua(), token, mech),
                 ("grace", agent, token, mech), ("frank", agent, wrong, mech)):
        c, e = fast_login(server, *args)
        assert failure_cond(e) == "not-authorized", args
        c.close()


def test_fast_rotation_and_invalidation(pg):
    s = XmppServer(pg, extra="[fast]\nrotate_after = \"0s\"\n")
    try:
        s.adduser("rot", PW)
        agent = ua()
        t1 = request_token(s, "rot", agent)
        # used: a successor comes in the success; t1 stays valid until it is used
        c, e = fast_login(s, "rot", agent, t1)
        t2 = success_parts(e)[2].get("token")
        assert t2 and t2 != t1
        c.close()
        c, e = fast_login(s, "rot", agent, t1)
        t3 = success_parts(e)[2].get("token")
        c.close()
        # t3 replaced the unused t2 ("SHOULD invalidate tokens not used")
        c, e = fast_login(s, "rot", agent, t2)
        assert failure_cond(e) == "not-authorized"
        c.close()
        c, e = fast_login(s, "rot", agent, t3)
        t4 = success_parts(e)[2].get("token")
        c.close()
        # t3 used: the older t1 is gone
        c, e = fast_login(s, "rot", agent, t1)
        assert failure_cond(e) == "not-authorized"
        c.close()
        # invalidate: success without a new token, then the token is dead
        c, e = fast_login(s, "rot", agent, t4, extra="")
        t5 = success_parts(e)[2].get("token")
        c.close()
        c = S2(s.port)
        e = c.ht("rot", t5, extra=S2.user_agent(agent) +
                 "<fast xmlns='%s' invalidate='true' count='3'/>" % NS_FAST)
        assert success_parts(e)[2] is None, "no new token after invalidate"
        c.close()
        c, e = fast_login(s, "rot", agent, t5)
        assert failure_cond(e) == "not-authorized"
        c.close()
    finally:
        s.destroy()


def test_fast_tokens_bounded_and_revoked(pg):
    s = XmppServer(pg, extra="[fast]\nmax_tokens_per_account = 3\ntoken_lifetime = \"1h\"\n")
    try:
        s.adduser("many", PW)
        agents = [ua() for _ in range(4)]
        tokens = [request_token(s, "many", a) for a in agents]
        lines = s.ctl("fast-tokens", "many@localhost").stdout.splitlines()
        assert len(lines) == 3 and agents[0] not in "".join(lines), lines
        assert lines[0].split("\t")[0] == agents[3] and lines[0].split("\t")[1] == "edge-test"
        c, e = fast_login(s, "many", agents[0], tokens[0])
        assert failure_cond(e) == "not-authorized", "the least recently used one went"
        c.close()
        r = s.ctl("fast-revoke", "many@localhost", agents[1])
        assert r.returncode == 0 and r.stdout.strip() == "ok 1", r
        c, e = fast_login(s, "many", agents[1], tokens[1])
        assert failure_cond(e) == "not-authorized"
        c.close()
        c, e = fast_login(s, "many", agents[2], tokens[2])
        success_parts(e)
        c.close()
        assert s.ctl("fast-revoke", "many@localhost").stdout.strip() == "ok 2"
        assert s.ctl("fast-tokens", "many@localhost").stdout == ""
        assert s.ctl("fast-tokens", "nobody@elsewhere").returncode == 1
        # password change (xmppctl passwd) and account removal end them too
        t = request_token(s, "many", agents[0])
        assert s.ctl("passwd", "many@localhost", stdin="another-pass-456\n").returncode == 0
        c, e = fast_login(s, "many", agents[0], t)
        assert failure_cond(e) == "not-authorized"
        c.close()
        t = request_token(s, "many", agents[0], password="another-pass-456")
        assert s.ctl("deluser", "many@localhost").returncode == 0
        s.adduser("many", PW)
        c, e = fast_login(s, "many", agents[0], t)
        assert failure_cond(e) == "not-authorized"
        c.close()
    finally:
        s.destroy()


def test_inband_password_change_revokes_tokens(server):
    server.adduser("ibchg", PW)
    agent = ua()
    token = request_token(server, "ibchg", agent)
    c = S2(server.port)
    success_parts(c.scram("ibchg", PW, extra=S2.user_agent(ua()) + bind("chg")))
    c.after_success()
    c.send("<iq type='set' id='pw'><query xmlns='jabber:iq:register'><username>ibchg</username>"
           "<password>Another-Strong-Pass-9182</password></query></iq>")
    r = c.next()
    assert r.get("id") == "pw" and r.get("type") == "result", ET_str(r)
    c.close()
    d, e = fast_login(server, "ibchg", agent, token)
    assert failure_cond(e) == "not-authorized", "XEP-0077 change ends the tokens"
    d.close()


def test_expired_token_refused(server, pg):
    agent = ua()
    token = request_token(server, "judy", agent)
    pg.psql("UPDATE fast_tokens SET cur_expires = now() - interval '1 second', "
            "new_expires = now() - interval '1 second' WHERE username = 'judy'")
    c, e = fast_login(server, "judy", agent, token)
    assert failure_cond(e) == "not-authorized"
    c.close()


@pytest.mark.parametrize("table,why", [
    ("[fast]\ntoken_lifetime = \"10s\"\n", "between 1 minute and 10 years"),
    ("[fast]\ntoken_lifetime = \"1h\"\nrotate_after = \"2h\"\n", "not be longer than token_lifetime"),
    ("[fast]\nmax_tokens_per_account = 0\n", "max_tokens_per_account"),
    ("[sasl2]\nenabled = \"yes\"\n", "enabled"),
])
def test_config_limits(pg, table, why):
    with pytest.raises(RuntimeError) as ex:
        XmppServer(pg, extra=table)
    assert why in str(ex.value), ex.value


def test_sasl2_and_fast_can_be_turned_off(pg):
    s = XmppServer(pg, extra="[fast]\nenabled = false\n")
    try:
        s.adduser("nofast", PW)
        c = S2(s.port)
        assert c.auth_feature() is not None and c.fast_mechanisms() == []
        e = c.scram("nofast", PW, extra=S2.user_agent(ua()) +
                    "<request-token xmlns='%s' mechanism='HT-SHA-256-NONE'/>" % NS_FAST)
        assert failure_cond(e) == "malformed-request", "no FAST offered, none to ask for"
        c.close()
    finally:
        s.destroy()
    s = XmppServer(pg, extra="[sasl2]\nenabled = false\n")
    try:
        c = S2(s.port)
        assert c.auth_feature() is None
        c.send("<authenticate xmlns='%s' mechanism='PLAIN'/>" % NS_SASL2)
        assert c.closed()
    finally:
        s.destroy()


def test_expired_rows_go_when_a_token_is_issued(server, pg):
    server.adduser("peggyx", PW)
    a1, a2, a3 = ua(), ua(), ua()
    request_token(server, "peggyx", a1)
    request_token(server, "peggyx", a2)
    pg.psql("UPDATE fast_tokens SET cur_expires = now() - interval '1 second', "
            "new_expires = now() - interval '1 second' WHERE username = 'peggyx' "
            "AND agent = '%s'" % a1)
    request_token(server, "peggyx", a3)
    agents = [l.split("\t")[0] for l in server.ctl("fast-tokens", "peggyx@localhost")
              .stdout.splitlines()]
    assert sorted(agents) == sorted([a2, a3]), agents


def test_inline_resume_with_fast_in_one_round_trip(server):
    async def scenario():
        agent = ua()
        token = request_token(server, "heidi", agent)
        c = S2(server.port)
        e = c.ht("heidi", token, extra=S2.user_agent(agent) + "<fast xmlns='%s'/>" % NS_FAST +
                 bind("phone", "<enable xmlns='%s' resume='true'/>" % NS_SM))
        aid, bound, _ = success_parts(e)
        smid = bound.find(tag(NS_SM, "enabled")).get("id")
        c.after_success()
        c.send("<presence/>")
        await asyncio.sleep(0.2)
        c.close()		# the train enters a tunnel
        peer = await connect("ivan@localhost/desk", PW, server.port)
        await asyncio.sleep(0.5)
        for i in range(3):
            peer.send_message(mto=aid, mbody="queued %d" % i, mtype="chat")
        await asyncio.sleep(0.5)
        loop = asyncio.get_running_loop()

        def reconnect():
            d = S2(server.port)
            # one request: token, resume, and a bind that must be ignored
            e = d.ht("heidi", token, extra=S2.user_agent(agent) + "<fast xmlns='%s'/>" % NS_FAST +
                     "<resume xmlns='%s' previd='%s' h='0'/>" % (NS_SM, smid) + bind("phone"))
            return d, e
        d, e = await loop.run_in_executor(None, reconnect)
        aid2, bound, _ = success_parts(e)
        assert aid2 == aid and bound is None, "resumed: nothing is bound again"
        assert e.find(tag(NS_SM, "resumed")).get("previd") == smid
        got = []
        while len([x for x in got if "queued" in x]) < 3:
            got.append(ET_str(await loop.run_in_executor(None, d.next)))
        assert "stream:features" in got[0] or "features" in got[0]
        # a second resumption of the same id fails inside the success; bind goes on
        x = S2(server.port)
        e = x.ht("heidi", token, extra=S2.user_agent(ua()) + "<fast xmlns='%s'/>" % NS_FAST)
        assert failure_cond(e) == "not-authorized", "the token belongs to its agent"
        x.close()
        x = S2(server.port)
        e = x.scram("heidi", PW, extra="<resume xmlns='%s' previd='nope' h='0'/>" % NS_SM +
                    bind("other"))
        aid3, bound, _ = success_parts(e)
        assert e.find(tag(NS_SM, "failed")) is not None and bound is not None
        assert aid3.startswith("heidi@localhost/other/")
        x.close()
        d.close()
        await disconnect(peer)
    arun(scenario(), 90)


# ---- XEP-0480 upgrade tasks ----

NS_UPGRADE = "urn:xmpp:sasl:upgrade:0"
NS_SCRAM_UPGRADE = "urn:xmpp:scram-upgrade:0"
UPGRADE = "<upgrade xmlns='%s'>UPGR-SCRAM-SHA-256</upgrade>" % NS_UPGRADE


def sha1_only(pg, user):
    """An imported account: SCRAM-SHA-1 keys only."""
    pg.psql("UPDATE users SET sha256_salt = NULL, sha256_iter = NULL, sha256_stored = NULL, "
            "sha256_server = NULL WHERE username = '%s'" % user)


def test_scram_upgrade_task_for_sha1_only_accounts(server, pg):
    import hashlib
    server.adduser("upg", PW)
    sha1_only(pg, "upg")
    c = S2(server.port)
    assert [u.text for u in c.auth_feature().findall(tag(NS_UPGRADE, "upgrade"))] == \
        ["UPGR-SCRAM-SHA-256"]
    # no SHA-256 keys: SCRAM-SHA-256 fails as a wrong password would
    assert failure_cond(c.scram("upg", PW, "SCRAM-SHA-256")) == "not-authorized"
    # SCRAM-SHA-1 works; without <upgrade/> nothing changes
    assert success_parts(c.scram("upg", PW, "SCRAM-SHA-1"))[0] == "upg@localhost"
    c.close()
    # a PLAIN login makes the missing keys from the password (as a
    # password change would: issue 16's imported accounts)
    c = S2(server.port)
    assert success_parts(c.authenticate("PLAIN", b"\0upg\0" + PW.encode()))[0]
    c.close()
    keys = "SELECT sha256_stored IS NOT NULL FROM users WHERE username = 'upg'"
    deadline = time.time() + 30
    while pg.psql(keys).strip() != "t":
        assert time.time() < deadline, "PLAIN login made no SHA-256 keys"
        time.sleep(0.1)
    sha1_only(pg, "upg")
    # the task: <continue/>, <next/>, salt, SaltedPassword, <success/>
    c = S2(server.port)
    e = c.scram("upg", PW, "SCRAM-SHA-1", extra=UPGRADE + bind("up"))
    assert e.tag == tag(NS_SASL2, "continue"), ET_str(e)
    assert [t.text for t in e.iter(tag(NS_SASL2, "task"))] == ["UPGR-SCRAM-SHA-256"]
    assert base64.b64decode(e.findtext(tag(NS_SASL2, "additional-data"))).startswith(b"v=")
    c.send("<next xmlns='%s' task='UPGR-SCRAM-SHA-256'/>" % NS_SASL2)
    td = c.next(tag(NS_SASL2, "task-data"))
    salt = td.find(tag(NS_SCRAM_UPGRADE, "salt"))
    sp = hashlib.pbkdf2_hmac("sha256", PW.encode(), base64.b64decode(salt.text),
                             int(salt.get("iterations")))
    c.send("<task-data xmlns='%s'><hash xmlns='%s'>%s</hash></task-data>"
           % (NS_SASL2, NS_SCRAM_UPGRADE, base64.b64encode(sp).decode()))
    aid, bound, _ = success_parts(c.next())
    assert aid.startswith("upg@localhost/up/") and bound is not None
    c.close()
    # SHA-256 works now, with the keys the client derived
    c = S2(server.port)
    assert success_parts(c.scram("upg", PW, "SCRAM-SHA-256"))[0] == "upg@localhost"
    # an account that has the keys: <upgrade/> asks for nothing, success at once
    e = S2(server.port).scram("upg", PW, "SCRAM-SHA-1", extra=UPGRADE)
    assert success_parts(e)[0] == "upg@localhost"
    c.close()


def test_scram_upgrade_task_failures(server, pg):
    server.adduser("upgbad", PW)
    sha1_only(pg, "upgbad")

    def to_continue():
        c = S2(server.port)
        e = c.scram("upgbad", PW, "SCRAM-SHA-1", extra=UPGRADE)
        assert e.tag == tag(NS_SASL2, "continue")
        return c

    c = to_continue()
    c.send("<next xmlns='%s' task='UPGR-SCRAM-SHA-512'/>" % NS_SASL2)
    assert failure_cond(c.next()) == "malformed-request"
    c.close()
    c = to_continue()
    c.send("<task-data xmlns='%s'><hash xmlns='%s'>AAAA</hash></task-data>"
           % (NS_SASL2, NS_SCRAM_UPGRADE))
    assert failure_cond(c.next()) == "malformed-request", "task data before <next/>"
    c.close()
    for bad in ("AAAA", "!!", ""):
        c = to_continue()
        c.send("<next xmlns='%s' task='UPGR-SCRAM-SHA-256'/>" % NS_SASL2)
        c.next(tag(NS_SASL2, "task-data"))
        c.send("<task-data xmlns='%s'><hash xmlns='%s'>%s</hash></task-data>"
               % (NS_SASL2, NS_SCRAM_UPGRADE, bad))
        assert failure_cond(c.next()) == "malformed-request"
        # not authenticated: the stream is as it was
        c.send("<message to='bob@localhost'><body>x</body></message>")
        assert c.closed()
    # still SHA-1 only: nothing was stored
    c = S2(server.port)
    assert failure_cond(c.scram("upgbad", PW, "SCRAM-SHA-256")) == "not-authorized"
    c.close()
    # a PLAIN login gives it its keys: no account of the host lacks them
    # any more (the next tests are offered SCRAM-SHA-256 again)
    c = S2(server.port)
    assert success_parts(c.authenticate("PLAIN", b"\0upgbad\0" + PW.encode()))[0]
    c.close()
    keys = "SELECT sha256_stored IS NOT NULL FROM users WHERE username = 'upgbad'"
    deadline = time.time() + 30
    while pg.psql(keys).strip() != "t":
        assert time.time() < deadline, "PLAIN login made no SHA-256 keys"
        time.sleep(0.1)


# ---- TLS 1.3 resumption ----

def ticket_file(dirpath, *keys, mode=0o600):
    path = os.path.join(dirpath, "tickets.key")
    with open(path, "w") as f:
        f.write("# TLS session ticket keys, newest first\n")
        for k in keys:
            f.write(k.hex() + "\n")
    os.chmod(path, mode)
    return path


def test_tls_session_resumption_with_ticket_keys(pg):
    """Stateless tickets under keys from a file: a reconnect resumes TLS
    (PSK-DHE, no certificate signature), across a restart too, with the
    FAST token bound to the connection (HT-SHA-256-ENDP); SIGHUP rotates
    the keys; a resumed session parks when idle and keeps working."""
    import signal
    k1, k2 = os.urandom(80), os.urandom(80)
    d = tempfile.mkdtemp(prefix="edge-tickets-")
    keyfile = ticket_file(d, k1)
    s = edited_server(pg, {"[tls]\n": "[tls]\nticket_key_file = \"%s\"\n" % keyfile})
    try:
        s.adduser("tick", PW)
        agent = ua()
        ctx = tls_context()
        c = S2(s.tls_port, direct_tls=True, ctx=ctx)
        assert not c.sock.session_reused
        e = c.scram("tick", PW, extra=S2.user_agent(agent) +
                    "<request-token xmlns='%s' mechanism='HT-SHA-256-ENDP'/>" % NS_FAST)
        token = success_parts(e)[2].get("token")
        c.after_success()	# TLS 1.3 tickets come after the handshake
        sess = c.sock.session
        assert sess is not None and sess.has_ticket
        c.close()
        # direct TLS and STARTTLS both resume; FAST's channel binding too
        r = S2(s.tls_port, direct_tls=True, session=sess, ctx=ctx)
        assert r.sock.session_reused, "TLS resumed"
        assert r.sock.version() == "TLSv1.3"
        e = r.ht("tick", token, "HT-SHA-256-ENDP", extra=S2.user_agent(agent) +
                 "<fast xmlns='%s'/>" % NS_FAST + bind("t"))
        aid = success_parts(e)[0]
        r.after_success()
        # idle: the resumed session leaves OpenSSL like any other, and works
        time.sleep(2.5)
        r.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        pong = r.next()
        assert pong.get("id") == "p1" and pong.get("type") == "result"
        assert "TLS parked" in s.daemon.log()
        sess = r.sock.session
        r.close()
        st = S2(s.port, session=sess, ctx=ctx)
        assert st.sock.session_reused, "STARTTLS resumes too"
        st.close()
        # a restart with the same key file resumes
        s.stop()
        s.start()
        r = S2(s.tls_port, direct_tls=True, session=sess, ctx=ctx)
        assert r.sock.session_reused, "resumed across a restart"
        sess = r.sock.session
        assert success_parts(r.scram("tick", PW))[0] == "tick@localhost"
        r.close()
        # rotation: a new key first, the old still opens tickets (SIGHUP)
        ticket_file(d, k2, k1)
        s.daemon.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        r = S2(s.tls_port, direct_tls=True, session=sess, ctx=ctx)
        assert r.sock.session_reused, "old key still accepted"
        success_parts(r.scram("tick", PW))
        r.after_success()
        fresh = r.sock.session	# sealed under k2 now
        r.close()
        ticket_file(d, k2)
        s.daemon.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        r = S2(s.tls_port, direct_tls=True, session=sess, ctx=ctx)
        assert not r.sock.session_reused, "a retired key: full handshake"
        r.close()
        r = S2(s.tls_port, direct_tls=True, session=fresh, ctx=ctx)
        assert r.sock.session_reused
        r.close()
    finally:
        s.destroy()
        shutil.rmtree(d, ignore_errors=True)


def test_ticket_key_file_refused_when_bad(pg):
    d = tempfile.mkdtemp(prefix="edge-tickets-")
    try:
        for keyfile, why in ((ticket_file(d, os.urandom(80), mode=0o644), "group or other"),
                             (ticket_file(d, os.urandom(79)), "not 160 hex digits")):
            with pytest.raises(RuntimeError) as ex:
                edited_server(pg, {"[tls]\n": "[tls]\nticket_key_file = \"%s\"\n" % keyfile})
            assert why in str(ex.value) or "tickets.key" in str(ex.value), ex.value
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---- xmpp.js, the real peer ----

XMPPJS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xmppjs")


class XmppJs:
    """tests/integration/xmppjs/driver.mjs: xmpp.js 0.14 as a phone."""

    def __init__(self, port, user, password):
        import queue
        import threading
        assert shutil.which("node"), "node is needed (deploy/deps.sh installs it)"
        assert os.path.isdir(os.path.join(XMPPJS, "node_modules", "@xmpp", "client")), \
            "npm ci in tests/integration/xmppjs (deploy/deps.sh does it)"
        env = dict(os.environ, NODE_TLS_REJECT_UNAUTHORIZED="0", NODE_NO_WARNINGS="1")
        self.proc = subprocess.Popen(
            ["node", "driver.mjs", "xmpp://127.0.0.1:%d" % port, "localhost", user, password],
            cwd=XMPPJS, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.events = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                self.events.put({"ev": "stderr", "data": line})

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait(self, ev, timeout=20, **match):
        import queue
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                e = self.events.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            self.seen.append(e)
            if e["ev"] == "error":
                raise AssertionError("xmpp.js: %s" % e)
            if e["ev"] == ev and all(e.get(k) == v for k, v in match.items()):
                return e
        raise AssertionError("no %s from xmpp.js; saw %s" % (ev, [
            x for x in self.seen[-40:] if x["ev"] not in ("in", "out")] +
            [x.get("data", "")[:300] for x in self.seen[-12:]]))

    def until(self, cond, mark, timeout=20):
        """Consumes events until cond(events since mark) holds."""
        deadline = time.time() + timeout
        while not cond(self.seen[mark:]):
            assert time.time() < deadline, "xmpp.js: condition not met: %s" % [
                x for x in self.seen[mark:] if x["ev"] not in ("in", "out")]
            try:
                self.wait("none", timeout=0.2)
            except AssertionError as e:
                if "xmpp.js: {" in str(e):
                    raise

    def wire(self, direction):
        return "".join(e["data"] for e in self.seen if e["ev"] == direction)

    def close(self):
        try:
            self.cmd("quit")
            self.proc.wait(5)
        except Exception:
            self.proc.kill()
            self.proc.wait()


def test_xmppjs_fast_reconnect_with_inline_resume(pg):
    """xmpp.js 0.14: SASL2 + SCRAM, Bind2 with inline SM, a FAST token; the
    connection dies; messages from a slixmpp user are queued; the reconnect
    is one SASL2 request with HT-SHA-256-NONE and an inline <resume/> that
    gets them; the token is rotated.  Then a password change: the token is
    refused, SCRAM with the new password resumes the session."""
    s = XmppServer(pg, extra="[fast]\nrotate_after = \"0s\"\n")
    js = None
    try:
        s.adduser("phone", PW)
        s.adduser("friend", PW)
        js = XmppJs(s.port, "phone", PW)
        on = js.wait("online")
        jid = on["jid"]
        assert jid.startswith("phone@localhost/phone/"), on
        t1 = js.wait("token")
        assert '<bound xmlns="urn:xmpp:bind:0"><enabled xmlns="urn:xmpp:sm:3"' in js.wire("in")
        out = js.wire("out")
        assert "<authenticate xmlns=\"urn:xmpp:sasl:2\" mechanism=\"SCRAM-SHA-1\"" in out, out
        assert "<request-token" in out and "<bind xmlns=\"urn:xmpp:bind:0\"" in out
        assert "<enable xmlns=\"urn:xmpp:sm:3\"" in out
        assert t1["mechanism"] == "HT-SHA-256-NONE" and len(t1["token"]) == 72

        def queued(n, first):
            async def go():
                f = await connect("friend@localhost/desk", PW, s.port)
                for i in range(n):
                    f.send_message(mto=jid, mbody="queued %d" % (first + i), mtype="chat")
                await asyncio.sleep(0.5)
                await disconnect(f)
            arun(go())

        for round_, (first, change) in enumerate(((0, False), (3, True))):
            mark = len(js.seen)
            js.cmd("drop")
            js.wait("disconnect")
            time.sleep(0.3)		# the server saw the close: detached
            if change:
                assert s.ctl("passwd", "phone@localhost", stdin="changed-pass-789\n").returncode == 0
                js.cmd("password changed-pass-789")
                js.wait("ok")
            queued(3, first)
            js.cmd("reconnect")
            want = {"queued %d" % i for i in range(first, first + 3)}
            js.until(lambda ev: any(e["ev"] == "resumed" and e["jid"] == jid for e in ev) and
                     want <= {e["body"] for e in ev if e["ev"] == "message"} and
                     any(e["ev"] == "token" for e in ev), mark)
            out = "".join(e["data"] for e in js.seen[mark:] if e["ev"] == "out")
            inp = "".join(e["data"] for e in js.seen[mark:] if e["ev"] == "in")
            assert "mechanism=\"HT-SHA-256-NONE\"" in out and "<fast xmlns=\"urn:xmpp:fast:0\"" in out
            assert "<resume xmlns=\"urn:xmpp:sm:3\"" in out
            t = [e for e in js.seen[mark:] if e["ev"] == "token"][-1]
            assert t["token"] != t1["token"], "rotated"
            if not change:
                # one round trip: the token, the resumption, the queue
                assert "<failure" not in inp and "<resumed" in inp
                assert out.count("<authenticate") == 1
            else:
                # the password change ended the token; SCRAM with the new one
                assert "<not-authorized" in inp
                assert "mechanism=\"SCRAM-SHA-1\"" in out
            t1 = t
    finally:
        if js:
            js.close()
        s.destroy()
