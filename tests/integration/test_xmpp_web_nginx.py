"""Debian's nginx in front of xmpp-core's web listener, with the site of
deploy/nginx-xmpp.conf (its ports, names and certificate paths replaced
for the test): host-meta, XMPP over WebSocket and BOSH through TLS,
xmpp.js over wss:// with a slixmpp user on TCP, and X-Forwarded-For as
nginx writes it: the address nginx saw, never what the client claimed."""

import base64
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from edgetest import free_port
from pgcluster import PgCluster
from webform import WebForm
from wsclient import WS
from xmpptest import XmppServer, arun, connect, disconnect, recv
from xmppjsweb import XmppJsWeb

PW = "nginx-test-password-123"
SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                    "deploy", "nginx-xmpp.conf")


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def stack(pg):
    assert shutil.which("nginx") or os.path.exists("/usr/sbin/nginx"), \
        "nginx is needed (deploy/deps.sh installs nginx-light)"
    wp = free_port()
    https, http = free_port(), free_port()
    s = XmppServer(pg, c2s_extra="""
[web]
listen = ["127.0.0.1:%d"]
websocket_url = "wss://localhost:%d/ws"
trusted_proxies = ["127.0.0.1"]
""" % (wp, https))
    for u in ("nina", "otto"):
        s.adduser(u, PW)
    tmp = tempfile.mkdtemp(prefix="edge-nginx-")
    with open(SITE) as f:
        site = f.read()
    for a, b in (("server 127.0.0.1:5080;", "server 127.0.0.1:%d;" % wp),
                 ("listen 80;", "listen 127.0.0.1:%d;" % http),
                 ("listen [::]:80;", "listen [::1]:%d;" % http),
                 ("listen 443 ssl http2;", "listen 127.0.0.1:%d ssl http2;" % https),
                 ("listen [::]:443 ssl http2;", "listen [::1]:%d ssl http2;" % https),
                 ("server_name xmpp.example.org;", "server_name localhost;"),
                 ("/etc/edge/tls/example.org.fullchain.pem", s.cert),
                 ("/etc/edge/tls/example.org.key", s.key)):
        assert a in site, a
        site = site.replace(a, b)
    with open(os.path.join(tmp, "site.conf"), "w") as f:
        f.write(site)
    with open(os.path.join(tmp, "nginx.conf"), "w") as f:
        f.write("""daemon off;
master_process off;
pid %(t)s/nginx.pid;
error_log %(t)s/error.log info;
events { worker_connections 256; }
http {
	access_log %(t)s/access.log;
	client_body_temp_path %(t)s/body;
	proxy_temp_path %(t)s/proxy;
	fastcgi_temp_path %(t)s/fastcgi;
	uwsgi_temp_path %(t)s/uwsgi;
	scgi_temp_path %(t)s/scgi;
	include %(t)s/site.conf;
}
""" % {"t": tmp})
    nginx = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-p", tmp,
                              "-c", os.path.join(tmp, "nginx.conf")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 20
        while True:
            try:
                w = WS(https, tls=True, path="/.well-known/host-meta")
                w.close()
                break
            except OSError:
                assert nginx.poll() is None, nginx.stderr.read().decode()
                assert time.time() < deadline, "nginx did not come up"
                time.sleep(0.05)
        s.https = https
        s.http = http
        s.nginx_log = os.path.join(tmp, "error.log")
        yield s
    finally:
        nginx.send_signal(signal.SIGTERM)
        try:
            nginx.wait(10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait()
        s.destroy()
        shutil.rmtree(tmp, ignore_errors=True)


def curl(*args):
    r = subprocess.run(["curl", "-sS", "-i", "-k", "--max-time", "10"] + list(args),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.replace("\r\n", "\n").partition("\n\n")
    return head.lower(), body


def test_host_meta_through_nginx(stack):
    head, body = curl("https://localhost:%d/.well-known/host-meta" % stack.https)
    assert head.startswith("http/2 200") or head.startswith("http/1.1 200"), head
    assert "access-control-allow-origin: *" in head
    assert "href='wss://localhost:%d/ws'" % stack.https in body
    head, body = curl("https://[::1]:%d/.well-known/host-meta.json" % stack.https)
    assert '"href":"wss://localhost:%d/ws"' % stack.https in body
    head, _ = curl("http://127.0.0.1:%d/.well-known/host-meta" % stack.http)
    assert " 301" in head.splitlines()[0]


def test_captcha_path_reaches_xmpp_core(stack):
    """deploy's site passes /captcha/ to xmpp-core (its own 404 text for a
    challenge that does not exist), and nothing else outside the XMPP paths."""
    head, body = curl("https://localhost:%d/captcha/%s.png" % (stack.https, "0" * 32))
    assert " 404" in head.splitlines()[0] and "no such challenge" in body, (head, body)
    head, body = curl("https://localhost:%d/register-nothing" % stack.https)
    assert " 404" in head.splitlines()[0] and "no such challenge" not in body


def test_register_page_through_nginx(stack):
    """/register through nginx: the cookie is Secure (nginx said https),
    the browser's Origin (with its port) matches nginx's Host (without),
    the address is the one nginx saw, and the new account logs in."""
    w = WebForm(stack.https, tls=True, host_header="localhost:%d" % stack.https)
    page = w.get()
    assert page.status == 200, page.body
    assert "Secure" in page.headers["set-cookie"]
    assert "content-security-policy" in page.headers
    r = w.post("/register", {"csrf": page.hidden("csrf"), "username": "viaweb",
                             "password": PW, "password2": PW},
               headers={"Origin": "https://localhost:%d" % stack.https})
    assert r.status == 200 and "viaweb@localhost is ready" in r.message(), r.body
    page = w.get("/register/password")
    r = w.post("/register/password", {"csrf": page.hidden("csrf"), "username": "viaweb",
                                      "old": PW, "password": PW + "!", "password2": PW + "!"},
               headers={"Origin": "https://evil.example"})
    assert r.status == 403
    head, _ = curl("https://localhost:%d/register/style.css" % stack.https)
    assert " 200" in head.splitlines()[0] and "text/css" in head
    # invitation pages too (an unknown token: xmpp-core's own page)
    head, body = curl("https://localhost:%d/invite/%s" % (stack.https, "0" * 32))
    assert " 404" in head.splitlines()[0] and "invitation is not valid" in body, (head, body)

    async def scenario():
        c = await connect("viaweb@localhost", PW, stack.port)
        await disconnect(c)
    arun(scenario())


def sessions(s):
    r = s.ctl("sessions")
    assert r.returncode == 0, r.stderr
    return {line.split("\t")[0]: line.split("\t")[1] for line in r.stdout.splitlines() if line}


def test_forwarded_address_is_what_nginx_saw(stack):
    # the client claims an address; nginx appends the one it saw (::1)
    w = WS(stack.https, host="::1", tls=True, headers={"X-Forwarded-For": "203.0.113.50"})
    assert w.status == 101, (w.status, w.headers)
    w.open()
    assert w.recv().startswith("<open ")
    assert "PLAIN" in w.recv()
    w.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
           % base64.b64encode(("\0otto\0%s" % PW).encode()).decode())
    assert "<success" in w.recv()
    w.open()
    w.recv()
    w.recv()
    w.send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns="
           "'urn:ietf:params:xml:ns:xmpp-bind'><resource>behind-nginx</resource></bind></iq>")
    assert "otto@localhost/behind-nginx" in w.recv()
    peer = sessions(stack)["otto@localhost/behind-nginx"]
    assert peer.startswith("::1 via 127.0.0.1:"), peer
    w.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
    code, _ = w.expect_close()
    assert code == 1000
    w.close()


