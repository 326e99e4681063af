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

    def wait_stat(self, key, value, timeout=10):
        deadline = time.time() + timeout
        while self.stats()[key] != value:
            assert time.time() < deadline, "%s != %s" % (key, value)
            time.sleep(0.05)


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
    # the copy server also caps the kernel's socket buffers
    s = start(pg, 'relay = "%s"\nbuffer_size = "64K"\n%s' % (
        request.param, 'socket_buffer = "128K"\n' if request.param == "copy" else ""))
    s.mode = request.param
    yield s
    s.destroy()


@pytest.fixture(scope="module")
def shaped(pg):
    s = start(pg, 'rate = "100K"\nidle_timeout = "2s"\n')
    yield s
    s.destroy()


@pytest.fixture(scope="module")
def total(pg):
    s = start(pg, 'total_rate = "200K"\n')
    yield s
    s.destroy()


@pytest.fixture(scope="module")
def tight(pg):
    s = start(pg, 'max_pending = 4\nmax_streams = 1\nmax_transfer_size = "256K"\n')
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


async def pair(server, a, b, sid=None, target_host="127.0.0.1"):
    """Target (b) then initiator (a) connect with raw sockets, a activates."""
    sid = sid or uuid.uuid4().hex
    dst = sha1_hex(sid, a.boundjid.full, b.boundjid.full)
    t = await in_thread(s5_connect, server.s5port, dst, target_host)
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


def assert_idle(pid, seconds=1.0):
    """The server does not spin while a stream waits (no busy loop on a
    half-closed, pending or blocked socket)."""
    c0 = cpu_seconds(pid)
    time.sleep(seconds)
    assert cpu_seconds(pid) - c0 < 0.3 * seconds


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
        assert_idle(server.pid())
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
    server.wait_stat("proxy65_pending", "0")	# earlier tests' sockets are gone
    held = [s5_open(server.s5port) for _ in range(8)]
    for s in held:	# each is accepted: it answers the greeting
        s.sendall(b"\x05\x01\x00")
        assert recv_exact(s, 2) == b"\x05\x00"
    extra = s5_open(server.s5port)
    extra.sendall(b"\x05\x01\x00")
    assert closed_by_peer(extra)
    assert "max_connections_per_ip reached" in server.daemon.log()
    held.pop().close()
    server.wait_stat("proxy65_pending", "7")
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
        i, t = await pair(relay, a, b, target_host="::1")	# dual-stack
        i.sendall(b"x" * 100000)
        i.shutdown(socket.SHUT_WR)
        # the target reads everything, then EOF; it can still answer
        assert recv_exact(t, 100001) == b"x" * 100000
        assert_idle(relay.pid())
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
        assert_idle(pid)
        print("\n%s: %.1f MB accepted before backpressure, VmRSS %d -> %d KiB"
              % (relay.mode, sent / 1e6, before, after))
        assert sent < 50 << 20
        assert after - before < 2048
        i.close()
        t.close()
        await disconnect(a, b)

    arun(scenario())


def test_relay_throughput_and_cpu(relay):
    """Not a timing assertion: prints MB/s and server CPU per MB
    (PROXY65_BENCH_MB=2048 for steadier figures)."""
    total = int(os.environ.get("PROXY65_BENCH_MB", "512")) << 20
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


# ---- shaping, transfer limit, idle timeout ----

def timed_transfer(i, t, n):
    """Sends n bytes i -> t; returns (seconds until t had them, bytes t got)."""
    got = []

    def reader():
        k = 0
        t.settimeout(30)
        try:
            while k < n:
                d = t.recv(65536)
                if not d:
                    break
                k += len(d)
        except (ConnectionResetError, socket.timeout):
            pass
        got.append(k)

    th = threading.Thread(target=reader)
    t0 = time.time()
    th.start()
    i.settimeout(30)
    try:
        i.sendall(os.urandom(n))
    except (ConnectionResetError, BrokenPipeError):
        pass
    th.join()
    return time.time() - t0, got[0]


