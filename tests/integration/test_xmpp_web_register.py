"""The account pages of the web listener (/register, /register/password,
/register/delete) over raw HTTP: a registration through the captcha
(the picture fetched from /captcha/), then slixmpp logging in with the
new account and receiving the welcome message and the watcher's
notice; each error path with its status and message (passwords that
differ or are weak, reserved, malformed and taken names, missing, wrong
and replayed captcha answers, the captcha limit and the throttle per
address, form tokens, origins, content types and sizes); a password
change (the old password refused after it, the new one accepted) and a
removal (the account's live session ends, as after XEP-0077 <remove/>).

Each test is its own client address, given as a trusted proxy would
(X-Forwarded-For from 127.0.0.1), so that per-address limits of one test
do not touch another.  The captcha's answer comes from the key the test
writes (regtest.py)."""

import asyncio
import html
import itertools

import pytest

from edgetest import free_port
from pgcluster import PgCluster
from regtest import captcha_answer, reg_server
from webform import WebForm
from xmpptest import Raw, arun, connect, disconnect, recv

PW = "correct horse battery staple"
PW2 = "a different horse, battery & staple"
WELCOME = "Welcome to localhost, from the web"

_addr = itertools.count(10)


def client(server):
    return WebForm(server.web, xff="203.0.113.%d" % next(_addr))


def web_extra(wp):
    return '[web]\nlisten = ["127.0.0.1:%d"]\ntrusted_proxies = ["127.0.0.1"]\n' % wp


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def public(pg):
    """A public host (captcha, 1 account per address per 10 minutes,
    64-bit passwords), with a welcome message and a watcher."""
    wp = free_port()
    s = reg_server(pg, 'enabled = true\nwelcome_body = "%s"\nwatchers = ["watcher@localhost"]\n'
                   'throttle_per_subnet = 0\n' % WELCOME, extra=web_extra(wp))
    s.web = wp
    s.adduser("watcher", PW)
    s.adduser("taken", PW)
    yield s
    s.destroy()


def plain_login(port, user, password):
    """The SASL PLAIN answer for user (<success or <failure)."""
    r = Raw(port)
    try:
        r.starttls()
        return r.login_plain(user, password)
    finally:
        r.close()


def register(w, user, password=PW, password2=None, answer=None, page=None):
    page = page or w.get()
    assert page.hidden("csrf"), page.body
    ch = page.hidden("challenge")
    return w.submit(page, "/register", username=user, password=password,
                    password2=password if password2 is None else password2,
                    answer=captcha_answer(ch) if answer is None else answer)


def test_register_then_login(public):
    w = client(public)
    page = w.get()
    assert page.status == 200
    h = page.headers
    assert "script-src" not in h["content-security-policy"]
    assert "default-src 'none'" in h["content-security-policy"]
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert h["x-frame-options"] == "DENY" and h["cache-control"] == "no-store"
    assert "SameSite=Strict" in h["set-cookie"] and "HttpOnly" in h["set-cookie"]
    assert "<script" not in page.body
    ch = page.hidden("challenge")
    png = w.get("/captcha/%s.png" % ch)
    assert png.status == 200 and png.headers["content-type"] == "image/png"
    r = register(w, "webuser", page=page)
    assert r.status == 200, r.body
    assert "webuser@localhost" in r.message() and "ready" in r.message()

    async def scenario():
        watcher = await connect("watcher@localhost", PW, public.port)
        c = await connect("webuser@localhost", PW, public.port)
        c.send_presence()
        m = await recv(c.messages)
        assert m["body"] == WELCOME
        watcher.send_presence()
        n = await recv(watcher.messages)
        assert "webuser@localhost" in n["body"] and "203.0.113." in n["body"]
        await disconnect(c, watcher)
    arun(scenario())
    # the captcha was used: its picture is gone
    assert w.get("/captcha/%s.png" % ch).status == 404


