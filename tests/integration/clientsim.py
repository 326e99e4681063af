"""A raw asyncio XMPP client that replays what real clients (Conversations,
Dino, Gajim) send, byte for byte where it matters: STARTTLS or direct TLS,
SCRAM with or without channel binding, bind, stream management with
resumption, entity caps answered from its own feature list, and helpers to
wait for the stanzas the server sends back.  Used by test_xmpp_clients.py.

Nothing here is clever: every stanza is a string the test writes, and every
stanza received is an ElementTree element kept in order, so a test can ask
"did this arrive, and in which order" without a client library hiding it."""

import asyncio
import base64
import hashlib
import hmac
import os
import ssl
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

NS_CLIENT = "jabber:client"
NS_STREAM = "http://etherx.jabber.org/streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SM = "urn:xmpp:sm:3"
NS_CAPS = "http://jabber.org/protocol/caps"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_DATA = "jabber:x:data"
NS_PS = "http://jabber.org/protocol/pubsub"
NS_PS_EV = NS_PS + "#event"
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_SID = "urn:xmpp:sid:0"
NS_FWD = "urn:xmpp:forward:0"
NS_CARBONS = "urn:xmpp:carbons:2"
NS_DELAY = "urn:xmpp:delay"
NS_PUSH = "urn:xmpp:push:0"
NS_CSI = "urn:xmpp:csi:0"
NS_BLOCKING = "urn:xmpp:blocking"
OMEMO = "eu.siacs.conversations.axolotl"
OMEMO_DEVICES = OMEMO + ".devicelist"
CAPS_NODE = "http://conversations.im"

HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' "
          "version='1.0' xml:lang='en'>")

# What Conversations 2.x puts in its caps (the +notify interests matter)
CONVERSATIONS_FEATURES = [
    "eu.siacs.conversations.axolotl.devicelist+notify",
    "http://jabber.org/protocol/caps",
    "http://jabber.org/protocol/chatstates",
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/muc",
    "http://jabber.org/protocol/nick+notify",
    "jabber:iq:version",
    "jabber:x:conference",
    "urn:xmpp:avatar:metadata+notify",
    "urn:xmpp:bookmarks:1+notify",
    "urn:xmpp:chat-markers:0",
    "urn:xmpp:jingle:1",
    "urn:xmpp:ping",
    "urn:xmpp:receipts",
]


def tag(ns, name):
    return "{%s}%s" % (ns, name)


def caps_ver(identities, features, forms=()):
    """XEP-0115 §5.1 verification string, SHA-1, base64.  identities are
    (category, type, lang, name); forms are {var: [values]} with FORM_TYPE."""
    s = ""
    for i in sorted(identities):
        s += "/".join(i) + "<"
    for f in sorted(features):
        s += f + "<"
    for form in sorted(forms, key=lambda x: x["FORM_TYPE"][0]):
        s += form["FORM_TYPE"][0] + "<"
        for var in sorted(k for k in form if k != "FORM_TYPE"):
            s += var + "<"
            for v in sorted(form[var]):
                s += v + "<"
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


def disco_parts(query):
    """(identities, features, forms) of a disco#info <query/> element."""
    ids = []
    for i in query.findall(tag(NS_DISCO_INFO, "identity")):
        ids.append((i.get("category", ""), i.get("type", ""),
                    i.get("{http://www.w3.org/XML/1998/namespace}lang", ""), i.get("name", "")))
    feats = [f.get("var") for f in query.findall(tag(NS_DISCO_INFO, "feature"))]
    forms = []
    for x in query.findall(tag(NS_DATA, "x")):
        form = {}
        for f in x.findall(tag(NS_DATA, "field")):
            form[f.get("var")] = [v.text or "" for v in f.findall(tag(NS_DATA, "value"))]
        forms.append(form)
    return ids, feats, forms


def to_str(e):
    return ET.tostring(e, encoding="unicode")


class StreamClosed(Exception):
    pass


