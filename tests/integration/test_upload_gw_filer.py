"""upload-gw as a drop-in Prosody Filer: Filer's own configuration file,
its command line conventions, names no upload may take, and what an
interrupted upload leaves behind (nothing, even after SIGKILL)."""

import os
import signal
import socket
import time

from edgetest import binary, run
from test_upload_gw import Gw, mac_v1, mac_v2, SECRET, status_of

# Prosody Filer's config.example.toml (develop, 2024), key for key and
# comment for comment, as a Filer user would copy it.
FILER_EXAMPLE = '''###
### Server configuration
### (rename this file to "config.toml"!)

### IP address and port to listen to, e.g. "[::]:5050" to listen to ipv6 and ipv4 addresses
listenPort      = "[::]:5050"

### Secret (must match the one in prosody.conf.lua!)
secret          = "mysecret"

### Where to store the uploaded files
storeDir        = "./uploads/"

### Subdirectory for HTTP upload / download requests (usually "upload/")
uploadSubDir    = "upload/"

### Log level: "info", "warn" or "error"
logLevel        = "warn"
'''


def check(tmp_path, text):
    conf = tmp_path / "config.toml"
    conf.write_text(text)
    return run([binary("upload-gw"), "-t", "-c", str(conf)], cwd=str(tmp_path))


# --- configuration and command line ---------------------------------------

def test_filer_example_config_accepted_as_is(tmp_path):
    r = check(tmp_path, FILER_EXAMPLE)
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout
    # Every Filer key, in the struct's own spelling too (Go ignores case).
    r = check(tmp_path, 'ListenPort = "127.0.0.1:5050"\nUnixSocket = false\n'
              'Secret = "x"\nStoreDir = "/s"\nUploadSubDir = "upload/"\n'
              'LogLevel = "info"\n')
    assert r.returncode == 0, r.stderr
    for lvl in ("info", "warn", "error"):
        assert check(tmp_path, FILER_EXAMPLE.replace('"warn"', '"%s"' % lvl)).returncode == 0


def test_filer_log_level_refusals(tmp_path):
    r = check(tmp_path, FILER_EXAMPLE.replace('"warn"', '"verbose"'))
    assert r.returncode == 1
    assert 'config.toml:18: logLevel: "verbose": expected "info", "warn" or "error"' \
        in r.stderr, r.stderr
    r = check(tmp_path, FILER_EXAMPLE + 'log_level = "debug"\n')
    assert r.returncode == 1 and "logLevel: give either" in r.stderr, r.stderr
    r = check(tmp_path, FILER_EXAMPLE + 'loglevel2 = "x"\n')
    assert r.returncode == 1 and "loglevel2: unknown key" in r.stderr


def test_filer_log_level_applies(tmp_path):
    # logLevel = "error": the per-request info lines are not logged.
    (tmp_path / "q").mkdir()
    (tmp_path / "l").mkdir()
    quiet = Gw(tmp_path / "q", extra='logLevel = "error"')
    loud = Gw(tmp_path / "l", extra='logLevel = "info"')
    try:
        for g in (quiet, loud):
            assert g.put("lv/a.txt", b"abc")[0] == 201
            assert g.get("lv/a.txt")[0] == 200
        time.sleep(0.2)
        assert '"PUT /upload/lv/a.txt" 201' not in quiet.d.log()
        assert '"PUT /upload/lv/a.txt" 201' in loud.d.log()
    finally:
        quiet.stop()
        loud.stop()


def test_help_and_version_exit_zero():
    for args in (["--help"], ["-h"]):
        r = run([binary("upload-gw")] + args)
        assert r.returncode == 0, (args, r.stderr)
        assert r.stdout.startswith("usage: upload-gw") and r.stderr == ""
    for args in (["--version"], ["-V"]):
        r = run([binary("upload-gw")] + args)
        assert r.returncode == 0, (args, r.stderr)
        assert r.stdout.startswith("upload-gw ") and r.stderr == ""
    r = run([binary("upload-gw"), "--bogus"])
    assert r.returncode == 2 and "usage:" in r.stderr and r.stdout == ""
    # "-c --help" names a configuration file, it asks for no help.
    r = run([binary("upload-gw"), "-t", "-c", "--help"])
    assert r.returncode == 1 and "--help" in r.stderr


