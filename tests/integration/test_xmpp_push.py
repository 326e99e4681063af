"""xmpp-core push notifications (XEP-0357) and the push keepalive, with
real slixmpp clients: the account that enables push, a contact, and a
second account acting as the app server, which receives the pubsub
publish IQs and answers them with a result or an error.  Stream
management sessions are raw streams whose TCP connection is cut with a
RST, as in test_xmpp_im.py.  (Debian's slixmpp 1.8.3 has no XEP-0357
plugin: <enable/> and <disable/> are built by hand.)"""

import asyncio
import copy
import re
import signal
import time
import xml.etree.ElementTree as ET

import pytest
import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from edgetest import binary, run
from pgcluster import PgCluster
from test_xmpp_im import chat, cut, login, read_re, real_message, sm_resume, sm_session
from xmpptest import XmppServer, arun, disconnect, online, recv

PW = "correct horse battery staple"
NS_PUSH = "urn:xmpp:push:0"
NS_PS = "{http://jabber.org/protocol/pubsub}"
NS_X = "{jabber:x:data}"
APP = "app@localhost/app"
PUBOPTS = "http://jabber.org/protocol/pubsub#publish-options"

# [sm] resume_timeout 2 s; a push session is kept 8 s, woken 3 s before
CONF = """
[sm]
resume_timeout = 2
request_every = 100

[push]
min_interval = 2
timeout = 3
resume_timeout = 8
wake_before = 3
max_registrations = 3
"""


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def server(pg):
    s = XmppServer(pg, extra=CONF)
    adduser(s, "app")
    adduser(s, "friend")
    yield s
    s.destroy()


def form(secret, form_type=PUBOPTS):
    ft = "<field var='FORM_TYPE'><value>%s</value></field>" % form_type if form_type else ""
    return ("<x xmlns='jabber:x:data' type='submit'>%s"
            "<field var='secret'><value>%s</value></field></x>" % (ft, secret))


def push_iq(c, what, jid=APP, node=None, xform=None, itype="set"):
    iq = c.Iq()
    iq["type"] = itype
    e = ET.Element("{%s}%s" % (NS_PUSH, what))
    if jid is not None:
        e.set("jid", jid)
    if node is not None:
        e.set("node", node)
    if xform:
        e.append(ET.fromstring(xform))
    iq.append(e)
    return iq.send(timeout=10)


async def enable(c, node, secret=None, jid=APP):
    await push_iq(c, "enable", jid, node, form(secret) if secret else None)


async def refused(coro):
    """The error condition an IQ is answered with."""
    try:
        await coro
    except slixmpp.exceptions.IqError as e:
        return e.iq["error"]["condition"]
    raise AssertionError("no error")


