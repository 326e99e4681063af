"""s2s between xmpp-core and ejabberd 23.01 (Debian's), both directions.

One ejabberd serves two domains: J (self-signed certificate,
mod_s2s_dialback on: Server Dialback over STARTTLS, as with Prosody)
and JC (a certificate from the lab CA and no dialback: it requires a
valid certificate, so SASL EXTERNAL or nothing).  Two xmpp-core face it:
E (self-signed, dialback allowed) and E2 (lab CA, verify =
"certificate"; JC comes to it over direct TLS).  Then PEP both ways (ejabberd's mod_pubsub pep plugin).
ejabberd finds them through SRV records of a small
DNS server on loopback (netlab.py's; its resolver, inet_res, asks DNS
only, so an inetrc names that server), xmpp-core reaches ejabberd
through [s2s.routes]."""

import asyncio
import os
import shutil
import sys
import time

import pytest

from edgetest import free_port
from pgcluster import PgCluster
from s2slab import (MUC, LoopbackDns, S2sServer, Seen, body, make_ca, make_domain_cert,
                    muc_codes, muc_item, s2s_zone)
from xmpptest import arun, connect, disconnect, online, recv, until

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import xmppservers  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("ejabberdctl") is None,
                                reason="ejabberd is installed by deploy/deps.sh")

E = "e.ej.test"	# xmpp-core, self-signed
E2 = "e2.ej.test"	# xmpp-core, lab CA, requires valid certificates
J = "j.ej.test"	# ejabberd, self-signed, dialback
JC = "jc.ej.test"	# ejabberd, lab CA, no dialback

EJABBERD_YML = """hosts: ["%(j)s", "%(jc)s"]
loglevel: info
certfiles: ["{d}/j.pem", "{d}/jmuc.pem", "{d}/jc.pem"]
ca_file: "{d}/ca.pem"
auth_method: internal
s2s_use_starttls: required
outgoing_s2s_families: [ipv4]
s2s_dns_timeout: 2
s2s_dns_retries: 1
listen:
  - port: %(c2s)d
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
  - port: %(s2s)d
    ip: "127.0.0.1"
    module: ejabberd_s2s_in
    max_stanza_size: 524288
modules:
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
  mod_caps: {}
  mod_pubsub:
    plugins: ["flat", "pep"]
  mod_muc:
    host: "conference.@HOST@"
append_host_config:
  "%(j)s":
    modules:
      mod_s2s_dialback: {}
"""


def pem(crt, key):
    with open(crt) as a, open(key) as b:
        return a.read() + b.read()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("ejlab"))
    ca = make_ca(tmp)
    files = {"ca.pem": open(ca[0]).read()}
    for name, domain, signer in (("j", J, None), ("jmuc", "conference." + J, None),
                                 ("jc", JC, ca)):
        d = os.path.join(tmp, name)
        os.makedirs(d)
        files[name + ".pem"] = pem(*make_domain_cert(d, domain, signer))
    pg = PgCluster()
    e = S2sServer(pg, E, start=False)
    e2 = S2sServer(pg, E2, ca=ca, start=False,
                   s2s_extra='ca_file = "%s"\nverify = "certificate"\n' % ca[0])
    zone = s2s_zone([(E, e.s2s_port), (E2, e2.s2s_port)])
    # E2 also offers direct TLS (XEP-0368), at a better priority (at
    # equal ones ejabberd would take the lower port)
    zone["_xmpps-server._tcp.%s." % E2] = {"ttl": 60, "SRV": [[0, 0, e2.s2s_tls_port,
                                                               "localhost."]]}
    zone["_xmpp-server._tcp.%s." % E2]["SRV"][0][0] = 10
    dns = LoopbackDns(tmp, zone)
    c2s, s2s = free_port(), free_port()
    yml = EJABBERD_YML % dict(j=J, jc=JC, c2s=c2s, s2s=s2s)
    try:
        with xmppservers.ejabberd_node(yml, c2s, ("127.0.0.1", dns.port), files) as ej:
            ej.c2s, ej.s2s = c2s, s2s
            for user, dom in (("bob", J), ("carol", JC), ("dave", J)):
                r = ej.ctl("register", user, dom, user + "-pw-3")
                assert r.returncode == 0, (r.stdout, r.stderr)
            for core in (e, e2):
                for dom in (J, "conference." + J, JC):
                    core.routes[dom] = "127.0.0.1:%d" % s2s
                core.write_conf()
                core.start()
                core.adduser("alice", "alice-pw-3")
                core.adduser("erin", "erin-pw-3")
            yield e, e2, ej
            print("---- xmpp-core E ----\n%s\n---- xmpp-core E2 ----\n%s\n---- ejabberd ----\n%s"
                  % (e.log()[-20000:], e2.log()[-10000:], ej.log()[-30000:]))
    finally:
        e.destroy()
        e2.destroy()
        dns.close()
        pg.destroy()