# --- names ------------------------------------------------------------------

def curl_put(g, raw_path, body_file, mac):
    # --path-as-is: curl sends the path exactly as given, no squashing.
    r = run(["curl", "-sS", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}",
             "-T", str(body_file),
             "http://127.0.0.1:%d%s?v=%s" % (g.port, raw_path, mac)])
    return int(r.stdout)


def test_hidden_and_odd_names_refused(tmp_path):
    g = Gw(tmp_path)
    try:
        body = tmp_path / "body.bin"
        body.write_bytes(b"odd!")
        # (raw path, the name the MAC was computed over, status)
        cases = [
            ("/upload/.tmp/x", ".tmp/x", 403),
            ("/upload/.upload-gw.tmp/x", ".upload-gw.tmp/x", 403),
            ("/upload/a/.htaccess", "a/.htaccess", 403),
            ("/upload/%2Ebashrc", ".bashrc", 403),
            # Backslash: refused raw and encoded, never a separator.
            ("/upload/a%5cb.txt", "a\\b.txt", 400),
            ("/upload/a%5C..%5C..%5Cetc", "a\\..\\..\\etc", 400),
            ("/upload/a\\b.txt", "a\\b.txt", 400),
            # Double encoding: decoded once to "%2e%2e", refused, never
            # decoded a second time.
            ("/upload/%252e%252e/x.txt", "%2e%2e/x.txt", 400),
            ("/upload/x/%252e%252e%252fetc", "x/%2e%2e%2fetc", 400),
            ("/upload/x/%255c.txt", "x/%5c.txt", 400),
        ]
        for raw, signed, code in cases:
            assert curl_put(g, raw, body, mac_v1(signed, 4)) == code, raw
        # Nothing was stored anywhere, under any name, nor outside.
        assert g.files() == []
        assert os.listdir(g.store) == []
        assert sorted(os.listdir(str(tmp_path))) == ["body.bin", "config.toml",
                                                      "secret", "store"]
        # Downloads of hidden names are refused the same way.
        assert g.request("GET", "/upload/.upload-gw.tmp/")[0] == 403
        assert g.request("GET", "/upload/a/.htaccess")[0] == 403
        # A percent sign that is no escape is an ordinary name.
        assert curl_put(g, "/upload/p/100%25%20sure.txt", body,
                        mac_v1("p/100% sure.txt", 4)) == 201
        assert g.files() == ["p/100% sure.txt"]
    finally:
        g.stop()


def test_v2_mac_for_one_type_with_another_via_curl(tmp_path):
    g = Gw(tmp_path)
    try:
        body = tmp_path / "img.png"
        body.write_bytes(b"\x89PNG....")
        p = "ct/img.png"
        mac = mac_v2(p, 8, "image/png")

        def put(ctype, kind="v2", m=mac):
            r = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T",
                     str(body), "-H", "Content-Type: " + ctype,
                     "http://127.0.0.1:%d/upload/%s?%s=%s" % (g.port, p, kind, m)])
            return int(r.stdout)

        assert put("text/html") == 403
        assert put("image/png", kind="v") == 403
        assert put("image/png", kind="v2", m=mac_v1(p, 8)) == 403
        assert g.files() == []
        assert put("image/png") == 201
    finally:
        g.stop()


# --- interrupted uploads ------------------------------------------------------

def start_put(g, p, size, sent):
    s = socket.create_connection(("127.0.0.1", g.port), timeout=20)
    s.sendall(b"PUT /upload/%s?v=%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
              % (p.encode(), mac_v1(p, size).encode(), size))
    chunk = b"k" * (1 << 20)
    left = sent
    while left > 0:
        s.sendall(chunk[:min(left, len(chunk))])
        left -= min(left, len(chunk))
    return s


