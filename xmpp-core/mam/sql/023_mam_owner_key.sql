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

-- The table is written anew (an UPDATE of every row would leave the old
-- one's size again in dead rows): about 9 s per million messages on the
-- 2-core test machine, and the new table with its indexes is a quarter
-- smaller than the old one.
CREATE TABLE mam_archive_new (LIKE mam_archive INCLUDING DEFAULTS);
ALTER TABLE mam_archive_new ADD COLUMN owner integer NOT NULL;
-- rows of accounts already gone (the trigger of 022 removes them, so none
-- are expected) stay behind
INSERT INTO mam_archive_new
    SELECT a.id, a.host, a.username, a.with_bare, a.with_res, a.outgoing, a.stanza, u.uid
    FROM mam_archive a JOIN users u ON u.host = a.host AND u.username = a.username;
DROP TABLE mam_archive;
ALTER TABLE mam_archive_new RENAME TO mam_archive;

CREATE UNIQUE INDEX mam_archive_owner_id ON mam_archive (owner, id);
CREATE INDEX mam_archive_owner_with ON mam_archive (owner, with_bare, id);
CREATE INDEX mam_archive_id_brin ON mam_archive USING brin (id);

CREATE OR REPLACE FUNCTION mam_archive_account_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mam_archive WHERE owner = OLD.uid;
    RETURN NULL;
END
$$;