class XClient:
    """One XMPP connection.  Stanzas received go to self.stanzas (in order);
    expect() waits for one matching a predicate and takes it."""

    def __init__(self, port, user, password, resource="Conversations.abcd",
                 direct_tls=False, tls12=False, features=None, name="Conversations"):
        self.port = port
        self.user = user
        self.password = password
        self.resource = resource
        self.direct_tls = direct_tls
        self.tls12 = tls12
        self.features = CONVERSATIONS_FEATURES if features is None else features
        self.client_name = name
        self.jid = None
        self.bare = "%s@localhost" % user
        self.stanzas = []		# every top-level element, in arrival order
        self.taken = set()		# indexes expect() handed out
        self.changed = asyncio.Event()
        self.reader = self.writer = None
        self.parser = None
        self.pending = []
        self.depth = 0
        self.root = None
        self.stream_attrs = {}
        self.features_el = None
        self.closed = False
        self.task = None
        self.sm_id = None
        self.h_in = 0		# stanzas handled (our count for <a h/>)
        self.auto_ack = True	# answer <r/> ourselves
        self.answer_iqs = True	# answer caps disco, ping, unknown gets
        self.ids = 0
        self.tls_version = None
        self.cb_types = []
        self.mech = None
        self.progress = []		# how far connect() got: tcp, tls, sasl

    # ---- transport ----

    def _ssl_ctx(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if self.tls12:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["xmpp-client"])
        return ctx

    def _new_parser(self):
        self.pending = []
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.root = None

    async def _open_stream(self):
        """Sends the header, reads the features (the reader task is not
        running yet during negotiation: bytes are read here)."""
        self._new_parser()
        self.writer.write(HEADER.encode())
        await self.writer.drain()
        self.features_el = await self._read_element(tag(NS_STREAM, "features"))
        return self.features_el

    async def _read_element(self, want=None, timeout=15):
        """Negotiation: the next top-level element (must be `want` if given)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self.pending.extend(self._drain_parser())
            if self.pending:
                e = self.pending.pop(0)
                if want and e.tag != want and e.tag == tag(NS_STREAM, "error"):
                    raise StreamClosed("stream error: " + to_str(e))
                return e
            left = deadline - loop.time()
            if left <= 0:
                raise asyncio.TimeoutError("no %s" % want)
            data = await asyncio.wait_for(self.reader.read(65536), left)
            if not data:
                raise StreamClosed("closed during negotiation")
            self.parser.feed(data)

    def _drain_parser(self):
        out = []
        for ev, el in self.parser.read_events():
            if ev == "start":
                if self.depth == 0:
                    self.root = el
                    self.stream_attrs = dict(el.attrib)
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    out.append(el)
                    self.root.remove(el)
                elif self.depth == 0:
                    self.closed = True
        return out

    async def connect(self, mech="SCRAM-SHA-256-PLUS", bind=True, timeout=20):
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port,
                                    ssl=self._ssl_ctx() if self.direct_tls else None,
                                    server_hostname="localhost" if self.direct_tls else None),
            timeout)
        self.progress.append("tcp")
        if not self.direct_tls:
            f = await self._open_stream()
            assert f.find(tag(NS_TLS, "starttls")) is not None, to_str(f)
            self.writer.write(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            await self.writer.drain()
            e = await self._read_element()
            assert e.tag == tag(NS_TLS, "proceed"), to_str(e)
            await self.writer.start_tls(self._ssl_ctx(), server_hostname="localhost")
        sslobj = self.writer.get_extra_info("ssl_object")
        self.progress.append("tls")
        self.tls_version = sslobj.version()
        f = await self._open_stream()
        mechs = [m.text for m in f.iter(tag(NS_SASL, "mechanism"))]
        self.cb_types = [c.get("type") for c in f.iter("{urn:xmpp:sasl-cb:0}channel-binding")]
        if mech not in mechs:
            raise AssertionError("%s not offered: %s" % (mech, mechs))
        await self._scram(mech, sslobj)
        self.progress.append("sasl")
        f = await self._open_stream()
        self.bound_features = f
        if bind:
            await self.bind()
        return self

    def cb_data(self, sslobj, cbtype):
        if cbtype == "tls-server-end-point":
            return hashlib.sha256(sslobj.getpeercert(binary_form=True)).digest()
        if cbtype == "tls-unique":
            return sslobj.get_channel_binding("tls-unique")
        raise AssertionError(cbtype)

    async def _scram(self, mech, sslobj):
        self.mech = mech
        algo = "sha256" if "SHA-256" in mech else "sha1"
        plus = mech.endswith("-PLUS")
        cbtype = None
        if plus:
            # Conversations: tls-exporter on TLS 1.3 (not in Python's ssl),
            # tls-unique on 1.2; tls-server-end-point works on both
            cbtype = "tls-unique" if self.tls_version == "TLSv1.2" else "tls-server-end-point"
            gs2 = "p=%s,," % cbtype
        else:
            gs2 = "n,,"
        nonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = "n=%s,r=%s" % (self.user, nonce)
        self.writer.write(("<auth xmlns='%s' mechanism='%s'>%s</auth>" % (
            NS_SASL, mech, base64.b64encode((gs2 + first_bare).encode()).decode())).encode())
        await self.writer.drain()
        e = await self._read_element()
        if e.tag != tag(NS_SASL, "challenge"):
            raise AssertionError("SASL: " + to_str(e))
        sfirst = base64.b64decode(e.text).decode()
        parts = dict(p.split("=", 1) for p in sfirst.split(","))
        salt = base64.b64decode(parts["s"])
        salted = hashlib.pbkdf2_hmac(algo, self.password.encode(), salt, int(parts["i"]))
        ckey = hmac.new(salted, b"Client Key", algo).digest()
        stored = hashlib.new(algo, ckey).digest()
        cbind = gs2.encode() + (self.cb_data(sslobj, cbtype) if plus else b"")
        final_bare = "c=%s,r=%s" % (base64.b64encode(cbind).decode(), parts["r"])
        auth_msg = ",".join([first_bare, sfirst, final_bare]).encode()
        sig = hmac.new(stored, auth_msg, algo).digest()
        proof = bytes(a ^ b for a, b in zip(ckey, sig))
        final = final_bare + ",p=" + base64.b64encode(proof).decode()
        self.writer.write(("<response xmlns='%s'>%s</response>" % (
            NS_SASL, base64.b64encode(final.encode()).decode())).encode())
        await self.writer.drain()
        e = await self._read_element()
        if e.tag != tag(NS_SASL, "success"):
            raise AssertionError("SASL failed: " + to_str(e))
        skey = hmac.new(salted, b"Server Key", algo).digest()
        want = "v=" + base64.b64encode(hmac.new(skey, auth_msg, algo).digest()).decode()
        assert base64.b64decode(e.text).decode() == want, "server signature"

    async def bind(self):
        self.writer.write(("<iq type='set' id='bind1'><bind xmlns='%s'><resource>%s"
                           "</resource></bind></iq>" % (NS_BIND, escape(self.resource))).encode())
        await self.writer.drain()
        e = await self._read_element()
        j = e.find("%s/%s" % (tag(NS_BIND, "bind"), tag(NS_BIND, "jid")))
        assert e.get("type") == "result" and j is not None, to_str(e)
        self.jid = j.text
        self.start_reader()

    async def resume(self, previd, h):
        """After connect(bind=False): <resume/>; returns the <resumed/> or <failed/>."""
        self.writer.write(("<resume xmlns='%s' previd='%s' h='%d'/>" % (NS_SM, previd, h)).encode())
        await self.writer.drain()
        e = await self._read_element()
        if e.tag == tag(NS_SM, "resumed"):
            self.sm_id = previd
            self.h_in = h		# the count goes on from what we acknowledged
            self.jid = "%s/%s" % (self.bare, self.resource)
            # what was re-sent may already be in the parser
            self.start_reader()
        return e

    def start_reader(self):
        pending = self.pending + self._drain_parser()
        self.pending = []
        for e in pending:
            self._incoming(e)
        self.task = asyncio.ensure_future(self._reader())

    async def _reader(self):
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                self.parser.feed(data)
                for e in self._drain_parser():
                    self._incoming(e)
        except (ConnectionError, ssl.SSLError, ET.ParseError, asyncio.CancelledError):
            pass
        finally:
            self.closed = True
            self.changed.set()

    def _incoming(self, e):
        if e.tag in (tag(NS_CLIENT, "message"), tag(NS_CLIENT, "presence"), tag(NS_CLIENT, "iq")):
            self.h_in = (self.h_in + 1) % (1 << 32)
        if e.tag == tag(NS_SM, "r") and self.auto_ack:
            self.raw("<a xmlns='%s' h='%d'/>" % (NS_SM, self.h_in))
        if e.tag == tag(NS_CLIENT, "iq") and self.answer_iqs and e.get("type") in ("get", "set"):
            if self._answer_iq(e):
                return
        self.stanzas.append(e)
        self.changed.set()

    def _answer_iq(self, e):
        q = e[0] if len(e) else None
        if q is None:
            return False
        if q.tag == tag(NS_DISCO_INFO, "query") and e.get("type") == "get":
            node = q.get("node")
            feats = "".join("<feature var=%s/>" % quoteattr(f) for f in self.features)
            self.raw("<iq type='result' id=%s to=%s><query xmlns='%s'%s>"
                     "<identity category='client' type='phone' name=%s/>%s</query></iq>"
                     % (quoteattr(e.get("id")), quoteattr(e.get("from", "")), NS_DISCO_INFO,
                        " node=%s" % quoteattr(node) if node else "", quoteattr(self.client_name),
                        feats))
            self.caps_queries = getattr(self, "caps_queries", 0) + 1
            return True
        if q.tag == "{urn:xmpp:ping}ping":
            self.raw("<iq type='result' id=%s to=%s/>" % (quoteattr(e.get("id")),
                                                         quoteattr(e.get("from", ""))))
            return True
        return False

    def my_caps_ver(self):
        return caps_ver([("client", "phone", "", self.client_name)], self.features)

    def caps(self):
        return "<c xmlns='%s' hash='sha-1' node='%s' ver='%s'/>" % (
            NS_CAPS, CAPS_NODE, self.my_caps_ver())

    def raw(self, s):
        if self.writer is None or self.writer.is_closing():
            return
        self.writer.write(s.encode() if isinstance(s, str) else s)

    async def send(self, s):
        self.raw(s)
        await self.writer.drain()

    def next_id(self, prefix="q"):
        self.ids += 1
        return "%s%d" % (prefix, self.ids)

    # ---- waiting ----

    async def expect(self, pred, timeout=10, what="stanza"):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, e in enumerate(self.stanzas):
                if i not in self.taken and pred(e):
                    self.taken.add(i)
                    return e
            if self.closed:
                raise StreamClosed("closed while waiting for %s" % what)
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError("no %s within %ss; unread: %s" % (
                    what, timeout, [to_str(e)[:300] for i, e in enumerate(self.stanzas)
                                    if i not in self.taken][-8:]))
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def quiet(self, pred, seconds):
        """Asserts nothing matching pred arrives within seconds."""
        await asyncio.sleep(seconds)
        bad = [to_str(e) for i, e in enumerate(self.stanzas) if i not in self.taken and pred(e)]
        assert not bad, bad

    def unread(self, pred=lambda e: True):
        return [e for i, e in enumerate(self.stanzas) if i not in self.taken and pred(e)]

    def take_all(self, pred):
        out = []
        for i, e in enumerate(self.stanzas):
            if i not in self.taken and pred(e):
                self.taken.add(i)
                out.append(e)
        return out

    async def iq(self, body, type="get", to=None, timeout=10, ok=True):
        qid = self.next_id()
        await self.send("<iq type='%s' id='%s'%s>%s</iq>" % (
            type, qid, " to=%s" % quoteattr(to) if to else "", body))
        r = await self.expect(lambda e: e.tag == tag(NS_CLIENT, "iq") and e.get("id") == qid
                              and e.get("type") in ("result", "error"), timeout, "iq " + qid)
        if ok and r.get("type") != "result":
            raise AssertionError("iq %s failed: %s" % (body[:200], to_str(r)))
        return r

    async def sm_enable(self):
        await self.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
        e = await self.expect(lambda e: e.tag in (tag(NS_SM, "enabled"), tag(NS_SM, "failed")),
                              what="enabled")
        assert e.tag == tag(NS_SM, "enabled"), to_str(e)
        self.sm_id = e.get("id")
        return e

    async def ack_sync(self):
        """<r/> and wait for the server's <a/> (everything sent before is handled)."""
        await self.send("<r xmlns='%s'/>" % NS_SM)
        return await self.expect(lambda e: e.tag == tag(NS_SM, "a"), what="<a/>")

    async def ping(self):
        """Round trip: everything the server sent before the answer is here."""
        await self.iq("<ping xmlns='urn:xmpp:ping'/>", to="localhost")

    def cut(self):
        """The TCP connection dies without a goodbye (a phone losing its network)."""
        t = self.writer.transport
        sock = t.get_extra_info("socket")
        try:
            import socket
            import struct
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        t.abort()
        if self.task:
            self.task.cancel()
        self.closed = True

    async def close(self):
        if self.writer and not self.writer.is_closing():
            try:
                self.writer.write(b"</stream:stream>")
                await asyncio.wait_for(self.writer.drain(), 2)
            except (ConnectionError, asyncio.TimeoutError, ssl.SSLError):
                pass
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 3
            while not self.closed and loop.time() < deadline:
                await asyncio.sleep(0.02)
            self.writer.transport.abort()
        if self.task:
            self.task.cancel()
        self.closed = True


