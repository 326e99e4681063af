"""Helpers for the metrics tests: a real Prometheus (Debian's package) as a
test process with its own config and TSDB in a temporary directory,
scraping every second the targets a test adds (file_sd: one JSON file per
target, picked up as it is written), queried through /api/v1/query."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from edgetest import free_port

PROMETHEUS = "/usr/bin/prometheus"


class Prometheus:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="edge-prom-")
        self.port = free_port()
        self.sd = os.path.join(self.tmp, "targets")
        os.mkdir(self.sd)
        conf = os.path.join(self.tmp, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: edge
    file_sd_configs:
      - files: ["%s/*.json"]
        refresh_interval: 1s
""" % self.sd)
        self.logf = open(os.path.join(self.tmp, "log"), "w+")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + conf,
             "--storage.tsdb.path=" + os.path.join(self.tmp, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % self.port,
             "--log.level=warn"],
            stdout=self.logf, stderr=subprocess.STDOUT, cwd=self.tmp)
        deadline = time.time() + 60
        while True:
            assert self.proc.poll() is None, "prometheus exited: " + self.log()
            try:
                with urllib.request.urlopen(self.url("/-/ready"), timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.time() < deadline, "prometheus not ready: " + self.log()
            time.sleep(0.1)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def log(self):
        self.logf.seek(0)
        return self.logf.read()

    def add_target(self, daemon, hostport):
        """Scrape hostport as daemon="..." from now on."""
        tmp = os.path.join(self.sd, "." + daemon)
        with open(tmp, "w") as f:
            json.dump([{"targets": [hostport], "labels": {"daemon": daemon}}], f)
        os.rename(tmp, os.path.join(self.sd, daemon + ".json"))

    def query(self, expr):
        """The instant vector of expr: [(labels, float value)]."""
        q = urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(self.url("/api/v1/query?" + q), timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return [(s["metric"], float(s["value"][1])) for s in body["data"]["result"]]

    def targets(self):
        with urllib.request.urlopen(self.url("/api/v1/targets"), timeout=10) as r:
            return json.load(r)["data"]["activeTargets"]

    def wait(self, expr, cond=lambda v: True, timeout=40):
        """Waits until expr has a sample for which cond(value) holds;
        returns the samples."""
        deadline = time.time() + timeout
        last = None
        while True:
            last = self.query(expr)
            if any(cond(v) for _, v in last):
                return last
            assert time.time() < deadline, "%s: %r (targets %r)" % (
                expr, last, [(t["labels"], t["health"], t["lastError"])
                             for t in self.targets()])
            time.sleep(0.2)

    def destroy(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
