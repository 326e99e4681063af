"""xmpp-core issue 6, IM slice: message carbons (XEP-0280, XEP-0334
hints), client state indication (XEP-0352) and stream management
(XEP-0198), with real slixmpp clients and raw streams."""

import asyncio
import re
import signal
import socket
import ssl
import struct
import time
import xml.etree.ElementTree as ET

import pytest

from pgcluster import PgCluster
from xmpptest import (Client, Raw, XmppServer, arun, disconnect, online, recv,
                      safe_abort, until)

PW = "correct horse battery staple"


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def server(pg):
    s = XmppServer(pg, extra="[csi]\nmax_queue = 4\n[sm]\nrequest_every = 2\n")
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


def sm_session(port, user, resource="raw", resume=True):
    """A raw client with stream management enabled: (Raw, id, text)."""
    r = Raw(port)
    r.starttls()
    assert "<success" in r.login_plain(user, PW)
    r.send(Raw.HEADER)
    feats = r.recv_until("</stream:features>")
    assert "<sm xmlns='urn:xmpp:sm:3'/>" in feats
    assert "<csi xmlns='urn:xmpp:csi:0'/>" in feats
    r.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>%s</resource></bind></iq>" % resource)
    assert "</jid>" in r.recv_until("</iq>")
    r.send("<enable xmlns='urn:xmpp:sm:3'%s/>" % (" resume='true'" if resume else ""))
    text = read_re(r, r"<enabled[^>]*/>")
    m = re.search(r"<enabled[^>]*?id='([0-9a-f]+)'", text)
    assert (m is not None) == resume, text
    return r, (m.group(1) if m else None), text


def read_re(r, pattern, timeout=10):
    """Reads until the regular expression matches; returns the text."""
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


def sm_resume(port, user, previd, h):
    r = Raw(port)
    r.starttls()
    assert "<success" in r.login_plain(user, PW)
    r.send(Raw.HEADER)
    r.recv_until("</stream:features>")
    r.send("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='%d'/>" % (previd, h))
    return r


def cut(r):
    """Cuts the TCP connection (RST, no TLS close_notify, no </stream>)."""
    r.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    r.sock.close()


def chat(sender, to, body):
    sender.send("<message to='%s' type='chat' id='%s'><body>%s</body></message>"
                % (to, body.replace(" ", "-"), body))


def test_sm_acks_and_resume_after_cut(server):
    server.adduser("smuser", PW)
    server.adduser("smpeer", PW)
    peer = Raw(server.port)
    peer.session("smpeer", PW, "p")
    r, smid, _ = sm_session(server.port, "smuser")
    to = "smuser@localhost/raw"
    # counters: the client's stanzas are counted (h), <r/> answered
    r.send("<presence/>")
    r.send("<r xmlns='urn:xmpp:sm:3'/>")
    assert re.search(r"<a xmlns='urn:xmpp:sm:3' h='1'/>",
                     read_re(r, r"<a xmlns='urn:xmpp:sm:3' h='\d+'/>"))
    for i in range(3):
        chat(peer, to, "msg %d" % i)
    got = r.recv_until("msg 2</body>")
    assert "msg 0" in got and "msg 1" in got
    # the server asks for acks (request_every = 2)
    if "<r xmlns='urn:xmpp:sm:3'/>" not in got:
        got += read_re(r, r"<r xmlns='urn:xmpp:sm:3'/>", 3)
    assert "<r xmlns='urn:xmpp:sm:3'/>" in got
    cut(r)
    time.sleep(0.5)
    # detached but reachable: this one waits for the resumption
    chat(peer, to, "msg 3")
    time.sleep(0.3)
    # the client had handled msg 0 only (a presence reflection may come
    # first: find out from the stanzas before msg 0)
    before = got[:got.index("msg 0")]
    h = before.count("<presence") + before.count("<iq") + before.count("<message") + 1
    r2 = sm_resume(server.port, "smuser", smid, h)
    text = r2.recv_until("msg 3</body>")
    assert "<resumed xmlns='urn:xmpp:sm:3' h='1' previd='%s'/>" % smid in text, text
    body = text[text.index("<resumed"):]
    assert "msg 0" not in body
    assert body.index("msg 1") < body.index("msg 2") < body.index("msg 3")
    # the resumed session works both ways
    chat(r2, "smpeer@localhost/p", "back")
    assert "back</body>" in peer.recv_until("back</body>")
    chat(peer, to, "msg 4")
    assert "msg 4" in r2.recv_until("msg 4</body>")
    # a second resumption with the same id on a live connection takes over
    r3 = sm_resume(server.port, "smuser", smid, h + 4)
    assert "<resumed" in read_re(r3, r"<resumed[^>]*/>")
    assert r2.closed(5)
    # acknowledging more than was sent is a stream error
    r3.send("<a xmlns='urn:xmpp:sm:3' h='4000'/>")
    assert "undefined-condition" in r3.recv_until("</stream:stream>")
    # an unknown id fails; the client can still bind
    r4 = sm_resume(server.port, "smuser", "00" * 16, 0)
    assert "<item-not-found" in r4.recv_until("</failed>")
    for c in (peer, r3, r4):
        c.close()
    still_serves(server)


