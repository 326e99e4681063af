-- xmpp-core schema, version 52: two more fields of a room's
-- configuration (XEP-0045 §10.2): its natural language
-- (muc#roomconfig_lang, an RFC 5646 tag or NULL) and whose presence the
-- occupants see (muc#roomconfig_presencebroadcast: a bit per role,
-- 2 visitor, 4 participant, 8 moderator; every role by default, as
-- ejabberd and Prosody have it).

-- muc_archive_age serves [muc] archive_max_age: a room archive's ids are
-- microseconds since the epoch, increasing across rooms, so a BRIN index
-- (a few pages for millions of rows) finds the expired ones.

ALTER TABLE muc_room ADD COLUMN lang text;
ALTER TABLE muc_room ADD COLUMN presence_broadcast smallint NOT NULL DEFAULT 14;
CREATE INDEX muc_archive_age ON muc_archive USING brin (id);
