-- XEP-0484 FAST tokens: one row per account and client (the SASL2
-- <user-agent/> id), with the two slots of XEP-0484 §5.1: 'cur', the
-- token in use, and 'new', one issued but not used yet (rotation that
-- survives a connection lost before the client saw the new token).
-- Only SHA-256 of a token is stored (base64), never the token.  The
-- rows go with the account (ON DELETE CASCADE) and with a password
-- change (account.c's st_passwd).
CREATE TABLE fast_tokens (
    host        text NOT NULL,
    username    text NOT NULL,
    agent       text NOT NULL,
    software    text NOT NULL DEFAULT '',
    device      text NOT NULL DEFAULT '',
    cur_hash    text,
    cur_mech    text,
    cur_expires timestamptz,
    cur_issued  timestamptz,
    new_hash    text,
    new_mech    text,
    new_expires timestamptz,
    new_issued  timestamptz,
    used_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host, username, agent),
    FOREIGN KEY (host, username) REFERENCES users (host, username) ON DELETE CASCADE
);
