/*
 * token — FAST tokens in the fast_tokens table.  See token.h.
 */
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "crypto.h"
#include "db.h"
#include "server.h"

static struct db_stmt st_get = {
	"SELECT cur_hash, cur_mech, coalesce(cur_expires > now(), false), "
	"coalesce(extract(epoch FROM now() - cur_issued)::bigint, 0), "
	"new_hash, new_mech, coalesce(new_expires > now(), false), "
	"coalesce(extract(epoch FROM now() - new_issued)::bigint, 0) "
	"FROM fast_tokens WHERE host = $1 AND username = $2 AND agent = $3", 3, 0 };
/* the other clients' rows beyond the bound go, least recently used
 * first (one snapshot: the subquery does not see this insert), and
 * those whose tokens have all expired */
static struct db_stmt st_issue = {
	"WITH t AS (INSERT INTO fast_tokens AS f (host, username, agent, software, "
	"device, new_hash, new_mech, new_expires, new_issued) VALUES ($1, $2, $3, $4, "
	"$5, $6, $7, now() + make_interval(secs => $8::bigint), now()) "
	"ON CONFLICT (host, username, agent) DO UPDATE SET "
	"software = EXCLUDED.software, device = EXCLUDED.device, "
	"cur_hash = CASE WHEN $9::boolean THEN f.new_hash ELSE f.cur_hash END, "
	"cur_mech = CASE WHEN $9::boolean THEN f.new_mech ELSE f.cur_mech END, "
	"cur_expires = CASE WHEN $9::boolean THEN f.new_expires ELSE f.cur_expires END, "
	"cur_issued = CASE WHEN $9::boolean THEN f.new_issued ELSE f.cur_issued END, "
	"new_hash = EXCLUDED.new_hash, new_mech = EXCLUDED.new_mech, "
	"new_expires = EXCLUDED.new_expires, new_issued = now(), used_at = now() "
	"RETURNING to_char(new_expires AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')), "
	"d AS (DELETE FROM fast_tokens WHERE host = $1 AND username = $2 AND agent <> $3 "
	"AND (greatest(cur_expires, new_expires) IS NULL OR "
	"greatest(cur_expires, new_expires) < now() OR agent IN "
	"(SELECT agent FROM fast_tokens WHERE host = $1 AND username = $2 AND agent <> $3 "
	"ORDER BY used_at DESC OFFSET $10::integer - 1))) "
	"SELECT * FROM t", 10, 0 };
static struct db_stmt st_promote = {
	"UPDATE fast_tokens SET cur_hash = new_hash, cur_mech = new_mech, "
	"cur_expires = new_expires, cur_issued = new_issued, new_hash = NULL, "
	"new_mech = NULL, new_expires = NULL, new_issued = NULL, used_at = now() "
	"WHERE host = $1 AND username = $2 AND agent = $3 AND new_hash = $4 "
	"RETURNING 1", 4, 0 };
static struct db_stmt st_revoke = {
	"DELETE FROM fast_tokens WHERE host = $1 AND username = $2 "
	"AND ($3::text IS NULL OR agent = $3) RETURNING 1", 3, 0 };
static struct db_stmt st_revoke_count = {
	"WITH d AS (DELETE FROM fast_tokens WHERE host = $1 AND username = $2 "
	"AND ($3::text IS NULL OR agent = $3) RETURNING 1) SELECT count(*) FROM d", 3, 0 };
static struct db_stmt st_list = {
	"SELECT agent, software, device, to_char(greatest(cur_expires, new_expires) "
	"AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
	"to_char(used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
	"FROM fast_tokens WHERE host = $1 AND username = $2 ORDER BY used_at DESC", 2, 0 };

struct ctx {
	token_get_cb *get;
	token_done_cb *done;
	token_list_cb *list;
	void *arg;
};

static struct ctx *
ctx_new(token_get_cb *get, token_done_cb *dn, token_list_cb *list, void *arg)
{
	struct ctx *x = malloc(sizeof(*x));

	if (x) {
		x->get = get;
		x->done = dn;
		x->list = list;
		x->arg = arg;
	}
	return x;
}

static struct db_req *
query(struct db_stmt *st, const char *const *v, db_cb *fn, struct ctx *x)
{
	struct db_req *r;

	if (x == NULL)
		return NULL;
	if ((r = db_query(srv.db, st, v, fn, x)) == NULL)
		free(x);
	return r;
}

