"""xmpp-core's SOCKS5 Bytestreams proxy (XEP-0065) against real peers:
slixmpp clients with the XEP-0065 plugin (discovery, negotiation,
activation, a transfer both ways), and raw Python sockets for the SOCKS5
side where the test needs to control every byte (bad requests, timeouts,
limits, half-close, a reader that never reads, shaping)."""

import asyncio
import hashlib
import os
import signal
import socket
import struct
import threading
import time
import uuid

import pytest
import slixmpp

from edgetest import free_port
from pgcluster import PgCluster
from xmpptest import XmppServer, arun, connect, disconnect, until

PW = "correct horse battery staple"
USERS = ("alice", "bob", "carol")


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


class ProxyServer(XmppServer):
    """xmpp-core with a [proxy65] table on a fresh port."""

    def __init__(self, pg, proxy_extra=""):
        self.s5port = free_port()
        super().__init__(pg, extra="""
[proxy65]
listen = ["127.0.0.1:%d", "[::1]:%d"]
host = "localhost"
%s
""" % (self.s5port, self.s5port, proxy_extra))
        for u in USERS:	# the database is shared by the module's servers
            r = self.ctl("adduser", u + "@localhost", stdin=PW + "\n")
            assert r.returncode == 0 or "already exists" in r.stderr, r.stderr

    def stats(self):
        out = self.ctl("stats").stdout
        return dict(line.split("\t") for line in out.splitlines() if "\t" in line)

    def pid(self):
        return self.daemon.proc.pid


def start(pg, extra=""):
    s = ProxyServer(pg, extra)
    return s


@pytest.fixture(scope="module")
def server(pg):
    s = start(pg, """
pending_timeout = "3s"
max_connections_per_ip = 8
max_streams_per_user = 2
""")
    yield s
    s.destroy()


@pytest.fixture(scope="module", params=["splice", "copy"])
def relay(pg, request):
    s = start(pg, 'relay = "%s"\nbuffer_size = "64K"\n' % request.param)
    s.mode = request.param
    yield s
    s.destroy()


# ---- helpers ----

def sha1_hex(*parts):
    return hashlib.sha1("".join(parts).encode()).hexdigest()


def recv_exact(s, n, timeout=10):
    s.settimeout(timeout)
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            break
        buf += d
    return buf


