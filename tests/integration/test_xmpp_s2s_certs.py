"""s2s certificate authentication (RFC 6120 §13.7, XEP-0178 SASL
EXTERNAL): xmpp-core instances whose certificates a lab CA signed
authenticate with SASL EXTERNAL both ways, no dialback: one certificate
names its domain with a wildcard DNS-ID (*.s2s.test, RFC 6125 §6.4.3),
one only with an XmppAddr (RFC 6120 §13.7.1.4); one TCP connection
carries both directions (XEP-0288 bidi), or two with bidi = false on one
side; a server with
verify = "certificate" refuses a peer whose certificate is self-signed,
in both directions, and its users' stanzas bounce."""

import tempfile
import shutil

import pytest

from pgcluster import PgCluster
from s2slab import S2sServer, make_ca
from xmpptest import arun, connect, disconnect, online, recv

A = "ca-a.s2s.test"
B = "ca-b.s2s.test"
C = "self.s2s.test"
D = "ca-d.s2s.test"


@pytest.fixture(scope="module")
def lab():
    tmp = tempfile.mkdtemp(prefix="edge-s2s-ca-")
    ca = make_ca(tmp)
    pg = PgCluster()
    extra = 'ca_file = "%s"\n' % ca[0]
    a = S2sServer(pg, A, ca=ca, s2s_extra=extra + 'verify = "certificate"\n', start=False)
    b = S2sServer(pg, B, ca=ca, s2s_extra=extra, start=False, san="DNS:*.s2s.test")
    c = S2sServer(pg, C, s2s_extra=extra, start=False)	# self-signed
    d = S2sServer(pg, D, ca=ca, s2s_extra=extra + "bidi = false\n", start=False,
                  san="otherName:1.3.6.1.5.5.7.8.5;UTF8:%s" % D)
    for x, ys in ((a, (b, c, d)), (b, (a,)), (c, (a,)), (d, (a,))):
        for y in ys:
            x.route_to(y)
        x.write_conf()
    try:
        for x in (a, b, c, d):
            x.start()
        a.adduser("alice", "alice-pw-3")
        b.adduser("bob", "bob-pw-3")
        c.adduser("carol", "carol-pw-3")
        d.adduser("dave", "dave-pw-3")
        yield a, b, c, d
        for x in (a, b, c, d):
            print("---- %s ----\n%s" % (x.domain, x.log()[-15000:]))
    finally:
        for x in (a, b, c, d):
            x.destroy()
        pg.destroy()
        shutil.rmtree(tmp, ignore_errors=True)


def test_sasl_external_both_ways(lab):
    a, b, _, _ = lab

    async def scenario():
        alice = await connect("alice@%s/pc" % A, "alice-pw-3", a.port)
        bob = await connect("bob@%s/pc" % B, "bob-pw-3", b.port)
        await online(alice)
        await online(bob)
        alice.send_message(mto="bob@%s/pc" % B, mbody="certified")
        m = await recv(bob.messages, 20)
        assert m["body"] == "certified"
        bob.send_message(mto="alice@%s/pc" % A, mbody="certified too")
        m = await recv(alice.messages, 20)
        assert m["body"] == "certified too"
        await disconnect(alice, bob)

    arun(scenario(), 60)
    # A's connection, bidirectional: B answered on it, opened none of its own
    links = a.links()
    assert [(l[0], l[1], l[3], l[8]) for l in links if l[0] == B] == \
        [(B, "out", "sasl-external", "bidi")], links
    links = b.links()
    assert [(l[0], l[1], l[3], l[8]) for l in links if l[0] == A] == \
        [(A, "in", "sasl-external", "bidi")], links


def test_certificate_policy_refuses_self_signed(lab):
    a, _, c, _ = lab

    async def scenario():
        alice = await connect("alice@%s/pc2" % A, "alice-pw-3", a.port)
        carol = await connect("carol@%s/pc" % C, "carol-pw-3", c.port)
        await online(alice)
        await online(carol)
        # carol's server is not trusted by A: A refuses its dialback
        carol.send_message(mto="alice@%s/pc2" % A, mbody="let me in")
        while True:
            m = await recv(carol.messages, 30)
            if m["type"] == "error":
                break
        assert m["error"]["condition"] == "remote-server-not-found", m
        # and A does not send to a server whose certificate does not verify
        alice.send_message(mto="carol@%s/pc" % C, mbody="no")
        while True:
            m = await recv(alice.messages, 30)
            if m["type"] == "error":
                break
        assert m["error"]["condition"] == "remote-server-not-found", m
        assert alice.messages.empty()
        await disconnect(alice, carol)

    arun(scenario(), 90)
    log = a.log()
    assert "certificate does not verify" in log


def test_xmppaddr_certificate(lab):
    a, _, _, d = lab

    async def scenario():
        alice = await connect("alice@%s/x" % A, "alice-pw-3", a.port)
        dave = await connect("dave@%s/x" % D, "dave-pw-3", d.port)
        await online(alice)
        await online(dave)
        dave.send_message(mto="alice@%s/x" % A, mbody="xmppaddr")
        m = await recv(alice.messages, 20)
        assert m["body"] == "xmppaddr"
        alice.send_message(mto="dave@%s/x" % D, mbody="back")
        m = await recv(dave.messages, 20)
        assert m["body"] == "back"
        await disconnect(alice, dave)

    arun(scenario(), 60)
    # D does not do bidi: a connection each way
    links = a.links()
    assert any(l[0] == D and l[1] == "out" and l[3] == "sasl-external" for l in links), links
    assert any(l[0] == D and l[1] == "in" and l[3] == "sasl-external" for l in links), links
    assert not any(l[0] == D and l[8] == "bidi" for l in links), links