def test_xmppjs_over_wss_through_nginx(stack):
    js = None

    async def scenario():
        nonlocal js
        otto = await connect("otto@localhost", PW, stack.port)
        otto.send_presence()
        js = XmppJsWeb("wss://localhost:%d/ws" % stack.https, "nina", PW)
        on = await js.await_("online")
        full = on["jid"]
        assert full.startswith("nina@localhost/web")
        js.cmd("send otto@localhost through nginx")
        m = await recv(otto.messages)
        assert m["body"] == "through nginx" and str(m["from"]) == full
        otto.send_message(mto=full, mbody="and back", mtype="chat")
        await js.await_("message", body="and back")
        await disconnect(otto)

    try:
        arun(scenario(), timeout=60)
    finally:
        if js:
            js.close()


def test_bosh_through_nginx(stack):
    body = ("<body xmlns='http://jabber.org/protocol/httpbind' rid='77' to='localhost' "
            "wait='5' hold='1' ver='1.6' xmlns:xmpp='urn:xmpp:xbosh' xmpp:version='1.0'/>")
    r = subprocess.run(["curl", "-sS", "-k", "--max-time", "15", "-H",
                        "Content-Type: text/xml; charset=utf-8", "--data-binary", body,
                        "https://localhost:%d/bosh" % stack.https],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert "sid='" in r.stdout and "<stream:features" in r.stdout, r.stdout
    sid = r.stdout.split("sid='")[1].split("'")[0]
    end = ("<body xmlns='http://jabber.org/protocol/httpbind' rid='78' sid='%s' "
           "type='terminate'/>" % sid)
    r = subprocess.run(["curl", "-sS", "-k", "--max-time", "15", "--data-binary", end,
                        "https://localhost:%d/bosh" % stack.https],
                       capture_output=True, text=True, timeout=20)
    assert "type='terminate'" in r.stdout, r.stdout
