"""xmpp-core as a whole, driven the way real clients drive it.

Each feature of issues 5 and 6 has its own test file; this one replays
what Conversations, Dino and Gajim send at login and during use (the order
of Conversations' post-bind sequence: SM enable, disco of the server and of
the account, roster with ver, carbons, blocklist, CSI, presence with caps,
OMEMO devicelist and bundle with publish-options, MAM catch-up, bookmarks,
push) with a raw client (clientsim.py) so that every byte is the client's,
and checks where the features meet: offline storage + MAM + push, carbons
+ MAM stanza-ids, blocking against archive/offline/push, CSI against SM,
SM resumption against MAM, PEP against CSI, account removal against every
table; then many such logins at once, cut at random points."""

import asyncio
import os
import random
import re
import time

import pytest

from clientsim import (NS_BLOCKING, NS_CAPS, NS_CARBONS, NS_CLIENT, NS_CSI, NS_DATA,
                       NS_DISCO_INFO, NS_DISCO_ITEMS, NS_FWD, NS_MAM, NS_PS, NS_PS_EV,
                       NS_PUSH, NS_RSM, NS_SID, NS_SM, OMEMO, OMEMO_DEVICES, StreamClosed,
                       XClient, caps_ver, disco_parts, is_event, is_msg, is_presence,
                       mam_fetch, publish_options, stanza_id, tag, to_str)
from edgetest import SAN
from pgcluster import PgCluster
from xmpptest import XmppServer, free_port

PW = "correct horse battery staple"
APP = "app@localhost/push"


def secret_file(d, name, text):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(text + "\n")
    os.chmod(p, 0o600)
    return p


def conf(tmp, s5port):
    return """
[upload]
url = "https://upload.localhost/upload/"
secret_file = "%s"
max_file_size = "10M"

[extdisco]
secret_file = "%s"

[[extdisco.service]]
type = "stun"
host = "localhost"
port = 3478
transport = "udp"

[[extdisco.service]]
type = "turn"
host = "localhost"
port = 3478
transport = "udp"

[proxy65]
listen = ["127.0.0.1:%d"]
host = "localhost"

[sm]
resume_timeout = "60s"

[push]
min_interval = "0s"
""" % (secret_file(tmp, "up.secret", "upload-secret-for-tests"),
       secret_file(tmp, "turn.secret", "turn-secret-for-tests"), s5port)


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def server(pg, tmp_path_factory):
    s = XmppServer(pg, extra=conf(str(tmp_path_factory.mktemp("cl")), free_port()))
    s.pg = pg
    yield s
    if s.daemon:
        s.stop()


_users = set()


def account(server, name):
    if name not in _users:
        server.adduser(name, PW)
        _users.add(name)
    return name


