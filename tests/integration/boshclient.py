"""A small BOSH client (XEP-0124/0206) on http.client, for xmpp-core's
/bosh: each request is a thread-free blocking POST, so a test can hold
one request open while it sends another from a second connection."""

import http.client
import re
import threading
import xml.etree.ElementTree as ET

NS_HTTPBIND = "http://jabber.org/protocol/httpbind"
NS_XBOSH = "urn:xmpp:xbosh"


class Bosh:
    def __init__(self, port, host="127.0.0.1", headers=None, rid=1000, timeout=30):
        self.host, self.port, self.timeout = host, port, timeout
        self.headers = dict(headers or {})
        self.rid = rid
        self.sid = None
        self.attrs = {}

    def post(self, body, timeout=None):
        """(status, headers, text) of one POST."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        h = {"Content-Type": "text/xml; charset=utf-8"}
        h.update(self.headers)
        c.request("POST", "/bosh", body=body.encode(), headers=h)
        r = c.getresponse()
        text = r.read().decode()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, text

    def body(self, inner="", rid=None, **attrs):
        if rid is None:
            self.rid += 1
            rid = self.rid
        a = " ".join("%s='%s'" % (k.replace("__", ":"), v) for k, v in attrs.items())
        sid = " sid='%s'" % self.sid if self.sid else ""
        return "<body xmlns='%s' xmlns:xmpp='%s' rid='%d'%s %s>%s</body>" % (
            NS_HTTPBIND, NS_XBOSH, rid, sid, a, inner)

    def create(self, to="localhost", wait=10, hold=1):
        st, hd, text = self.post(self.body(to=to, wait=wait, hold=hold, ver="1.6",
                                           xmpp__version="1.0"))
        if st == 200:
            m = re.search(r"sid='([0-9a-f]+)'", text)
            if m:
                self.sid = m.group(1)
            root = ET.fromstring(text)
            self.attrs = dict(root.attrib)
        return st, hd, text

    def send(self, inner="", **attrs):
        return self.post(self.body(inner, **attrs))

    def send_async(self, inner="", **attrs):
        """Starts a request in a thread; .join() then .result."""
        body = self.body(inner, **attrs)
        t = threading.Thread(target=lambda: setattr(t, "result", self.post(body)), daemon=True)
        t.start()
        return t
