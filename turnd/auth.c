/*
 * auth — long-term credentials and stateless nonces.  See auth.h.
 */
#include "auth.h"
#include "config.h"
#include "crypto.h"
#include "mac.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t nonce_key[32];

size_t
auth_key(const char *user, size_t ulen, const char *realm, size_t rlen,
    const char *pass, size_t plen, bool sha256, uint8_t out[AUTH_KEY_MAX])
{
	struct iovec parts[5] = {
		{ (void *)user, ulen }, { (void *)":", 1 }, { (void *)realm, rlen },
		{ (void *)":", 1 }, { (void *)pass, plen },
	};

	return mac_digest(sha256 ? MAC_SHA256 : MAC_MD5, parts, 5, out);
}

void
auth_rest_password(const char *secret, const char *user, size_t ulen,
    char out[32])
{
	uint8_t mac[MAC_MAX_LEN];

	if (mac_hmac(MAC_SHA1, secret, strlen(secret), user, ulen, mac) == 0) {
		out[0] = '\0';
		return;
	}
	base64_encode(mac, HMAC_SHA1_LEN, out);
	explicit_bzero(mac, sizeof(mac));
}

void
auth_init(void)
{
	if (random_bytes(nonce_key, sizeof(nonce_key)) < 0)
		fatal("no randomness for the nonce key");
}

static int
nonce_mac(const struct sockaddr *client, const char hexexp[8], uint8_t mac[32])
{
	uint8_t msg[8 + 16];
	size_t len = 8;

	memcpy(msg, hexexp, 8);
	if (client->sa_family == AF_INET) {
		memcpy(msg + 8, &((const struct sockaddr_in *)client)->sin_addr, 4);
		len += 4;
	} else if (client->sa_family == AF_INET6) {
		memcpy(msg + 8, &((const struct sockaddr_in6 *)client)->sin6_addr, 16);
		len += 16;
	}
	return mac_hmac(MAC_SHA256, nonce_key, sizeof(nonce_key), msg, len, mac) ?
	    0 : -1;
}

void
auth_nonce_make(const struct sockaddr *client, time_t now, uint32_t lifetime,
    char out[AUTH_NONCE_LEN + 1])
{
	uint8_t mac[32];
	char hexexp[9];

	snprintf(hexexp, sizeof(hexexp), "%08x", (uint32_t)(now + lifetime));
	if (nonce_mac(client, hexexp, mac) < 0)
		memset(mac, 0, sizeof(mac));	/* refused by the check below */
	memcpy(out, hexexp, 8);
	hex_encode(mac, (AUTH_NONCE_LEN - 8) / 2, out + 8);
	out[AUTH_NONCE_LEN] = '\0';
}

int
auth_nonce_check(const struct sockaddr *client, time_t now,
    const uint8_t *nonce, size_t len)
{
	uint8_t mac[32], got[(AUTH_NONCE_LEN - 8) / 2];
	char hexexp[9];
	unsigned long exp;
	char *end;

	if (len != AUTH_NONCE_LEN)
		return -1;
	memcpy(hexexp, nonce, 8);
	hexexp[8] = '\0';
	exp = strtoul(hexexp, &end, 16);
	if (*end != '\0')
		return -1;
	if (hex_decode((const char *)nonce + 8, AUTH_NONCE_LEN - 8, got,
	    sizeof(got)) != (ssize_t)sizeof(got))
		return -1;
	if (nonce_mac(client, hexexp, mac) < 0 || !ct_equal(mac, got, sizeof(got)))
		return -1;
	/* 32-bit wrap-around compare so the scheme outlives 2106. */
	return (int32_t)((uint32_t)exp - (uint32_t)now) > 0 ? 0 : -1;
}

bool
auth_verify_key(struct stun_msg *m, const uint8_t *key, size_t keylen,
    bool *sha256)
{
	/* Prefer the stronger integrity when the client sent both. */
	if (m->mi256 >= 0) {
		*sha256 = true;
		return stun_check_integrity_sha256(m, key, keylen) == 1;
	}
	*sha256 = false;
	return stun_check_integrity(m, key, keylen) == 1;
}

/* "<digits>" or "<digits>:<anything>": the expiry, or -1. */
static long long
rest_expiry(const char *user, size_t ulen)
{
	long long v = 0;
	size_t i;

	for (i = 0; i < ulen && user[i] >= '0' && user[i] <= '9'; i++) {
		if (v > 1000000000000LL)
			return -1;
		v = v * 10 + (user[i] - '0');
	}
	if (i == 0 || (i < ulen && user[i] != ':'))
		return -1;
	return v;
}

static bool
try_password(const struct turnd_config *c, struct stun_msg *m,
    const char *user, size_t ulen, const char *pass, uint8_t *key,
    size_t *keylen, bool *sha256)
{
	const struct stun_attr *pa = stun_attr_get(m, STUN_A_PASSWORD_ALGORITHM);
	/* RFC 8489 §18.5.1.2: SHA-256 keys only when the client asked. */
	bool want256 = pa != NULL && pa->len >= 2 && rd16(pa->val) == 0x0002;

	*keylen = auth_key(user, ulen, c->realm, strlen(c->realm), pass,
	    strlen(pass), want256, key);
	return *keylen > 0 && auth_verify_key(m, key, *keylen, sha256);
}

static bool
is_static(const struct turnd_config *c, const char *user, size_t ulen)
{
	for (size_t i = 0; i < c->nusers; i++)
		if (strlen(c->users[i].name) == ulen &&
		    memcmp(c->users[i].name, user, ulen) == 0)
			return true;
	return false;
}

bool
auth_expired(const struct turnd_config *c, const char *user, size_t ulen,
    time_t now)
{
	long long exp;

	if (is_static(c, user, ulen))
		return false;
	exp = rest_expiry(user, ulen);
	return exp < 0 || exp <= (long long)now;
}

enum auth_result
auth_verify(const struct turnd_config *c, struct stun_msg *m, const char *user,
    size_t ulen, time_t now, uint8_t key[AUTH_KEY_MAX], size_t *keylen,
    bool *sha256)
{
	long long exp;
	char pw[32];

	for (size_t i = 0; i < c->nusers; i++) {
		if (strlen(c->users[i].name) == ulen &&
		    memcmp(c->users[i].name, user, ulen) == 0)
			return try_password(c, m, user, ulen, c->users[i].password,
			    key, keylen, sha256) ? AUTH_OK : AUTH_BAD;
	}
	if (c->nsecrets == 0 || (exp = rest_expiry(user, ulen)) < 0)
		return AUTH_BAD;
	if (exp <= (long long)now)
		return AUTH_BAD;	/* expired REST credentials */
	for (size_t i = 0; i < c->nsecrets; i++) {
		bool ok;

		auth_rest_password(c->secrets[i], user, ulen, pw);
		ok = pw[0] != '\0' &&
		    try_password(c, m, user, ulen, pw, key, keylen, sha256);
		explicit_bzero(pw, sizeof(pw));
		if (ok)
			return AUTH_OK;
	}
	explicit_bzero(key, AUTH_KEY_MAX);
	return AUTH_BAD;
}

const char *
auth_display_user(const char *user)
{
	const char *p = user;

	while (*p >= '0' && *p <= '9')
		p++;
	if (p != user && *p == ':')
		return p + 1;
	return user;
}
