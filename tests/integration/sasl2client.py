"""A raw, synchronous SASL2 (XEP-0388) client for the tests: STARTTLS or
direct TLS (optionally resuming a TLS session), the <authentication/>
feature, SCRAM / PLAIN / HT-SHA-256-* exchanges written out byte by byte,
Bind2 (XEP-0386), FAST (XEP-0484) and inline SM (XEP-0198) requests as
strings the test chooses, and an ElementTree for every top-level element
received.  Nothing is hidden: a test builds the <authenticate/> it wants,
malformed ones included."""

import base64
import hashlib
import hmac
import os
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

NS_STREAM = "http://etherx.jabber.org/streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_SASL2 = "urn:xmpp:sasl:2"
NS_BIND2 = "urn:xmpp:bind:0"
NS_FAST = "urn:xmpp:fast:0"
NS_SM = "urn:xmpp:sm:3"
NS_CB = "urn:xmpp:sasl-cb:0"
NS_CLIENT = "jabber:client"

HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' "
          "version='1.0'>")


def tag(ns, name):
    return "{%s}%s" % (ns, name)


def b64(b):
    return base64.b64encode(b if isinstance(b, bytes) else b.encode()).decode()


def ssdp(algo, mechs, cbs):
    """XEP-0474 0.5.0 §5.1 hash (cbs None: no XEP-0440 list)."""
    s = "\x1e".join(sorted(mechs))
    if cbs is not None:
        s += "\x1f" + "\x1e".join(sorted(cbs))
    return base64.b64encode(hashlib.new(algo, s.encode()).digest()).decode()


def tls_context(tls12=False):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class Closed(Exception):
    pass