def test_rate_limits_each_stream(shaped):
    async def scenario():
        a = await login(shaped, "alice@localhost/rate")
        b = await login(shaped, "bob@localhost/rate")
        i, t = await pair(shaped, a, b)
        dt, got = await in_thread(timed_transfer, i, t, 512 << 10)
        print("\n512 KiB at rate = 100K: %.1fs (%.0f KiB/s)" % (dt, got / dt / 1024))
        assert got == 512 << 10
        # a one-second burst, then 100 KiB/s: at least ~4 s; loosely
        assert dt > 2.5
        i.close()
        t.close()
        await disconnect(a, b)

    arun(scenario())


def test_rate_applies_to_each_direction(shaped):
    async def scenario():
        a = await login(shaped, "alice@localhost/rate2")
        b = await login(shaped, "bob@localhost/rate2")
        i, t = await pair(shaped, a, b)
        n = 300 << 10
        (d1, g1), (d2, g2) = await asyncio.gather(in_thread(timed_transfer, i, t, n),
                                                  in_thread(timed_transfer, t, i, n))
        print("\n300 KiB each way at rate = 100K: %.1fs, %.1fs" % (d1, d2))
        assert g1 == n and g2 == n
        # each direction has its own bucket: ~2 s each, at the same time
        assert 1.2 < d1 < 15 and 1.2 < d2 < 15
        i.close()
        t.close()
        await disconnect(a, b)

    arun(scenario())


def test_idle_streams_are_closed(shaped):
    async def scenario():
        a = await login(shaped, "alice@localhost/idle")
        b = await login(shaped, "bob@localhost/idle")
        i, t = await pair(shaped, a, b)
        i.sendall(b"ping")
        assert recv_exact(t, 4) == b"ping"
        t0 = time.time()
        assert closed_by_peer(t, timeout=15) and closed_by_peer(i, timeout=15)
        assert time.time() - t0 > 1		# idle_timeout = 2s
        assert "idle timeout" in shaped.daemon.log()
        await disconnect(a, b)

    arun(scenario())


def test_total_rate_limits_all_streams(total):
    async def scenario():
        a = await login(total, "alice@localhost/tot")
        b = await login(total, "bob@localhost/tot")
        p1 = await pair(total, a, b)
        p2 = await pair(total, a, b)
        n = 300 << 10
        r1, r2 = await asyncio.gather(in_thread(timed_transfer, *p1, n),
                                      in_thread(timed_transfer, *p2, n))
        dt = max(r1[0], r2[0])
        print("\n2 x 300 KiB at total_rate = 200K: %.1fs, %.1fs" % (r1[0], r2[0]))
        assert r1[1] == n and r2[1] == n
        # 600 KiB through one 200 KiB/s bucket (one second of burst): ~2 s
        assert dt > 1.2
        for s in p1 + p2:
            s.close()
        await disconnect(a, b)

    arun(scenario())


def test_max_transfer_size(tight):
    async def scenario():
        a = await login(tight, "alice@localhost/max")
        b = await login(tight, "bob@localhost/max")
        await until(lambda: tight.stats()["proxy65_streams"] == "0")
        i, t = await pair(tight, a, b)
        dt, got = await in_thread(timed_transfer, i, t, 400 << 10)
        assert got == 256 << 10		# then the stream is cut
        assert closed_by_peer(i)
        assert "max_transfer_size reached" in tight.daemon.log()
        i.close()
        t.close()
        await disconnect(a, b)

    arun(scenario())


def test_max_pending(tight):
    tight.wait_stat("proxy65_pending", "0")
    held = [s5_open(tight.s5port) for _ in range(4)]
    for s in held:
        s.sendall(b"\x05\x01\x00")
        assert recv_exact(s, 2) == b"\x05\x00"
    extra = s5_open(tight.s5port)
    assert closed_by_peer(extra)
    assert "max_pending reached" in tight.daemon.log()
    for s in held:
        s.close()


def test_max_streams(tight):
    async def scenario():
        a = await login(tight, "alice@localhost/ms")
        b = await login(tight, "bob@localhost/ms")
        await until(lambda: tight.stats()["proxy65_pending"] == "0")
        i, t = await pair(tight, a, b)
        sid = uuid.uuid4().hex
        dst = sha1_hex(sid, a.boundjid.full, b.boundjid.full)
        t2 = await in_thread(s5_connect, tight.s5port, dst)
        i2 = await in_thread(s5_connect, tight.s5port, dst)
        assert await activate(a, sid, b.boundjid.full) == "resource-constraint"
        for s in (i, t, i2, t2):
            s.close()
        await disconnect(a, b)

    arun(scenario())


