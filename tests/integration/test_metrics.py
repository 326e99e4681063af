"""Issue 19: the Prometheus endpoints, scraped by a real Prometheus
(Debian's package, its own config and TSDB, 1 s scrape interval) after
real traffic, the series read back through its HTTP API; curl for the
text format (and promtool's lint), 404/405, and the endpoint being off
unless [metrics] listen is set."""

import asyncio
import base64
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from edgetest import binary, free_port, run
from metricslab import (Prometheus, check_dashboard, check_documented, dashboard,
                        documented, expr_metrics)
from pgcluster import PgCluster
from s2slab import S2sServer
from xmpptest import Client, Raw, arun, connect, disconnect, online, recv

A = "a.metrics.test"
B = "b.metrics.test"


@pytest.fixture(scope="module")
def prom():
    p = Prometheus()
    yield p
    p.destroy()


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


def curl(url, *args):
    r = subprocess.run(["curl", "-sS", "-i", "--max-time", "10"] + list(args) + [url],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.replace("\r\n", "\n").partition("\n\n")
    return int(head.split()[1]), head, body


def listening(pid):
    """(address, port) of the TCP sockets the process listens on (ss -ltnp)."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout
    socks = set()
    for line in out.splitlines():
        if "pid=%d," % pid in line:
            addr, port = line.split()[3].rsplit(":", 1)
            socks.add((addr.strip("[]"), int(port)))
    return socks


def listening_ports(pid):
    return {p for _, p in listening(pid)}


def check_text(port):
    """The endpoint's answers: the text format, and nothing else."""
    url = "http://127.0.0.1:%d" % port
    status, head, body = curl(url + "/metrics")
    assert status == 200
    assert re.search(r"(?im)^content-type: text/plain; version=0\.0\.4; charset=utf-8$", head)
    lint = subprocess.run(["promtool", "check", "metrics"], input=body,
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    for line in body.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or \
            re.match(r'^[a-z_][a-z0-9_]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? \S+$', line), line
    status, head, rest = curl(url + "/metrics", "-I")
    assert status == 200 and rest == ""
    assert curl(url + "/")[0] == 404
    assert curl(url + "/metrics/x")[0] == 404
    status, head, _ = curl(url + "/metrics", "-X", "POST", "-d", "x=1")
    assert status == 405 and re.search(r"(?im)^allow: GET, HEAD$", head)
    return body


def value(prom, expr):
    res = prom.query(expr)
    assert len(res) == 1, (expr, res)
    return res[0][1]


@pytest.fixture(scope="module")
def xmpp_pair(pg, prom):
    a = S2sServer(pg, A, start=False)
    b = S2sServer(pg, B, start=False)
    a.route_to(b)
    b.route_to(a)
    a.write_conf()
    b.write_conf()
    a.mport = free_port()
    a.tls_port = free_port()
    with open(a.conf) as f:
        text = f.read()
    # direct TLS on ::1 as well: the bans test fails from there, so
    # 127.0.0.1 stays usable
    text = text.replace("auth_fail_limit = 1000\n", 'auth_fail_limit = 2\n'
                        'listen_tls = ["127.0.0.1:%d", "[::1]:%d"]\n' % (a.tls_port, a.tls_port))
    a.web = free_port()
    text += ("\n[web]\nlisten = [\"127.0.0.1:%d\"]\n" % a.web)
    text += ("\n[registration]\nenabled = true\nallow_from = [\"127.0.0.0/8\"]\n"
             "throttle_per_ip = 1\nmin_password_entropy = 20\n"
             "\n[metrics]\nlisten = \"%d\"\n" % a.mport)
    with open(a.conf, "w") as f:
        f.write(text)
    a.start()
    b.start()
    a.adduser("alice", "alice-pw-1")
    a.adduser("dave", "dave-pw-1")
    b.adduser("bob", "bob-pw-1")
    prom.add_target("xmpp-core", "127.0.0.1:%d" % a.mport)
    yield a, b
    print("---- %s ----\n%s" % (A, a.log()[-20000:]))
    a.destroy()
    b.destroy()


def ws_session(port, user, password):
    """A WebSocket (RFC 7395) session on A: open, PLAIN, restart, bind."""
    from wsclient import NS_FRAMING, WS
    w = WS(port)
    assert w.status == 101
    w.open(to=A)
    assert w.recv().startswith("<open xmlns='%s'" % NS_FRAMING)
    assert "PLAIN" in w.recv()
    w.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
           % base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode())
    assert "<success" in w.recv()
    w.open(to=A)
    assert w.recv().startswith("<open ")
    w.recv()	# features
    w.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns="
           "'urn:ietf:params:xml:ns:xmpp-bind'><resource>ws</resource></bind></iq>")
    assert "type='result'" in w.recv()
    return w


