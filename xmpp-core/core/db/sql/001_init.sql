-- xmpp-core schema, version 1: accounts, roster, offline messages.
-- Passwords are stored only as SCRAM credentials for SHA-1 and SHA-256
-- (base64 salt, StoredKey, ServerKey and the iteration count), as
-- ejabberd's auth_password_format: scram does.

CREATE TABLE users (
    host            text NOT NULL,
    username        text NOT NULL,
    sha1_salt       text NOT NULL,
    sha1_iter       integer NOT NULL,
    sha1_stored     text NOT NULL,
    sha1_server     text NOT NULL,
    sha256_salt     text NOT NULL,
    sha256_iter     integer NOT NULL,
    sha256_stored   text NOT NULL,
    sha256_server   text NOT NULL,
    roster_version  bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host, username)
);

-- One row per contact.  sub_to: we receive their presence; sub_from: they
-- receive ours; ask_out/ask_in: pending subscription requests; approved:
-- pre-approval (RFC 6121 §3.4); visible: false while the row only holds
-- an inbound request for a contact the user never added.
CREATE TABLE roster (
    host        text NOT NULL,
    username    text NOT NULL,
    jid         text NOT NULL,
    name        text NOT NULL DEFAULT '',
    groups      text[] NOT NULL DEFAULT '{}',
    sub_to      boolean NOT NULL DEFAULT false,
    sub_from    boolean NOT NULL DEFAULT false,
    ask_out     boolean NOT NULL DEFAULT false,
    ask_in      boolean NOT NULL DEFAULT false,
    approved    boolean NOT NULL DEFAULT false,
    visible     boolean NOT NULL DEFAULT true,
    version     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (host, username, jid),
    FOREIGN KEY (host, username) REFERENCES users (host, username) ON DELETE CASCADE
);

CREATE TABLE offline (
    id          bigserial PRIMARY KEY,
    host        text NOT NULL,
    username    text NOT NULL,
    stanza      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (host, username) REFERENCES users (host, username) ON DELETE CASCADE
);
CREATE INDEX offline_user ON offline (host, username, id);

-- XEP-0012: when an account's last session ended, and its status text.
CREATE TABLE last_activity (
    host        text NOT NULL,
    username    text NOT NULL,
    seen        timestamptz NOT NULL,
    status      text NOT NULL DEFAULT '',
    PRIMARY KEY (host, username),
    FOREIGN KEY (host, username) REFERENCES users (host, username) ON DELETE CASCADE
);
