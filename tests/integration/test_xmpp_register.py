"""Public in-band registration (XEP-0077) with XEP-0158 captchas: the
form as slixmpp's xep_0077/xep_0004/xep_0231 plugins see it, right,
wrong, missing and replayed answers, expiry, the per-IP captcha limit,
the per-IP and per-subnet throttle, reserved and taken names, the text
question, the welcome message and the watchers' notice.

The expected answers come from a captcha key the test writes
(regtest.py: `captcha_key_file`).  Raw clients connect from their own
127.x.y.z so that per-address limits of one test do not touch another."""

import asyncio
import base64
import hashlib
import itertools
import re
import time

import pytest
import slixmpp

from pgcluster import PgCluster
from regtest import RawFrom, captcha_answer, error_of, reg_server
from xmpptest import Client, XmppServer, arun, connect, disconnect, online, recv

PW = "correct horse battery staple"
WELCOME_SUBJECT = "Welcome to localhost"
WELCOME_BODY = "Hello and welcome. Read the rules at https://localhost/rules."


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def public(pg):
    """A public host: no allow_from, so captcha, throttle and 64-bit
    passwords by default."""
    s = reg_server(pg, """enabled = true
welcome_subject = "%s"
welcome_body = "%s"
watchers = ["watcher@localhost"]
""" % (WELCOME_SUBJECT, WELCOME_BODY))
    s.adduser("watcher", PW)
    s.adduser("taken", PW)
    yield s
    s.destroy()


@pytest.fixture(scope="module")
def short(pg):
    """Captchas that expire after 2 s, no throttle."""
    s = reg_server(pg, """enabled = true
captcha = true
captcha_ttl = "2s"
throttle_per_ip = 0
throttle_per_subnet = 0
""")
    yield s
    s.destroy()


@pytest.fixture(scope="module")
def question(pg):
    s = reg_server(pg, """enabled = true
captcha = "question"
throttle_per_ip = 0
throttle_per_subnet = 0
reserved = ["boss"]

[[registration.question]]
text = "What colour is the sky on a clear day?"
answers = ["blue"]
""")
    yield s
    s.destroy()


def one(v):
    """slixmpp gives a hidden field's value as a list of its values."""
    return v[0] if isinstance(v, list) else v


class Registrant(Client):
    """slixmpp through the captcha form: fills username, password and the
    answer (from the test's key), fetches the picture over XEP-0231."""

    def __init__(self, jid, password):
        super().__init__(jid, password, register=True)
        self.register_plugin("xep_0004")
        self.register_plugin("xep_0231")
        self.form = None
        self.bob = None
        self.error = None

    async def _register(self, iq):
        self.form = iq
        form = iq["register"]["form"]
        fields = form.get_fields()
        challenge = one(fields["challenge"]["value"])
        # the picture by its cid, as a client does that shows it
        media = fields["ocr"].xml.find("{urn:xmpp:media-element}media")
        uri = media.find("{urn:xmpp:media-element}uri").text
        assert uri.startswith("cid:")
        got = await self["xep_0231"].get_bob(cid=uri[4:], cached=False)
        self.bob = got["bob"]["data"]
        reply = self["xep_0004"].make_form(ftype="submit")
        reply.add_field(var="FORM_TYPE", value="urn:xmpp:captcha")
        reply.add_field(var="challenge", value=challenge)
        reply.add_field(var="sid", value=one(fields["sid"]["value"]))
        reply.add_field(var="username", value=self.boundjid.user)
        reply.add_field(var="password", value=self.password)
        reply.add_field(var="ocr", value=captcha_answer(challenge).lower())
        sub = self.Iq()
        sub["type"] = "set"
        sub["register"].append(reply)
        try:
            await sub.send()
            self.registered.set()
        except slixmpp.exceptions.IqError as e:
            self.error = e.iq["error"]["condition"]
            self.failed.set()


