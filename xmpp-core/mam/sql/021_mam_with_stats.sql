-- xmpp-core schema, version 21: the size of each conversation in an
-- archive (account, other party's bare JID), kept with every insert and
-- expiry like mam_stats, so the RSM <count/> of a query filtered only by a
-- bare 'with' costs one row instead of an index scan over the whole
-- conversation (clients page one conversation at a time).

CREATE TABLE mam_with_stats (
    host        text NOT NULL,
    username    text NOT NULL,
    with_bare   text NOT NULL,
    messages    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (host, username, with_bare),
    FOREIGN KEY (host, username) REFERENCES users (host, username) ON DELETE CASCADE
);

INSERT INTO mam_with_stats (host, username, with_bare, messages)
    SELECT host, username, with_bare, count(*) FROM mam_archive
    GROUP BY host, username, with_bare;
