"""Federation (s2s) side by side: xmpp-core<->xmpp-core against
Prosody<->Prosody (0.12) and ejabberd<->ejabberd (23.01), two fresh
instances of each on loopback, A serving a.bench.test and B serving
b0..b{DOMAINS-1}.bench.test; one asyncio harness (raw XMPP, STARTTLS,
PLAIN) drives all of them the same way.  Every pair authenticates with
Server Dialback on self-signed certificates (the reference host's case);
xmpp-core also with SASL EXTERNAL (a lab CA, verify = "certificate").

  set-up ms     a link's set-up (name resolution + TCP + TLS + auth, both
                directions' streams where dialback connects back): the
                median time from a message to a domain A has no link to
                until it is delivered ("first message", over DOMAINS
                domains, one at a time), minus the median time of a
                message once the link is up (3 per domain, one at a time)
  RSS/link      each server's RSS growth (KiB) per idle link once those
                DOMAINS links are up and 7 s idle, against its RSS before
                the first one (so a link's connections on both sides: with
                dialback one from each server)
  cpu/message   server CPU (all threads, /proc schedstat) per ~230-byte
                chat message, on A (sending side) and B (receiving side),
                MESSAGES of them from a user on A to one on b0 over one
                link as fast as it takes them (at most WINDOW in flight),
                with p50/p99 delivery latency and msgs/s

Routes: xmpp-core by [s2s.routes], Prosody by the tests' lab module
(tests/integration/prosody/mod_lab_s2s_routes.lua), ejabberd by SRV
records of a loopback DNS server (its s2s asks DNS only).  No server
archives (xmpp-core's [mam] off, the others without MAM); logging at
warning level everywhere.  Knobs: XMPP_BENCH_MESSAGES (default 20000),
XMPP_BENCH_S2S_DOMAINS (default 20), XMPP_BENCH_ONLY (a comma list of
xmpp-core, xmpp-core-external, prosody, ejabberd).
"""

import asyncio
import base64
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

import xmppservers  # noqa: E402
from bench_xmpp import CTX, Conn, rss_kib  # noqa: E402
from edgetest import free_port  # noqa: E402
from pgcluster import PgCluster  # noqa: E402
from s2slab import LoopbackDns, S2sServer, make_ca, make_domain_cert, s2s_zone  # noqa: E402
from xmppservers import cpu_seconds  # noqa: E402

MSGS = int(os.environ.get("XMPP_BENCH_MESSAGES", "20000"))
DOMAINS = int(os.environ.get("XMPP_BENCH_S2S_DOMAINS", "20"))
ONLY = [x for x in os.environ.get("XMPP_BENCH_ONLY",
                                  "xmpp-core,xmpp-core-external,prosody,ejabberd").split(",") if x]
WINDOW = 2000
IDLE_S = 7.0	# idle links: past xmpp-core's 5 s release_parser_after
PW = "bench s2s horse 42"
A = "a.bench.test"
BS = ["b%d.bench.test" % i for i in range(DOMAINS)]


def progress(what):
    print("  " + what, file=sys.stderr, flush=True)


# ---- the client: STARTTLS, PLAIN, bind, presence ----

def hdr(domain):
    return ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>" % domain)


async def login(port, user, domain, resource):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    c = Conn(r, w)
    c.send(hdr(domain))
    await c.until("</stream:features>")
    c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await c.until("<proceed")
    await c.until(">")
    c.buf = b""
    await w.start_tls(CTX, server_hostname=domain)
    c.send(hdr(domain))
    await c.until("</stream:features>")
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>"
           % base64.b64encode(("\0%s\0%s" % (user, PW)).encode()).decode())
    out = await c.until("success")
    await c.until(">")
    if "failure" in out:
        raise RuntimeError("login of %s@%s failed: %s" % (user, domain, out))
    c.send(hdr(domain))
    await c.until("</stream:features>")
    c.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>%s</resource></bind></iq>" % resource)
    await c.until("</iq>")
    c.send("<presence/>")
    return c


async def one_message(snd, rcv, to, tag, timeout=60):
    """Seconds from sending a message to its delivery."""
    t0 = time.perf_counter()
    snd.send("<message to='%s' type='chat'><body>%s</body></message>" % (to, tag))
    await rcv.until(tag, timeout)
    await rcv.until("</message>", timeout)
    return time.perf_counter() - t0