def test_slixmpp_registers_through_captcha_welcome_and_watcher(public):
    async def scenario():
        w = await connect("watcher@localhost", PW, public.port)
        await online(w)
        c = Registrant("newbie@localhost", PW)
        c.connect(("127.0.0.1", public.port))
        done, _ = await asyncio.wait([asyncio.ensure_future(c.registered.wait()),
                                      asyncio.ensure_future(c.failed.wait())],
                                     timeout=20, return_when=asyncio.FIRST_COMPLETED)
        assert c.registered.is_set(), c.error
        # the form XEP-0158 §4 describes, the picture inline and by cid
        form = c.form["register"]["form"]
        fields = form.get_fields()
        assert one(fields["FORM_TYPE"]["value"]) == "urn:xmpp:captcha"
        assert one(fields["from"]["value"]) == "localhost"
        assert {"username", "password", "ocr", "challenge", "sid"} <= set(fields)
        inline = c.form.xml.find("{jabber:iq:register}query/{urn:xmpp:bob}data")
        assert inline is not None and inline.get("type") == "image/png"
        png = c.bob
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and base64.b64decode(inline.text) == png
        assert inline.get("cid") == "sha1+%s@bob.xmpp.org" % hashlib.sha1(png).hexdigest()
        c.disconnect()
        # the watcher hears of it, with the address
        m = await recv(w.messages, 15)
        assert "newbie@localhost" in m["body"] and "127.0.0.1" in m["body"], m
        # the new account logs in and finds the welcome message
        n = await connect("newbie@localhost", PW, public.port)
        await online(n)
        m = await recv(n.messages, 15)
        assert m["subject"] == WELCOME_SUBJECT and m["body"] == WELCOME_BODY
        assert m["from"] == "localhost"
        await disconnect(w, n)
    arun(scenario())


def test_captcha_answers(public):
    r = RawFrom(public.port, "127.1.1.1")
    feats = r.open()
    assert "iq-register" in feats
    # missing answer, then the same challenge answered wrong, then right:
    # a challenge takes one answer
    _, ch = r.form()
    assert ch
    assert error_of(r.submit("answers1", PW, ch, None)) == "not-acceptable"
    _, ch = r.form()
    wrong = "".join("A" if x != "A" else "C" for x in captcha_answer(ch))
    assert error_of(r.submit("answers1", PW, ch, wrong)) == "not-acceptable"
    assert error_of(r.submit("answers1", PW, ch, captcha_answer(ch))) == "service-unavailable"
    # no challenge at all, one never issued
    assert error_of(r.submit("answers1", PW)) == "not-acceptable"
    assert error_of(r.submit("answers1", PW, "0" * 32, "AAAAAA")) == "service-unavailable"
    # reserved, taken (after the captcha), weak password, bad name: each
    # answered before the account is touched
    _, ch = r.form()
    assert error_of(r.submit("Admin", PW, ch, captcha_answer(ch))) == "conflict"
    # 11 lower-case letters: 51 bits, enough for 32, not for the public 64
    assert error_of(r.submit("answers1", "abcdefghijk", ch, captcha_answer(ch))) == \
        "not-acceptable"
    assert error_of(r.submit("a@b", PW, ch, captcha_answer(ch))) == "jid-malformed"
    rep = r.submit("taken", PW, ch, captcha_answer(ch))
    assert error_of(rep) == "conflict" and "taken" in rep
    # the challenge was used by the conflict: a replay of it fails (and
    # the failed registration did not count for the throttle: the next
    # one from this address goes through)
    assert error_of(r.submit("answers1", PW, ch, captcha_answer(ch))) == "service-unavailable"
    _, ch = r.form()
    assert error_of(r.submit("answers1", PW, ch, captcha_answer(ch))) is None
    r.close()
    # nothing half-made: the reserved and the failed names do not exist
    out = public.ctl("listusers").stdout
    assert "answers1@localhost" in out and "admin@" not in out


def test_captcha_limit_per_ip(public):
    r = RawFrom(public.port, "127.1.2.1")
    r.open()
    for i in range(10):
        rep, ch = r.form(id="g%d" % i)
        assert ch, rep
    rep, ch = r.form(id="g10")
    assert error_of(rep) == "resource-constraint" and ch is None
    r.close()
    # another address is not affected
    o = RawFrom(public.port, "127.1.3.1")
    o.open()
    assert o.form()[1]
    o.close()


def test_throttle_per_ip_and_subnet(public):
    def register(src, user):
        r = RawFrom(public.port, src)
        r.open()
        _, ch = r.form()
        rep = r.submit(user, PW, ch, captcha_answer(ch))
        r.close()
        return error_of(rep)
    assert register("127.1.4.1", "thr1") is None
    # one per address per 10 minutes
    assert register("127.1.4.1", "thr2") == "resource-constraint"
    # three per /24
    assert register("127.1.4.2", "thr3") is None
    assert register("127.1.4.3", "thr4") is None
    assert register("127.1.4.4", "thr5") == "resource-constraint"
    assert register("127.1.5.1", "thr6") is None
    users = public.ctl("listusers").stdout
    assert "thr2@" not in users and "thr5@" not in users and "thr6@" in users