def bosh_session(port, user, password):
    """A BOSH (XEP-0206) session on A: create, PLAIN, restart, bind."""
    from boshclient import Bosh
    b = Bosh(port)
    st, _, text = b.create(to=A, wait=2)
    assert st == 200 and b.sid and "PLAIN" in text, text
    _, _, text = b.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                        "%s</auth>" % base64.b64encode(("\0%s\0%s" % (user, password))
                                                        .encode()).decode())
    assert "<success" in text, text
    _, _, text = b.send(xmpp__restart="true")
    assert "urn:ietf:params:xml:ns:xmpp-bind" in text, text
    _, _, text = b.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns="
                        "'urn:ietf:params:xml:ns:xmpp-bind'><resource>bosh</resource></bind>"
                        "</iq>")
    assert "%s@%s/bosh" % (user, A) in text, text
    return b


def test_xmpp_core_series_after_traffic(xmpp_pair, prom):
    a, b = xmpp_pair
    x = '{daemon="xmpp-core"}'

    async def scenario():
        alice = await connect("alice@%s/pc" % A, "alice-pw-1", a.port)
        dave = await connect("dave@%s/tab" % A, "dave-pw-1", a.tls_port, direct_tls=True)
        bob = await connect("bob@%s/phone" % B, "bob-pw-1", b.port)
        await online(alice)
        await online(dave)
        await online(bob)
        alice.send_message(mto="bob@%s/phone" % B, mbody="over s2s")
        assert (await recv(bob.messages, 20))["body"] == "over s2s"
        bob.send_message(mto="alice@%s/pc" % A, mbody="and back")
        assert (await recv(alice.messages, 20))["body"] == "and back"
        alice.send_message(mto="dave@%s/tab" % A, mbody="local")
        assert (await recv(dave.messages, 20))["body"] == "local"
        ws = await asyncio.to_thread(ws_session, a.web, "alice", "alice-pw-1")
        bosh = await asyncio.to_thread(bosh_session, a.web, "dave", "dave-pw-1")
        # while they are online: one session per transport
        await asyncio.to_thread(prom.wait, 'xmpp_sessions{transport="tcp"}', lambda v: v == 1)
        await asyncio.to_thread(prom.wait, 'xmpp_sessions{transport="tls"}', lambda v: v == 1)
        await asyncio.to_thread(prom.wait, 'xmpp_sessions{transport="websocket"}',
                                lambda v: v == 1)
        await asyncio.to_thread(prom.wait, 'xmpp_sessions{transport="bosh"}', lambda v: v == 1)
        await asyncio.to_thread(prom.wait, 'xmpp_users_online', lambda v: v == 2)
        ws.close()
        await asyncio.to_thread(bosh.send, type="terminate")
        await disconnect(alice, dave, bob)

    arun(scenario(), 90)
    prom.wait('xmpp_stanzas_total{direction="in"}', lambda v: v >= 4)
    prom.wait('xmpp_stanzas_total{direction="out"}', lambda v: v >= 3)
    prom.wait('xmpp_s2s_links{direction="out"}', lambda v: v >= 1)
    prom.wait('xmpp_s2s_links{direction="in"}', lambda v: v >= 1)
    # alice's message went out to B, bob's came back (presence too, maybe)
    prom.wait('xmpp_s2s_stanzas_total{direction="out"}', lambda v: v >= 1)
    prom.wait('xmpp_s2s_stanzas_total{direction="in"}', lambda v: v >= 1)
    assert value(prom, "xmpp_s2s_bounced_total" + x) == 0
    # the archive of both accounts on A (mam's batches are written soon after)
    prom.wait("xmpp_mam_rows_written_total", lambda v: v >= 3)
    prom.wait("xmpp_db_query_duration_seconds_count", lambda v: v >= 5)
    prom.wait('histogram_quantile(0.5, xmpp_db_query_duration_seconds_bucket)',
              lambda v: 0 < v <= 10)
    assert value(prom, "xmpp_db_queue_depth" + x) == 0
    assert value(prom, "xmpp_db_connections" + x) >= 1
    prom.wait('xmpp_sessions{transport="websocket"}', lambda v: v == 0)
    prom.wait('xmpp_sessions{transport="bosh"}', lambda v: v == 0)
    assert value(prom, "xmpp_auth_failures_total") == 0
    assert value(prom, "xmpp_bans_total") == 0
    assert value(prom, "xmpp_connections") >= 0
    check_documented(prom, "xmpp_", "xmpp-core")


