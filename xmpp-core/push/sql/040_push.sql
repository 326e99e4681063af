-- xmpp-core schema, version 40: push notification registrations (XEP-0357).
-- One row per (account, app server JID, node); re-enabling replaces the
-- publish-options form and the session.  form is the serialised
-- <x xmlns='jabber:x:data'/> the client gave (NULL: none); session names
-- the session that enabled it (notifications go out while it is not online).

CREATE TABLE push_registrations (
    host        text NOT NULL,
    username    text NOT NULL,
    jid         text NOT NULL,
    node        text NOT NULL,
    form        text,
    session     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host, username, jid, node),
    FOREIGN KEY (host, username) REFERENCES users (host, username) ON DELETE CASCADE
);
