-- xmpp-core schema, version 10: private XML storage (XEP-0049) and
-- vcard-temp (XEP-0054).  Stored as the XML the server serialised when the
-- client set it; avatar_hash is the SHA-1 of the vCard's PHOTO (XEP-0153).

CREATE TABLE private_storage (
    host        text NOT NULL,
    username    text NOT NULL,
    namespace   text NOT NULL,
    data        text NOT NULL,
    PRIMARY KEY (host, username, namespace),
    FOREIGN KEY (host, username) REFERENCES users (host, username) ON DELETE CASCADE
);

CREATE TABLE vcard (
    host        text NOT NULL,
    username    text NOT NULL,
    data        text NOT NULL,
    avatar_hash text NOT NULL DEFAULT '',
    PRIMARY KEY (host, username),
    FOREIGN KEY (host, username) REFERENCES users (host, username) ON DELETE CASCADE
);
