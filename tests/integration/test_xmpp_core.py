"""xmpp-core against real slixmpp clients and a private PostgreSQL."""

import asyncio
import time

import pytest

from pgcluster import PgCluster
from xmpptest import (Client, Raw, XmppServer, arun, connect, disconnect,
                      online, recv)

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
    if s.daemon:
        s.stop()


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
