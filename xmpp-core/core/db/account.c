/*
 * account — SCRAM credentials in the users table.  See account.h.
 */
#include "account.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "crypto.h"
#include "db.h"
#include "jid.h"
#include "kdf.h"
#include "server.h"

static struct db_stmt st_get = {
	"SELECT sha1_salt, sha1_iter, sha1_stored, sha1_server, "
	"sha256_salt, sha256_iter, sha256_stored, sha256_server "
	"FROM users WHERE host = $1 AND username = $2", 2, 0 };
static struct db_stmt st_create = {
	"INSERT INTO users (host, username, sha1_salt, sha1_iter, sha1_stored, "
	"sha1_server, sha256_salt, sha256_iter, sha256_stored, sha256_server) "
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
	"ON CONFLICT DO NOTHING RETURNING 1", 10, 0 };
/* a new password ends every FAST token of the account (002_fast.sql) */
static struct db_stmt st_passwd = {
	"WITH t AS (DELETE FROM fast_tokens WHERE host = $1 AND username = $2) "
	"UPDATE users SET sha1_salt = $3, sha1_iter = $4, sha1_stored = $5, "
	"sha1_server = $6, sha256_salt = $7, sha256_iter = $8, sha256_stored = $9, "
	"sha256_server = $10 WHERE host = $1 AND username = $2 RETURNING 1", 10, 0 };
static struct db_stmt st_delete = {
	"DELETE FROM users WHERE host = $1 AND username = $2 RETURNING 1", 2, 0 };
static struct db_stmt st_add256 = {
	"UPDATE users SET sha256_salt = $3, sha256_iter = $4, sha256_stored = $5, "
	"sha256_server = $6 WHERE host = $1 AND username = $2 AND sha256_stored IS NULL "
	"RETURNING 1", 6, 0 };
/* hosts with accounts lacking a hash's keys */
static struct db_stmt st_census = {
	"SELECT host, bool_or(sha1_stored IS NULL), bool_or(sha256_stored IS NULL) "
	"FROM users WHERE sha1_stored IS NULL OR sha256_stored IS NULL GROUP BY host",
	0, 0 };
static struct db_stmt st_list = {
	"SELECT username, host FROM users WHERE $1::text IS NULL OR host = $1 "
	"ORDER BY host, username", 1, 0 };

/* Ten text parameters: host, user, then salt/iter/stored/server per hash. */
struct keyrow {
	char salt[2][base64_encoded_len(SCRAM_SALT_MAX)];
	char iter[2][16];
	char stored[2][base64_encoded_len(SCRAM_HASH_MAX)];
	char server[2][base64_encoded_len(SCRAM_HASH_MAX)];
	const char *v[10];
};

static void
fill_row(struct keyrow *r, const char *host, const char *user,
    const struct scram_keys k[2])
{
	for (int h = 0; h < 2; h++) {
		base64_encode(k[h].salt, k[h].saltlen, r->salt[h]);
		snprintf(r->iter[h], sizeof(r->iter[h]), "%u", k[h].iter);
		base64_encode(k[h].stored, scram_hash_len((enum scram_hash)h), r->stored[h]);
		base64_encode(k[h].server, scram_hash_len((enum scram_hash)h), r->server[h]);
		r->v[2 + 4 * h] = r->salt[h];
		r->v[3 + 4 * h] = r->iter[h];
		r->v[4 + 4 * h] = r->stored[h];
		r->v[5 + 4 * h] = r->server[h];
	}
	r->v[0] = host;
	r->v[1] = user;
}

