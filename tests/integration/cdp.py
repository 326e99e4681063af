"""Debian's headless Chromium driven over the DevTools protocol (CDP),
on the raw WebSocket client of wsclient.py: load a page, type into a
field as a user would (focus, then Input.insertText), click a button
with the mouse (Input.dispatchMouseEvent at its centre) and wait for the
page that follows, read the page, save a screenshot.  The pages under
test stay script-free: expressions run through Runtime.evaluate, which a
page's Content-Security-Policy does not govern."""

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

from wsclient import WS


def chromium():
    for c in ("chromium", "chromium-browser"):
        if shutil.which(c):
            return shutil.which(c)
    raise AssertionError("chromium is needed (deploy/deps.sh installs it)")


class Chrome:
    def __init__(self, extra_args=()):
        self.profile = tempfile.mkdtemp(prefix="edge-cdp-")
        self.proc = subprocess.Popen(
            [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--window-size=800,900",
             "--user-data-dir=" + self.profile, "--remote-debugging-port=0"]
            + list(extra_args) + ["about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.ws = None
        self.next_id = 0
        self.events = []
        try:
            port = self._port()
            deadline = time.monotonic() + 30
            while True:
                with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port,
                                            timeout=10) as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                if pages or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert pages, "chromium shows no page"
            path = pages[0]["webSocketDebuggerUrl"].split("%d" % port, 1)[1]
            self.ws = WS(port, path=path, protocol=None, timeout=30)
            assert self.ws.status == 101, self.ws.status
            self.call("Page.enable")
            self.call("Runtime.enable")
        except Exception:
            self.close()
            raise

    def _port(self):
        """Chromium writes the port it took into the profile."""
        f = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("chromium exited: %s" % self.proc.returncode)
            try:
                with open(f) as fh:
                    line = fh.readline().strip()
                if line:
                    return int(line)
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise AssertionError("chromium did not open its DevTools port")

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv(30))
            if m.get("id") == mid:
                assert "error" not in m, (method, m["error"])
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    del self.events[i]
                    return e.get("params", {})
            left = deadline - time.monotonic()
            assert left > 0, "no %s" % method
            self.events.append(json.loads(self.ws.recv(left)))

    def goto(self, url):
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        assert "exceptionDetails" not in r, r
        return r["result"].get("value")

    def type(self, selector, text):
        """Focuses the field and types text into it."""
        assert self.eval("(() => { const e = document.querySelector(%s); if (!e) return false;"
                         " e.focus(); e.value = ''; return true; })()" % json.dumps(selector)), \
            "no " + selector
        self.call("Input.insertText", text=text)

    def click(self, selector, navigates=True):
        """A mouse click in the middle of the element; waits for the page
        it loads when navigates."""
        box = self.eval("(() => { const e = document.querySelector(%s); if (!e) return null;"
                        " e.scrollIntoView(); const r = e.getBoundingClientRect();"
                        " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
                        % json.dumps(selector))
        assert box, "no " + selector
        self.events.clear()
        for t in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=t, x=box[0], y=box[1],
                      button="left", clickCount=1)
        if navigates:
            self.wait_event("Page.loadEventFired")

    def text(self, selector="body"):
        return self.eval("(() => { const e = document.querySelector(%s);"
                         " return e ? e.innerText : null; })()" % json.dumps(selector))

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        if self.ws:
            try:
                self.ws.sock.close()
            except OSError:
                pass
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
