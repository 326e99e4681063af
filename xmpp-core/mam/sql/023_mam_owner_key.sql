-- xmpp-core schema, version 23: the archive's indexes are keyed on the
-- account's integer key (users.uid, 005) instead of (host, username), and
-- an archive id is unique within its archive rather than in the whole
-- table (XEP-0359: a stanza-id is unique in the archive its 'by' names).
--
-- Why: PostgreSQL's work per archived row was dominated by three B-tree
-- inserts, two of them comparing two text columns at every level; with
-- an integer owner and no table-wide primary key an archived message
-- costs about a third less of the database's CPU (issue 18,
-- tests/bench/results/mam.md).  host and username stay in the row (who
-- the archive belongs to, readable without a join), unindexed.
--
-- The ids the server makes are still increasing across all archives
-- (mam.c), so time filters stay id ranges; a BRIN index on id (a few
-- pages for millions of rows, nearly free to keep) serves the expiry's
-- "older than" scan, and the start-up maximum is read per account
-- through mam_archive_owner_id.

ALTER TABLE mam_archive ADD COLUMN owner integer;
UPDATE mam_archive a SET owner = u.uid FROM users u
    WHERE u.host = a.host AND u.username = a.username;
-- rows of accounts already gone (the trigger of 022 removes them, so none
-- are expected; a hand-made row without its account would block NOT NULL)
DELETE FROM mam_archive WHERE owner IS NULL;
ALTER TABLE mam_archive ALTER COLUMN owner SET NOT NULL;

DROP INDEX mam_archive_user;
DROP INDEX mam_archive_with;
ALTER TABLE mam_archive DROP CONSTRAINT mam_archive_pkey;
CREATE UNIQUE INDEX mam_archive_owner_id ON mam_archive (owner, id);
CREATE INDEX mam_archive_owner_with ON mam_archive (owner, with_bare, id);
CREATE INDEX mam_archive_id_brin ON mam_archive USING brin (id);

CREATE OR REPLACE FUNCTION mam_archive_account_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mam_archive WHERE owner = OLD.uid;
    RETURN NULL;
END
$$;
