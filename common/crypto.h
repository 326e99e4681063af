/*
 * crypto — the small set of primitives every daemon needs, on OpenSSL.
 *
 * HMAC for the shared-secret schemes (upload slots, TURN REST credentials),
 * hex/base64 codecs, constant-time comparison, CSPRNG tokens.  Functions
 * return 0 / -1 or a length; none of them logs.
 */
#ifndef EDGE_CRYPTO_H
#define EDGE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HMAC_SHA256_LEN 32
#define HMAC_SHA1_LEN 20

int hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
    uint8_t out[HMAC_SHA256_LEN]);
int hmac_sha1(const void *key, size_t keylen, const void *msg, size_t msglen,
    uint8_t out[HMAC_SHA1_LEN]);

/* Lower-case hex; out needs 2*len+1 bytes.  Returns out. */
char *hex_encode(const void *in, size_t len, char *out);
/* Either case; -1 on odd length, bad digit or overflow of outcap. */
ssize_t hex_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap);

/* Standard alphabet with padding; out needs base64_encoded_len(len) bytes. */
#define base64_encoded_len(n) ((((n) + 2) / 3) * 4 + 1)
size_t base64_encode(const void *in, size_t len, char *out);
/* Strict standard alphabet, padding required; -1 on error. */
ssize_t base64_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap);

/* 1 when equal; time depends only on len. */
int ct_equal(const void *a, const void *b, size_t len);

int random_bytes(void *buf, size_t len);
/* len random bytes as lower-case hex into out (2*len+1). */
int random_hex(char *out, size_t len);

#endif
