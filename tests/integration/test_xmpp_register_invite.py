"""Invitations (XEP-0401 easy onboarding, XEP-0379 pre-authenticated
roster subscription, XEP-0445 pre-authenticated registration):
`xmppctl invite` makes an xmpp: URI with a preauth token, a client
presents it (<preauth xmlns='urn:xmpp:pars:0'/>) and registers, on a host
with registration closed and on a public one (no captcha then); the new
account and the inviter are subscribed both ways (seen by slixmpp);
single use (also when two sessions race with one token), expiry, an
invitation whose registration failed stays usable, and an existing
account accepting a contact invitation with a tokened subscription
request (XEP-0379 §3)."""

import asyncio
import itertools
import re
import time

import pytest

from pgcluster import PgCluster
from regtest import RawFrom, error_of, reg_server
from xmpptest import arun, connect, disconnect

PW = "correct horse battery staple"


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def closed(pg):
    s = reg_server(pg, """enabled = false
invite_url = "https://localhost/invite/"
welcome_body = "Welcome, invited one."
""")
    s.adduser("inviter", PW)
    s.adduser("taken", PW)
    yield s
    s.destroy()


@pytest.fixture(scope="module")
def public(pg):
    s = reg_server(pg, "enabled = true\n")
    s.adduser("host2inviter", PW)
    yield s
    s.destroy()