def test_register_errors(public):
    w = client(public)
    cases = [
        (dict(password2="something else entirely 123"), 400, "differ"),
        (dict(password="short1", password2="short1"), 400, "too weak"),
        (dict(user="admin"), 400, "reserved"),
        (dict(user="no spaces here"), 400, "not valid"),
        (dict(user="a@b"), 400, "not valid"),
        (dict(answer=""), 400, "captcha"),
        (dict(answer="WRONG1"), 400, "wrong"),
    ]
    r = None
    for kw, status, text in cases:
        user = kw.pop("user", "erruser")
        # each form drawn costs one of the address's 10 captchas a minute:
        # the next try is on the form that came back
        r = register(w, user, page=r, **kw)
        assert r.status == status, (kw, r.status, r.message())
        assert text in r.message(), (kw, r.message())
        # the form comes back with a fresh challenge and the username
        assert r.hidden("challenge") and r.hidden("csrf")
        assert 'value="%s"' % html.escape(user) in r.body
    # a challenge answers once: replayed, even rightly, it has expired
    w = client(public)
    page = w.get()
    ch = page.hidden("challenge")
    r = w.submit(page, "/register", username="erruser", password=PW, password2=PW,
                 answer="WRONG1")
    assert r.status == 400
    r = w.submit(page, "/register", username="erruser", password=PW, password2=PW,
                 answer=captcha_answer(ch))
    assert r.status == 400 and "expired" in r.message(), r.message()
    # a taken name is told after a right captcha
    r = register(w, "taken")
    assert r.status == 409 and "taken" in r.message()
    # nothing was created on the way
    assert w.get().status == 200


