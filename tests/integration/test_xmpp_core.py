"""xmpp-core against real slixmpp clients and a private PostgreSQL."""

import asyncio
import time

import pytest

from edgetest import SAN
from pgcluster import PgCluster
from xmpptest import (Client, Raw, XmppServer, arun, connect, disconnect,
                      online, recv, safe_abort, until)

PW = "correct horse battery staple"


@pytest.fixture(scope="session")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def server(pg):
    s = XmppServer(pg)
    yield s
    s.destroy()


def test_login_and_chat(server):
    server.adduser("alice", PW)
    server.adduser("bob", PW)

    async def scenario():
        a = await connect("alice@localhost/phone", PW, server.port)
        b = await connect("bob@localhost", PW, server.tls_port, direct_tls=True)
        await online(a)
        await online(b)
        a.send_message(mto="bob@localhost", mbody="hello bob", mtype="chat")
        m = await recv(b.messages)
        assert m["body"] == "hello bob"
        assert str(m["from"]) == "alice@localhost/phone"
        b.send_message(mto=m["from"], mbody="hi alice", mtype="chat")
        m = await recv(a.messages)
        assert m["body"] == "hi alice"
        await disconnect(a, b)

    arun(scenario())


def test_inband_registration_then_login(server):
    async def scenario():
        c = Client("carol@localhost", PW, register=True)
        c.connect(("127.0.0.1", server.port))
        await asyncio.wait_for(c.registered.wait(), 15)
        await asyncio.wait_for(c.started.wait(), 15)
        await disconnect(c)
        # the account exists: a second registration of the name conflicts
        d = Client("carol@localhost", PW, register=True)
        d.connect(("127.0.0.1", server.port))
        await asyncio.wait_for(d.failed.wait(), 15)
        safe_abort(d)
        c = await connect("carol@localhost/x", PW, server.tls_port, direct_tls=True)
        await disconnect(c)

    arun(scenario())
    assert "carol@localhost" in server.ctl("listusers").stdout


@pytest.mark.parametrize("mech,tls12", [
    ("SCRAM-SHA-1", False), ("SCRAM-SHA-256", False), ("PLAIN", False),
    ("SCRAM-SHA-256-PLUS", False), ("SCRAM-SHA-1-PLUS", True),
    ("SCRAM-SHA-256-PLUS", True),
])
def test_sasl_mechanisms(server, mech, tls12):
    user = "mech" + mech.replace("-", "").lower() + ("12" if tls12 else "")
    server.adduser(user, PW)

    async def scenario():
        c = await connect(user + "@localhost", PW, server.port, mech=mech, tls12=tls12)
        await disconnect(c)
        with pytest.raises(AssertionError):
            await connect(user + "@localhost", PW + "x", server.port, mech=mech,
                          tls12=tls12, timeout=10)

    arun(scenario())
    log = server.daemon.log()
    assert "authenticated %s@localhost (%s)" % (user, mech) in log


def test_big_roster(server):
    """A roster of hundreds of items (found through the roster's JID index,
    rebuilt as it grows and after removals): every item is there once,
    removed ones are gone, in memory and after a restart (loaded back), and
    a subscription with the last contact still works."""
    server.adduser("crowd", PW)
    server.adduser("lastone", PW)
    jids = ["p%03d@example.org" % i for i in range(300)]
    gone = set(jids[::3])

    async def scenario():
        c = await connect("crowd@localhost/a", PW, server.port)
        for i in range(0, len(jids), 50):
            await asyncio.gather(*(c.update_roster(j, name="n" + j[:4]) for j in jids[i:i + 50]))
        await asyncio.gather(*(c.del_roster_item(j) for j in sorted(gone)))
        # renaming an item finds it, does not add a second one
        await c.update_roster(jids[-1], name="renamed")
        await c.update_roster("lastone@localhost", name="last")
        await disconnect(c)
        f = await connect("crowd@localhost/b", PW, server.port)
        f.client_roster.version = None
        await f.get_roster()
        got = {j for j in f.client_roster if f.client_roster[j]["subscription"] != "remove"}
        assert got == set(jids) - gone | {"lastone@localhost"}
        assert f.client_roster[jids[-1]]["name"] == "renamed"
        await disconnect(f)

    arun(scenario())
    server.stop()
    server.start()

    async def again():
        f = await connect("crowd@localhost/c", PW, server.port)
        l = await connect("lastone@localhost/x", PW, server.port)
        f.client_roster.version = None
        await f.get_roster()
        got = {j for j in f.client_roster if f.client_roster[j]["subscription"] != "remove"}
        assert got == set(jids) - gone | {"lastone@localhost"}
        await online(f)
        await online(l)
        f.send_presence(pto="lastone@localhost", ptype="subscribe")
        req = await recv(l.subscriptions)
        assert req["from"].bare == "crowd@localhost"
        l.send_presence(pto="crowd@localhost", ptype="subscribed")
        await until(lambda: f.client_roster["lastone@localhost"]["subscription"] == "to")
        await disconnect(f, l)

    arun(again())


