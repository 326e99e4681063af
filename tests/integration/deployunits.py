"""Running a daemon the way its shipped systemd unit would, without systemd.

systemd is not PID 1 on the test machines, so a unit's execution
environment is reproduced with the tools systemd itself stands on: a mount
and network namespace (unshare), overlay and bind mounts for the
filesystem view, setpriv for the user, groups, capabilities and
no_new_privs.  Everything comes from the installed unit file (parse_unit),
nothing is repeated here; what is reproduced:

  User= Group= SupplementaryGroups=   setpriv --reuid/--regid/--groups
  CapabilityBoundingSet=              setpriv --bounding-set
  AmbientCapabilities=                setpriv --inh-caps/--ambient-caps
  NoNewPrivileges=                    setpriv --no-new-privs
  UMask= LimitNOFILE=                umask, ulimit -n before exec
  ProtectSystem=strict                every mount but /dev /proc /sys read-only
  ReadWritePaths= StateDirectory=     writable bind mounts (StateDirectory made
  RuntimeDirectory=                   and owned by User=, its *Mode=)
  PrivateTmp=                         empty tmpfs on /tmp and /var/tmp
  ProtectHome=yes                     empty read-only tmpfs on /home and /root

Not reproduced (no tool without systemd): SystemCallFilter=,
RestrictAddressFamilies=, PrivateDevices=, ProtectKernel*=, MemoryDenyWriteExecute=.

The installed tree (make install DESTDIR=root) is laid over the host:
root/usr/sbin and root/etc (its edge/ directory, and passwd/group made by
systemd-sysusers --root from the host's) are the first layers of read-only
overlays on /usr/sbin and /etc, so the unit's own paths (/usr/sbin/xmpp-core,
/etc/edge/xmpp-core.toml) work unchanged and the host's /etc is never
written.  /etc/edge itself is a bind mount of root/etc/edge, so a test can
change a certificate or a secret there while the daemon runs.  /run is a
fresh tmpfs holding the unit's RuntimeDirectory=, the test's sd_notify
socket and, when given, a PostgreSQL socket directory as /run/postgresql.
"""

import hashlib
import hmac
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time

from edgetest import BUILD, REPO, SAN, san_env

PGBIN = "/usr/lib/postgresql/15/bin"


def parse_unit(path):
    """{section: {key: [values]}} with systemd's rules: a key may repeat,
    an empty assignment resets the list, # and ; start comments, a
    trailing backslash continues the line."""
    out, sec, cont = {}, None, ""
    with open(path) as f:
        for raw in f:
            line = cont + raw.rstrip("\n")
            cont = ""
            if line.endswith("\\"):
                cont = line[:-1] + " "
                continue
            s = line.strip()
            if not s or s[0] in "#;":
                continue
            if s.startswith("[") and s.endswith("]"):
                sec = out.setdefault(s[1:-1], {})
                continue
            k, _, v = s.partition("=")
            k, v = k.strip(), v.strip()
            if v == "":
                sec[k] = []
            else:
                sec.setdefault(k, []).append(v)
    return out


def unit_value(svc, key, default=None):
    v = svc.get(key)
    return v[-1] if v else default


def unit_words(svc, key):
    """A list setting (space-separated, repeatable) as one list."""
    words = []
    for v in svc.get(key, []):
        words += v.split()
    return words


def exec_argv(line):
    """ExecStart= and friends: the command without systemd's prefixes."""
    argv = shlex.split(line)
    while argv and argv[0][:1] in "-@:+!":
        argv[0] = argv[0][1:] or argv.pop(0)
    return argv


def caps_arg(caps):
    """setpriv's -all,+cap,... from systemd's CAP_ names ("~" inverts)."""
    if caps and caps[0].startswith("~"):
        raise ValueError("inverted capability sets are not used by our units")
    return ",".join(["-all"] + ["+" + c.lower().replace("cap_", "", 1) for c in caps])


