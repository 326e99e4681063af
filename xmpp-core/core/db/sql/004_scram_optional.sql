-- xmpp-core schema, version 4: an account may have SCRAM keys for only one
-- of SHA-1 and SHA-256 (accounts imported from ejabberd, whose default is
-- SCRAM-SHA-1 only, or from Prosody's internal_hashed; `xmppctl import`).
-- The keys of a hash are all there or all NULL, and one hash at least.
-- The missing keys are made at the account's next PLAIN login or password
-- change (auth.c).  The server offers a SCRAM mechanism on a host only
-- while every account there has keys for it (the mechanisms are offered
-- before the user is known, RFC 6120 §6.3.3); the partial indexes make
-- that count cheap.

ALTER TABLE users ALTER COLUMN sha1_salt DROP NOT NULL,
    ALTER COLUMN sha1_iter DROP NOT NULL,
    ALTER COLUMN sha1_stored DROP NOT NULL,
    ALTER COLUMN sha1_server DROP NOT NULL,
    ALTER COLUMN sha256_salt DROP NOT NULL,
    ALTER COLUMN sha256_iter DROP NOT NULL,
    ALTER COLUMN sha256_stored DROP NOT NULL,
    ALTER COLUMN sha256_server DROP NOT NULL,
    ADD CONSTRAINT users_scram_keys CHECK (
        num_nulls(sha1_salt, sha1_iter, sha1_stored, sha1_server) IN (0, 4) AND
        num_nulls(sha256_salt, sha256_iter, sha256_stored, sha256_server) IN (0, 4) AND
        (sha1_stored IS NOT NULL OR sha256_stored IS NOT NULL));

CREATE INDEX users_no_sha1 ON users (host) WHERE sha1_stored IS NULL;
CREATE INDEX users_no_sha256 ON users (host) WHERE sha256_stored IS NULL;
