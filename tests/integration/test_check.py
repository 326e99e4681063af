"""edge-check on a lab XMPP host.

One network namespace stands in for the reference host (deploy/README.md):
documentation addresses on its loopback (XMPP primary 192.0.2.1, the
direct-TLS address 192.0.2.2, TURN 198.51.100.1, the TURNS address
198.51.100.2, and IPv6 for the first two), netlab.py's DNS server on
192.0.2.53 answering from a JSON zone it re-reads on every query, a CA
and certificates made here, a private PostgreSQL, and the real
xmpp-core, turnd and upload-gw running as `nobody` with the configs
edge-check reads (portmap's forwards are read from its config: 443 on the
second addresses to 5223 and 3443).

edge-check first reports the lab clean (exit 0, no warn or FAIL line);
then each test breaks one thing (a DNS record, a certificate, a secret,
the schema, a listener, a key, a file mode) in a copy of the config
directory or in the zone, and looks for the line that names it.
"""

import datetime
import grp
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from edgetest import Daemon, binary, san_env
from netlab import PY, can_create_netns, sh
from pgcluster import PgCluster

ok, why = can_create_netns()
pytestmark = pytest.mark.skipif(not ok, reason=why)

HERE = os.path.dirname(os.path.abspath(__file__))
XMPP4, XMPPS4 = "192.0.2.1", "192.0.2.2"
XMPP6, XMPPS6 = "2001:db8:a::1", "2001:db8:a::2"
TURN4, TURNS4 = "198.51.100.1", "198.51.100.2"
DNS4 = "192.0.2.53"
WEB4 = "203.0.113.20"      # the web host: not this host
DOMAIN = "example.org"

ZONE = {
    DOMAIN + ".": {"A": [WEB4]},
    "_xmpp-client._tcp.%s." % DOMAIN: {"SRV": [[0, 5, 5222, "xmpp.%s." % DOMAIN]]},
    "_xmpps-client._tcp.%s." % DOMAIN: {"SRV": [[0, 5, 443, "xmpps.%s." % DOMAIN]]},
    "_xmpp-server._tcp.%s." % DOMAIN: {"SRV": [[0, 5, 5269, "xmpp.%s." % DOMAIN]]},
    "xmpp.%s." % DOMAIN: {"A": [XMPP4], "AAAA": [XMPP6]},
    "xmpps.%s." % DOMAIN: {"A": [XMPPS4], "AAAA": [XMPPS6]},
    "conference.%s." % DOMAIN: {"A": [XMPP4]},
    "pubsub.%s." % DOMAIN: {"A": [XMPP4]},
    "proxy.%s." % DOMAIN: {"A": [XMPP4]},
    "upload.%s." % DOMAIN: {"A": [XMPP4], "AAAA": [XMPP6]},
    "turn.%s." % DOMAIN: {"A": [TURN4]},
    "turns.%s." % DOMAIN: {"A": [TURNS4]},
    "_stun._udp.%s." % DOMAIN: {"SRV": [[0, 5, 3478, "turn.%s." % DOMAIN]]},
    "_turn._udp.%s." % DOMAIN: {"SRV": [[0, 5, 3478, "turn.%s." % DOMAIN]]},
    "_turn._tcp.%s." % DOMAIN: {"SRV": [[0, 5, 3478, "turn.%s." % DOMAIN]]},
    "_turns._tcp.%s." % DOMAIN: {"SRV": [[0, 5, 443, "turns.%s." % DOMAIN]]},
}

CA_CNF = """[ca]
default_ca = lab
[lab]
database = %(d)s/index.txt
new_certs_dir = %(d)s
serial = %(d)s/serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
"""


def openssl(*args, cwd=None):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=cwd)


def stamp(days):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return t.strftime("%Y%m%d%H%M%SZ")


