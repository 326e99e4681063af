/*
 * fast — FAST tokens and the HT mechanisms.  See fast.h.
 */
#include "fast.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto.h"

/* HT §3.3: the mechanism's suffix names the channel binding */
static const struct {
	const char *mech, *cb;
} mechs[FAST_NCB] = {
	[FAST_NONE] = { "HT-SHA-256-NONE", NULL },
	[FAST_ENDP] = { "HT-SHA-256-ENDP", "tls-server-end-point" },
	[FAST_EXPR] = { "HT-SHA-256-EXPR", "tls-exporter" },
	[FAST_UNIQ] = { "HT-SHA-256-UNIQ", "tls-unique" },
};

const char *
fast_mech_name(enum fast_cb cb)
{
	return mechs[cb].mech;
}

const char *
fast_cb_type(enum fast_cb cb)
{
	return mechs[cb].cb;
}

int
fast_mech_parse(const char *name, enum fast_cb *cb)
{
	for (int i = 0; i < FAST_NCB; i++) {
		if (strcmp(name, mechs[i].mech) == 0) {
			*cb = (enum fast_cb)i;
			return 0;
		}
	}
	return -1;
}

void
fast_token_key(const char *token, size_t len, uint8_t key[FAST_KEY_LEN])
{
	unsigned n = 0;

	(void)EVP_Digest(token, len, key, &n, EVP_sha256(), NULL);
}

int
fast_token_new(char *token, uint8_t key[FAST_KEY_LEN])
{
	uint8_t rnd[FAST_TOKEN_LEN / 4 * 3];

	if (random_bytes(rnd, sizeof(rnd)) == -1)
		return -1;
	base64_encode(rnd, sizeof(rnd), token);
	OPENSSL_cleanse(rnd, sizeof(rnd));
	fast_token_key(token, FAST_TOKEN_LEN, key);
	return 0;
}

void
fast_ht_mac(const uint8_t key[FAST_KEY_LEN], const char *label,
    const uint8_t *cb, size_t cblen, uint8_t out[FAST_MAC_LEN])
{
	uint8_t msg[16 + 128];
	size_t l = strlen(label);
	unsigned n = 0;

	if (l > 16 || cblen > 128)
		cblen = 0;	/* never: labels and bindings are ours */
	memcpy(msg, label, l);
	if (cblen)
		memcpy(msg + l, cb, cblen);
	(void)HMAC(EVP_sha256(), key, FAST_KEY_LEN, msg, l + cblen, out, &n);
}

int
fast_ht_parse(const char *msg, size_t len, char *authcid, size_t cap,
    uint8_t mac[FAST_MAC_LEN])
{
	const char *nul = memchr(msg, '\0', len);
	size_t alen;

	if (nul == NULL || (alen = (size_t)(nul - msg)) == 0 || alen >= cap ||
	    len - alen - 1 != FAST_MAC_LEN)
		return -1;
	memcpy(authcid, msg, alen);
	authcid[alen] = '\0';
	memcpy(mac, nul + 1, FAST_MAC_LEN);
	return 0;
}
