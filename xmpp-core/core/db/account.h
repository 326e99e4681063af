/*
 * account — accounts and their SCRAM credentials in PostgreSQL: lookup
 * (asynchronous, for SASL), creation, password change and removal
 * (asynchronous for in-band registration, blocking for xmppctl), and the
 * password-strength check (entropy bits, as ejabberd's password_strength).
 */
#ifndef XMPP_ACCOUNT_H
#define XMPP_ACCOUNT_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "scram.h"

struct db_req;

struct account_keys {
	struct scram_keys k[2];	/* [SCRAM_SHA1], [SCRAM_SHA256] */
	bool have[2];		/* false: no keys for that hash (an imported
				 * account: 003_scram_upgrade.sql,
				 * 004_scram_optional.sql) */
};

/* found: the account exists and keys are filled; err set on DB failure. */
typedef void account_keys_cb(void *arg, bool found, const struct account_keys *k,
    const char *err);
/* ok: done (false: the account exists / does not exist); err on DB failure. */
typedef void account_done_cb(void *arg, bool ok, const char *err);

struct db_req *account_get_keys(const char *host, const char *user,
    account_keys_cb *cb, void *arg);
/*
 * Derive the keys off the loop (kdf.c), then write them: 0, or -1 when
 * the work could not be queued (cb not called then).
 */
int account_create(const char *host, const char *user,
    const char *password, unsigned iter, account_done_cb *cb, void *arg);
int account_set_password(const char *host, const char *user,
    const char *password, unsigned iter, account_done_cb *cb, void *arg);
struct db_req *account_delete(const char *host, const char *user,
    account_done_cb *cb, void *arg);
/* XEP-0480: stores SHA-256 keys for an account that has none (ok false:
 * it has them already, or is gone). */
struct db_req *account_add_sha256(const char *host, const char *user,
    const struct scram_keys *k, account_done_cb *cb, void *arg);

/* Blocking versions for xmppctl: 1 done, 0 exists/missing, -1 error. */
int account_create_sync(PGconn *c, const char *host, const char *user,
    const char *password, unsigned iter, char *err, size_t errlen);
int account_set_password_sync(PGconn *c, const char *host, const char *user,
    const char *password, unsigned iter, char *err, size_t errlen);
int account_delete_sync(PGconn *c, const char *host, const char *user,
    char *err, size_t errlen);
/* Prints "user@host" lines of a host (all hosts with NULL); -1 on error. */
int account_list_sync(PGconn *c, const char *host, char *err, size_t errlen);

/*
 * Whether every account of host has keys for hash h, so that its SCRAM
 * mechanisms may be offered (before the user is known, RFC 6120 §6.3.3).
 * Counted at start-up (account_census_sync) and again after each key
 * upgrade or password change (account_census).
 */
bool account_hash_offered(const char *host, enum scram_hash h);
int account_census_sync(PGconn *c, char *err, size_t errlen);
void account_census(void);

/* Estimated entropy of a password in bits (character classes x length). */
unsigned account_password_entropy(const char *pw);

#endif