class Pki:
    """A lab CA and leaf certificates signed by it (openssl ca, so the
    validity can lie in the past)."""

    def __init__(self, d):
        self.d = d
        self.ca, self.ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write(CA_CNF % {"d": d})
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write("1000\n")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-days", "30", "-subj", "/CN=edge-check lab CA",
                "-keyout", self.ca_key, "-out", self.ca)

    def key(self, name):
        path = os.path.join(self.d, name + ".key")
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", path)
        return path

    def leaf(self, name, key, sans, start=-1, end=90):
        csr, out = os.path.join(self.d, name + ".csr"), os.path.join(self.d, name + ".pem")
        openssl("req", "-new", "-key", key, "-subj", "/CN=%s" % sans[0], "-addext",
                "subjectAltName=" + ",".join("DNS:" + s for s in sans), "-out", csr)
        openssl("ca", "-batch", "-notext", "-config", os.path.join(self.d, "ca.cnf"),
                "-cert", self.ca, "-keyfile", self.ca_key, "-in", csr, "-out", out,
                "-startdate", stamp(start), "-enddate", stamp(end))
        return out


def shared(path, mode=0o640):
    """root:nogroup with mode: what the daemons' user (nobody) may read."""
    os.chown(path, 0, grp.getgrnam("nogroup").gr_gid)
    os.chmod(path, mode)


XMPP_CONF = """hosts = ["%(domain)s"]
user = "nobody"
control_socket = "%(d)s/control.sock"
log_level = "debug"

[database]
conninfo = "%(conninfo)s"
pool_size = 2

[tls]
cert_file = "%(cert)s"
key_file = "%(key)s"

[c2s]
listen = ["[::]:5222"]
listen_tls = ["[::]:5223"]

[s2s]
enabled = true
listen = ["[::]:5269"]

[web]
websocket_url = "wss://xmpp.%(domain)s/ws"

[proxy65]
listen = ["[::]:7777"]

[upload]
url = "https://upload.%(domain)s/upload/"
secret_file = "%(d)s/upload.secret"

[extdisco]
secret_file = "%(d)s/turn.secret"
[[extdisco.service]]
type = "stun"
host = "turn.%(domain)s"
port = 3478
transport = "udp"
[[extdisco.service]]
type = "turn"
host = "turn.%(domain)s"
port = 3478
transport = "udp"
[[extdisco.service]]
type = "turns"
host = "turns.%(domain)s"
port = 443
transport = "tcp"
"""

TURND_CONF = """listen = ["%(turn4)s:3478"]
tls_listen = ["%(turn4)s:3443"]
tls_cert = "%(cert)s"
tls_key = "%(key)s"
realm = "%(domain)s"
secret_file = "%(d)s/turn.secret"
user = "nobody"
"""

UPLOAD_CONF = """listen = ["127.0.0.1:5050", "[::1]:5050"]
storeDir = "%(d)s/store/"
uploadSubDir = "upload/"
secret_file = "%(d)s/upload.secret"
user = "nobody"
"""

PORTMAP_CONF = """[[forward]]
name = "xmpps"
protocols = ["tcp"]
listen = ["%(xmpps4)s", "%(xmpps6)s"]
port = 443
to = ["%(xmpp4)s", "%(xmpp6)s"]
to_port = 5223

[[forward]]
name = "turns"
protocols = ["tcp"]
listen = ["%(turns4)s"]
port = 443
to = ["%(turn4)s"]
to_port = 3443
"""


