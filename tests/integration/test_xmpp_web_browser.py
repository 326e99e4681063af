"""A web client in a real browser: Strophe.js 5 (npm) in Debian's
headless Chromium, logging in to xmpp-core over BOSH and over WebSocket
and exchanging messages with a slixmpp user on TCP.  The page is served
by the test (another origin than the web listener: BOSH's CORS is
exercised) and reports what happens to the test by POSTing to it."""

import asyncio
import http.server
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

from edgetest import free_port
from pgcluster import PgCluster
from xmpptest import XmppServer, arun, connect, disconnect, recv

PW = "browser-test-password-123"
STROPHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xmppjs", "node_modules",
                       "strophe.js", "dist", "strophe.umd.min.js")

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>edge web test</title>
<script src="/strophe.js"></script></head><body><pre id="log"></pre><script>
function report(o) {
  document.getElementById("log").textContent += JSON.stringify(o) + "\\n";
  fetch("/report", {method: "POST", body: JSON.stringify(o)});
}
const params = new URLSearchParams(location.search);
const conn = new Strophe.Connection(params.get("service"));
conn.connect(params.get("jid"), params.get("pw"), (status, cond) => {
  report({ev: "status", status: status, cond: cond || ""});
  if (status === Strophe.Status.CONNECTED) {
    conn.addHandler((m) => {
      const b = m.getElementsByTagName("body")[0];
      if (b) report({ev: "message", from: m.getAttribute("from"), body: b.textContent});
      return true;
    }, null, "message");
    conn.send($pres());
    conn.send($msg({to: params.get("peer"), type: "chat"}).c("body").t("hi from " + params.get("name")));
    report({ev: "online", jid: conn.jid});
  }
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
    for u in ("wanda", "xena", "yuri"):
        s.adduser(u, PW)
    yield s
    s.destroy()


class Site:
    """The page, strophe.js, and /report, on a port of its own."""

    def __init__(self):
        self.reports = queue.Queue()
        site = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path.startswith("/page"):
                    data, ctype = PAGE.encode(), "text/html; charset=utf-8"
                elif self.path == "/strophe.js":
                    data, ctype = open(STROPHE, "rb").read(), "text/javascript"
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


def chromium():
    for c in ("chromium", "chromium-browser"):
        if shutil.which(c):
            return shutil.which(c)
    raise AssertionError("chromium is needed (deploy/deps.sh installs it)")


class Browser:
    def __init__(self, url):
        self.profile = tempfile.mkdtemp(prefix="edge-chromium-")
        self.proc = subprocess.Popen(
            [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--disable-extensions", "--disable-background-networking",
             "--user-data-dir=" + self.profile, "--remote-debugging-port=0", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def close(self):
        # chromium's helpers are in the session it leads (start_new_session)
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.mark.parametrize("transport", ["bosh", "websocket"])
def test_strophe_in_chromium(server, transport):
    site = Site()
    user = "wanda" if transport == "bosh" else "xena"
    service = ("http://127.0.0.1:%d/bosh" if transport == "bosh" else
               "ws://127.0.0.1:%d/ws") % server.web
    browser = None

    async def wait_report(ev, timeout=40, **match):
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
        raise AssertionError("no %s from the browser; saw %s" % (ev, seen))

    async def scenario():
        nonlocal browser
        yuri = await connect("yuri@localhost", PW, server.port)
        yuri.send_presence()
        from urllib.parse import urlencode
        q = urlencode({"service": service, "jid": "%s@localhost/browser" % user, "pw": PW,
                       "peer": "yuri@localhost", "name": transport})
        browser = Browser("http://127.0.0.1:%d/page?%s" % (site.port, q))
        on = await wait_report("online")
        assert on["jid"].startswith("%s@localhost/" % user), on
        m = await recv(yuri.messages, 30)
        assert m["body"] == "hi from %s" % transport
        assert str(m["from"]).startswith("%s@localhost/" % user)
        yuri.send_message(mto=str(m["from"]), mbody="back to the browser", mtype="chat")
        try:
            await wait_report("message", body="back to the browser")
        except AssertionError:
            print("\n".join(server.daemon.log().splitlines()[-60:]))
            raise
        peers = [l.split("\t") for l in server.ctl("sessions").stdout.splitlines() if l]
        assert any(p[0].startswith(user + "@localhost/") for p in peers)
        await disconnect(yuri)

    try:
        arun(scenario(), timeout=90)
    finally:
        if browser:
            browser.close()
        site.close()