def test_subscription_roster_push_and_presence(server):
    server.adduser("romeo", PW)
    server.adduser("juliet", PW)

    async def scenario():
        r1 = await connect("romeo@localhost/one", PW, server.port)
        r2 = await connect("romeo@localhost/two", PW, server.tls_port, direct_tls=True)
        j = await connect("juliet@localhost/balcony", PW, server.port)
        for c in (r1, r2, j):
            await online(c)
        # romeo asks; both of his resources get the roster push (ask=subscribe)
        r1.send_presence(pto="juliet@localhost", ptype="subscribe")
        req = await recv(j.subscriptions)
        assert req["type"] == "subscribe" and req["from"].bare == "romeo@localhost"
        for r in (r1, r2):
            await until(lambda: "juliet@localhost" in r.client_roster and
                        r.client_roster["juliet@localhost"]["pending_out"])
        # juliet approves: romeo gets 'subscribed' and her presence
        j.send_presence(pto="romeo@localhost", ptype="subscribed")
        ok = await recv(r1.subscriptions)
        assert ok["type"] == "subscribed"
        p = await recv(r1.presences)
        while p["from"].bare != "juliet@localhost":
            p = await recv(r1.presences)
        assert str(p["from"]) == "juliet@localhost/balcony"
        await until(lambda: r2.client_roster["juliet@localhost"]["subscription"] == "to")
        # juliet's roster says 'from'; a roster fetch from scratch agrees
        # (slixmpp sends its roster version: an unchanged roster is an
        # empty result, XEP-0237, so look at the client's merged copy)
        await j.get_roster()
        assert j.client_roster["romeo@localhost"]["subscription"] == "from"
        # a fresh client with no version gets the full roster
        j2 = await connect("juliet@localhost/kitchen", PW, server.port)
        await j2.get_roster()
        assert j2.client_roster["romeo@localhost"]["subscription"] == "from"
        await disconnect(j2)
        # juliet goes offline: romeo sees unavailable
        await disconnect(j)
        p = await recv(r1.presences)
        while p["from"].bare != "juliet@localhost":
            p = await recv(r1.presences)
        assert p["type"] == "unavailable"
        # XEP-0012: romeo (subscribed) may ask when juliet was last online
        la = await r1["xep_0012"].get_last_activity("juliet@localhost")
        assert int(la["last_activity"]["seconds"]) < 60
        # ... a stranger may not
        server.adduser("stranger", PW)
        st = await connect("stranger@localhost", PW, server.port)
        with pytest.raises(Exception) as ei:
            await st["xep_0012"].get_last_activity("juliet@localhost")
        assert ei.value.iq["error"]["condition"] == "forbidden"
        await disconnect(r1, r2, st)

    arun(scenario())


