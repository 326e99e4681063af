-- xmpp-core schema, version 24: the archive's counters take in new rows
-- a second or so after they are written (a fold, mam.h MAM_SQL_FOLD), not
-- with every insert.  mam_stats.messages and mam_with_stats.messages
-- count an account's rows up to its counted_to; a query counts the rows
-- above it itself.
--
-- Why: updating two counter rows per account and conversation in every
-- batch was a third of PostgreSQL's work per archived message at light
-- load, where batches are small (issue 18, tests/bench/results/mam.md).
--
-- The counters so far are exact: they count every row there is.
ALTER TABLE mam_stats ADD COLUMN counted_to bigint NOT NULL DEFAULT 0;
UPDATE mam_stats s SET counted_to = coalesce((SELECT x.id FROM mam_archive x
    JOIN users u ON u.uid = x.owner
    WHERE u.host = s.host AND u.username = s.username
    ORDER BY x.id DESC LIMIT 1), 0);

-- Every account has its counters' row, made with the account, so a fold
-- only ever updates one (mam.h).
INSERT INTO mam_stats (host, username) SELECT host, username FROM users
    ON CONFLICT DO NOTHING;

CREATE FUNCTION mam_stats_account_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO mam_stats (host, username) VALUES (NEW.host, NEW.username)
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER mam_stats_account_new AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION mam_stats_account_new();
