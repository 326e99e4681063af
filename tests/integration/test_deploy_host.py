"""The whole reference host in one test (issue 19).

hostlab.HostLab deploys deploy/README.md's reference host from the
`make install`ed tree of this build: network namespaces for a client, a
DNS server, the web host and the XMPP host (its four addresses: primary,
XMPP over TLS, TURN, TURNS), the README's addresses and DNS zone, every
daemon under its own installed unit (user, capabilities, filesystem
view), the installed example configs with only the README's edits,
Debian's nginx with deploy/'s two sites, PostgreSQL with peer
authentication, portmap and dumbclient-redirect installing their real
nftables tables in their hosts' namespaces.

From the client namespace, with the lab CA and the certificate's name
checked: XMPP over direct TLS on 443 of the second address, IPv4 and
IPv6 (portmap to 5223), STARTTLS on the primary's 5222, STARTTLS on the
web host's 5222 and direct TLS on its 5223 (dumbclient-redirect to the
XMPP host following the lab DNS, the SNAT source seen there), TURN
over TLS on 443 of the TURNS address (portmap to turnd's 3443) with the
XEP-0215 credentials xmpp-core hands out, an XEP-0363 upload through
nginx's upload site (PUT to the slot's URL, then GET), host-meta through
nginx's xmpp site.  Then edge-check on the XMPP host (and on the web
host) reports the lab clean, and reports each of four broken DNS records
and a certificate for the wrong name.
"""

import os
import re
import shutil

import pytest

from netlab import can_create_netns

NEEDED = ["nginx", "nft", "setpriv", "systemd-sysusers", "turnutils_uclient",
          "turnutils_peer", "curl", "openssl"]
missing = [t for t in NEEDED if not (shutil.which(t) or os.path.exists("/usr/sbin/" + t))]
if not os.path.exists("/usr/lib/postgresql/15/bin/initdb"):
    missing.append("postgresql")
ok, why = can_create_netns()
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, nftables)"),
    pytest.mark.skipif(not ok, reason=why),
    pytest.mark.skipif(bool(missing), reason="not installed: %s (deploy/deps.sh)"
                       % " ".join(missing)),
]

import hostlab	# noqa: E402
from hostlab import (CLIENT4, DOMAIN, TURNS4, WEB4, XMPP4, XMPPS4,  # noqa: E402
                     XMPPS6, XMPP_HOST_DAEMONS)

PW = "alice-host-password"
JID = "alice@" + DOMAIN


@pytest.fixture(scope="module")
def host():
    h = hostlab.HostLab()
    try:
        yield h
    finally:
        h.close()


def login(host, addr, port, mode, **extra):
    out = host.client(jid=JID, password=PW, addr=addr, port=port, mode=mode, **extra)
    assert out["bound"] and out["bound"].startswith(JID + "/"), \
        (out, host.xmpp.log()[-3000:])
    return out


def test_nftables_tables(host):
    """portmap's and dumbclient-redirect's own tables, from the shipped
    configs, live in their hosts' namespaces."""
    t = host.lab.nft("xmpp", "list", "table", "inet", "portmap")
    assert "192.0.2.137" in t and "5223" in t and "198.51.100.254" in t and "3443" in t, t
    t = host.lab.nft("web", "list", "table", "inet", "dumbclient_redirect")
    # followed the lab DNS: _xmpp-client._tcp -> xmpp.example.org -> 192.0.2.136
    assert "dnat ip to 192.0.2.136:5222" in t and "snat ip to 192.0.2.132" in t, t


def test_direct_tls_on_443_of_second_address(host):
    out = login(host, XMPPS4, 443, "direct_tls")
    assert out["tls"] in ("TLSv1.2", "TLSv1.3"), out
    # it came in on 5223, after portmap's DNAT
    assert re.search(r"\b5223\b", host.lab.nft("xmpp", "list", "table", "inet", "portmap"))


def test_direct_tls_on_443_of_second_ipv6_address(host):
    """The AAAA of xmpps.example.org: portmap's IPv6 forward (a login by
    hand: slixmpp takes no IPv6 literal)."""
    out = login(host, XMPPS6, 443, "raw_direct_tls")
    assert out["tls"] in ("TLSv1.2", "TLSv1.3"), out
    assert "[2001:db8:c::10]" in host.xmpp.log(), host.xmpp.log()[-2000:]