def test_offline_messages_survive_restart(server):
    server.adduser("sender", PW)
    server.adduser("sleeper", PW)

    async def send():
        s = await connect("sender@localhost/a", PW, server.port)
        await online(s)
        for i in range(3):
            s.send_message(mto="sleeper@localhost", mbody="msg %d" % i, mtype="chat")
        # an unknown account bounces with service-unavailable
        s.send_message(mto="nobody@localhost", mbody="?", mtype="chat")
        err = await recv(s.messages)
        assert err["type"] == "error"
        assert err["error"]["condition"] == "service-unavailable"
        await disconnect(s)

    arun(send())
    server.stop()
    server.start()

    async def receive():
        c = await connect("sleeper@localhost/b", PW, server.tls_port, direct_tls=True)
        await online(c)
        got = [await recv(c.messages) for _ in range(3)]
        assert [m["body"] for m in got] == ["msg 0", "msg 1", "msg 2"]
        assert all(m["delay"]["stamp"] is not None for m in got)
        assert str(got[0]["from"]) == "sender@localhost/a"
        await disconnect(c)
        # delivered once: a second login gets nothing
        c = await connect("sleeper@localhost/b", PW, server.port)
        await online(c)
        with pytest.raises(asyncio.TimeoutError):
            await recv(c.messages, timeout=1)
        await disconnect(c)

    arun(receive())


def test_service_basics(server):
    server.adduser("curious", PW)

    async def scenario():
        c = await connect("curious@localhost", PW, server.port)
        await online(c)
        info = await c["xep_0030"].get_info(jid="localhost")
        feats = info["disco_info"]["features"]
        for f in ("urn:xmpp:ping", "jabber:iq:version", "urn:xmpp:time", "msgoffline",
                  "jabber:iq:register"):
            assert f in feats
        vals = [v.text for v in info.xml.iter("{jabber:x:data}value")]
        assert "http://jabber.org/network/serverinfo" in vals
        assert "mailto:abuse@localhost" in vals
        items = await c["xep_0030"].get_items(jid="localhost")
        # the PubSub and MUC services run by default ([pubsub] service, [muc] enabled)
        assert items["disco_items"]["items"] == {("pubsub.localhost", None, "Publish-Subscribe"),
                                                 ("conference.localhost", None, "Chatrooms")}
        v = await c["xep_0092"].get_version("localhost")
        assert v["software_version"]["name"] == "edge xmpp-core"
        await c["xep_0199"].ping("localhost")
        t = await c["xep_0202"].get_entity_time("localhost")
        utc = t.xml.find("{urn:xmpp:time}time/{urn:xmpp:time}utc").text
        assert utc.endswith("Z") and utc.startswith(time.strftime("%Y-", time.gmtime()))
        # an unknown payload gets service-unavailable
        iq = c.Iq()
        iq["type"] = "get"
        iq["to"] = "localhost"
        iq.append(__import__("slixmpp").xmlstream.ET.Element("{urn:example:nope}query"))
        try:
            await iq.send()
            assert False, "expected an error"
        except Exception as e:
            assert "service-unavailable" in str(e.iq["error"]["condition"])
        await disconnect(c)

    arun(scenario())


# ---- raw-socket negative tests: each ends with the right stream error and
# ---- a server that keeps serving others

def still_serves(server):
    server.ctl("adduser", "alice@localhost", stdin=PW + "\n")	# may exist

    async def scenario():
        c = await connect("alice@localhost/check", PW, server.port)
        await c["xep_0199"].ping("localhost")
        await disconnect(c)
    arun(scenario())


def test_auth_before_starttls_refused(server):
    r = Raw(server.port)
    r.send(Raw.HEADER)
    feats = r.recv_until("</stream:features>")
    assert "<starttls" in feats and "<required/>" in feats and "mechanisms" not in feats
    r.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
           "AGFsaWNlAGNvcnJlY3QgaG9yc2UgYmF0dGVyeSBzdGFwbGU=</auth>")
    out = r.recv_until("</stream:stream>")
    assert "<encryption-required/>" in out and "<policy-violation" in out
    assert "<success" not in out
    assert r.closed()
    # a stanza before STARTTLS is refused the same way
    r = Raw(server.port)
    r.send(Raw.HEADER + "<message to='bob@localhost'><body>x</body></message>")
    assert "<policy-violation" in r.recv_until("</stream:stream>")
    still_serves(server)


