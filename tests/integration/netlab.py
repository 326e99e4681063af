"""A network-namespace lab for the portmap and dumbclient-redirect tests.

Lab() builds, on one private bridge, a client host, a web host and an XMPP
host, all with documentation addresses only (192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24, 2001:db8::/32), so nothing can leave the machine.  Every
namespace is named edge-<tag>-<pid>-<host> and removed by that name in
close(); every process the lab starts is killed by its PID.

The same file is the helper run inside the namespaces (`ip netns exec NS
python3 netlab.py ...`): an echo server (TCP and UDP) that tells who it is
and who called, probes, a connection loop, and a tiny DNS server whose
answers come from a JSON file re-read on every query.
"""

import json
import os
import selectors
import socket
import struct
import subprocess
import sys
import time

PY = "/usr/bin/python3"
HERE = os.path.abspath(__file__)

# Addresses of the lab (documentation ranges only).
CLIENT4, CLIENT6 = "203.0.113.10", "2001:db8:c::10"
WEB4, WEB6 = "203.0.113.20", "2001:db8:c::20"
XMPP4, XMPP6 = "192.0.2.1", "2001:db8:a::1"           # primary
XMPPS4, XMPPS6 = "192.0.2.2", "2001:db8:a::2"         # second IP, 443 -> 5223
TURN4, TURN6 = "198.51.100.1", "2001:db8:b::1"        # TURN primary
TURNIP4, TURNIP6 = "198.51.100.2", "2001:db8:b::2"    # TURN IP, 443 -> 3443
XMPP_ALT4, XMPP_ALT6 = "192.0.2.3", "2001:db8:a::3"   # retarget test

HOSTS = {
    "client": [CLIENT4 + "/24", CLIENT6 + "/64"],
    "web": [WEB4 + "/24", WEB6 + "/64"],
    "xmpp": [XMPP4 + "/24", XMPPS4 + "/24", XMPP_ALT4 + "/24",
             TURN4 + "/24", TURNIP4 + "/24",
             XMPP6 + "/64", XMPPS6 + "/64", XMPP_ALT6 + "/64",
             TURN6 + "/64", TURNIP6 + "/64"],
}
ONLINK = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"]


def sh(*argv, check=True, timeout=30, **kw):
    return subprocess.run(list(argv), check=check, capture_output=True,
                          text=True, timeout=timeout, **kw)


def can_create_netns():
    """(True, "") or (False, reason)."""
    name = "edge-probe-%d" % os.getpid()
    try:
        r = sh("ip", "netns", "add", name, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        return False, "ip netns unavailable: %s" % e
    if r.returncode != 0:
        return False, "cannot create network namespaces: %s" % r.stderr.strip()
    sh("ip", "netns", "del", name, check=False)
    return True, ""


class Lab:
    def __init__(self, tag, hosts=None):
        """hosts: {name: [address/prefix, ...]}, default HOSTS above."""
        self.prefix = "edge-%s-%d" % (tag, os.getpid())
        self.hosts = hosts or HOSTS
        self.ns = {}
        self.procs = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def name(self, host):
        return "%s-%s" % (self.prefix, host)

    def _build(self):
        sw = self.name("sw")
        sh("ip", "netns", "add", sw)
        self.ns["sw"] = sw
        self.ex("sw", "ip", "link", "add", "br0", "type", "bridge")
        self.ex("sw", "ip", "link", "set", "br0", "up")
        for i, (host, addrs) in enumerate(self.hosts.items()):
            ns = self.name(host)
            sh("ip", "netns", "add", ns)
            self.ns[host] = ns
            port = "p%d" % i
            self.ex(host, "ip", "link", "add", "eth0", "type", "veth",
                    "peer", "name", port, "netns", sw)
            self.ex("sw", "ip", "link", "set", port, "master", "br0", "up")
            self.ex(host, "ip", "link", "set", "lo", "up")
            self.ex(host, "ip", "link", "set", "eth0", "up")
            for a in addrs:
                extra = ["nodad"] if ":" in a else []
                self.ex(host, "ip", "addr", "add", a, "dev", "eth0", *extra)
            for net in ONLINK:
                self.ex(host, "ip", "route", "replace", net, "dev", "eth0")
        # No router here: every address is on the one link.

    def ex(self, host, *argv, check=True, timeout=30):
        """Runs argv inside host's namespace."""
        return sh("ip", "netns", "exec", self.ns[host], *argv, check=check,
                  timeout=timeout)

    def popen(self, host, argv, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen(["ip", "netns", "exec", self.ns[host]] + argv, **kw)
        self.procs.append(p)
        return p

    def echo_server(self, host, tcp_ports, udp_ports):
        """Starts an echo server; returns once it listens."""
        p = self.popen(host, [PY, HERE, "echo", ",".join(map(str, tcp_ports)),
                              ",".join(map(str, udp_ports))], text=True)
        line = p.stdout.readline()
        if "listening" not in line:
            raise RuntimeError("echo server: %s %s" % (line, p.stderr.read()))
        return p

    def dns_server(self, host, addr, port, zone_path):
        p = self.popen(host, [PY, HERE, "dns", addr, str(port), zone_path],
                       text=True)
        line = p.stdout.readline()
        if "listening" not in line:
            raise RuntimeError("dns server: %s %s" % (line, p.stderr.read()))
        return p

    def probe(self, host, proto, addr, port, timeout=3):
        """One TCP connection or UDP exchange from host: the echo's reply
        as a dict, or {"error": ...}."""
        r = self.ex(host, PY, HERE, "probe", proto, addr, str(port),
                    str(timeout), check=False, timeout=timeout + 10)
        try:
            return json.loads(r.stdout)
        except ValueError:
            return {"error": "probe: %s %s" % (r.stdout, r.stderr)}

    def nft(self, host, *args):
        return self.ex(host, "nft", *args).stdout

    def kill(self, p):
        if p.poll() is None:
            p.kill()
        p.wait()

    def close(self):
        for p in self.procs:
            try:
                if p.poll() is None:
                    p.kill()
                p.wait(timeout=5)
            except Exception:
                pass
        for ns in list(self.ns.values()):
            sh("ip", "netns", "del", ns, check=False)
        self.ns = {}


# ---- helpers run inside the namespaces -------------------------------------

def _family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def _echo(tcp_ports, udp_ports):
    sel = selectors.DefaultSelector()
    for port in tcp_ports:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        s.listen(128)
        sel.register(s, selectors.EVENT_READ, "tcp")
    for port in udp_ports:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port))
        sel.register(s, selectors.EVENT_READ, "udp")
    print("listening", flush=True)

    def plain(a):
        return a[7:] if a.startswith("::ffff:") else a

    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if key.data == "tcp":
                c, peer = s.accept()
                local = c.getsockname()
                msg = {"proto": "tcp", "local": plain(local[0]),
                       "port": local[1], "peer": plain(peer[0])}
                try:
                    c.sendall((json.dumps(msg) + "\n").encode())
                except OSError:
                    pass
                c.close()
            else:
                data, peer = s.recvfrom(2048)
                msg = {"proto": "udp", "port": s.getsockname()[1],
                       "peer": plain(peer[0]), "data": data.decode(errors="replace")}
                s.sendto((json.dumps(msg) + "\n").encode(), peer)