def test_xmpp_core_failures_bans_throttle(xmpp_pair, prom):
    a, _ = xmpp_pair
    for _ in range(2):
        r = Raw(a.tls_port, direct_tls=True, host="::1")
        r.HEADER = Raw.HEADER.replace("to='localhost'", "to='%s'" % A)
        assert "<failure" in r.login_plain("alice", "wrong password")
        r.close()
    prom.wait("xmpp_auth_failures_total", lambda v: v >= 2)
    prom.wait("xmpp_bans_total", lambda v: v == 1)

    async def register(user):
        c = Client("%s@%s" % (user, A), "a long enough password 1", register=True)
        c.connect(("127.0.0.1", a.port), force_starttls=True)
        done, _ = await asyncio.wait(
            [asyncio.ensure_future(c.registered.wait()), asyncio.ensure_future(c.failed.wait())],
            timeout=20, return_when=asyncio.FIRST_COMPLETED)
        ok = c.registered.is_set()
        c.abort()
        return ok

    assert arun(register("erin"))
    assert not arun(register("frank"))	# one per address per period
    prom.wait("xmpp_registrations_throttled_total", lambda v: v >= 1)


def test_xmpp_core_text_format(xmpp_pair):
    a, _ = xmpp_pair
    body = check_text(a.mport)
    assert "# TYPE xmpp_db_query_duration_seconds histogram" in body
    assert 'xmpp_db_query_duration_seconds_bucket{le="+Inf"}' in body
    assert "# TYPE xmpp_stanzas_total counter" in body
    # loopback only, as a bare port says
    assert [s for s in listening(a.daemon.proc.pid) if s[1] == a.mport] == \
        [("127.0.0.1", a.mport)]


def test_xmpp_core_metrics_off_by_default_and_checked(xmpp_pair):
    _, b = xmpp_pair
    assert "metrics:" not in b.log()
    assert listening_ports(b.daemon.proc.pid) == {b.port, b.s2s_port, b.s2s_tls_port}
    with open(b.conf) as f:
        text = f.read()
    for bad, why in (('listen = "unix:/tmp/m.sock"', "not a unix socket"),
                     ('listen = "localhost:9100"', "metrics.listen"),
                     ('listen = "0"', "port must be 1-65535"),
                     ('max_connections = 1000', "must be between 1 and 64"),
                     ('lsten = "9100"', "metrics.lsten")):
        path = b.conf + ".bad"
        with open(path, "w") as f:
            f.write(text + "\n[metrics]\n" + bad + "\n")
        r = run([binary("xmpp-core"), "-t", "-c", path])
        assert r.returncode != 0 and why in r.stderr, (bad, r.stderr)
        assert re.search(r"\.bad:\d+: metrics\.", r.stderr), r.stderr



