"""A small STUN/TURN client for turnd's integration tests (RFC 8489,
RFC 8656), plus checks of the client itself against the RFC 5769 vectors
so a broken client cannot make the daemon tests pass by accident."""

import base64
import hashlib
import hmac
import os
import socket
import ssl
import struct
import time
import zlib

MAGIC = 0x2112A442

BINDING, ALLOCATE, REFRESH, SEND, DATA, CREATE_PERMISSION, CHANNEL_BIND = \
    0x001, 0x003, 0x004, 0x006, 0x007, 0x008, 0x009
REQUEST, INDICATION, SUCCESS, ERROR = 0x000, 0x010, 0x100, 0x110

A_USERNAME = 0x0006
A_MESSAGE_INTEGRITY = 0x0008
A_ERROR_CODE = 0x0009
A_UNKNOWN_ATTRIBUTES = 0x000A
A_CHANNEL_NUMBER = 0x000C
A_LIFETIME = 0x000D
A_XOR_PEER_ADDRESS = 0x0012
A_DATA = 0x0013
A_REALM = 0x0014
A_NONCE = 0x0015
A_XOR_RELAYED_ADDRESS = 0x0016
A_REQUESTED_ADDRESS_FAMILY = 0x0017
A_EVEN_PORT = 0x0018
A_REQUESTED_TRANSPORT = 0x0019
A_DONT_FRAGMENT = 0x001A
A_MESSAGE_INTEGRITY_SHA256 = 0x001C
A_PASSWORD_ALGORITHM = 0x001D
A_XOR_MAPPED_ADDRESS = 0x0020
A_RESERVATION_TOKEN = 0x0022
A_SOFTWARE = 0x8022
A_FINGERPRINT = 0x8028


def msg_type(method, cls):
    return (method & 0x000F) | ((method & 0x0070) << 1) | ((method & 0x0F80) << 2) | cls


def split_type(t):
    method = (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2)
    return method, t & 0x0110


def pad4(b):
    return b + b"\0" * ((4 - len(b) % 4) % 4)


def xor_addr(addr, tid):
    host, port = addr[0], addr[1]
    xport = port ^ (MAGIC >> 16)
    if ":" in host:
        raw = socket.inet_pton(socket.AF_INET6, host)
        mask = struct.pack("!I", MAGIC) + tid
        return struct.pack("!BBH", 0, 2, xport) + bytes(a ^ b for a, b in zip(raw, mask))
    raw = socket.inet_pton(socket.AF_INET, host)
    return struct.pack("!BBH", 0, 1, xport) + bytes(a ^ b for a, b in zip(raw, struct.pack("!I", MAGIC)))


def unxor_addr(v, tid):
    fam, xport = v[1], struct.unpack("!H", v[2:4])[0]
    port = xport ^ (MAGIC >> 16)
    if fam == 1:
        raw = bytes(a ^ b for a, b in zip(v[4:8], struct.pack("!I", MAGIC)))
        return socket.inet_ntop(socket.AF_INET, raw), port
    mask = struct.pack("!I", MAGIC) + tid
    raw = bytes(a ^ b for a, b in zip(v[4:20], mask))
    return socket.inet_ntop(socket.AF_INET6, raw), port


