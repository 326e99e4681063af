"""Issue 19 for the nftables programs, in the namespace lab: portmap's
one-shot `portmap metrics` (node_exporter's textfile collector, a real
node_exporter) and dumbclient-redirect's own endpoint, both scraped by a
real Prometheus running in the web host's namespace, after real
connections through their rules."""

import os
import re
import tempfile

import pytest

from edgetest import Daemon, binary, free_port, run
from metricslab import (NodeExporter, Prometheus, check_dashboard, check_documented,
                        http_get)
import netlab as nl

PORTMAP_CONF = """
[[forward]]
name = "xmpps"
listen = ["{XMPPS4}", "{XMPPS6}"]
port = 443
to = ["{XMPP4}", "{XMPP6}"]
to_port = 5223
""".format(**{k: getattr(nl, k) for k in dir(nl) if k.isupper()})


@pytest.fixture(scope="module")
def lab():
    ok, why = nl.can_create_netns()
    if not ok:
        pytest.skip(why)
    lab = nl.Lab("mx")
    try:
        lab.echo_server("xmpp", [5222, 5223], [])
        yield lab
    finally:
        lab.close()


@pytest.fixture(scope="module")
def prom(lab):
    p = Prometheus(netns=lab.ns["web"])
    yield p
    p.destroy()


@pytest.fixture(scope="module")
def tmp():
    d = tempfile.mkdtemp(prefix="edge-metrics-nft-")
    yield d


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def portmap(lab, conf, *cmd):
    return run(["ip", "netns", "exec", lab.ns["xmpp"], binary("portmap"), "-c", conf] +
               list(cmd))


def test_portmap_metrics_through_node_exporter(lab, prom, tmp):
    conf = write(os.path.join(tmp, "portmap.toml"), PORTMAP_CONF)
    node = NodeExporter(netns=lab.ns["web"])
    try:
        # before apply: a reading, not an error
        r = portmap(lab, conf, "metrics")
        assert r.returncode == 0, r.stderr
        assert 'portmap_table_installed{table="portmap"} 0' in r.stdout
        assert portmap(lab, conf, "apply").returncode == 0
        for _ in range(3):
            got = lab.probe("client", "tcp", nl.XMPPS4, 443)
            assert got.get("port") == 5223, got
        got = lab.probe("client", "tcp", nl.XMPPS6, 443)
        assert got.get("port") == 5223, got
        r = portmap(lab, conf, "metrics")
        assert r.returncode == 0, r.stderr
        lint = run(["promtool", "check", "metrics"], input=r.stdout)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        assert 'portmap_table_as_configured{table="portmap"} 1' in r.stdout
        assert re.search(r'portmap_rule_info\{table="portmap",chain="prerouting",'
                         r'forward="xmpps",handle="\d+",rule="[^"]*dnat ip to %s:5223'
                         % re.escape(nl.XMPP4), r.stdout), r.stdout
        node.put("portmap", r.stdout)
        prom.add_target("node", "127.0.0.1:%d" % node.port)
        prom.wait('node_textfile_scrape_error', lambda v: v == 0)
        pre = prom.wait('sum(portmap_rule_packets_total{chain="prerouting",forward="xmpps"})',
                        lambda v: v >= 4)
        assert pre
        # one series per rule (a rule per family): the IPv6 one counted too
        v6 = prom.query('portmap_rule_packets_total{chain="prerouting",forward="xmpps"} > 0')
        assert len(v6) == 2, v6
        prom.wait('portmap_rule_bytes_total{chain="prerouting",forward="xmpps"}', lambda v: v > 0)
        prom.wait('portmap_rules{table="portmap"}', lambda v: v >= 2)
        prom.wait('portmap_table_installed', lambda v: v == 1)
        check_documented(prom, "portmap_", "node")
        check_dashboard(prom, "portmap_")
        # changed behind portmap's back: as_configured drops, installed stays
        lab.ex("xmpp", "nft", "add", "rule", "inet", "portmap", "prerouting", "counter")
        r = portmap(lab, conf, "metrics")
        assert r.returncode == 0, r.stderr
        assert 'portmap_table_as_configured{table="portmap"} 0' in r.stdout
        assert "portmap_rule_info" not in r.stdout
        node.put("portmap", r.stdout)
        prom.wait('portmap_table_as_configured', lambda v: v == 0)
    finally:
        node.destroy()
        lab.ex("xmpp", "nft", "flush", "ruleset", check=False)