def is_msg(body=None, frm=None):
    def pred(e):
        if e.tag != tag(NS_CLIENT, "message"):
            return False
        if frm and not (e.get("from") or "").startswith(frm):
            return False
        b = e.find(tag(NS_CLIENT, "body"))
        return body is None or (b is not None and b.text == body)
    return pred


def stanza_id(e, by):
    for s in e.findall(tag(NS_SID, "stanza-id")):
        if s.get("by") == by:
            return s.get("id")
    return None


def is_event(node=None, frm=None):
    def pred(e):
        if e.tag != tag(NS_CLIENT, "message"):
            return False
        ev = e.find(tag(NS_PS_EV, "event"))
        if ev is None:
            return False
        if frm and e.get("from") != frm:
            return False
        if node is None:
            return True
        return any(ch.get("node") == node for ch in ev)
    return pred


def is_presence(frm=None, type=None):
    def pred(e):
        return (e.tag == tag(NS_CLIENT, "presence") and
                (frm is None or (e.get("from") or "").startswith(frm)) and
                (type is None or e.get("type") == type))
    return pred


def publish_options(**kw):
    fields = "".join("<field var='pubsub#%s'><value>%s</value></field>" % (k, escape(str(v)))
                     for k, v in kw.items())
    return ("<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' "
            "type='hidden'><value>%s#publish-options</value></field>%s</x></publish-options>"
            % (NS_PS, fields))


def mam_query(qid, fields=None, rsm=""):
    form = ""
    if fields:
        form = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
                "<value>%s</value></field>%s</x>" % (NS_MAM, "".join(
                    "<field var='%s'><value>%s</value></field>" % (k, escape(v))
                    for k, v in fields.items())))
    return "<query xmlns='%s' queryid='%s'>%s%s</query>" % (NS_MAM, qid, form, rsm)


async def mam_fetch(c, fields=None, rsm="", to=None):
    """One MAM query; returns (results [(id, forwarded message)], fin)."""
    qid = c.next_id("mam")
    r = await c.iq(mam_query(qid, fields, rsm), type="set", to=to)
    res = c.take_all(lambda e: e.tag == tag(NS_CLIENT, "message") and
                     e.find(tag(NS_MAM, "result")) is not None and
                     e.find(tag(NS_MAM, "result")).get("queryid") == qid)
    out = []
    for m in res:
        rr = m.find(tag(NS_MAM, "result"))
        fwd = rr.find(tag(NS_FWD, "forwarded"))
        out.append((rr.get("id"), fwd.find(tag(NS_CLIENT, "message")), m))
    return out, r.find(tag(NS_MAM, "fin"))
