"""A private PostgreSQL cluster for integration tests.

PostgreSQL refuses to run as root, so the cluster directory belongs to the
`postgres` system user and initdb/postgres run as that user.  The server
listens only on a unix socket in the cluster directory; it is stopped by
PID (fast shutdown) and its directory removed at the end.  restart() lets
a test cut the database under a running xmpp-core.
"""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

PGBIN = "/usr/lib/postgresql/15/bin"


class PgCluster:
    def __init__(self, dbname="xmpp", tcp_port=None):
        self.tcp_port = tcp_port	# also listen on 127.0.0.1 (benchmarks: ejabberd)
        self.pw = pwd.getpwnam("postgres")
        self.dir = tempfile.mkdtemp(prefix="edge-pg-")
        os.chown(self.dir, self.pw.pw_uid, self.pw.pw_gid)
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.dbname = dbname
        self.proc = None
        self.logpath = os.path.join(self.dir, "postgres.log")
        subprocess.run(["runuser", "-u", "postgres", "--", PGBIN + "/initdb",
                        "-D", self.data, "-A", "trust", "-U", "postgres",
                        "--no-sync", "-E", "UTF8", "--locale=C"],
                       check=True, capture_output=True, cwd=self.dir)
        self.start()
        self.psql("CREATE DATABASE %s" % dbname, db="postgres")

    @property
    def conninfo(self):
        return "host=%s port=%d dbname=%s user=postgres" % (self.dir, self.port, self.dbname)

    @property
    def port(self):
        return self.tcp_port or 5432

    def start(self):
        log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(
            [PGBIN + "/postgres", "-D", self.data, "-k", self.dir,
             "-c", "listen_addresses=%s" % ("127.0.0.1" if self.tcp_port else ""),
             "-c", "port=%d" % self.port, "-c", "fsync=off",
             "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=50", "-c", "shared_buffers=16MB"],
            user=self.pw.pw_uid, group=self.pw.pw_gid, extra_groups=[],
            stdout=log, stderr=log, cwd=self.dir)
        log.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            r = subprocess.run([PGBIN + "/pg_isready", "-h", self.dir, "-p", str(self.port),
                                "-U", "postgres", "-d", "postgres"], capture_output=True)
            if r.returncode == 0:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("postgres did not start:\n" + open(self.logpath).read())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)	# fast shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, down_seconds=0):
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def psql(self, sql, db=None):
        r = subprocess.run([PGBIN + "/psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres",
                            "-d", db or self.dbname, "-At", "-v", "ON_ERROR_STOP=1",
                            "-c", sql], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("psql failed: %s" % r.stderr)
        return r.stdout

    def lock_table(self, table):
        """A session holding an ACCESS EXCLUSIVE lock on table (a database
        too slow for the server's writes) until unlock_table(it)."""
        locker = subprocess.Popen(
            [PGBIN + "/psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres",
             "-d", self.dbname, "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        locker.stdin.write("BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n"
                           % table)
        locker.stdin.flush()
        line = locker.stdout.readline().strip()
        if line != "locked":
            locker.kill()
            locker.wait()
            raise RuntimeError("locking %s failed: %s" % (table, line))
        return locker

    @staticmethod
    def unlock_table(locker):
        """Commits (releases the lock) and ends the locking session."""
        try:
            locker.stdin.write("COMMIT;\n")
            locker.stdin.close()
            locker.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            locker.kill()
            locker.wait()

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