def redirect_conf(tmp, mport, extra=""):
    return write(os.path.join(tmp, "redirect.toml"), """
ports = ["5222"]
listen = ["%s", "%s"]
target = ["%s", "%s"]
%s
[metrics]
listen = "%d"
""" % (nl.WEB4, nl.WEB6, nl.XMPP4, nl.XMPP6, extra, mport))


def test_redirect_endpoint(lab, prom, tmp):
    mport = free_port()
    conf = redirect_conf(tmp, mport)
    d = Daemon(["ip", "netns", "exec", lab.ns["web"], binary("dumbclient-redirect"),
                "-c", conf])
    try:
        prom.add_target("redirect", "127.0.0.1:%d" % mport)
        for web in (nl.WEB4, nl.WEB6):
            got = lab.probe("client", "tcp", web, 5222)
            assert got.get("port") == 5222 and got["peer"] == web, got
        prom.wait('redirect_table_installed{table="dumbclient_redirect"}', lambda v: v == 1)
        prom.wait('redirect_dns_failing', lambda v: v == 0)
        prom.wait('redirect_target_info{target=~".*%s.*"}' % nl.XMPP4,
                  lambda v: v == 1)
        got = prom.wait('redirect_rule_packets_total{chain="prerouting",port="xmpp-client:5222"} > 0')
        assert len(got) == 2, got	# IPv4 and IPv6, a rule each
        prom.wait('sum(redirect_rule_bytes_total{chain="postrouting"})', lambda v: v > 0)
        prom.wait('redirect_rules', lambda v: v >= 4)
        check_documented(prom, "redirect_", "redirect")
        check_dashboard(prom, "redirect_")
        # the text format, 404 and 405, from inside the web host
        url = "http://127.0.0.1:%d" % mport
        body = http_get(url + "/metrics", lab.ns["web"])
        lint = run(["promtool", "check", "metrics"], input=body)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        r = lab.ex("web", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url + "/x")
        assert r.stdout == "404"
        r = lab.ex("web", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                   "-X", "DELETE", url + "/metrics")
        assert r.stdout == "405"
        # reachable on the web host's loopback only
        assert "error" in lab.probe("client", "tcp", nl.WEB4, mport, timeout=1)
    finally:
        d.stop()
        lab.ex("web", "nft", "flush", "ruleset", check=False)


def test_redirect_metrics_off_by_default_and_checked(lab, tmp):
    conf = write(os.path.join(tmp, "plain.toml"), 'ports = ["5222"]\ntarget = ["%s"]\n'
                 % nl.XMPP4)
    d = Daemon(["ip", "netns", "exec", lab.ns["web"], binary("dumbclient-redirect"),
                "-c", conf])
    try:
        assert "metrics" not in d.log()
        out = lab.ex("web", "ss", "-Hltnp").stdout
        assert "pid=%d," % d.proc.pid not in out, out
    finally:
        d.stop()
        lab.ex("web", "nft", "flush", "ruleset", check=False)
    bad = write(os.path.join(tmp, "bad.toml"), 'ports = ["5222"]\ntarget = ["%s"]\n'
                '[metrics]\nlisten = "[::1]"\n' % nl.XMPP4)
    r = run([binary("dumbclient-redirect"), "-c", bad, "-t"])
    assert r.returncode == 1 and "bad.toml:4: metrics.listen:" in r.stderr, r.stderr