class AppServer:
    """A logged-in account that plays the app server: every pubsub IQ it
    gets from the account under test is kept in .got and answered as
    .answer says ("result", None for no answer, or (type, condition) for
    an error); those of other tests' accounts get a result."""

    def __init__(self, c, account):
        self.c = c
        self.account = account
        self.got = asyncio.Queue()
        self.answer = "result"
        c.register_handler(Callback("push", MatchXPath(
            "{jabber:client}iq/%spubsub" % NS_PS), self._iq))

    def _iq(self, iq):
        mine = self.account is None or iq["from"] == self.account
        if mine:
            self.got.put_nowait(copy.deepcopy(iq.xml))
        if mine and self.answer is None:
            return
        if not mine or self.answer == "result":
            self.c.send_raw("<iq type='result' to='%s' id='%s'/>" % (iq["from"], iq["id"]))
        else:
            self.c.send_raw("<iq type='error' to='%s' id='%s'><error type='%s'><%s "
                            "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                            % (iq["from"], iq["id"], self.answer[0], self.answer[1]))

    async def next(self, timeout=10):
        return parse(await recv(self.got, timeout))

    async def quiet(self, seconds):
        """Nothing comes for that long."""
        await asyncio.sleep(seconds)
        assert self.got.empty(), [parse(x) for x in drain(self.got)]

    async def collect(self, seconds):
        await asyncio.sleep(seconds)
        return [parse(x) for x in drain(self.got)]


def drain(q):
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


def fields(x):
    return {f.get("var"): f.findtext(NS_X + "value") for f in x.findall(NS_X + "field")}


def parse(iq):
    """A publish IQ as a dict: from, to, type, node, summary, options."""
    ps = iq.find(NS_PS + "pubsub")
    pub = ps.find(NS_PS + "publish")
    x = pub.find("%sitem/{%s}notification/%sx" % (NS_PS, NS_PUSH, NS_X))
    po = ps.find(NS_PS + "publish-options/" + NS_X + "x")
    return {"from": iq.get("from"), "to": iq.get("to"), "type": iq.get("type"),
            "node": pub.get("node"), "form_type": x.get("type"),
            "summary": fields(x), "options": fields(po) if po is not None else None}


async def start_app(server, account):
    app = await login(APP, server.port)
    await online(app)
    return AppServer(app, account)


def adduser(server, name):
    """(The servers of this module share one database.)"""
    r = server.ctl("adduser", name + "@localhost", stdin=PW + "\n")
    assert r.returncode == 0 or "already exists" in r.stderr, r.stderr
    return name + "@localhost"


def test_disco_and_bad_requests(server):
    """urn:xmpp:push:0 on the account's bare JID; each malformed request
    gets its error and changes nothing."""
    me = adduser(server, "pdisco")

    async def scenario():
        c = await login(me + "/a", server.port)
        info = await c["xep_0030"].get_info(jid=me)
        assert NS_PUSH in info["disco_info"]["features"]
        info = await c["xep_0030"].get_info(jid="localhost")
        assert NS_PUSH not in info["disco_info"]["features"]
        assert await refused(push_iq(c, "enable", node=None)) == "feature-not-implemented"
        assert await refused(push_iq(c, "enable", jid=None, node="n")) == "bad-request"
        assert await refused(push_iq(c, "enable", jid="bad jid", node="n")) == "jid-malformed"
        assert await refused(push_iq(c, "enable", node="n", itype="get")) == "not-allowed"
        assert await refused(push_iq(c, "enable", node="x" * 1024)) == "not-acceptable"
        assert await refused(push_iq(c, "enable", node="n", xform=form(
            "s", "urn:example:other"))) == "bad-request"
        # [push] max_form_size (default 4K)
        assert await refused(push_iq(c, "enable", node="n", xform=form(
            "s" * 5000))) == "not-acceptable"
        assert await refused(push_iq(c, "frobnicate", node="n")) == "bad-request"
        assert await refused(push_iq(c, "disable", node="n")) == "item-not-found"
        # a form without FORM_TYPE is taken (as the XEP's examples send it)
        await push_iq(c, "enable", node="n", xform=form("s", None))
        await push_iq(c, "disable", node="n")
        await disconnect(c)

    arun(scenario())


def test_offline_message_notifies_once(server):
    """Push enabled, the account offline: a contact's message gives one
    notification with the summary (count, no sender or body by default)
    and the stored publish-options; online, or a chat state, gives none;
    re-enabling replaces the options."""
    me = adduser(server, "poff")

    async def scenario():
        app = await start_app(server, me)
        friend = await login("friend@localhost/f", server.port)
        c = await login(me + "/phone", server.port)
        await online(c)
        await enable(c, "node-1", secret="s3cret")
        friend.send_message(mto=me, mbody="while online", mtype="chat")
        assert (await real_message(c.messages))["body"] == "while online"
        await app.quiet(0.5)
        await disconnect(c)
        m = friend.make_message(mto=me, mtype="chat")
        m.append(ET.fromstring("<composing xmlns='http://jabber.org/protocol/chatstates'/>"))
        m.send()
        await app.quiet(0.5)
        friend.send_message(mto=me, mbody="hello there", mtype="chat")
        n = await app.next()
        assert n["from"] == me and n["to"] == APP and n["type"] == "set"
        assert n["node"] == "node-1" and n["form_type"] == "submit"
        assert n["summary"] == {"FORM_TYPE": "urn:xmpp:push:summary", "message-count": "1"}
        assert n["options"] == {"FORM_TYPE": PUBOPTS, "secret": "s3cret"}
        await app.quiet(2.5)
        # back online: the message is there; re-enabling replaces the secret
        c = await login(me + "/phone", server.port)
        await online(c)
        assert (await real_message(c.messages))["body"] == "hello there"
        await enable(c, "node-1", secret="new secret")
        await disconnect(c)
        friend.send_message(mto=me, mbody="again", mtype="chat")
        n = await app.next()
        assert n["options"]["secret"] == "new secret"
        assert n["summary"]["message-count"] == "1"
        await app.quiet(2.5)
        await disconnect(friend, app.c)

    arun(scenario())


def test_burst_is_coalesced(server):
    """Ten messages in a burst: at most two notifications (the first at
    once, the rest after min_interval), the last one counting all ten."""
    me = adduser(server, "pburst")

    async def scenario():
        app = await start_app(server, me)
        friend = await login("friend@localhost/f", server.port)
        c = await login(me + "/phone", server.port)
        await enable(c, "burst")
        await disconnect(c)
        t0 = time.time()
        for i in range(10):
            friend.send_message(mto=me, mbody="burst %d" % i, mtype="chat")
        got = await app.collect(4)
        assert 1 <= len(got) <= 2, got
        assert got[-1]["summary"]["message-count"] == "10"
        assert time.time() - t0 < 6
        await disconnect(friend, app.c)

    arun(scenario())


def test_error_wait_keeps_registration(server):
    me = adduser(server, "pwait")

    async def scenario():
        app = await start_app(server, me)
        app.answer = ("wait", "resource-constraint")
        friend = await login("friend@localhost/f", server.port)
        c = await login(me + "/phone", server.port)
        await enable(c, "w")
        await disconnect(c)
        friend.send_message(mto=me, mbody="one", mtype="chat")
        await app.next()
        await asyncio.sleep(2.2)
        app.answer = "result"
        friend.send_message(mto=me, mbody="two", mtype="chat")
        assert (await app.next())["summary"]["message-count"] == "2"
        await disconnect(friend, app.c)

    arun(scenario())


def test_error_cancel_removes_registration(server):
    """The app server answers <item-not-found/> (cancel): the registration
    is gone, from memory and from the database."""
    me = adduser(server, "pcancel")

    async def scenario():
        app = await start_app(server, me)
        app.answer = ("cancel", "item-not-found")
        friend = await login("friend@localhost/f", server.port)
        c = await login(me + "/phone", server.port)
        await enable(c, "gone")
        await disconnect(c)
        friend.send_message(mto=me, mbody="one", mtype="chat")
        await app.next()
        await asyncio.sleep(2.2)
        friend.send_message(mto=me, mbody="two", mtype="chat")
        await app.quiet(1)
        c = await login(me + "/phone", server.port)
        assert await refused(push_iq(c, "disable", node="gone")) == "item-not-found"
        await disconnect(c, friend, app.c)

    arun(scenario())


def test_disable_stops_notifications(server):
    me = adduser(server, "pdis")

    async def scenario():
        app = await start_app(server, me)
        friend = await login("friend@localhost/f", server.port)
        c = await login(me + "/phone", server.port)
        await enable(c, "a")
        await enable(c, "b")
        await push_iq(c, "disable", node="a")
        await disconnect(c)
        friend.send_message(mto=me, mbody="one", mtype="chat")
        assert (await app.next())["node"] == "b"
        await app.quiet(0.5)
        # without a node: every node of that app server
        c = await login(me + "/phone", server.port)
        await push_iq(c, "disable")
        await disconnect(c)
        await asyncio.sleep(2.2)
        friend.send_message(mto=me, mbody="two", mtype="chat")
        await app.quiet(1.5)
        await disconnect(friend, app.c)

    arun(scenario())


def test_registration_limit(server):
    """max_registrations = 3: a fourth node is refused, replacing one of
    the three is not."""
    me = adduser(server, "plimit")

    async def scenario():
        c = await login(me + "/phone", server.port)
        for node in ("n1", "n2", "n3"):
            await enable(c, node)
        assert await refused(push_iq(c, "enable", node="n4")) == "resource-constraint"
        await enable(c, "n2", secret="replaced")
        await push_iq(c, "disable", node="n1")
        await enable(c, "n4")
        await disconnect(c)

    arun(scenario())


def raw_enable(r, node, iq_id="e1"):
    r.send("<iq type='set' id='%s'><enable xmlns='%s' jid='%s' node='%s'/></iq>"
           % (iq_id, NS_PUSH, APP, node))
    text = read_re(r, r"<iq[^>]*id='%s'" % iq_id)
    assert re.search(r"<iq[^>]*type='result'[^>]*id='%s'|<iq[^>]*id='%s'[^>]*type='result'"
                     % (iq_id, iq_id), text), text


def wait_log(server, text, timeout=15):
    deadline = time.time() + timeout
    while text not in server.daemon.log():
        assert time.time() < deadline, "no %r in the log:\n%s" % (
            text, server.daemon.log()[-3000:])
        time.sleep(0.05)


def test_detached_session_notified_and_kept(server):
    """A session with push enabled that loses its connection stays
    resumable beyond [sm] resume_timeout; a message while detached is
    notified, and the session resumes with it."""
    me = adduser(server, "psm")

    async def scenario():
        app = await start_app(server, me)
        friend = await login("friend@localhost/f", server.port)

        def detach():
            r, smid, _ = sm_session(server.port, "psm")
            r.send("<presence/>")
            raw_enable(r, "sm-node")
            cut(r)
            wait_log(server, "psm@localhost/raw: push enabled: resumable for 8 s")
            return smid
        smid = await asyncio.to_thread(detach)
        await asyncio.sleep(3)	# past [sm] resume_timeout
        friend.send_message(mto=me + "/raw", mbody="while detached", mtype="chat")
        n = await app.next()
        assert n["node"] == "sm-node" and n["summary"]["message-count"] == "1"

        def resume():
            r = sm_resume(server.port, "psm", smid, 0)
            text = r.recv_until("while detached</body>")
            r.close()
            return text
        text = await asyncio.to_thread(resume)
        assert "<resumed xmlns='urn:xmpp:sm:3'" in text and "while detached" in text
        await disconnect(friend, app.c)

    arun(scenario())


def test_detached_session_after_notification_normal_timeout(server):
    """Once a message was notified the normal resume timeout runs (as
    mod_push_keepalive): the client does not come back, the session ends
    after 2 s and its message goes to offline storage, notified again."""
    me = adduser(server, "psmend")

    async def scenario():
        app = await start_app(server, me)
        friend = await login("friend@localhost/f", server.port)

        def detach():
            r, smid, _ = sm_session(server.port, "psmend")
            r.send("<presence/>")
            raw_enable(r, "end")
            cut(r)
            wait_log(server, "psmend@localhost/raw: push enabled")
            return smid
        smid = await asyncio.to_thread(detach)
        friend.send_message(mto=me, mbody="wake up", mtype="chat")
        await app.next()
        t0 = time.time()
        await asyncio.to_thread(wait_log, server, "psmend@localhost/raw: not resumed in time")
        assert time.time() - t0 < 4
        # stored offline now, and the registration's session is gone
        n = await app.next()
        assert n["node"] == "end"

        def resume():
            r = sm_resume(server.port, "psmend", smid, 0)
            text = r.recv_until("</failed>")
            r.close()
            return text
        assert "<item-not-found" in await asyncio.to_thread(resume)
        c = await login(me + "/new", server.port)
        await online(c)
        assert (await real_message(c.messages))["body"] == "wake up"
        await disconnect(c, friend, app.c)

    arun(scenario())


def test_subscription_request_while_detached(server):
    me = adduser(server, "psub")

    async def scenario():
        app = await start_app(server, me)
        friend = await login("friend@localhost/f", server.port)

        def detach():
            r, _, _ = sm_session(server.port, "psub")
            r.send("<presence/>")
            raw_enable(r, "sub")
            cut(r)
            wait_log(server, "psub@localhost/raw: push enabled")
        await asyncio.to_thread(detach)
        friend.send_presence(pto=me, ptype="subscribe")
        n = await app.next()
        assert n["summary"]["pending-subscription-count"] == "1"
        assert n["summary"]["message-count"] == "0"
        await disconnect(friend, app.c)

    arun(scenario())


def test_wake_before_keepalive_timeout(server):
    """Nothing came for a detached push session: 3 s before the 8 s
    keepalive ends a notification wakes the app; then the session ends."""
    me = adduser(server, "pwake")

    async def scenario():
        app = await start_app(server, me)

        def detach():
            r, _, _ = sm_session(server.port, "pwake")
            r.send("<presence/>")
            raw_enable(r, "wake")
            cut(r)
            wait_log(server, "pwake@localhost/raw: push enabled")
        await asyncio.to_thread(detach)
        t0 = time.time()
        n = await app.next(10)
        assert 4 <= time.time() - t0 <= 7
        assert n["node"] == "wake" and n["summary"]["message-count"] == "0"
        await asyncio.to_thread(wait_log, server, "pwake@localhost/raw: not resumed in time")
        assert time.time() - t0 >= 7
        await disconnect(app.c)

    arun(scenario())


def test_registrations_survive_restart(pg):
    s = XmppServer(pg, extra=CONF)
    try:
        adduser(s, "app")
        adduser(s, "friend")
        me = adduser(s, "prestart")

        async def before():
            c = await login(me + "/phone", s.port)
            await online(c)
            await enable(c, "kept", secret="k")
            await disconnect(c)
        arun(before())
        s.stop()
        s.start()

        async def after():
            app = await start_app(s, me)
            friend = await login("friend@localhost/f", s.port)
            friend.send_message(mto=me, mbody="after restart", mtype="chat")
            n = await app.next()
            assert n["node"] == "kept" and n["options"]["secret"] == "k"
            await disconnect(friend, app.c)
        arun(after())
    finally:
        s.destroy()


def test_sender_and_body_options(pg):
    """include_sender / include_body = true send the bare sender and the
    text; a fixed text replaces the body after a reload."""
    s = XmppServer(pg, extra=CONF + "include_sender = true\ninclude_body = true\n")
    try:
        adduser(s, "app")
        adduser(s, "friend")
        me = adduser(s, "pbody")

        async def scenario():
            app = await start_app(s, me)
            friend = await login("friend@localhost/f", s.port)
            c = await login(me + "/phone", s.port)
            await enable(c, "b")
            await disconnect(c)
            friend.send_message(mto=me, mbody="the text", mtype="chat")
            n = await app.next()
            assert n["summary"]["last-message-sender"] == "friend@localhost"
            assert n["summary"]["last-message-body"] == "the text"
            with open(s.conf) as f:
                text = f.read()
            with open(s.conf, "w") as f:
                f.write(text.replace("include_body = true", 'include_body = "New message"'))
            s.daemon.signal(signal.SIGHUP)
            await asyncio.to_thread(wait_log, s, "configuration reloaded")
            await asyncio.sleep(2.2)
            friend.send_message(mto=me, mbody="secret text", mtype="chat")
            n = await app.next()
            assert n["summary"]["last-message-body"] == "New message"
            await disconnect(friend, app.c)
        arun(scenario())
    finally:
        s.destroy()


def test_push_disabled(pg):
    s = XmppServer(pg, extra="[push]\nenabled = false\n")
    try:
        me = adduser(s, "pnone")

        async def scenario():
            c = await login(me + "/a", s.port)
            info = await c["xep_0030"].get_info(jid=me)
            assert NS_PUSH not in info["disco_info"]["features"]
            assert await refused(push_iq(c, "enable", node="n")) == "service-unavailable"
            await disconnect(c)
        arun(scenario())
    finally:
        s.destroy()


def test_bad_config_refused(pg):
    """xmpp-core -t names the file, line and key of a bad [push] value."""
    for bad in ("include_body = 3", "max_registrations = 0", "max_form_size = 100",
                "timeout = 0", "resume_timeout = \"31d\"", "wake_before = 0"):
        s = XmppServer(pg, extra="[push]\n%s\n" % bad, start=False)
        try:
            r = run([binary("xmpp-core"), "-t", "-c", s.conf])
            key = bad.split(" ")[0]
            assert r.returncode != 0, bad
            assert re.search(r"xmpp-core\.toml:\d+: (push\.)?%s: " % key, r.stderr), r.stderr
        finally:
            s.destroy()


def test_in_flight_bound_and_timeout(pg):
    """max_in_flight = 1 and an app server that never answers: a second
    account's notification waits until the first one's timeout (3 s), and
    the unanswered registration still works afterwards."""
    s = XmppServer(pg, extra=CONF + "max_in_flight = 1\n")
    try:
        adduser(s, "app")
        adduser(s, "friend")
        one, two = adduser(s, "pfly1"), adduser(s, "pfly2")

        async def scenario():
            app = await start_app(s, None)
            app.answer = None
            friend = await login("friend@localhost/f", s.port)
            for me, node in ((one, "one"), (two, "two")):
                c = await login(me + "/phone", s.port)
                await enable(c, node)
                await disconnect(c)
            t0 = time.time()
            friend.send_message(mto=one, mbody="first", mtype="chat")
            assert (await app.next())["from"] == one
            friend.send_message(mto=two, mbody="second", mtype="chat")
            assert (await app.next(10))["from"] == two
            assert time.time() - t0 >= 2.8
            assert "pfly1@localhost: no answer from %s in time" % APP in s.daemon.log()
            app.answer = "result"
            await asyncio.sleep(2)
            friend.send_message(mto=one, mbody="third", mtype="chat")
            n = await app.next()
            assert n["from"] == one and n["summary"]["message-count"] == "2"
            await disconnect(friend, app.c)
        arun(scenario())
    finally:
        s.destroy()