def test_starttls_on_5222_of_primary(host):
    login(host, XMPP4, 5222, "starttls")


def test_redirect_via_web_host_5222(host):
    before = host.xmpp.log()
    login(host, WEB4, 5222, "starttls")
    # the XMPP host saw the web host's address (the SNAT of REDIRECT.md)
    new = host.xmpp.log()[len(before):]
    assert WEB4 in new and CLIENT4 not in new, new[-2000:]
    t = host.lab.nft("web", "list", "table", "inet", "dumbclient_redirect")
    m = re.search(r'tcp dport 5222 counter packets (\d+)', t)
    assert m and int(m.group(1)) > 0, t


def test_redirect_via_web_host_5223_direct_tls(host):
    """The example redirects 5223 too; it keeps its number (REDIRECT.md)."""
    out = login(host, WEB4, 5223, "raw_direct_tls")
    assert out["tls"] in ("TLSv1.2", "TLSv1.3"), out


def test_turns_on_443_with_xep0215_credentials(host):
    out = login(host, XMPPS4, 443, "direct_tls", extdisco=True)
    turns = [s for s in out["services"] if s.get("type") == "turns"]
    assert turns and turns[0]["host"] == "turns." + DOMAIN and turns[0]["port"] == "443", out
    assert turns[0].get("username") and turns[0].get("password"), out
    r = host.lab.ex("client", "turnutils_uclient", "-t", "-S", "-u", turns[0]["username"],
                    "-w", turns[0]["password"], "-e", CLIENT4, "-r", str(hostlab.PEER_PORT),
                    "-p", "443", "-n", "10", "-m", "1", "-l", "200", TURNS4,
                    check=False, timeout=60)
    text = r.stdout + r.stderr
    assert r.returncode == 0, text[-3000:]
    # every message came back through the relay
    m = re.search(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", text)
    assert m and int(m.group(1)) >= 10 and m.group(1) == m.group(2), text[-3000:]
    assert "Total lost packets 0 " in text, text[-3000:]
    assert "transport=tls" in host.turnd.log(), host.turnd.log()[-2000:]
    # the secret itself never reached a client or a log
    assert host.turn_secret not in text + host.turnd.log() + host.xmpp.log()


def curl(host, *args):
    r = host.lab.ex("client", "curl", "-sS", "--max-time", "20", "--cacert", host.ca,
                    "--resolve", "upload.%s:443:%s" % (DOMAIN, XMPP4),
                    "--resolve", "xmpp.%s:443:%s" % (DOMAIN, XMPP4), *args,
                    check=False, timeout=40)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_upload_through_nginx(host):
    body = os.urandom(3000).hex()
    out = login(host, XMPPS4, 443, "direct_tls",
                slot={"name": "host test.txt", "size": len(body), "type": "text/plain"})
    assert out["put"].startswith("https://upload.%s/upload/" % DOMAIN), out
    path = os.path.join(host.work, "upload-body")
    with open(path, "w") as f:
        f.write(body)
    headers = []
    for k, v in out["put_headers"].items():
        headers += ["-H", "%s: %s" % (k, v)]
    code = curl(host, "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                "-H", "Content-Type: text/plain", *headers, "--data-binary", "@" + path,
                out["put"])
    assert code == "201", code
    assert curl(host, out["get"]) == body
    # a second PUT to the same slot is refused, a GET of a name never
    # uploaded is not found: it is upload-gw answering behind nginx
    code = curl(host, "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                "-H", "Content-Type: text/plain", "--data-binary", "@" + path, out["put"])
    assert code in ("403", "409"), code
    code = curl(host, "-o", "/dev/null", "-w", "%{http_code}",
                out["get"].rsplit("/", 1)[0] + "/nothing.txt")
    assert code == "404", code


def test_host_meta_through_nginx(host):
    text = curl(host, "https://xmpp.%s/.well-known/host-meta" % DOMAIN)
    assert "<XRD" in text and "wss://xmpp.%s/ws" % DOMAIN in text, text


def problems(lines):
    return [l for l in lines if not l.startswith("ok ") and not l.startswith("edge-check:")]


def has(lines, *parts, status="FAIL"):
    for l in lines:
        if l.startswith(status) and all(p in l for p in parts):
            return l
    raise AssertionError("no %s line with %s in:\n%s" % (status, parts, "\n".join(lines)))


def test_check_clean(host):
    rc, out = host.edge_check(*XMPP_HOST_DAEMONS)
    assert rc == 0 and problems(out) == [], "\n".join(out)
    has(out, "tls: /etc/edge/tls/example.org.fullchain.pem", "chain verifies", status="ok")
    has(out, "tls: xmpp-core (user xmpp-core) can read", status="ok")
    has(out, "tls: turnd (user turnd) can read", status="ok")
    has(out, "secrets: upload: xmpp-core and upload-gw read the same file", status="ok")
    has(out, "secrets: TURN: xmpp-core and turnd read the same file", status="ok")
    has(out, "database: schema at version", status="ok")
    has(out, "port: xmpp-core control socket", status="ok")
    has(out, "dns: _xmpps-client._tcp.example.org SRV -> xmpps.example.org:443",
        "192.0.2.137 (portmap forward xmpps to 192.0.2.136:5223", status="ok")
    has(out, "dns: _turns._tcp.example.org SRV -> turns.example.org:443",
        "portmap forward turns to 198.51.100.251:3443", status="ok")
    # the web host
    rc, out = host.edge_check("dumbclient-redirect", unit=host.redirect)
    assert rc == 0 and problems(out) == [], "\n".join(out)
    has(out, "dns: dumbclient-redirect domain example.org: 192.0.2.132 is redirected",
        status="ok")


@pytest.mark.parametrize("case", ["turns_on_turn_ip", "xmpps_srv_to_primary",
                                  "conference_missing", "redirect_domain_elsewhere"])
def test_check_broken_dns_record(host, case):
    zone = hostlab.readme_zone()
    daemons, unit = XMPP_HOST_DAEMONS, None
    if case == "turns_on_turn_ip":
        # turns.example.org on the TURN address, where nothing takes 443
        zone["turns.%s." % DOMAIN]["A"] = ["198.51.100.251"]
        want = [("dns: _turns._tcp.example.org SRV -> turns.example.org:443",
                 "no turnd (TLS) listens on 198.51.100.251:443"),
                ("dns: [extdisco] turns tcp: turns.example.org 198.51.100.251 port 443",)]
    elif case == "xmpps_srv_to_primary":
        # 443 of the primary is nginx's, not xmpp-core's direct TLS
        zone["_xmpps-client._tcp.%s." % DOMAIN]["SRV"] = [[0, 5, 443, "xmpp.%s." % DOMAIN]]
        want = [("dns: _xmpps-client._tcp.example.org SRV -> xmpp.example.org:443",
                 "no xmpp-core c2s (direct TLS) listens on 192.0.2.136:443")]
    elif case == "conference_missing":
        # remote servers could not reach the MUC service
        del zone["conference.%s." % DOMAIN]
        want = [("conference.example.org", "no such name")]
    else:
        # the domain's A record moved away from the web host
        zone[DOMAIN + "."]["A"] = ["192.0.2.99"]
        daemons, unit = ["dumbclient-redirect"], host.redirect
        want = [("dns: dumbclient-redirect domain example.org: 192.0.2.99 is not one of "
                 "its listen addresses",)]
    host.set_zone(zone)
    try:
        rc, out = host.edge_check(*daemons, unit=unit)
    finally:
        host.set_zone(host.zone)
    assert rc == 1, "\n".join(out)
    for parts in want:
        has(out, *parts)


def test_check_wrong_name_certificate(host):
    wrong = host.pki.leaf("wrong", host.key, ["other.example.net"])
    host.install_cert(wrong)
    try:
        rc, out = host.edge_check(*XMPP_HOST_DAEMONS)
    finally:
        host.install_cert(host.leaf)
    assert rc == 1, "\n".join(out)
    has(out, "tls: /etc/edge/tls/example.org.fullchain.pem", "does not cover example.org "
        "(XMPP domain)", "upload.example.org (upload service)",
        "turns.example.org (TURNS/STUNS host)")
