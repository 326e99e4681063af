"""s2s between xmpp-core and Prosody 0.12 (Debian's), both directions:
STARTTLS, Server Dialback on untrusted (self-signed) certificates with
the verify step on the other server's own stream, messages, iq ping to
a full JID and the subscription handshake with presence.  Prosody runs
as a test process with its own config dir and ports; it reaches
xmpp-core through a static route of a small lab module
(prosody/mod_lab_s2s_routes.lua), xmpp-core reaches it through
[s2s.routes]."""

import asyncio
import os
import shutil
import socket
import subprocess
import time

import pytest

from edgetest import free_port, run
from pgcluster import PgCluster
from s2slab import MUC, S2sServer, Seen, body, make_ca, make_domain_cert, muc_codes, muc_item
from xmpptest import arun, connect, disconnect, online, recv, until

PROSODY = shutil.which("prosody")
pytestmark = pytest.mark.skipif(PROSODY is None, reason="prosody is installed by deploy/deps.sh")

E = "e.s2s.test"	# xmpp-core
P = "p.s2s.test"	# Prosody
HERE = os.path.dirname(os.path.abspath(__file__))


class Prosody:
    def __init__(self, tmp, core, domain=P, ca=None, direct_tls=False, bidi=False):
        self.tmp = tmp
        self.s2s_tls = free_port()
        tls_route = ", %d" % core.s2s_tls_port if direct_tls else ""
        os.makedirs(os.path.join(tmp, "data"))
        self.cert, self.key = make_domain_cert(tmp, domain, ca)
        # Prosody's direct TLS ports find their certificates by name (SNI)
        os.makedirs(os.path.join(tmp, "certs"))
        shutil.copy(self.cert, os.path.join(tmp, "certs", domain + ".crt"))
        shutil.copy(self.key, os.path.join(tmp, "certs", domain + ".key"))
        # its MUC service, conference.<domain>, a host of its own for s2s
        self.muc = "conference." + domain
        os.makedirs(os.path.join(tmp, "muc"))
        self.muc_cert, self.muc_key = make_domain_cert(os.path.join(tmp, "muc"), self.muc, ca)
        cafile = 'cafile = "%s"; ' % ca[0] if ca else ""
        bidi_mod = ', "s2s_bidi"' if bidi else ""
        secure = "true" if ca else "false"
        self.c2s = free_port()
        self.s2s = free_port()
        self.cfg = os.path.join(tmp, "prosody.cfg.lua")
        with open(self.cfg, "w") as f:
            f.write("""
run_as_root = true
pidfile = "{tmp}/prosody.pid"
data_path = "{tmp}/data"
certificates = "{tmp}/certs"
ssl = {{ {cafile} }}
plugin_paths = {{ "{mods}" }}
log = {{ {{ levels = {{ min = "debug" }}, to = "file", filename = "{tmp}/prosody.log" }} }}
modules_enabled = {{ "roster", "saslauth", "tls", "dialback", "disco", "ping", "posix",
                     "pep", "lab_s2s_routes"{bidi_mod} }}
c2s_ports = {{ {c2s} }}
c2s_interfaces = {{ "127.0.0.1" }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
s2s_ports = {{ {s2s} }}
s2s_interfaces = {{ "127.0.0.1" }}
s2s_direct_tls_ports = {{ {s2s_tls} }}
http_ports = {{ }}
https_ports = {{ }}
s2s_require_encryption = true
s2s_secure_auth = {secure}
authentication = "internal_hashed"
lab_s2s_routes = {{ ["{e}"] = {{ "127.0.0.1", {eport}{tls_route} }},
                   ["conference.{e}"] = {{ "127.0.0.1", {eport} }} }}
VirtualHost "{p}"
    ssl = {{ certificate = "{cert}", key = "{key}"; {cafile} }}
Component "{muc}" "muc"
    ssl = {{ certificate = "{muc_cert}", key = "{muc_key}"; {cafile} }}
    muc_room_locking = false
""".format(tmp=tmp, mods=os.path.join(HERE, "prosody"), c2s=self.c2s, s2s=self.s2s,
           e=core.domain, eport=core.s2s_port, p=domain, cert=self.cert, key=self.key,
           cafile=cafile, secure=secure, s2s_tls=self.s2s_tls, tls_route=tls_route,
           muc=self.muc, muc_cert=self.muc_cert, muc_key=self.muc_key, bidi_mod=bidi_mod))
        for user, pw in (("bob", "bob-pw-2"), ("dave", "dave-pw-4")):
            r = run(["prosodyctl", "--config", self.cfg, "register", user, domain, pw])
            assert r.returncode == 0, r.stdout + r.stderr
        self.proc = subprocess.Popen([PROSODY, "--config", self.cfg, "-F"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.s2s), timeout=1).close()
                break
            except OSError:
                assert self.proc.poll() is None, self.log()
                assert time.time() < deadline, "prosody did not start:\n" + self.log()
                time.sleep(0.05)

    def log(self):
        try:
            with open(os.path.join(self.tmp, "prosody.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    pg = PgCluster()
    core = S2sServer(pg, E, start=False)
    prosody = None
    try:
        prosody = Prosody(str(tmp_path_factory.mktemp("prosody")), core)
        core.routes[P] = "127.0.0.1:%d" % prosody.s2s
        core.routes[prosody.muc] = "127.0.0.1:%d" % prosody.s2s
        core.write_conf()
        core.start()
        core.adduser("alice", "alice-pw-2")
        core.adduser("carol", "carol-pw-4")
        yield core, prosody
        print("---- xmpp-core ----\n%s\n---- prosody ----\n%s"
              % (core.log()[-20000:], prosody.log()[-30000:]))
    finally:
        if prosody:
            prosody.stop()
        core.destroy()
        pg.destroy()


def test_messages_and_ping_both_ways(peers):
    core, prosody = peers

    async def scenario():
        alice = await connect("alice@%s/pc" % E, "alice-pw-2", core.port)
        bob = await connect("bob@%s/gajim" % P, "bob-pw-2", prosody.c2s)
        await online(alice)
        await online(bob)
        # Prosody -> xmpp-core first: Prosody opens the link, we dial back
        bob.send_message(mto="alice@%s/pc" % E, mbody="from prosody")
        m = await recv(alice.messages, 30)
        assert m["body"] == "from prosody" and m["from"].full == "bob@%s/gajim" % P
        # xmpp-core -> Prosody: our link, Prosody dials back to us
        alice.send_message(mto="bob@%s/gajim" % P, mbody="from xmpp-core")
        m = await recv(bob.messages, 30)
        assert m["body"] == "from xmpp-core" and m["from"].full == "alice@%s/pc" % E
        assert await alice["xep_0199"].ping("bob@%s/gajim" % P, timeout=15) is not None
        assert await bob["xep_0199"].ping("alice@%s/pc" % E, timeout=15) is not None
        await disconnect(alice, bob)

    arun(scenario(), 120)
    links = core.links()
    assert any(l[0] == P and l[1] == "out" and l[3] == "dialback" for l in links), links
    assert any(l[0] == P and l[1] == "in" and l[3] == "dialback" for l in links), links


def test_server_iqs_both_ways(peers):
    """A Prosody user asks our domain itself (ping, disco#info and
    #items, version: IQ_REMOTE), and ours asks Prosody's."""
    core, prosody = peers

    async def scenario():
        alice = await connect("alice@%s/iq" % E, "alice-pw-2", core.port)
        bob = await connect("bob@%s/iq" % P, "bob-pw-2", prosody.c2s)
        assert await bob["xep_0199"].ping(E, timeout=20) is not None
        info = await bob["xep_0030"].get_info(jid=E, timeout=15)
        q = info["disco_info"]
        assert ("server", "im") in [(i[0], i[1]) for i in q["identities"]], q
        assert "urn:xmpp:ping" in q["features"], q
        items = await bob["xep_0030"].get_items(jid=E, timeout=15)
        assert items["type"] == "result" and items["from"] == E
        v = await bob["xep_0092"].get_version(E, timeout=15)
        assert v["software_version"]["name"] == "edge xmpp-core", v
        # the other way: Prosody's domain answers ours
        assert await alice["xep_0199"].ping(P, timeout=20) is not None
        info = await alice["xep_0030"].get_info(jid=P, timeout=15)
        assert "urn:xmpp:ping" in info["disco_info"]["features"]
        await disconnect(alice, bob)

    arun(scenario(), 120)


def test_subscription_handshake_both_ways(peers):
    core, prosody = peers

    async def scenario():
        alice = await connect("alice@%s/sub" % E, "alice-pw-2", core.port)
        bob = await connect("bob@%s/sub" % P, "bob-pw-2", prosody.c2s)
        await online(alice)
        await online(bob)
        # alice (xmpp-core) subscribes to bob (Prosody), bob approves
        alice.send_presence(pto="bob@%s" % P, ptype="subscribe")
        while (await recv(bob.subscriptions, 30))["type"] != "subscribe":
            pass
        bob.send_presence(pto="alice@%s" % E, ptype="subscribed")
        while (await recv(alice.subscriptions, 30))["type"] != "subscribed":
            pass
        await until(lambda: alice.client_roster["bob@%s" % P]["subscription"] in ("to", "both"), 30)
        # ... and bob subscribes back, alice approves
        bob.send_presence(pto="alice@%s" % E, ptype="subscribe")
        while (await recv(alice.subscriptions, 30))["type"] != "subscribe":
            pass
        alice.send_presence(pto="bob@%s" % P, ptype="subscribed")
        while (await recv(bob.subscriptions, 30))["type"] != "subscribed":
            pass
        await until(lambda: bob.client_roster["alice@%s" % E]["subscription"] == "both", 30)
        await until(lambda: alice.client_roster["bob@%s" % P]["subscription"] == "both", 30)
        # presence now flows both ways
        bob.send_presence(pstatus="bob here")
        while True:
            p = await recv(alice.presences, 30)
            if p["from"].bare == "bob@%s" % P and p["status"] == "bob here":
                break
        alice.send_presence(pstatus="alice here")
        while True:
            p = await recv(bob.presences, 30)
            if p["from"].bare == "alice@%s" % E and p["status"] == "alice here":
                break
        await disconnect(alice, bob)

    arun(scenario(), 120)


def test_muc_across_both_ways(peers):
    """bob of Prosody in a room of ours (join, history, groupchat both
    ways, a private message, a kick), and alice of ours in a room of
    Prosody's MUC (join, groupchat both ways)."""
    core, prosody = peers
    ours = "lounge@conference." + E
    theirs = "hall@" + prosody.muc

    async def scenario():
        alice = await connect("alice@%s/muc" % E, "alice-pw-2", core.port)
        bob = await connect("bob@%s/muc" % P, "bob-pw-2", prosody.c2s)
        sa, sb = Seen(alice), Seen(bob)
        alice.send_presence()
        bob.send_presence()
        alice.send_raw("<presence to='%s/alice'/>" % ours)
        await sa.first(lambda s: s.get("from") == ours + "/alice" and 201 in muc_codes(s))
        alice.send_raw("<message to='%s' type='groupchat'><body>before bob</body></message>"
                       % ours)
        await sa.first(lambda s: body(s) == "before bob")
        # Prosody's user joins ours: alice, himself, the history
        bob.send_raw("<presence to='%s/bob'><x xmlns='%s'/></presence>" % (ours, MUC))
        p = await sb.first(lambda s: s.get("from") == ours + "/bob" and 110 in muc_codes(s), 30)
        await sb.first(lambda s: s.get("from") == ours + "/alice" and s.tag.endswith("presence"))
        m = await sb.first(lambda s: body(s) == "before bob")
        assert m.find("{urn:xmpp:delay}delay") is not None
        p = await sa.first(lambda s: s.get("from") == ours + "/bob")
        assert muc_item(p).get("jid") == "bob@%s" % P
        bob.send_raw("<message to='%s' type='groupchat'><body>hello from prosody</body>"
                     "</message>" % ours)
        for x in (sa, sb):
            await x.first(lambda s: body(s) == "hello from prosody" and
                          s.get("from") == ours + "/bob")
        alice.send_raw("<message to='%s/bob' type='chat'><body>private</body></message>"
                       % ours)
        assert (await sb.first(lambda s: body(s) == "private")).get("from") == ours + "/alice"
        alice.send_raw("<iq type='set' id='k' to='%s'><query xmlns='%s#admin'>"
                       "<item nick='bob' role='none'/></query></iq>" % (ours, MUC))
        p = await sb.first(lambda s: s.get("type") == "unavailable" and 307 in muc_codes(s))
        assert 110 in muc_codes(p)
        # ours in Prosody's room
        bob.send_raw("<presence to='%s/bob'><x xmlns='%s'/></presence>" % (theirs, MUC))
        await sb.first(lambda s: s.get("from") == theirs + "/bob" and 110 in muc_codes(s), 30)
        alice.send_raw("<presence to='%s/alice'><x xmlns='%s'/></presence>" % (theirs, MUC))
        p = await sa.first(lambda s: s.get("from") == theirs + "/alice" and 110 in muc_codes(s),
                           30)
        await sa.first(lambda s: s.get("from") == theirs + "/bob" and s.tag.endswith("presence"))
        alice.send_raw("<message to='%s' type='groupchat'><body>from xmpp-core</body></message>"
                       % theirs)
        for x in (sa, sb):
            await x.first(lambda s: body(s) == "from xmpp-core" and
                          s.get("from") == theirs + "/alice")
        bob.send_raw("<message to='%s' type='groupchat'><body>and back</body></message>" % theirs)
        await sa.first(lambda s: body(s) == "and back" and s.get("from") == theirs + "/bob")
        await disconnect(alice, bob)

    arun(scenario(), 120)


E2 = "e2.s2s.test"
P2 = "p2.s2s.test"


@pytest.fixture(scope="module")
def certpeers(tmp_path_factory):
    """Both certificates from one lab CA that both trust; Prosody with
    s2s_secure_auth = true (a valid certificate is required) and
    mod_s2s_bidi; both sides connect with direct TLS (XEP-0368)."""
    tmp = str(tmp_path_factory.mktemp("ca"))
    ca = make_ca(tmp)
    pg = PgCluster()
    core = S2sServer(pg, E2, ca=ca, s2s_extra='ca_file = "%s"\nverify = "certificate"\n' % ca[0],
                     start=False)
    prosody = None
    try:
        prosody = Prosody(str(tmp_path_factory.mktemp("prosody2")), core, P2, ca,
                          direct_tls=True, bidi=True)
        core.routes[P2] = "tls:127.0.0.1:%d" % prosody.s2s_tls
        core.write_conf()
        core.start()
        core.adduser("alice", "alice-pw-2")
        yield core, prosody
        print("---- xmpp-core ----\n%s\n---- prosody ----\n%s"
              % (core.log()[-20000:], prosody.log()[-30000:]))
    finally:
        if prosody:
            prosody.stop()
        core.destroy()
        pg.destroy()


def p2_links(core):
    return [(l[1], l[3], l[5], l[8]) for l in core.links() if l[0] == P2]


def test_certificate_auth_and_bidi_with_prosody(certpeers):
    """SASL EXTERNAL with direct TLS, and one connection for both ways
    (XEP-0288): first Prosody's (it came in on our direct TLS port, we
    answer on it), then, that one closed, ours (Prosody answers on it)."""
    core, prosody = certpeers

    async def scenario(first_from_prosody, tag):
        alice = await connect("alice@%s/%s" % (E2, tag), "alice-pw-2", core.port)
        bob = await connect("bob@%s/%s" % (P2, tag), "bob-pw-2", prosody.c2s)
        await online(alice)
        await online(bob)
        a_to_b = lambda: alice.send_message(mto="bob@%s/%s" % (P2, tag), mbody="signed")
        b_to_a = lambda: bob.send_message(mto="alice@%s/%s" % (E2, tag), mbody="signed back")
        for send, c, body in ((b_to_a, alice, "signed back"), (a_to_b, bob, "signed")) \
                if first_from_prosody else ((a_to_b, bob, "signed"), (b_to_a, alice, "signed back")):
            send()
            assert (await recv(c.messages, 30))["body"] == body
        await disconnect(alice, bob)

    arun(scenario(True, "in"), 120)
    links = p2_links(core)
    assert [(d, how, bidi) for d, how, _, bidi in links] == \
        [("in", "sasl-external", "bidi")], links
    assert "lab direct TLS route for %s" % E2 in prosody.log()
    assert "(direct TLS)" in [l for l in core.log().splitlines() if "in: connection from" in l][0]

    r = core.ctl("s2s", "close", P2)
    assert r.returncode == 0, r.stdout + r.stderr
    deadline = time.time() + 20
    while p2_links(core):
        assert time.time() < deadline, p2_links(core)
        time.sleep(0.05)
    arun(scenario(False, "out"), 120)
    links = p2_links(core)
    assert [(d, how, bidi) for d, how, _, bidi in links] == \
        [("out", "sasl-external", "bidi")], links
    assert links[0][2] == "127.0.0.1:%d" % prosody.s2s_tls, links


def test_pep_both_ways(peers):
    """carol (ours) and dave (Prosody's mod_pep), subscribed to each
    other, both clients wanting nick notifications: carol's nick reaches
    dave (we asked his client for its caps over s2s), dave's reaches
    carol (Prosody asked hers), and a resource of dave's that comes
    online later gets carol's last nick."""
    from test_xmpp_s2s_services import NICK, befriend, event_items, item, pep_login
    core, prosody = peers

    async def scenario():
        carol = await pep_login("carol@%s/pep" % E, core.port, [NICK])
        dave = await pep_login("dave@%s/pep" % P, prosody.c2s, [NICK])
        await befriend(carol, dave)
        carol.send_presence(pstatus="pep")
        dave.send_presence(pstatus="pep")
        await until(lambda: "caps: dave@%s/pep: caps" % P in core.log(), 30)
        await carol["xep_0060"].publish("carol@" + E, NICK, id="c1",
                                        payload=item("nick", "Carol E", NICK))
        assert await event_items(dave, NICK, "carol@" + E) == [("c1", "Carol E")]

        # Prosody notifies carol once her presence with caps is in and
        # it knows that ver (from her client over s2s, or from one of its
        # own with the same features): on a loaded machine that can come
        # after a publish, so dave publishes again until one arrives
        for n in range(1, 7):
            await dave["xep_0060"].publish("dave@" + P, NICK, id="d%d" % n,
                                           payload=item("nick", "Dave P", NICK))
            try:
                got = await event_items(carol, NICK, "dave@" + P, timeout=10)
                break
            except (AssertionError, asyncio.TimeoutError):
                assert n < 6, "no notification of dave's nick in 60 s"
        assert len(got) == 1 and got[0][1] == "Dave P" and got[0][0].startswith("d"), got
        late = await pep_login("dave@%s/late" % P, prosody.c2s, [NICK])
        assert await event_items(late, NICK, "carol@" + E) == [("c1", "Carol E")]
        await disconnect(carol, dave, late)

    arun(scenario(), 90)
