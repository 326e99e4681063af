"""xmppctl's group chat commands (rooms, room, room-destroy,
room-affiliation) against a running xmpp-core, with slixmpp occupants
seeing what the commands do.  Every test uses its own accounts and rooms."""

import pytest

from pgcluster import PgCluster
from test_xmpp_muc import (MUC, SVC, admin_get, codes, configure, create_instant,
                           iq_reply, items_of, join_raw, login, self_presence, wait_for)
from xmpptest import XmppServer, arun, disconnect, until


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def server(pg):
    s = XmppServer(pg, extra="[muc]\nmax_description = 40\n")
    yield s
    s.destroy()


def lines(out):
    return [ln.split("\t") for ln in out.splitlines()]


def room_rows(server, *args):
    r = server.ctl("rooms", *args)
    assert r.returncode == 0, r.stderr
    return {f[0]: f[1:] for f in lines(r.stdout)}


def show(server, room):
    r = server.ctl("room", room)
    assert r.returncode == 0, r.stderr
    return lines(r.stdout)


async def persistent_room(c, room, nick, **cfg):
    await create_instant(c, room, nick)
    fields = {"persistentroom": "1"}
    fields.update(cfg)
    r = await iq_reply(c, configure(c, room, **fields))
    assert r.get("type") == "result"


def sql(server, pg, q):
    return pg.psql(q).split()


def test_help_lists_the_room_commands(server):
    r = server.ctl("help")
    assert r.returncode == 0, r.stderr
    names = [f[0].split()[0] for f in lines(r.stdout)]
    rooms = [n for n in names if n.startswith("room")]
    assert rooms == ["rooms", "room", "room-destroy", "room-affiliation"]


def test_rooms_lists_stored_idle_and_temporary_rooms(server):
    async def go():
        a = await login(server, "ctlrooms1")
        idle, live, tmp = ("ctl-idle@" + SVC, "ctl-live@" + SVC, "ctl-tmp@" + SVC)
        await persistent_room(a, idle, "a", publicroom="1")
        await persistent_room(a, live, "a", publicroom="0", membersonly="1")
        await persistent_room(a, tmp, "a", persistentroom="0")
        a.send_raw("<presence to='%s/a' type='unavailable'/>" % idle)
        await until(lambda: room_rows(server)[idle][0] == "0", 15)
        rows = room_rows(server)
        assert rows[idle] == ["0", "persistent", "public", "-"]
        assert rows[live] == ["1", "persistent", "hidden", "members-only"]
        assert rows[tmp] == ["1", "temporary", "hidden", "-"]
        assert list(rows) == sorted(rows)
        assert room_rows(server, SVC) == rows
        await disconnect(a)
    arun(go())


def test_rooms_and_room_refuse_bad_arguments(server):
    r = server.ctl("rooms", "conference.example.org")
    assert r.returncode == 1 and "not a group chat service" in r.stderr
    r = server.ctl("rooms", SVC, "extra")
    assert r.returncode == 1 and "usage" in r.stderr
    r = server.ctl("room", "nosuchroom@" + SVC)
    assert r.returncode == 1 and "no such room" in r.stderr, r.stderr
    for bad in ("not a jid@", SVC, "x@" + SVC + "/nick", "x@localhost"):
        r = server.ctl("room", *bad.split())
        assert r.returncode == 1, (bad, r.stdout)
    r = server.ctl("room-affiliation", "x@" + SVC, "someone@localhost", "king")
    assert r.returncode == 1 and "usage" in r.stderr
    r = server.ctl("room-destroy", "nosuchroom2@" + SVC)
    assert r.returncode == 1 and "no such room" in r.stderr
    r = server.ctl("room-frobnicate", "x@" + SVC)
    assert r.returncode == 2 and "unknown command" in r.stderr


def test_room_shows_configuration_affiliations_occupants(server, pg):
    async def go():
        a = await login(server, "ctlshow1")
        b = await login(server, "ctlshow2")
        room = "ctl-show@" + SVC
        await persistent_room(a, room, "alice", roomname="Tab\there", passwordprotectedroom="1",
                              roomsecret="s3cret", whois="anyone")
        join_raw(b, room, "bob", "<x xmlns='%s'><password>s3cret</password></x>" % MUC)
        await wait_for(b, self_presence(room, "bob"))
        out = show(server, room)
        kv = {f[0]: f[1] for f in out if len(f) == 2}
        assert kv["jid"] == room and kv["name"] == "Tab here"
        assert kv["persistent"] == "yes" and kv["password_protected"] == "yes"
        assert kv["whois"] == "anyone" and kv["occupants"] == "2" and kv["archive"] == "yes"
        assert "s3cret" not in "\n".join("\t".join(f) for f in out)
        assert ["affiliation", "ctlshow1@localhost", "owner"] in out
        occ = [f for f in out if f[0] == "occupant"]
        assert ["occupant", "alice", "ctlshow1@localhost", "moderator", "owner", "1"] in occ
        assert ["occupant", "bob", "ctlshow2@localhost", "participant", "none", "1"] in occ
        await disconnect(a, b)
        # nobody in it: the command loads it from the database
        await until(lambda: room_rows(server)[room][0] == "0", 15)
        out = show(server, room)
        assert ["affiliation", "ctlshow1@localhost", "owner"] in out
        assert not [f for f in out if f[0] == "occupant"]
    arun(go())


