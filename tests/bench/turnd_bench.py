"""turnd vs coturn on loopback, server-side figures from /proc (see
bench_turnd.sh).  Each scenario runs on a freshly started server; the TURN
control plane is done here with the integration tests' client, the data
plane by turnd_blast (C) on sockets passed to it."""

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from test_turnd_stun import (A_LIFETIME, REFRESH, SECRET, Client, free_udp_tcp_port,  # noqa: E402
                             make_cert, rest_credentials)

BUILD = os.environ.get("EDGE_BUILD", os.path.join(HERE, "..", "..", "build"))
BLAST = os.path.join(BUILD, "bench", "turnd_blast")
FLOOR = os.path.join(BUILD, "bench", "turnd_floor")
QUICK = os.environ.get("BENCH_QUICK") == "1"


def task_cpu_ns(pid):
    """CPU time of every thread of pid, in ns (schedstat is exact)."""
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, kind, tmp):
        self.kind = kind
        self.port = free_udp_tcp_port()
        self.tls_port = free_udp_tcp_port()
        self.cert, self.key = CERT
        self.log = open(os.path.join(tmp, kind + ".log"), "ab")
        if kind == "turnd":
            secret = os.path.join(tmp, "secret")
            with open(secret, "w") as f:
                f.write(SECRET)
            os.chmod(secret, 0o600)
            conf = os.path.join(tmp, "turnd.toml")
            with open(conf, "w") as f:
                f.write('listen = ["127.0.0.1:%d"]\ntls_listen = ["127.0.0.1:%d"]\n'
                        'tls_cert = "%s"\ntls_key = "%s"\nrealm = "localhost"\n'
                        'secret_file = "%s"\nlog_level = "warning"\n'
                        '[relay]\nports = "30000-39999"\nallow_peers = ["127.0.0.1"]\n'
                        '[limits]\nmax_allocations_per_user = 100000\n'
                        'max_allocations = 100000\n'
                        % (self.port, self.tls_port, self.cert, self.key, secret))
            argv = [os.path.join(BUILD, "bin", "turnd"), "-c", conf]
        else:
            argv = ["turnserver", "-n", "--no-cli", "--log-file=stdout", "--simple-log",
                    "-L", "127.0.0.1", "-p", str(self.port),
                    "--tls-listening-port", str(self.tls_port),
                    "--cert", self.cert, "--pkey", self.key,
                    "-E", "127.0.0.1", "--min-port", "30000", "--max-port", "39999",
                    "--realm", "localhost", "--use-auth-secret",
                    "--static-auth-secret", SECRET, "--allow-loopback-peers",
                    "--no-dtls", "--no-tcp-relay"]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                c = Client(("127.0.0.1", self.port), "tcp", timeout=0.5)
                c.close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(0.2)

    def cpu(self):
        return task_cpu_ns(self.proc.pid)

    def rss(self):
        return rss_kb(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def session(srv, transport, peer_addr, chan):
    port = srv.tls_port if transport == "tls" else srv.port
    c = Client(("127.0.0.1", port), transport, timeout=3)
    u, p = rest_credentials(SECRET, "bench")
    c.login(u, p)
    r = c.allocate()
    assert r.error() is None, "%s: allocate: %s" % (srv.kind, r.error())
    r = c.channel_bind(chan, peer_addr)
    assert r.error() is None, "%s: channel bind: %s" % (srv.kind, r.error())
    return c


def relay(kind, transport, size, nalloc, count, tmp):
    """Server ns of CPU per relayed packet."""
    srv = Server(kind, tmp)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    try:
        clients = [session(srv, transport, peer.getsockname(), 0x4000 + i)
                   for i in range(nalloc)]
        time.sleep(0.2)
        if transport == "tls":
            return relay_tls(srv, clients[0], peer, size, count)
        fds = ["%d:0x%x" % (c.sock.fileno(), 0x4000 + i) for i, c in enumerate(clients)]
        cpu0 = srv.cpu()
        r = subprocess.run([BLAST, "-P", str(peer.fileno()), "-s", str(size), "-n", str(count),
                            "-w", "16" if nalloc == 1 else "4", "-t", transport] + fds,
                           pass_fds=[peer.fileno()] + [c.sock.fileno() for c in clients],
                           capture_output=True, text=True, timeout=120)
        cpu = srv.cpu() - cpu0
        got = int(r.stdout.split("recvd=")[1].split()[0])
        return cpu / max(1, 2 * got)
    finally:
        peer.close()
        srv.stop()


def relay_tls(srv, c, peer, size, count):
    import struct
    echo = subprocess.Popen([BLAST, "-P", str(peer.fileno()), "-d", "120"],
                            pass_fds=[peer.fileno()])
    try:
        frame = struct.pack("!HH", 0x4000, size) + b"\xab" * size
        frame += b"\0" * ((4 - size % 4) % 4)
        cpu0 = srv.cpu()
        got = sent = 0
        c.sock.settimeout(2)
        while got < count:
            burst = min(8, count - got)
            c.sock.sendall(frame * burst)
            sent += burst
            for _ in range(burst):
                if c.recv_raw(2.0) is None:
                    break
                got += 1
        return (srv.cpu() - cpu0) / max(1, 2 * got)
    finally:
        echo.kill()
        echo.wait()


def allocations(kind, n, tmp):
    """(server CPU ns per allocation, allocations/s, RSS KB per allocation,
    RSS KB per allocation still held after freeing them)."""
    srv = Server(kind, tmp)
    try:
        warm = [session(srv, "udp", ("127.0.0.1", 9), 0x4000) for _ in range(20)]
        rss0 = srv.rss()
        cpu0 = srv.cpu()
        t0 = time.time()
        cs = []
        for i in range(n):
            c = Client(("127.0.0.1", srv.port), "udp", timeout=3)
            u, p = rest_credentials(SECRET, "b%d" % i)
            c.login(u, p)
            r = c.allocate()
            assert r.error() is None, "%s: allocate %d: %s" % (kind, i, r.error())
            cs.append(c)
        wall = time.time() - t0
        cpu = srv.cpu() - cpu0
        time.sleep(0.5)
        rss1 = srv.rss()
        for c in cs:
            c.auth_request(REFRESH, [(A_LIFETIME, b"\0\0\0\0")])
            c.close()
        time.sleep(2.0)
        rss2 = srv.rss()
        del warm
        return cpu / n, n / wall, (rss1 - rss0) / n, (rss2 - rss0) / n
    finally:
        srv.stop()


def tls_version(kind, tmp):
    srv = Server(kind, tmp)
    try:
        c = Client(("127.0.0.1", srv.tls_port), "tls")
        v = c.sock.version()
        c.close()
        return v
    finally:
        srv.stop()


def floor(mode, n):
    r = subprocess.run([FLOOR, mode, str(n), "100"], capture_output=True, text=True, timeout=120)
    return float(r.stdout.strip())


CERT = None


def main():
    global CERT
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.mkdtemp(prefix="turnd-bench-")
    CERT = make_cert(tmp)
    kinds = ["turnd"] + (["coturn"] if shutil.which("turnserver") else [])
    n = 5000 if QUICK else 30000
    us = lambda ns: "%7.2f us" % (ns / 1000.0)
    fb, fp = floor("batch", n * 2), floor("plain", n * 2)
    print("floor: bare UDP recv+send on loopback: %s batched (recvmmsg/sendmmsg), %s plain"
          % (us(fb).strip(), us(fp).strip()))
    print("%-34s %12s %12s %9s %9s" % ("server CPU per relayed packet", "turnd", "coturn",
                                        "t/coturn", "t/floor"))
    scen = [("udp", 100, 1), ("udp", 1200, 1), ("udp", 100, 16), ("udp", 1200, 16),
            ("tcp", 100, 1), ("tcp", 1200, 16), ("tls", 100, 1), ("tls", 1200, 1)]
    if QUICK:
        scen = scen[:1] + scen[4:5] + scen[6:7]
    for tr, size, na in scen:
        cnt = n // 6 if tr == "tls" else n
        res = {k: relay(k, tr, size, na, cnt, tmp) for k in kinds}
        t, c = res["turnd"], res.get("coturn")
        print("%-34s %12s %12s %9s %8.2fx" % (
            "ChannelData %s %dB x%d alloc" % (tr, size, na), us(t),
            us(c) if c else "-", "%.2fx" % (t / c) if c else "-", t / fb))
    na = 300 if QUICK else 1000
    res = {k: allocations(k, na, tmp) for k in kinds}
    t, c = res["turnd"], res.get("coturn")
    rows = [("server CPU per allocation", 0, lambda v: us(v)),
            ("allocations/s (client-bound)", 1, lambda v: "%9.0f/s" % v),
            ("RSS per allocation", 2, lambda v: "%8.2f KB" % v),
            ("RSS per allocation after free", 3, lambda v: "%8.2f KB" % v)]
    for name, i, f in rows:
        ratio = "%.2fx" % (t[i] / c[i]) if c and c[i] > 0.05 else "-"
        print("%-34s %12s %12s %9s" % (name + " (%d)" % na, f(t[i]), f(c[i]) if c else "-", ratio))
    print("%-34s %12s %12s" % ("TURNS protocol", tls_version("turnd", tmp),
                                tls_version("coturn", tmp) if c else "-"))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
