"""Peers for the web tests (test_xmpp_web*.py): xmpp.js 0.14 over
WebSocket (xmppjs/webdriver.mjs) and a TCP forwarder the test can cut."""

import asyncio
import json
import os
import queue
import shutil
import socket
import subprocess
import threading
import time

XMPPJS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xmppjs")


def node_options():
    """node's command-line options (node 20 has a WebSocket behind a flag)."""
    r = subprocess.run(["node", "--help"], capture_output=True, text=True, timeout=20)
    return r.stdout


class Cut:
    """A TCP forwarder the test can cut: the socket drops under xmpp.js
    (no <close/>, no close frame), as when a phone loses its network."""

    def __init__(self, port):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.target = port
        self.pairs = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.pairs.append((c, u))
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for c, u in pairs:
            for s in (c, u):
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                    s.close()
                except OSError:
                    pass

    def close(self):
        self.cut()
        self.lsock.close()


class XmppJsWeb:
    """tests/integration/xmppjs/webdriver.mjs: xmpp.js 0.14 over WebSocket."""

    def __init__(self, url, user, password):
        assert shutil.which("node"), "node is needed (deploy/deps.sh installs it)"
        assert os.path.isdir(os.path.join(XMPPJS, "node_modules", "@xmpp", "client")), \
            "npm ci in tests/integration/xmppjs (deploy/deps.sh does it)"
        env = dict(os.environ, NODE_NO_WARNINGS="1", NODE_TLS_REJECT_UNAUTHORIZED="0")
        flags = [f for f in ("--experimental-websocket",) if f in node_options()]
        self.proc = subprocess.Popen(
            ["node"] + flags + ["webdriver.mjs", url, "localhost", user, password],
            cwd=XMPPJS, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.events = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                self.events.put({"ev": "stderr", "data": line})

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait(self, ev, timeout=20, allow_errors=False, **match):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                e = self.events.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                break
            self.seen.append(e)
            if e["ev"] == "error" and not allow_errors:
                raise AssertionError("xmpp.js: %s" % e)
            if e["ev"] == ev and all(e.get(k) == v for k, v in match.items()):
                return e
        raise AssertionError("no %s from xmpp.js; saw %s" % (ev, [
            x for x in self.seen[-30:] if x["ev"] not in ("in", "out")] +
            [x.get("data", "")[:300] for x in self.seen[-12:]]))

    async def await_(self, ev, **kw):
        return await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.wait(ev, **kw))

    def close(self):
        try:
            self.cmd("quit")
            self.proc.wait(5)
        except Exception:
            self.proc.kill()
            self.proc.wait()
