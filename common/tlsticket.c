/*
 * tlsticket — session ticket keys from a file.  See tlsticket.h.
 */
#include "tlsticket.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "conf.h"
#include "crypto.h"
#include "tls.h"

struct ticket_key {
	uint8_t name[16], aes[32], hmac[32];
};

struct tlsticket_keys {
	size_t n;
	struct ticket_key k[TLS_TICKET_KEYS_MAX];	/* [0] seals */
};

/*
 * Seals (enc) or opens a ticket with our keys: AES-256-CBC and
 * HMAC-SHA-256 under the key named in the ticket.  Opening with an older
 * key than the current one asks OpenSSL for a fresh ticket (2); an
 * unknown name is a full handshake (0), never an error.
 */
int
tlsticket_crypt(const struct tlsticket_keys *t, unsigned char *name,
    unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	const struct ticket_key *k = NULL;
	OSSL_PARAM params[2];
	size_t i;

	if (t == NULL || t->n == 0)
		return enc ? -1 : 0;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (enc) {
		k = &t->k[0];
		memcpy(name, k->name, sizeof(k->name));
		if (RAND_bytes(iv, 16) != 1 ||
		    EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1 ||
		    EVP_MAC_init(hctx, k->hmac, sizeof(k->hmac), params) != 1)
			return -1;
		return 1;
	}
	for (i = 0; i < t->n && k == NULL; i++)
		if (CRYPTO_memcmp(name, t->k[i].name, sizeof(t->k[i].name)) == 0)
			k = &t->k[i];
	if (k == NULL)
		return 0;
	if (EVP_MAC_init(hctx, k->hmac, sizeof(k->hmac), params) != 1 ||
	    EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
		return -1;
	return k == &t->k[0] ? 1 : 2;
}

/*
 * The key file: one key per line, 160 hex digits (80 bytes: name, AES
 * key, HMAC key; `openssl rand -hex 80`), the newest first; at most
 * TLS_TICKET_KEYS_MAX lines.  A secret: refused when group or other may
 * read it.
 */
struct tlsticket_keys *
tlsticket_load(const char *path, char *err, size_t errlen)
{
	struct tlsticket_keys *t = calloc(1, sizeof(*t));
	struct conf_err ce;
	char *text = NULL, *line, *save = NULL;
	uint8_t raw[80];

	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (conf_read_secret_file(path, &text, &ce) == -1) {
		snprintf(err, errlen, "%s", ce.msg);
		goto fail;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t len = strcspn(line, " \t\r");

		if (len == 0 || line[0] == '#')
			continue;
		if (t->n == TLS_TICKET_KEYS_MAX || len != 160 ||
		    hex_decode(line, len, raw, sizeof(raw)) != (ssize_t)sizeof(raw)) {
			snprintf(err, errlen, "%s: key %zu: %s", path, t->n + 1,
			    t->n == TLS_TICKET_KEYS_MAX ? "too many keys" :
			    "not 160 hex digits");
			goto fail;
		}
		memcpy(t->k[t->n].name, raw, 16);
		memcpy(t->k[t->n].aes, raw + 16, 32);
		memcpy(t->k[t->n].hmac, raw + 48, 32);
		t->n++;
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	if (t->n == 0) {
		snprintf(err, errlen, "%s: no key", path);
		goto fail;
	}
	conf_secret_free(text);
	return t;
fail:
	OPENSSL_cleanse(raw, sizeof(raw));
	conf_secret_free(text);
	OPENSSL_cleanse(t, sizeof(*t));
	free(t);
	return NULL;
}

void
tlsticket_free(struct tlsticket_keys *t)
{
	if (t) {
		OPENSSL_cleanse(t, sizeof(*t));
		free(t);
	}
}