class Msg:
    def __init__(self, method, cls, tid=None, attrs=None):
        self.method, self.cls = method, cls
        self.tid = tid or os.urandom(12)
        self.attrs = list(attrs or [])

    def add(self, t, v):
        self.attrs.append((t, v))
        return self

    def get(self, t):
        for at, v in self.attrs:
            if at == t:
                return v
        return None

    def error(self):
        v = self.get(A_ERROR_CODE)
        return None if v is None else v[2] * 100 + v[3]

    def encode(self, key=None, sha256=False, fingerprint=False):
        body = b"".join(struct.pack("!HH", t, len(v)) + pad4(v) for t, v in self.attrs)

        def hdr(extra):
            return struct.pack("!HHI", msg_type(self.method, self.cls),
                               len(body) + extra, MAGIC) + self.tid
        if key is not None:
            ml = 32 if sha256 else 20
            mac = hmac.new(key, hdr(4 + ml) + body,
                           hashlib.sha256 if sha256 else hashlib.sha1).digest()
            body += struct.pack("!HH", A_MESSAGE_INTEGRITY_SHA256 if sha256
                                else A_MESSAGE_INTEGRITY, ml) + mac
        if fingerprint:
            crc = zlib.crc32(hdr(8) + body) ^ 0x5354554E
            body += struct.pack("!HHI", A_FINGERPRINT, 4, crc)
        return hdr(0) + body

    @staticmethod
    def decode(data):
        t, length, magic = struct.unpack("!HHI", data[:8])
        assert magic == MAGIC and length + 20 == len(data), "bad STUN framing"
        method, cls = split_type(t)
        m = Msg(method, cls, data[8:20])
        off = 20
        while off < len(data):
            at, al = struct.unpack("!HH", data[off:off + 4])
            m.attrs.append((at, data[off + 4:off + 4 + al]))
            off += 4 + al + (4 - al % 4) % 4
        m.raw = data
        return m

    def check_integrity(self, key):
        """True when MESSAGE-INTEGRITY verifies under key."""
        off = 20
        while off < len(self.raw):
            at, al = struct.unpack("!HH", self.raw[off:off + 4])
            if at == A_MESSAGE_INTEGRITY:
                hdr = bytearray(self.raw[:20])
                struct.pack_into("!H", hdr, 2, off + 24 - 20)
                mac = hmac.new(key, bytes(hdr) + self.raw[20:off], hashlib.sha1).digest()
                return hmac.compare_digest(mac, self.raw[off + 4:off + 24])
            off += 4 + al + (4 - al % 4) % 4
        return False


def rest_credentials(secret, user, ttl=3600, expiry=None):
    username = "%d:%s" % (expiry if expiry is not None else int(time.time()) + ttl, user)
    pw = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest())
    return username, pw.decode()


def lt_key(username, realm, password):
    return hashlib.md5(("%s:%s:%s" % (username, realm, password)).encode()).digest()


# Local UDP ports of clients so far: turnd keeps an allocation for its
# lifetime after the test that made it is over, so a later client that the
# kernel gave the same port would meet it (441 instead of its own answer).
_udp_ports_used = set()


def _fresh_udp_socket(fam, server):
    held = []
    try:
        while True:
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.connect(server)
            key = (fam, s.getsockname()[1])
            if key not in _udp_ports_used:
                _udp_ports_used.add(key)
                return s
            held.append(s)	# kept open meanwhile: the kernel picks another
    finally:
        for h in held:
            h.close()