# ---- turnd ----

@pytest.fixture(scope="module")
def turnd(tmp_path_factory, prom):
    from test_turnd_stun import Turnd
    port = free_port()
    t = Turnd(tmp_path_factory.mktemp("turnd"), relay='[metrics]\nlisten = "%d"' % port)
    t.mport = port
    prom.add_target("turnd", "127.0.0.1:%d" % port)
    yield t
    t.stop()


@pytest.mark.skipif(shutil.which("turnutils_uclient") is None,
                    reason="coturn's turnutils not installed (deploy/deps.sh)")
def test_turnd_series_after_traffic(turnd, prom):
    from test_turnd import relayed_all, uclient
    peer = subprocess.Popen(["turnutils_peer", "-L", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        held = turnd.logged_in()
        assert held.allocate().error() is None
        # a peer outside allow_peers: 403, counted
        assert held.permit(("127.0.0.2", 9)).error() == 403
        bad = turnd.logged_in(secret="not the secret")
        assert bad.allocate().error() == 401
        prom.wait("turnd_allocations", lambda v: v == 1)
        port = int(peer.args[-1])
        deadline = time.time() + 30
        while True:	# the peer answers once it is bound
            r = uclient(turnd, "127.0.0.1", port, n=10, m=1, length=100)
            if relayed_all(r.stdout + r.stderr, 10, 1) or time.time() > deadline:
                break
        assert relayed_all(r.stdout + r.stderr, 10, 1), r.stdout[-2000:]
    finally:
        peer.terminate()
        peer.wait(5)
    prom.wait("turnd_allocations_total", lambda v: v >= 2)
    prom.wait('turnd_relayed_packets_total{direction="to_peer"}', lambda v: v >= 10)
    prom.wait('turnd_relayed_packets_total{direction="to_client"}', lambda v: v >= 10)
    prom.wait('turnd_relayed_bytes_total{direction="to_peer"}', lambda v: v >= 1000)
    prom.wait('turnd_relayed_bytes_total{direction="to_client"}', lambda v: v >= 1000)
    prom.wait("turnd_peers_refused_total", lambda v: v >= 1)
    prom.wait("turnd_auth_failures_total", lambda v: v >= 1)
    assert value(prom, "turnd_connections") == 0
    assert value(prom, "turnd_dropped_packets_total") >= 0
    check_documented(prom, "turnd_", "turnd")
    held.close()


def test_turnd_text_format_and_off_by_default(turnd, tmp_path):
    from test_turnd_stun import Turnd
    body = check_text(turnd.mport)
    assert "# TYPE turnd_relayed_bytes_total counter" in body
    t = Turnd(tmp_path)
    try:
        assert "metrics" not in t.d.log()
        assert listening_ports(t.d.proc.pid) == {t.port}
    finally:
        t.stop()
    with open(turnd.conf) as f:
        text = f.read()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('listen = "%d"' % turnd.mport, 'listen = "unix:/tmp/x"'))
    r = run([binary("turnd"), "-t", "-c", str(bad)])
    assert r.returncode != 0 and "metrics.listen" in r.stderr, r.stderr


# ---- upload-gw ----

@pytest.fixture(scope="module")
def gw(tmp_path_factory, prom):
    from test_upload_gw import Gw
    port = free_port()
    g = Gw(tmp_path_factory.mktemp("gw"), extra='expire_after = "1h"\nexpire_interval = "1s"\n'
           '[metrics]\nlisten = "%d"' % port)
    g.mport = port
    prom.add_target("upload-gw", "127.0.0.1:%d" % port)
    yield g
    g.stop()


def test_upload_gw_series_after_traffic(gw, prom, tmp_path):
    from test_upload_gw import mac_v1
    body = tmp_path / "photo.jpg"
    body.write_bytes(b"j" * 5000)
    url = "http://127.0.0.1:%d/upload/m/photo.jpg" % gw.port
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", str(body),
                        url + "?v=" + mac_v1("m/photo.jpg", 5000)],
                       capture_output=True, text=True, timeout=30)
    assert r.stdout == "201", r.stdout + r.stderr
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", str(body),
                        url.replace("photo", "other") + "?v=" + "0" * 64],
                       capture_output=True, text=True, timeout=30)
    assert r.stdout == "403", r.stdout + r.stderr
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", url],
                       capture_output=True, text=True, timeout=30)
    assert r.stdout == "200", r.stdout + r.stderr
    prom.wait("upload_uploads_total", lambda v: v == 1)
    prom.wait("upload_uploaded_bytes_total", lambda v: v == 5000)
    prom.wait("upload_uploads_refused_total", lambda v: v == 1)
    prom.wait("upload_downloads_total", lambda v: v == 1)
    prom.wait("upload_downloaded_bytes_total", lambda v: v == 5000)
    prom.wait("upload_disk_size_bytes", lambda v: v > 0)
    prom.wait("upload_disk_free_bytes", lambda v: v > 0)
    prom.wait("upload_expiry_sweeps_total", lambda v: v >= 1)
    # an old file goes at the next sweep
    past = time.time() - 7200
    os.utime(os.path.join(gw.store, "m/photo.jpg"), (past, past))
    prom.wait("upload_expired_files_total", lambda v: v == 1)
    prom.wait("upload_expired_bytes_total", lambda v: v == 5000)
    check_documented(prom, "upload_", "upload-gw")


