"""xmpp-core vs Prosody, side by side on loopback, each on a fresh server.

One harness (asyncio, raw XMPP over TLS, SCRAM-SHA-1 client) drives both
servers the same way and reads server-side figures from /proc:

  rss/session   RSS growth per idle authenticated TLS session (N sessions)
  cpu/login     server CPU per login (STARTTLS + SCRAM + bind + presence)
  cpu/message   server CPU per delivered 200-byte chat message under a
                saturating stream, with p50/p99 delivery latency

Printed as absolute figures and as ratios xmpp-core/other.  ejabberd
(mnesia storage, a private node and spool) is compared when installed.
"""

import asyncio
import base64
import hashlib
import hmac
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from edgetest import free_port  # noqa: E402
from pgcluster import PgCluster  # noqa: E402
from xmpptest import XmppServer, make_cert  # noqa: E402

N = int(os.environ.get("XMPP_BENCH_SESSIONS", "1000"))
MSGS = int(os.environ.get("XMPP_BENCH_MESSAGES", "20000"))
WINDOW = 2000
PW = "bench horse battery staple 42"
HDR = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
       "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / CLK


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Conn:
    def __init__(self, reader, writer):
        self.r, self.w = reader, writer
        self.buf = b""

    async def until(self, marker, timeout=30):
        m = marker.encode()
        while m not in self.buf:
            d = await asyncio.wait_for(self.r.read(65536), timeout)
            if not d:
                raise ConnectionError("closed while waiting for %s: %r" % (marker, self.buf[-300:]))
            self.buf += d
        i = self.buf.index(m) + len(m)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out.decode(errors="replace")

    def send(self, s):
        self.w.write(s.encode() if isinstance(s, str) else s)


CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE


async def open_tls(port):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    c = Conn(r, w)
    c.send(HDR)
    await c.until("</stream:features>")
    c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await c.until("<proceed")
    await c.until(">")
    c.buf = b""
    await w.start_tls(CTX, server_hostname="localhost")
    c.send(HDR)
    await c.until("</stream:features>")
    return c


async def register(port, user):
    c = await open_tls(port)
    c.send("<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>%s</username>"
           "<password>%s</password></query></iq>" % (user, PW))
    out = await c.until("r1")
    out += await c.until(">")
    if "type='result'" not in out and 'type="result"' not in out and "conflict" not in out:
        raise RuntimeError("registration of %s failed: %s" % (user, out))
    c.w.close()


def scram_client_final(user, first_bare, server_first, gs2=b"n,,"):
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salt = base64.b64decode(attrs["s"])
    salted = hashlib.pbkdf2_hmac("sha1", PW.encode(), salt, int(attrs["i"]))
    ckey = hmac.new(salted, b"Client Key", "sha1").digest()
    stored = hashlib.sha1(ckey).digest()
    without = "c=%s,r=%s" % (base64.b64encode(gs2).decode(), attrs["r"])
    auth = ("%s,%s,%s" % (first_bare, server_first, without)).encode()
    sig = hmac.new(stored, auth, "sha1").digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    return "%s,p=%s" % (without, base64.b64encode(proof).decode())


async def login(port, user, resource):
    c = await open_tls(port)
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=%s,r=%s" % (user, nonce)
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>%s</auth>"
           % base64.b64encode(("n,," + first_bare).encode()).decode())
    ch = await c.until("</challenge>")
    sf = base64.b64decode(ch.split(">", 1)[1].split("<", 1)[0]).decode()
    final = scram_client_final(user, first_bare, sf)
    c.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>"
           % base64.b64encode(final.encode()).decode())
    out = await c.until("</success>")
    assert "success" in out
    c.send(HDR)
    await c.until("</stream:features>")
    c.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>%s</resource></bind></iq>" % resource)
    await c.until("</iq>")
    c.send("<presence/>")
    return c


