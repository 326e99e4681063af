"""JIDs prepared with PRECIS (RFC 7622): different spellings of one JID
reach one account, disallowed JIDs are refused, against the real binary
with raw streams and slixmpp clients."""

import re
import time
from xml.sax.saxutils import escape

import pytest

from pgcluster import PgCluster
from xmpptest import Raw, XmppServer, arun, connect, disconnect, online, recv

PW = "correct horse battery staple"
FULLWIDTH_JULIET = "\uff2a\uff55\uff4c\uff49\uff45\uff54"	# Ｊｕｌｉｅｔ


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def server(pg):
    s = XmppServer(pg)
    yield s
    s.destroy()


def read_stanza(r, pattern, timeout=10):
    """Reads from a Raw client until pattern matches; returns the text."""
    r.sock.settimeout(timeout)
    buf = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = re.search(pattern, buf.decode(errors="replace"), re.S)
        if m:
            return m.group(0)
        try:
            d = r.sock.recv(65536)
        except OSError:
            break
        if not d:
            break
        buf += d
    raise AssertionError("no %r in %r" % (pattern, buf))


def iq_reply(r, iq_id):
    """The reply to iq iq_id: an empty <iq .../> or <iq ...>...</iq>."""
    return read_stanza(r, r"<iq[^>]*id=['\"]%s['\"][^>]*(/>|>.*?</iq>)" % iq_id)


def register(port, user, password=PW):
    """In-band registration on a fresh stream; returns the reply text."""
    r = Raw(port)
    try:
        r.starttls()
        r.send(Raw.HEADER)
        r.recv_until("</stream:features>")
        r.send("<iq type='set' id='reg1'><query xmlns='jabber:iq:register'>"
               "<username>%s</username><password>%s</password></query></iq>"
               % (escape(user), escape(password)))
        return iq_reply(r, "reg1")
    finally:
        r.close()


def plain_login(port, user, password=PW):
    r = Raw(port)
    try:
        r.starttls()
        return r.login_plain(user, password)
    finally:
        r.close()


def test_fullwidth_registration_is_the_ascii_account(server):
    # RFC 8265 §3.3.1: fullwidth letters are mapped to their
    # decomposition, then lower-cased: Ｊｕｌｉｅｔ is juliet
    reply = register(server.port, FULLWIDTH_JULIET)
    assert "type='result'" in reply or 'type="result"' in reply, reply
    users = server.ctl("listusers").stdout.split()
    assert "juliet@localhost" in users
    assert not any(FULLWIDTH_JULIET in u for u in users)
    # the same account under other spellings: a conflict
    for spelling in ("juliet", "JULIET", "\uff4a\uff55\uff4c\uff49\uff45\uff54"):
        reply = register(server.port, spelling)
        assert "<conflict" in reply, (spelling, reply)

    async def scenario():
        c = await connect("juliet@localhost/balcony", PW, server.port)
        await disconnect(c)

    arun(scenario())
    # PLAIN with the authcid spelled in fullwidth capitals logs in too
    assert "<success" in plain_login(server.port, "\uff2a\uff35\uff2c\uff29\uff25\uff34")
    assert "<success" in plain_login(server.port, "Juliet")


def test_message_to_other_spellings_reaches_the_account(server):
    server.adduser("romeo", PW)
    if "juliet@localhost" not in server.ctl("listusers").stdout.split():
        server.adduser("juliet", PW)

    async def scenario():
        j = await connect("juliet@localhost/balcony", PW, server.port)
        await online(j)
        r = Raw(server.port)
        try:
            r.session("romeo", PW)
            for i, to in enumerate(["JULIET@LOCALHOST",
                                    FULLWIDTH_JULIET + "@\uff2c\uff2f\uff23\uff21\uff2c\uff28\uff2f\uff33\uff34",
                                    "juliet@localhost."]):
                r.send("<message type='chat' to='%s' id='m%d'><body>hello %d</body></message>"
                       % (to, i, i))
                m = await recv(j.messages)
                assert m["body"] == "hello %d" % i
                assert str(m["from"]) == "romeo@localhost/raw"
        finally:
            r.close()
        await disconnect(j)

    arun(scenario())


@pytest.mark.parametrize("user", [
    "\u265a",			# ♚ BLACK CHESS KING: a symbol
    "henry\u2163",		# Ⅳ ROMAN NUMERAL FOUR: HasCompat
    "foo bar",			# a space
    "a\u200bb",			# ZERO WIDTH SPACE: default ignorable
    "a\u05d0",			# Hebrew after Latin: the Bidi Rule
    "\uff20x",			# fullwidth @: '@' after width mapping
    "\u01c4",			# Ǆ: lower-cases to ǆ, HasCompat
])
def test_disallowed_localpart_refused_at_registration(server, user):
    reply = register(server.port, user)
    assert "type='error'" in reply or 'type="error"' in reply, reply
    assert "<jid-malformed" in reply, reply
    r = server.ctl("adduser", user + "@localhost", stdin=PW + "\n")
    assert r.returncode != 0
    assert not any(user.lower() in u for u in server.ctl("listusers").stdout.split())


def test_message_to_disallowed_jid_is_jid_malformed(server):
    server.adduser("mercutio", PW)
    r = Raw(server.port)
    try:
        r.session("mercutio", PW)
        for i, to in enumerate(["\u265a@localhost", "henry\u2163@localhost",
                                "juliet@exa_mple.com", "juliet@xn--caf-dmb.example",
                                "a\u05d0@localhost", "juliet@localhost/a\u0085b"]):
            to = escape(to, {"'": "&apos;"})
            r.send("<message type='chat' to='%s' id='bad%d'><body>x</body></message>"
                   % (to, i))
            reply = read_stanza(r, r"<message[^>]*id=['\"]bad%d['\"].*?</message>" % i)
            assert "type='error'" in reply or 'type="error"' in reply, reply
            assert "<jid-malformed" in reply, reply
        # the stream is still fine afterwards
        r.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        assert "result" in iq_reply(r, "p1")
    finally:
        r.close()


def test_greek_account_with_scram(server):
    # ΚΑΛΗΜΕΡΑ and καλημερα are one account; a real client logs in
    r = server.ctl("adduser", "\u039a\u0391\u039b\u0397\u039c\u0395\u03a1\u0391@localhost",
                   stdin=PW + "\n")
    assert r.returncode == 0, r.stderr
    assert "\u03ba\u03b1\u03bb\u03b7\u03bc\u03b5\u03c1\u03b1@localhost" in \
        server.ctl("listusers").stdout.split()

    async def scenario():
        c = await connect("\u03ba\u03b1\u03bb\u03b7\u03bc\u03b5\u03c1\u03b1@localhost", PW,
                          server.port, mech="SCRAM-SHA-256")
        await disconnect(c)

    arun(scenario())
    # and the precomposed/decomposed spellings of José are one account
    r = server.ctl("adduser", "jose\u0301@localhost", stdin=PW + "\n")
    assert r.returncode == 0, r.stderr
    assert "jos\u00e9@localhost" in server.ctl("listusers").stdout.split()
    assert "<success" in plain_login(server.port, "JOS\u00c9")