def still_serves(server):
    r = Raw(server.port)
    r.session("smpeer", PW, "check")
    r.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert "id='p1'" in read_re(r, r"id='p1'")
    r.close()


def test_sm_timeout_to_offline_storage(pg):
    s = XmppServer(pg, extra="[sm]\nresume_timeout = 2\nrequest_every = 100\n")
    try:
        s.adduser("smsleep", PW)
        s.adduser("smsend", PW)
        peer = Raw(s.port)
        peer.session("smsend", PW, "p")
        r, smid, _ = sm_session(s.port, "smsleep")
        r.send("<presence/>")
        chat(peer, "smsleep@localhost/raw", "unacked one")
        chat(peer, "smsleep@localhost", "unacked two")
        assert "unacked two" in r.recv_until("unacked two</body>")
        cut(r)
        time.sleep(0.5)
        chat(peer, "smsleep@localhost/raw", "while detached")
        # the session expires: everything goes to offline storage
        deadline = time.time() + 10
        while "not resumed in time" not in s.daemon.log():
            assert time.time() < deadline
            time.sleep(0.1)
        time.sleep(0.3)
        r2 = sm_resume(s.port, "smsleep", smid, 0)
        assert "<item-not-found" in r2.recv_until("</failed>")
        r2.close()

        async def login_again():
            c = await login("smsleep@localhost/new", s.port)
            await online(c)
            bodies = [(await real_message(c.messages))["body"] for _ in range(3)]
            await disconnect(c)
            return bodies
        assert arun(login_again()) == ["unacked one", "unacked two", "while detached"]
        # without resumption the session ends with the connection: unacked
        # messages go to storage as well
        r, smid, text = sm_session(s.port, "smsleep", resume=False)
        r.send("<presence/>")
        read_re(r, r"</presence>|<presence[^>]*/>")
        chat(peer, "smsleep@localhost", "no resume")
        assert "no resume" in r.recv_until("no resume</body>")
        cut(r)
        time.sleep(0.5)

        async def login_third():
            c = await login("smsleep@localhost/third", s.port)
            await online(c)
            m = await real_message(c.messages)
            await disconnect(c)
            return m["body"]
        assert arun(login_third()) == "no resume"

        # another resource online: unacked messages for the lost one are
        # re-routed to it when the session expires
        async def rerouted():
            other = await login("smsleep@localhost/other", s.port)
            await online(other)
            r, smid, _ = sm_session(s.port, "smsleep", resource="lost")
            r.send("<presence/>")
            chat(peer, "smsleep@localhost/lost", "for lost")
            assert "for lost" in read_re(r, "for lost</body>")
            cut(r)
            m = await real_message(other.messages, 15)
            assert m["body"] == "for lost"
            await disconnect(other)
        arun(rerouted())
        peer.close()
    finally:
        s.destroy()


