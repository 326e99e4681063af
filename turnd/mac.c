/*
 * mac — digests and HMAC with algorithms fetched once.  See mac.h.
 */
#include "mac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#define BLOCK 64	/* MD5, SHA-1 and SHA-256 all use 64-byte blocks */

static EVP_MD *mds[3];
static EVP_MD_CTX *ctx;

static const EVP_MD *
md_get(enum mac_alg alg)
{
	static const char *const names[3] = { "MD5", "SHA1", "SHA256" };

	if (ctx == NULL && (ctx = EVP_MD_CTX_new()) == NULL)
		return NULL;
	if (mds[alg] == NULL)
		mds[alg] = EVP_MD_fetch(NULL, names[alg], NULL);
	return mds[alg];
}

size_t
mac_digest(enum mac_alg alg, const struct iovec *parts, int nparts,
    uint8_t out[MAC_MAX_LEN])
{
	const EVP_MD *md = md_get(alg);
	unsigned int len = 0;

	if (md == NULL || EVP_DigestInit_ex2(ctx, md, NULL) != 1)
		return 0;
	for (int i = 0; i < nparts; i++)
		if (EVP_DigestUpdate(ctx, parts[i].iov_base, parts[i].iov_len) != 1)
			return 0;
	if (EVP_DigestFinal_ex(ctx, out, &len) != 1)
		return 0;
	return len;
}

size_t
mac_hmac(enum mac_alg alg, const void *key, size_t keylen, const void *msg,
    size_t len, uint8_t out[MAC_MAX_LEN])
{
	uint8_t k[BLOCK], pad[BLOCK], inner[MAC_MAX_LEN];
	struct iovec iov[2];
	size_t n;

	memset(k, 0, sizeof(k));
	if (keylen > BLOCK) {
		iov[0].iov_base = (void *)key;
		iov[0].iov_len = keylen;
		if (mac_digest(alg, iov, 1, k) == 0)
			return 0;
	} else if (keylen > 0) {
		memcpy(k, key, keylen);
	}
	for (int i = 0; i < BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	iov[0].iov_base = pad;
	iov[0].iov_len = BLOCK;
	iov[1].iov_base = (void *)msg;
	iov[1].iov_len = len;
	if ((n = mac_digest(alg, iov, 2, inner)) == 0)
		goto out;
	for (int i = 0; i < BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	iov[1].iov_base = inner;
	iov[1].iov_len = n;
	n = mac_digest(alg, iov, 2, out);
out:
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	return n;
}
