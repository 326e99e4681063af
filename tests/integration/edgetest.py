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


def free_port(kind=socket.SOCK_STREAM):
    """A port free on both 127.0.0.1 and ::1 for the given socket type."""
    for _ in range(100):
        s4 = socket.socket(socket.AF_INET, kind)
        s4.bind(("127.0.0.1", 0))
        port = s4.getsockname()[1]
        try:
            s6 = socket.socket(socket.AF_INET6, kind)
            s6.bind(("::1", port))
            s6.close()
            return port
        except OSError:
            continue
        finally:
            s4.close()
    raise RuntimeError("no free port")


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