def test_room_affiliation_bans_stores_and_keeps_an_owner(server, pg):
    async def go():
        a = await login(server, "ctlaff1")
        b = await login(server, "ctlaff2")
        room = "ctl-aff@" + SVC
        await persistent_room(a, room, "alice")
        join_raw(b, room, "bob")
        await wait_for(b, self_presence(room, "bob"))
        r = server.ctl("room-affiliation", room, "carol@localhost", "member")
        assert r.returncode == 0 and r.stdout == "ok\n", r.stderr
        jids = [j for j, _ in items_of(await iq_reply(a, admin_get(a, room, "affiliation='member'")))]
        assert jids == ["carol@localhost"]
        assert sql(server, pg, "SELECT affiliation FROM muc_affiliation WHERE room = '%s' "
                   "AND jid = 'carol@localhost'" % room) == ["2"]
        # an outcast is banned from the room at once, with the reason
        r = server.ctl("room-affiliation", room, "CtlAff2@localhost", "outcast", "spamming", "links")
        assert r.returncode == 0, r.stderr
        gone = await wait_for(b, lambda s: s.get("from") == room + "/bob" and
                              s.get("type") == "unavailable")
        assert 301 in codes(gone) and 110 in codes(gone)
        assert gone.find(".//{%s#user}reason" % MUC).text == "spamming links"
        join_raw(b, room, "bob2")
        await wait_for(b, lambda s: s.get("from") == room + "/bob2" and s.get("type") == "error")
        # the last owner stays
        r = server.ctl("room-affiliation", room, "ctlaff1@localhost", "none")
        assert r.returncode == 1 and "at least one owner" in r.stderr
        r = server.ctl("room-affiliation", room, "ctlaff2@localhost", "owner")
        assert r.returncode == 0
        r = server.ctl("room-affiliation", room, "ctlaff1@localhost", "none")
        assert r.returncode == 0, r.stderr
        out = show(server, room)
        assert ["affiliation", "ctlaff2@localhost", "owner"] in out
        assert not [f for f in out if f[:2] == ["affiliation", "ctlaff1@localhost"]]
        r = server.ctl("room-affiliation", room, "bad/jid@", "member")
        assert r.returncode == 1
        await disconnect(a, b)
    arun(go())


def test_room_destroy_tells_occupants_and_deletes_it(server, pg):
    async def go():
        a = await login(server, "ctldes1")
        b = await login(server, "ctldes2")
        room = "ctl-destroy@" + SVC
        await persistent_room(a, room, "alice")
        join_raw(b, room, "bob")
        await wait_for(b, self_presence(room, "bob"))
        r = server.ctl("room-destroy", room, "moved", "elsewhere")
        assert r.returncode == 0 and r.stdout == "ok\n", r.stderr
        for c, nick in ((a, "alice"), (b, "bob")):
            p = await wait_for(c, lambda s: s.get("from") == room + "/" + nick and
                               s.get("type") == "unavailable")
            d = p.find("{%s#user}x/{%s#user}destroy" % (MUC, MUC))
            assert d is not None and d.find("{%s#user}reason" % MUC).text == "moved elsewhere"
        await until(lambda: room not in room_rows(server), 15)
        await until(lambda: sql(server, pg, "SELECT count(*) FROM muc_room WHERE jid = '%s'"
                                % room) == ["0"], 15)
        r = server.ctl("room-destroy", room, "x" * 41)
        assert r.returncode == 1 and "longer than 40" in r.stderr
        await disconnect(a, b)
    arun(go())


def test_destroying_a_room_nobody_is_in(server, pg):
    async def go():
        a = await login(server, "ctldes3")
        room = "ctl-destroy-idle@" + SVC
        await persistent_room(a, room, "alice")
        await disconnect(a)
        await until(lambda: room_rows(server).get(room, ["?"])[0] == "0", 15)
        r = server.ctl("room-destroy", room)
        assert r.returncode == 0, r.stderr
        await until(lambda: room not in room_rows(server), 15)
        r = server.ctl("room", room)
        assert r.returncode == 1 and "no such room" in r.stderr
    arun(go())