async def bench_server(name, port, pid):
    users = ["b%d" % i for i in range((N + 9) // 10)]
    for i in range(0, len(users), 20):
        await asyncio.gather(*(register(port, u) for u in users[i:i + 20]))
    await asyncio.sleep(0.5)
    warm = [await login(port, users[0], "warm%d" % i) for i in range(5)]
    rss0, cpu0 = rss_kib(pid), cpu_seconds(pid)
    conns = []
    for i in range(0, N, 50):
        conns += await asyncio.gather(*(login(port, users[k // 10], "r%d" % k)
                                        for k in range(i, min(N, i + 50))))
    cpu1 = cpu_seconds(pid)
    await asyncio.sleep(11.0)	# idle: xmpp-core releases parsers after 5-10 s
    rss1 = rss_kib(pid)
    res = {"rss/session KiB": (rss1 - rss0) / N, "cpu/login ms": (cpu1 - cpu0) * 1000 / N}
    for c in conns + warm:
        c.w.close()
    await asyncio.sleep(1.0)

    # messages: one sender, one receiver, a saturating stream
    snd = await login(port, users[1], "snd")
    rcv = await login(port, users[2], "rcv")
    await asyncio.sleep(0.3)
    body = "x" * 160
    lat = []
    got = 0
    progress = asyncio.Event()
    cpu0 = cpu_seconds(pid)

    async def reader():
        nonlocal got
        buf = b""
        while got < MSGS:
            d = await asyncio.wait_for(rcv.r.read(262144), 60)
            if not d:
                raise ConnectionError("receiver closed")
            now = time.perf_counter()
            buf += d
            while True:
                i = buf.find(b"</message>")
                if i < 0:
                    break
                m, buf = buf[:i], buf[i + 10:]
                j = m.find(b"<thread>")
                if j >= 0:
                    lat.append(now - float(m[j + 8:m.find(b"</thread>")]))
                got += 1
            progress.set()

    async def writer():
        to = "%s@localhost/rcv" % users[2]
        for i in range(0, MSGS, 100):
            # at most WINDOW in flight: saturating, yet inside every
            # server's overload protection (ejabberd drops a session whose
            # queue passes max_fsm_queue)
            while i - got > WINDOW:
                progress.clear()
                await progress.wait()
            chunk = "".join("<message to='%s' type='chat'><thread>%.6f</thread><body>%s</body>"
                            "</message>" % (to, time.perf_counter(), body)
                            for _ in range(min(100, MSGS - i)))
            snd.send(chunk)
            await snd.w.drain()

    t0 = time.perf_counter()
    await asyncio.gather(reader(), writer())
    wall = time.perf_counter() - t0
    cpu1 = cpu_seconds(pid)
    lat.sort()
    res["cpu/message us"] = (cpu1 - cpu0) * 1e6 / MSGS
    res["msgs/s"] = MSGS / wall
    res["p50 latency ms"] = lat[len(lat) // 2] * 1000
    res["p99 latency ms"] = lat[int(len(lat) * 0.99)] * 1000
    snd.w.close()
    rcv.w.close()
    return res


def run_xmpp_core():
    pg = PgCluster()
    try:
        s = XmppServer(pg, start=False, c2s_extra="max_connections_per_ip = 100000\n"
                       'max_output_buffer = "64M"')
        with open(s.conf) as f:
            conf = f.read().replace('log_level = "debug"', 'log_level = "warn"')
        with open(s.conf, "w") as f:
            f.write(conf)
        s.start()
        try:
            return asyncio.run(bench_server("xmpp-core", s.port, s.daemon.proc.pid))
        finally:
            s.destroy()
    finally:
        pg.destroy()


PROSODY_CFG = """
run_as_root = true
daemonize = false
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
log = {{ warn = "{d}/prosody.log" }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "disco"; "ping"; "register"; "posix"; "offline" }}
modules_disabled = {{ "s2s" }}
c2s_ports = {{ {port} }}
c2s_require_encryption = true
allow_registration = true
registration_throttle_max = nil
min_seconds_between_registrations = 0
authentication = "internal_hashed"
limits = {{ c2s = {{ rate = "1000mb/s" }} }}
ssl = {{ certificate = "{crt}"; key = "{key}" }}
VirtualHost "localhost"
"""


def run_prosody():
    if shutil.which("prosody") is None:
        return None
    d = tempfile.mkdtemp(prefix="edge-bench-prosody-")
    os.makedirs(os.path.join(d, "data"))
    crt, key = make_cert(d)
    port = free_port()
    cfg = os.path.join(d, "prosody.cfg.lua")
    with open(cfg, "w") as f:
        f.write(PROSODY_CFG.format(d=d, port=port, crt=crt, key=key))
    p = subprocess.Popen(["prosody", "-F", "--config", cfg], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                import socket
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        return asyncio.run(bench_server("prosody", port, p.pid))
    finally:
        p.terminate()
        p.wait(10)
        shutil.rmtree(d, ignore_errors=True)


EJABBERD_YML = """hosts: ["localhost"]
loglevel: warning
certfiles: ["{d}/both.pem"]
registration_timeout: infinity
auth_method: internal
auth_password_format: scram
listen:
  - port: {port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    max_stanza_size: 262144
    backlog: 1024
access_rules:
  register:
    allow: all
modules:
  mod_register:
    ip_access: all
    access: register
  mod_roster: {{}}
  mod_disco: {{}}
  mod_ping: {{}}
  mod_offline: {{}}
"""


def pids_of(pattern):
    r = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()]


def run_ejabberd():
    """ejabberd from Debian (mnesia storage), in a private node and spool."""
    if shutil.which("ejabberdctl") is None:
        return None
    import pwd
    d = tempfile.mkdtemp(prefix="edge-bench-ejabberd-")
    crt, key = make_cert(d)
    with open(os.path.join(d, "both.pem"), "w") as f:
        f.write(open(crt).read() + open(key).read())
    port = free_port()
    node = "edgebench%d@localhost" % os.getpid()
    with open(os.path.join(d, "ejabberd.yml"), "w") as f:
        f.write(EJABBERD_YML.format(d=d, port=port))
    with open(os.path.join(d, "ejabberdctl.cfg"), "w") as f:
        f.write('ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"\nEJABBERD_PID_PATH=%s/pid\n' % d)
    shutil.copy("/etc/ejabberd/inetrc", d)
    for sub in ("spool", "logs"):
        os.makedirs(os.path.join(d, sub))
    pw = pwd.getpwnam("ejabberd")
    for root, dirs, files in os.walk(d):
        for n in [root] + [os.path.join(root, x) for x in dirs + files]:
            os.chown(n, pw.pw_uid, pw.pw_gid)
    epmd_before = pids_of("epmd")
    p = subprocess.Popen(["ejabberdctl", "--config-dir", d, "--ctl-config",
                          os.path.join(d, "ejabberdctl.cfg"), "--config",
                          os.path.join(d, "ejabberd.yml"), "--spool", os.path.join(d, "spool"),
                          "--logs", os.path.join(d, "logs"), "--node", node, "foreground"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         # as ejabberd itself: ejabberdctl would su, and su's
                         # PAM limits cap it at 1024 descriptors
                         user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                         env=dict(os.environ, HOME=d))
    beam = []
    try:
        import socket
        for _ in range(300):
            beam = pids_of("beam.*" + node.split("@")[0])
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                if beam:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        if not beam:
            raise RuntimeError("ejabberd did not start")
        return asyncio.run(bench_server("ejabberd", port, beam[0]))
    finally:
        for pid in beam:
            try:
                os.kill(pid, 15)
            except OSError:
                pass
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
        for pid in set(pids_of("epmd")) - set(epmd_before):
            os.kill(pid, 15)	# the epmd this run started
        if os.environ.get("XMPP_BENCH_KEEP"):
            print("ejabberd state kept in", d)
        else:
            shutil.rmtree(d, ignore_errors=True)


def main():
    results = {"xmpp-core": run_xmpp_core()}
    only = os.environ.get("XMPP_BENCH_ONLY")	# e.g. "xmpp-core": skip the others
    for name, fn in (("prosody", run_prosody), ("ejabberd", run_ejabberd)):
        if only and name not in only.split(","):
            results[name] = None
            continue
        try:
            results[name] = fn()
        except Exception as e:  # a comparison must not hide our own figures
            print("%s: failed: %s" % (name, e))
            results[name] = None
    keys = list(results["xmpp-core"].keys())
    print("%-18s %10s %10s %10s %8s %8s" % ("N=%d, %d msgs" % (N, MSGS), "xmpp-core",
                                            "prosody", "ejabberd", "/prosody", "/ejabberd"))
    for k in keys:
        a = results["xmpp-core"][k]
        row = [a]
        ratios = []
        for other in ("prosody", "ejabberd"):
            b = results[other][k] if results[other] else None
            row.append(b)
            ratios.append("%.2f" % (a / b) if b else "-")
        print("%-18s %10.2f %10s %10s %8s %8s" % (k, a, "%.2f" % row[1] if row[1] else "-",
                                                 "%.2f" % row[2] if row[2] else "-", *ratios))
    if results["ejabberd"] is None and shutil.which("ejabberdctl") is None:
        print("ejabberd: not installed (apt-get install ejabberd to compare)")


if __name__ == "__main__":
    main()
