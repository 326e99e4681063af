"""A raw WebSocket client (RFC 6455) on plain sockets, for the framing
edge cases of xmpp-core's XMPP-over-WebSocket transport (RFC 7395):
it can send what a correct client never would (unmasked frames,
fragments, bad opcodes, oversize lengths)."""

import base64
import hashlib
import os
import socket
import ssl
import struct
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"

TEXT, BINARY, CLOSE, PING, PONG, CONT = 1, 2, 8, 9, 10, 0


class Closed(Exception):
    pass


def http_request(host, port, raw, timeout=10, tls=False):
    """Sends raw bytes, returns (socket, status, headers dict lowercased,
    what followed the headers); tls: HTTPS (any certificate)."""
    s = socket.create_connection((host, port), timeout=timeout)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname="localhost")
    s.sendall(raw)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return s, status, hdrs, rest


class WS:
    """One WebSocket connection to /ws with the xmpp subprotocol."""

    def __init__(self, port, host="127.0.0.1", headers=None, protocol="xmpp",
                 path="/ws", timeout=10, tls=False):
        key = base64.b64encode(os.urandom(16)).decode()
        hdr = ("GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n" % (path, key))
        if protocol:
            hdr += "Sec-WebSocket-Protocol: %s\r\n" % protocol
        for k, v in (headers or {}).items():
            hdr += "%s: %s\r\n" % (k, v)
        hdr += "\r\n"
        self.sock, self.status, self.headers, self.buf = http_request(
            host, port, hdr.encode(), timeout, tls)
        self.timeout = timeout
        if self.status == 101:
            want = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            assert self.headers.get("sec-websocket-accept") == want, self.headers
        self.close_code = None

    # ---- sending ----
    def frame(self, op, payload=b"", fin=True, mask=True, rsv=0, length=None):
        if isinstance(payload, str):
            payload = payload.encode()
        b0 = (0x80 if fin else 0) | (rsv << 4) | op
        n = len(payload) if length is None else length
        if n < 126:
            head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n <= 0xffff:
            head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if mask:
            key = os.urandom(4)
            payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
            head += key
        return head + payload

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, text):
        self.send_raw(self.frame(TEXT, text))

    def open(self, to="localhost"):
        self.send("<open xmlns='%s' to='%s' version='1.0'/>" % (NS_FRAMING, to))

    # ---- receiving ----
    def _fill(self, n, deadline):
        while len(self.buf) < n:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                raise TimeoutError("no frame")
            if not chunk:
                raise Closed("connection closed")
            self.buf += chunk

    def recv_frame(self, timeout=None):
        """(fin, opcode, payload) of the next server frame."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self._fill(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        assert b1 & 0x80 == 0, "server frames are never masked"
        n, off = b1 & 0x7f, 2
        if n == 126:
            self._fill(4, deadline)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._fill(10, deadline)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._fill(off + n, deadline)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return bool(b0 & 0x80), b0 & 0x0f, payload

    def recv(self, timeout=None):
        """The next text message (pings answered, pongs skipped)."""
        while True:
            fin, op, p = self.recv_frame(timeout)
            assert fin, "the server does not fragment"
            if op == TEXT:
                return p.decode()
            if op == PING:
                self.send_raw(self.frame(PONG, p))
                continue
            if op == PONG:
                continue
            if op == CLOSE:
                self.close_code = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else 1005
                raise Closed("close frame %s" % self.close_code)
            raise AssertionError("unexpected opcode %d" % op)

    def recv_until(self, pred, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        seen = []
        while True:
            m = self.recv(max(0.1, deadline - time.monotonic()))
            seen.append(m)
            if pred(m):
                return m, seen

    def expect_close(self, timeout=None):
        """The close code of the server's close frame (messages before it
        are returned too), then the TCP close."""
        seen = []
        try:
            while True:
                seen.append(self.recv(timeout))
        except Closed:
            pass
        return self.close_code, seen

    def eof(self, timeout=10):
        """True once the server closed the TCP connection."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return True
            if not chunk:
                return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