def test_wrong_password_and_unknown_user(server):
    server.ctl("adduser", "alice@localhost", stdin=PW + "\n")	# may exist
    r = Raw(server.port)
    r.starttls()
    out = r.login_plain("alice", "wrong password")
    assert "<not-authorized/>" in out
    out = r.auth_plain("nosuchuser", "whatever")
    assert "<not-authorized/>" in out
    r.close()
    r = Raw(server.tls_port, direct_tls=True)
    assert "<success" in r.login_plain("alice", PW)
    r.close()


@pytest.mark.parametrize("payload,cond", [
    ("<message><body>x</wrong></message>", "not-well-formed"),
    ("\x00\xff\xfegarbage", "not-well-formed"),
    ("<!-- comment -->", "restricted-xml"),
    ("<?pi data?>", "restricted-xml"),
    ("<message>&xxe;</message>", "not-well-formed"),
])
def test_bad_xml_gets_stream_error(server, payload, cond):
    r = Raw(server.tls_port, direct_tls=True)
    r.send(Raw.HEADER)
    r.recv_until("</stream:features>")
    r.send(payload.encode("latin-1"))
    out = r.recv_until("</stream:stream>")
    assert "<%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" % cond in out, out
    assert r.closed()
    still_serves(server)


def test_billion_laughs_and_external_entity(server):
    for doc in (
        "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
        "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]>"
        "<stream:stream xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
        "&lol2;",
        "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>"
        "<stream:stream xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
        "<message><body>&xxe;</body></message>",
    ):
        r = Raw(server.tls_port, direct_tls=True)
        r.send(doc)
        out = r.recv_until("</stream:stream>")
        assert "restricted-xml" in out and "root:" not in out, out
        assert r.closed()
    still_serves(server)


def test_oversized_stanza_policy_violation(server):
    server.ctl("adduser", "alice@localhost", stdin=PW + "\n")	# may exist
    r = Raw(server.port)
    r.starttls()
    assert "<success" in r.login_plain("alice", PW)
    r.send(Raw.HEADER)
    r.recv_until("</stream:features>")
    r.send("<message to='bob@localhost'><body>")
    try:
        for _ in range(40):
            r.send("x" * 8192)
    except (BrokenPipeError, ConnectionResetError, OSError):
        pass
    out = r.recv_until("</stream:stream>")
    assert "<policy-violation" in out, out
    still_serves(server)


def test_unclosed_stream_and_idle_preauth_timeout(pg):
    s = XmppServer(pg, c2s_extra='auth_timeout = "2s"')
    try:
        r = Raw(s.port)
        r.send(Raw.HEADER)
        r.recv_until("</stream:features>")
        out = r.recv_until("</stream:stream>", timeout=6)
        assert "<connection-timeout" in out
        assert r.closed()
        # a client that vanishes mid-stanza costs nothing afterwards
        r = Raw(s.port)
        r.send(Raw.HEADER + "<message><body>half")
        r.close()
        time.sleep(0.2)
    finally:
        s.destroy()


def test_stanza_before_auth_and_bad_host(server):
    r = Raw(server.port)
    r.starttls()
    r.send(Raw.HEADER + "<message to='bob@localhost'><body>x</body></message>")
    assert "<not-authorized" in r.recv_until("</stream:stream>")
    r = Raw(server.tls_port, direct_tls=True)
    r.send(Raw.HEADER.replace("to='localhost'", "to='example.org'"))
    assert "<host-unknown" in r.recv_until("</stream:stream>")


