-- xmpp-core schema, version 22: mam_archive rows go when their account
-- goes through a trigger instead of a foreign key.  The foreign key's
-- check (a lookup and a row lock on users for every inserted row) was
-- about a quarter of PostgreSQL's work per archived message; the batched
-- insert (mam/mamwrite.c) leaves out rows of accounts that are gone, and
-- the trigger removes an account's archive with it, whoever deletes it.

ALTER TABLE mam_archive DROP CONSTRAINT IF EXISTS mam_archive_host_username_fkey;

CREATE FUNCTION mam_archive_account_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM mam_archive WHERE host = OLD.host AND username = OLD.username;
    RETURN NULL;
END
$$;

CREATE TRIGGER mam_archive_account_gone AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION mam_archive_account_gone();