def closed_by_peer(s, timeout=10):
    """True once the server has closed s (EOF or reset), reading what is left."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return True
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def s5_open(port, host="127.0.0.1"):
    return socket.create_connection((host, port), timeout=10)


def s5_connect(port, dst, host="127.0.0.1"):
    """Greeting and CONNECT for dst (the hash); returns the socket once the
    proxy replied success with the same address (XEP-0065 §6.3.2)."""
    s = s5_open(port, host)
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00"
    addr = b"\x03" + bytes([len(dst)]) + dst.encode()
    s.sendall(b"\x05\x01\x00" + addr + b"\x00\x00")
    rep = recv_exact(s, 5 + len(dst) + 2)
    assert rep == b"\x05\x00\x00" + addr + b"\x00\x00", rep
    return s


async def login(server, jid):
    c = await connect(jid, PW, server.port)
    c.register_plugin("xep_0065", pconfig={"auto_accept": True})
    c.s5data = bytearray()
    c.s5closed = asyncio.Event()
    c.s5conn = None
    c.add_event_handler("socks5_data", lambda d: c.s5data.extend(d))
    c.add_event_handler("socks5_closed", lambda e: c.s5closed.set())

    def stream(conn):
        c.s5conn = conn
    c.add_event_handler("socks5_stream", stream)
    return c


async def activate(c, sid, target, proxy="proxy.localhost"):
    """Returns None on success, else the error condition."""
    try:
        await c["xep_0065"].activate(proxy, sid, target, timeout=10)
        return None
    except slixmpp.exceptions.IqError as e:
        return e.iq["error"]["condition"]


def in_thread(fn, *args):
    return asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def pair(server, a, b, sid=None):
    """Target (b) then initiator (a) connect with raw sockets, a activates."""
    sid = sid or uuid.uuid4().hex
    dst = sha1_hex(sid, a.boundjid.full, b.boundjid.full)
    t = await in_thread(s5_connect, server.s5port, dst)
    i = await in_thread(s5_connect, server.s5port, dst)
    assert await activate(a, sid, b.boundjid.full) is None
    return i, t


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- discovery ----

def test_disco_finds_the_proxy_and_its_streamhost(server):
    async def scenario():
        a = await login(server, "alice@localhost/disco")
        items = await a["xep_0030"].get_items(jid="localhost")
        assert ("proxy.localhost", None, "SOCKS5 Bytestreams Service") in \
            items["disco_items"]["items"]
        info = await a["xep_0030"].get_info(jid="proxy.localhost")
        assert ("proxy", "bytestreams", None, "SOCKS5 Bytestreams Service") in \
            info["disco_info"]["identities"]
        assert "http://jabber.org/protocol/bytestreams" in info["disco_info"]["features"]
        r = await a["xep_0065"].get_network_address("proxy.localhost")
        sh = r["socks"]["streamhost"]
        assert (str(sh["jid"]), sh["host"], sh["port"]) == \
            ("proxy.localhost", "localhost", str(server.s5port))
        # what the plugin itself finds
        proxies = await a["xep_0065"].discover_proxies()
        assert {str(k): v for k, v in proxies.items()} == \
            {"proxy.localhost": ("localhost", str(server.s5port))}
        # a message to the service bounces; a resource of it does not exist
        iq = a.make_iq_get(ito="proxy.localhost/x")
        iq.enable("socks")
        with pytest.raises(slixmpp.exceptions.IqError) as ei:
            await iq.send(timeout=10)
        assert ei.value.iq["error"]["condition"] == "service-unavailable"
        await disconnect(a)

    arun(scenario())


# ---- end to end with slixmpp's XEP-0065 plugin ----

def test_transfer_with_slixmpp_both_ways(server):
    up, down = os.urandom(2 << 20), os.urandom(2 << 20)

    async def scenario():
        a = await login(server, "alice@localhost/send")
        b = await login(server, "bob@localhost/recv")
        # discovery, <streamhost/> to bob, bob connects and answers
        # <streamhost-used/>, alice connects and activates
        sa = await a["xep_0065"].handshake(b.boundjid.full)
        assert sa is not None
        await until(lambda: b.s5conn is not None)
        await sa.write(up)
        await b.s5conn.write(down)
        await until(lambda: len(b.s5data) >= len(up) and len(a.s5data) >= len(down), 30)
        assert hashlib.sha256(b.s5data).digest() == hashlib.sha256(up).digest()
        assert hashlib.sha256(a.s5data).digest() == hashlib.sha256(down).digest()
        # alice's FIN reaches bob, whose close comes back to alice
        sa.transport.write_eof()
        await asyncio.wait_for(b.s5closed.wait(), 10)
        await asyncio.wait_for(a.s5closed.wait(), 10)
        await disconnect(a, b)

    arun(scenario())
    log = server.daemon.log()
    assert "alice@localhost/send -> bob@localhost/recv activated" in log
    assert "bytes in" in log


# ---- activation ----

def test_only_the_initiator_activates(server):
    async def scenario():
        a = await login(server, "alice@localhost/init")
        a2 = await login(server, "alice@localhost/other")
        b = await login(server, "bob@localhost/tgt")
        c = await login(server, "carol@localhost/evil")
        sid = uuid.uuid4().hex
        dst = sha1_hex(sid, a.boundjid.full, b.boundjid.full)
        t = await in_thread(s5_connect, server.s5port, dst)
        i = await in_thread(s5_connect, server.s5port, dst)
        # someone else, even another resource of the initiator: the hash
        # of (sid, their JID, target) names no stream (XEP-0065 §6.3.5)
        assert await activate(c, sid, b.boundjid.full) == "item-not-found"
        assert await activate(a2, sid, b.boundjid.full) == "item-not-found"
        # the target itself
        assert await activate(b, sid, b.boundjid.full) == "item-not-found"
        # still pending: nothing relayed
        i.sendall(b"early")
        t.settimeout(0.5)
        with pytest.raises(socket.timeout):
            t.recv(10)
        assert await activate(a, sid, b.boundjid.full) is None
        # bytes sent before activation stay queued and follow (as ejabberd)
        assert recv_exact(t, 5) == b"early"
        i.sendall(b"hello")
        assert recv_exact(t, 5) == b"hello"
        t.sendall(b"back")
        assert recv_exact(i, 4) == b"back"
        assert await activate(a, sid, b.boundjid.full) == "conflict"
        i.close()
        t.close()
        await disconnect(a, a2, b, c)

    arun(scenario())


def test_activation_without_both_parties(server):
    async def scenario():
        a = await login(server, "alice@localhost/lone")
        b = await login(server, "bob@localhost/lone")
        sid = uuid.uuid4().hex
        # nobody connected with that hash
        assert await activate(a, sid, b.boundjid.full) == "item-not-found"
        # only the target connected
        t = await in_thread(s5_connect, server.s5port,
                            sha1_hex(sid, a.boundjid.full, b.boundjid.full))
        assert await activate(a, sid, b.boundjid.full) == "not-allowed"
        t.close()
        await until(lambda: server.stats()["proxy65_pending"] == "0")
        assert await activate(a, sid, b.boundjid.full) == "item-not-found"
        await disconnect(a, b)

    arun(scenario())


def test_activation_request_errors(server):
    async def scenario():
        a = await login(server, "alice@localhost/bad")

        async def raw(payload):
            iq = a.make_iq_set(ito="proxy.localhost")
            iq.append(slixmpp.xmlstream.ET.fromstring(payload))
            try:
                await iq.send(timeout=10)
                return None
            except slixmpp.exceptions.IqError as e:
                return e.iq["error"]["condition"]

        ns = "http://jabber.org/protocol/bytestreams"
        assert await raw("<query xmlns='%s'><activate>b@localhost</activate></query>" % ns) \
            == "bad-request"
        assert await raw("<query xmlns='%s' sid='s1'/>" % ns) == "bad-request"
        assert await raw("<query xmlns='%s' sid='s1'><activate>a@b@c</activate></query>"
                         % ns) == "jid-malformed"
        assert await raw("<query xmlns='urn:example:nope'/>") == "service-unavailable"
        await disconnect(a)

    arun(scenario())


def test_streams_per_user_limit(server):
    async def scenario():
        a = await login(server, "alice@localhost/many")
        b = await login(server, "bob@localhost/many")
        socks = []
        for _ in range(2):
            socks += await pair(server, a, b)
        sid = uuid.uuid4().hex
        dst = sha1_hex(sid, a.boundjid.full, b.boundjid.full)
        t = await in_thread(s5_connect, server.s5port, dst)
        i = await in_thread(s5_connect, server.s5port, dst)
        assert await activate(a, sid, b.boundjid.full) == "resource-constraint"
        socks[0].close()
        socks[1].close()
        await until(lambda: server.stats()["proxy65_streams"] == "1")
        assert await activate(a, sid, b.boundjid.full) is None
        for s in socks[2:] + [t, i]:
            s.close()
        await until(lambda: server.stats()["proxy65_streams"] == "0")
        await disconnect(a, b)

    arun(scenario())


# ---- SOCKS5 errors ----

def test_socks5_no_acceptable_method(server):
    s = s5_open(server.s5port)
    s.sendall(b"\x05\x01\x02")		# username/password only
    assert recv_exact(s, 2) == b"\x05\xff"
    assert closed_by_peer(s)


def test_socks5_wrong_address_type(server):
    s = s5_open(server.s5port)
    s.sendall(b"\x05\x01\x00")
    assert recv_exact(s, 2) == b"\x05\x00"
    s.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50")	# IPv4 127.0.0.1:80
    assert recv_exact(s, 10) == b"\x05\x08\x00\x01\x7f\x00\x00\x01\x00\x50"
    assert closed_by_peer(s)


def test_socks5_bad_hash(server):
    for bad in ("x" * 40, "a" * 39, "a" * 41):
        s = s5_open(server.s5port)
        s.sendall(b"\x05\x01\x00")
        assert recv_exact(s, 2) == b"\x05\x00"
        addr = b"\x03" + bytes([len(bad)]) + bad.encode()
        s.sendall(b"\x05\x01\x00" + addr + b"\x00\x00")
        assert recv_exact(s, 5 + len(bad) + 2) == b"\x05\x04\x00" + addr + b"\x00\x00"
        assert closed_by_peer(s)


def test_socks5_other_commands_and_versions(server):
    dst = "b" * 40
    s = s5_open(server.s5port)
    # greeting and a BIND request in one segment
    s.sendall(b"\x05\x01\x00" + b"\x05\x02\x00\x03\x28" + dst.encode() + b"\x00\x00")
    assert recv_exact(s, 2) == b"\x05\x00"
    assert recv_exact(s, 47)[:2] == b"\x05\x07"
    assert closed_by_peer(s)
    # SOCKS4 gets no SOCKS5 answer
    s = s5_open(server.s5port)
    s.sendall(b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00")
    assert recv_exact(s, 1) == b""


def test_third_connection_refused(server):
    dst = sha1_hex("sid3", "x@localhost/a", "y@localhost/b")
    a = s5_connect(server.s5port, dst)
    b = s5_connect(server.s5port, dst)
    c = s5_open(server.s5port)
    c.sendall(b"\x05\x01\x00")
    assert recv_exact(c, 2) == b"\x05\x00"
    c.sendall(b"\x05\x01\x00\x03\x28" + dst.encode() + b"\x00\x00")
    assert recv_exact(c, 47)[:2] == b"\x05\x02"
    assert closed_by_peer(c)
    a.close()
    b.close()


# ---- timeouts and limits ----

def test_pending_connections_time_out(server):
    silent = s5_open(server.s5port)			# not even a greeting
    half = s5_open(server.s5port)
    half.sendall(b"\x05\x01\x00")
    assert recv_exact(half, 2) == b"\x05\x00"
    waiting = s5_connect(server.s5port, sha1_hex("t", "a@localhost/x", "b@localhost/y"))
    t0 = time.time()
    for s in (silent, half, waiting):
        assert closed_by_peer(s, timeout=15)
    assert time.time() - t0 > 1.5		# pending_timeout = 3s: not at once
    assert "not activated in time" in server.daemon.log()


def test_connections_per_ip_limit(server):
    held = [s5_open(server.s5port) for _ in range(8)]
    for s in held:	# each is accepted: it answers the greeting
        s.sendall(b"\x05\x01\x00")
        assert recv_exact(s, 2) == b"\x05\x00"
    extra = s5_open(server.s5port)
    extra.sendall(b"\x05\x01\x00")
    assert closed_by_peer(extra)
    assert "max_connections_per_ip reached" in server.daemon.log()
    held.pop().close()
    time.sleep(0.2)
    again = s5_open(server.s5port)
    again.sendall(b"\x05\x01\x00")
    assert recv_exact(again, 2) == b"\x05\x00"
    for s in held + [again]:
        s.close()


# ---- the relay (splice and copy) ----

def test_relay_half_close(relay):
    async def scenario():
        a = await login(relay, "alice@localhost/hc")
        b = await login(relay, "bob@localhost/hc")
        i, t = await pair(relay, a, b)
        i.sendall(b"x" * 100000)
        i.shutdown(socket.SHUT_WR)
        # the target reads everything, then EOF; it can still answer
        assert recv_exact(t, 100001) == b"x" * 100000
        t.sendall(b"thanks")
        t.shutdown(socket.SHUT_WR)
        assert recv_exact(i, 7) == b"thanks"
        await until(lambda: relay.stats()["proxy65_streams"] == "0")
        i.close()
        t.close()
        await disconnect(a, b)

    arun(scenario())


def test_relay_reset_closes_the_other_side(relay):
    async def scenario():
        a = await login(relay, "alice@localhost/rst")
        b = await login(relay, "bob@localhost/rst")
        i, t = await pair(relay, a, b)
        i.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        i.close()				# RST
        assert closed_by_peer(t)
        await until(lambda: relay.stats()["proxy65_streams"] == "0")
        t.close()
        await disconnect(a, b)

    arun(scenario())


def test_relay_stalled_reader_keeps_memory_bounded(relay):
    pid = relay.pid()

    async def scenario():
        a = await login(relay, "alice@localhost/stall")
        b = await login(relay, "bob@localhost/stall")
        i, t = await pair(relay, a, b)
        before = rss_kib(pid)
        chunk = os.urandom(1 << 20)
        sent = 0
        i.settimeout(2)
        try:
            while sent < 50 << 20:		# the target never reads
                sent += i.send(chunk)
        except socket.timeout:
            pass
        after = rss_kib(pid)
        print("\n%s: %.1f MB accepted before backpressure, VmRSS %d -> %d KiB"
              % (relay.mode, sent / 1e6, before, after))
        assert sent < 50 << 20
        assert after - before < 2048
        i.close()
        t.close()
        await disconnect(a, b)

    arun(scenario())


def test_relay_throughput_and_cpu(relay):
    """Not a timing assertion: prints MB/s and server CPU per MB."""
    total = 512 << 20
    pid = relay.pid()

    async def scenario():
        a = await login(relay, "alice@localhost/bench")
        b = await login(relay, "bob@localhost/bench")
        i, t = await pair(relay, a, b)
        chunk = os.urandom(256 << 10)
        got = []

        def reader():
            n = 0
            t.settimeout(30)
            while True:
                d = t.recv(1 << 20)
                if not d:
                    break
                n += len(d)
            got.append(n)

        th = threading.Thread(target=reader)
        cpu0, t0 = cpu_seconds(pid), time.time()
        th.start()
        i.settimeout(30)
        for _ in range(total // len(chunk)):
            i.sendall(chunk)
        i.shutdown(socket.SHUT_WR)
        await in_thread(th.join)
        dt, cpu = time.time() - t0, cpu_seconds(pid) - cpu0
        assert got == [total]
        print("\n%s: %d MB in %.2fs = %.0f MB/s, server CPU %.0f ms = %.3f ms/MB"
              % (relay.mode, total >> 20, dt, total / dt / 1e6, cpu * 1000,
                 cpu * 1000 / (total >> 20)))
        i.close()
        t.close()
        await disconnect(a, b)

    arun(scenario())
