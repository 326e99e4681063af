-- xmpp-core schema, version 11: blocking command (XEP-0191).  jid is the
-- normalised JID as the user gave it (bare, full, domain or domain/resource).

CREATE TABLE blocklist (
    host        text NOT NULL,
    username    text NOT NULL,
    jid         text NOT NULL,
    PRIMARY KEY (host, username, jid),
    FOREIGN KEY (host, username) REFERENCES users (host, username) ON DELETE CASCADE
);