async def stream(snd, rcv, to, pids):
    """MSGS messages, at most WINDOW in flight: CPU per message of each
    pid, msgs/s, p50/p99 latency."""
    body = "x" * 160
    lat = []
    got = 0
    progress_ev = asyncio.Event()

    async def reader():
        nonlocal got
        buf = b""
        while got < MSGS:
            d = await asyncio.wait_for(rcv.r.read(262144), 60)
            if not d:
                raise ConnectionError("receiver closed")
            now = time.perf_counter()
            buf += rcv.buf + d
            rcv.buf = b""
            while True:
                i = buf.find(b"</message>")
                if i < 0:
                    break
                m, buf = buf[:i], buf[i + 10:]
                j = m.find(b"<thread>")
                if j >= 0:
                    lat.append(now - float(m[j + 8:m.find(b"</thread>")]))
                    got += 1
            progress_ev.set()

    async def writer():
        for i in range(0, MSGS, 100):
            while i - got > WINDOW:
                progress_ev.clear()
                await progress_ev.wait()
            n = min(100, MSGS - i)
            snd.send("".join("<message to='%s' type='chat'><thread>%.6f</thread><body>%s</body>"
                             "</message>" % (to, time.perf_counter(), body) for _ in range(n)))
            await snd.w.drain()

    cpu0 = [cpu_seconds(p) for p in pids]
    t0 = time.perf_counter()
    await asyncio.gather(reader(), writer())
    wall = time.perf_counter() - t0
    cpu1 = [cpu_seconds(p) for p in pids]
    lat.sort()
    return {"cpu us A": (cpu1[0] - cpu0[0]) * 1e6 / MSGS,
            "cpu us B": (cpu1[1] - cpu0[1]) * 1e6 / MSGS,
            "msgs/s": MSGS / wall, "p50 ms": lat[len(lat) // 2] * 1000,
            "p99 ms": lat[int(len(lat) * 0.99)] * 1000}


async def measure(a, b):
    """a, b: (c2s port, pid); users sender@A and rcv@each B domain."""
    snd = await login(a[0], "sender", A, "s")
    rcvs = [await login(b[0], "rcv", d, "r") for d in BS]
    await asyncio.sleep(1)
    rss0 = (rss_kib(a[1]), rss_kib(b[1]))
    cold, warm = [], []
    for i, d in enumerate(BS):
        cold.append(await one_message(snd, rcvs[i], "rcv@%s/r" % d, "cold%d" % i) * 1000)
        for k in range(3):
            warm.append(await one_message(snd, rcvs[i], "rcv@%s/r" % d, "warm%d.%d" % (i, k))
                        * 1000)
    await asyncio.sleep(IDLE_S)
    rss1 = (rss_kib(a[1]), rss_kib(b[1]))
    out = {"first message ms": statistics.median(cold),
           "message on the link ms": statistics.median(warm),
           "set-up ms": statistics.median(cold) - statistics.median(warm),
           "RSS/link KiB A": (rss1[0] - rss0[0]) / len(BS),
           "RSS/link KiB B": (rss1[1] - rss0[1]) / len(BS)}
    out.update(await stream(snd, rcvs[0], "rcv@%s/r" % BS[0], (a[1], b[1])))
    for c in [snd] + rcvs:
        c.w.close()
    return out


# ---- the pairs ----

def core_conf(s, hosts=None):
    """A benchmark's settings on an S2sServer's config: warning log, no
    shaper to speak of, no archive; hosts: the domains it serves."""
    with open(s.conf) as f:
        conf = f.read()
    conf = conf.replace('log_level = "debug"', 'log_level = "warn"') \
        .replace('shaper_rate = "10M"', 'shaper_rate = "1000M"')
    if hosts:
        conf = conf.replace('hosts = ["%s"]' % s.domain,
                            "hosts = [%s]" % ", ".join('"%s"' % h for h in hosts))
    conf += "\n[mam]\nenabled = false\n"
    with open(s.conf, "w") as f:
        f.write(conf)


def run_xmpp_core(external=False):
    tmp = tempfile.mkdtemp(prefix="edge-bench-s2s-")
    pg = PgCluster()
    a = b = None
    try:
        ca = make_ca(tmp) if external else None
        # every link comes from 127.0.0.1: above the default 16 per address
        extra = "max_connections_per_ip = 100000\n"
        if ca:
            extra += 'ca_file = "%s"\nverify = "certificate"\n' % ca[0]
        # one certificate for all of B's domains (SAN list) when signed
        san = ",".join("DNS:" + d for d in BS)
        a = S2sServer(pg, A, start=False, s2s_extra=extra, ca=ca)
        b = S2sServer(pg, BS[0], start=False, s2s_extra=extra, ca=ca, san=san if ca else None)
        for d in BS:
            a.routes[d] = "127.0.0.1:%d" % b.s2s_port
        b.routes[A] = "127.0.0.1:%d" % a.s2s_port
        a.write_conf()
        b.write_conf()
        core_conf(a)
        core_conf(b, BS)
        a.start()
        b.start()
        r = a.ctl("adduser", "sender@" + A, stdin=PW + "\n")
        assert r.returncode == 0, r.stderr
        for d in BS:
            r = b.ctl("adduser", "rcv@" + d, stdin=PW + "\n")
            assert r.returncode == 0, r.stderr
        out = asyncio.run(measure((a.port, a.daemon.proc.pid), (b.port, b.daemon.proc.pid)))
        how = {l[3] for l in a.links()}
        out["auth"] = "/".join(sorted(how))
        return out
    finally:
        for s in (a, b):
            if s is not None:
                s.destroy()
        pg.destroy()
        shutil.rmtree(tmp, ignore_errors=True)


PROSODY_CFG = """
run_as_root = true
daemonize = false
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
plugin_paths = {{ "{mods}" }}
log = {{ warn = "{d}/prosody.log" }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "posix";
                     "lab_s2s_routes" }}
c2s_ports = {{ {c2s} }}
c2s_interfaces = {{ "127.0.0.1" }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
s2s_ports = {{ {s2s} }}
s2s_interfaces = {{ "127.0.0.1" }}
s2s_direct_tls_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = false
authentication = "internal_hashed"
limits = {{ c2s = {{ rate = "1000mb/s" }}; s2sin = {{ rate = "1000mb/s" }} }}
ssl = {{ certificate = "{crt}"; key = "{key}" }}
lab_s2s_routes = {{ {routes} }}
{hosts}
"""


class ProsodyNode:
    def __init__(self, domains, routes):
        self.d = tempfile.mkdtemp(prefix="edge-bench-s2s-prosody-")
        os.makedirs(os.path.join(self.d, "data"))
        crt, key = make_domain_cert(self.d, domains[0])
        self.c2s, self.s2s = free_port(), free_port()
        self.domains = domains
        self.routes = routes
        self.crt, self.key = crt, key
        self.cfg = os.path.join(self.d, "prosody.cfg.lua")
        self.proc = None

    def start(self):
        with open(self.cfg, "w") as f:
            f.write(PROSODY_CFG.format(
                d=self.d, mods=os.path.join(HERE, "..", "integration", "prosody"),
                c2s=self.c2s, s2s=self.s2s, crt=self.crt, key=self.key,
                routes=" ".join('["%s"] = { "127.0.0.1", %d };' % kv
                                for kv in self.routes.items()),
                hosts="\n".join('VirtualHost "%s"' % h for h in self.domains)))
        for h in self.domains:
            user = "sender" if h == A else "rcv"
            r = subprocess.run(["prosodyctl", "--config", self.cfg, "register", user, h, PW],
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stdout + r.stderr
        self.proc = subprocess.Popen(["prosody", "--config", self.cfg, "-F"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        xmppservers.wait_port(self.c2s, self.proc)
        xmppservers.wait_port(self.s2s, self.proc)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.d, ignore_errors=True)


def run_prosody():
    a = ProsodyNode([A], {})
    b = ProsodyNode(BS, {A: a.s2s})
    a.routes = {d: b.s2s for d in BS}
    try:
        a.start()
        b.start()
        return asyncio.run(measure((a.c2s, a.proc.pid), (b.c2s, b.proc.pid)))
    finally:
        a.stop()
        b.stop()


EJABBERD_YML = """hosts: [%(hosts)s]
loglevel: warning
certfiles: ["{d}/cert.pem"]
auth_method: internal
s2s_use_starttls: required
outgoing_s2s_families: [ipv4]
s2s_dns_timeout: 2
s2s_dns_retries: 1
shaper:
  fast: 1000000000
shaper_rules:
  s2s_shaper: fast
  c2s_shaper: fast
  max_user_offline_messages: 5000
listen:
  - port: %(c2s)d
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    shaper: c2s_shaper
  - port: %(s2s)d
    ip: "127.0.0.1"
    module: ejabberd_s2s_in
    shaper: s2s_shaper
modules:
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
  mod_s2s_dialback: {}
"""


def run_ejabberd():
    tmp = tempfile.mkdtemp(prefix="edge-bench-s2s-ej-")
    ports = {"a": (free_port(), free_port()), "b": (free_port(), free_port())}
    zone = s2s_zone([(A, ports["a"][1])] + [(d, ports["b"][1]) for d in BS])
    dns = LoopbackDns(tmp, zone)
    try:
        pems = {}
        for side, dom in (("a", A), ("b", BS[0])):
            d = os.path.join(tmp, side)
            os.makedirs(d)
            crt, key = make_domain_cert(d, dom)
            pems[side] = open(crt).read() + open(key).read()

        def yml(side, hosts):
            return EJABBERD_YML % dict(hosts=", ".join('"%s"' % h for h in hosts),
                                       c2s=ports[side][0], s2s=ports[side][1])
        ns = ("127.0.0.1", dns.port)
        with xmppservers.ejabberd_node(yml("a", [A]), ports["a"][0], ns,
                                       {"cert.pem": pems["a"]}, tag="bencha") as ea, \
                xmppservers.ejabberd_node(yml("b", BS), ports["b"][0], ns,
                                          {"cert.pem": pems["b"]}, tag="benchb") as eb:
            for e, user, doms in ((ea, "sender", [A]), (eb, "rcv", BS)):
                for d in doms:
                    r = e.ctl("register", user, d, PW)
                    assert r.returncode == 0, (r.stdout, r.stderr)
            return asyncio.run(measure((ports["a"][0], ea.pid), (ports["b"][0], eb.pid)))
    finally:
        dns.close()
        shutil.rmtree(tmp, ignore_errors=True)


def fmt(v):
    if isinstance(v, str):
        return v
    return "%.1f" % v if abs(v) < 1000 else "%.0f" % v


def ratio(x, y):
    if not isinstance(x, float) or not isinstance(y, float) or y <= 0:
        return "-"
    return "%.2f" % (x / y)


def main():
    res = {}
    runs = [("xmpp-core", lambda: run_xmpp_core()),
            ("xmpp-core-external", lambda: run_xmpp_core(external=True)),
            ("prosody", run_prosody), ("ejabberd", run_ejabberd)]
    for name, fn in runs:
        if name not in ONLY:
            continue
        progress("%s ..." % name)
        res[name] = fn()
        progress("%s: %s" % (name, res[name]))
    keys = ["first message ms", "message on the link ms", "set-up ms", "RSS/link KiB A", "RSS/link KiB B", "cpu us A", "cpu us B",
            "msgs/s", "p50 ms", "p99 ms"]
    names = [n for n, _ in runs if n in res]
    others = [n for n in ("prosody", "ejabberd") if n in res]
    cols = names + ["xmpp-core/" + n for n in others]
    print("| figure | %s |" % " | ".join(cols))
    print("|---|%s" % ("---|" * len(cols)))
    for k in keys:
        cells = [fmt(res[n][k]) for n in names]
        cells += [ratio(res.get("xmpp-core", {}).get(k), res[n][k]) for n in others]
        print("| %s | %s |" % (k, " | ".join(cells)))
    if "xmpp-core" in res and "xmpp-core-external" in res:
        print("\nxmpp-core set-up, SASL EXTERNAL / dialback: %s"
              % ratio(res["xmpp-core-external"]["set-up ms"], res["xmpp-core"]["set-up ms"]))
    for n in names:
        if "auth" in res[n]:
            print("%s links: %s" % (n, res[n]["auth"]))


if __name__ == "__main__":
    main()
