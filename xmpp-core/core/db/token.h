/*
 * token — XEP-0484 FAST tokens in PostgreSQL (sql/002_fast.sql): per
 * account and user-agent id the 'cur' and 'new' slots, each the SHA-256
 * of a token (fast.h), its mechanism and expiry.  Asynchronous for
 * SASL2, through the pool; listing and revocation for xmppctl.  A
 * password change (account.c) and the account's removal drop them.
 */
#ifndef XMPP_TOKEN_H
#define XMPP_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#include "fast.h"

struct db_req;
struct buf;

struct token_slot {
	bool set;		/* a token is there and has not expired */
	uint8_t key[FAST_KEY_LEN];
	char mech[FAST_MECH_MAX];
	uint64_t age_s;		/* since it was issued */
};

struct token_row {
	struct token_slot cur, next;
};

/* found: a row exists (its slots may be empty); err on DB failure. */
typedef void token_get_cb(void *arg, bool found, const struct token_row *r,
    const char *err);
/* ok: done; expiry: the new token's ("YYYY-MM-DDThh:mm:ssZ") or NULL. */
typedef void token_done_cb(void *arg, bool ok, const char *expiry,
    const char *err);

struct db_req *token_get(const char *host, const char *user, const char *agent,
    token_get_cb *cb, void *arg);
/*
 * Puts a new token (key, mech, lifetime_s) into the 'new' slot of the
 * client's row, creating it, first moving 'new' to 'cur' when promote;
 * drops the account's least recently used other rows beyond max_rows.
 */
struct db_req *token_issue(const char *host, const char *user, const char *agent,
    const char *software, const char *device, const uint8_t key[FAST_KEY_LEN],
    const char *mech, uint64_t lifetime_s, bool promote, unsigned max_rows,
    token_done_cb *cb, void *arg);
/* The 'new' token (key) was used: it becomes 'cur'.  cb may be NULL. */
struct db_req *token_promote(const char *host, const char *user,
    const char *agent, const uint8_t key[FAST_KEY_LEN], token_done_cb *cb,
    void *arg);
/* Drops the client's tokens (agent NULL: all of the account's). */
struct db_req *token_revoke(const char *host, const char *user,
    const char *agent, token_done_cb *cb, void *arg);
/* The same for xmppctl: expiry is the number of clients, as text. */
struct db_req *token_revoke_count(const char *host, const char *user,
    const char *agent, token_done_cb *cb, void *arg);
/* "agent\tsoftware\tdevice\texpires\tlast used\n" lines of an account. */
typedef void token_list_cb(void *arg, const struct buf *lines, const char *err);
struct db_req *token_list(const char *host, const char *user, token_list_cb *cb,
    void *arg);

#endif
