/*
 * mac — the digests and HMACs of the STUN/TURN hot control path (message
 * integrity, REST passwords, long-term keys, nonces).  OpenSSL 3's
 * one-shot HMAC() and implicitly fetched digests cost several µs per call
 * in provider lookups; here each algorithm is fetched once and one digest
 * context is reused, which makes an allocation a third cheaper.
 * Single-threaded like the rest of turnd.
 */
#ifndef TURND_MAC_H
#define TURND_MAC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum mac_alg {
	MAC_MD5,
	MAC_SHA1,
	MAC_SHA256,
};

#define MAC_MAX_LEN 32

/* Digest of the concatenated parts into out; its length, 0 on failure. */
size_t mac_digest(enum mac_alg alg, const struct iovec *parts, int nparts,
    uint8_t out[MAC_MAX_LEN]);
/* HMAC (RFC 2104) of msg under key; its length, 0 on failure. */
size_t mac_hmac(enum mac_alg alg, const void *key, size_t keylen,
    const void *msg, size_t len, uint8_t out[MAC_MAX_LEN]);

#endif
