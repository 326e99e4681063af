/*
 * dialback — Server Dialback keys (XEP-0220 §2.1.1, generated as
 * XEP-0185 recommends): HMAC-SHA256 keyed with the hex SHA-256 of a
 * secret over "Receiving Server, ' ', Originating Server, ' ', Stream
 * ID", hex encoded.  Only we ever check our own keys, so the secret
 * never leaves the process.
 */
#ifndef XMPP_DIALBACK_H
#define XMPP_DIALBACK_H

#include <stdbool.h>
#include <stddef.h>

#define DIALBACK_KEY_LEN 64	/* hex characters */

/* Keys from now on use this secret (copied); 0 or -1. */
int dialback_set_secret(const char *secret, size_t len);
/* Forgets the secret (wiped). */
void dialback_clear(void);
/* out: DIALBACK_KEY_LEN + 1 bytes. */
int dialback_key(const char *receiving, const char *originating,
    const char *stream_id, char *out);
/* The same over an explicit secret (unit tests). */
int dialback_key_with(const char *secret, size_t len, const char *receiving,
    const char *originating, const char *stream_id, char *out);
/* Whether key is the one we would have made, in constant time. */
bool dialback_check(const char *receiving, const char *originating,
    const char *stream_id, const char *key);

#endif