def links(core, domain):
    return sorted((l[1], l[3]) for l in core.links() if l[0] == domain)


def test_messages_ping_disco_both_ways(lab):
    """Dialback on self-signed certificates: ejabberd's link first (we
    dial back to it), then ours; ping to a full JID and disco of the
    other's domain both ways."""
    e, _, ej = lab

    async def scenario():
        alice = await connect("alice@%s/pc" % E, "alice-pw-3", e.port)
        bob = await connect("bob@%s/phone" % J, "bob-pw-3", ej.c2s)
        await online(alice)
        await online(bob)
        bob.send_message(mto="alice@%s/pc" % E, mbody="from ejabberd")
        m = await recv(alice.messages, 30)
        assert m["body"] == "from ejabberd" and m["from"].full == "bob@%s/phone" % J
        alice.send_message(mto="bob@%s/phone" % J, mbody="from xmpp-core")
        m = await recv(bob.messages, 30)
        assert m["body"] == "from xmpp-core" and m["from"].full == "alice@%s/pc" % E
        assert await alice["xep_0199"].ping("bob@%s/phone" % J, timeout=15) is not None
        assert await bob["xep_0199"].ping("alice@%s/pc" % E, timeout=15) is not None
        info = await bob["xep_0030"].get_info(jid=E, timeout=15)
        q = info["disco_info"]
        assert ("server", "im") in [(i[0], i[1]) for i in q["identities"]], q
        assert "urn:xmpp:ping" in q["features"], q
        info = await alice["xep_0030"].get_info(jid=J, timeout=15)
        assert "urn:xmpp:ping" in info["disco_info"]["features"], info
        items = await alice["xep_0030"].get_items(jid=J, timeout=15)
        assert "conference." + J in [i[0] for i in items["disco_items"]["items"]], items
        await disconnect(alice, bob)

    arun(scenario(), 90)
    assert links(e, J) == [("in", "dialback"), ("out", "dialback")], e.links()


def test_subscription_handshake_both_ways(lab):
    e, _, ej = lab

    async def scenario():
        alice = await connect("alice@%s/sub" % E, "alice-pw-3", e.port)
        bob = await connect("bob@%s/sub" % J, "bob-pw-3", ej.c2s)
        await online(alice)
        await online(bob)
        alice.send_presence(pto="bob@%s" % J, ptype="subscribe")
        while (await recv(bob.subscriptions, 30))["type"] != "subscribe":
            pass
        bob.send_presence(pto="alice@%s" % E, ptype="subscribed")
        while (await recv(alice.subscriptions, 30))["type"] != "subscribed":
            pass
        await until(lambda: alice.client_roster["bob@%s" % J]["subscription"] in ("to", "both"),
                    30)
        bob.send_presence(pto="alice@%s" % E, ptype="subscribe")
        while (await recv(alice.subscriptions, 30))["type"] != "subscribe":
            pass
        alice.send_presence(pto="bob@%s" % J, ptype="subscribed")
        while (await recv(bob.subscriptions, 30))["type"] != "subscribed":
            pass
        await until(lambda: bob.client_roster["alice@%s" % E]["subscription"] == "both", 30)
        await until(lambda: alice.client_roster["bob@%s" % J]["subscription"] == "both", 30)
        bob.send_presence(pstatus="bob here")
        while True:
            p = await recv(alice.presences, 30)
            if p["from"].bare == "bob@%s" % J and p["status"] == "bob here":
                break
        alice.send_presence(pstatus="alice here")
        while True:
            p = await recv(bob.presences, 30)
            if p["from"].bare == "alice@%s" % E and p["status"] == "alice here":
                break
        await disconnect(alice, bob)

    arun(scenario(), 90)