class S2:
    """One connection.  features: the pre-auth <stream:features/>."""

    def __init__(self, port, direct_tls=False, session=None, tls12=False, ctx=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        # a resumed session needs the context it came from (ssl module)
        self.ctx = ctx or tls_context(tls12)
        self.session = session
        self.parser = None
        self.pending = []
        self.depth = 0
        self.root = None
        if direct_tls:
            self._wrap()
        else:
            assert self._open().find(tag(NS_TLS, "starttls")) is not None
            self.send("<starttls xmlns='%s'/>" % NS_TLS)
            assert self.next().tag == tag(NS_TLS, "proceed")
            self._wrap()
        self.features = self._open()

    def _wrap(self):
        self.sock = self.ctx.wrap_socket(self.sock, server_hostname="localhost",
                                         session=self.session)

    def _open(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.pending = []
        self.depth = 0
        self.send(HEADER)
        return self.next(tag(NS_STREAM, "features"))

    # ---- I/O ----

    def send(self, s):
        self.sock.sendall(s.encode() if isinstance(s, str) else s)

    def _drain(self):
        for ev, el in self.parser.read_events():
            if ev == "start":
                if self.depth == 0:
                    self.root = el
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.pending.append(el)
                    self.root.remove(el)

    def next(self, want=None, timeout=10):
        """The next top-level element; Closed when the stream ends."""
        deadline = time.time() + timeout
        while True:
            self._drain()
            if self.pending:
                e = self.pending.pop(0)
                if want and e.tag != want:
                    raise AssertionError("wanted %s, got %s" % (want, ET.tostring(e)))
                return e
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("nothing received")
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                d = b""
            if not d:
                raise Closed()
            self.parser.feed(d)

    def closed(self, timeout=10):
        """True once the server closed the stream (a stream error first)."""
        try:
            while True:
                e = self.next(timeout=timeout)
                if e.tag == tag(NS_STREAM, "error"):
                    continue
        except Closed:
            return True
        except TimeoutError:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- features ----

    def auth_feature(self):
        return self.features.find(tag(NS_SASL2, "authentication"))

    def mechanisms(self):
        return [m.text for m in self.auth_feature().findall(tag(NS_SASL2, "mechanism"))]

    def fast_mechanisms(self):
        f = self.auth_feature().find("%s/%s" % (tag(NS_SASL2, "inline"), tag(NS_FAST, "fast")))
        return [] if f is None else [m.text for m in f.findall(tag(NS_FAST, "mechanism"))]

    def cb_types(self):
        return [c.get("type") for c in self.features.iter(tag(NS_CB, "channel-binding"))]

    def cb_data(self, cbtype):
        if cbtype == "tls-server-end-point":
            return hashlib.sha256(self.sock.getpeercert(binary_form=True)).digest()
        if cbtype == "tls-unique":
            return self.sock.get_channel_binding("tls-unique")
        raise AssertionError(cbtype)

    # ---- <authenticate/> ----

    @staticmethod
    def user_agent(uid, software="edge-test", device="pytest"):
        return ("<user-agent id=%s><software>%s</software><device>%s</device></user-agent>"
                % (quoteattr(uid), escape(software), escape(device)))

    def authenticate(self, mech, initial=None, extra=""):
        ir = "" if initial is None else "<initial-response>%s</initial-response>" % b64(initial)
        self.send("<authenticate xmlns='%s' mechanism='%s'>%s%s</authenticate>"
                  % (NS_SASL2, mech, ir, extra))
        return self.next()

    def scram(self, user, password, mech="SCRAM-SHA-256", extra="", cbtype=None,
              final=True):
        """A SCRAM exchange; returns the element ending it (success/failure)
        and checks the server signature and XEP-0474's hash on success."""
        algo = "sha256" if "SHA-256" in mech else "sha1"
        plus = mech.endswith("-PLUS")
        if plus:
            cbtype = cbtype or "tls-server-end-point"
            gs2 = "p=%s,," % cbtype
        else:
            gs2 = "n,,"
        nonce = b64(os.urandom(18))
        first_bare = "n=%s,r=%s" % (user, nonce)
        e = self.authenticate(mech, gs2 + first_bare, extra)
        if e.tag != tag(NS_SASL2, "challenge"):
            return e
        sfirst = base64.b64decode(e.text).decode()
        parts = dict(p.split("=", 1) for p in sfirst.split(","))
        self.server_first = parts
        salt = base64.b64decode(parts["s"])
        salted = hashlib.pbkdf2_hmac(algo, password.encode(), salt, int(parts["i"]))
        ckey = hmac.new(salted, b"Client Key", algo).digest()
        stored = hashlib.new(algo, ckey).digest()
        cbind = gs2.encode() + (self.cb_data(cbtype) if plus else b"")
        final_bare = "c=%s,r=%s" % (b64(cbind), parts["r"])
        auth_msg = ",".join([first_bare, sfirst, final_bare]).encode()
        sig = hmac.new(stored, auth_msg, algo).digest()
        proof = bytes(a ^ b for a, b in zip(ckey, sig))
        msg = final_bare + ",p=" + b64(proof)
        if not final:
            return msg
        self.send("<response xmlns='%s'>%s</response>" % (NS_SASL2, b64(msg)))
        e = self.next()
        if e.tag == tag(NS_SASL2, "success"):
            skey = hmac.new(salted, b"Server Key", algo).digest()
            want = "v=" + b64(hmac.new(skey, auth_msg, algo).digest())
            got = base64.b64decode(e.findtext(tag(NS_SASL2, "additional-data"))).decode()
            assert got == want, "server signature"
            # XEP-0474: the hash of what this profile advertised
            assert parts.get("h") == ssdp(algo, self.mechanisms(), self.cb_types() or None), parts
        return e

    def ht(self, user, token, mech="HT-SHA-256-NONE", extra="<fast xmlns='%s'/>" % NS_FAST):
        """A FAST login; checks the server's Responder MAC on success."""
        cbtype = {"HT-SHA-256-ENDP": "tls-server-end-point",
                  "HT-SHA-256-UNIQ": "tls-unique"}.get(mech)
        cb = self.cb_data(cbtype) if cbtype else b""
        key = token.encode()
        mac = hmac.new(key, b"Initiator" + cb, "sha256").digest()
        e = self.authenticate(mech, user.encode() + b"\0" + mac, extra)
        if e.tag == tag(NS_SASL2, "success"):
            got = base64.b64decode(e.findtext(tag(NS_SASL2, "additional-data")))
            assert got == hmac.new(key, b"Responder" + cb, "sha256").digest(), "responder"
        return e

    def after_success(self):
        """The <stream:features/> that follows <success/> (no restart)."""
        return self.next(tag(NS_STREAM, "features"))


def success_parts(e):
    """(authorization-identifier, bound element, token element) of a success."""
    assert e.tag == tag(NS_SASL2, "success"), ET.tostring(e)
    return (e.findtext(tag(NS_SASL2, "authorization-identifier")),
            e.find(tag(NS_BIND2, "bound")), e.find(tag(NS_FAST, "token")))


def failure_cond(e):
    assert e.tag == tag(NS_SASL2, "failure"), ET.tostring(e)
    for c in e:
        if c.tag.startswith("{%s}" % NS_SASL):
            return c.tag.split("}")[1]
    raise AssertionError("no condition: %s" % ET.tostring(e))