def test_endpoint_connections_bounded(tmp_path):
    """max_connections scrapes at once: one more connection is closed at
    once, and scrapes work again when the others are gone."""
    from test_upload_gw import Gw
    port = free_port()
    g = Gw(tmp_path, extra='[metrics]\nlisten = "%d"\nmax_connections = 2' % port)
    try:
        idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        for _ in range(3):
            extra = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                extra.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
                assert extra.recv(100) == b""	# closed without an answer
            except ConnectionResetError:
                pass
            extra.close()
        for s in idle:
            s.close()
        deadline = time.time() + 20
        while True:
            try:
                if curl("http://127.0.0.1:%d/metrics" % port)[0] == 200:
                    break
            except AssertionError:	# curl: connection closed
                pass
            assert time.time() < deadline, "no scrape after the others left"
            time.sleep(0.1)
    finally:
        g.stop()


def test_upload_gw_text_format_and_off_by_default(gw, tmp_path):
    from test_upload_gw import Gw
    body = check_text(gw.mport)
    assert "# TYPE upload_disk_free_bytes gauge" in body
    (tmp_path / "off").mkdir()
    g = Gw(tmp_path / "off")
    try:
        assert "metrics" not in g.d.log()
        assert listening_ports(g.d.proc.pid) == {g.port}
    finally:
        g.stop()
    with open(gw.conf) as f:
        text = f.read()
    bad = tmp_path / "bad.toml"
    bad.write_text(text + "max_connections = 0\n")
    r = run([binary("upload-gw"), "-t", "-c", str(bad)])
    assert r.returncode != 0 and "metrics.max_connections" in r.stderr, r.stderr


# ---- the Grafana dashboard ----

def test_grafana_dashboard_over_exactly_the_documented_series():
    used = set()
    for title, expr in dashboard():
        names = expr_metrics(expr)
        assert names, "%s: %s reads none of our series" % (title, expr)
        used |= names
    doc = set()
    for p in ("xmpp_", "turnd_", "upload_", "portmap_", "redirect_"):
        doc |= set(documented(p))
    assert used - doc == set(), "not documented (deploy/METRICS.md): %s" % (used - doc)
    assert doc - used == set(), "not on the dashboard: %s" % (doc - used)


def test_grafana_exprs_find_data(xmpp_pair, turnd, gw, prom):
    # after the traffic of the tests above, with every daemon still scraped
    for prefix in ("xmpp_", "turnd_", "upload_"):
        check_dashboard(prom, prefix)