def test_expired_captcha(short):
    r = RawFrom(short.port, "127.2.1.1")
    r.open()
    rep, ch = r.form()
    cid = re.search(r"<data xmlns='urn:xmpp:bob' cid='([^']+)'", rep).group(1)
    # the picture is there while the challenge is pending ...
    assert "<data" in r.iq("<data xmlns='urn:xmpp:bob' cid='%s'/>" % cid, id="b1")
    # ... and gone once it expired (polled, not slept; gently: the input
    # before authentication is budgeted)
    deadline = time.time() + 15
    for i in itertools.count():
        rep = r.iq("<data xmlns='urn:xmpp:bob' cid='%s'/>" % cid, id="p%d" % i)
        if error_of(rep) == "item-not-found":
            break
        assert error_of(rep) is None and time.time() < deadline, rep[:300]
        time.sleep(0.25)
    assert error_of(r.submit("late1", PW, ch, captcha_answer(ch))) == "service-unavailable"
    r.close()


def test_question_captcha(question):
    r = RawFrom(question.port, "127.3.1.1")
    r.open()
    rep, ch = r.form()
    assert "What colour is the sky" in rep and "var='qa'" in rep.replace('"', "'")
    assert "urn:xmpp:bob" not in rep
    assert error_of(r.submit("q1", PW, ch, "green", field="qa")) == "not-acceptable"
    _, ch = r.form()
    assert error_of(r.submit("boss", PW, ch, "Blue", field="qa")) == "conflict"
    assert error_of(r.submit("q1", PW, ch, " Blue ", field="qa")) is None
    r.close()


def test_captcha_picture_over_http(pg):
    """With [web] and captcha_url, the form's <media> also names the
    picture on the web listener (XEP-0221 http URI): the same PNG as the
    XEP-0231 data, served while the challenge is pending, never cached,
    gone once answered; other names under /captcha/ are 404."""
    import urllib.error
    import urllib.request
    from edgetest import free_port
    wp = free_port()
    base = "http://127.0.0.1:%d/captcha/" % wp
    s = reg_server(pg, """enabled = true
captcha = true
captcha_url = "%s"
throttle_per_ip = 0
throttle_per_subnet = 0
""" % base, extra='\n[web]\nlisten = ["127.0.0.1:%d"]\n' % wp)
    try:
        r = RawFrom(s.port, "127.3.1.1")
        r.open()
        form, challenge = r.form()
        assert challenge, form
        url = base + challenge + ".png"
        assert ">%s</uri>" % url in form, form
        bob = re.search(r"<data[^>]*urn:xmpp:bob[^>]*>([^<]+)</data>", form)
        with urllib.request.urlopen(url, timeout=10) as h:
            png = h.read()
            assert h.headers["Content-Type"] == "image/png"
            assert h.headers["Cache-Control"] == "no-store"
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert png == base64.b64decode(bob.group(1))
        for bad in (base + "0" * 32 + ".png", base + challenge, base + challenge + ".gif",
                    base + "../" + challenge + ".png"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(bad, timeout=10)
            assert e.value.code == 404, bad
        assert error_of(r.submit("httpcap", PW, challenge, captcha_answer(challenge))) is None
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url, timeout=10)
        assert e.value.code == 404
        r.close()
    finally:
        s.destroy()


@pytest.mark.parametrize("bad", ["ftp://x/captcha/", "https://x/captcha", "captcha/"])
def test_captcha_url_must_be_a_base(pg, bad):
    """captcha_url is validated: an http(s) URL ending in '/'."""
    from edgetest import binary, run
    s = XmppServer(pg, start=False)
    try:
        conf = open(s.conf).read()
        assert "[registration]\n" in conf
        with open(s.conf, "w") as f:
            f.write(conf.replace("[registration]\n",
                                 "[registration]\ncaptcha_url = \"%s\"\n" % bad, 1))
        r = run([binary("xmpp-core"), "-t", "-c", s.conf])
        assert r.returncode != 0
        assert "registration.captcha_url: an http(s) URL ending in /" in r.stderr + r.stdout, \
            r.stderr
    finally:
        s.destroy()
