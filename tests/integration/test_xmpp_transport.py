"""xmpp-core's transport under pressure: the input shaper keeps a fast
sender going at its rate (it never stalls), the soft RLIMIT_NOFILE is
raised to the hard one at start, a server that runs out of descriptors
pauses its listeners instead of spinning on accept(2), then serves again,
and idle TLS 1.3 sessions leave OpenSSL (tls_conn_park) and keep working
(TLS 1.2 ones stay with OpenSSL)."""

import asyncio
import os
import ssl
import time

import pytest

from edgetest import Daemon, binary
from pgcluster import PgCluster
from xmpptest import Raw, XmppServer, arun, connect, disconnect, online, recv

PW = "correct horse battery staple"


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


def start_with_nofile(pg, soft, hard):
    s = XmppServer(pg, start=False, c2s_extra="max_connections_per_ip = 1000")
    s.daemon = Daemon(["prlimit", "--nofile=%d:%d" % (soft, hard), binary("xmpp-core"),
                       "-c", s.conf], ready_timeout=30)
    return s


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def nofile_limits(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return [int(x) for x in line.split()[3:5]]
    raise AssertionError("no limit line")


def test_soft_limit_raised_to_hard(pg):
    s = start_with_nofile(pg, 40, 300)
    try:
        assert nofile_limits(s.daemon.proc.pid) == [300, 300]
        assert "descriptor limit 300" in s.daemon.log()
    finally:
        s.destroy()


def test_out_of_descriptors_pauses_then_serves(pg):
    s = start_with_nofile(pg, 48, 48)
    held = []
    try:
        for _ in range(60):	# more than the server can hold
            held.append(Raw(s.port))	# the kernel's backlog takes them all
        served = 0
        for r in held:
            r.send(Raw.HEADER)
        for r in held:
            if "</stream:features>" in r.recv_until("</stream:features>", timeout=0.3):
                served += 1
        assert 10 < served < 60, served
        cpu0 = cpu_seconds(s.daemon.proc.pid)
        time.sleep(1.0)
        # paused, not spinning on accept(2): little CPU, one warning
        assert cpu_seconds(s.daemon.proc.pid) - cpu0 < 0.2
        assert s.daemon.log().count("pausing accepts") == 1
        for r in held:
            r.sock.close()
        time.sleep(0.5)
        r = Raw(s.port)
        r.send(Raw.HEADER)
        assert "</stream:features>" in r.recv_until("</stream:features>")
        r.sock.close()
    finally:
        for r in held:
            r.sock.close()
        s.destroy()


def test_shaper_paces_a_fast_sender_without_stalling(pg):
    # 64K/s is four full reads: a burst empties the bucket in one readable
    # event, and the refill timer must bring the reads back
    s = XmppServer(pg, start=False)
    with open(s.conf) as f:
        conf = f.read().replace('shaper_rate = "10M"', 'shaper_rate = "64K"')
    with open(s.conf, "w") as f:
        f.write(conf)
    s.start()
    try:
        s.adduser("fast", PW)
        rcv, snd = Raw(s.port), Raw(s.port)
        rcv.session("fast", PW, "rcv")
        snd.session("fast", PW, "snd")
        rcv.recv_until("</presence>", timeout=1)
        n = 1000
        msg = ("<message to='fast@localhost/rcv' type='chat'><body>%s</body></message>"
               % ("x" * 200))
        t0 = time.time()
        snd.send(msg * n)	# ~240 KB: about 4 s at 64K/s
        got = 0
        buf = ""
        while got < n and time.time() - t0 < 20:
            buf += rcv.recv_until("</message>", timeout=2)
            got = buf.count("</message>")
        assert got == n, "%d of %d delivered in %.1f s" % (got, n, time.time() - t0)
        assert time.time() - t0 > 2.0, "the shaper must pace the sender"
        rcv.close()
        snd.close()
    finally:
        s.destroy()


def raw_tls12_session(port, user, resource):
    """A raw stream whose STARTTLS negotiates TLS 1.2."""
    r = Raw(port)
    r.send(Raw.HEADER)
    r.recv_until("</stream:features>")
    r.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    assert "<proceed" in r.recv_until("/>")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    r.sock = ctx.wrap_socket(r.sock, server_hostname="localhost")
    assert r.sock.version() == "TLSv1.2"
    r.session(user, PW, resource)
    return r


def test_idle_tls_sessions_leave_openssl_and_keep_working(pg):
    s = XmppServer(pg)	# release_parser_after = 1s: TLS parks with the parser
    try:
        for u in ("alice", "bob", "carol"):
            s.adduser(u, PW)
        big = "y" * 100000	# several TLS records each way

        async def scenario():
            a = await connect("alice@localhost/park", PW, s.port)
            b = await connect("bob@localhost/park", PW, s.tls_port, direct_tls=True)
            await online(a)
            await online(b)
            carol = raw_tls12_session(s.port, "carol", "old")
            await asyncio.sleep(2.5)
            log = s.daemon.log()
            assert log.count("TLS parked") == 2, "TLS 1.3 sessions park, TLS 1.2 stays"
            sessions = s.ctl("sessions").stdout
            assert sessions.count("TLSv1.3") == 2 and "TLSv1.2" in sessions, sessions
            a.send_message(mto="bob@localhost/park", mbody=big, mtype="chat")
            m = await recv(b.messages)
            assert m["body"] == big
            b.send_message(mto="alice@localhost/park", mbody="got it " + big, mtype="chat")
            m = await recv(a.messages)
            assert m["body"] == "got it " + big
            a.send_message(mto="carol@localhost/old", mbody="to 1.2", mtype="chat")
            loop = asyncio.get_running_loop()	# carol's socket blocks: not on the loop
            got = ""
            while "to 1.2" not in got and "</stream:stream>" not in got:
                more = await loop.run_in_executor(None, carol.recv_until, "</message>")
                assert more, got
                got += more
            carol.send("<message to='alice@localhost/park' type='chat'><body>from 1.2"
                       "</body></message>")
            m = await recv(a.messages)
            assert m["body"] == "from 1.2"
            await asyncio.sleep(2.5)	# quiet again: buffers and contexts go
            await a["xep_0199"].ping("localhost")
            await b["xep_0199"].ping("localhost")
            carol.close()
            await disconnect(a, b)
        arun(scenario())
        log = s.daemon.log()
        assert "stream error" not in log and "TLS:" not in log, log[-2000:]
    finally:
        s.destroy()
