"""An HTTP client for the /register pages of xmpp-core's web listener,
on http.client: its own cookie (the form token is bound to it), the
client address as a trusted proxy would pass it (X-Forwarded-For), and
the hidden fields of a page read back for the next POST."""

import html
import http.client
import re
import ssl
import urllib.parse


class Page:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def hidden(self, name):
        m = re.search(r'<input type="hidden" name="%s" value="([^"]*)">' % re.escape(name),
                      self.body)
        return html.unescape(m.group(1)) if m else None

    def message(self):
        m = re.search(r'id="message">(.*?)</p>', self.body, re.S)
        return html.unescape(re.sub("<[^>]+>", "", m.group(1))) if m else None


class WebForm:
    def __init__(self, port, xff=None, host="127.0.0.1", tls=False, host_header=None):
        self.port, self.host, self.tls = port, host, tls
        self.xff = xff
        self.cookie = None
        self.host_header = host_header or "localhost:%d" % port

    def _conn(self):
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(self.host, self.port, timeout=20, context=ctx)
        return http.client.HTTPConnection(self.host, self.port, timeout=20)

    def request(self, method, path, body=None, headers=None, cookie=True):
        h = {"Host": self.host_header}
        if self.xff:
            h["X-Forwarded-For"] = self.xff
        if cookie and self.cookie:
            h["Cookie"] = "edge_reg=" + self.cookie
        h.update(headers or {})
        c = self._conn()
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read().decode("utf-8", "replace")
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            sc = r.getheader("Set-Cookie")
            if sc:
                m = re.match(r"edge_reg=([0-9a-f]+)", sc)
                if m:
                    self.cookie = m.group(1)
            return Page(r.status, hdrs, data)
        finally:
            c.close()

    def get(self, path="/register"):
        return self.request("GET", path)

    def post(self, path, fields, headers=None, cookie=True, raw=None):
        body = raw if raw is not None else urllib.parse.urlencode(fields)
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return self.request("POST", path, body=body.encode() if isinstance(body, str) else body,
                            headers=h, cookie=cookie)

    def submit(self, page, path, **fields):
        """POSTs fields with page's token (and challenge, when it has one)."""
        f = {"csrf": page.hidden("csrf")}
        if page.hidden("challenge"):
            f["challenge"] = page.hidden("challenge")
        f.update(fields)
        return self.post(path, f)