def wait_log(g, what, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline and what not in g.d.log():
        time.sleep(0.05)
    assert what in g.d.log(), g.d.log()


def test_client_disconnect_mid_body_leaves_nothing(tmp_path):
    # Past several write-back windows, then gone: no file, no temporary.
    g = Gw(tmp_path, extra='max_file_size = "1G"')
    try:
        s = start_put(g, "cut/big.bin", 64 << 20, 21 << 20)
        time.sleep(0.3)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        s.close()
        wait_log(g, "upload aborted, discarded")
        assert g.files() == []
        assert os.listdir(g.store) == []
        assert g.get("cut/big.bin")[0] == 404
        # The same signed URL still works afterwards.
        size = 64 << 20
        c = g.conn()
        c.putrequest("PUT", "/upload/cut/big.bin?v=%s" % mac_v1("cut/big.bin", size))
        c.putheader("Content-Length", str(size))
        c.endheaders()
        for _ in range(64):
            c.send(b"k" * (1 << 20))
        r = c.getresponse()
        r.read()
        c.close()
        assert r.status == 201
        assert os.path.getsize(os.path.join(g.store, "cut/big.bin")) == size
    finally:
        g.stop()


def test_sigkill_mid_body_then_restart_leaves_nothing(tmp_path):
    g = Gw(tmp_path, extra='max_file_size = "1G"')
    s = start_put(g, "kill/big.bin", 32 << 20, 13 << 20)
    time.sleep(0.3)
    g.d.proc.kill()
    g.d.proc.wait()
    g.d.stop(expect_rc=None)
    s.close()
    # An O_TMPFILE dies with the process: nothing visible, nothing named.
    assert g.files() == []
    assert os.listdir(g.store) == []
    # What the fallback (no O_TMPFILE) leaves when killed, planted here:
    # the restart removes it before serving.
    tmpdir = os.path.join(g.store, ".upload-gw.tmp")
    os.mkdir(tmpdir, 0o700)
    with open(os.path.join(tmpdir, "0123456789abcdef0123456789abcdef"), "wb") as f:
        f.write(b"k" * 100000)
    g2 = Gw(tmp_path, extra='max_file_size = "1G"')
    try:
        assert "removed 1 unfinished upload(s) left by an earlier run" in g2.d.log()
        assert not os.path.exists(tmpdir)
        assert os.listdir(g2.store) == []
        assert g2.get("kill/big.bin")[0] == 404
        assert g2.put("kill/small.bin", b"fine")[0] == 201
        assert g2.files() == ["kill/small.bin"]
    finally:
        g2.stop()


def test_sigkill_during_many_uploads(tmp_path):
    # Several uploads in flight, some complete: what was answered 201 is
    # there in full, the rest left no trace.
    g = Gw(tmp_path)
    done = []
    for i in range(4):
        p = "many/done%d.bin" % i
        assert g.put(p, b"d" * 300000, mac=mac_v1(p, 300000))[0] == 201
        done.append(p)
    socks = [start_put(g, "many/part%d.bin" % i, 8 << 20, 5 << 20) for i in range(6)]
    time.sleep(0.3)
    g.d.proc.send_signal(signal.SIGKILL)
    g.d.proc.wait()
    g.d.stop(expect_rc=None)
    for s in socks:
        s.close()
    assert g.files() == sorted(done)
    for p in done:
        assert os.path.getsize(os.path.join(g.store, p)) == 300000
    g2 = Gw(tmp_path)
    try:
        assert g2.files() == sorted(done)
        st = status_of(g2.raw(b"GET /upload/many/done0.bin HTTP/1.1\r\nHost: x\r\n"
                              b"Connection: close\r\n\r\n"))
        assert st == 200
    finally:
        log = g2.stop()
    assert SECRET not in log
