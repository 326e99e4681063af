"""Helpers for the s2s tests: xmpp-core instances on their own domains
with [s2s] enabled (static routes to each other on loopback), sharing one
PgCluster with a database each, and a raw s2s client for negative tests."""

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

from edgetest import Daemon, binary, free_port, run


def make_domain_cert(dirpath, domain, ca=None, san=None):
    """A certificate for domain: self-signed, or signed by ca=(crt, key);
    san: its subjectAltName (default DNS:domain)."""
    key = os.path.join(dirpath, "key.pem")
    crt = os.path.join(dirpath, "cert.pem")
    if ca is None:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-days", "2", "-subj", "/CN=%s" % domain,
                        "-addext", "subjectAltName=DNS:%s" % domain,
                        "-keyout", key, "-out", crt], check=True, capture_output=True)
    else:
        csr = os.path.join(dirpath, "req.csr")
        ext = os.path.join(dirpath, "ext.cnf")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\n" % (san or "DNS:" + domain))
        subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes",
                        "-subj", "/CN=%s" % domain, "-keyout", key, "-out", csr],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
                        "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt],
                       check=True, capture_output=True)
    os.chmod(key, 0o600)
    return crt, key


def make_ca(dirpath):
    key = os.path.join(dirpath, "ca-key.pem")
    crt = os.path.join(dirpath, "ca.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-days", "2", "-subj", "/CN=edge s2s lab CA",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    return crt, key


class S2sServer:
    """xmpp-core serving `domain`, s2s on a free port, against its own
    database in the shared cluster."""

    def __init__(self, pg, domain, routes=None, s2s_extra="", ca=None, start=True,
                 netns=None, addr="127.0.0.1", san=None):
        self.domain = domain
        self.netns = netns	# run inside this network namespace
        self.addr = addr	# where its listeners are
        self.tmp = tempfile.mkdtemp(prefix="edge-s2s-")
        self.cert, self.key = make_domain_cert(self.tmp, domain, ca, san)
        self.port = free_port()
        self.s2s_port = free_port()
        self.s2s_tls_port = free_port()
        self.dbname = "s2s_" + domain.replace(".", "_").replace("-", "_")
        pg.psql("CREATE DATABASE %s" % self.dbname, db="postgres")
        conninfo = pg.conninfo.replace("dbname=%s" % pg.dbname, "dbname=%s" % self.dbname)
        self.conf = os.path.join(self.tmp, "xmpp-core.toml")
        self.routes = dict(routes or {})
        self.s2s_extra = s2s_extra
        self.conninfo = conninfo
        self.write_conf()
        self.daemon = None
        if start:
            self.start()

    def write_conf(self):
        routes = "".join('"%s" = "%s"\n' % kv for kv in self.routes.items())
        with open(self.conf, "w") as f:
            f.write("""hosts = ["%s"]
log_level = "debug"
control_socket = "%s"

[database]
conninfo = "%s"
pool_size = 2
request_timeout = "5s"

[tls]
cert_file = "%s"
key_file = "%s"

[c2s]
listen = ["%s:%d"]
shaper_rate = "10M"
auth_fail_limit = 1000

[s2s]
enabled = true
listen = [%s]
listen_tls = ["%s:%d"]
shaper_rate = "10M"
%s
[s2s.routes]
%s
""" % (self.domain, os.path.join(self.tmp, "control.sock"), self.conninfo, self.cert,
                self.key, self.addr, self.port, self.s2s_listen(), self.addr,
                self.s2s_tls_port, self.s2s_extra, routes))

    def s2s_listen(self):
        if self.addr != "127.0.0.1":
            return '"%s:%d"' % (self.addr, self.s2s_port)
        return '"127.0.0.1:%d", "[::1]:%d"' % (self.s2s_port, self.s2s_port)

    def route_to(self, other, direct_tls=False):
        if direct_tls:
            self.routes[other.domain] = "tls:127.0.0.1:%d" % other.s2s_tls_port
        else:
            self.routes[other.domain] = "127.0.0.1:%d" % other.s2s_port

    def start(self):
        ns = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.daemon = Daemon(ns + [binary("xmpp-core"), "-c", self.conf], ready_timeout=30)

    def stop(self):
        log = self.daemon.stop()
        self.daemon = None
        return log

    def log(self):
        return self.daemon.log() if self.daemon else ""

    def destroy(self):
        try:
            if self.daemon:
                self.stop()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def ctl(self, *args, stdin=None):
        return run([binary("xmppctl"), "-c", self.conf] + list(args), input=stdin)

    def adduser(self, user, password):
        r = self.ctl("adduser", "%s@%s" % (user, self.domain), stdin=password + "\n")
        assert r.returncode == 0, r.stderr

    def links(self):
        """xmppctl s2s as a list of field lists."""
        r = self.ctl("s2s")
        assert r.returncode == 0, r.stderr
        return [l.split("\t") for l in r.stdout.splitlines() if "\t" in l]


class RawS2s:
    """A hand-driven s2s stream to a server: header, STARTTLS, then
    whatever a test wants to send (spoofed 'from', garbage)."""

    def __init__(self, port, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=10)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def recv_until(self, marker, timeout=10):
        deadline = time.time() + timeout
        got = b""
        while marker.encode() not in got:
            left = deadline - time.time()
            assert left > 0, "no %r in %r" % (marker, got)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            got += chunk
        return got.decode(errors="replace")

    def header(self, frm, to):
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                  "xmlns:stream='http://etherx.jabber.org/streams' "
                  "xmlns:db='jabber:server:dialback' from='%s' to='%s' version='1.0'>"
                  % (frm, to))

    def starttls(self, frm, to):
        self.header(frm, to)
        self.recv_until("</stream:features>")
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.recv_until("<proceed")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname=to)
        self.header(frm, to)
        return self.recv_until("</stream:features>")

    def closed(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.sock.settimeout(max(0.1, deadline - time.time()))
            try:
                if not self.sock.recv(65536):
                    return True
            except socket.timeout:
                continue
            except (ConnectionError, ssl.SSLError, OSError):
                return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class LoopbackDns:
    """netlab.py's small DNS server on a free UDP port of 127.0.0.1 (no
    namespace), its zone a JSON file re-read on every query: for peers
    whose resolver cannot be pointed at a hosts file (ejabberd)."""

    def __init__(self, tmp, zone):
        self.zone_path = os.path.join(tmp, "zone.json")
        self.set(zone)
        self.port = free_port(socket.SOCK_DGRAM)
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                              "netlab.py"),
             "dns", "127.0.0.1", str(self.port), self.zone_path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            self.close()
            raise RuntimeError("dns server: %s %s" % (line, self.proc.stderr.read()))

    def set(self, zone):
        with open(self.zone_path + ".new", "w") as f:
            json.dump(zone, f)
        os.rename(self.zone_path + ".new", self.zone_path)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def s2s_zone(servers):
    """A zone with an SRV record (_xmpp-server._tcp, STARTTLS) for each
    (domain, port) and its conference. subdomain, whose target is
    localhost: ejabberd 23.01 (p1_xmpp 1.6.1) asks DNS for SRV records
    (inet_res) but resolves their targets with libc's getaddrinfo (the
    system's resolver, /etc/hosts), where a lab name would be unknown
    (the "DNS lookup failed: enoname" of an earlier attempt)."""
    zone = {}
    for domain, port in servers:
        for d in (domain, "conference." + domain):
            zone["_xmpp-server._tcp.%s." % d] = {"ttl": 60, "SRV": [[0, 0, port, "localhost."]]}
    return zone


