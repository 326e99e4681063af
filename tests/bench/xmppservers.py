"""The three XMPP servers a benchmark compares, each fresh on loopback.

Context managers that start a server with the features a benchmark needs
and yield a Server (its c2s STARTTLS port and the PIDs whose CPU counts:
the server, plus the PostgreSQL cluster it stores into where it has one).
Every server gets the same storage where it can: a private PostgreSQL
cluster (fsync off for all alike) for xmpp-core, ejabberd (sql) and
Prosody (mod_storage_sql over LuaDBI), or each one's default store.
"""

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from edgetest import free_port  # noqa: E402
from pgcluster import PgCluster  # noqa: E402
from xmpptest import XmppServer  # noqa: E402

def cpu_seconds(pid):
    """CPU time of every thread of pid, from the scheduler's nanosecond
    counters (/proc/PID/stat's ticks are too coarse for short phases)."""
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass	# a thread that just ended
    return total / 1e9


def make_cert(d, key="rsa"):
    """A self-signed certificate for localhost: RSA-2048 or ECDSA P-256
    (every server of one run gets the same type)."""
    keyf, crt = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    newkey = ["-newkey", "rsa:2048"] if key == "rsa" else \
        ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", keyf, "-out", crt], check=True, capture_output=True)
    os.chmod(keyf, 0o600)
    return crt, keyf


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Server:
    def __init__(self, name, port, pid, pg=None):
        self.name, self.port, self.pid, self.pg = name, port, pid, pg

    def cpu(self):
        """Server CPU seconds so far."""
        return cpu_seconds(self.pid)

    def db_cpu(self):
        """CPU seconds of the PostgreSQL backends (0 without one)."""
        if self.pg is None or self.pg.proc is None:
            return 0.0
        total = cpu_seconds(self.pg.proc.pid)
        for c in children(self.pg.proc.pid):
            try:
                total += cpu_seconds(c)
            except OSError:
                pass	# a backend that just ended
        return total