def _probe_once(proto, addr, port, timeout):
    fam = _family(addr)
    if proto == "tcp":
        with socket.create_connection((addr, port), timeout=timeout) as s:
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        return json.loads(buf)
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(b"ping", (addr, port))
        data, _ = s.recvfrom(4096)
    return json.loads(data)


def _probe(proto, addr, port, timeout):
    try:
        print(json.dumps(_probe_once(proto, addr, int(port), float(timeout))))
    except Exception as e:  # reported to the test, which decides
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))


def _loop(proto, addr, port, seconds):
    """Connects back to back for `seconds`; prints counts as JSON."""
    ok, failures = 0, []
    end = time.time() + float(seconds)
    while time.time() < end:
        try:
            _probe_once(proto, addr, int(port), 2)
            ok += 1
        except Exception as e:
            failures.append("%s: %s" % (type(e).__name__, e))
    print(json.dumps({"ok": ok, "failures": failures}))


# Minimal DNS (RFC 1035) answering A, AAAA and SRV from a JSON zone:
# {"name.": {"ttl": 5, "A": ["192.0.2.1"], "AAAA": [...],
#            "SRV": [[prio, weight, port, "target."]]}}
QTYPES = {1: "A", 28: "AAAA", 33: "SRV"}


def _dns_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def _dns_answer(query, zone):
    qid, flags = struct.unpack("!HH", query[:4])
    pos, labels = 12, []
    while query[pos] != 0:
        n = query[pos]
        labels.append(query[pos + 1:pos + 1 + n].decode().lower())
        pos += 1 + n
    qtype, _qclass = struct.unpack("!HH", query[pos + 1:pos + 5])
    question = query[12:pos + 5]
    name = ".".join(labels) + "."
    rrs = []
    entry = zone.get(name)
    rcode = 3 if entry is None else 0
    if entry is not None:
        ttl = int(entry.get("ttl", 5))
        for v in entry.get(QTYPES.get(qtype, ""), []):
            if qtype == 1:
                rdata = socket.inet_pton(socket.AF_INET, v)
            elif qtype == 28:
                rdata = socket.inet_pton(socket.AF_INET6, v)
            else:
                rdata = struct.pack("!HHH", v[0], v[1], v[2]) + _dns_name(v[3])
            rrs.append(struct.pack("!HHHIH", 0xC00C, qtype, 1, ttl, len(rdata)) + rdata)
    hdr = struct.pack("!HHHHHH", qid, 0x8400 | (flags & 0x0100) | rcode, 1,
                      len(rrs), 0, 0)
    return hdr + question + b"".join(rrs)


def _dns(addr, port, zone_path):
    s = socket.socket(_family(addr), socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    print("listening", flush=True)
    while True:
        query, peer = s.recvfrom(4096)
        try:
            with open(zone_path) as f:
                zone = json.load(f)
            with open(zone_path + ".log", "a") as f:
                f.write("%s\n" % time.time())
            s.sendto(_dns_answer(query, zone), peer)
        except Exception as e:  # a broken query must not stop the server
            print("dns: %s" % e, file=sys.stderr, flush=True)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "echo":
        ports = lambda s: [int(p) for p in s.split(",") if p]
        _echo(ports(sys.argv[2]), ports(sys.argv[3]))
    elif cmd == "probe":
        _probe(*sys.argv[2:6])
    elif cmd == "loop":
        _loop(*sys.argv[2:6])
    elif cmd == "dns":
        _dns(*sys.argv[2:5])
    else:
        sys.exit("unknown command %s" % cmd)