class Client:
    """One TURN client over UDP, TCP or TLS."""

    def __init__(self, server, transport="udp", family=None, ssl_ctx=None, timeout=2.0):
        self.server = server
        self.transport = transport
        fam = family or (socket.AF_INET6 if ":" in server[0] else socket.AF_INET)
        if transport == "udp":
            self.sock = _fresh_udp_socket(fam, server)
        else:
            raw = socket.create_connection(server, timeout=timeout)
            if transport == "tls":
                ctx = ssl_ctx or ssl._create_unverified_context()
                raw = ctx.wrap_socket(raw, server_hostname="localhost")
            self.sock = raw
        self.sock.settimeout(timeout)
        self.buf = b""
        self.key = None
        self.username = None
        self.realm = None
        self.nonce = None
        self.sha256 = False

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        if self.transport == "udp":
            self.sock.send(data)
        else:
            self.sock.sendall(pad4(data) if data[0] & 0xC0 == 0x40 else data)

    def recv_raw(self, timeout=None):
        """One datagram or stream frame, or None on timeout."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            if self.transport == "udp":
                return self.sock.recv(65536)
            while True:
                if len(self.buf) >= 4:
                    if self.buf[0] & 0xC0 == 0x40:
                        n = struct.unpack("!H", self.buf[2:4])[0]
                        total = 4 + n + (4 - n % 4) % 4
                        if len(self.buf) >= total:
                            f, self.buf = self.buf[:4 + n], self.buf[total:]
                            return f
                    else:
                        total = 20 + struct.unpack("!H", self.buf[2:4])[0]
                        if len(self.buf) >= total:
                            f, self.buf = self.buf[:total], self.buf[total:]
                            return f
                chunk = self.sock.recv(65536)
                if not chunk:
                    return None
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return None

    def recv_msg(self, tid=None, timeout=2.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            d = self.recv_raw(max(0.05, deadline - time.time()))
            if d is None:
                return None
            if d[0] & 0xC0 != 0:
                continue
            m = Msg.decode(d)
            if tid is None or m.tid == tid:
                return m
        return None

    def request(self, m, auth=True, fingerprint=False):
        if auth and self.key is not None:
            m.add(A_USERNAME, self.username.encode())
            m.add(A_REALM, self.realm.encode())
            m.add(A_NONCE, self.nonce)
            data = m.encode(self.key, self.sha256, fingerprint)
        else:
            data = m.encode(fingerprint=fingerprint)
        for _ in range(3):
            self.send_raw(data)
            r = self.recv_msg(m.tid, 1.0)
            if r is not None:
                return r
        raise AssertionError("no response to method 0x%x" % m.method)

    def login(self, username, password):
        """Learns realm and nonce from a 401 and sets the key."""
        r = self.request(Msg(ALLOCATE, REQUEST).add(A_REQUESTED_TRANSPORT, b"\x11\0\0\0"),
                         auth=False)
        assert r.error() == 401, r.error()
        self.realm = r.get(A_REALM).decode()
        self.nonce = r.get(A_NONCE)
        self.username = username
        self.key = lt_key(username, self.realm, password)
        return r

    def auth_request(self, method, attrs=(), fingerprint=False):
        """A request with credentials, retried once on 438 with the new nonce."""
        for _ in range(2):
            tid = os.urandom(12)
            m = Msg(method, REQUEST, tid, attrs=attrs(tid) if callable(attrs) else attrs)
            r = self.request(m, fingerprint=fingerprint)
            if r.error() == 438:
                self.nonce = r.get(A_NONCE)
                continue
            return r
        return r

    def allocate(self, family=None, extra=()):
        attrs = [(A_REQUESTED_TRANSPORT, b"\x11\0\0\0")]
        if family == socket.AF_INET6:
            attrs.append((A_REQUESTED_ADDRESS_FAMILY, b"\x02\0\0\0"))
        attrs.extend(extra)
        return self.auth_request(ALLOCATE, attrs)

    def relayed(self, r):
        return unxor_addr(r.get(A_XOR_RELAYED_ADDRESS), r.tid)

    def permit(self, *peers):
        return self.auth_request(CREATE_PERMISSION, lambda tid: [
            (A_XOR_PEER_ADDRESS, xor_addr(p, tid)) for p in peers])

    def channel_bind(self, num, peer):
        return self.auth_request(CHANNEL_BIND, lambda tid: [
            (A_CHANNEL_NUMBER, struct.pack("!HH", num, 0)),
            (A_XOR_PEER_ADDRESS, xor_addr(peer, tid))])

    def send_indication(self, peer, data):
        m = Msg(SEND, INDICATION)
        m.add(A_XOR_PEER_ADDRESS, xor_addr(peer, m.tid)).add(A_DATA, data)
        self.send_raw(m.encode())

    def channel_data(self, num, data):
        self.send_raw(struct.pack("!HH", num, len(data)) + data)


# The client's own checks, against RFC 5769 §2.2 (so the daemon tests rest
# on a codec known to be right).
RFC5769_V4 = bytes.fromhex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b"
    "7465737420766563746f7220" "002000080001a147e112a643"
    "000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7" "80280004c07d4c96")


def test_client_codec_rfc5769():
    m = Msg.decode(RFC5769_V4)
    assert (m.method, m.cls) == (BINDING, SUCCESS)
    assert unxor_addr(m.get(A_XOR_MAPPED_ADDRESS), m.tid) == ("192.0.2.1", 32853)
    assert m.check_integrity(b"VOkJxbRl1RmTxUk/WvJxBt")
    again = Msg(BINDING, SUCCESS, m.tid, [(A_SOFTWARE, b"test vector"),
                                           (A_XOR_MAPPED_ADDRESS, m.get(A_XOR_MAPPED_ADDRESS))])
    enc = again.encode(b"VOkJxbRl1RmTxUk/WvJxBt", fingerprint=True)
    # Same bytes except the SOFTWARE padding (space in the RFC, zero here).
    assert enc[:32] == RFC5769_V4[:32] and enc[36:44] == RFC5769_V4[36:44]
    assert len(enc) == len(RFC5769_V4)


# --- a turnd under test -------------------------------------------------

SECRET = "integration-secret-0123456789"


def free_udp_tcp_port():
    """A port free for UDP and TCP on 127.0.0.1 and ::1."""
    from edgetest import _port_free, free_port
    for _ in range(50):
        p = free_port(socket.SOCK_STREAM)
        if _port_free(p, socket.SOCK_DGRAM):
            return p
    raise RuntimeError("no free port")


def make_cert(d, name="cert"):
    from edgetest import run
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-keyout", key, "-out", crt])
    assert r.returncode == 0, r.stderr
    os.chmod(key, 0o600)
    return crt, key


def doc_peers(n, net="198.51.100."):
    """n documentation addresses (allow them in the config) that are not
    this host's: turnd refuses every address of the host as a peer."""
    out = []
    for i in range(1, 255):
        a = net + str(i)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((a, 0))
            continue            # ours
        except OSError:
            out.append(a)
        finally:
            s.close()
        if len(out) == n:
            return out
    raise RuntimeError("not %d addresses in %s0/24 off this host" % (n, net))


