"""xmppctl deluser against a running xmpp-core (through its control
socket, removing the account as XEP-0077 in-band removal does) and with
the server stopped (straight in the database), with real slixmpp clients,
a raw stream for the removed account's session and a private PostgreSQL."""

import asyncio

import pytest

from pgcluster import PgCluster
from test_xmpp_im import login, real_message
from test_xmpp_push import CONF, adduser, enable, start_app
from xmpptest import Raw, XmppServer, arun, disconnect, online, recv, until

PW = "correct horse battery staple"


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def server(pg):
    s = XmppServer(pg, extra=CONF)
    s.pg = pg
    adduser(s, "app")
    yield s
    s.destroy()


def rows(server, sql):
    return server.pg.psql(sql).strip()


def account_rows(server, name):
    return {t: rows(server, "SELECT count(*) FROM %s WHERE username = '%s'" % (t, name))
            for t in ("users", "roster", "push_registrations")}


async def befriend(a, b):
    """Mutual subscription between two online slixmpp clients."""
    for x, y in ((a, b), (b, a)):
        x.send_presence(pto=y.boundjid.bare, ptype="subscribe")
        req = await recv(y.subscriptions)
        while req["type"] != "subscribe":
            req = await recv(y.subscriptions)
        y.send_presence(pto=x.boundjid.bare, ptype="subscribed")
    for x, y in ((a, b), (b, a)):
        await until(lambda: x.client_roster[y.boundjid.bare]["subscription"] == "both")


def drain(q):
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


def test_deluser_live_server(server):
    """The server removes the account: its session gets <not-authorized/>
    "account removed", the contact's roster push shows the subscription
    gone and no presence crosses with a new account of the same name, the
    rows are gone, and the cached push registration notifies no more."""
    me = adduser(server, "doomed")
    adduser(server, "mate")

    async def scenario():
        loop = asyncio.get_running_loop()
        app = await start_app(server, me)
        mate = await login("mate@localhost/m", server.port)
        await online(mate)
        d = await login(me + "/phone", server.port)
        await online(d)
        await befriend(d, mate)
        await enable(d, "doomed-node")
        await disconnect(d)
        # the registration works (and is now cached in memory)
        mate.send_message(mto=me, mbody="are you there", mtype="chat")
        assert (await app.next())["node"] == "doomed-node"
        assert rows(server, "SELECT count(*) FROM push_registrations WHERE "
                    "username = 'doomed'") == "1"
        # the account is online again on a raw stream
        raw = Raw(server.port)
        await loop.run_in_executor(None, raw.session, "doomed", PW)
        await asyncio.sleep(0.3)
        drain(mate.presences)
        r = await loop.run_in_executor(None, server.ctl, "deluser", me)
        assert r.returncode == 0, r.stderr
        assert r.stderr == "", r.stderr
        out = await loop.run_in_executor(None, raw.recv_until, "</stream:stream>")
        assert "<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" in out, out
        assert "account removed</text>" in out, out
        assert await loop.run_in_executor(None, raw.closed)
        raw.close()
        # the rows are gone: the account's, and the contact's subscription
        assert account_rows(server, "doomed") == {"users": "0", "roster": "0",
                                                  "push_registrations": "0"}
        assert rows(server, "SELECT count(*) FROM roster WHERE username = 'mate' AND "
                    "jid = 'doomed@localhost' AND (sub_to OR sub_from OR ask_in OR "
                    "ask_out)") == "0"
        # the contact's roster was pushed: no subscription either way
        await until(lambda: mate.client_roster[me]["subscription"] in ("none", "remove"))
        # (the removed session's 'unavailable' came with the cancellation)
        await asyncio.sleep(0.3)
        drain(mate.presences)
        # a new account of the same name: no presence crosses either way
        adduser(server, "doomed")
        n = await login(me + "/new", server.port)
        n.presences = asyncio.Queue()
        await online(n)
        mate.send_presence(pstatus="still here")
        n.send_presence(pstatus="new here")
        await asyncio.sleep(1.0)
        assert [p for p in drain(mate.presences) if p["from"].bare == me] == []
        assert [p for p in drain(n.presences) if p["from"].bare == "mate@localhost"] == []
        # ... and the old push registration wakes nobody
        await disconnect(n)
        mate.send_message(mto=me, mbody="hello stranger", mtype="chat")
        await app.quiet(2.5)
        n = await login(me + "/new", server.port)
        await online(n)
        assert (await real_message(n.messages))["body"] == "hello stranger"
        await disconnect(n, mate, app.c)
        r = server.ctl("deluser", me)
        assert r.returncode == 0, r.stderr

    arun(scenario())


def test_deluser_unknown_account_and_bad_arguments(server):
    r = server.ctl("deluser", "nobody@localhost")
    assert r.returncode == 1 and "nobody@localhost does not exist" in r.stderr, r.stderr
    r = server.ctl("deluser", "x@example.org")
    assert r.returncode == 1 and "not a host" in r.stderr
    r = server.ctl("deluser", "not a jid@")
    assert r.returncode == 1
    r = server.ctl("deluser")
    assert r.returncode == 2 and "usage" in r.stderr
    r = server.ctl("deluser", "a@localhost", "b@localhost")
    assert r.returncode == 2
    r = server.ctl("frobnicate", "a@localhost")
    assert r.returncode == 2 and "unknown command" in r.stderr


def test_deluser_control_socket_protocol(server):
    """The socket itself: bad input gets an error line, not a crash."""
    import socket

    def ask(line):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(server.conf.replace("xmpp-core.toml", "control.sock"))
        s.sendall(line.encode())
        out = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            out += d
        s.close()
        return out.decode()
    assert ask("deluser \n") == "error: not a valid USER@HOST\n"
    assert ask("deluser a@localhost/res\n") == "error: not a valid USER@HOST\n"
    assert ask("deluser a@elsewhere.example\n").startswith("error: elsewhere.example is not")
    assert ask("deluser ghost@localhost\n") == "error: no such account\n"
    adduser(server, "viasock")
    assert ask("deluser viasock@localhost\n") == "ok\n"
    assert account_rows(server, "viasock")["users"] == "0"
    # a client that goes away before the answer: the removal goes on
    adduser(server, "hangup")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(server.conf.replace("xmpp-core.toml", "control.sock"))
    s.sendall(b"deluser hangup@localhost\n")
    s.close()
    deadline = 50
    while deadline and account_rows(server, "hangup")["users"] != "0":
        deadline -= 1
        import time
        time.sleep(0.1)
    assert account_rows(server, "hangup")["users"] == "0"
    assert ask("stats\n").startswith("connections\t")


def test_deluser_server_stopped(pg):
    """No server on the control socket: the rows are deleted directly."""
    s = XmppServer(pg, extra=CONF)
    s.pg = pg
    try:
        adduser(s, "offline")
        s.stop()
        r = s.ctl("deluser", "offline@localhost")
        assert r.returncode == 0, r.stderr
        assert "in the database directly" in r.stderr, r.stderr
        assert account_rows(s, "offline")["users"] == "0"
        r = s.ctl("deluser", "offline@localhost")
        assert r.returncode == 1 and "does not exist" in r.stderr, r.stderr
    finally:
        s.destroy()