def test_sm_slixmpp_resumes_after_cut(server):
    """slixmpp's own XEP-0198: acks while online, and after its TCP
    connection is cut it resumes and gets what came meanwhile, once."""
    server.adduser("smslix", PW)
    server.adduser("smslixpeer", PW)

    async def scenario():
        x = await login("smslix@localhost/s", server.port, ["xep_0198"])
        resumed = asyncio.Event()
        x.add_event_handler("session_resumed", lambda _: resumed.set())
        peer = await login("smslixpeer@localhost/p", server.port)
        await online(x)
        await online(peer)
        await until(lambda: x["xep_0198"].sm_id is not None)
        for i in range(4):
            peer.send_message(mto="smslix@localhost/s", mbody="m%d" % i, mtype="chat")
        got = [(await real_message(x.messages))["body"] for _ in range(4)]
        assert got == ["m0", "m1", "m2", "m3"]
        # the server answers slixmpp's <r/> with everything it handled
        for i in range(6):
            x.send_message(mto="smslixpeer@localhost/p", mbody="r%d" % i, mtype="chat")
        assert [(await real_message(peer.messages))["body"] for _ in range(6)] == \
            ["r%d" % i for i in range(6)]
        # (slixmpp writes <r/> past its send queue: ask once all went out)
        x["xep_0198"].request_ack()
        await until(lambda: x["xep_0198"].last_ack == x["xep_0198"].seq)
        # cut the TCP connection under it
        x.transport.abort()
        await asyncio.sleep(0.5)
        peer.send_message(mto="smslix@localhost/s", mbody="while away", mtype="chat")
        await asyncio.sleep(0.3)
        x.connect(("127.0.0.1", server.port), force_starttls=True)
        await asyncio.wait_for(resumed.wait(), 15)
        m = await real_message(x.messages)
        assert m["body"] == "while away"
        await asyncio.sleep(0.5)
        assert x.messages.empty()	# nothing twice
        await disconnect(x, peer)

    arun(scenario())


def test_sm_shutdown_stores_unacked(pg):
    """SIGTERM while a session is detached: its unacknowledged messages are
    written to offline storage before the process exits (the server waits
    for the database), and reach the next login after a restart."""
    s = XmppServer(pg, extra="[sm]\nresume_timeout = 300\nrequest_every = 1000\n")
    try:
        s.adduser("smterm", PW)
        s.adduser("smtermsend", PW)
        peer = Raw(s.port)
        peer.session("smtermsend", PW, "p")
        r, smid, _ = sm_session(s.port, "smterm")
        r.send("<presence/>")
        bodies = ["unacked %d" % i for i in range(40)]
        for b in bodies:
            chat(peer, "smterm@localhost/raw", b)
        assert "unacked 39" in read_re(r, "unacked 39</body>")
        cut(r)
        time.sleep(0.5)
        chat(peer, "smterm@localhost/raw", "while detached")
        time.sleep(0.3)
        # a slow database: the offline table is locked while the server
        # stops, so its writes wait; the server must wait for them
        locker = pg.lock_table("offline")
        s.daemon.signal(signal.SIGTERM)
        time.sleep(1.5)
        assert s.daemon.proc.poll() is None, "exited with writes pending"
        pg.unlock_table(locker)
        log = s.stop()
        assert "giving up" not in log
        s.start()

        async def login_again():
            c = await login("smterm@localhost/new", s.port)
            await online(c)
            got = [(await real_message(c.messages))["body"] for _ in range(41)]
            await disconnect(c)
            return got
        assert arun(login_again()) == bodies + ["while detached"]
    finally:
        s.destroy()
