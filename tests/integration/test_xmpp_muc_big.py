"""A room at the reference host's limit: 500 slixmpp occupants join one
room on xmpp-core (each sees every earlier occupant, then itself), the
501st is refused with service-unavailable, one groupchat message reaches
all 500, the room's disco reports 500 occupants, and all of them leave
cleanly.  Accounts are copies of one SCRAM row (same password), so the
test spends its time in the room, not in xmppctl."""

import asyncio

import pytest

from pgcluster import PgCluster
from test_xmpp_muc import MUC, PW, SVC, USER, codes, record
from xmpptest import XmppServer, arun, connect, disconnect, until

N = 500
BATCH = 25	# logins at once
ROOM = "crowd@" + SVC


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


def test_500_occupants_in_one_room(pg):
    s = XmppServer(pg, c2s_extra="max_connections_per_ip = 2000")
    s.adduser("crowd0", PW)
    pg.psql("INSERT INTO users (host, username, sha1_salt, sha1_iter, sha1_stored, "
              "sha1_server, sha256_salt, sha256_iter, sha256_stored, sha256_server) "
              "SELECT host, 'crowd' || i, sha1_salt, sha1_iter, sha1_stored, sha1_server, "
              "sha256_salt, sha256_iter, sha256_stored, sha256_server FROM users, "
              "generate_series(1, %d) i WHERE username = 'crowd0'" % N)
    clients = []

    def selfp(c, nick):
        return [p for p in c.got if p.tag == "{jabber:client}presence" and
                p.get("from") == ROOM + "/" + nick and 110 in codes(p)]

    async def join(i):
        c = await connect("crowd%d@localhost" % i, PW, s.port, timeout=60)
        record(c)
        c.send_raw("<presence to='%s/n%d'><x xmlns='%s'><history maxstanzas='0'/></x>"
                   "</presence>" % (ROOM, i, MUC))
        await until(lambda: selfp(c, "n%d" % i), 60)
        return c

    async def go():
        # the owner makes the room (instant, default configuration)
        owner = await join(0)
        assert 201 in codes(selfp(owner, "n0")[0])
        owner.send_raw("<iq type='set' id='cfg' to='%s'><query xmlns='%s#owner'>"
                       "<x xmlns='jabber:x:data' type='submit'/></query></iq>" % (ROOM, MUC))
        await until(lambda: any(x.get("id") == "cfg" for x in owner.got), 30)
        clients.append(owner)
        for start in range(1, N, BATCH):
            clients.extend(await asyncio.gather(*(join(i) for i in range(start, min(start + BATCH, N)))))
        assert len(clients) == N
        last = clients[-1]
        seen = {p.get("from").split("/")[1] for p in last.got
                if p.tag == "{jabber:client}presence" and (p.get("from") or "").startswith(ROOM + "/")}
        assert len(seen) == N		# everyone before it, then itself
        # everyone sees everyone, eventually
        await until(lambda: all(len({p.get("from") for p in c.got if p.tag == "{jabber:client}presence"
                                     and (p.get("from") or "").startswith(ROOM + "/")}) == N
                                for c in clients), 120)
        # the 501st is refused: the room is full
        extra = await connect("crowd%d@localhost" % N, PW, s.port, timeout=60)
        record(extra)
        extra.send_raw("<presence to='%s/late'><x xmlns='%s'/></presence>" % (ROOM, MUC))
        await until(lambda: [p for p in extra.got if p.get("type") == "error"], 60)
        err = [p for p in extra.got if p.get("type") == "error"][0]
        assert err.find("{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}"
                        "service-unavailable") is not None
        # one message reaches all 500
        clients[7].send_raw("<message to='%s' type='groupchat' id='hello500'><body>to all 500"
                            "</body></message>" % ROOM)

        def got_it(c):
            return any(m.tag == "{jabber:client}message" and m.get("id") == "hello500" and
                       m.findtext("{jabber:client}body") == "to all 500" for m in c.got)
        await until(lambda: all(got_it(c) for c in clients), 120)
        # the room says how many are in it
        owner.send_raw("<iq type='get' id='info500' to='%s'><query "
                       "xmlns='http://jabber.org/protocol/disco#info'/></iq>" % ROOM)
        await until(lambda: any(x.get("id") == "info500" for x in owner.got), 30)
        info = [x for x in owner.got if x.get("id") == "info500"][0]
        occ = [f for f in info.iter("{jabber:x:data}field")
               if f.get("var") == "muc#roominfo_occupants"]
        assert occ and occ[0].findtext("{jabber:x:data}value") == str(N)
        # the others see a leaver go, with the right presence
        clients[3].send_raw("<presence to='%s/n3' type='unavailable'/>" % ROOM)
        await until(lambda: any(p.get("from") == ROOM + "/n3" and p.get("type") == "unavailable"
                                and p.find("{%s}x" % USER) is not None for p in clients[-1].got), 60)
        await disconnect(extra)
        for start in range(0, N, 100):
            await disconnect(*clients[start:start + 100])
        await until(lambda: s.ctl("rooms").stdout.split("\t")[1:2] == ["0"], 60)
    try:
        arun(go(), timeout=900)
    finally:
        s.destroy()
