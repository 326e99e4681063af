"""Helpers for the registration tests: an xmpp-core whose [registration]
table the test writes, raw clients connecting from a chosen loopback
address (per-IP limits: every test its own 127.x.y.z), and the captcha's
answer.

The answer: xmpp-core derives a captcha's text from a key and the
challenge id (HMAC-SHA256(key, "text:" + id) onto the alphabet).  A test
gives the key through `captcha_key_file` (a seed the test controls); a
production host has no such file and its key is random per process."""

import hashlib
import hmac
import os
import re
import socket
import ssl
import time

from xmpptest import Raw, XmppServer

ALPHABET = "ACDEFHJKMNPRTUVWXY3479"
KEY_SECRET = "registration-test-key-0123456789"


def captcha_answer(challenge):
    key = hashlib.sha256(KEY_SECRET.encode()).digest()
    h = hmac.new(key, ("text:" + challenge).encode(), hashlib.sha256).digest()
    return "".join(ALPHABET[b % len(ALPHABET)] for b in h[:6])


def reg_server(pg, registration, extra="", replace=()):
    """XmppServer with registration (the [registration] body) in place
    of the default table, and (old, new) replacements in its config;
    started."""
    s = XmppServer(pg, start=False, extra=extra)
    key = os.path.join(s.tmp, "captcha.key")
    with open(key, "w") as f:
        f.write(KEY_SECRET + "\n")
    os.chmod(key, 0o600)
    conf = open(s.conf).read()
    head, rest = conf.split("[registration]\n", 1)
    tail = rest[rest.index("\n[", 0) + 1:]
    conf = head + "[registration]\ncaptcha_key_file = \"%s\"\n%s\n" % (key, registration) + tail
    for a, b in replace:
        assert a in conf, a
        conf = conf.replace(a, b)
    with open(s.conf, "w") as f:
        f.write(conf)
    s.start()
    return s


class RawFrom(Raw):
    """Raw, connected from source address src (a loopback address)."""

    def __init__(self, port, src):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                             source_address=(src, 0))

    def open(self):
        """STARTTLS and a fresh stream; returns the features."""
        self.starttls()
        self.send(self.HEADER)
        return self.recv_until("</stream:features>")

    def iq(self, body, type="get", id="r1"):
        """Sends an IQ; its answer (a result may be one empty <iq/>)."""
        self.send("<iq type='%s' id='%s'>%s</iq>" % (type, id, body))
        self.sock.settimeout(15)
        buf, deadline = "", time.time() + 15
        done = re.compile(r"<iq[^>]*id=['\"]%s['\"][^>]*/>|</iq>" % re.escape(id))
        while not done.search(buf) and time.time() < deadline:
            try:
                d = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLError):
                break
            if not d:
                break
            buf += d.decode(errors="replace")
        return buf

    def form(self, id="g1"):
        """The registration form: (reply, challenge id)."""
        r = self.iq("<query xmlns='jabber:iq:register'/>", id=id)
        m = re.search(r"var=['\"]challenge['\"][^>]*>\s*<value>([0-9a-f]+)</value>", r)
        return r, m.group(1) if m else None

    def submit(self, user, password, challenge=None, answer=None, field="ocr", id="s1"):
        fields = ["<field var='FORM_TYPE'><value>urn:xmpp:captcha</value></field>",
                  "<field var='username'><value>%s</value></field>" % user,
                  "<field var='password'><value>%s</value></field>" % password]
        if challenge is not None:
            fields.append("<field var='challenge'><value>%s</value></field>" % challenge)
        if answer is not None:
            fields.append("<field var='%s'><value>%s</value></field>" % (field, answer))
        return self.iq("<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' "
                       "type='submit'>%s</x></query>" % "".join(fields), type="set", id=id)


def error_of(reply):
    """The defined condition of an IQ error reply, or None for a result."""
    if "type='result'" in reply or 'type="result"' in reply:
        return None
    m = re.search(r"<([a-z-]+) xmlns=['\"]urn:ietf:params:xml:ns:xmpp-stanzas['\"]", reply)
    return m.group(1) if m else "?" + reply[:200]
