/*
 * dialback — key generation and checking.  See dialback.h.
 */
#include "dialback.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "crypto.h"

/* hex(SHA-256(secret)): the HMAC key XEP-0185 §2 names */
static char hkey[2 * SHA256_DIGEST_LENGTH + 1];
static bool have_key;

static void
derive(const char *secret, size_t len, char out[2 * SHA256_DIGEST_LENGTH + 1])
{
	unsigned char d[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)secret, len, d);
	hex_encode(d, sizeof(d), out);
	OPENSSL_cleanse(d, sizeof(d));
}

int
dialback_set_secret(const char *secret, size_t len)
{
	derive(secret, len, hkey);
	have_key = true;
	return 0;
}

void
dialback_clear(void)
{
	OPENSSL_cleanse(hkey, sizeof(hkey));
	have_key = false;
}

static int
mac(const char *k, const char *receiving, const char *originating,
    const char *stream_id, char *out)
{
	uint8_t m[HMAC_SHA256_LEN];
	char *msg;
	size_t n = strlen(receiving) + strlen(originating) + strlen(stream_id) + 3;
	int rc;

	if ((msg = malloc(n)) == NULL)
		return -1;
	snprintf(msg, n, "%s %s %s", receiving, originating, stream_id);
	rc = hmac_sha256(k, strlen(k), msg, strlen(msg), m);
	free(msg);
	if (rc == -1)
		return -1;
	hex_encode(m, sizeof(m), out);
	return 0;
}

int
dialback_key_with(const char *secret, size_t len, const char *receiving,
    const char *originating, const char *stream_id, char *out)
{
	char k[2 * SHA256_DIGEST_LENGTH + 1];
	int rc;

	derive(secret, len, k);
	rc = mac(k, receiving, originating, stream_id, out);
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

int
dialback_key(const char *receiving, const char *originating,
    const char *stream_id, char *out)
{
	if (!have_key)
		return -1;
	return mac(hkey, receiving, originating, stream_id, out);
}

bool
dialback_check(const char *receiving, const char *originating,
    const char *stream_id, const char *key)
{
	char want[DIALBACK_KEY_LEN + 1];

	if (strlen(key) != DIALBACK_KEY_LEN ||
	    dialback_key(receiving, originating, stream_id, want) == -1)
		return false;
	return ct_equal(want, key, DIALBACK_KEY_LEN) == 1;
}