class Turnd:
    """turnd on 127.0.0.1 and ::1 with a REST secret file and a config
    assembled from the given TOML fragments."""

    def __init__(self, tmp, root="", relay="", limits="", tls=False, allow_loopback=True,
                 listen=None, notify=True, allow=(), argv_prefix=()):
        from edgetest import Daemon, binary
        self.tmp = str(tmp)
        self.port = free_udp_tcp_port()
        self.tls_port = free_udp_tcp_port() if tls else None
        secret = os.path.join(self.tmp, "turn.secret")
        with open(secret, "w") as f:
            f.write(SECRET + "\n")
        os.chmod(secret, 0o600)
        lines = [(listen or 'listen = ["127.0.0.1:%d", "[::1]:%d"]') % {"port": self.port}
                 if listen else 'listen = ["127.0.0.1:%d", "[::1]:%d"]' % (self.port, self.port),
                 'realm = "localhost"', 'secret_file = "%s"' % secret,
                 'log_level = "info"']
        if tls:
            self.cert, self.key = make_cert(self.tmp)
            lines += ['tls_listen = ["127.0.0.1:%d", "[::1]:%d"]' % (self.tls_port, self.tls_port),
                      'tls_cert = "%s"' % self.cert, 'tls_key = "%s"' % self.key]
        lines.append(root)
        lines.append("[relay]")
        lines.append('ports = "20000-29999"')
        allow = (["127.0.0.1", "::1"] if allow_loopback else []) + list(allow)
        if allow:
            lines.append("allow_peers = [%s]" % ", ".join('"%s"' % a for a in allow))
        lines.append(relay)
        if limits:
            lines += ["[limits]", limits]
        self.conf = os.path.join(self.tmp, "turnd.toml")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.d = Daemon(list(argv_prefix) + [binary("turnd"), "-c", self.conf], notify=notify)
        if not notify:
            # No sd_notify (an unprivileged daemon cannot reach the test's
            # private socket): wait until Binding answers.
            deadline = time.time() + 10
            while time.time() < deadline:
                try:
                    c = self.client(timeout=0.2)
                    c.send_raw(Msg(BINDING, REQUEST).encode())
                    answered = c.recv_msg(timeout=0.2) is not None
                    c.close()
                    if answered:
                        break
                except OSError:
                    time.sleep(0.1)

    def addr(self, v6=False):
        return ("::1" if v6 else "127.0.0.1", self.port)

    def client(self, transport="udp", v6=False, **kw):
        port = self.tls_port if transport == "tls" else self.port
        return Client(("::1" if v6 else "127.0.0.1", port), transport, **kw)

    def logged_in(self, user=None, transport="udp", v6=False, secret=SECRET, **kw):
        """A client that knows realm, nonce and key (a fresh user unless named)."""
        c = self.client(transport, v6, **kw)
        user = user or "u" + os.urandom(4).hex()
        u, p = rest_credentials(secret, user)
        c.login(u, p)
        return c

    def stop(self):
        return self.d.stop()


class Peer:
    """A UDP peer on loopback that records what it receives."""

    def __init__(self, v6=False):
        self.sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("::1" if v6 else "127.0.0.1", 0))
        self.addr = self.sock.getsockname()[:2]
        self.sock.settimeout(1.0)

    def recv(self, timeout=1.0):
        self.sock.settimeout(timeout)
        try:
            return self.sock.recvfrom(65536)
        except (socket.timeout, TimeoutError):
            return None

    def close(self):
        self.sock.close()
