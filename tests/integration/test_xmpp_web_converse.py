"""Converse.js (npm converse.js 14, its full UI) in Debian's headless
Chromium over WebSocket: it logs in to xmpp-core with a password, opens
a chat with a slixmpp user on TCP and sends a message through its own
chat model, and shows the answer.  The page and Converse's dist/ are
served by the test (another origin than the web listener); the page
reports what happens by POSTing to the test."""

import asyncio
import http.server
import json
import os
import queue
import threading
import time
from urllib.parse import urlencode

import pytest

from edgetest import free_port
from pgcluster import PgCluster
from cdp import Chrome
from xmpptest import XmppServer, arun, connect, disconnect, recv

PW = "converse-test-password-123"
DIST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xmppjs", "node_modules",
                    "converse.js", "dist")

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>converse</title>
<link rel="stylesheet" href="/dist/converse.min.css">
<script type="module" src="/dist/converse.min.js"></script></head><body><script type="module">
function report(o) { fetch("/report", {method: "POST", body: JSON.stringify(o)}); }
const params = new URLSearchParams(location.search);
converse.plugins.add("edgetest", {
  initialize() {
    const { api } = this._converse;
    api.listen.on("connected", async () => {
      report({ev: "online", jid: api.connection.get().jid});
      const chat = await api.chats.open(params.get("peer"));
      await chat.sendMessage({body: "hi from converse"});
      report({ev: "sent"});
    });
    api.listen.on("message", (data) => {
      const b = data.stanza.querySelector("body");
      if (b) report({ev: "message", body: b.textContent});
    });
    api.listen.on("disconnected", () => report({ev: "disconnected"}));
  }
});
converse.initialize({
  websocket_url: params.get("service"), jid: params.get("jid"), password: params.get("pw"),
  auto_login: true, discover_connection_methods: false, assets_path: "/dist/",
  whitelisted_plugins: ["edgetest"], view_mode: "fullscreen", loglevel: "warn",
  allow_non_roster_messaging: true, play_sounds: false, show_desktop_notifications: false,
});
</script></body></html>
"""


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def server(pg):
    wp = free_port()
    s = XmppServer(pg, c2s_extra='\n[web]\nlisten = ["127.0.0.1:%d"]\n' % wp)
    s.web = wp
    for u in ("conny", "tcpeer"):
        s.adduser(u, PW)
    yield s
    s.destroy()


class Site:
    """The page, Converse's dist/, and /report."""

    def __init__(self):
        self.reports = queue.Queue()
        site = self
        types = {".js": "text/javascript", ".css": "text/css", ".json": "application/json",
                 ".wasm": "application/wasm", ".svg": "image/svg+xml", ".png": "image/png",
                 ".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf",
                 ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".map": "application/json"}

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                if path == "/page":
                    data, ctype = PAGE.encode(), "text/html; charset=utf-8"
                elif path.startswith("/dist/") and ".." not in path:
                    f = os.path.join(DIST, path[len("/dist/"):])
                    if not os.path.isfile(f):
                        self.send_error(404)
                        return
                    data = open(f, "rb").read()
                    ctype = types.get(os.path.splitext(f)[1], "application/octet-stream")
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                site.reports.put(json.loads(self.rfile.read(n)))
                self.send_response(204)
                self.end_headers()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_converse_in_chromium(server):
    assert os.path.isdir(DIST), "npm ci in tests/integration/xmppjs installs converse.js"
    site = Site()
    browser = None

    async def wait_report(ev, timeout=60, **match):
        loop = asyncio.get_running_loop()
        deadline = time.time() + timeout
        seen = []
        while time.time() < deadline:
            try:
                r = await loop.run_in_executor(None, lambda: site.reports.get(timeout=0.5))
            except queue.Empty:
                continue
            seen.append(r)
            if r["ev"] == ev and all(r.get(k) == v for k, v in match.items()):
                return r
        raise AssertionError("no %s from Converse; saw %s" % (ev, seen))

    async def scenario():
        nonlocal browser
        peer = await connect("tcpeer@localhost", PW, server.port)
        peer.send_presence()
        q = urlencode({"service": "ws://127.0.0.1:%d/ws" % server.web,
                       "jid": "conny@localhost", "pw": PW, "peer": "tcpeer@localhost"})
        browser = Chrome()
        browser.goto("http://127.0.0.1:%d/page?%s" % (site.port, q))
        on = await wait_report("online")
        assert on["jid"].startswith("conny@localhost/"), on
        m = await recv(peer.messages, 40)
        assert m["body"] == "hi from converse"
        assert str(m["from"]).startswith("conny@localhost/")
        peer.send_message(mto=str(m["from"]), mbody="back to converse", mtype="chat")
        await wait_report("message", body="back to converse")
        sessions = server.ctl("sessions").stdout
        assert "conny@localhost/" in sessions
        await disconnect(peer)

    try:
        arun(scenario(), timeout=120)
    finally:
        if browser:
            browser.close()
        site.close()
