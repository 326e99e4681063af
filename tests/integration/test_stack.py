"""The `make run` contract: deploy/run-stack.sh brings the local stack up in
one process group with generated secrets (mode 0600), every daemon listens
on 127.0.0.1 and ::1 with the reference ports, a client can use it, and
SIGTERM to the group brings everything down within 10 s."""

import hashlib
import hmac
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from edgetest import BUILD, REPO
from xmpptest import Raw

STACK_PORTS = [5050, 3478, 3443, 5222, 5223, 7777, 5080, 5269]


def port_busy(port):
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
        finally:
            s.close()
    return False


def group_members(pgid):
    """Live (non-zombie) processes of a process group, from /proc."""
    left = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = open("/proc/%s/stat" % d).read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            left.append("%s %s" % (d, stat[stat.index("(") + 1:stat.rindex(")")]))
    return left


@pytest.fixture
def stack():
    busy = [p for p in STACK_PORTS if port_busy(p)]
    if busy:
        pytest.skip("stack ports in use (a `make run` going?): %s" % busy)
    run = tempfile.mkdtemp(prefix="edge-stack-")
    out = open(os.path.join(run, "stdout"), "w+")
    env = dict(os.environ, EDGE_BUILD=BUILD, EDGE_RUN=run)
    proc = subprocess.Popen(["bash", os.path.join(REPO, "deploy/run-stack.sh")],
                            env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        out.seek(0)
        text = out.read()
        if "Ctrl-C stops everything." in text:
            break
        if proc.poll() is not None:
            raise AssertionError("stack exited early:\n" + text)
        time.sleep(0.2)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("stack not up in 60 s:\n" + text)
    yield run, text, proc
    if group_members(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # run-stack names its namespace after its PID; if it was killed before
    # its own clean-up ran, remove the namespace here.
    subprocess.run(["ip", "netns", "del", "edge-run-%d" % proc.pid],
                   stderr=subprocess.DEVNULL)


def test_stack_up_usable_and_stops(stack):
    run, text, proc = stack
    # what listens where and where the secrets are is printed
    assert "127.0.0.1:5050" in text and "[::1]:5050" in text
    secret_path = os.path.join(run, "secrets", "upload")
    assert secret_path in text
    assert os.stat(secret_path).st_mode & 0o777 == 0o600
    secret = open(secret_path).read().strip().encode()

    # upload-gw on both loopback addresses, with a slot signed as xmpp-core will
    body = b"hello stack"
    rel = "stacktest/hello.txt"
    mac = hmac.new(secret, ("%s %d" % (rel, len(body))).encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request("http://127.0.0.1:5050/upload/%s?v=%s" % (rel, mac),
                                 data=body, method="PUT")
    assert urllib.request.urlopen(req, timeout=10).status == 201
    with urllib.request.urlopen("http://[::1]:5050/upload/" + rel, timeout=10) as r:
        assert r.read() == body

    # turnd answers a STUN Binding on both loopback addresses (RFC 8489)
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.settimeout(5)
        txid = os.urandom(12)
        u.sendto(b"\x00\x01\x00\x00\x21\x12\xa4\x42" + txid, (host, 3478))
        resp = u.recv(2048)
        u.close()
        assert resp[:2] == b"\x01\x01" and resp[8:20] == txid

    # xmpp-core offers STARTTLS for domain localhost on 5222, both addresses
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        c = socket.create_connection((host, 5222), timeout=10)
        c.sendall(b"<?xml version='1.0'?><stream:stream to='localhost' version='1.0' "
                  b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
        got = b""
        while b"</stream:features>" not in got:
            chunk = c.recv(4096)
            assert chunk, got
            got += chunk
        c.close()
        assert b"urn:ietf:params:xml:ns:xmpp-tls" in got, got

    # s2s on 5269 (loopback): a server stream gets STARTTLS (required) and dialback
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        c = socket.create_connection((host, 5269), timeout=10)
        c.sendall(b"<?xml version='1.0'?><stream:stream to='localhost' from='example.org' "
                  b"version='1.0' xmlns='jabber:server' xmlns:db='jabber:server:dialback' "
                  b"xmlns:stream='http://etherx.jabber.org/streams'>")
        got = b""
        while b"</stream:features>" not in got:
            chunk = c.recv(4096)
            assert chunk, got
            got += chunk
        c.close()
        assert b"urn:ietf:params:xml:ns:xmpp-tls" in got and b"<required" in got, got

    # xmpp-core's web listener: host-meta (XEP-0156) on both addresses
    assert "ws://localhost:5080/ws" in text
    for host in ("127.0.0.1", "[::1]"):
        with urllib.request.urlopen("http://%s:5080/.well-known/host-meta.json" % host,
                                    timeout=10) as r:
            assert b"ws://localhost:5080/ws" in r.read()
    # ... and the account pages it prints (registration open from loopback)
    assert "http://localhost:5080/register" in text
    with urllib.request.urlopen("http://127.0.0.1:5080/register", timeout=10) as r:
        page = r.read()
        assert r.status == 200 and b"<form" in page and b"password" in page, page[:400]

    # the SOCKS5 proxy (XEP-0065) greets on both addresses
    for host in ("127.0.0.1", "::1"):
        c = socket.create_connection((host, 7777), timeout=10)
        c.sendall(b"\x05\x01\x00")
        assert c.recv(2) == b"\x05\x00"
        c.close()

    # an account made with the printed command logs in; the server lists
    # its services under names that resolve here, and hands out upload
    # slots for upload-gw and TURN credentials for turnd
    conf = os.path.join(run, "etc", "xmpp-core.toml")
    assert conf in text
    r = subprocess.run([os.path.join(BUILD, "bin", "xmppctl"), "-c", conf, "adduser",
                        "stackuser@localhost"], input="stack horse battery staple\n",
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    x = Raw(5222)
    x.session("stackuser", "stack horse battery staple")
    x.send("<iq type='get' id='di' to='localhost'>"
           "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
    items = x.recv_until("</iq>")
    for svc in ("upload.localhost", "proxy.localhost", "pubsub.localhost",
                "conference.localhost"):
        assert "jid='%s'" % svc in items, items
    x.send("<iq type='get' id='ph' to='proxy.localhost'>"
           "<query xmlns='http://jabber.org/protocol/bytestreams'/></iq>")
    sh = x.recv_until("</iq>")
    assert "host='localhost'" in sh and "port='7777'" in sh, sh
    x.send("<iq type='get' id='up' to='upload.localhost'><request "
           "xmlns='urn:xmpp:http:upload:0' filename='a.txt' size='3'/></iq>")
    slot = x.recv_until("</iq>")
    assert "http://localhost:5050/upload/" in slot, slot
    x.send("<iq type='get' id='ed' to='localhost'><services xmlns='urn:xmpp:extdisco:2'/></iq>")
    ext = x.recv_until("</iq>")
    assert "host='localhost'" in ext and "port='3478'" in ext and "password=" in ext, ext
    x.close()

    # SIGTERM to the whole group: everything gone within 10 s
    os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.time() + 10
    while group_members(proc.pid) and time.time() < deadline:
        proc.poll()
        time.sleep(0.1)
    assert not group_members(proc.pid), "left after 10 s: %s" % group_members(proc.pid)
    assert proc.wait() == 0
    assert ("edge-run-%d" % proc.pid) not in subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True).stdout