def test_xmppctl(server):
    r = server.ctl("frobnicate")
    assert r.returncode == 2 and "unknown command" in r.stderr
    r = server.ctl("adduser", "ctluser@localhost", stdin="")
    assert r.returncode == 1
    server.adduser("ctluser", PW)
    r = server.ctl("adduser", "ctluser@localhost", stdin=PW + "\n")
    assert r.returncode == 1 and "already exists" in r.stderr
    r = server.ctl("adduser", "x@example.org", stdin=PW + "\n")
    assert r.returncode == 1
    assert "ctluser@localhost" in server.ctl("listusers").stdout.split()
    assert server.ctl("passwd", "ctluser@localhost", stdin="new " + PW + "\n").returncode == 0

    async def scenario():
        c = await connect("ctluser@localhost/desk", "new " + PW, server.port)
        loop = asyncio.get_running_loop()
        r = await loop.run_in_executor(None, server.ctl, "sessions")
        assert r.returncode == 0 and "ctluser@localhost/desk\t127.0.0.1:" in r.stdout, r
        r = await loop.run_in_executor(None, server.ctl, "stats")
        assert r.returncode == 0 and "connections\t" in r.stdout
        await disconnect(c)
    arun(scenario())
    assert server.ctl("deluser", "ctluser@localhost").returncode == 0
    assert server.ctl("deluser", "ctluser@localhost").returncode == 1
    assert "ctluser@localhost" not in server.ctl("listusers").stdout.split()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_client_that_stops_reading_is_cut_off(pg):
    s = XmppServer(pg, c2s_extra='max_output_buffer = "256K"')
    try:
        s.adduser("reader", PW)
        s.adduser("flooder", PW)
        slow = Raw(s.port)
        slow.session("reader", PW)
        slow.sock.setsockopt(__import__("socket").SOL_SOCKET,
                             __import__("socket").SO_RCVBUF, 4096)
        # a second resource: cutting one off while delivering to the bare
        # JID must not disturb the walk over the account's sessions
        slow2 = Raw(s.tls_port, direct_tls=True)
        slow2.session("reader", PW, resource="raw2")
        fast = Raw(s.tls_port, direct_tls=True)
        fast.session("flooder", PW)
        before = rss_kib(s.daemon.proc.pid)
        body = "y" * 8000
        for i in range(3000):
            try:
                fast.send("<message to='reader@localhost' type='chat'><body>%s</body>"
                          "</message>" % body)
            except OSError:
                break
            if i % 200 == 0 and "output buffer over" in s.daemon.log():
                break
        deadline = time.time() + 10
        while "output buffer over" not in s.daemon.log():
            assert time.time() < deadline, s.daemon.log()[-2000:]
            time.sleep(0.1)
        if not SAN:	# ASan's quarantine keeps freed memory resident
            assert rss_kib(s.daemon.proc.pid) - before < 64 * 1024
        # the flooder and others are still served
        fast.send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
        assert "id='p1'" in fast.recv_until("id='p1'")
        fast.close()
        slow.close()
        slow2.close()
    finally:
        s.destroy()


def test_database_restart_during_traffic(pg, server):
    server.adduser("dbuser1", PW)
    server.adduser("dbuser2", PW)
    server.adduser("dbsleeper", PW)

    async def scenario():
        a = await connect("dbuser1@localhost", PW, server.port)
        b = await connect("dbuser2@localhost", PW, server.port)
        await online(a)
        await online(b)
        loop = asyncio.get_running_loop()
        restart = loop.run_in_executor(None, pg.restart, 1)
        # online traffic does not need the database: it keeps flowing
        for i in range(20):
            a.send_message(mto="dbuser2@localhost", mbody="live %d" % i, mtype="chat")
            a.send_message(mto="dbsleeper@localhost", mbody="maybe %d" % i, mtype="chat")
            await asyncio.sleep(0.05)
        got = [(await recv(b.messages))["body"] for _ in range(20)]
        assert got == ["live %d" % i for i in range(20)]
        await restart
        # after the restart the pool reconnects: storage works again
        await asyncio.sleep(1)
        a.send_message(mto="dbsleeper@localhost", mbody="after restart", mtype="chat")
        await asyncio.sleep(1)
        await disconnect(a, b)
        s = await connect("dbsleeper@localhost", PW, server.port)
        await online(s)
        bodies = []
        try:
            while True:
                m = await recv(s.messages, timeout=3)
                if m["type"] != "error":
                    bodies.append(m["body"])
        except asyncio.TimeoutError:
            pass
        assert "after restart" in bodies
        await disconnect(s)

    arun(scenario())
    assert server.daemon.proc.poll() is None
    still_serves(server)


