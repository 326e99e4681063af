"""turnd against real peers: coturn's turnutils_stunclient, turnutils_uclient
and turnutils_peer over UDP, TCP and TLS with TURN REST credentials, the
daemon contract (-t, SIGHUP reload keeping TLS allocations, SIGTERM, the
process name)."""

import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from edgetest import Daemon, binary, run
from test_turnd_stun import (ALLOCATE, REFRESH, REQUEST, A_LIFETIME, SECRET, Msg,
                             Turnd, free_udp_tcp_port)

pytestmark = pytest.mark.skipif(shutil.which("turnutils_uclient") is None,
                                reason="coturn's turnutils not installed (deploy/deps.sh)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    t = Turnd(tmp_path_factory.mktemp("turnd"), tls=True)
    yield t
    t.stop()


@pytest.fixture(scope="module")
def echo_peers():
    """turnutils_peer echoing on 127.0.0.1 and ::1."""
    procs = []
    ports = {}
    for host in ("127.0.0.1", "::1"):
        from edgetest import free_port
        port = free_port(socket.SOCK_DGRAM)
        procs.append(subprocess.Popen(["turnutils_peer", "-L", host, "-p", str(port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        ports[host] = port
    time.sleep(0.3)
    yield ports
    for p in procs:
        p.terminate()
        p.wait(5)


def uclient(server, peer_host, peer_port, *flags, n=20, m=2, length=200, port=None, host=None):
    argv = ["turnutils_uclient", *flags, "-W", SECRET, "-u", "alice",
            "-e", peer_host, "-r", str(peer_port), "-p", str(port or server.port),
            "-n", str(n), "-m", str(m), "-l", str(length), "-z", "5",
            host or "127.0.0.1"]
    return run(argv, timeout=60)


def relayed_all(out, n, m):
    """uclient's summary says every message came back through the relay."""
    total = n * m
    return ("tot_send_msgs=%d, tot_recv_msgs=%d" % (total, total)) in out and \
        "Total lost packets 0 " in out


def test_stunclient_binding(server):
    r = run(["turnutils_stunclient", "-p", str(server.port), "127.0.0.1"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "UDP reflexive addr: 127.0.0.1:" in r.stdout + r.stderr


@pytest.mark.parametrize("flags", [
    (),                 # UDP, channels, RTP+RTCP with EVEN-PORT/RESERVATION-TOKEN
    ("-s",),            # UDP, Send/Data indications
    ("-g",),            # UDP, DONT-FRAGMENT
    ("-t",),            # TCP, ChannelData framing
    ("-t", "-s"),       # TCP, indications
    ("-t", "-D"),       # TCP, mandatory channel padding
], ids=["udp", "udp-send", "udp-df", "tcp", "tcp-send", "tcp-padding"])
def test_uclient_relays(server, echo_peers, flags):
    r = uclient(server, "127.0.0.1", echo_peers["127.0.0.1"], *flags)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert relayed_all(out, 20, 2), out[-2000:]


def test_uclient_tls(server, echo_peers):
    r = uclient(server, "127.0.0.1", echo_peers["127.0.0.1"], "-t", "-S",
                port=server.tls_port, length=1200)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert relayed_all(out, 20, 2), out[-2000:]
    assert "transport=tls" in server.d.log()


def test_uclient_ipv6(server, echo_peers):
    r = uclient(server, "::1", echo_peers["::1"], "-x", host="::1")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert relayed_all(out, 20, 2), out[-2000:]
    assert re.search(r"relay=\[::1\]:\d+", server.d.log())


def test_allocation_log_line(server, echo_peers):
    uclient(server, "127.0.0.1", echo_peers["127.0.0.1"], "-c", n=10, m=1)
    log = server.d.log()
    line = [l for l in log.splitlines() if "allocation closed (released)" in l][-1]
    assert "user=alice" in line and "client=127.0.0.1:" in line and "relay=127.0.0.1:" in line
    assert re.search(r"to_peer=\d+ bytes", line) and re.search(r"to_client=\d+ bytes", line)
    # Never a password or a MAC.
    assert SECRET not in log


def test_process_name(server):
    with open("/proc/%d/comm" % server.d.proc.pid) as f:
        assert f.read().strip() == "turnd"


def test_default_policy_refuses_loopback_peer(tmp_path, echo_peers):
    t = Turnd(tmp_path, allow_loopback=False)
    try:
        r = uclient(t, "127.0.0.1", echo_peers["127.0.0.1"], "-c", n=5, m=1)
        out = r.stdout + r.stderr
        assert not relayed_all(out, 5, 1)
        assert "403" in out
        assert "refused" in t.d.log()
    finally:
        t.stop()


def test_check_config(tmp_path):
    good = tmp_path / "good.toml"
    secret = tmp_path / "s"
    secret.write_text("x\n")
    os.chmod(secret, 0o600)
    good.write_text('listen = ["127.0.0.1:3478"]\nrealm = "r"\nsecret_file = "%s"\n' % secret)
    r = run([binary("turnd"), "-t", "-c", str(good)])
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('listen = ["127.0.0.1:3478"]\nrealm = "r"\nsecret_file = "%s"\n'
                   '[relay]\nports = "9-3"\n' % secret)
    r = run([binary("turnd"), "-t", "-c", str(bad)])
    assert r.returncode == 1
    assert re.search(r"bad\.toml:5: relay\.ports: ", r.stderr), r.stderr
    typo = tmp_path / "typo.toml"
    typo.write_text('listen = ["127.0.0.1:3478"]\nrealm = "r"\nsecret_file = "%s"\nrelam = 1\n' % secret)
    r = run([binary("turnd"), "-t", "-c", str(typo)])
    assert r.returncode == 1 and "relam" in r.stderr
    # A secret file others may read is refused.
    os.chmod(secret, 0o644)
    r = run([binary("turnd"), "-t", "-c", str(good)])
    assert r.returncode == 1
    os.chmod(secret, 0o600)
    # TURNS: the certificate and key are loaded as the relay would
    nocert = tmp_path / "nocert.toml"
    nocert.write_text('listen = ["127.0.0.1:3478"]\nrealm = "r"\nsecret_file = "%s"\n'
                      'tls_listen = ["127.0.0.1:5349"]\ntls_cert = "%s"\ntls_key = "%s"\n'
                      % (secret, tmp_path / "missing.pem", tmp_path / "missing.key"))
    r = run([binary("turnd"), "-t", "-c", str(nocert)])
    assert r.returncode == 1 and "missing.pem" in r.stderr, r.stderr


def test_reload_swaps_certificate_keeps_allocations(tmp_path):
    import ssl
    t = Turnd(tmp_path, tls=True)
    try:
        c = t.logged_in(transport="tls")
        r = c.allocate()
        assert r.error() is None, r.error()
        old_der = c.sock.getpeercert(binary_form=True)
        # New certificate in place, then SIGHUP.
        from test_turnd_stun import make_cert
        crt, key = make_cert(t.tmp, "new")
        os.replace(crt, t.cert)
        os.replace(key, t.key)
        n = len(t.d.notifications)
        t.d.signal(signal.SIGHUP)
        t.d.wait_notify("RELOADING=1")
        deadline = time.time() + 5
        while time.time() < deadline and not any(
                "READY=1" in x for x in t.d.notifications[n:]):
            t.d.wait_notify("READY=1", 1)
        assert "configuration reloaded" in t.d.log()
        # The allocation made before the reload still answers on its
        # connection.
        r = c.auth_request(REFRESH, [(A_LIFETIME, b"\0\0\x02\x58")])
        assert r.error() is None, r.error()
        # New connections get the new certificate.
        c2 = t.client("tls")
        assert c2.sock.getpeercert(binary_form=True) != old_der
        c2.close()
        # A broken config on reload is refused and the old one kept.
        with open(t.conf, "a") as f:
            f.write("bogus_key = 1\n")
        t.d.signal(signal.SIGHUP)
        deadline = time.time() + 5
        while time.time() < deadline and "keeping the old configuration" not in t.d.log():
            time.sleep(0.1)
        assert "keeping the old configuration" in t.d.log()
        r = c.auth_request(REFRESH, [(A_LIFETIME, b"\0\0\x02\x58")])
        assert r.error() is None
        c.close()
    finally:
        t.stop()
