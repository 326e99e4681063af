"""Helpers for the xmpp-core integration tests: TLS material, a config
writer, an XmppServer wrapper (Daemon + xmppctl), slixmpp clients driven
from synchronous tests, and a raw-socket client for negative tests."""

import asyncio
import base64
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import slixmpp

from edgetest import Daemon, binary, free_port, run


def make_cert(dirpath):
    key = os.path.join(dirpath, "key.pem")
    crt = os.path.join(dirpath, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return crt, key


class XmppServer:
    """xmpp-core on fresh ports with its own config, against a PgCluster."""

    def __init__(self, pg, extra="", c2s_extra="", start=True):
        self.tmp = tempfile.mkdtemp(prefix="edge-xmpp-")
        self.cert, self.key = make_cert(self.tmp)
        self.port = free_port()
        self.tls_port = free_port()
        self.conf = os.path.join(self.tmp, "xmpp-core.toml")
        with open(self.conf, "w") as f:
            f.write("""hosts = ["localhost"]
log_level = "debug"
control_socket = "%s"
%s
[database]
conninfo = "%s"
pool_size = 3
request_timeout = "5s"

[tls]
cert_file = "%s"
key_file = "%s"

[c2s]
listen = ["127.0.0.1:%d", "[::1]:%d"]
listen_tls = ["127.0.0.1:%d", "[::1]:%d"]
shaper_rate = "10M"
auth_fail_limit = 1000
release_parser_after = "1s"
%s

[registration]
enabled = true
allow_from = ["127.0.0.0/8", "::1/128"]
min_password_entropy = 40

[contact]
abuse = ["mailto:abuse@localhost"]
""" % (os.path.join(self.tmp, "control.sock"), extra, pg.conninfo, self.cert, self.key, self.port, self.port,
                self.tls_port, self.tls_port, c2s_extra))
        self.daemon = None
        if start:
            self.start()

    def start(self):
        self.daemon = Daemon([binary("xmpp-core"), "-c", self.conf], ready_timeout=30)

    def stop(self):
        log = self.daemon.stop()
        self.daemon = None
        return log

    def destroy(self):
        """Stops the daemon if it runs and removes the state directory."""
        try:
            if self.daemon:
                self.stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def ctl(self, *args, stdin=None):
        return run([binary("xmppctl"), "-c", self.conf] + list(args), input=stdin)

    def adduser(self, user, password):
        r = self.ctl("adduser", user + "@localhost", stdin=password + "\n")
        assert r.returncode == 0, r.stderr


class Client(slixmpp.ClientXMPP):
    """A slixmpp client that records what it receives."""

    def __init__(self, jid, password, mech=None, register=False, tls12=False):
        super().__init__(jid, password)
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        if tls12:
            self.ssl_context.maximum_version = ssl.TLSVersion.TLSv1_2
        if mech:
            self["feature_mechanisms"].use_mech = mech
        if mech and mech.startswith("SCRAM") and not mech.endswith("-PLUS"):
            # slixmpp would send gs2 flag "y" (it can bind, thinks we can't),
            # which a server that offers -PLUS must refuse (RFC 5802 §6);
            # a client forced to plain SCRAM says "n"
            fm = self["feature_mechanisms"]
            orig = fm._default_credentials

            def no_cb(required, optional):
                creds = orig(required, optional)
                if "channel_binding" in creds:
                    creds["channel_binding"] = None
                return creds
            fm.sasl_callback = no_cb
        self.register_plugin("xep_0012")
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0092")
        self.register_plugin("xep_0199")
        self.register_plugin("xep_0202")
        self.register_plugin("xep_0203")
        self.messages = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.subscriptions = asyncio.Queue()
        self.roster_pushes = asyncio.Queue()
        self.started = asyncio.Event()
        self.failed = asyncio.Event()
        self.closed = asyncio.Event()
        self.registered = asyncio.Event()
        self.auto_authorize = None
        self.auto_subscribe = False
        self.add_event_handler("session_start", lambda _: self.started.set())
        self.add_event_handler("failed_all_auth", lambda _: self.failed.set())
        self.add_event_handler("disconnected", lambda _: self.closed.set())
        self.add_event_handler("message", lambda m: self.messages.put_nowait(m))
        self.add_event_handler("presence_available", lambda p: self.presences.put_nowait(p))
        self.add_event_handler("presence_unavailable", lambda p: self.presences.put_nowait(p))
        self.add_event_handler("presence_subscribe", lambda p: self.subscriptions.put_nowait(p))
        self.add_event_handler("presence_subscribed", lambda p: self.subscriptions.put_nowait(p))
        self.add_event_handler("roster_update", lambda p: self.roster_pushes.put_nowait(p))
        if register:
            # slixmpp 1.8 queues every stanza before session start, the
            # pre-auth registration IQ included; let it through
            self._always_send_everything = True
            self.register_plugin("xep_0077")
            self["xep_0077"].force_registration = True
            self.add_event_handler("register", self._register)

    async def _register(self, form):
        iq = self.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = self.boundjid.user
        iq["register"]["password"] = self.password
        try:
            await iq.send()
            self.registered.set()
        except slixmpp.exceptions.IqError:
            self.failed.set()


def safe_abort(c):
    try:
        c.abort()
    except AttributeError:
        pass	# the transport is already gone


async def connect(jid, password, port, direct_tls=False, timeout=20, **kw):
    """Logs in; returns the client or raises AssertionError."""
    c = Client(jid, password, **kw)
    c.connect(("127.0.0.1", port), use_ssl=direct_tls, force_starttls=not direct_tls)
    done, _ = await asyncio.wait([asyncio.ensure_future(c.started.wait()),
                                  asyncio.ensure_future(c.failed.wait())],
                                 timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if not c.started.is_set():
        safe_abort(c)
        raise AssertionError("login of %s failed" % jid)
    return c


async def online(c, priority=0):
    """Initial presence plus roster fetch, as a real client does."""
    await c.get_roster()
    c.send_presence(ppriority=priority)


async def until(cond, timeout=10):
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def recv(q, timeout=10):
    return await asyncio.wait_for(q.get(), timeout)


async def disconnect(*clients):
    for c in clients:
        c.disconnect()
    for c in clients:
        try:
            await asyncio.wait_for(c.closed.wait(), 5)
        except asyncio.TimeoutError:
            safe_abort(c)


class Raw:
    """A raw XMPP client socket for negative tests."""

    HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' "
              "version='1.0'>")

    def __init__(self, port, direct_tls=False, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=10)
        if direct_tls:
            self.starttls_wrap(alpn=["xmpp-client"])

    def starttls_wrap(self, alpn=None):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if alpn:
            ctx.set_alpn_protocols(alpn)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def recv_until(self, marker, timeout=10):
        """Reads until marker appears or the peer closes; returns text."""
        self.sock.settimeout(timeout)
        buf = b""
        deadline = time.time() + timeout
        while marker.encode() not in buf and time.time() < deadline:
            try:
                d = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLError, ConnectionResetError):
                break
            if not d:
                break
            buf += d
        return buf.decode(errors="replace")

    def closed(self, timeout=10):
        """True once the server closes the connection."""
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
        except (socket.timeout,):
            return False
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError):
            return True

    def starttls(self):
        self.send(self.HEADER)
        self.recv_until("</stream:features>")
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        assert "<proceed" in self.recv_until("/>")
        self.starttls_wrap()

    def login_plain(self, user, password):
        self.send(self.HEADER)
        self.recv_until("</stream:features>")
        return self.auth_plain(user, password)

    def auth_plain(self, user, password):
        tok = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        self.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
                  % tok)
        return self.recv_until(">", 10)

    def session(self, user, password, resource="raw"):
        """STARTTLS (unless already TLS), PLAIN, bind, initial presence."""
        if not isinstance(self.sock, ssl.SSLSocket):
            self.starttls()
        assert "<success" in self.login_plain(user, password)
        self.send(self.HEADER)
        self.recv_until("</stream:features>")
        self.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  "<resource>%s</resource></bind></iq>" % resource)
        assert "</jid>" in self.recv_until("</iq>")
        self.send("<presence/>")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def arun(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))