def test_muc_across_both_ways(lab):
    """ejabberd's user in a room of ours (join, history, groupchat both
    ways, a private message, a kick), ours in a room of ejabberd's
    mod_muc (join, groupchat both ways)."""
    e, _, ej = lab
    ours = "lounge@conference." + E
    theirs = "hall@conference." + J

    async def scenario():
        alice = await connect("alice@%s/muc" % E, "alice-pw-3", e.port)
        bob = await connect("bob@%s/muc" % J, "bob-pw-3", ej.c2s)
        sa, sb = Seen(alice), Seen(bob)
        alice.send_presence()
        bob.send_presence()
        alice.send_raw("<presence to='%s/alice'/>" % ours)
        await sa.first(lambda s: s.get("from") == ours + "/alice" and 201 in muc_codes(s))
        alice.send_raw("<message to='%s' type='groupchat'><body>before bob</body></message>"
                       % ours)
        await sa.first(lambda s: body(s) == "before bob")
        bob.send_raw("<presence to='%s/bob'><x xmlns='%s'/></presence>" % (ours, MUC))
        await sb.first(lambda s: s.get("from") == ours + "/bob" and 110 in muc_codes(s), 30)
        await sb.first(lambda s: s.get("from") == ours + "/alice" and s.tag.endswith("presence"))
        m = await sb.first(lambda s: body(s) == "before bob")
        assert m.find("{urn:xmpp:delay}delay") is not None
        p = await sa.first(lambda s: s.get("from") == ours + "/bob")
        assert muc_item(p).get("jid") == "bob@%s/muc" % J or \
            muc_item(p).get("jid", "").startswith("bob@%s" % J), muc_item(p).attrib
        bob.send_raw("<message to='%s' type='groupchat'><body>hello from ejabberd</body>"
                     "</message>" % ours)
        for x in (sa, sb):
            await x.first(lambda s: body(s) == "hello from ejabberd" and
                          s.get("from") == ours + "/bob")
        alice.send_raw("<message to='%s/bob' type='chat'><body>private</body></message>"
                       % ours)
        assert (await sb.first(lambda s: body(s) == "private")).get("from") == ours + "/alice"
        alice.send_raw("<iq type='set' id='k' to='%s'><query xmlns='%s#admin'>"
                       "<item nick='bob' role='none'/></query></iq>" % (ours, MUC))
        p = await sb.first(lambda s: s.get("type") == "unavailable" and 307 in muc_codes(s))
        assert 110 in muc_codes(p)
        # ours in ejabberd's room: bob creates it
        bob.send_raw("<presence to='%s/bob'><x xmlns='%s'/></presence>" % (theirs, MUC))
        await sb.first(lambda s: s.get("from") == theirs + "/bob" and 110 in muc_codes(s), 30)
        # ejabberd locks a new room until its owner configures it (XEP-0045 §10.1.2)
        bob.send_raw("<iq type='set' id='cfg' to='%s'><query xmlns='%s#owner'>"
                     "<x xmlns='jabber:x:data' type='submit'/></query></iq>" % (theirs, MUC))
        await sb.first(lambda s: s.get("id") == "cfg" and s.get("type") == "result")
        alice.send_raw("<presence to='%s/alice'><x xmlns='%s'/></presence>" % (theirs, MUC))
        await sa.first(lambda s: s.get("from") == theirs + "/alice" and 110 in muc_codes(s), 30)
        await sa.first(lambda s: s.get("from") == theirs + "/bob" and s.tag.endswith("presence"))
        alice.send_raw("<message to='%s' type='groupchat'><body>from xmpp-core</body></message>"
                       % theirs)
        for x in (sa, sb):
            await x.first(lambda s: body(s) == "from xmpp-core" and
                          s.get("from") == theirs + "/alice")
        bob.send_raw("<message to='%s' type='groupchat'><body>and back</body></message>" % theirs)
        await sa.first(lambda s: body(s) == "and back" and s.get("from") == theirs + "/bob")
        await disconnect(alice, bob)

    arun(scenario(), 90)


def test_certificate_auth_both_ways(lab):
    """E2 and JC, both certificates from the lab CA: SASL EXTERNAL in
    both directions (JC has no dialback at all); ejabberd's link comes
    over direct TLS (XEP-0368: it found E2's _xmpps-server record), ours
    over STARTTLS (ejabberd 23.01's direct TLS s2s listener presents its
    first certificate whatever the SNI, which does not verify for JC:
    tried, not used)."""
    _, e2, ej = lab

    async def scenario():
        alice = await connect("alice@%s/ca" % E2, "alice-pw-3", e2.port)
        carol = await connect("carol@%s/ca" % JC, "carol-pw-3", ej.c2s)
        await online(alice)
        await online(carol)
        carol.send_message(mto="alice@%s/ca" % E2, mbody="signed by ejabberd")
        m = await recv(alice.messages, 30)
        assert m["body"] == "signed by ejabberd" and m["from"].full == "carol@%s/ca" % JC
        alice.send_message(mto="carol@%s/ca" % JC, mbody="signed by xmpp-core")
        m = await recv(carol.messages, 30)
        assert m["body"] == "signed by xmpp-core" and m["from"].full == "alice@%s/ca" % E2
        assert await alice["xep_0199"].ping("carol@%s/ca" % JC, timeout=15) is not None
        await disconnect(alice, carol)

    arun(scenario(), 90)
    assert links(e2, JC) == [("in", "sasl-external"), ("out", "sasl-external")], e2.links()
    assert "(direct TLS)" in [l for l in e2.log().splitlines() if "in: connection from" in l][0]