# ---- group chat across servers ----

MUC = "http://jabber.org/protocol/muc"
MUC_USER = MUC + "#user"


class Seen:
    """Every stanza a slixmpp client gets, as XML elements, to wait on."""

    def __init__(self, client):
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath

        self.c = client
        self.got = []
        for kind in ("presence", "message", "iq"):
            client.register_handler(Callback(
                "seen " + kind, MatchXPath("{jabber:client}%s" % kind),
                lambda st: self.got.append(st.xml)))

    async def first(self, pred, timeout=20):
        """The first stanza (polled, oldest first) for which pred is true."""
        import asyncio
        deadline = time.time() + timeout
        while True:
            for st in self.got:
                if pred(st):
                    return st
            assert time.time() < deadline, "not seen; got %d stanzas: %s" % (
                len(self.got), [st.attrib for st in self.got[-10:]])
            await asyncio.sleep(0.05)


def muc_codes(st):
    return sorted(int(x.get("code")) for x in st.findall(
        "{%s}x/{%s}status" % (MUC_USER, MUC_USER)))


def muc_item(st):
    return st.find("{%s}x/{%s}item" % (MUC_USER, MUC_USER))


def body(st):
    return st.findtext("{jabber:client}body")


# ---- a client run inside a namespace: python3 s2slab.py recv|send ... ----

def _client_main(argv):
    """recv JID PW ADDR PORT: prints "ready", then the first message's
    sender and body as JSON.  send JID PW ADDR PORT TO BODY: sends, then
    prints the first error (or "sent" after 2 s without one)."""
    import asyncio
    from xmpptest import Client

    mode, jid, pw, addr, port = argv[:5]

    async def run_it():
        c = Client(jid, pw)
        c.connect((addr, int(port)), force_starttls=True)
        await asyncio.wait_for(c.started.wait(), 20)
        await c.get_roster()
        c.send_presence()
        if mode == "recv":
            print("ready", flush=True)
            m = await asyncio.wait_for(c.messages.get(), 60)
            print(json.dumps({"from": str(m["from"]), "body": m["body"]}), flush=True)
        else:
            c.send_message(mto=argv[5], mbody=argv[6])
            try:
                m = await asyncio.wait_for(c.messages.get(), 3)
                print(json.dumps({"error": m["error"]["condition"]}), flush=True)
            except asyncio.TimeoutError:
                print(json.dumps({"sent": True}), flush=True)
        c.disconnect()
        await asyncio.sleep(0.2)

    asyncio.run(run_it())


if __name__ == "__main__":
    _client_main(sys.argv[1:])