class InstalledTree:
    """make install DESTDIR=<dir> of this build, with the users and
    directories sysusers.d/tmpfiles.d would make, in a directory outside
    /tmp (PrivateTmp= hides /tmp from the daemons)."""

    def __init__(self):
        import tempfile
        self.work = tempfile.mkdtemp(prefix="deploy-units-", dir=BUILD)
        os.chmod(self.work, 0o755)
        self.root = os.path.join(self.work, "root")
        r = subprocess.run(["make", "--no-print-directory", "-C", REPO, "install",
                            "DESTDIR=" + self.root, "BUILD=" + BUILD,
                            "SAN=" + ("1" if SAN else "0")],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("make install failed:\n" + r.stdout + r.stderr)
        etc = os.path.join(self.root, "etc")
        for f in ("passwd", "group", "shadow", "gshadow"):
            if os.path.exists("/etc/" + f):
                shutil.copy2("/etc/" + f, os.path.join(etc, f))
        self.sysusers = os.path.join(self.root, "usr/lib/sysusers.d/edge.conf")
        self.tmpfiles = os.path.join(self.root, "usr/lib/tmpfiles.d/edge.conf")
        subprocess.run(["systemd-sysusers", "--root=" + self.root, self.sysusers],
                       check=True, capture_output=True)
        subprocess.run(["systemd-tmpfiles", "--create", "--root=" + self.root,
                        self.tmpfiles], check=True, capture_output=True)

    def unit_path(self, name):
        return os.path.join(self.root, "usr/lib/systemd/system", name + ".service")

    def unit(self, name):
        return parse_unit(self.unit_path(name))

    def ids(self, user):
        """uid, gid of a user and gid of a group in the tree's passwd/group."""
        return self._lookup("passwd", user)

    def gid(self, group):
        return self._lookup("group", group)[0]

    def _lookup(self, db, name):
        with open(os.path.join(self.root, "etc", db)) as f:
            for line in f:
                p = line.rstrip("\n").split(":")
                if p[0] == name:
                    return int(p[2]), int(p[3]) if db == "passwd" else None
        raise KeyError("%s not in %s" % (name, db))

    def path(self, p):
        """The tree's copy of an absolute path (/etc/edge/x -> root/etc/edge/x)."""
        return os.path.join(self.root, p.lstrip("/"))

    def destroy(self):
        shutil.rmtree(self.work, ignore_errors=True)


class UnitRun:
    """One daemon started as `unit` describes, in its own mount and
    network namespace.  cmd: "ExecStart" (a long-running daemon, waits for
    READY=1) or any other Exec* key (run to completion by run_exec)."""

    def __init__(self, tree, unit_name, addresses=(), pg_socket_dir=None, netns=None):
        self.tree = tree
        self.netns = netns	# a named netns (ip netns) instead of a new one
        self.name = unit_name
        self.unit = tree.unit(unit_name)
        self.svc = self.unit["Service"]
        self.addresses = list(addresses)
        self.pg_socket_dir = pg_socket_dir
        self.dir = os.path.join(tree.work, "run-" + unit_name)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.notify_dir = os.path.join(self.dir, "notify")
        os.makedirs(self.notify_dir, exist_ok=True)
        os.chmod(self.notify_dir, 0o755)
        self.proc = None
        self.sock = None
        self.notifications = []
        self.errpath = os.path.join(self.dir, "stderr")

    # -- the unit's execution environment -----------------------------

    def _setpriv(self):
        svc = self.svc
        argv = ["setpriv"]
        user = unit_value(svc, "User")
        if user:
            uid, gid = self.tree.ids(user)
            group = unit_value(svc, "Group")
            if group:
                gid = self.tree.gid(group)
            groups = [str(self.tree.gid(g)) for g in unit_words(svc, "SupplementaryGroups")]
            argv += ["--reuid=%d" % uid, "--regid=%d" % gid]
            argv += ["--groups=" + ",".join(groups)] if groups else ["--clear-groups"]
        if "CapabilityBoundingSet" in svc:
            argv += ["--bounding-set=" + caps_arg(unit_words(svc, "CapabilityBoundingSet"))]
        amb = unit_words(svc, "AmbientCapabilities")
        argv += ["--inh-caps=" + caps_arg(amb)]
        if amb:
            argv += ["--ambient-caps=" + caps_arg(amb)]
        if unit_value(svc, "NoNewPrivileges") == "yes":
            argv += ["--no-new-privs"]
        return argv

    def _owner(self):
        user = unit_value(self.svc, "User")
        if not user:
            return 0, 0
        uid, gid = self.tree.ids(user)
        group = unit_value(self.svc, "Group")
        return uid, self.tree.gid(group) if group else gid

    def script(self, argv, env):
        """The shell script (run as root in fresh namespaces) that builds
        the unit's view and execs argv with its credentials."""
        svc, t = self.svc, self.tree
        uid, gid = self._owner()
        q = shlex.quote
        sh = ["set -e", "mount --make-rprivate /", "ip link set lo up"]
        for a in self.addresses:
            sh.append("ip addr add %s dev lo" % (a + ("/128" if ":" in a else "/32")))
        # the installed tree over the host, read-only
        for d in ("usr/sbin", "etc", "var/lib"):
            sh.append("mount -t overlay overlay -o ro,lowerdir=%s:/%s /%s"
                      % (q(t.path("/" + d)), d, d))
        sh.append("mount --bind %s /etc/edge" % q(t.path("/etc/edge")))
        # /run: RuntimeDirectory=, the notify socket, PostgreSQL's socket
        sh.append("mount -t tmpfs -o mode=0755 edge-run /run")
        rw = []
        for d in unit_words(svc, "RuntimeDirectory"):
            mode = unit_value(svc, "RuntimeDirectoryMode", "0755")
            sh += ["mkdir -p /run/%s" % d, "chown %d:%d /run/%s" % (uid, gid, d),
                   "chmod %s /run/%s" % (mode, d), "mount --bind /run/%s /run/%s" % (d, d)]
            rw.append("/run/" + d)
        sh += ["mkdir /run/edge-notify", "mount --bind %s /run/edge-notify" % q(self.notify_dir)]
        rw.append("/run/edge-notify")
        if self.pg_socket_dir:
            sh += ["mkdir /run/postgresql",
                   "mount --bind %s /run/postgresql" % q(self.pg_socket_dir)]
            rw.append("/run/postgresql")
        for d in unit_words(svc, "StateDirectory"):
            host = t.path("/var/lib/" + d)
            os.makedirs(host, exist_ok=True)
            os.chown(host, uid, gid)
            os.chmod(host, int(unit_value(svc, "StateDirectoryMode", "0755"), 8))
            sh.append("mount --bind %s /var/lib/%s" % (q(host), d))
            rw.append("/var/lib/" + d)
        for p in unit_words(svc, "ReadWritePaths"):
            p = p.lstrip("-")
            if p not in rw:
                sh.append("mount --bind %s %s" % (q(p), q(p)))
                rw.append(p)
        if unit_value(svc, "PrivateTmp") == "yes":
            sh += ["mount -t tmpfs -o mode=1777 edge-tmp /tmp",
                   "mount -t tmpfs -o mode=1777 edge-vartmp /var/tmp"]
            rw += ["/tmp", "/var/tmp"]
        if unit_value(svc, "ProtectHome") == "yes":
            for h in ("/home", "/root"):
                if os.path.isdir(h):
                    sh.append("mount -t tmpfs -o ro,mode=0755 edge-home %s" % h)
        if unit_value(svc, "ProtectSystem") == "strict":
            keep = " ".join(q(p) for p in rw)
            sh.append(
                "awk '{print $5}' /proc/self/mountinfo | while read -r mp; do "
                "case \"$mp\" in /dev|/dev/*|/proc|/proc/*|/sys|/sys/*) continue ;; esac; "
                "[ -e \"$mp\" ] || continue; "	# shadowed: under our /run or /tmp
                "for k in %s; do [ \"$mp\" = \"$k\" ] && continue 2; done; "
                "mount -o remount,bind,ro \"$mp\"; done" % keep)
        nofile = unit_value(svc, "LimitNOFILE")
        if nofile:
            # as far as this machine's hard limit allows (a container's may be lower)
            sh.append('ulimit -n %s 2>/dev/null || ulimit -n "$(ulimit -H -n)"' % nofile)
        umask = unit_value(svc, "UMask", "0022")
        envs = " ".join("%s=%s" % (k, q(v)) for k, v in env.items())
        sh.append("umask %s" % umask)
        sh.append("exec env %s %s %s" % (envs, " ".join(q(a) for a in self._setpriv()),
                                        " ".join(q(a) for a in argv)))
        return "\n".join(sh)

    def _env(self):
        env = {"NOTIFY_SOCKET": "/run/edge-notify/notify"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            v = san_env({}).get(k)
            if v:
                env[k] = v
        return env

    # -- running ------------------------------------------------------

    def _argv(self, script):
        """The script in a new mount namespace and either a new network
        namespace or the named one (a lab host's)."""
        if self.netns:
            return ["nsenter", "--net=/run/netns/" + self.netns, "unshare", "-m",
                    "sh", "-c", script]
        return ["unshare", "-m", "-n", "sh", "-c", script]

    def run_exec(self, key, timeout=60):
        """Each command of an Exec* key (ExecStartPre=, ExecStop= ...) to
        completion in the unit's environment; the last CompletedProcess."""
        r = None
        for line in self.svc.get(key, []):
            argv = exec_argv(line)
            r = subprocess.run(self._argv(self.script(argv, self._env())),
                               capture_output=True, text=True, timeout=timeout)
            if r.returncode != 0:
                return r
        return r

    def start(self, timeout=30):
        """ExecStartPre=, then ExecStart= until READY=1 (Type=notify)."""
        r = self.run_exec("ExecStartPre")
        if r is not None and r.returncode != 0:
            raise AssertionError("%s ExecStartPre failed (%d):\n%s%s"
                                 % (self.name, r.returncode, r.stdout, r.stderr))
        path = os.path.join(self.notify_dir, "notify")
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o777)	# the daemon's user sends to it
        argv = exec_argv(unit_value(self.svc, "ExecStart"))
        self.err = open(self.errpath, "wb")
        self.proc = subprocess.Popen(self._argv(self.script(argv, self._env())),
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        self.wait_notify("READY=1", timeout)

    def wait_notify(self, what, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(what in n for n in self.notifications):
                return
            if self.proc.poll() is not None:
                raise AssertionError("%s exited (%s) before %s:\n%s"
                                     % (self.name, self.proc.returncode, what, self.log()))
            self.sock.settimeout(0.2)
            try:
                self.notifications.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
        raise AssertionError("%s: no %s within %ss:\n%s" % (self.name, what, timeout, self.log()))

    def reload(self, timeout=15):
        """ExecReload= is `kill -HUP $MAINPID` in every unit that has a
        main process: SIGHUP, then the RELOADING=1 ... READY=1 pair."""
        assert unit_value(self.svc, "ExecReload") == "/bin/kill -HUP $MAINPID"
        self.notifications = []
        self.proc.send_signal(signal.SIGHUP)
        self.wait_notify("RELOADING=1", timeout)
        self.wait_notify("READY=1", timeout)

    def log(self):
        try:
            self.err.flush()
        except (AttributeError, ValueError):
            pass
        with open(self.errpath, "rb") as f:
            return f.read().decode(errors="replace")

    def nsenter(self, argv, **kw):
        """A command in the daemon's network namespace (its ports)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("timeout", 30)
        return subprocess.run(["nsenter", "-t", str(self.proc.pid), "-n"] + argv, **kw)

    def stop(self, timeout=15):
        """SIGTERM (systemd's default KillSignal=); exit 0 within the
        unit's TimeoutStopSec=.  Returns the log."""
        limit = float(str(unit_value(self.svc, "TimeoutStopSec", "15")).rstrip("s"))
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(min(timeout, limit))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("%s did not stop within %ss:\n%s"
                                     % (self.name, limit, self.log()))
        log = self.log()
        self.cleanup()
        assert "Sanitizer" not in log and "runtime error:" not in log, log
        assert self.proc.returncode == 0, "%s: exit %s\n%s" % (self.name, self.proc.returncode, log)
        return log

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.sock:
            self.sock.close()
            self.sock = None
        if getattr(self, "err", None):
            self.err.close()
            self.err = None


# -- what the tests put into a tree and how they look at a daemon ------

def make_cert(tree, name, cn):
    """A self-signed certificate for cn and its key in /etc/edge/tls, as
    acme.sh's --reloadcmd of deploy/README.md leaves them (root:edge-tls 0640)."""
    d = tree.path("/etc/edge/tls")
    crt, key = os.path.join(d, name + ".fullchain.pem"), os.path.join(d, name + ".key")
    new_crt, new_key = crt + ".new", key + ".new"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=" + cn, "-addext", "subjectAltName=DNS:%s,DNS:*.%s" % (cn, cn),
                    "-keyout", new_key, "-out", new_crt], check=True, capture_output=True)
    for p in (new_crt, new_key):
        os.chown(p, 0, tree.gid("edge-tls"))
        os.chmod(p, 0o640)
    os.rename(new_key, key)
    os.rename(new_crt, crt)
    return open(crt).read()


def write_secret(tree, name, group, value, mode=0o640):
    p = tree.path("/etc/edge/secrets/" + name)
    tmp = p + ".new"
    with open(tmp, "w") as f:
        f.write(value + "\n")
    os.chown(tmp, 0, tree.gid(group))
    os.chmod(tmp, mode)
    os.rename(tmp, p)
    return p


def edit_config(tree, name, replace=(), append=""):
    p = tree.path("/etc/edge/%s.toml" % name)
    text = open(p).read()
    for a, b in replace:
        assert a in text, (name, a)
        text = text.replace(a, b)
    with open(p, "w") as f:
        f.write(text + append)


def served_cert(unit, addr, port, sni="example.org"):
    """The PEM certificate the daemon serves on addr:port (in its netns)."""
    host = "[%s]" % addr if ":" in addr else addr
    r = unit.nsenter(["openssl", "s_client", "-connect", "%s:%d" % (host, port),
                      "-servername", sni], input=b"", timeout=20)
    m = re.search(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", r.stdout, re.S)
    assert m, (r.stdout + r.stderr).decode(errors="replace")
    return m.group(0).decode()


def wait_for(cond, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def pem_body(pem):
    return "".join(pem.strip().splitlines()[1:-1])


class PeerPostgres:
    """A private PostgreSQL whose only local authentication is `peer`, as
    Debian's pg_hba.conf has it.  It runs with the tree's passwd (the users
    sysusers made) laid over /etc, so it maps a client's uid to the name
    xmpp-core as a host with the package installed would."""

    def __init__(self, tree):
        import pwd
        self.pw = pwd.getpwnam("postgres")
        self.dir = os.path.join(tree.work, "pg")
        self.sock = os.path.join(self.dir, "sock")
        os.makedirs(self.sock)
        for p in (self.dir, self.sock):
            os.chown(p, self.pw.pw_uid, self.pw.pw_gid)
            os.chmod(p, 0o755)
        self.data = os.path.join(self.dir, "data")
        subprocess.run(["runuser", "-u", "postgres", "--", PGBIN + "/initdb", "-D", self.data,
                        "--auth-local=peer", "--auth-host=reject", "-U", "postgres",
                        "--no-sync", "-E", "UTF8", "--locale=C"],
                       check=True, capture_output=True, cwd=self.dir)
        self.log = open(os.path.join(self.dir, "log"), "wb")
        script = ("mount -t overlay overlay -o ro,lowerdir=%s:/etc /etc && exec setpriv "
                  "--reuid=%d --regid=%d --clear-groups %s/postgres -D %s -k %s "
                  "-c listen_addresses= -c fsync=off -c max_connections=30 "
                  "-c shared_buffers=16MB"
                  % (tree.path("/etc"), self.pw.pw_uid, self.pw.pw_gid, PGBIN, self.data, self.sock))
        self.proc = subprocess.Popen(["unshare", "-m", "sh", "-c", script],
                                     stdout=self.log, stderr=self.log, cwd=self.dir)
        wait_for(lambda: subprocess.run([PGBIN + "/pg_isready", "-h", self.sock, "-d", "postgres"],
                                        capture_output=True).returncode == 0 or
                 self.proc.poll() is not None, "postgres")
        assert self.proc.poll() is None, open(os.path.join(self.dir, "log")).read()
        # the README's two commands
        self.psql('CREATE ROLE "xmpp-core" LOGIN')
        self.psql('CREATE DATABASE xmpp OWNER "xmpp-core"')

    def psql(self, sql, db="postgres"):
        r = subprocess.run(["runuser", "-u", "postgres", "--", PGBIN + "/psql", "-h", self.sock,
                            "-d", db, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def upload_put(unit, path, body, secret):
    mac = hmac.new(secret.encode(), ("%s %d" % (path, len(body))).encode(),
                   hashlib.sha256).hexdigest()
    r = unit.nsenter(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                      "--data-binary", body, "http://[::1]:5050/upload/%s?v=%s" % (path, mac)],
                     text=True)
    return r.stdout