def test_config_check_and_reload(server):
    import os
    import signal
    from edgetest import REPO, binary, run
    # the shipped example checks, with its certificate where this test has one
    with open(os.path.join(REPO, "deploy/xmpp-core.toml")) as f:
        shipped = f.read()
    assert "/etc/edge/tls/example.org.fullchain.pem" in shipped
    example = os.path.join(server.tmp, "example.toml")
    with open(example, "w") as f:
        f.write(shipped.replace("/etc/edge/tls/example.org.fullchain.pem", server.cert)
                .replace("/etc/edge/tls/example.org.key", server.key))
    r = run([binary("xmpp-core"), "-t", "-c", example])
    assert r.returncode == 0, r.stderr
    # ... and fails, naming the file, where the certificate is missing
    r = run([binary("xmpp-core"), "-t", "-c", os.path.join(REPO, "deploy/xmpp-core.toml")])
    assert r.returncode == 1 and "/etc/edge/tls/example.org.fullchain.pem" in r.stderr, r.stderr
    bad = os.path.join(server.tmp, "bad.toml")
    with open(bad, "w") as f:
        f.write('hosts = ["localhost"]\n[database]\nconninfo = "x"\n[tls]\n'
                'cert_file = "a"\nkey_file = "b"\n[c2s]\nlisten = ["127.0.0.1:1"]\n'
                'max_stanza_size = 12\n')
    r = run([binary("xmpp-core"), "-t", "-c", bad])
    assert r.returncode == 1 and "bad.toml:9: c2s.max_stanza_size:" in r.stderr, r.stderr
    server.daemon.signal(signal.SIGHUP)
    server.daemon.wait_notify("RELOADING=1")
    deadline = time.time() + 5
    while "configuration reloaded" not in server.daemon.log():
        assert time.time() < deadline
        time.sleep(0.05)
    still_serves(server)


def test_per_ip_limit_and_auth_failure_ban(pg):
    s = XmppServer(pg, c2s_extra='max_connections_per_ip = 3\nban_time = "60s"\n'
                   'auth_fail_window = "60s"', start=False)
    with open(s.conf) as f:
        conf = f.read().replace("auth_fail_limit = 1000", "auth_fail_limit = 4")
    with open(s.conf, "w") as f:
        f.write(conf)
    s.start()
    try:
        s.adduser("victim", PW)
        held = [Raw(s.port) for _ in range(3)]
        for r in held:
            r.send(Raw.HEADER)
            r.recv_until("</stream:features>")
        extra = Raw(s.port)
        assert extra.closed(), "a 4th connection from one IP must be refused"
        for r in held:
            r.close()
        time.sleep(0.2)
        # repeated wrong passwords ban the address; [::1] is another address
        for _ in range(2):
            r = Raw(s.tls_port, direct_tls=True)
            assert "<not-authorized/>" in r.login_plain("victim", "wrong 1")
            assert "<not-authorized/>" in r.auth_plain("victim", "wrong 2")
            r.close()
        time.sleep(0.2)
        banned = Raw(s.port)
        assert banned.closed()
        assert "banned" in s.daemon.log()
        other = Raw(s.tls_port, direct_tls=True, host="::1")
        assert "<success" in other.login_plain("victim", PW)
        other.close()
    finally:
        s.destroy()


def test_offline_batches_and_quota(pg):
    s = XmppServer(pg, extra="[offline]\nmax_messages = 130")
    try:
        s.adduser("busy", PW)
        s.adduser("away", PW)

        async def scenario():
            b = await connect("busy@localhost", PW, s.port)
            await online(b)
            for i in range(131):
                b.send_message(mto="away@localhost", mbody="n%d" % i, mtype="chat")
            # the 131st is over the quota and bounces
            err = await recv(b.messages)
            assert err["type"] == "error" and err["body"] == "n130"
            assert err["error"]["condition"] == "service-unavailable"
            await disconnect(b)
            a = await connect("away@localhost", PW, s.tls_port, direct_tls=True)
            await online(a)
            got = [(await recv(a.messages))["body"] for _ in range(130)]
            assert got == ["n%d" % i for i in range(130)]
            await disconnect(a)

        arun(scenario())
    finally:
        s.destroy()


