"""upload-gw behind a real Prosody 0.12 with mod_http_upload_external
(Debian's prosody-modules): a slixmpp client asks Prosody for XEP-0363
slots, signed with protocol v1 ("v", as ejabberd signs) and v2, then
uploads to the URL exactly as issued, with the Content-Type it declared,
and downloads it back."""

import asyncio
import http.client
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import xml.etree.ElementTree as ET

import pytest

from edgetest import free_port, run
from test_upload_gw import Gw, SECRET

PROSODY = shutil.which("prosody")
NS = "urn:xmpp:http:upload:0"
MODULE = "/usr/lib/prosody/modules/mod_http_upload_external/mod_http_upload_external.lua"

pytestmark = pytest.mark.skipif(
    PROSODY is None or not os.path.exists(MODULE),
    reason="prosody and prosody-modules are installed by deploy/deps.sh")


def prosody_config(tmp, c2s_port, gw_port):
    return """
run_as_root = true
pidfile = "{tmp}/prosody.pid"
data_path = "{tmp}/data"
certificates = "{tmp}/certs"
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{tmp}/prosody.log" }} }}
modules_enabled = {{ "roster", "saslauth", "disco", "ping", "posix" }}
modules_disabled = {{ "s2s" }}
c2s_ports = {{ {c2s} }}
c2s_interfaces = {{ "127.0.0.1" }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
VirtualHost "localhost"
Component "v1.upload.localhost" "http_upload_external"
    http_upload_external_base_url = "http://127.0.0.1:{gw}/upload/"
    http_upload_external_secret = "{secret}"
    http_upload_external_protocol = "v1"
Component "v2.upload.localhost" "http_upload_external"
    http_upload_external_base_url = "http://127.0.0.1:{gw}/upload/"
    http_upload_external_secret = "{secret}"
    http_upload_external_protocol = "v2"
""".format(tmp=tmp, c2s=c2s_port, gw=gw_port, secret=SECRET)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prosody")
    (tmp / "gw").mkdir()
    gw = Gw(tmp / "gw")
    c2s = free_port()
    (tmp / "data").mkdir()
    (tmp / "certs").mkdir()
    cfg = tmp / "prosody.cfg.lua"
    cfg.write_text(prosody_config(str(tmp), c2s, gw.port))
    r = run(["prosodyctl", "--config", str(cfg), "register", "alice", "localhost", "pw"])
    assert r.returncode == 0, r.stdout + r.stderr
    proc = subprocess.Popen([PROSODY, "--config", str(cfg), "-F"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", c2s), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("prosody did not start")
        yield gw, c2s
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        gw.stop()


def request_slots(c2s_port, requests):
    """[(component, filename, size, content_type)] -> [(put_url, get_url)]"""
    import slixmpp

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    results, errors = [], []

    class Client(slixmpp.ClientXMPP):
        def __init__(self):
            super().__init__("alice@localhost", "pw")
            self["feature_mechanisms"].unencrypted_plain = True
            self.add_event_handler("session_start", self.start)
            self.add_event_handler("failed_auth", lambda e: errors.append("auth"))

        async def start(self, event):
            try:
                for comp, name, size, ctype in requests:
                    # XEP-0363 slot request, built by hand (slixmpp's plugin
                    # would pull in aiohttp).
                    iq = self.make_iq_get(ito=comp)
                    req = ET.SubElement(iq.xml, "{%s}request" % NS, {
                        "filename": name, "size": str(size), "content-type": ctype})
                    assert req is not None
                    reply = await iq.send(timeout=10)
                    slot = reply.xml.find("{%s}slot" % NS)
                    put = slot.find("{%s}put" % NS).get("url")
                    get = slot.find("{%s}get" % NS).get("url")
                    results.append((put, get))
            except Exception as e:  # reported by the test
                errors.append(repr(e))
            self.disconnect()

    c = Client()
    c.connect(("127.0.0.1", c2s_port), disable_starttls=True, force_starttls=False)
    loop.run_until_complete(asyncio.wait_for(c.disconnected, 30))
    pending = asyncio.all_tasks(loop)
    for t in pending:
        t.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
    assert not errors, errors
    return results


def http_do(method, url, body=None, headers=None):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        c.request(method, u.path + ("?" + u.query if u.query else ""), body=body,
                  headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def test_prosody_issued_urls_work_unchanged(stack):
    gw, c2s = stack
    files = [
        ("v1.upload.localhost", "photo.jpg", b"\xff\xd8" + os.urandom(3000), "image/jpeg"),
        ("v2.upload.localhost", "Fotó vom Strand (1).jpg", os.urandom(4096), "image/jpeg"),
        # The case Filer rejects with "Invalid MAC": the client declares
        # text/plain, Go's table says "text/plain; charset=utf-8".
        ("v2.upload.localhost", "notes.txt", b"hello\n", "text/plain"),
        ("v2.upload.localhost", "voice.m4a", os.urandom(777), "audio/mp4"),
        ("v2.upload.localhost", "key.omemo", os.urandom(64), "application/octet-stream"),
    ]
    slots = request_slots(c2s, [(c, n, len(b), t) for c, n, b, t in files])
    assert len(slots) == len(files)
    for (comp, name, body, ctype), (put, get) in zip(files, slots):
        assert put.startswith("http://127.0.0.1:%d/upload/" % gw.port)
        st, _ = http_do("PUT", put, body, {"Content-Type": ctype})
        assert st == 201, (name, put)
        st, data = http_do("GET", get)
        assert st == 200 and data == body, name
        # A second PUT to the same slot is refused, the file kept.
        assert http_do("PUT", put, b"x" * len(body), {"Content-Type": ctype})[0] == 409
    # A slot is bound to its size and (v2) to its type: the declared one,
    # sent as the PUT's Content-Type, nothing else.
    slots = request_slots(c2s, [("v2.upload.localhost", "a.png", 10, "application/x-foo"),
                                ("v1.upload.localhost", "b.png", 10, "image/png")])
    assert http_do("PUT", slots[0][0], b"x" * 11, {"Content-Type": "application/x-foo"})[0] == 403
    assert http_do("PUT", slots[0][0], b"x" * 10, {"Content-Type": "image/png"})[0] == 403
    assert http_do("PUT", slots[0][0], b"x" * 10, {"Content-Type": "text/html"})[0] == 403
    assert http_do("PUT", slots[1][0], b"x" * 9)[0] == 403
    assert http_do("PUT", slots[0][0], b"x" * 10, {"Content-Type": "application/x-foo"})[0] == 201
    assert http_do("PUT", slots[1][0], b"x" * 10)[0] == 201