/* The blocking form (xmppctl): derives on the calling thread. */
static int
make_row(struct keyrow *r, const char *host, const char *user,
    const char *password, unsigned iter)
{
	struct scram_keys k[2];
	int rc = 0;

	if (scram_make_keys(SCRAM_SHA1, password, iter, &k[0]) == -1 ||
	    scram_make_keys(SCRAM_SHA256, password, iter, &k[1]) == -1)
		rc = -1;
	else
		fill_row(r, host, user, k);
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

static int
parse_keys(PGresult *res, struct account_keys *out)
{
	memset(out, 0, sizeof(*out));
	for (int h = 0; h < 2; h++) {
		struct scram_keys *k = &out->k[h];
		size_t hl = scram_hash_len((enum scram_hash)h);
		const char *salt = PQgetvalue(res, 0, 4 * h);
		const char *st = PQgetvalue(res, 0, 4 * h + 2);
		const char *sv = PQgetvalue(res, 0, 4 * h + 3);
		ssize_t n;

		/* an imported account may have keys for one hash only */
		if (!(out->have[h] = !PQgetisnull(res, 0, 4 * h + 2))) {
			memset(k, 0, sizeof(*k));
			continue;
		}

		n = base64_decode(salt, strlen(salt), k->salt, sizeof(k->salt));
		if (n <= 0)
			return -1;
		k->saltlen = (size_t)n;
		k->iter = (unsigned)strtoul(PQgetvalue(res, 0, 4 * h + 1), NULL, 10);
		if (base64_decode(st, strlen(st), k->stored, sizeof(k->stored)) != (ssize_t)hl ||
		    base64_decode(sv, strlen(sv), k->server, sizeof(k->server)) != (ssize_t)hl ||
		    k->iter == 0)
			return -1;
		out->have[h] = true;
	}
	return out->have[SCRAM_SHA1] || out->have[SCRAM_SHA256] ? 0 : -1;
}

struct keys_ctx {
	account_keys_cb *cb;
	void *arg;
};

static void
got_keys(void *arg, PGresult *res, const char *err)
{
	struct keys_ctx *x = arg;
	struct account_keys k;

	if (res == NULL)
		x->cb(x->arg, false, NULL, err);
	else if (PQntuples(res) == 0)
		x->cb(x->arg, false, NULL, NULL);
	else if (parse_keys(res, &k) == -1)
		x->cb(x->arg, false, NULL, "stored credentials are corrupt");
	else
		x->cb(x->arg, true, &k, NULL);
	OPENSSL_cleanse(&k, sizeof(k));
	free(x);
}

/*
 * The callback is called exactly once (callers keep their context alive
 * with a reference rather than cancelling); NULL means it failed at once
 * and will not be called.
 */
struct db_req *
account_get_keys(const char *host, const char *user, account_keys_cb *cb,
    void *arg)
{
	struct keys_ctx *x = malloc(sizeof(*x));
	const char *v[2] = { host, user };
	struct db_req *r;

	if (x == NULL)
		return NULL;
	x->cb = cb;
	x->arg = arg;
	if ((r = db_query(srv.db, &st_get, v, got_keys, x)) == NULL)
		free(x);
	return r;
}

struct done_ctx {
	account_done_cb *cb;
	void *arg;
	bool census;		/* keys changed: count the hosts again */
};

static void
done(void *arg, PGresult *res, const char *err)
{
	struct done_ctx *x = arg;

	if (x->census && res && PQntuples(res) > 0)
		account_census();
	x->cb(x->arg, res && PQntuples(res) > 0, res ? NULL : err);
	free(x);
}

static struct db_req *
query_done(struct db_stmt *st, const char *const *v, account_done_cb *cb, void *arg)
{
	struct done_ctx *x = malloc(sizeof(*x));
	struct db_req *r;

	if (x == NULL)
		return NULL;
	x->cb = cb;
	x->arg = arg;
	x->census = st == &st_passwd || st == &st_add256;
	if ((r = db_query(srv.db, st, v, done, x)) == NULL)
		free(x);
	return r;
}

/* A password change or creation: keys derived by kdf, then the query. */
struct keyed_ctx {
	struct db_stmt *st;
	char host[JID_PART_MAX + 1];
	char user[JID_PART_MAX + 1];
	account_done_cb *cb;
	void *arg;
};

static void
derived(void *arg, bool ok, const struct scram_keys *keys)
{
	struct keyed_ctx *x = arg;
	struct keyrow r;

	if (!ok) {
		x->cb(x->arg, false, "key derivation failed");
	} else {
		fill_row(&r, x->host, x->user, keys);
		if (query_done(x->st, r.v, x->cb, x->arg) == NULL)
			x->cb(x->arg, false, "database busy");
		OPENSSL_cleanse(&r, sizeof(r));
	}
	free(x);
}

static int
keyed_query(struct db_stmt *st, const char *host, const char *user,
    const char *password, unsigned iter, account_done_cb *cb, void *arg)
{
	struct keyed_ctx *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return -1;
	x->st = st;
	snprintf(x->host, sizeof(x->host), "%s", host);
	snprintf(x->user, sizeof(x->user), "%s", user);
	x->cb = cb;
	x->arg = arg;
	if (kdf_derive(password, iter, derived, x) == NULL) {
		free(x);
		return -1;
	}
	return 0;
}

int
account_create(const char *host, const char *user, const char *password,
    unsigned iter, account_done_cb *cb, void *arg)
{
	return keyed_query(&st_create, host, user, password, iter, cb, arg);
}

int
account_set_password(const char *host, const char *user, const char *password,
    unsigned iter, account_done_cb *cb, void *arg)
{
	return keyed_query(&st_passwd, host, user, password, iter, cb, arg);
}

struct db_req *
account_delete(const char *host, const char *user, account_done_cb *cb, void *arg)
{
	const char *v[2] = { host, user };

	return query_done(&st_delete, v, cb, arg);
}

struct db_req *
account_add_sha256(const char *host, const char *user, const struct scram_keys *k,
    account_done_cb *cb, void *arg)
{
	char salt[base64_encoded_len(SCRAM_SALT_MAX)], iter[16];
	char stored[base64_encoded_len(SCRAM_HASH_MAX)], server[base64_encoded_len(SCRAM_HASH_MAX)];
	const char *v[6] = { host, user, salt, iter, stored, server };
	struct db_req *r;

	base64_encode(k->salt, k->saltlen, salt);
	snprintf(iter, sizeof(iter), "%u", k->iter);
	base64_encode(k->stored, scram_hash_len(SCRAM_SHA256), stored);
	base64_encode(k->server, scram_hash_len(SCRAM_SHA256), server);
	r = query_done(&st_add256, v, cb, arg);
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(server, sizeof(server));
	return r;
}

static int
sync_rows(PGconn *c, struct db_stmt *st, const char *const *v, char *err,
    size_t errlen)
{
	PGresult *res = db_exec_sync(c, st, v, err, errlen);
	int n;

	if (res == NULL)
		return -1;
	n = PQntuples(res) > 0;
	PQclear(res);
	return n;
}

int
account_create_sync(PGconn *c, const char *host, const char *user,
    const char *password, unsigned iter, char *err, size_t errlen)
{
	struct keyrow r;

	if (make_row(&r, host, user, password, iter) == -1) {
		snprintf(err, errlen, "key derivation failed");
		return -1;
	}
	return sync_rows(c, &st_create, r.v, err, errlen);
}

int
account_set_password_sync(PGconn *c, const char *host, const char *user,
    const char *password, unsigned iter, char *err, size_t errlen)
{
	struct keyrow r;

	if (make_row(&r, host, user, password, iter) == -1) {
		snprintf(err, errlen, "key derivation failed");
		return -1;
	}
	return sync_rows(c, &st_passwd, r.v, err, errlen);
}

int
account_delete_sync(PGconn *c, const char *host, const char *user, char *err,
    size_t errlen)
{
	const char *v[2] = { host, user };

	return sync_rows(c, &st_delete, v, err, errlen);
}

int
account_list_sync(PGconn *c, const char *host, char *err, size_t errlen)
{
	const char *v[1] = { host };
	PGresult *res = db_exec_sync(c, &st_list, v, err, errlen);

	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		printf("%s@%s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
	PQclear(res);
	return 0;
}

struct census_row {
	char *host;
	bool lacks[2];
};
static struct census_row *census;
static size_t ncensus;

bool
account_hash_offered(const char *host, enum scram_hash h)
{
	for (size_t i = 0; i < ncensus; i++)
		if (strcmp(census[i].host, host) == 0)
			return !census[i].lacks[h];
	return true;
}

static void
census_set(PGresult *res)
{
	struct census_row *n = calloc((size_t)PQntuples(res) + 1, sizeof(*n));
	size_t k = 0;

	if (n == NULL)
		return;	/* keep the last count */
	for (int i = 0; i < PQntuples(res); i++) {
		if ((n[k].host = strdup(PQgetvalue(res, i, 0))) == NULL)
			continue;
		n[k].lacks[SCRAM_SHA1] = strcmp(PQgetvalue(res, i, 1), "t") == 0;
		n[k].lacks[SCRAM_SHA256] = strcmp(PQgetvalue(res, i, 2), "t") == 0;
		k++;
	}
	for (size_t i = 0; i < ncensus; i++)
		free(census[i].host);
	free(census);
	census = n;
	ncensus = k;
}

int
account_census_sync(PGconn *c, char *err, size_t errlen)
{
	PGresult *res = db_exec_sync(c, &st_census, NULL, err, errlen);

	if (res == NULL)
		return -1;
	census_set(res);
	PQclear(res);
	return 0;
}

static void
census_got(void *arg, PGresult *res, const char *err)
{
	(void)arg;
	(void)err;
	if (res)
		census_set(res);
}

void
account_census(void)
{
	db_query(srv.db, &st_census, NULL, census_got, NULL);
}

unsigned
account_password_entropy(const char *pw)
{
	bool lower = false, upper = false, digit = false, other = false, high = false;
	unsigned pool = 0;
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)pw; *p; p++) {
		if ((*p & 0xc0) == 0x80)
			continue;	/* count code points, not bytes */
		n++;
		if (*p >= 'a' && *p <= 'z')
			lower = true;
		else if (*p >= 'A' && *p <= 'Z')
			upper = true;
		else if (*p >= '0' && *p <= '9')
			digit = true;
		else if (*p >= 0x80)
			high = true;
		else
			other = true;
	}
	pool = (lower ? 26 : 0) + (upper ? 26 : 0) + (digit ? 10 : 0) +
	    (other ? 33 : 0) + (high ? 100 : 0);
	if (pool == 0)
		return 0;
	return (unsigned)(n * log2((double)pool));
}