# ---- configuration ----

def test_reload_keeps_streams(pg):
    s = start(pg)
    try:
        async def scenario():
            a = await login(s, "alice@localhost/hup")
            b = await login(s, "bob@localhost/hup")
            i, t = await pair(s, a, b)
            with open(s.conf) as f:
                conf = f.read()
            other = free_port()
            with open(s.conf, "w") as f:
                f.write(conf.replace('host = "localhost"', 'host = "127.0.0.1"\n'
                                     'listen = ["127.0.0.1:%d"]' % other, 1)
                        .replace('listen = ["127.0.0.1:%d", "[::1]:%d"]\n'
                                 % (s.s5port, s.s5port), ""))
            s.daemon.signal(signal.SIGHUP)
            await until(lambda: "configuration reloaded" in s.daemon.log())
            assert "[proxy65] listen changed; that needs a restart" in s.daemon.log()
            # the running stream goes on
            i.sendall(b"after reload")
            assert recv_exact(t, 12) == b"after reload"
            # the new advertised host, on the old listener
            r = await a["xep_0065"].get_network_address("proxy.localhost")
            assert r["socks"]["streamhost"]["host"] == "127.0.0.1"
            i2, t2 = await pair(s, a, b)
            i2.close()
            t2.close()
            # [proxy65] removed: the service is gone, new connections are
            # refused, the running stream goes on
            with open(s.conf, "w") as f:
                head, rest = conf.split("[proxy65]")
                f.write(head + rest[rest.index("[database]"):])
            s.daemon.signal(signal.SIGHUP)
            await until(lambda: "[proxy65] was removed" in s.daemon.log())
            items = await a["xep_0030"].get_items(jid="localhost")
            assert "proxy.localhost" not in [x[0] for x in items["disco_items"]["items"]]
            late = s5_open(s.s5port)
            assert await in_thread(closed_by_peer, late)
            t.sendall(b"still here")
            assert recv_exact(i, 10) == b"still here"
            await disconnect(a, b)
            return i, t

        i, t = arun(scenario())
        # SIGTERM closes running streams; the daemon exits 0
        s.stop()
        assert closed_by_peer(i) and closed_by_peer(t)
    finally:
        s.destroy()


def test_config_errors(tmp_path):
    from edgetest import binary, run
    from xmpptest import make_cert
    cert, key = make_cert(str(tmp_path))	# -t loads them
    base = ('hosts = ["localhost"]\n[database]\nconninfo = "x"\n[tls]\n'
            'cert_file = "%s"\nkey_file = "%s"\n[c2s]\nlisten = ["127.0.0.1:1"]\n'
            '[proxy65]\n' % (cert, key))
    cases = [
        ('listen = ["unix:/tmp/x"]', "proxy65.listen: a TCP address"),
        ('listen = ["[::]:0"]', "proxy65.listen:"),
        ("port = 0", "proxy65.port:"),
        ('service = "Proxy.Localhost"', "proxy65.service: not a normalised domain"),
        ('host = "bad host"', "proxy65.host:"),
        ('rate = "10"', "proxy65.rate:"),
        ('buffer_size = "2M"', "proxy65.buffer_size:"),
        ('relay = "zerocopy"', "proxy65.relay:"),
        ('pending_timeout = "1h"', "proxy65.pending_timeout:"),
        ("max_connections_per_ip = 1", "proxy65.max_connections_per_ip:"),
        ("bogus = 1", "proxy65.bogus"),
    ]
    for line, msg in cases:
        p = tmp_path / "c.toml"
        p.write_text(base + line + "\n")
        r = run([binary("xmpp-core"), "-t", "-c", str(p)])
        assert r.returncode == 1 and ("c.toml:10: " + msg) in r.stderr, (line, r.stderr)
    p.write_text(base + 'listen = ["[::]:7777"]\nhost = "proxy.example.org"\n')
    r = run([binary("xmpp-core"), "-t", "-c", str(p)])
    assert r.returncode == 0, r.stderr
