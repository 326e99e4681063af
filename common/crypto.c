/*
 * crypto — HMAC, codecs, constant-time compare, random.  See crypto.h.
 */
#include "crypto.h"

#include <string.h>
#include <sys/types.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

static int
hmac_any(const EVP_MD *md, const void *key, size_t keylen, const void *msg,
    size_t msglen, uint8_t *out, unsigned want)
{
	unsigned outlen = 0;

	if (HMAC(md, key, (int)keylen, msg, msglen, out, &outlen) == NULL ||
	    outlen != want)
		return -1;
	return 0;
}

int
hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
    uint8_t out[HMAC_SHA256_LEN])
{
	return hmac_any(EVP_sha256(), key, keylen, msg, msglen, out,
	    HMAC_SHA256_LEN);
}

int
hmac_sha1(const void *key, size_t keylen, const void *msg, size_t msglen,
    uint8_t out[HMAC_SHA1_LEN])
{
	return hmac_any(EVP_sha1(), key, keylen, msg, msglen, out, HMAC_SHA1_LEN);
}

char *
hex_encode(const void *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = in;

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
	return out;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t
hex_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap)
{
	if (inlen % 2 != 0 || inlen / 2 > outcap)
		return -1;
	for (size_t i = 0; i < inlen / 2; i++) {
		int hi = hexval((unsigned char)in[2 * i]);
		int lo = hexval((unsigned char)in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return (ssize_t)(inlen / 2);
}

size_t
base64_encode(const void *in, size_t len, char *out)
{
	int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);

	return n < 0 ? 0 : (size_t)n;
}

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

ssize_t
base64_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap)
{
	size_t n = 0;

	if (inlen % 4 != 0)
		return -1;
	for (size_t i = 0; i < inlen; i += 4) {
		int v[4], pad = 0;

		for (int j = 0; j < 4; j++) {
			int c = (unsigned char)in[i + j];

			if (c == '=' && i + 4 == inlen && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad || (v[j] = b64val(c)) < 0)
				return -1;
		}
		if (n + 3 - (size_t)pad > outcap)
			return -1;
		out[n++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[n++] = (uint8_t)(v[1] << 4 | v[2] >> 2);
		if (pad < 1)
			out[n++] = (uint8_t)(v[2] << 6 | v[3]);
	}
	return (ssize_t)n;
}

int
ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

int
random_bytes(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

int
random_hex(char *out, size_t len)
{
	uint8_t tmp[256];

	if (len > sizeof(tmp) || random_bytes(tmp, len) < 0)
		return -1;
	hex_encode(tmp, len, out);
	OPENSSL_cleanse(tmp, len);
	return 0;
}