def invite(server, *args):
    r = server.ctl("invite", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    uri = re.search(r"^uri\t(\S+)$", r.stdout, re.M).group(1)
    token = re.search(r"preauth=([0-9a-f]+)", uri).group(1)
    return r.stdout, uri, token


def preauth(r, token, id="pa1"):
    return error_of(r.iq("<preauth xmlns='urn:xmpp:pars:0' token='%s'/>" % token,
                         type="set", id=id))


def legacy_submit(r, user, password=PW, id="s1"):
    return error_of(r.iq("<query xmlns='jabber:iq:register'><username>%s</username>"
                         "<password>%s</password></query>" % (user, password),
                         type="set", id=id))


def roster_of(jid, port):
    async def get():
        c = await connect(jid, PW, port)
        roster = await c.get_roster()
        items = {j: dict(roster["roster"]["items"][j]) for j in roster["roster"]["items"]}
        await disconnect(c)
        return items
    return arun(get())


def test_invite_on_closed_host_subscribes_both_ways(closed):
    out, uri, token = invite(closed, "inviter@localhost")
    assert uri == "xmpp:inviter@localhost?roster;preauth=%s;ibr=y" % token
    assert "url\thttps://localhost/invite/%s" % token in out
    assert re.search(r"^expires\t\d{4}-\d\d-\d\dT", out, re.M)
    r = RawFrom(closed.port, "127.4.1.1")
    feats = r.open()
    # closed: no open registration, but invitations are taken
    assert "urn:xmpp:ibr-token:0" in feats and "iq-register" not in feats
    assert preauth(r, "f" * 32) == "item-not-found"
    assert preauth(r, token, id="pa2") is None
    # invited: the plain form, no captcha
    form = r.iq("<query xmlns='jabber:iq:register'/>", id="g1")
    assert "<username" in form and "urn:xmpp:captcha" not in form
    # a taken name fails and leaves the invitation usable
    assert legacy_submit(r, "taken", id="s0") == "conflict"
    assert legacy_submit(r, "invitee") is None
    r.close()
    items = roster_of("invitee@localhost", closed.port)
    assert items["inviter@localhost"]["subscription"] == "both", items
    items = roster_of("inviter@localhost", closed.port)
    assert items["invitee@localhost"]["subscription"] == "both", items
    # used once: the token is refused now
    r = RawFrom(closed.port, "127.4.1.2")
    r.open()
    assert preauth(r, token) == "item-not-found"
    r.close()


def test_without_invitation_a_closed_host_refuses(closed):
    r = RawFrom(closed.port, "127.4.2.1")
    r.open()
    r.send("<iq type='set' id='x1'><query xmlns='jabber:iq:register'><username>nope"
           "</username><password>%s</password></query></iq>" % PW)
    assert "not-authorized" in r.recv_until("</stream:stream>")
    r.close()


def test_two_sessions_one_invitation(closed):
    _, uri, token = invite(closed, "localhost")
    assert uri == "xmpp:localhost?register;preauth=%s" % token
    a = RawFrom(closed.port, "127.4.3.1")
    b = RawFrom(closed.port, "127.4.3.2")
    a.open()
    b.open()
    # both may present it (it is used by a registration, not a preauth) ...
    assert preauth(a, token) is None and preauth(b, token) is None
    # ... but only one registration gets it
    assert legacy_submit(a, "racer1") is None
    assert legacy_submit(b, "racer2") == "item-not-found"
    a.close()
    b.close()
    users = closed.ctl("listusers").stdout
    assert "racer1@localhost" in users and "racer2@" not in users


def test_expired_invitation(closed):
    _, _, token = invite(closed, "localhost", "1s")
    deadline = time.time() + 15
    for i in itertools.count():
        r = RawFrom(closed.port, "127.4.4.%d" % (i % 250 + 1))
        r.open()
        got = preauth(r, token)
        r.close()
        if got == "item-not-found":
            break
        assert got is None and time.time() < deadline
        time.sleep(0.25)


def test_bad_invite_commands(closed):
    for args in (["nobody.example"], ["inviter@localhost", "soon"], [],
                 ["inviter@localhost/res"], ["a", "b", "c"]):
        r = closed.ctl("invite", *args)
        assert r.returncode != 0, (args, r.stdout)


def test_invite_on_public_host_needs_no_captcha(public):
    _, _, token = invite(public, "host2inviter@localhost", "2h")
    r = RawFrom(public.port, "127.4.5.1")
    feats = r.open()
    assert "urn:xmpp:ibr-token:0" in feats and "iq-register" in feats
    # without the invitation the form is a captcha
    assert "urn:xmpp:captcha" in r.iq("<query xmlns='jabber:iq:register'/>", id="g0")
    assert preauth(r, token) is None
    assert legacy_submit(r, "pubinvitee") is None
    r.close()
    items = roster_of("host2inviter@localhost", public.port)
    assert items["pubinvitee@localhost"]["subscription"] == "both", items


def test_existing_account_accepts_contact_invitation(closed):
    """XEP-0379 §3: someone with an account already opens the URI: a
    subscription request carrying the token; both end up subscribed to
    each other at once, and the token works only once (a second request
    with it is an ordinary one, waiting for the inviter)."""
    closed.adduser("hostess", PW)
    closed.adduser("guest1", PW)
    closed.adduser("guest2", PW)
    _, _, token = invite(closed, "hostess@localhost")

    async def scenario():
        g = await connect("guest1@localhost", PW, closed.port)
        await g.get_roster()
        g.send_presence()
        g.send_raw("<presence to='hostess@localhost' type='subscribe'>"
                   "<preauth xmlns='urn:xmpp:pars:0' token='%s'/></presence>" % token)
        # approved at once: guest1's roster has hostess both ways
        while True:
            push = await asyncio.wait_for(g.roster_pushes.get(), 15)
            item = push["roster"]["items"].get("hostess@localhost")
            if item and item["subscription"] == "both":
                break
        h = await connect("guest2@localhost", PW, closed.port)
        await h.get_roster()
        h.send_raw("<presence to='hostess@localhost' type='subscribe'>"
                   "<preauth xmlns='urn:xmpp:pars:0' token='%s'/></presence>" % token)
        # an ordinary request now: guest2's roster shows it pending
        while True:
            push = await asyncio.wait_for(h.roster_pushes.get(), 15)
            item = push["roster"]["items"].get("hostess@localhost")
            if item and item["ask"] == "subscribe":
                break
        assert item["subscription"] == "none"
        await disconnect(g, h)
    arun(scenario())
    items = roster_of("guest1@localhost", closed.port)
    assert items["hostess@localhost"]["subscription"] == "both", items
    items = roster_of("hostess@localhost", closed.port)
    assert items["guest1@localhost"]["subscription"] == "both", items
    # guest2's request waits for hostess (RFC 6121 §3.1.3): not approved
    assert items.get("guest2@localhost", {}).get("subscription", "none") == "none", items
    items = roster_of("guest2@localhost", closed.port)
    assert items["hostess@localhost"]["subscription"] == "none", items