def test_refused_without_valid_certificate(lab):
    """JC requires a valid certificate and E's is self-signed: E's
    stanzas to JC bounce, and JC's to E bounce at ejabberd; E2 requires
    one and J's is self-signed: E2's stanzas to J bounce."""
    e, e2, ej = lab

    async def scenario():
        alice = await connect("alice@%s/no" % E, "alice-pw-3", e.port)
        alice2 = await connect("alice@%s/no" % E2, "alice-pw-3", e2.port)
        carol = await connect("carol@%s/no" % JC, "carol-pw-3", ej.c2s)
        alice.send_message(mto="carol@%s" % JC, mbody="self-signed")
        m = await recv(alice.messages, 30)
        assert m["type"] == "error" and m["from"].bare == "carol@%s" % JC, m
        assert m["error"]["condition"] == "remote-server-not-found", m
        alice2.send_message(mto="bob@%s" % J, mbody="to a self-signed peer")
        m = await recv(alice2.messages, 30)
        assert m["type"] == "error" and m["from"].bare == "bob@%s" % J, m
        assert m["error"]["condition"] == "remote-server-not-found", m
        carol.send_message(mto="alice@%s" % E, mbody="to a self-signed peer")
        m = await recv(carol.messages, 30)
        assert m["type"] == "error" and m["from"].bare == "alice@%s" % E, m
        await disconnect(alice, alice2, carol)

    arun(scenario(), 90)
    assert "e.ej.test -> jc.ej.test failed: SASL EXTERNAL refused" in e.log()
    assert "e2.ej.test -> j.ej.test failed: the peer's certificate does not verify" in e2.log()
    # ejabberd's logger writes a moment after the bounce
    deadline = time.time() + 20
    while "jc.ej.test -> e.ej.test: Peer certificate rejected" not in ej.log():
        assert time.time() < deadline, ej.log()[-3000:]
        time.sleep(0.05)
    assert links(e, JC) == [], e.links()


def test_pep_both_ways(lab):
    """erin (ours) and dave (ejabberd's mod_pubsub PEP), subscribed to
    each other, both clients wanting nick notifications: each one's nick
    reaches the other over s2s (each server asked the other's client for
    its caps), and a resource of dave's that comes online later gets
    erin's last nick."""
    from test_xmpp_s2s_services import NICK, befriend, event_items, item, pep_login
    e, _, ej = lab

    def login(jid, port):
        return pep_login(jid, port, [NICK], pw=jid.split("@")[0] + "-pw-3")

    async def scenario():
        erin = await login("erin@%s/pep" % E, e.port)
        dave = await login("dave@%s/pep" % J, ej.c2s)
        await befriend(erin, dave)
        erin.send_presence(pstatus="pep")
        dave.send_presence(pstatus="pep")
        await until(lambda: "caps: dave@%s/pep: caps" % J in e.log(), 30)
        await erin["xep_0060"].publish("erin@" + E, NICK, id="e1",
                                       payload=item("nick", "Erin E", NICK))
        assert await event_items(dave, NICK, "erin@" + E) == [("e1", "Erin E")]
        # ejabberd notifies erin once it has her client's caps (its own
        # disco to her, over s2s; not in its info log): on a loaded
        # machine that answer can come after a publish, so dave publishes
        # again until a notification comes (each with its own id)
        for n in range(1, 7):
            await dave["xep_0060"].publish("dave@" + J, NICK, id="d%d" % n,
                                           payload=item("nick", "Dave J", NICK))
            try:
                got = await event_items(erin, NICK, "dave@" + J, timeout=10)
                break
            except (AssertionError, asyncio.TimeoutError):
                assert n < 6, "no notification of dave's nick in 60 s"
        assert len(got) == 1 and got[0][1] == "Dave J" and got[0][0].startswith("d"), got
        late = await login("dave@%s/late" % J, ej.c2s)
        assert await event_items(late, NICK, "erin@" + E) == [("e1", "Erin E")]
        await disconnect(erin, dave, late)

    arun(scenario(), 90)
