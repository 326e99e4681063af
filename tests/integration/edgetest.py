"""Shared helpers for the integration tests: where the binaries are, free
ports, and a Daemon wrapper that starts a real binary, waits for its
sd_notify READY=1 on a private $NOTIFY_SOCKET, and on stop checks it exits
cleanly within 10 s of SIGTERM (and, under SAN=1, without sanitizer
reports)."""

import os
import signal
import socket
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("EDGE_BUILD", os.path.join(REPO, "build"))
SAN = os.environ.get("EDGE_SAN", "0") == "1"


def binary(name):
    path = os.path.join(BUILD, "bin", name)
    if not os.path.exists(path):
        raise RuntimeError("%s not built (run make)" % path)
    return path


# Ports handed to daemons are taken from 10000-19999, below the kernel's
# ephemeral range (32768-60999 on Debian), so no outgoing connection of
# any process can be given one between our check and the daemon's bind;
# each pytest-xdist worker has a slice of its own and never hands out a
# port twice, so two test files running side by side cannot pick the
# same one (a bind-to-0-and-close port is free for anyone until the
# daemon binds it: that raced once in CI).
_PORT_LO, _PORT_HI = 10000, 19999
_next_port = None


def _port_slice():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    idx = int(worker[2:]) + 1 if worker.startswith("gw") and worker[2:].isdigit() else 0
    slices = count + 1
    width = (_PORT_HI - _PORT_LO + 1) // max(slices, 1)
    lo = _PORT_LO + (idx % max(slices, 1)) * width
    return lo, lo + width - 1


def _port_free(port, kind):
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(fam, kind)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port(kind=socket.SOCK_STREAM):
    """A port free on both 127.0.0.1 and ::1 for the given socket type,
    never handed out before by this process (see above)."""
    global _next_port
    lo, hi = _port_slice()
    if _next_port is None or not lo <= _next_port <= hi:
        _next_port = lo
    for _ in range(hi - lo + 1):
        port = _next_port
        _next_port = lo if _next_port >= hi else _next_port + 1
        if _port_free(port, kind):
            return port
    raise RuntimeError("no free port in %d-%d" % (lo, hi))


def san_env(env):
    env = dict(env)
    if SAN:
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=86")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=87")
    return env


class Daemon:
    """A daemon under test.  Use as a context manager or call stop()."""

    def __init__(self, argv, env=None, ready_timeout=15, cwd=None, notify=True):
        self.argv = argv
        self.tmp = tempfile.mkdtemp(prefix="edge-notify-")
        self.notify_path = os.path.join(self.tmp, "notify")
        self.sock = None
        e = dict(os.environ if env is None else env)
        if notify:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(self.notify_path)
            e["NOTIFY_SOCKET"] = self.notify_path
        self.errpath = os.path.join(self.tmp, "stderr")
        self.errfile = open(self.errpath, "wb")
        self.proc = subprocess.Popen(argv, env=san_env(e), cwd=cwd,
                                     stdout=subprocess.DEVNULL, stderr=self.errfile)
        self.notifications = []
        if notify:
            try:
                self.wait_notify("READY=1", ready_timeout)
            except BaseException:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
                self.errfile.close()
                self.sock.close()
                raise

    def wait_notify(self, what, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(what in n for n in self.notifications):
                return
            if self.proc.poll() is not None:
                raise RuntimeError("daemon exited with %s before %s:\n%s"
                                   % (self.proc.returncode, what, self.log()))
            self.sock.settimeout(0.2)
            try:
                self.notifications.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
        raise RuntimeError("no %s within %ss:\n%s" % (what, timeout, self.log()))

    def log(self):
        self.errfile.flush()
        with open(self.errpath, "rb") as f:
            return f.read().decode(errors="replace")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, expect_rc=0, timeout=10):
        """SIGTERM, then require exit within timeout with expect_rc."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("did not exit within %ss of SIGTERM:\n%s"
                                     % (timeout, self.log()))
        if self.sock:
            self.sock.close()
            self.sock = None
        log = self.log()
        self.errfile.close()
        assert "Sanitizer" not in log and "runtime error:" not in log, log
        if expect_rc is not None:
            assert self.proc.returncode == expect_rc, \
                "exit %s, expected %s:\n%s" % (self.proc.returncode, expect_rc, log)
        return log

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.stop(expect_rc=None if exc[0] else 0)


def run(argv, **kw):
    """Runs a command to completion; returns CompletedProcess with text."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    kw["env"] = san_env(kw.get("env", os.environ))
    return subprocess.run(argv, **kw)
