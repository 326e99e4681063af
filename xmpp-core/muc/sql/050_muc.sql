-- xmpp-core schema, version 50: group chat (XEP-0045) on conference.<host>.
-- Persistent rooms only (temporary rooms never reach the database): the
-- configuration as columns, the subject, the affiliations, and the
-- recent history (the last [muc] history messages, each as serialised
-- when it was sent: from room@service/nick, no 'to').  Rooms are read
-- when first used, never at start-up.  A room outlives its creator's
-- account, as in ejabberd; its affiliations say who owns it.

CREATE TABLE muc_room (
    jid                 text PRIMARY KEY,
    service             text NOT NULL,
    created_by          text NOT NULL,
    name                text,
    description         text,
    password            text,
    public              boolean NOT NULL,
    members_only        boolean NOT NULL,
    moderated           boolean NOT NULL,
    password_protected  boolean NOT NULL,
    whois_anyone        boolean NOT NULL,
    change_subject      boolean NOT NULL,
    allow_invites       boolean NOT NULL,
    allow_pm            smallint NOT NULL,
    max_users           integer NOT NULL,
    subject             text,
    subject_by          text,
    occupant_salt       text NOT NULL,      -- key of its XEP-0421 ids
    vcard               text,               -- vcard-temp, as serialised
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX muc_room_created_by ON muc_room (created_by);
-- the service's disco#items: its public rooms in JID order (RSM pages)
CREATE INDEX muc_room_public ON muc_room (service, jid) WHERE public;

CREATE TABLE muc_affiliation (
    room        text NOT NULL REFERENCES muc_room (jid) ON DELETE CASCADE,
    jid         text NOT NULL,
    affiliation smallint NOT NULL,
    PRIMARY KEY (room, jid)
);

CREATE TABLE muc_history (
    room    text NOT NULL REFERENCES muc_room (jid) ON DELETE CASCADE,
    seq     bigserial,
    at      timestamptz NOT NULL DEFAULT now(),
    stanza  text NOT NULL,
    PRIMARY KEY (room, seq)
);
