/*
 * auth — TURN long-term credentials (RFC 8489 §9.2).
 *
 * Users come from the TURN REST API scheme XMPP servers hand out over
 * XEP-0215 (username "<expiry-unix-time>:<user>", password
 * base64(HMAC-SHA1(secret, username)), several secrets accepted for
 * rotation) or from static users in the config.  Nonces are stateless:
 * expiry time plus an HMAC over it and the client's IP under a key drawn
 * at start-up, so a stale one is recognised (438) without a table.
 */
#ifndef TURND_AUTH_H
#define TURND_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "stun.h"

struct turnd_config;

#define AUTH_KEY_MAX	32	/* SHA-256 key; MD5 keys are 16 */
#define AUTH_NONCE_LEN	32
#define AUTH_USER_MAX	512

/* key = MD5 or SHA-256 of "user:realm:password"; returns its length. */
size_t auth_key(const char *user, size_t ulen, const char *realm, size_t rlen,
    const char *pass, size_t plen, bool sha256, uint8_t out[AUTH_KEY_MAX]);

/* REST password for a username under secret: base64 into out (29+ bytes). */
void auth_rest_password(const char *secret, const char *user, size_t ulen,
    char out[32]);

void auth_init(void);	/* draws the nonce key */
void auth_nonce_make(const struct sockaddr *client, time_t now,
    uint32_t lifetime, char out[AUTH_NONCE_LEN + 1]);
/* 0 fresh, -1 expired or not ours. */
int auth_nonce_check(const struct sockaddr *client, time_t now,
    const uint8_t *nonce, size_t len);

enum auth_result {
	AUTH_OK,
	AUTH_BAD,	/* unknown user, expired REST username, wrong MAC: 401 */
};

/*
 * Finds the key under which m's integrity verifies for this username,
 * trying every configured secret.  On AUTH_OK, key/keylen hold it and
 * *sha256 says which integrity attribute was used.
 */
enum auth_result auth_verify(const struct turnd_config *c, struct stun_msg *m,
    const char *user, size_t ulen, time_t now, uint8_t key[AUTH_KEY_MAX],
    size_t *keylen, bool *sha256);

/* A REST username whose expiry has passed (static users never expire). */
bool auth_expired(const struct turnd_config *c, const char *user, size_t ulen,
    time_t now);

/* Verifies m against a known key (later requests of an allocation). */
bool auth_verify_key(struct stun_msg *m, const uint8_t *key, size_t keylen,
    bool *sha256);

/* The user part of a REST username ("1700000000:alice" -> "alice"). */
const char *auth_display_user(const char *user);

#endif