def test_idle_sessions_release_and_resume_parser(server):
    server.ctl("adduser", "alice@localhost", stdin=PW + "\n")	# may exist
    server.ctl("adduser", "bob@localhost", stdin=PW + "\n")
    start = len(server.daemon.log())

    async def scenario():
        a = await connect("alice@localhost/idle", PW, server.port)
        b = await connect("bob@localhost/idle", PW, server.tls_port, direct_tls=True)
        await online(a)
        await online(b)
        await asyncio.sleep(2.5)	# both parsers are released (1 s here)
        msg = a.make_message(mto="bob@localhost/idle", mbody="after a nap", mtype="chat")
        msg["lang"] = "de"
        msg.send()
        m = await recv(b.messages)
        assert m["body"] == "after a nap" and m["lang"] == "de"
        await asyncio.sleep(2.5)
        await b["xep_0199"].ping("localhost")
        await disconnect(a, b)	# </stream:stream> still matches the root

    arun(scenario())
    assert "stream error" not in server.daemon.log()[start:]


def test_preapproval_unsubscribe_and_removal(server):
    for u in ("hero", "leander"):
        server.ctl("adduser", u + "@localhost", stdin=PW + "\n")

    async def scenario():
        h = await connect("hero@localhost/tower", PW, server.port)
        l = await connect("leander@localhost/sea", PW, server.port)
        await online(h)
        await online(l)
        # hero pre-approves leander (RFC 6121 §3.4): an item with approved
        h.send_presence(pto="leander@localhost", ptype="subscribed")
        await until(lambda: "leander@localhost" in h.client_roster and
                    h.client_roster["leander@localhost"]["subscription"] == "none")
        # leander's request is then approved at once, without asking hero
        l.send_presence(pto="hero@localhost", ptype="subscribe")
        ok = await recv(l.subscriptions)
        assert ok["type"] == "subscribed" and ok["from"].bare == "hero@localhost"
        await until(lambda: l.client_roster["hero@localhost"]["subscription"] == "to")
        await until(lambda: h.client_roster["leander@localhost"]["subscription"] == "from")
        with pytest.raises(asyncio.TimeoutError):
            await recv(h.subscriptions, timeout=0.5)	# hero was not asked
        # leander gets hero's presence
        p = await recv(l.presences)
        while p["from"].bare != "hero@localhost":
            p = await recv(l.presences)
        # leander unsubscribes: both rosters drop the subscription
        l.send_presence(pto="hero@localhost", ptype="unsubscribe")
        await until(lambda: l.client_roster["hero@localhost"]["subscription"] == "none")
        await until(lambda: h.client_roster["leander@localhost"]["subscription"] == "none")
        # subscribe again both ways, then hero removes leander from the roster
        l.send_presence(pto="hero@localhost", ptype="subscribe")
        await recv(h.subscriptions)
        h.send_presence(pto="leander@localhost", ptype="subscribed")
        h.send_presence(pto="leander@localhost", ptype="subscribe")
        await until(lambda: l.client_roster["hero@localhost"]["subscription"] == "to")
        while True:
            req = await recv(l.subscriptions)
            if req["type"] == "subscribe":
                break
        l.send_presence(pto="hero@localhost", ptype="subscribed")
        await until(lambda: l.client_roster["hero@localhost"]["subscription"] == "both")
        await until(lambda: h.client_roster["leander@localhost"]["subscription"] == "both")
        h.del_roster_item("leander@localhost")
        await until(lambda: "leander@localhost" not in h.client_roster or
                    h.client_roster["leander@localhost"]["subscription"] == "remove" or
                    not h.client_roster["leander@localhost"]["subscription"] in
                    ("to", "from", "both"))
        await until(lambda: l.client_roster["hero@localhost"]["subscription"] == "none")
        await disconnect(h, l)

    arun(scenario())