def test_form_token_origin_and_body(public):
    w = client(public)
    page = w.get()
    good = {"csrf": page.hidden("csrf"), "challenge": page.hidden("challenge"),
            "username": "tokuser", "password": PW, "password2": PW,
            "answer": captcha_answer(page.hidden("challenge"))}
    # no cookie: refused, and the answer sets one with a new form
    mine = w.cookie
    r = w.post("/register", good, cookie=False)
    assert r.status == 403 and "expired" in r.message()
    assert w.cookie != mine
    w.cookie = mine
    # another browser's cookie: the token is not for it
    other = client(public)
    other.get()
    r = other.post("/register", good)
    assert r.status == 403
    # a forged token
    r = w.post("/register", dict(good, csrf="1." + "0" * 64))
    assert r.status == 403
    r = w.post("/register", dict(good, csrf="garbage"))
    assert r.status == 403
    # a token for another page
    pw = w.get("/register/password")
    r = w.post("/register", dict(good, csrf=pw.hidden("csrf")))
    assert r.status == 403
    # another site's page posting here
    r = w.post("/register", good, headers={"Origin": "https://evil.example"})
    assert r.status == 403
    r = w.post("/register", good, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status == 403
    r = w.post("/register", good, headers={"Origin": "null"})
    assert r.status == 403
    # bodies: the type, a length, a bound; fields: bounded, once, well-formed
    r = w.post("/register", good, headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status == 415
    r = w.post("/register", good, headers={"Content-Type": "text/plain"})
    assert r.status == 415
    r = w.request("POST", "/register", body=b"3\r\na=b\r\n0\r\n\r\n",
                  headers={"Content-Type": "application/x-www-form-urlencoded",
                           "Transfer-Encoding": "chunked"})
    assert r.status == 411
    r = w.post("/register", {}, raw="x=" + "a" * 9000)
    assert r.status == 413
    r = w.post("/register", {}, raw="csrf=%s&username=%s" % (good["csrf"], "u" * 1100))
    assert r.status == 400 and "too long" in r.message()
    r = w.post("/register", {}, raw="username=a&username=b")
    assert r.status == 400 and "could not be read" in r.message()
    r = w.post("/register", {}, raw="username=%zz")
    assert r.status == 400
    r = w.request("PUT", "/register", body=b"x")
    assert r.status == 405
    # the same origin, and the right token: it goes through (the
    # challenge was not used by the refusals)
    r = w.post("/register", good, headers={"Origin": "http://localhost:%d" % public.web,
                                            "Sec-Fetch-Site": "same-origin"})
    assert r.status == 200, r.message()


def test_captcha_limit_and_throttle(public):
    w = client(public)
    for i in range(10):
        assert w.get().status == 200
    r = w.get()
    assert r.status == 429 and "wait a minute" in r.message()
    assert r.hidden("challenge") is None
    # the throttle: one account per address (per 10 minutes here)
    w = client(public)
    assert register(w, "throttle1").status == 200
    r = register(w, "throttle2")
    assert r.status == 429 and "later" in r.message()


def test_password_change(public):
    public.adduser("pwuser", PW)
    w = client(public)
    page = w.get("/register/password")
    assert page.status == 200 and page.hidden("challenge") is None
    r = w.submit(page, "/register/password", username="pwuser", old="not the password",
                 password=PW2, password2=PW2)
    assert r.status == 403 and "Wrong username or password" in r.message()
    r = w.submit(page, "/register/password", username="nosuchuser", old=PW,
                 password=PW2, password2=PW2)
    assert r.status == 403 and "Wrong username or password" in r.message()
    r = w.submit(page, "/register/password", username="pwuser", old=PW,
                 password="weak", password2="weak")
    assert r.status == 400 and "too weak" in r.message()
    r = w.submit(page, "/register/password", username="pwuser", old=PW,
                 password=PW2, password2=PW2 + "x")
    assert r.status == 400 and "differ" in r.message()
    r = w.submit(page, "/register/password", username="pwuser", old=PW,
                 password=PW2, password2=PW2)
    assert r.status == 200 and "was changed" in r.message(), r.message()

    async def scenario():
        # both SCRAM hashes have the new keys; the old password is gone
        for mech in ("SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"):
            c = await connect("pwuser@localhost", PW2, public.port, mech=mech)
            await disconnect(c)
    arun(scenario())
    assert "<failure" in plain_login(public.port, "pwuser", PW)


def test_delete(public):
    public.adduser("deluser", PW)
    w = client(public)

    async def scenario():
        c = await connect("deluser@localhost", PW, public.port)
        page = w.get("/register/delete")
        r = w.submit(page, "/register/delete", username="deluser", password=PW)
        assert r.status == 400 and "tick the box" in r.message()
        r = w.submit(page, "/register/delete", username="deluser", password=PW2,
                     confirm="yes")
        assert r.status == 403
        r = w.submit(page, "/register/delete", username="deluser", password=PW,
                     confirm="yes")
        assert r.status == 200 and "deleted" in r.message(), r.message()
        # the live session ends (accountrm.c, as XEP-0077 <remove/>)
        await asyncio.wait_for(c.closed.wait(), 15)
    arun(scenario())
    assert "<failure" in plain_login(public.port, "deluser", PW)


def test_closed_question_and_ban(pg):
    """Registration closed: the page says so (password pages still
    work); the text question instead of the picture; wrong passwords on
    the pages count towards the address's ban ([c2s] auth_fail_limit)."""
    wp = free_port()
    s = reg_server(pg, "enabled = false\n", extra=web_extra(wp))
    s.web = wp
    try:
        w = WebForm(wp, xff="198.51.100.20")
        r = w.get()
        assert r.status == 403 and "not open" in r.message()
        assert r.hidden("csrf") is None
        assert w.get("/register/password").status == 200
    finally:
        s.destroy()
    wp = free_port()
    s = reg_server(pg, """enabled = true
captcha = "question"
throttle_per_ip = 0

[[registration.question]]
text = "What colour is the sky on a clear day?"
answers = ["blue"]
""", extra=web_extra(wp), replace=[("auth_fail_limit = 1000", "auth_fail_limit = 3")])
    s.web = wp
    try:
        w = WebForm(wp, xff="198.51.100.21")
        page = w.get()
        assert "What colour is the sky" in page.body and "<img" not in page.body
        r = w.submit(page, "/register", username="quser", password=PW, password2=PW,
                     answer="green")
        assert r.status == 400 and "wrong" in r.message()
        r = w.submit(r, "/register", username="quser", password=PW, password2=PW,
                     answer=" Blue ")
        assert r.status == 200, r.message()

        async def scenario():
            c = await connect("quser@localhost", PW, s.port)
            await disconnect(c)
        arun(scenario())
        w = WebForm(wp, xff="198.51.100.22")
        page = w.get("/register/password")
        for i in range(3):
            r = w.submit(page, "/register/password", username="quser", old="wrong " + PW,
                         password=PW2, password2=PW2)
            assert r.status == 403, (i, r.message())
        r = w.submit(page, "/register/password", username="quser", old=PW,
                     password=PW2, password2=PW2)
        assert r.status == 429 and "failed attempts" in r.message(), r.message()
        # another address is not banned
        w = WebForm(wp, xff="198.51.100.23")
        page = w.get("/register/password")
        r = w.submit(page, "/register/password", username="quser", old=PW,
                     password=PW2, password2=PW2)
        assert r.status == 200, r.message()
    finally:
        s.destroy()


def test_browser(public, tmp_path):
    """Headless Chromium fills in and submits the forms as a user would
    (typing, mouse clicks; the pages have no script), with screenshots in
    the test's tmp dir; slixmpp then logs in with the new password."""
    from cdp import Chrome
    base = "http://127.0.0.1:%d" % public.web
    b = Chrome()
    try:
        b.goto(base + "/register")
        # the picture and the stylesheet load under the page's CSP
        assert b.eval("document.querySelector('img.captcha').naturalWidth") == 240
        assert b.eval("getComputedStyle(document.body).maxWidth") != "none"
        b.screenshot(str(tmp_path / "1-register.png"))
        b.type("#username", "browseruser")
        b.type("#password", PW)
        b.type("#password2", PW + "!")
        b.type("#answer", "XXXXXX")
        b.click("button[type=submit]")
        assert "differ" in b.text("#message")
        b.screenshot(str(tmp_path / "2-register-error.png"))
        # the form came back with the username and a new picture
        assert b.eval("document.querySelector('#username').value") == "browseruser"
        ch = b.eval("document.querySelector('[name=challenge]').value")
        b.type("#password", PW)
        b.type("#password2", PW)
        b.type("#answer", captcha_answer(ch).lower())
        b.click("button[type=submit]")
        assert "browseruser@localhost is ready" in b.text("#message"), b.text()
        b.screenshot(str(tmp_path / "3-registered.png"))

        b.goto(base + "/register/password")
        b.type("#username", "browseruser")
        b.type("#old", PW)
        b.type("#password", PW2)
        b.type("#password2", PW2)
        b.click("button[type=submit]")
        assert "was changed" in b.text("#message"), b.text()
        b.screenshot(str(tmp_path / "4-password-changed.png"))

        async def scenario():
            c = await connect("browseruser@localhost", PW2, public.port)
            await disconnect(c)
        arun(scenario())
        assert "<failure" in plain_login(public.port, "browseruser", PW)

        b.goto(base + "/register/delete")
        b.type("#username", "browseruser")
        b.type("#password", PW2)
        b.click("input[name=confirm]", navigates=False)
        assert b.eval("document.querySelector('input[name=confirm]').checked")
        b.click("button[type=submit]")
        assert "deleted" in b.text("#message"), b.text()
        b.screenshot(str(tmp_path / "5-deleted.png"))
    finally:
        b.close()
    assert "<failure" in plain_login(public.port, "browseruser", PW2)
    for n in ("1-register", "2-register-error", "3-registered", "4-password-changed",
              "5-deleted"):
        assert (tmp_path / (n + ".png")).stat().st_size > 1000