static void
parse_slot(PGresult *res, int col, struct token_slot *s)
{
	const char *h = PQgetvalue(res, 0, col);

	memset(s, 0, sizeof(*s));
	if (PQgetisnull(res, 0, col) || strcmp(PQgetvalue(res, 0, col + 2), "t") != 0 ||
	    base64_decode(h, strlen(h), s->key, sizeof(s->key)) != FAST_KEY_LEN)
		return;
	snprintf(s->mech, sizeof(s->mech), "%s", PQgetvalue(res, 0, col + 1));
	s->age_s = strtoull(PQgetvalue(res, 0, col + 3), NULL, 10);
	s->set = true;
}

static void
got(void *arg, PGresult *res, const char *err)
{
	struct ctx *x = arg;
	struct token_row r;

	if (res == NULL) {
		x->get(x->arg, false, NULL, err);
	} else if (PQntuples(res) == 0) {
		x->get(x->arg, false, NULL, NULL);
	} else {
		parse_slot(res, 0, &r.cur);
		parse_slot(res, 4, &r.next);
		x->get(x->arg, true, &r, NULL);
		OPENSSL_cleanse(&r, sizeof(r));
	}
	free(x);
}

struct db_req *
token_get(const char *host, const char *user, const char *agent,
    token_get_cb *cb, void *arg)
{
	const char *v[3] = { host, user, agent };

	return query(&st_get, v, got, ctx_new(cb, NULL, NULL, arg));
}

static void
done(void *arg, PGresult *res, const char *err)
{
	struct ctx *x = arg;

	if (x->done)
		x->done(x->arg, res && PQntuples(res) > 0,
		    res && PQntuples(res) > 0 && PQnfields(res) > 0 &&
		    !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : NULL,
		    res ? NULL : err);
	free(x);
}

struct db_req *
token_issue(const char *host, const char *user, const char *agent,
    const char *software, const char *device, const uint8_t key[FAST_KEY_LEN],
    const char *mech, uint64_t lifetime_s, bool promote, unsigned max_rows,
    token_done_cb *cb, void *arg)
{
	char k64[base64_encoded_len(FAST_KEY_LEN)], life[24], max[16];
	const char *v[10] = { host, user, agent, software ? software : "",
	    device ? device : "", k64, mech, life, promote ? "t" : "f", max };

	base64_encode(key, FAST_KEY_LEN, k64);
	snprintf(life, sizeof(life), "%llu", (unsigned long long)lifetime_s);
	snprintf(max, sizeof(max), "%u", max_rows ? max_rows : 1);
	return query(&st_issue, v, done, ctx_new(NULL, cb, NULL, arg));
}

struct db_req *
token_promote(const char *host, const char *user, const char *agent,
    const uint8_t key[FAST_KEY_LEN], token_done_cb *cb, void *arg)
{
	char k64[base64_encoded_len(FAST_KEY_LEN)];
	const char *v[4] = { host, user, agent, k64 };

	base64_encode(key, FAST_KEY_LEN, k64);
	return query(&st_promote, v, done, ctx_new(NULL, cb, NULL, arg));
}

struct db_req *
token_revoke(const char *host, const char *user, const char *agent,
    token_done_cb *cb, void *arg)
{
	const char *v[3] = { host, user, agent };

	return query(&st_revoke, v, done, ctx_new(NULL, cb, NULL, arg));
}

struct db_req *
token_revoke_count(const char *host, const char *user, const char *agent,
    token_done_cb *cb, void *arg)
{
	const char *v[3] = { host, user, agent };

	return query(&st_revoke_count, v, done, ctx_new(NULL, cb, NULL, arg));
}

static void
listed(void *arg, PGresult *res, const char *err)
{
	struct ctx *x = arg;
	struct buf b;

	buf_init(&b);
	if (res) {
		for (int i = 0; i < PQntuples(res); i++)
			for (int f = 0; f < 5; f++) {
				for (const char *p = PQgetvalue(res, i, f); *p; p++)
					buf_printf(&b, "%c", (unsigned char)*p < 0x20 ||
					    *p == 0x7f ? ' ' : *p);
				buf_puts(&b, f < 4 ? "\t" : "\n");
			}
	}
	x->list(x->arg, &b, res ? NULL : err);
	buf_free(&b);
	free(x);
}

struct db_req *
token_list(const char *host, const char *user, token_list_cb *cb, void *arg)
{
	const char *v[2] = { host, user };

	return query(&st_list, v, listed, ctx_new(NULL, NULL, cb, arg));
}
