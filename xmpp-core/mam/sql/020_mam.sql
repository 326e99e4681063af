-- xmpp-core schema, version 20: message archive (XEP-0313) and its
-- preferences (XEP-0441).
--
-- id is the archive id clients see (result id, XEP-0359 stanza-id, RSM
-- after/before): microseconds since the epoch when the message was
-- archived, made strictly increasing by the server (so it is unique across
-- archives and time filters become id ranges).  with_bare/with_res is the
-- other party (the recipient of an outgoing message, the sender of an
-- incoming one).  stanza is the message as it was routed, serialised with
-- its xmlns='jabber:client'.

CREATE TABLE mam_archive (
    id          bigint PRIMARY KEY,
    host        text NOT NULL,
    username    text NOT NULL,
    with_bare   text NOT NULL,
    with_res    text NOT NULL DEFAULT '',
    outgoing    boolean NOT NULL,
    stanza      text NOT NULL,
    FOREIGN KEY (host, username) REFERENCES users (host, username) ON DELETE CASCADE
);
CREATE INDEX mam_archive_user ON mam_archive (host, username, id);
CREATE INDEX mam_archive_with ON mam_archive (host, username, with_bare, id);

-- The size of each archive, kept with every insert and expiry, so the
-- RSM <count/> of a whole archive costs one row, not an index scan.
CREATE TABLE mam_stats (
    host        text NOT NULL,
    username    text NOT NULL,
    messages    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (host, username),
    FOREIGN KEY (host, username) REFERENCES users (host, username) ON DELETE CASCADE
);

-- Absent row: default 'always', no lists.  always/never hold normalised
-- bare or full JIDs.
CREATE TABLE mam_prefs (
    host        text NOT NULL,
    username    text NOT NULL,
    mode        text NOT NULL CHECK (mode IN ('always', 'never', 'roster')),
    always      text[] NOT NULL DEFAULT '{}',
    never       text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (host, username),
    FOREIGN KEY (host, username) REFERENCES users (host, username) ON DELETE CASCADE
);