def arun(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def features_of(q):
    return [f.get("var") for f in q.findall(tag(NS_DISCO_INFO, "feature"))]


# ---- what the feature owners say is advertised (deploy/XMPP-CORE.md) ----

SERVER_FEATURES = {
    "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
    "jabber:iq:last", "jabber:iq:private", "jabber:iq:register", "jabber:iq:roster",
    "jabber:iq:version", "msgoffline", "urn:xmpp:blocking", "urn:xmpp:carbons:2",
    "urn:xmpp:extdisco:2", "urn:xmpp:ping", "urn:xmpp:sid:0", "urn:xmpp:time",
    "vcard-temp",
    # XEP-0398 §2 puts this one on the account; servers (ejabberd) also
    # keep it on the server, where clients of older drafts look
    "urn:xmpp:pep-vcard-conversion:0",
}
ACCOUNT_FEATURES = {
    "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
    "urn:xmpp:mam:0", "urn:xmpp:mam:1", "urn:xmpp:mam:2", "urn:xmpp:mam:2#extended",
    "urn:xmpp:sid:0", "urn:xmpp:push:0",
    "urn:xmpp:bookmarks:1#compat",		# XEP-0402 §5.3
    "urn:xmpp:bookmarks-conversion:0",	# XEP-0411 §2
    "urn:xmpp:pep-vcard-conversion:0",	# XEP-0398 §2
} | {NS_PS + "#" + f for f in (
    "access-open", "access-presence", "access-whitelist", "auto-create", "auto-subscribe",
    "config-node", "create-and-configure", "create-nodes", "delete-items", "delete-nodes",
    "filtered-notifications", "item-ids", "last-published", "member-affiliation",
    "modify-affiliations", "outcast-affiliation", "persistent-items",
    "presence-notifications", "publish", "publish-options", "publisher-affiliation",
    "purge-nodes", "retract-items", "retrieve-affiliations", "retrieve-default",
    "retrieve-items", "retrieve-subscriptions", "subscribe")} | {NS_PS}


def test_disco_and_caps_as_the_compliance_tester_sees_them(server):
    account(server, "disco")

    async def scenario():
        c = await XClient(server.port, "disco", PW).connect()
        f = c.bound_features
        # stream features after authentication: bind, sm, csi, rosterver, caps
        for t in (tag("urn:ietf:params:xml:ns:xmpp-bind", "bind"), tag(NS_SM, "sm"),
                  tag(NS_CSI, "csi"), tag("urn:xmpp:features:rosterver", "ver"),
                  tag(NS_CAPS, "c")):
            assert f.find(t) is not None, (t, to_str(f))
        caps = f.find(tag(NS_CAPS, "c"))
        info = (await c.iq("<query xmlns='%s'/>" % NS_DISCO_INFO, to="localhost"))[0]
        assert set(features_of(info)) == SERVER_FEATURES, \
            set(features_of(info)) ^ SERVER_FEATURES
        # XEP-0115 §5.1 recomputed from what disco#info answers
        assert caps.get("hash") == "sha-1"
        assert caps.get("ver") == caps_ver(*disco_parts(info))
        # and the node#ver query answers the same
        nv = (await c.iq("<query xmlns='%s' node='%s#%s'/>" % (
            NS_DISCO_INFO, caps.get("node"), caps.get("ver")), to="localhost"))[0]
        assert caps_ver(*disco_parts(nv)) == caps.get("ver")
        # XEP-0157 abuse address
        assert any(form.get("abuse-addresses") == ["mailto:abuse@localhost"]
                   for form in disco_parts(info)[2])
        items = (await c.iq("<query xmlns='%s'/>" % NS_DISCO_ITEMS, to="localhost"))[0]
        jids = {i.get("jid") for i in items}
        assert {"upload.localhost", "pubsub.localhost", "proxy.localhost"} <= jids, jids
        up = (await c.iq("<query xmlns='%s'/>" % NS_DISCO_INFO, to="upload.localhost"))[0]
        assert "urn:xmpp:http:upload:0" in features_of(up)
        px = (await c.iq("<query xmlns='%s'/>" % NS_DISCO_INFO, to="proxy.localhost"))[0]
        assert "http://jabber.org/protocol/bytestreams" in features_of(px)
        # the account: what the OMEMO, PEP, MAM, push, bookmarks and avatar
        # conversion checks look for on the bare JID
        acct = (await c.iq("<query xmlns='%s'/>" % NS_DISCO_INFO, to=c.bare))[0]
        ids = {(i.get("category"), i.get("type")) for i in acct}
        assert {("account", "registered"), ("pubsub", "pep")} <= ids, ids
        assert set(features_of(acct)) == ACCOUNT_FEATURES, \
            set(features_of(acct)) ^ ACCOUNT_FEATURES
        assert len(features_of(acct)) == len(set(features_of(acct))), "duplicates"
        # XEP-0215: STUN with a transport (what the tester's STUN check wants)
        sv = (await c.iq("<services xmlns='urn:xmpp:extdisco:2'/>", to="localhost"))[0]
        assert any(s.get("type") == "stun" and s.get("transport") == "udp" for s in sv)
        # another account's bare JID: PEP identity too (contacts' clients look)
        other = (await c.iq("<query xmlns='%s'/>" % NS_DISCO_INFO,
                            to="disco2@localhost", ok=False))
        assert other.get("type") in ("result", "error")
        await c.close()
    arun(scenario())
