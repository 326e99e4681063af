/*
 * scram — SCRAM server and credential derivation.  See scram.h.
 */
#include "scram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "crypto.h"

enum { ST_NONE, ST_FIRST, ST_SENT, ST_DONE };

static const EVP_MD *
md_of(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

size_t
scram_hash_len(enum scram_hash h)
{
	return h == SCRAM_SHA1 ? 20 : 32;
}

const char *
scram_mech_name(enum scram_hash h, bool plus)
{
	if (h == SCRAM_SHA1)
		return plus ? "SCRAM-SHA-1-PLUS" : "SCRAM-SHA-1";
	return plus ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256";
}

static int
hmac(enum scram_hash h, const uint8_t *key, size_t keylen, const void *msg,
    size_t len, uint8_t *out)
{
	unsigned outlen = 0;

	if (HMAC(md_of(h), key, (int)keylen, msg, len, out, &outlen) == NULL)
		return -1;
	return outlen == scram_hash_len(h) ? 0 : -1;
}

static int
hash(enum scram_hash h, const uint8_t *in, size_t len, uint8_t *out)
{
	unsigned outlen = 0;

	if (EVP_Digest(in, len, out, &outlen, md_of(h), NULL) != 1)
		return -1;
	return 0;
}

int
scram_keys_from_salted(enum scram_hash h, const uint8_t *salted,
    const uint8_t *salt, size_t saltlen, unsigned iter, struct scram_keys *out)
{
	uint8_t ckey[SCRAM_HASH_MAX];
	size_t hl = scram_hash_len(h);
	int rc = -1;

	if (saltlen == 0 || saltlen > SCRAM_SALT_MAX || iter == 0)
		return -1;
	if (hmac(h, salted, hl, "Client Key", 10, ckey) == -1 ||
	    hash(h, ckey, hl, out->stored) == -1 ||
	    hmac(h, salted, hl, "Server Key", 10, out->server) == -1)
		goto out;
	if (out->salt != salt)
		memcpy(out->salt, salt, saltlen);
	out->saltlen = saltlen;
	out->iter = iter;
	rc = 0;
out:
	OPENSSL_cleanse(ckey, sizeof(ckey));
	return rc;
}

int
scram_derive(enum scram_hash h, const char *password, size_t pwlen,
    const uint8_t *salt, size_t saltlen, unsigned iter, struct scram_keys *out)
{
	uint8_t salted[SCRAM_HASH_MAX];
	int rc;

	if (saltlen == 0 || saltlen > SCRAM_SALT_MAX || iter == 0)
		return -1;
	if (PKCS5_PBKDF2_HMAC(password, (int)pwlen, salt, (int)saltlen,
	    (int)iter, md_of(h), (int)scram_hash_len(h), salted) != 1)
		return -1;
	rc = scram_keys_from_salted(h, salted, salt, saltlen, iter, out);
	OPENSSL_cleanse(salted, sizeof(salted));
	return rc;
}

int
scram_make_keys(enum scram_hash h, const char *password, unsigned iter,
    struct scram_keys *out)
{
	uint8_t salt[SCRAM_SALT_LEN];

	if (random_bytes(salt, sizeof(salt)) == -1)
		return -1;
	return scram_derive(h, password, strlen(password), salt, sizeof(salt),
	    iter, out);
}

bool
scram_check_password(enum scram_hash h, const struct scram_keys *k,
    const char *password, size_t pwlen)
{
	struct scram_keys t;
	bool ok;

	if (scram_derive(h, password, pwlen, k->salt, k->saltlen, k->iter, &t) == -1)
		return false;
	ok = CRYPTO_memcmp(t.stored, k->stored, scram_hash_len(h)) == 0;
	OPENSSL_cleanse(&t, sizeof(t));
	return ok;
}

/* RFC 5802 §5.1: saslname with =2C and =3D escapes. */
static int
decode_saslname(const char *in, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '=') {
			if (i + 3 > len)
				return -1;
			if (strncmp(in + i, "=2C", 3) == 0)
				c = ',';
			else if (strncmp(in + i, "=3D", 3) == 0)
				c = '=';
			else
				return -1;
			i += 2;
		} else if (c == ',' || c == '\0') {
			return -1;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* Next comma-separated attribute "k=value"; value is not NUL-terminated. */
static int
next_attr(const char **p, const char *end, char *key, const char **val,
    size_t *vlen)
{
	const char *q;

	if (*p >= end || end - *p < 2 || (*p)[1] != '=')
		return -1;
	*key = (*p)[0];
	*val = *p + 2;
	q = memchr(*val, ',', (size_t)(end - *val));
	if (q == NULL)
		q = end;
	*vlen = (size_t)(q - *val);
	*p = q < end ? q + 1 : end;
	return 0;
}

static bool
printable_nonce(const char *v, size_t n)
{
	if (n == 0 || n > SCRAM_NONCE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] < 0x21 || v[i] > 0x7e || v[i] == ',')
			return false;
	return true;
}

int
scram_server_start(struct scram_server *s, enum scram_hash h, bool plus,
    bool plus_offered, const char *msg, size_t len, const char **err)
{
	const char *p = msg, *end = msg + len, *comma, *v;
	size_t vlen;
	char k;

	memset(s, 0, sizeof(*s));
	s->h = h;
	s->plus = plus;
	s->plus_offered = plus_offered;
	*err = "malformed-request";
	if (len == 0 || len > SCRAM_MSG_MAX || memchr(msg, '\0', len))
		return -1;
	/* gs2-cbind-flag */
	if (len >= 2 && strncmp(p, "n,", 2) == 0) {
		if (plus)
			return -1;
		p += 2;
	} else if (len >= 2 && strncmp(p, "y,", 2) == 0) {
		/* RFC 5802 §6: the client thinks we cannot bind; we can */
		if (plus || plus_offered) {
			*err = "not-authorized";
			return -1;
		}
		p += 2;
	} else if (len >= 2 && strncmp(p, "p=", 2) == 0) {
		if (!plus)
			return -1;
		comma = memchr(p, ',', (size_t)(end - p));
		if (comma == NULL || (size_t)(comma - p - 2) >= sizeof(s->cb_type) ||
		    comma == p + 2)
			return -1;
		memcpy(s->cb_type, p + 2, (size_t)(comma - p - 2));
		p = comma + 1;
	} else {
		return -1;
	}
	/* authzid */
	comma = memchr(p, ',', (size_t)(end - p));
	if (comma == NULL)
		return -1;
	if (comma > p) {
		if (comma - p < 2 || strncmp(p, "a=", 2) != 0 ||
		    decode_saslname(p + 2, (size_t)(comma - p - 2), s->authzid,
		    sizeof(s->authzid)) == -1)
			return -1;
	}
	p = comma + 1;
	if ((size_t)(p - msg) >= sizeof(s->gs2))
		return -1;
	memcpy(s->gs2, msg, (size_t)(p - msg));
	s->gs2[p - msg] = '\0';
	if ((s->client_first_bare = strndup(p, (size_t)(end - p))) == NULL) {
		*err = "temporary-auth-failure";
		return -1;
	}
	/* client-first-message-bare: [reserved-mext ","] n=user,r=nonce[,ext] */
	if (next_attr(&p, end, &k, &v, &vlen) == -1 || k != 'n' ||
	    decode_saslname(v, vlen, s->user, sizeof(s->user)) == -1 ||
	    s->user[0] == '\0')
		goto fail;
	if (next_attr(&p, end, &k, &v, &vlen) == -1 || k != 'r' ||
	    !printable_nonce(v, vlen))
		goto fail;
	memcpy(s->cnonce, v, vlen);
	s->cnonce[vlen] = '\0';
	/* extensions must at least be well-formed; m= (RFC 5802 §5.1, a
	 * mandatory extension we do not know) wherever it stands fails */
	while (p < end)
		if (next_attr(&p, end, &k, &v, &vlen) == -1 || k == 'm')
			goto fail;
	s->state = ST_FIRST;
	return 0;
fail:
	scram_server_clear(s);
	return -1;
}

const char *
scram_server_first(struct scram_server *s, const struct scram_keys *keys,
    const char *snonce)
{
	char rnd[2 * 18 + 1], salt64[base64_encoded_len(SCRAM_SALT_MAX)];
	int n;

	if (s->state != ST_FIRST)
		return NULL;
	if (snonce == NULL) {
		if (random_hex(rnd, 18) == -1)
			return NULL;
		snonce = rnd;
	}
	snprintf(s->nonce, sizeof(s->nonce), "%s%s", s->cnonce, snonce);
	s->keys = *keys;
	base64_encode(keys->salt, keys->saltlen, salt64);
	n = snprintf(NULL, 0, "r=%s,s=%s,i=%u%s%s", s->nonce, salt64, keys->iter,
	    s->ssdp[0] ? ",h=" : "", s->ssdp);
	if ((s->server_first = malloc((size_t)n + 1)) == NULL)
		return NULL;
	snprintf(s->server_first, (size_t)n + 1, "r=%s,s=%s,i=%u%s%s", s->nonce,
	    salt64, keys->iter, s->ssdp[0] ? ",h=" : "", s->ssdp);
	s->state = ST_SENT;
	return s->server_first;
}

static int
check_cbind(struct scram_server *s, const char *v, size_t vlen,
    const uint8_t *cb, size_t cblen)
{
	uint8_t expect[sizeof(s->gs2) + 128], got[sizeof(expect)];
	size_t glen = strlen(s->gs2), elen = glen;
	ssize_t n;

	memcpy(expect, s->gs2, glen);
	if (s->cb_type[0]) {
		if (cb == NULL || cblen == 0 || cblen > 128)
			return -1;
		memcpy(expect + glen, cb, cblen);
		elen += cblen;
	}
	n = base64_decode(v, vlen, got, sizeof(got));
	if (n < 0 || (size_t)n != elen)
		return -1;
	return CRYPTO_memcmp(got, expect, elen) == 0 ? 0 : -1;
}

int
scram_server_final(struct scram_server *s, const char *msg, size_t len,
    const uint8_t *cb, size_t cblen, char *out, size_t outlen,
    const char **err)
{
	uint8_t proof[SCRAM_HASH_MAX + 4], sig[SCRAM_HASH_MAX], ckey[SCRAM_HASH_MAX];
	uint8_t stored[SCRAM_HASH_MAX], ssig[SCRAM_HASH_MAX];
	char ssig64[base64_encoded_len(SCRAM_HASH_MAX)];
	const char *p = msg, *end = msg + len, *v, *pstart;
	size_t vlen, hl = scram_hash_len(s->h);
	char *am = NULL;
	ssize_t plen;
	int amlen, rc = -1;
	char k;

	*err = "malformed-request";
	if (s->state != ST_SENT || len == 0 || len > SCRAM_MSG_MAX ||
	    memchr(msg, '\0', len))
		goto out;
	s->state = ST_DONE;
	if (next_attr(&p, end, &k, &v, &vlen) == -1 || k != 'c')
		goto out;
	if (check_cbind(s, v, vlen, cb, cblen) == -1) {
		*err = "not-authorized";
		goto out;
	}
	if (next_attr(&p, end, &k, &v, &vlen) == -1 || k != 'r' ||
	    vlen != strlen(s->nonce) || memcmp(v, s->nonce, vlen) != 0) {
		*err = "not-authorized";
		goto out;
	}
	/* extensions (never m=, RFC 5802 §5.1), then p= last */
	for (;;) {
		pstart = p;
		if (next_attr(&p, end, &k, &v, &vlen) == -1 || k == 'm')
			goto out;
		if (k == 'p')
			break;
	}
	if (p != end)
		goto out;
	plen = base64_decode(v, vlen, proof, sizeof(proof));
	if (plen < 0 || (size_t)plen != hl)
		goto out;
	/* AuthMessage = client-first-bare "," server-first "," final-without-proof */
	amlen = snprintf(NULL, 0, "%s,%s,%.*s", s->client_first_bare,
	    s->server_first, (int)(pstart - 1 - msg), msg);
	if (amlen < 0 || (am = malloc((size_t)amlen + 1)) == NULL) {
		*err = "temporary-auth-failure";
		goto out;
	}
	snprintf(am, (size_t)amlen + 1, "%s,%s,%.*s", s->client_first_bare,
	    s->server_first, (int)(pstart - 1 - msg), msg);
	*err = "temporary-auth-failure";
	if (hmac(s->h, s->keys.stored, hl, am, (size_t)amlen, sig) == -1)
		goto out;
	for (size_t i = 0; i < hl; i++)
		ckey[i] = proof[i] ^ sig[i];
	if (hash(s->h, ckey, hl, stored) == -1)
		goto out;
	if (CRYPTO_memcmp(stored, s->keys.stored, hl) != 0) {
		*err = "not-authorized";
		goto out;
	}
	if (hmac(s->h, s->keys.server, hl, am, (size_t)amlen, ssig) == -1)
		goto out;
	base64_encode(ssig, hl, ssig64);
	if ((size_t)snprintf(out, outlen, "v=%s", ssig64) >= outlen)
		goto out;
	rc = 0;
out:
	free(am);
	OPENSSL_cleanse(ckey, sizeof(ckey));
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	/* "i;octet" (RFC 4790 §9.3): strcmp compares unsigned bytes */
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends the sorted list joined by 0x1E; -1 when it does not fit. */
static int
ssdp_list(char *s, size_t *len, size_t cap, const char *const *v, size_t n)
{
	const char *sorted[16];

	if (n > sizeof(sorted) / sizeof(sorted[0]))
		return -1;
	memcpy(sorted, v, n * sizeof(*v));
	qsort(sorted, n, sizeof(*sorted), cmp_str);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(sorted[i]);

		if (*len + l + 2 > cap)
			return -1;
		if (i > 0)
			s[(*len)++] = 0x1e;
		memcpy(s + *len, sorted[i], l);
		*len += l;
	}
	return 0;
}

int
scram_ssdp(enum scram_hash h, const char *const *mechs, size_t nmechs,
    const char *const *cbs, size_t ncbs, char *out, size_t outlen)
{
	uint8_t d[SCRAM_HASH_MAX];
	char s[1024];
	size_t len = 0;

	if (ssdp_list(s, &len, sizeof(s), mechs, nmechs) == -1)
		return -1;
	if (cbs != NULL) {
		s[len++] = 0x1f;
		if (ssdp_list(s, &len, sizeof(s), cbs, ncbs) == -1)
			return -1;
	}
	if (hash(h, (const uint8_t *)s, len, d) == -1 ||
	    base64_encoded_len(scram_hash_len(h)) > outlen)
		return -1;
	base64_encode(d, scram_hash_len(h), out);
	return 0;
}

void
scram_server_clear(struct scram_server *s)
{
	free(s->client_first_bare);
	free(s->server_first);
	OPENSSL_cleanse(s, sizeof(*s));
}

int
sasl_plain_parse(const char *msg, size_t len, char *authzid, size_t azlen,
    char *authcid, size_t aclen, char *passwd, size_t pwlen)
{
	const char *a = msg, *b, *c, *end = msg + len;
	size_t n;

	if ((b = memchr(a, '\0', len)) == NULL)
		return -1;
	b++;
	if ((c = memchr(b, '\0', (size_t)(end - b))) == NULL)
		return -1;
	c++;
	if (memchr(c, '\0', (size_t)(end - c)) != NULL)
		return -1;
	if ((size_t)(b - 1 - a) >= azlen || (size_t)(c - 1 - b) >= aclen ||
	    (n = (size_t)(end - c)) >= pwlen || c - 1 == b || n == 0)
		return -1;
	memcpy(authzid, a, (size_t)(b - 1 - a));
	authzid[b - 1 - a] = '\0';
	memcpy(authcid, b, (size_t)(c - 1 - b));
	authcid[c - 1 - b] = '\0';
	memcpy(passwd, c, n);
	passwd[n] = '\0';
	return 0;
}
