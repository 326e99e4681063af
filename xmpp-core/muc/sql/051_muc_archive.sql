-- xmpp-core schema, version 51: the archive of persistent rooms (XEP-0313
-- on the room JID) and message moderation (XEP-0425).
--
-- muc_room.archive is the room's `mam` setting (muc#roomconfig_enablearchiving):
-- every room stored so far had none and becomes archived, the reference
-- host's default.
--
-- muc_archive holds the groupchat messages of an archived persistent
-- room.  id is the room's XEP-0359 stanza-id and the MAM result id:
-- microseconds since the epoch when the room received the message, made
-- strictly increasing by the server (so time filters are id ranges and the
-- newest rows are the highest ids).  nick and occupant_id are the sender's
-- at the time (a moderated message's tombstone is made from them), jid its
-- real bare JID (shown only to who may see real JIDs), stanza the message
-- as occupants got it (from room@service/nick, no 'to', with its
-- stanza-id and occupant-id).  A moderated message keeps its row with
-- retracted set and a tombstone as stanza: the original is gone.
--
-- muc_archive_stats keeps each archive's size with every insert, so the
-- RSM <count/> of a whole archive costs one row and the per-room cap
-- ([muc] archive_max_messages) knows how many rows to drop without a
-- count.
--
-- Rooms with archiving off keep using muc_history (their last [muc]
-- history messages); the history of the rooms that become archived here
-- moves into the archive, ids made from its times as the server makes
-- them (increasing, never before the time).

ALTER TABLE muc_room ADD COLUMN archive boolean NOT NULL DEFAULT true;

CREATE TABLE muc_archive (
    room        text NOT NULL REFERENCES muc_room (jid) ON DELETE CASCADE,
    id          bigint NOT NULL,
    nick        text NOT NULL,
    occupant_id text NOT NULL DEFAULT '',
    jid         text NOT NULL DEFAULT '',
    retracted   boolean NOT NULL DEFAULT false,
    stanza      text NOT NULL,
    PRIMARY KEY (room, id)
);

CREATE TABLE muc_archive_stats (
    room        text PRIMARY KEY REFERENCES muc_room (jid) ON DELETE CASCADE,
    messages    bigint NOT NULL DEFAULT 0
);

-- id_i = max over j <= i of (t_j - j) + i: at or after its time, and
-- strictly increasing in (at, seq) order over every room.  The nick and
-- occupant id come from the stored message, whose stanza-id becomes the
-- new id.
INSERT INTO muc_archive (room, id, nick, occupant_id, stanza)
    SELECT room, id,
        coalesce(substring(stanza FROM '^<message[^>]* from=''[^''/]*/([^'']*)'''), ''),
        coalesce(substring(stanza FROM '<occupant-id [^>]*id=''([^'']*)'''), ''),
        regexp_replace(stanza, '(<stanza-id xmlns=''urn:xmpp:sid:0'' id='')[^'']*('')',
            '\1' || id || '\2')
    FROM (SELECT room, stanza,
            max(t - rn) OVER (ORDER BY rn ROWS UNBOUNDED PRECEDING) + rn AS id
        FROM (SELECT room, stanza, (extract(epoch FROM at) * 1000000)::bigint AS t,
            row_number() OVER (ORDER BY at, seq) AS rn FROM muc_history) h) a;

INSERT INTO muc_archive_stats (room, messages)
    SELECT room, count(*) FROM muc_archive GROUP BY room;

DELETE FROM muc_history;