def wait_port(port, proc=None, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError("exited with %s before listening" % proc.returncode)
            time.sleep(0.1)
    raise RuntimeError("nothing listens on %d after %ss" % (port, timeout))


@contextlib.contextmanager
def xmpp_core(extra="", c2s_extra="", key="rsa"):
    pg = PgCluster()
    s = None
    try:
        s = XmppServer(pg, start=False, extra=extra,
                       c2s_extra="max_connections_per_ip = 1000000\n"
                       'max_output_buffer = "64M"\n' + c2s_extra)
        make_cert(s.tmp, key)	# replaces the test certificate: same type as the others
        with open(s.conf) as f:
            # the shaper as generous as Prosody's below (1000mb/s)
            conf = f.read().replace('log_level = "debug"', 'log_level = "warn"') \
                .replace('shaper_rate = "10M"', 'shaper_rate = "1000M"')
        with open(s.conf, "w") as f:
            f.write(conf)
        s.start()
        srv = Server("xmpp-core", s.port, s.daemon.proc.pid, pg)
        srv.conf = s.conf	# for benchmarks that reload a changed setting
        srv.ctl = s.ctl

        def stop():
            s.stop()

        def start():
            s.start()
            srv.pid = s.daemon.proc.pid
        srv.stop, srv.start = stop, start
        yield srv
    finally:
        if s is not None:
            s.destroy()
        pg.destroy()


PROSODY_CFG = """
run_as_root = true
daemonize = false
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
log = {{ {loglevel} = "{d}/prosody.log" }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "disco"; "ping"; "register"; "posix"; "offline"; {modules} }}
modules_disabled = {{ "s2s" }}
c2s_ports = {{ {port} }}
c2s_require_encryption = true
allow_registration = true
registration_throttle_max = nil
min_seconds_between_registrations = 0
authentication = "internal_hashed"
limits = {{ c2s = {{ rate = "1000mb/s" }} }}
ssl = {{ certificate = "{crt}"; key = "{key}" }}
{extra}
VirtualHost "localhost"
{components}
"""


@contextlib.contextmanager
def prosody(modules=(), extra="", sql=False, key="rsa", components=""):
    """Prosody 0.12; sql=True stores everything in a private PostgreSQL;
    components: configuration after the VirtualHost (e.g. PROSODY_MUC)."""
    if shutil.which("prosody") is None:
        raise RuntimeError("prosody is not installed")
    d = tempfile.mkdtemp(prefix="edge-bench-prosody-")
    pg = None
    p = None
    try:
        os.makedirs(os.path.join(d, "data"))
        crt, keyf = make_cert(d, key)
        port = free_port()
        if sql:
            pg = PgCluster(dbname="prosody")
            extra += ('\nstorage = "sql"\nsql = { driver = "PostgreSQL"; database = "prosody"; '
                      'host = "%s"; port = %d; username = "postgres" }\n' % (pg.dir, pg.port))
        cfg = os.path.join(d, "prosody.cfg.lua")
        with open(cfg, "w") as f:
            f.write(PROSODY_CFG.format(d=d, port=port, loglevel=os.environ.get("XMPP_BENCH_PROSODY_LOG", "warn"), crt=crt, key=keyf, extra=extra,
                                       modules="".join('"%s"; ' % m for m in modules),
                                       components=components))

        def start():
            nonlocal p
            p = subprocess.Popen(["prosody", "-F", "--config", cfg], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            wait_port(port, p)
            srv.pid = p.pid

        def stop():
            nonlocal p
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p = None
        srv = Server("prosody", port, None, pg)
        srv.dir = d	# its data directory is dir/data (test_xmpp_import_prosody)
        srv.start, srv.stop = start, stop
        start()
        yield srv
    finally:
        if p is not None:
            stop()
        if pg is not None:
            pg.destroy()
        shutil.rmtree(d, ignore_errors=True)


EJABBERD_YML = """hosts: ["localhost"]
loglevel: warning
certfiles: ["{d}/both.pem"]
registration_timeout: infinity
auth_password_format: scram
{storage}
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
shaper_rules:
  max_user_offline_messages: 5000
modules:
  mod_register:
    ip_access: all
    access: register
  mod_roster: {{}}
  mod_disco: {{}}
  mod_ping: {{}}
  mod_offline: {{}}
{modules}
"""

EJABBERD_SQL = """auth_method: sql
default_db: sql
sql_type: pgsql
sql_server: "127.0.0.1"
sql_port: {pgport}
sql_database: "ejabberd"
sql_username: "postgres"
sql_password: ""
sql_pool_size: 3
new_sql_schema: {new}"""


def pids_of(pattern):
    r = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()]


# Each ejabberd gets an epmd of its own (ERL_EPMD_PORT, in the server's and
# ejabberdctl's environment): test files run side by side, and an epmd
# shared between two of them would be killed by the first to finish.
def _epmd_env(base):
    return dict(base, ERL_EPMD_PORT=str(free_port()))


def _kill_epmd(env):
    """Stops the epmd started for env's ERL_EPMD_PORT (found by its
    environment, not its name: other ejabberds have their own)."""
    want = b"ERL_EPMD_PORT=" + env["ERL_EPMD_PORT"].encode()
    for pid in pids_of("epmd"):
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                if want in f.read().split(b"\0"):
                    os.kill(pid, 15)
        except OSError:
            pass


@contextlib.contextmanager
def ejabberd(modules="", sql=False, key="rsa", yml_extra="", schema="pg.sql"):
    """ejabberd from Debian in a private node and spool; sql=True stores
    everything (auth included) in a private PostgreSQL with ejabberd's
    own schema, as the reference host does (schema "pg.new.sql": the
    multi-host schema with new_sql_schema: true, the reference host's)."""
    if shutil.which("ejabberdctl") is None:
        raise RuntimeError("ejabberd is not installed")
    d = tempfile.mkdtemp(prefix="edge-bench-ejabberd-")
    pg = None
    p = None
    beam = []
    env = _epmd_env(os.environ)
    try:
        crt, keyf = make_cert(d, key)
        with open(os.path.join(d, "both.pem"), "w") as f:
            f.write(open(crt).read() + open(keyf).read())
        port = free_port()
        storage = "auth_method: internal"
        if sql:
            pg = PgCluster(dbname="ejabberd", tcp_port=free_port())
            subprocess.run(["/usr/lib/postgresql/15/bin/psql", "-h", pg.dir, "-p", str(pg.port),
                            "-U", "postgres", "-d", "ejabberd", "-q", "-v", "ON_ERROR_STOP=1",
                            "-f", "/usr/share/ejabberd/sql/" + schema],
                           check=True, capture_output=True)
            storage = EJABBERD_SQL.format(pgport=pg.port,
                                          new="true" if schema == "pg.new.sql" else "false")
        node = "edgebench%d@localhost" % os.getpid()
        with open(os.path.join(d, "ejabberd.yml"), "w") as f:
            f.write(EJABBERD_YML.format(d=d, port=port, storage=storage, modules=modules)
                    + yml_extra)
        with open(os.path.join(d, "ejabberdctl.cfg"), "w") as f:
            f.write('ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"\nEJABBERD_PID_PATH=%s/pid\n' % d)
        shutil.copy("/etc/ejabberd/inetrc", d)
        for sub in ("spool", "logs"):
            os.makedirs(os.path.join(d, sub))
        pw = pwd.getpwnam("ejabberd")
        for root, dirs, files in os.walk(d):
            for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                os.chown(n, pw.pw_uid, pw.pw_gid)
        srv = Server("ejabberd", port, None, pg)
        srv.dir, srv.node = d, node	# for ejabberdctl commands (test_xmpp_import)
        srv.env = env			# ... which must find this node's epmd

        def start():
            nonlocal p, beam
            p = subprocess.Popen(["ejabberdctl", "--config-dir", d, "--ctl-config",
                                  os.path.join(d, "ejabberdctl.cfg"), "--config",
                                  os.path.join(d, "ejabberd.yml"), "--spool",
                                  os.path.join(d, "spool"), "--logs", os.path.join(d, "logs"),
                                  "--node", node, "foreground"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 # as ejabberd itself: ejabberdctl would su, and su's
                                 # PAM limits cap it at 1024 descriptors
                                 user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                                 env=dict(env, HOME=d))
            deadline = time.time() + 60
            while time.time() < deadline:
                beam = pids_of("beam.*" + node.split("@")[0])
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    if beam:
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            if not beam:
                raise RuntimeError("ejabberd did not start (logs in %s)" % d)
            srv.pid = beam[0]
            _ejabberd_started(["ejabberdctl", "--config-dir", d, "--ctl-config",
                               os.path.join(d, "ejabberdctl.cfg"), "--node", node],
                              dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                                   env=dict(env, HOME=d)), p, deadline,
                              lambda: "(logs in %s)" % d)

        def stop():
            nonlocal p, beam
            for pid in beam:
                try:
                    os.kill(pid, 15)
                except OSError:
                    pass
            beam = []
            if p is not None:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            p = None
        srv.start, srv.stop = start, stop
        start()
        yield srv
    finally:
        for pid in beam:
            try:
                os.kill(pid, 15)
            except OSError:
                pass
        if p is not None:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        _kill_epmd(env)		# the epmd this run started
        if pg is not None:
            pg.destroy()
        if os.environ.get("XMPP_BENCH_KEEP"):
            print("ejabberd state kept in", d)
        else:
            shutil.rmtree(d, ignore_errors=True)


# Group chat as the reference host runs it (issue 13), for bench_muc.py:
# conference.localhost, persistent rooms, archive on, 100 messages of
# history on join.  On all three alike: occupant limits above the 500 of
# the largest benchmark room (plus the joiners it measures) and no
# per-occupant message rate limit (the benchmark saturates a room).

# xmpp-core: [muc] (its archive is the room history in PostgreSQL,
# muc_history; room MAM is not there yet)
XMPP_CORE_MUC = """[muc]
message_rate = 0
max_occupants = 1000
default_max_users = 1000
history = 100
"""

# ejabberd: mod_muc with PostgreSQL, every room archived by mod_mam (SQL);
# users' own archives stay off, as groupchat never goes there anyway
EJABBERD_MUC = """  mod_muc:
    host: "conference.localhost"
    db_type: sql
    history_size: 100
    max_users: 1000
    max_user_conferences: 1000
    default_room_options:
      persistent: true
      mam: true
      max_users: 1000
  mod_mam:
    db_type: sql
    default: never
"""

# Prosody: the muc component with mod_muc_mam on mod_storage_sql
PROSODY_MUC = """
Component "conference.localhost" "muc"
modules_enabled = { "muc_mam" }
muc_room_default_persistent = true
muc_room_default_history_length = 100
max_history_messages = 100
muc_log_all_rooms = true
muc_log_expires_after = "never"
storage_archive_item_limit = 10000000
"""


# ---- ejabberd on domains of its own, for s2s (test_xmpp_s2s_ejabberd, bench_s2s) ----

def _ejabberd_inetrc(nameserver):
    """Erlang's resolver asking only the lab's DNS server (addr, port):
    ejabberd 23.01's s2s (p1_xmpp 1.6.1) looks SRV records up with
    inet_res, which asks DNS servers and never reads a hosts file (the
    targets' addresses come from libc's getaddrinfo, not from here)."""
    lines = ['{lookup, [file]}.', '{host, {127,0,0,1}, ["localhost"]}.', '{resolv_conf, ""}.']
    if nameserver:
        lines.append("{nameserver, {%s}, %d}." % (nameserver[0].replace(".", ","),
                                                  nameserver[1]))
    return "\n".join(lines) + "\n"


def _ejabberd_started(ctl, run_kw, proc, deadline, log):
    """Waits until ejabberdctl reports the application started: its
    listeners accept before every module's tables exist (a register right
    then failed with {no_exists,passwd,storage_type})."""
    while time.time() < deadline:
        r = subprocess.run(ctl + ["status"], capture_output=True, text=True,
                           timeout=60, **run_kw)
        if r.returncode == 0 and "is running in that node" in r.stdout:
            return
        if proc.poll() is not None:
            raise RuntimeError("ejabberd exited while starting:\n" + log())
        time.sleep(0.2)
    raise RuntimeError("ejabberd not started in time:\n" + log())


@contextlib.contextmanager
def ejabberd_node(yml, port, nameserver=None, files=None, tag="s2s"):
    """Debian's ejabberd with a whole ejabberd.yml of the caller's ("{d}"
    in it is ejabberd's private dir), ready once `port` accepts; files: name -> text written into
    its dir first (certificates: ejabberd runs as its own user and reads
    only what it owns); nameserver: (address, port) of the DNS server its
    resolver asks.  Yields a Server with .dir, .node, .log(),
    .ctl(*args) (ejabberdctl on that node), .start(), .stop()."""
    if shutil.which("ejabberdctl") is None:
        raise RuntimeError("ejabberd is not installed")
    d = tempfile.mkdtemp(prefix="edge-ejabberd-%s-" % tag)
    p = None
    beam = []
    env = _epmd_env(os.environ)
    pw = pwd.getpwnam("ejabberd")
    node = "edge%s%d@localhost" % (tag, os.getpid())
    try:
        for name, text in (files or {}).items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        with open(os.path.join(d, "ejabberd.yml"), "w") as f:
            f.write(yml.replace("{d}", d))
        with open(os.path.join(d, "ejabberdctl.cfg"), "w") as f:
            f.write('ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"\nEJABBERD_PID_PATH=%s/pid\n' % d)
        with open(os.path.join(d, "inetrc"), "w") as f:
            f.write(_ejabberd_inetrc(nameserver))
        for sub in ("spool", "logs"):
            os.makedirs(os.path.join(d, sub))
        for root, dirs, fs in os.walk(d):
            for n in [root] + [os.path.join(root, x) for x in dirs + fs]:
                os.chown(n, pw.pw_uid, pw.pw_gid)
        ctl = ["ejabberdctl", "--config-dir", d, "--ctl-config",
               os.path.join(d, "ejabberdctl.cfg"), "--node", node]
        as_ejabberd = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                           env=dict(env, HOME=d))
        srv = Server("ejabberd", port, None)
        srv.dir, srv.node, srv.env = d, node, env

        def start():
            nonlocal p, beam
            p = subprocess.Popen(ctl + ["--config", os.path.join(d, "ejabberd.yml"),
                                        "--spool", os.path.join(d, "spool"),
                                        "--logs", os.path.join(d, "logs"), "foreground"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 **as_ejabberd)
            deadline = time.time() + 60
            while time.time() < deadline:
                beam = pids_of("beam.*" + node.split("@")[0])
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    if beam:
                        break
                except OSError:
                    if p.poll() is not None:
                        break
                time.sleep(0.05)
            if not beam or p.poll() is not None:
                raise RuntimeError("ejabberd did not start:\n" + srv.log())
            srv.pid = beam[0]
            _ejabberd_started(ctl, as_ejabberd, p, deadline, srv.log)

        def stop():
            nonlocal p, beam
            for pid in beam:
                try:
                    os.kill(pid, 15)
                except OSError:
                    pass
            beam = []
            if p is not None:
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            p = None

        def log():
            try:
                with open(os.path.join(d, "logs", "ejabberd.log")) as f:
                    return f.read()
            except OSError:
                return ""

        def ctl_run(*args):
            return subprocess.run(ctl + list(args), capture_output=True, text=True,
                                  timeout=60, **as_ejabberd)
        srv.start, srv.stop, srv.log, srv.ctl = start, stop, log, ctl_run
        start()
        yield srv
    finally:
        for pid in beam:
            try:
                os.kill(pid, 15)
            except OSError:
                pass
        if p is not None:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        _kill_epmd(env)		# the epmd this run started
        if os.environ.get("XMPP_BENCH_KEEP"):
            print("ejabberd state kept in", d)
        else:
            shutil.rmtree(d, ignore_errors=True)
