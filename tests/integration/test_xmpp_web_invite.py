"""The landing page of an invitation (`xmppctl invite` prints its URL
when [registration] invite_url is set): the xmpp: URI to open in an app
and a registration form pre-authorised by the token, on a host whose
open registration is closed.  Over raw HTTP: the page, the form's errors,
a taken name (the invitation stays usable), the registration (the new
account logs in with slixmpp and has the inviter in its roster, both
ways), then the invitation used up (page, form and in-band <preauth/>
all refuse it); expired, unknown and malformed tokens get a clear 404
page.  In headless Chromium: a host invitation filled in and submitted
as a user would, with screenshots."""

import re
import time

import pytest

from edgetest import free_port
from pgcluster import PgCluster
from regtest import RawFrom, error_of, reg_server
from webform import WebForm
from xmpptest import arun, connect, disconnect

PW = "correct horse battery staple"


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def closed(pg):
    wp = free_port()
    s = reg_server(pg, 'enabled = false\ninvite_url = "http://127.0.0.1:%d/invite/"\n' % wp,
                   extra='[web]\nlisten = ["127.0.0.1:%d"]\ntrusted_proxies = ["127.0.0.1"]\n'
                   % wp)
    s.web = wp
    s.adduser("inviter", PW)
    s.adduser("taken", PW)
    yield s
    s.destroy()


def invite(server, *args):
    r = server.ctl("invite", *args)
    assert r.returncode == 0, r.stdout + r.stderr
    uri = re.search(r"^uri\t(\S+)$", r.stdout, re.M).group(1)
    url = re.search(r"^url\t(\S+)$", r.stdout, re.M).group(1)
    token = re.search(r"preauth=([0-9a-f]+)", uri).group(1)
    assert url.endswith("/invite/" + token)
    return uri, url[url.index("/invite/"):], token


def roster_of(jid, port):
    async def get():
        c = await connect(jid, PW, port)
        roster = await c.get_roster()
        items = {j: dict(roster["roster"]["items"][j]) for j in roster["roster"]["items"]}
        await disconnect(c)
        return items
    return arun(get())


def test_invite_page_and_registration(closed):
    # open registration is closed here
    w = WebForm(closed.web, xff="192.0.2.30")
    assert w.get("/register").status == 403
    uri, path, token = invite(closed, "inviter@localhost", "1h")
    page = w.get(path)
    assert page.status == 200, page.body
    assert "inviter@localhost</strong> invites you" in page.body
    assert 'href="%s"' % uri in page.body and "<code>%s</code>" % uri in page.body
    assert "Conversations" in page.body and "Snikket" in page.body
    assert page.hidden("challenge") is None and "<img" not in page.body
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "same-origin"
    r = w.submit(page, path, username="invitee", password=PW, password2=PW + "x")
    assert r.status == 400 and "differ" in r.message()
    r = w.submit(page, path, username="invitee", password="weak1", password2="weak1")
    assert r.status == 400 and "too weak" in r.message()
    r = w.submit(page, path, username="admin", password=PW, password2=PW)
    assert r.status == 400 and "reserved" in r.message()
    # the token is bound to this invitation's page
    other_uri, other_path, _ = invite(closed, "localhost")
    r = w.submit(page, other_path, username="invitee", password=PW, password2=PW)
    assert r.status == 403
    # a taken name: refused, and the invitation is still there
    r = w.submit(page, path, username="taken", password=PW, password2=PW)
    assert r.status == 409 and "taken" in r.message()
    assert w.get(path).status == 200
    r = w.submit(page, path, username="invitee", password=PW, password2=PW)
    assert r.status == 200 and "invitee@localhost" in r.message(), r.body
    items = roster_of("invitee@localhost", closed.port)
    assert items["inviter@localhost"]["subscription"] == "both", items
    items = roster_of("inviter@localhost", closed.port)
    assert items["invitee@localhost"]["subscription"] == "both", items
    # used up: the page, its form and the in-band way all refuse it
    r = w.get(path)
    assert r.status == 404 and "not valid" in r.message()
    assert r.hidden("csrf") is None and "xmpp:" not in r.body
    r = w.submit(page, path, username="invitee2", password=PW, password2=PW)
    assert r.status == 404 and "not valid" in r.message()
    raw = RawFrom(closed.port, "127.0.0.31")
    try:
        raw.open()
        assert error_of(raw.iq("<preauth xmlns='urn:xmpp:pars:0' token='%s'/>" % token,
                               type="set")) == "item-not-found"
    finally:
        raw.close()


def test_expired_unknown_and_malformed(closed):
    w = WebForm(closed.web, xff="192.0.2.32")
    _, path, _ = invite(closed, "localhost", "1s")
    deadline = time.time() + 20
    while True:
        r = w.get(path)
        if r.status == 404:
            break
        assert r.status == 200 and time.time() < deadline, r.status
        time.sleep(0.2)
    assert "expired" in r.message()
    for bad in ("/invite/" + "0" * 32, "/invite/xyz", "/invite/" + "g" * 32, "/invite/",
                "/invite/" + "a" * 33, "/invite/%3Cscript%3E"):
        r = w.get(bad)
        assert r.status == 404 and "not valid" in r.message(), (bad, r.status)
        assert "<script" not in r.body


def test_invite_in_chromium(closed, tmp_path):
    from cdp import Chrome
    uri, path, token = invite(closed, "localhost", "1h")
    b = Chrome()
    try:
        b.goto("http://127.0.0.1:%d%s" % (closed.web, path))
        assert b.eval("document.querySelector('a#uri').getAttribute('href')") == uri
        assert uri.startswith("xmpp:localhost?register;preauth=")
        b.screenshot(str(tmp_path / "1-invitation.png"))
        b.type("#username", "chromeinvitee")
        b.type("#password", PW)
        b.type("#password2", PW)
        b.click("button[type=submit]")
        assert "chromeinvitee@localhost" in b.text("#message"), b.text()
        b.screenshot(str(tmp_path / "2-registered.png"))
        b.goto("http://127.0.0.1:%d%s" % (closed.web, path))
        assert "not valid" in b.text("#message")
        b.screenshot(str(tmp_path / "3-used.png"))
    finally:
        b.close()

    async def scenario():
        c = await connect("chromeinvitee@localhost", PW, closed.port)
        await disconnect(c)
    arun(scenario())
    for n in ("1-invitation", "2-registered", "3-used"):
        assert (tmp_path / (n + ".png")).stat().st_size > 1000