def test_priorities_and_directed_presence(server):
    for u in ("prio", "prio2"):
        server.ctl("adduser", u + "@localhost", stdin=PW + "\n")

    async def scenario():
        a = await connect("prio@localhost/main", PW, server.port)
        b = await connect("prio@localhost/bot", PW, server.port)
        s = await connect("prio2@localhost/x", PW, server.port)
        await online(a, priority=5)
        await online(b, priority=-1)
        await online(s)
        # to the bare JID: only non-negative priorities get it
        s.send_message(mto="prio@localhost", mbody="for humans", mtype="chat")
        assert (await recv(a.messages))["body"] == "for humans"
        with pytest.raises(asyncio.TimeoutError):
            await recv(b.messages, timeout=0.5)
        # to the full JID: that resource, whatever its priority
        s.send_message(mto="prio@localhost/bot", mbody="for the bot", mtype="chat")
        assert (await recv(b.messages))["body"] == "for the bot"
        # directed presence (no subscription) reaches the session, and
        # an unavailable follows when the sender goes away
        s.send_presence(pto="prio@localhost/main", pstatus="hi")
        p = await recv(a.presences)
        while p["from"].bare != "prio2@localhost":
            p = await recv(a.presences)
        assert p["status"] == "hi"
        await disconnect(s)
        p = await recv(a.presences)
        while p["from"].bare != "prio2@localhost":
            p = await recv(a.presences)
        assert p["type"] == "unavailable"
        await disconnect(a, b)

    arun(scenario())


def test_done_scenario_register_subscribe_chat_offline_restart(server):
    """The issue's 'done means', in one go with real slixmpp clients."""
    pw_a, pw_b = "first user's long passphrase", "second user's long passphrase"

    async def register(jid, pw):
        c = Client(jid, pw, register=True)
        c.connect(("127.0.0.1", server.port))
        await asyncio.wait_for(c.registered.wait(), 15)
        await asyncio.wait_for(c.started.wait(), 15)
        await disconnect(c)

    async def part1():
        await register("anna@localhost", pw_a)
        await register("bert@localhost", pw_b)
        a = await connect("anna@localhost/laptop", pw_a, server.port)	# STARTTLS
        b = await connect("bert@localhost/phone", pw_b, server.tls_port, direct_tls=True)
        await online(a)
        await online(b)
        a.send_presence(pto="bert@localhost", ptype="subscribe")
        assert (await recv(b.subscriptions))["type"] == "subscribe"
        b.send_presence(pto="anna@localhost", ptype="subscribed")
        b.send_presence(pto="anna@localhost", ptype="subscribe")
        while True:
            p = await recv(a.subscriptions)
            if p["type"] == "subscribe":
                break
        a.send_presence(pto="bert@localhost", ptype="subscribed")
        await until(lambda: a.client_roster["bert@localhost"]["subscription"] == "both")
        await until(lambda: b.client_roster["anna@localhost"]["subscription"] == "both")
        a.send_message(mto="bert@localhost", mbody="online hello", mtype="chat")
        assert (await recv(b.messages))["body"] == "online hello"
        await disconnect(b)
        p = await recv(a.presences)
        while not (p["from"].bare == "bert@localhost" and p["type"] == "unavailable"):
            p = await recv(a.presences)
        a.send_message(mto="bert@localhost", mbody="while you were away", mtype="chat")
        a.send_message(mto="bert@localhost", mbody="and another one", mtype="chat")
        await asyncio.sleep(0.5)
        await disconnect(a)

    arun(part1())
    server.stop()
    server.start()

    async def part2():
        b = await connect("bert@localhost/phone", pw_b, server.tls_port, direct_tls=True)
        await online(b)
        got = [await recv(b.messages) for _ in range(2)]
        assert [m["body"] for m in got] == ["while you were away", "and another one"]
        assert all(str(m["from"]) == "anna@localhost/laptop" for m in got)
        assert all(m["delay"]["stamp"] is not None for m in got)
        assert b.client_roster["anna@localhost"]["subscription"] == "both"
        await disconnect(b)

    arun(part2())
