"""Helpers for the metrics tests: a real Prometheus (Debian's package) as a
test process with its own config and TSDB in a temporary directory,
scraping every second the targets a test adds (file_sd: one JSON file per
target, picked up as it is written), queried through /api/v1/query; in a
network namespace of the lab if asked (then queried with curl there).
Also node_exporter (Debian's prometheus-node-exporter) with only its
textfile collector, for portmap's one-shot `portmap metrics`."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from edgetest import free_port

PROMETHEUS = "/usr/bin/prometheus"
METRICS_MD = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "deploy", "METRICS.md")


def documented(prefix):
    """The metric names deploy/METRICS.md's tables list with this prefix."""
    names = []
    with open(METRICS_MD) as f:
        for line in f:
            m = re.match(r"^\| `([a-z][a-z0-9_]*)` \|", line)
            if m and m.group(1).startswith(prefix):
                names.append(m.group(1))
    return names


GRAFANA_JSON = os.path.join(os.path.dirname(METRICS_MD), "grafana-edge.json")
PREFIXES = ("xmpp_", "turnd_", "upload_", "portmap_", "redirect_")
PANEL_TYPES = {"row", "timeseries", "stat", "table"}


def dashboard():
    """deploy/grafana-edge.json, checked against the parts of Grafana's
    dashboard schema it uses; returns [(panel title, expr)]."""
    with open(GRAFANA_JSON) as f:
        d = json.load(f)
    for k in ("title", "uid", "panels", "schemaVersion", "templating", "time"):
        assert k in d, k
    assert isinstance(d["schemaVersion"], int) and d["schemaVersion"] >= 36
    var = [v for v in d["templating"]["list"] if v["type"] == "datasource"]
    assert [v["query"] for v in var] == ["prometheus"], var
    ids, out = set(), []
    for p in d["panels"]:
        assert p["type"] in PANEL_TYPES, p
        assert p["id"] not in ids, p["id"]
        ids.add(p["id"])
        g = p["gridPos"]
        assert all(isinstance(g[k], int) for k in ("h", "w", "x", "y")), g
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, (p["title"], g)
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${%s}" % var[0]["name"]}, p
        refs = [t["refId"] for t in p["targets"]]
        assert p["targets"] and len(set(refs)) == len(refs), p["title"]
        for t in p["targets"]:
            out.append((p["title"], t["expr"]))
    return out


def expr_metrics(expr):
    """Our metric names an expr reads (a histogram's _bucket/_sum/_count as
    the histogram)."""
    names = set()
    for n in re.findall(r"\b((?:%s)[a-z0-9_]*)" % "|".join(p[:-1] + "_" for p in PREFIXES),
                        expr):
        names.add(re.sub(r"_(bucket|sum|count)$", "", n) if n.endswith(
            ("_bucket", "_sum", "_count")) and not n.endswith("_total") else n)
    return names


def check_dashboard(prom, prefix):
    """Every dashboard expr over prefix's metrics runs in Prometheus (with
    Grafana's $__rate_interval as 1m) and finds data (a rate needs two
    scrapes: waited for)."""
    checked = 0
    for title, expr in dashboard():
        if not any(n.startswith(prefix) for n in expr_metrics(expr)):
            continue
        prom.wait(expr.replace("$__rate_interval", "1m"), timeout=20)
        checked += 1
    assert checked, prefix


def check_documented(prom, prefix, daemon):
    """Every series METRICS.md lists for a daemon is in Prometheus."""
    names = documented(prefix)
    assert names, prefix
    for n in names:
        sel = '{__name__=~"%s(_bucket)?",daemon="%s"}' % (n, daemon)
        assert prom.query("count(%s)" % sel), "%s not scraped" % n


def _ns(netns):
    return ["ip", "netns", "exec", netns] if netns else []


def http_get(url, netns=None, timeout=10):
    """The body of a GET (status 200 required), from netns if given."""
    if netns is None:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read().decode()
    r = subprocess.run(_ns(netns) + ["curl", "-sSf", "--max-time", str(timeout), url],
                       capture_output=True, text=True, timeout=timeout + 10)
    if r.returncode != 0:
        raise OSError(r.stderr)
    return r.stdout


class Prometheus:
    def __init__(self, netns=None):
        self.netns = netns
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
            _ns(netns) + [PROMETHEUS, "--config.file=" + conf,
             "--storage.tsdb.path=" + os.path.join(self.tmp, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % self.port,
             "--log.level=warn"],
            stdout=self.logf, stderr=subprocess.STDOUT, cwd=self.tmp)
        deadline = time.time() + 60
        while True:
            assert self.proc.poll() is None, "prometheus exited: " + self.log()
            try:
                http_get(self.url("/-/ready"), self.netns, timeout=2)
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
        body = json.loads(http_get(self.url("/api/v1/query?" + q), self.netns))
        assert body["status"] == "success", body
        return [(s["metric"], float(s["value"][1])) for s in body["data"]["result"]]

    def targets(self):
        return json.loads(http_get(self.url("/api/v1/targets"),
                                   self.netns))["data"]["activeTargets"]

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


NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"


class NodeExporter:
    """node_exporter serving only the *.prom files of its own directory."""

    def __init__(self, netns=None):
        self.netns = netns
        self.tmp = tempfile.mkdtemp(prefix="edge-node-")
        self.dir = os.path.join(self.tmp, "textfile")
        os.mkdir(self.dir)
        self.port = free_port()
        self.logf = open(os.path.join(self.tmp, "log"), "w+")
        self.proc = subprocess.Popen(
            _ns(netns) + [NODE_EXPORTER, "--web.listen-address=127.0.0.1:%d" % self.port,
                          "--collector.disable-defaults", "--collector.textfile",
                          "--collector.textfile.directory=" + self.dir],
            stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            assert self.proc.poll() is None, "node_exporter exited: " + self.log()
            try:
                http_get("http://127.0.0.1:%d/metrics" % self.port, netns, timeout=2)
                break
            except OSError:
                pass
            assert time.time() < deadline, "node_exporter not ready: " + self.log()
            time.sleep(0.1)

    def log(self):
        self.logf.seek(0)
        return self.logf.read()

    def put(self, name, text):
        """Writes name.prom as the textfile collector wants: whole, by rename."""
        tmp = os.path.join(self.dir, "." + name)
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(self.dir, name + ".prom"))

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