class CheckLab:
    def __init__(self):
        self.ns = "edge-check-%d" % os.getpid()
        self.tmp = tempfile.mkdtemp(prefix="edge-check-")
        os.chmod(self.tmp, 0o755)       # nobody walks through it
        self.procs, self.daemons, self.pg = [], [], None
        sh("ip", "netns", "add", self.ns)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def ex(self, *argv, check=True):
        return sh("ip", "netns", "exec", self.ns, *argv, check=check)

    def _build(self):
        self.ex("ip", "link", "set", "lo", "up")
        for a in (XMPP4, XMPPS4, TURN4, TURNS4, DNS4):
            self.ex("ip", "addr", "add", a + "/32", "dev", "lo")
        for a in (XMPP6, XMPPS6):
            self.ex("ip", "addr", "add", a + "/128", "dev", "lo", "nodad")
        self.zone = os.path.join(self.tmp, "zone.json")
        self.set_zone(ZONE)
        p = subprocess.Popen(["ip", "netns", "exec", self.ns, PY,
                              os.path.join(HERE, "netlab.py"), "dns", DNS4, "53", self.zone],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        assert "listening" in p.stdout.readline()

        pki = os.path.join(self.tmp, "pki")
        os.mkdir(pki)
        self.pki = Pki(pki)
        names = [DOMAIN, "*." + DOMAIN]
        self.key = self.pki.key("good")
        self.cert = self.pki.leaf("good", self.key, names)
        shared(self.key)
        shared(self.cert, 0o644)

        self.pg = PgCluster()
        self.pg.psql("CREATE DATABASE empty", db="postgres")

        self.conf = os.path.join(self.tmp, "etc")
        os.mkdir(self.conf)
        for name in ("upload.secret", "turn.secret"):
            path = os.path.join(self.tmp, name)
            with open(path, "w") as f:
                f.write(os.urandom(16).hex() + "\n")
            shared(path)
        store = os.path.join(self.tmp, "store")
        os.mkdir(store)
        nobody = pwd.getpwnam("nobody")
        os.chown(store, nobody.pw_uid, nobody.pw_gid)
        self.vars = {"d": self.tmp, "domain": DOMAIN, "conninfo": self.pg.conninfo,
                     "cert": self.cert, "key": self.key, "turn4": TURN4, "turns4": TURNS4,
                     "xmpp4": XMPP4, "xmpp6": XMPP6, "xmpps4": XMPPS4, "xmpps6": XMPPS6}
        for name, text in (("xmpp-core", XMPP_CONF), ("turnd", TURND_CONF),
                           ("upload-gw", UPLOAD_CONF), ("portmap", PORTMAP_CONF)):
            with open(os.path.join(self.conf, name + ".toml"), "w") as f:
                f.write(text % self.vars)
        # the daemons drop to nobody before they could tell a private
        # notify socket they are ready: wait for what each binds last
        # (xmpp-core its control socket, after every listener)
        for name, ports in (("xmpp-core", [("unix", self.tmp + "/control.sock")]),
                            ("turnd", [(TURN4, 3478), (TURN4, 3443)]),
                            ("upload-gw", [("127.0.0.1", 5050), ("::1", 5050)])):
            d = Daemon(["ip", "netns", "exec", self.ns, binary(name), "-c",
                        os.path.join(self.conf, name + ".toml")], notify=False)
            self.daemons.append(d)
            for addr, port in ports:
                self.wait_port(d, addr, port)

    def wait_port(self, d, addr, port, timeout=60):
        code = ("import socket,sys,time\n"
                "end = time.time() + %d\n"
                "while time.time() < end:\n"
                "    try:\n"
                "        if %r == 'unix':\n"
                "            s = socket.socket(socket.AF_UNIX); s.connect(%r)\n"
                "        else:\n"
                "            s = socket.create_connection((%r, %r), 1)\n"
                "        s.close(); sys.exit(0)\n"
                "    except OSError: time.sleep(0.1)\n"
                "sys.exit(1)\n" % (timeout, addr, port, addr, port))
        r = self.ex(PY, "-c", code, check=False)
        if r.returncode != 0:
            raise RuntimeError("%s: nothing on %s %s:\n%s" % (d.argv, addr, port, d.log()))

    def set_zone(self, zone):
        tmp = self.zone + ".new"
        with open(tmp, "w") as f:
            json.dump(zone, f)
        os.rename(tmp, self.zone)

    def copy_conf(self, name):
        """A copy of the config directory to break things in."""
        d = os.path.join(self.tmp, name)
        shutil.copytree(self.conf, d)
        return d

    def edit(self, confdir, daemon, old, new):
        path = os.path.join(confdir, daemon + ".toml")
        with open(path) as f:
            text = f.read()
        assert old in text, (old, text)
        with open(path, "w") as f:
            f.write(text.replace(old, new))

    def check(self, confdir=None, *args, ca=True, ns=DNS4):
        argv = ["ip", "netns", "exec", self.ns, binary("edge-check"),
                "--config-dir", confdir or self.conf, "--nameserver", ns]
        if ca:
            argv += ["--ca", self.pki.ca]
        r = subprocess.run(argv + list(args), capture_output=True, text=True,
                           timeout=120, env=san_env(os.environ))
        assert "Sanitizer" not in r.stdout + r.stderr, r.stdout + r.stderr
        assert "runtime error:" not in r.stdout + r.stderr, r.stdout + r.stderr
        return r.returncode, r.stdout.splitlines(), r.stderr

    def close(self):
        errors = []
        for d in self.daemons:
            try:
                d.stop()
            except AssertionError as e:    # reported once the lab is gone
                errors.append(e)
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        if self.pg:
            self.pg.destroy()
        sh("ip", "netns", "del", self.ns, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if errors:
            raise errors[0]


@pytest.fixture(scope="module")
def lab():
    lab = CheckLab()
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def zone(lab):
    """The zone as a dict to change; the clean one is back afterwards."""
    z = json.loads(json.dumps(ZONE))
    yield z
    lab.set_zone(ZONE)


def problems(lines):
    return [l for l in lines if not l.startswith("ok ") and not l.startswith("edge-check:")]


def has(lines, *parts, status="FAIL"):
    """The line with this status that contains every part."""
    for l in lines:
        if l.startswith(status) and all(p in l for p in parts):
            return l
    raise AssertionError("no %s line with %s in:\n%s" % (status, parts, "\n".join(lines)))


def test_clean_lab(lab):
    rc, out, err = lab.check()
    assert rc == 0 and problems(out) == [], "\n".join(out) + err
    assert out[-1] == "edge-check: no problems"
    for name in ("xmpp-core", "turnd", "upload-gw", "portmap"):
        has(out, "config: ", name + ".toml: %s -t accepts it" % name, status="ok")
    has(out, "tls: " + lab.cert, "chain verifies", status="ok")
    has(out, "tls: " + lab.cert, "covers example.org, ", "conference.example.org",
        "pubsub.example.org", "upload.example.org", "turns.example.org",
        "xmpp.example.org", "proxy.example.org", status="ok")
    has(out, "key matches", status="ok")
    has(out, "tls: xmpp-core (user nobody) can read", status="ok")
    has(out, "tls: turnd (user nobody) can read", status="ok")
    has(out, "secrets: upload: xmpp-core and upload-gw read the same file", status="ok")
    has(out, "secrets: TURN: xmpp-core and turnd read the same file", status="ok")
    has(out, "database: schema at version", "as this xmpp-core expects", status="ok")
    has(out, "port: turnd (UDP) 198.51.100.1:3478", "STUN answers", status="ok")
    has(out, "port: xmpp-core control socket", status="ok")
    has(out, "port: xmpp-core web 127.0.0.1:5080 ([web] listen)", status="ok")
    has(out, "port: xmpp-core proxy65 [::]:7777 ([proxy65] listen)", status="ok")
    has(out, "dns: [proxy65] host: proxy.example.org port 7777: 192.0.2.1 "
        "(xmpp-core proxy65 [::]:7777)", status="ok")
    has(out, "dns: WebSocket URL: xmpp.example.org: 192.0.2.1, 2001:db8:a::1", status="ok")
    has(out, "dns: _xmpps-client._tcp.example.org SRV -> xmpps.example.org:443",
        "192.0.2.2 (portmap forward xmpps to 192.0.2.1:5223",
        "2001:db8:a::2 (portmap forward xmpps to [2001:db8:a::1]:5223", status="ok")
    has(out, "dns: _turns._tcp.example.org SRV -> turns.example.org:443",
        "portmap forward turns to 198.51.100.1:3443, turnd (TLS)", status="ok")
    has(out, "dns: [extdisco] turns tcp: turns.example.org port 443", status="ok")
    has(out, "dns: _xmpp-server._tcp.conference.example.org SRV: no such name; "
        "conference.example.org:5269 reaches xmpp-core s2s", status="ok")
    # --quiet: nothing at all when all is well
    rc, out, _ = lab.check(None, "--quiet")
    assert rc == 0 and out == []


def test_command_line(lab):
    r = subprocess.run([binary("edge-check"), "--help"], capture_output=True, text=True,
                       env=san_env(os.environ))
    assert r.returncode == 0 and r.stdout.startswith("usage: edge-check")
    r = subprocess.run([binary("edge-check"), "--version"], capture_output=True, text=True,
                       env=san_env(os.environ))
    version = open(os.path.join(HERE, "..", "..", "VERSION")).read().strip()
    assert r.returncode == 0 and r.stdout == "edge-check %s\n" % version
    for bad in (["--frobnicate"], ["nosuchdaemon"], ["--nameserver", "ns.example"]):
        r = subprocess.run([binary("edge-check")] + bad, capture_output=True, text=True,
                           env=san_env(os.environ))
        assert r.returncode == 2 and r.stdout == "", (bad, r)
    rc, out, _ = lab.check(os.path.join(lab.tmp, "nothing-here"))
    assert rc == 1
    has(out, "no daemon's configuration in")


@pytest.mark.parametrize("case", ["host_elsewhere", "wrong_port", "turns_unforwarded",
                                  "no_srv", "no_stun", "service_missing", "aaaa_only_v4"])
def test_dns_wrong_records(lab, zone, case):
    if case == "host_elsewhere":       # the XMPP host's A record points away
        zone["xmpp.%s." % DOMAIN]["A"] = ["192.0.2.99"]
        want = ("dns: _xmpp-client._tcp.example.org SRV -> xmpp.example.org:5222",
                "192.0.2.99 port 5222: 192.0.2.99 is no address of this host")
    elif case == "wrong_port":         # direct TLS on 443 where nothing forwards
        zone["_xmpps-client._tcp.%s." % DOMAIN]["SRV"] = [[0, 5, 443, "xmpp.%s." % DOMAIN]]
        want = ("_xmpps-client._tcp.example.org SRV -> xmpp.example.org:443",
                "no xmpp-core c2s (direct TLS) listens on 192.0.2.1:443")
    elif case == "turns_unforwarded":  # XEP-0215 and SRV name an address without 443
        zone["turns.%s." % DOMAIN]["A"] = [TURN4]
        want = ("dns: [extdisco] turns tcp: turns.example.org 198.51.100.1 port 443",
                "no turnd (TLS) listens on 198.51.100.1:443")
        lab.set_zone(zone)
        rc, out, _ = lab.check()
        has(out, "dns: _turns._tcp.example.org SRV -> turns.example.org:443",
            "no turnd (TLS) listens on 198.51.100.1:443")
    elif case == "no_srv":             # clients fall back to the web host
        del zone["_xmpp-client._tcp.%s." % DOMAIN]
        want = ("_xmpp-client._tcp.example.org SRV: no such name, so clients use "
                "example.org:5222", "203.0.113.20 port 5222: 203.0.113.20 is no "
                "address of this host")
    elif case == "no_stun":
        del zone["_stun._udp.%s." % DOMAIN]
        want = ("_stun._udp.example.org SRV: no such name",
                "fix: add _stun._udp.example.org. SRV 0 5 3478")
        lab.set_zone(zone)
        rc, out, _ = lab.check()
        assert rc == 1
        has(out, *want, status="warn")
        return
    elif case == "service_missing":    # remote servers cannot reach the MUC
        del zone["conference.%s." % DOMAIN]
        want = ("_xmpp-server._tcp.conference.example.org SRV: no such name, so "
                "clients use conference.example.org:5269", "conference.example.org: "
                "no such name")
    else:                              # an AAAA where only IPv4 listens
        zone["turn.%s." % DOMAIN]["AAAA"] = [XMPP6]
        want = ("_turn._udp.example.org SRV -> turn.example.org:3478",
                "2001:db8:a::1 port 3478: no turnd (UDP) listens on [2001:db8:a::1]:3478")
    lab.set_zone(zone)
    rc, out, _ = lab.check()
    assert rc == 1
    has(out, *want)


@pytest.fixture(scope="module")
def certs(lab):
    p = lab.pki
    names = [DOMAIN, "*." + DOMAIN]
    c = {}
    c["expiring"] = (p.leaf("expiring", lab.key, names, end=5), lab.key)
    c["expired"] = (p.leaf("expired", lab.key, names, start=-60, end=-1), lab.key)
    c["wrong_name"] = (p.leaf("wrong", lab.key, ["other.example.net"]), lab.key)
    c["key_mismatch"] = (lab.cert, p.key("other"))
    for cert, key in c.values():
        shared(cert, 0o644)
        shared(key)
    private = os.path.join(lab.tmp, "pki", "private.key")
    shutil.copy(lab.key, private)
    os.chmod(private, 0o600)
    c["unreadable_key"] = (lab.cert, private)
    return c


@pytest.mark.parametrize("case", ["expiring", "expired", "wrong_name", "key_mismatch",
                                  "unreadable_key", "untrusted"])
def test_certificates(lab, certs, case):
    d = lab.copy_conf("tls-" + case)
    if case != "untrusted":
        cert, key = certs[case]
        for daemon, ck, kk in (("xmpp-core", "cert_file", "key_file"),
                               ("turnd", "tls_cert", "tls_key")):
            lab.edit(d, daemon, '%s = "%s"' % (ck, lab.cert), '%s = "%s"' % (ck, cert))
            lab.edit(d, daemon, '%s = "%s"' % (kk, lab.key), '%s = "%s"' % (kk, key))
    rc, out, _ = lab.check(d, ca=case != "untrusted")
    assert rc == 1, "\n".join(out)
    if case == "expiring":
        line = has(out, "tls: " + cert, "expires in ", status="warn")
        assert re.search(r"expires in [45] days", line), line
        assert not [l for l in out if l.startswith("FAIL")], "\n".join(out)
    elif case == "expired":
        has(out, "tls: " + cert, "expired on")
    elif case == "wrong_name":
        has(out, "tls: " + cert, "does not cover example.org (XMPP domain), ",
            "conference.example.org (MUC service)", "upload.example.org (upload service)",
            "turns.example.org (TURNS/STUNS host)")
        # a web host name: nginx may hold a certificate of its own
        has(out, "tls: " + cert, "does not cover xmpp.example.org (WebSocket URL)",
            status="warn")
    elif case == "key_mismatch":
        has(out, "tls: " + key, "key does not match " + cert)
    elif case == "unreadable_key":
        has(out, "tls: xmpp-core (user nobody) cannot read %s: mode 0600, owner root" % key)
        has(out, "tls: turnd (user nobody) cannot read %s" % key)
    else:
        has(out, "tls: " + lab.cert, "chain does not verify")


def test_secrets_equal_and_different(lab):
    # equal contents in two files: fine
    d = lab.copy_conf("secret-equal")
    copy = os.path.join(d, "upload.secret")
    shutil.copy(os.path.join(lab.tmp, "upload.secret"), copy)
    shared(copy)
    lab.edit(d, "upload-gw", 'secret_file = "%s/upload.secret"' % lab.tmp,
             'secret_file = "%s"' % copy)
    rc, out, _ = lab.check(d, "xmpp-core", "upload-gw")
    has(out, "secrets: upload: xmpp-core's %s/upload.secret equals upload-gw's %s"
        % (lab.tmp, copy), status="ok")
    # different ones: every upload and every TURN allocation refused
    d = lab.copy_conf("secret-differ")
    for name in ("upload", "turn"):
        other = os.path.join(d, name + ".secret")
        with open(other, "w") as f:
            f.write("not-the-same-%s\n" % name)
        shared(other)
    lab.edit(d, "upload-gw", 'secret_file = "%s/upload.secret"' % lab.tmp,
             'secret_file = "%s/upload.secret"' % d)
    lab.edit(d, "turnd", 'secret_file = "%s/turn.secret"' % lab.tmp,
             'secret_file = "%s/turn.secret"' % d)
    rc, out, _ = lab.check(d)
    assert rc == 1
    has(out, "secrets: upload: xmpp-core's %s/upload.secret and upload-gw's "
        "%s/upload.secret differ" % (lab.tmp, d))
    has(out, "secrets: TURN: xmpp-core's %s/turn.secret is none of turnd's secrets" % lab.tmp)
    # a secret the daemon's user cannot read, or cannot reach
    os.chmod(os.path.join(d, "upload.secret"), 0o600)
    rc, out, _ = lab.check(d, "xmpp-core", "upload-gw")
    has(out, "secrets: upload-gw (user nobody) cannot read the upload secret",
        "%s/upload.secret: mode 0600, owner root" % d)
    os.chmod(os.path.join(d, "upload.secret"), 0o640)
    os.chmod(d, 0o700)
    rc, out, _ = lab.check(d, "xmpp-core", "upload-gw")
    has(out, "secrets: upload-gw (user nobody) cannot read the upload secret",
        "%s: mode 0700, owner root" % d)


def test_users(lab):
    d = lab.copy_conf("users")
    lab.edit(d, "turnd", 'user = "nobody"\n', 'user = "edge-check-nosuchuser"\n')
    lab.edit(d, "upload-gw", 'user = "nobody"\n', "")
    rc, out, _ = lab.check(d, "turnd", "upload-gw")
    assert rc == 1
    has(out, "user: turnd runs as edge-check-nosuchuser, which does not exist")
    # no user = in the config: the packaged unit's User=
    has(out, "user: upload-gw runs as upload-gw", status="")


def test_database_schema(lab):
    d = lab.copy_conf("db")
    lab.edit(d, "xmpp-core", "dbname=xmpp", "dbname=empty")
    rc, out, _ = lab.check(d, "xmpp-core")
    assert rc == 1
    has(out, "database: connected as nobody", status="ok")
    has(out, "database: no schema yet")
    # behind (a migration missing) and ahead (one this build lacks)
    lab.pg.psql("CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
                "name text NOT NULL); INSERT INTO schema_migrations VALUES "
                "(1, '001_init'), (999, '999_future')", db="empty")
    rc, out, _ = lab.check(d, "xmpp-core")
    has(out, "database: schema lacks 002_fast")
    has(out, "database: schema has migrations this xmpp-core does not know: 999")
    # unreachable
    lab.edit(d, "xmpp-core", "host=%s" % lab.pg.dir, "host=%s/nowhere" % lab.tmp)
    rc, out, _ = lab.check(d, "xmpp-core")
    has(out, "database: cannot connect as nobody")


def test_port_not_listening(lab):
    d = lab.copy_conf("port")
    lab.edit(d, "upload-gw", '"127.0.0.1:5050", "[::1]:5050"', '"127.0.0.1:5051"')
    lab.edit(d, "turnd", 'tls_listen = ["%s:3443"]' % TURN4, 'tls_listen = ["%s:3443"]' % XMPPS4)
    lab.edit(d, "turnd", 'listen = ["%s:3478"]' % TURN4, 'listen = ["%s:3479"]' % TURN4)
    rc, out, _ = lab.check(d, "upload-gw", "turnd")
    assert rc == 1
    has(out, "port: turnd (UDP) 198.51.100.1:3479 (listen): nothing listens")
    has(out, "port: turnd (TCP) 198.51.100.1:3479 (listen): nothing listens")
    has(out, "port: upload-gw 127.0.0.1:5051 (listen): nothing listens", "Connection refused")
    has(out, "port: turnd (TLS) 192.0.2.2:3443 (tls_listen): nothing listens")
    # an address this host does not have
    lab.edit(d, "turnd", 'tls_listen = ["%s:3443"]' % XMPPS4, 'tls_listen = ["198.51.100.77:3443"]')
    rc, out, _ = lab.check(d, "turnd")
    has(out, "port: turnd (TLS) 198.51.100.77:3443 (tls_listen): not an address of this host")


def test_syntax_unknown_key(lab):
    d = lab.copy_conf("syntax")
    path = os.path.join(d, "turnd.toml")
    with open(path, "a") as f:
        f.write("listen_tpc = true\n")
    line = len(open(path).read().splitlines())
    rc, out, _ = lab.check(d, "turnd")
    assert rc == 1
    has(out, "config: %s:%d: listen_tpc" % (path, line))
    # said once, by turnd -t
    assert len([l for l in out if "listen_tpc" in l]) == 1, "\n".join(out)


def test_redirect_domain(lab, zone):
    d = os.path.join(lab.tmp, "web")
    os.mkdir(d)
    with open(os.path.join(d, "dumbclient-redirect.toml"), "w") as f:
        f.write('ports = ["5222", "5269"]\nlisten = ["%s"]\ndomain = "%s"\n' % (WEB4, DOMAIN))
    rc, out, _ = lab.check(d)
    assert rc == 0, "\n".join(out)
    has(out, "dns: dumbclient-redirect domain example.org: 203.0.113.20 is redirected",
        status="ok")
    zone[DOMAIN + "."]["A"] = ["203.0.113.21"]
    lab.set_zone(zone)
    rc, out, _ = lab.check(d)
    has(out, "dns: dumbclient-redirect domain example.org: 203.0.113.21 is not one of "
        "its listen addresses")


def test_nameserver_down(lab):
    # a closed port: every query fails at once; after three edge-check
    # stops asking instead of waiting out each lookup's timeouts
    rc, out, _ = lab.check(None, "xmpp-core", ns="127.0.0.1:9")
    assert rc == 1
    has(out, "dns: _xmpp-client._tcp.example.org SRV: lookup failed")
    has(out, "dns: _xmpps-server._tcp.example.org SRV: lookup skipped: the nameserver "
        "did not answer 3 lookups in a row")
