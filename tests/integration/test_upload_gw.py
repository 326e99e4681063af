"""upload-gw against real clients (curl, http.client, raw sockets).

Every MAC is computed here, independently of the daemon, the way the XMPP
servers compute it: ejabberd's external_secret ("v": path + " " + size)
and Prosody's mod_http_upload_external ("v2"/"token": path NUL size NUL
type)."""

import hashlib
import hmac
import http.client
import os
import signal
import socket
import stat
import subprocess
import threading
import time
import urllib.parse

import pytest

from edgetest import Daemon, binary, free_port, run, SAN

SECRET = "s3cr3t-for-tests"


def mac_v1(path, size, secret=SECRET):
    return hmac.new(secret.encode(), ("%s %d" % (path, size)).encode(),
                    hashlib.sha256).hexdigest()


def mac_v2(path, size, ctype, secret=SECRET):
    msg = path.encode() + b"\0" + str(size).encode() + b"\0" + ctype.encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def quote(path):
    return urllib.parse.quote(path, safe="/")


class Gw:
    """A running upload-gw with its own store and config."""

    def __init__(self, tmp, extra="", listen=None, secret=SECRET, start=True,
                 notify=True):
        self.tmp = str(tmp)
        self.store = os.path.join(self.tmp, "store")
        self.port = free_port()
        self.conf = os.path.join(self.tmp, "config.toml")
        self.secret_file = os.path.join(self.tmp, "secret")
        self.write_secret(secret)
        if listen is None:
            listen = 'listen = ["127.0.0.1:%d", "[::1]:%d"]' % (self.port, self.port)
        with open(self.conf, "w") as f:
            f.write('storeDir = "%s"\nuploadSubDir = "upload/"\n'
                    'secret_file = "%s"\n%s\n%s\n'
                    % (self.store, self.secret_file, listen, extra))
        self.d = None
        if start:
            self.d = Daemon([binary("upload-gw"), "-c", self.conf], notify=notify)
        if start and not notify:
            # Without sd_notify (the private notify socket is root's):
            # wait for the listener.
            deadline = time.time() + 15
            while True:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    break
                except OSError:
                    assert time.time() < deadline and self.d.proc.poll() is None, \
                        self.d.log()
                    time.sleep(0.05)

    def write_secret(self, secret):
        fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, (secret + "\n").encode())
        os.close(fd)

    def conn(self, host="127.0.0.1"):
        return http.client.HTTPConnection(host, self.port, timeout=30)

    def request(self, method, url, body=None, headers=None, host="127.0.0.1"):
        c = self.conn(host)
        try:
            c.request(method, url, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
        finally:
            c.close()

    def put(self, path, body, mac=None, kind="v", ctype=None, headers=None):
        if mac is None:
            mac = mac_v1(path, len(body))
        h = dict(headers or {})
        if ctype is not None:
            h["Content-Type"] = ctype
        url = "/upload/%s?%s=%s" % (quote(path), kind, mac)
        return self.request("PUT", url, body=body, headers=h)

    def get(self, path, headers=None, method="GET"):
        return self.request(method, "/upload/" + quote(path), headers=headers)

    def files(self):
        out = []
        for root, dirs, names in os.walk(self.store):
            for n in names:
                out.append(os.path.relpath(os.path.join(root, n), self.store))
        return sorted(out)

    def raw(self, data, read=True, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            s.sendall(data)
            if not read:
                return b""
            buf = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                buf += chunk
            return buf
        finally:
            s.close()

    def stop(self):
        return self.d.stop()


@pytest.fixture(params=["per-connection", "pool"])
def gw(tmp_path, request):
    # Both threading models: a thread per connection (default), a pool.
    g = Gw(tmp_path, extra="threads = 2" if request.param == "pool" else "")
    yield g
    if g.d.proc.poll() is None:
        g.stop()


def status_of(resp):
    return int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/1.1") else None


# --- uploads as the XMPP servers sign them ------------------------------

def test_ejabberd_v1_unicode_name(gw):
    # ejabberd: <sha1 of user>/<random>/<file>, file url-encoded in the URL,
    # MAC over the decoded path.
    path = "0a1b2c3d/R4nd0m/Fotó 1 (2).jpg"
    body = os.urandom(5000)
    st, h, _ = gw.put(path, body)
    assert st == 201
    assert "v=" not in gw.d.log() and mac_v1(path, len(body)) not in gw.d.log()
    st, h, data = gw.get(path)
    assert st == 200 and data == body
    assert h["content-type"] == "image/jpeg"
    assert h["content-length"] == str(len(body))
    assert "content-disposition" not in h
    assert gw.files() == [path]
    mode = os.stat(os.path.join(gw.store, path)).st_mode
    assert stat.S_IMODE(mode) == 0o644


def test_prosody_v2_client_type(gw):
    # Prosody signs the type the client declared and the client sends it.
    path = "4f2c-uuid/voice message.m4a"
    body = b"x" * 1234
    mac = mac_v2(path, len(body), "audio/x-custom")
    st, _, _ = gw.put(path, body, mac=mac, kind="v2", ctype="audio/x-custom")
    assert st == 201
    assert gw.get(path)[2] == body


def test_filer_v2_extension_type(gw):
    # Filer's computation, the Go mime table's type for the extension,
    # serves requests that declare no Content-Type.
    path = "uuid-1/notes.txt"
    body = b"hello world\n"
    mac = mac_v2(path, len(body), "text/plain; charset=utf-8")
    assert gw.put(path, body, mac=mac, kind="token")[0] == 201
    # Unknown extension without Content-Type: application/octet-stream.
    mac = mac_v2("uuid-2/blob.omemo", 3, "application/octet-stream")
    assert gw.put("uuid-2/blob.omemo", b"abc", mac=mac, kind="v2")[0] == 201


def test_v2_mac_binds_the_request_content_type(gw):
    # A v2 MAC covers one type: the request must declare that one.
    path = "ct/photo.png"
    body = b"\x89PNG" + b"x" * 60
    mac = mac_v2(path, len(body), "image/png")
    for other in ("text/html", "image/png; x=1", "application/octet-stream",
                  "IMAGE/PNG"):
        assert gw.put(path, body, mac=mac, kind="v2", ctype=other)[0] == 403, other
    # Filer's extension type does not rescue a MAC for another type.
    mac_foo = mac_v2(path, len(body), "application/x-foo")
    assert gw.put(path, body, mac=mac_foo, kind="v2", ctype="image/png")[0] == 403
    assert gw.put(path, body, mac=mac, kind="token", ctype="text/plain")[0] == 403
    assert gw.files() == []
    assert gw.put(path, body, mac=mac, kind="v2", ctype="image/png")[0] == 201
    assert gw.files() == [path]


def test_empty_file(gw):
    assert gw.put("z/empty.bin", b"")[0] == 201
    st, h, data = gw.get("z/empty.bin")
    assert st == 200 and data == b"" and h["content-length"] == "0"
    assert gw.get("z/empty.bin", {"Range": "bytes=0-"})[0] == 416


def test_mac_form_follows_the_parameter(gw):
    # As Filer: "v" is v1 (path size), "v2" and "token" are v2 (path NUL
    # size NUL type); a MAC under the other name is refused, nothing stored.
    p = "form/x.bin"
    v1 = mac_v1(p, 5)
    v2 = mac_v2(p, 5, "application/octet-stream")
    assert gw.put(p, b"12345", mac=v1, kind="v2")[0] == 403
    assert gw.put(p, b"12345", mac=v1, kind="token")[0] == 403
    assert gw.put(p, b"12345", mac=v2, kind="v")[0] == 403
    assert gw.files() == []
    # Filer's precedence: v2, then token, then v; the first decides.
    url = "/upload/%s?v=%s&v2=%s" % (p, v1, "0" * 64)
    assert gw.request("PUT", url, body=b"12345")[0] == 403
    url = "/upload/%s?v=%s&token=%s" % (p, "0" * 64, v2)
    assert gw.request("PUT", url, body=b"12345")[0] == 201
    assert gw.put("form/y.bin", b"12", mac=mac_v1("form/y.bin", 2), kind="v")[0] == 201
    assert gw.put("form/z.bin", b"1", mac=mac_v2("form/z.bin", 1, "a/b"), kind="v2",
                  ctype="a/b")[0] == 201
    assert gw.files() == ["form/x.bin", "form/y.bin", "form/z.bin"]


def test_curl_put_get_with_expect_continue(gw, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 << 20))
    path = "c/big.bin"
    url = "http://127.0.0.1:%d/upload/%s?v=%s" % (gw.port, path, mac_v1(path, 3 << 20))
    r = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", str(src), url])
    assert r.stdout == "201", r.stderr
    out = tmp_path / "out.bin"
    r = run(["curl", "-sS", "-o", str(out), "-w", "%{http_code}",
             "http://127.0.0.1:%d/upload/%s" % (gw.port, path)])
    assert r.stdout == "200"
    assert out.read_bytes() == src.read_bytes()


# --- every refusal, decided before the body -----------------------------

def test_refusals(tmp_path):
    g = Gw(tmp_path, extra='max_file_size = "1K"')
    try:
        p = "r/file.bin"
        assert g.put(p, b"abc", mac="")[0] == 403
        st, h, _ = g.request("PUT", "/upload/" + p, body=b"abc")
        assert st == 403                                     # no MAC at all
        assert g.put(p, b"abc", mac="0" * 64)[0] == 403      # wrong MAC
        assert g.put(p, b"abc", mac=mac_v1(p, 4))[0] == 403  # MAC for another size
        assert g.put(p, b"abc", mac=mac_v1("r/other.bin", 3))[0] == 403
        assert g.put(p, b"abc", mac=mac_v1(p, 3, "wrong secret"))[0] == 403
        big = b"z" * 2048
        assert g.put(p, big, mac=mac_v1(p, len(big)))[0] == 413
        # No Content-Length (raw HTTP/1.1 request without a body length).
        resp = g.raw(b"PUT /upload/%s?v=%s HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n" % (p.encode(), mac_v1(p, 0).encode()))
        assert status_of(resp) == 411
        # Chunked: no length to check the MAC against.
        resp = g.raw(b"PUT /upload/%s?v=%s HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     b"3\r\nabc\r\n0\r\n\r\n" % (p.encode(), mac_v1(p, 3).encode()))
        assert status_of(resp) == 411
        assert g.files() == []
        # Existing file: 409 and the original untouched.
        assert g.put(p, b"abc")[0] == 201
        assert g.put(p, b"xyz")[0] == 409
        assert g.get(p)[2] == b"abc"
        log = g.stop()
        assert mac_v1(p, 3) not in log and SECRET not in log
        assert '"PUT /upload/r/file.bin" 413' in log
    finally:
        if g.d.proc.poll() is None:
            g.stop()


def read_to_close(s, timeout=10):
    """Everything the server sends until it closes; fails if it does not."""
    s.settimeout(timeout)
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return buf
        buf += chunk


@pytest.mark.parametrize("first,second", [(3, 30), (30, 3), (3, 3)])
def test_two_content_lengths_refused(gw, first, second):
    # RFC 9112 §6.3: differing Content-Length values make the framing
    # invalid: 400 and close (libmicrohttpd alone reads by the first, a
    # proxy might use the last: request smuggling).  Identical copies are
    # refused as well, as nginx refuses them.
    p = "cl/two.txt"
    body = b"abc" + b"GET /upload/x HTTP/1.1\r\nHost: x\r\n\r\n"[:27]
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    try:
        s.sendall(b"PUT /upload/%s?v=%s HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n%s"
                  % (p.encode(), mac_v1(p, first).encode(), first, second,
                     body[:max(first, second)]))
        resp = read_to_close(s)
    finally:
        s.close()
    assert status_of(resp) == 400, resp
    assert resp.count(b"HTTP/1.1 ") == 1, resp   # nothing read as a next request
    assert gw.files() == []
    # Any method: the framing is judged before the method.
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    try:
        s.sendall(b"GET /upload/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                  b"Content-Length: %d\r\n\r\n" % second)
        assert status_of(read_to_close(s)) == 400
    finally:
        s.close()


def test_length_with_chunked_refused(gw):
    # RFC 9112 §6.3 item 3: Content-Length beside Transfer-Encoding.
    p = "cl/te.txt"
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    try:
        s.sendall(b"PUT /upload/%s?v=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                  % (p.encode(), mac_v1(p, 3).encode()))
        assert status_of(read_to_close(s)) == 400
    finally:
        s.close()
    assert gw.files() == []


def test_refused_upload_is_not_read(gw):
    # With Expect: 100-continue the body is never requested on refusal.
    p = "e/x.bin"
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    s.sendall(b"PUT /upload/%s?v=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
              b"Expect: 100-continue\r\n\r\n" % (p.encode(), b"0" * 64))
    resp = s.recv(4096)
    s.close()
    assert status_of(resp) == 403


# --- paths ---------------------------------------------------------------

@pytest.mark.parametrize("raw,code", [
    ("/upload/../etc/passwd", 400),
    ("/upload/a/../../etc/passwd", 400),
    ("/upload/%2e%2e/etc/passwd", 400),
    ("/upload/a/%2E%2E/b", 400),
    ("/upload/a%2fb", 400),
    ("/upload/a%2Fb", 400),
    ("/upload/a%00b", 400),
    ("/upload//etc/passwd", 400),
    ("/upload/a//b", 400),
    ("/upload/./a", 400),
    ("/upload/a%zz", 400),
    ("/upload/a%2", 400),
    ("/upload/.upload-gw.tmp/x", 403),
    ("/upload/.tmp/x", 403),
    ("/upload/a/.hidden", 403),
    ("/upload/%2ehidden", 403),
    ("/upload/a%5cb", 400),
    ("/upload/a%5C..%5Cb", 400),
    ("/upload/a\\b", 400),
    ("/upload/%252e%252e/x", 400),
    ("/upload/a/%252e%252e", 400),
    ("/upload/a/%252f", 400),
    ("/etc/passwd", 404),
    ("/uploadx/a", 404),
    ("/upload/", 403),
    ("/upload/" + "a" * 300, 400),
    ("/upload/" + "/".join(["a"] * 20), 400),
    ("/upload/" + "/".join(["b" * 200] * 8), 414),
])
def test_unsafe_paths(gw, raw, code):
    for method in ("GET", "PUT"):
        req = ("%s %s?v=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
               "Connection: close\r\n\r\n" % (method, raw, "0" * 64)).encode()
        assert status_of(gw.raw(req)) == code, (method, raw)
    assert gw.files() == []


def test_directories_and_symlinks(gw, tmp_path):
    assert gw.put("d/sub/f.txt", b"1")[0] == 201
    assert gw.get("d")[0] == 403
    assert gw.get("d/sub")[0] == 403
    assert gw.request("GET", "/upload/d/sub/")[0] == 403
    assert gw.get("d/missing")[0] == 404
    assert gw.get("d/sub/f.txt/x")[0] == 404
    # Symlinks planted in the store lead nowhere.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"private")
    os.symlink(str(outside / "secret.txt"), os.path.join(gw.store, "link.txt"))
    os.symlink(str(outside), os.path.join(gw.store, "linkdir"))
    os.symlink("d/sub/f.txt", os.path.join(gw.store, "inner.txt"))
    assert gw.get("link.txt")[0] == 403
    assert gw.get("linkdir/secret.txt")[0] == 403
    assert gw.get("inner.txt")[0] == 403
    assert gw.put("linkdir/new.txt", b"x")[0] == 403
    assert gw.put("link.txt", b"x")[0] in (403, 409)
    assert sorted(os.listdir(str(outside))) == ["secret.txt"]
    # PUT below an existing file: conflict.
    assert gw.put("d/sub/f.txt/y", b"x")[0] == 409


# --- bodies that do not match their length -------------------------------

def test_short_and_aborted_bodies_leave_nothing(gw):
    p = "s/short.bin"
    head = (b"PUT /upload/%s?v=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
            % (p.encode(), mac_v1(p, 100000).encode()))
    gw.raw(head + b"x" * 5000, read=False)          # closes mid-body
    s = socket.create_connection(("127.0.0.1", gw.port))
    s.sendall(head + b"y" * 99999)                  # one byte short, then abort
    time.sleep(0.3)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    s.close()
    deadline = time.time() + 5
    while time.time() < deadline and "upload aborted" not in gw.d.log():
        time.sleep(0.05)
    time.sleep(0.2)
    assert gw.files() == []
    assert os.listdir(gw.store) == []
    assert gw.get(p)[0] == 404


def test_over_long_body_stores_only_signed_bytes(gw):
    p = "l/long.bin"
    req = (b"PUT /upload/%s?v=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
           b"Connection: close\r\n\r\n" % (p.encode(), mac_v1(p, 10).encode()))
    resp = gw.raw(req + b"0123456789" + b"EXTRA BYTES")
    assert status_of(resp) == 201
    assert gw.get(p)[2] == b"0123456789"


def test_concurrent_puts_exactly_one_wins(gw):
    p = "race/same.bin"
    n = 8
    size = 200000
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=20)
        s.sendall(b"PUT /upload/%s?v=%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                  b"Connection: close\r\n\r\n" % (p.encode(), mac_v1(p, size).encode(), size))
        s.sendall(bytes([65 + i]) * (size // 2))
        socks.append(s)
    time.sleep(0.2)
    results = [None] * n

    def finish(i):
        socks[i].sendall(bytes([65 + i]) * (size - size // 2))
        buf = b""
        while True:
            c = socks[i].recv(4096)
            if not c:
                break
            buf += c
        results[i] = status_of(buf)
        socks[i].close()

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [409] * (n - 1), results
    winner = results.index(201)
    data = gw.get(p)[2]
    assert data == bytes([65 + winner]) * size
    assert gw.files() == [p]


# --- downloads -----------------------------------------------------------

def test_head_range_conditional(gw):
    p = "g/data.bin"
    body = bytes(range(256)) * 40
    assert gw.put(p, body)[0] == 201
    st, h, data = gw.get(p, method="HEAD")
    assert st == 200 and data == b"" and h["content-length"] == str(len(body))
    assert h["accept-ranges"] == "bytes"
    etag, lm = h["etag"], h["last-modified"]
    st, h, data = gw.get(p, {"Range": "bytes=10-19"})
    assert st == 206 and data == body[10:20]
    assert h["content-range"] == "bytes 10-19/%d" % len(body)
    st, h, data = gw.get(p, {"Range": "bytes=-5"})
    assert st == 206 and data == body[-5:]
    st, h, data = gw.get(p, {"Range": "bytes=10000-"})
    assert st == 206 and data == body[10000:]
    st, h, data = gw.get(p, {"Range": "bytes=20000-"})
    assert st == 416 and h["content-range"] == "bytes */%d" % len(body)
    st, h, data = gw.get(p, {"Range": "bytes=0-1,5-6"})
    assert st == 200 and data == body
    st, h, data = gw.get(p, {"Range": "bytes=0-1", "If-Range": '"other"'})
    assert st == 200 and data == body
    st, h, data = gw.get(p, {"Range": "bytes=0-1", "If-Range": etag})
    assert st == 206 and data == body[:2]
    st, h, data = gw.get(p, {"If-None-Match": etag})
    assert st == 304 and data == b"" and h["etag"] == etag
    st, _, _ = gw.get(p, {"If-None-Match": '"nope", ' + etag})
    assert st == 304
    st, _, _ = gw.get(p, {"If-Modified-Since": lm})
    assert st == 304
    st, _, data = gw.get(p, {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert st == 200 and data == body
    # curl's ranged download agrees.
    r = run(["curl", "-sS", "-r", "100-199", "http://127.0.0.1:%d/upload/%s" % (gw.port, p)],
            text=False)
    assert r.stdout == body[100:200]


@pytest.mark.parametrize("name,ctype,attach", [
    ("a.html", "text/html; charset=utf-8", True),
    ("a.svg", "image/svg+xml", True),
    ("a.xml", "text/xml; charset=utf-8", True),
    ("a.js", "text/javascript; charset=utf-8", True),
    ("a.xhtml", "application/xhtml+xml", True),
    ("a.noext", "application/octet-stream", True),
    ("a.png", "image/png", False),
    ("a.mp4", "video/mp4", False),
    ("a.txt", "text/plain; charset=utf-8", False),
])
def test_no_active_content(gw, name, ctype, attach):
    p = "x/" + name
    assert gw.put(p, b"<script>alert(1)</script>")[0] == 201
    st, h, _ = gw.get(p)
    assert st == 200
    assert h["content-type"] == ctype
    assert h["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in h["content-security-policy"]
    assert "sandbox" in h["content-security-policy"]
    if attach:
        assert h["content-disposition"] == "attachment; filename*=UTF-8''" + name
    else:
        assert "content-disposition" not in h


def test_cors_and_methods(gw):
    st, h, data = gw.request("OPTIONS", "/upload/u/x.jpg", headers={
        "Origin": "https://web.example", "Access-Control-Request-Method": "PUT"})
    assert st == 200 and data == b""
    assert h["access-control-allow-origin"] == "*"
    assert h["access-control-allow-methods"] == "OPTIONS, HEAD, GET, PUT"
    assert h["access-control-allow-headers"] == "Authorization, Content-Type"
    assert h["access-control-allow-credentials"] == "true"
    assert h["access-control-max-age"] == "7200"
    assert h["allow"] == "OPTIONS, HEAD, GET, PUT"
    for m in ("DELETE", "POST", "PATCH"):
        st, h, _ = gw.request(m, "/upload/u/x.jpg", body=b"")
        assert st == 405 and h["allow"] == "OPTIONS, HEAD, GET, PUT"
    # A body sent with another method is never read.
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    s.sendall(b"POST /upload/u/x.jpg HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
    assert status_of(s.recv(4096)) == 405
    s.close()
    # CORS headers on downloads too, as Filer sends them.
    gw.put("u/x.jpg", b"jpg")
    assert gw.get("u/x.jpg")[1]["access-control-allow-origin"] == "*"


def test_log_names_forwarded_client(gw):
    gw.put("f/a.txt", b"a")
    gw.get("f/a.txt", {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"})
    gw.get("f/a.txt", {"X-Real-IP": "2001:db8::5"})
    gw.get("f/a.txt", {"X-Real-IP": "evil\x01"})
    # a request is logged when it completes, which may be just after the
    # client has read the response
    want = ('203.0.113.9 via 127.0.0.1:', '2001:db8::5 via 127.0.0.1:', 'evil\\x01 via')
    deadline = time.time() + 5
    while not all(w in gw.d.log() for w in want) and time.time() < deadline:
        time.sleep(0.05)
    log = gw.d.log()
    assert '203.0.113.9 via 127.0.0.1:' in log
    assert '2001:db8::5 via 127.0.0.1:' in log
    assert 'evil\\x01 via' in log


def test_keepalive_serves_many_requests(gw):
    gw.put("k/a.txt", b"aaa")
    c = gw.conn()
    for _ in range(20):
        c.request("GET", "/upload/k/a.txt")
        r = c.getresponse()
        assert r.status == 200 and r.read() == b"aaa"
    c.close()


# --- listeners -----------------------------------------------------------

def test_ipv6_and_ipv4(gw):
    gw.put("v6/a.txt", b"six")
    assert gw.get("v6/a.txt")[2] == b"six"
    assert gw.request("GET", "/upload/v6/a.txt", host="::1")[2] == b"six"
    r = run(["curl", "-sS", "-g", "http://[::1]:%d/upload/v6/a.txt" % gw.port])
    assert r.stdout == "six"


def test_filer_config_unix_socket(tmp_path):
    # Filer's own keys, in Filer's spellings (Go matches them ignoring case).
    sock = str(tmp_path / "filer.sock")
    store = tmp_path / "files"
    conf = tmp_path / "config.toml"
    conf.write_text('listenport = "%s"\nUnixSocket = true\nsecret = "%s"\n'
                    'StoreDir = "%s/"\nUploadSubDir = "upload/"\n' % (sock, SECRET, store))
    d = Daemon([binary("upload-gw"), "-c", str(conf)])
    try:
        p = "u/sock.txt"
        url = "http://localhost/upload/%s?v=%s" % (p, mac_v1(p, 4))
        r = run(["curl", "-sS", "--unix-socket", sock, "-o", "/dev/null", "-w",
                 "%{http_code}", "-X", "PUT", "--data-binary", "data", url])
        assert r.stdout == "201", r.stderr
        r = run(["curl", "-sS", "--unix-socket", sock, "http://localhost/upload/" + p])
        assert r.stdout == "data"
        assert (store / "u" / "sock.txt").read_bytes() == b"data"
    finally:
        d.stop()
    assert not os.path.exists(sock)


# --- configuration -------------------------------------------------------

def test_check_config_good_and_bad(tmp_path):
    def check(text, mode=0o600):
        conf = tmp_path / "c.toml"
        conf.write_text(text)
        return run([binary("upload-gw"), "-t", "-c", str(conf)])

    sec = tmp_path / "sec"
    sec.write_text("abc\n")
    os.chmod(str(sec), 0o600)
    good = 'listenport = "[::]:5050"\nsecret = "x"\nstoreDir = "/tmp/x/"\nuploadSubDir = "upload/"\n'
    r = check(good)
    assert r.returncode == 0, r.stderr
    r = check('storeDir = "/s"\nsecret_file = "%s"\nlisten = ["127.0.0.1:1", "[::1]:1"]\n'
              'max_file_size = "100M"\nexpire_after = "30d"\nexpire_interval = "10m"\n'
              'user = "nobody"\nlog_level = "debug"\nmax_connections = 100\n'
              'max_connections_per_ip = 10\nconnection_timeout = "30s"\nthreads = 2\n'
              'fsync = false\nconnection_memory = "64K"\nshutdown_timeout = "3s"\n'
              'socket_mode = "0660"\n' % sec)
    assert r.returncode == 0, r.stderr
    bad = [
        ('listenport = "[::]:5050"\nstoreDir = "/s"\n', "c.toml: secret: required"),
        (good + "secrte = 1\n", "c.toml:5: secrte: unknown key"),
        (good + "max_file_size = \"12Q\"\n", "c.toml:5: max_file_size:"),
        (good + "expire_after = true\n", "c.toml:5: expire_after:"),
        (good + 'listen = ["example.org:80"]\n', "c.toml:5: listen:"),
        ('listenport = "[::]:5050"\nsecret = "x"\n', "storeDir: required"),
        (good + 'uploadSubDir2 = "x"\n', "uploadSubDir2"),
        ('secret = "x"\nstoreDir = "/s"\nuploadSubDir = "../x"\n', "c.toml:3: uploadSubDir:"),
        (good + 'threads = 300\n', "c.toml:5: threads:"),
        (good + 'secret_file = "%s"\n' % sec, "secret_file: give either"),
        ('storeDir = "/s"\nsecret = "x"\nlisten = "127.0.0.1:1"\n', "c.toml:3: listen:"),
        ("storeDir = /s\n", "c.toml:1:"),
    ]
    for text, msg in bad:
        r = check(text)
        assert r.returncode == 1, text
        assert msg in r.stderr, (text, r.stderr)
    # A secret file others can read is refused.
    os.chmod(str(sec), 0o644)
    r = check('storeDir = "/s"\nsecret_file = "%s"\n' % sec)
    assert r.returncode == 1 and "c.toml:2: secret_file:" in r.stderr, r.stderr


def test_example_config_checks(tmp_path):
    # deploy/upload-gw.toml.example, with its paths pointed at tmp_path.
    from edgetest import REPO
    text = open(os.path.join(REPO, "deploy", "upload-gw.toml.example")).read()
    sec = tmp_path / "secret"
    sec.write_text("abc\n")
    os.chmod(str(sec), 0o600)
    text = text.replace("/etc/edge/secrets/upload.secret", str(sec))
    conf = tmp_path / "c.toml"
    conf.write_text(text)
    r = run([binary("upload-gw"), "-t", "-c", str(conf)])
    assert r.returncode == 0, r.stderr


def test_keys_match_ignoring_case(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text('LISTENPORT = "127.0.0.1:1"\nSECRET = "x"\nstoredir = "/s"\n'
                    'uploadsubdir = "upload/"\nunixsocket = false\n')
    assert run([binary("upload-gw"), "-t", "-c", str(conf)]).returncode == 0


def test_sighup_rotates_secret_and_keeps_old_on_error(tmp_path):
    g = Gw(tmp_path)
    try:
        assert g.put("h/1.txt", b"one")[0] == 201
        g.write_secret("new-secret")
        g.d.signal(signal.SIGHUP)
        g.d.wait_notify("RELOADING=1")
        deadline = time.time() + 5
        while "configuration reloaded" not in g.d.log() and time.time() < deadline:
            time.sleep(0.05)
        assert g.put("h/2.txt", b"two")[0] == 403
        assert g.put("h/2.txt", b"two", mac=mac_v1("h/2.txt", 3, "new-secret"))[0] == 201
        # A broken config is reported and the running one kept.
        with open(g.conf, "a") as f:
            f.write("bogus = 1\n")
        g.d.signal(signal.SIGHUP)
        deadline = time.time() + 5
        while "reload failed" not in g.d.log() and time.time() < deadline:
            time.sleep(0.05)
        assert "bogus: unknown key" in g.d.log()
        assert g.put("h/3.txt", b"3", mac=mac_v1("h/3.txt", 1, "new-secret"))[0] == 201
    finally:
        g.stop()


# --- expiry --------------------------------------------------------------

def test_expiry_removes_old_files_and_empty_dirs(tmp_path):
    g = Gw(tmp_path, extra='expire_after = "1h"\nexpire_interval = "1s"')
    try:
        for p in ("old/a/1.txt", "old/a/2.txt", "new/b/3.txt", "mixed/4.txt", "mixed/5.txt"):
            assert g.put(p, b"data")[0] == 201
        past = time.time() - 7200
        for p in ("old/a/1.txt", "old/a/2.txt", "mixed/4.txt"):
            os.utime(os.path.join(g.store, p), (past, past))
        for d in ("old/a", "old", "mixed"):
            os.utime(os.path.join(g.store, d), (past, past))
        deadline = time.time() + 10
        while time.time() < deadline and os.path.exists(os.path.join(g.store, "old")):
            time.sleep(0.1)
        assert g.files() == ["mixed/5.txt", "new/b/3.txt"]
        assert sorted(os.listdir(g.store)) == ["mixed", "new"]
        assert g.get("mixed/5.txt")[0] == 200
        assert "expiry: removed 3 file(s)" in g.d.log()
    finally:
        g.stop()


# --- resources -----------------------------------------------------------

def rss_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


def test_memory_flat_on_large_upload(tmp_path):
    size = 256 << 20
    g = Gw(tmp_path, extra='max_file_size = "1G"')
    try:
        g.put("warm/up.bin", b"w" * 100000)
        before = rss_kib(g.d.proc.pid, "VmRSS")
        p = "big/file.bin"
        chunk = os.urandom(1 << 20)
        c = g.conn()
        c.putrequest("PUT", "/upload/%s?v=%s" % (p, mac_v1(p, size)))
        c.putheader("Content-Length", str(size))
        c.endheaders()
        peak = before
        h = hashlib.sha256()
        for i in range(size >> 20):
            c.send(chunk)
            h.update(chunk)
            if i % 32 == 0:
                peak = max(peak, rss_kib(g.d.proc.pid, "VmRSS"))
        r = c.getresponse()
        r.read()
        c.close()
        assert r.status == 201
        peak = max(peak, rss_kib(g.d.proc.pid, "VmRSS"))
        grow = peak - before
        assert grow < (24 if SAN else 8) * 1024, "RSS grew by %d KiB" % grow
        with open(os.path.join(g.store, p), "rb") as f:
            assert hashlib.sha256(f.read()).digest() == h.digest()
    finally:
        g.stop()


def test_sigterm_during_upload(tmp_path):
    g = Gw(tmp_path, extra='shutdown_timeout = "1s"')
    p = "t/slow.bin"
    s = socket.create_connection(("127.0.0.1", g.port))
    s.sendall(b"PUT /upload/%s?v=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc"
              % (p.encode(), mac_v1(p, 1000).encode()))
    time.sleep(0.2)
    t0 = time.time()
    log = g.stop()
    assert time.time() - t0 < 5
    s.close()
    assert g.files() == []
    assert "upload aborted, discarded" in log or "shutdown" in log


def test_connection_limits_and_timeout(tmp_path):
    g = Gw(tmp_path, extra='max_connections_per_ip = 2\nconnection_timeout = "1s"\n'
                           'per_ip_exempt = []')
    try:
        a = socket.create_connection(("127.0.0.1", g.port), timeout=5)
        b = socket.create_connection(("127.0.0.1", g.port), timeout=5)
        time.sleep(0.2)
        c = socket.create_connection(("127.0.0.1", g.port), timeout=5)
        # The third connection from this address is closed unanswered.
        c.sendall(b"GET /upload/x HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            assert c.recv(100) == b""
        except ConnectionResetError:
            pass
        c.close()
        # Idle connections are closed after connection_timeout.
        t0 = time.time()
        assert a.recv(100) == b""
        assert time.time() - t0 < 4
        a.close()
        b.close()
        time.sleep(0.2)
        assert g.get("x")[0] == 404
    finally:
        g.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_drops_to_user_and_checks_the_store(tmp_path):
    import pwd
    nobody = pwd.getpwnam("nobody")
    # A store the daemon creates is handed to the user it drops to.
    g = Gw(tmp_path, extra='user = "nobody"', notify=False)
    try:
        assert g.put("u/f.txt", b"mine")[0] == 201
        st = os.stat(os.path.join(g.store, "u", "f.txt"))
        assert st.st_uid == nobody.pw_uid
        with open("/proc/%d/status" % g.d.proc.pid) as f:
            uids = [l for l in f if l.startswith("Uid:")][0].split()[1:]
        assert uids == [str(nobody.pw_uid)] * 4
    finally:
        g.stop()
    # A store that user cannot write to is refused at start-up.
    other = tmp_path / "other"
    other.mkdir()
    g = Gw(other, extra='user = "nobody"', start=False)
    os.makedirs(g.store, mode=0o755)
    r = run([binary("upload-gw"), "-c", g.conf], timeout=20)
    assert r.returncode == 1
    assert "storeDir" in r.stderr and "cannot create files" in r.stderr, r.stderr


def test_dual_stack_listenport(tmp_path):
    # Filer's usual listenport: one socket for IPv4 and IPv6.
    g = Gw(tmp_path, start=False)
    with open(g.conf) as f:
        text = f.read().replace('listen = ["127.0.0.1:%d", "[::1]:%d"]' % (g.port, g.port),
                                'listenport = "[::]:%d"' % g.port)
    with open(g.conf, "w") as f:
        f.write(text)
    g.d = Daemon([binary("upload-gw"), "-c", g.conf])
    try:
        assert g.put("ds/a.txt", b"both")[0] == 201
        assert g.request("GET", "/upload/ds/a.txt", host="::1")[2] == b"both"
        assert g.request("GET", "/upload/ds/a.txt", host="127.0.0.1")[2] == b"both"
        assert "listening on [::]:%d" % g.port in g.d.log()
    finally:
        g.stop()


# --- connection starvation (issue 20) ------------------------------------

def wait_until(cond, timeout, what):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def closed_by_server(s):
    """True once the server closed (or reset) s; never blocks."""
    import select
    p = select.poll()
    p.register(s, select.POLLIN)
    if not p.poll(0):
        return False
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def open_by_server(socks):
    """How many of socks the server still holds open."""
    return sum(not closed_by_server(s) for s in socks)


def daemon_sockets(pid):
    fd_dir = "/proc/%d/fd" % pid
    n = 0
    for fd in os.listdir(fd_dir):
        try:
            n += os.readlink(os.path.join(fd_dir, fd)).startswith("socket:")
        except OSError:
            pass
    return n


def curl_get(port, path, source):
    return subprocess.run(["curl", "-sS", "--max-time", "10", "--interface", source,
                           "-o", "-", "-w", "\n%{http_code}",
                           "http://127.0.0.1:%d/upload/%s" % (port, path)],
                          capture_output=True, timeout=30)


def test_slow_connections_do_not_starve_a_get(tmp_path):
    # Reachable from anywhere (0.0.0.0; the traffic stays on loopback) with
    # the default limits.  1,100 connections from one address that each
    # send one byte held every one of the 1,024 slots before: the GET failed.
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    port = free_port()
    g = Gw(tmp_path, listen='listen = ["0.0.0.0:%d"]' % port, start=False)
    g.port = port
    g.d = Daemon([binary("upload-gw"), "-c", g.conf])
    attackers = []
    try:
        assert g.put("s/file.txt", b"still served")[0] == 201
        n = 1100
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.settimeout(10)
            s.connect(("127.0.0.1", port))
            s.sendall(b"G")
            attackers.append(s)
        # Settled: every attacker connection accepted and held, or closed.
        pid = g.d.proc.pid
        wait_until(lambda: (daemon_sockets(pid) - 1) + (n - open_by_server(attackers)) >= n
                   or daemon_sockets(pid) - 1 >= 1024, 60, "the daemon to take them")
        for source in ("127.0.0.3", "127.0.0.1"):
            r = curl_get(port, "s/file.txt", source)
            assert r.returncode == 0 and r.stdout == b"still served\n200", \
                (source, r.returncode, r.stdout, r.stderr)
        assert open_by_server(attackers) <= 32
        wait_until(lambda: "connection(s) over max_connections_per_ip" in g.d.log(),
                   10, "the refusals to be logged")
    finally:
        for s in attackers:
            s.close()
        g.stop()


def test_header_deadline_closes_trickling_connections(tmp_path):
    # libmicrohttpd's timeout is for inactivity: a byte every 0.3 s kept a
    # connection forever.  Headers must be complete within header_timeout.
    g = Gw(tmp_path, extra='header_timeout = "2s"\nconnection_timeout = "30s"')
    socks = []
    try:
        line = b"GET /upload/x HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
        t0 = time.time()
        for _ in range(3):
            socks.append(socket.create_connection(("127.0.0.1", g.port), timeout=10))
        closed_at = {}
        i = 0
        while len(closed_at) < len(socks):
            assert time.time() - t0 < 15, "still open after 15 s"
            for k, s in enumerate(socks):
                if k in closed_at:
                    continue
                try:
                    s.sendall(line[i:i + 1])
                except OSError:
                    pass
                if closed_by_server(s):
                    closed_at[k] = time.time() - t0
            i += 1
            time.sleep(0.3)
        assert all(1.5 <= t <= 10 for t in closed_at.values()), closed_at
        # A slow body is not a slow header: headers at once, then the body
        # over longer than header_timeout.
        p = "slow/body.bin"
        body = b"b" * 8
        s = socket.create_connection(("127.0.0.1", g.port), timeout=20)
        socks.append(s)
        s.sendall(b"PUT /upload/%s?v=%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                  % (p.encode(), mac_v1(p, len(body)).encode(), len(body)))
        for k in range(len(body)):
            time.sleep(0.4)
            s.sendall(body[k:k + 1])
        resp = s.recv(4096)
        assert status_of(resp) == 201, resp
        # Kept alive after it, the connection gets header_timeout again.
        t1 = time.time()
        assert s.recv(4096) == b""
        assert 1.5 <= time.time() - t1 <= 10
        assert g.files() == [p]
    finally:
        for s in socks:
            s.close()
        g.stop()
