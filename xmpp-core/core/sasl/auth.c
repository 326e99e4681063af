/*
 * auth — SASL for c2s.  See auth.h.
 */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "account.h"
#include "c2s.h"
#include "crypto.h"
#include "kdf.h"
#include "log.h"
#include "scram.h"
#include "server.h"
#include "tls.h"
#include "xml.h"

#define MAX_FAILURES 3
#define SASL_MAX 4096

enum mech { M_PLAIN, M_SCRAM };
enum step { S_WAIT_FIRST, S_LOOKUP, S_WAIT_FINAL, S_DONE };

struct auth {
	enum mech mech;
	enum scram_hash hash;
	bool plus;
	enum step step;
	struct scram_server scram;
	char local[JID_PART_MAX + 1];
	char *password;		/* PLAIN only, wiped after the check */
	bool found;		/* PLAIN: the account exists */
	bool upgrade;		/* PLAIN: it lacks a hash's keys (imported) */
};

static const char *const cb_types[] = {
	"tls-exporter", "tls-server-end-point", "tls-unique"
};

/*
 * Channel-binding data of the given type.  tls-unique is not defined for
 * TLS 1.3 (RFC 9266), but clients that only know tls-unique (slixmpp,
 * older desktop clients) compute it from the client's Finished message
 * anyway; it is accepted in that form for them, never advertised.
 */
static int
cb_data(struct c2s *c, const char *type, uint8_t *out, size_t cap, size_t *len)
{
	SSL *ssl;
	size_t n;

	if (c->tls == NULL)
		return -1;
	if (tls_channel_binding(c->tls, type, out, cap, len) == 0)
		return 0;
	if (strcmp(type, "tls-unique") != 0 || (ssl = tls_conn_ssl(c->tls)) == NULL ||
	    SSL_version(ssl) < TLS1_3_VERSION)
		return -1;
	n = SSL_session_reused(ssl) == 1 ? SSL_get_finished(ssl, out, cap) :
	    SSL_get_peer_finished(ssl, out, cap);
	if (n == 0 || n > cap)
		return -1;
	*len = n;
	return 0;
}

static bool
cb_available(struct c2s *c, const char *type)
{
	uint8_t tmp[128];
	size_t len;
	SSL *ssl;

	if (strcmp(type, "tls-unique") == 0 && c->tls &&
	    (ssl = tls_conn_ssl(c->tls)) != NULL && SSL_version(ssl) >= TLS1_3_VERSION)
		return false;
	return cb_data(c, type, tmp, sizeof(tmp), &len) == 0;
}

static bool
plus_available(struct c2s *c)
{
	for (size_t i = 0; i < sizeof(cb_types) / sizeof(cb_types[0]); i++)
		if (cb_available(c, cb_types[i]))
			return true;
	return false;
}

void
auth_features(struct c2s *c, struct buf *b)
{
	bool plus = plus_available(c);

	/* a hash only while every account of the host has its keys: an
	 * exchange that cannot succeed is never offered (account.h) */
	bool s256 = account_hash_offered(c2s_host(c), SCRAM_SHA256);
	bool s1 = account_hash_offered(c2s_host(c), SCRAM_SHA1);

	buf_printf(b, "<mechanisms xmlns='%s'>", NS_SASL);
	if (plus && s256)
		buf_puts(b, "<mechanism>SCRAM-SHA-256-PLUS</mechanism>");
	if (plus && s1)
		buf_puts(b, "<mechanism>SCRAM-SHA-1-PLUS</mechanism>");
	if (s256)
		buf_puts(b, "<mechanism>SCRAM-SHA-256</mechanism>");
	if (s1)
		buf_puts(b, "<mechanism>SCRAM-SHA-1</mechanism>");
	buf_puts(b, "<mechanism>PLAIN</mechanism></mechanisms>");
	if (plus) {
		/* XEP-0440: which channel-binding types we support */
		buf_puts(b, "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>");
		for (size_t i = 0; i < sizeof(cb_types) / sizeof(cb_types[0]); i++)
			if (cb_available(c, cb_types[i]))
				buf_printf(b, "<channel-binding type='%s'/>", cb_types[i]);
		buf_puts(b, "</sasl-channel-binding>");
	}
}

void
auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	scram_server_clear(&a->scram);
	if (a->password) {
		OPENSSL_cleanse(a->password, strlen(a->password));
		free(a->password);
	}
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
}

static void
failure(struct c2s *c, const char *cond, const char *why)
{
	log_info("c2s %llu: %s: authentication failed%s%s: %s", (unsigned long long)c->id,
	    c->peer, c->auth && c->auth->local[0] ? " for " : "",
	    c->auth ? c->auth->local : "", why);
	auth_free(c->auth);
	c->auth = NULL;
	buf_printf(&c->out, "<failure xmlns='%s'><%s/></failure>", NS_SASL, cond);
	c2s_send_raw(c, "", 0);
	if (strcmp(cond, "aborted") != 0 && strcmp(cond, "temporary-auth-failure") != 0)
		c2s_auth_failed(c);
	if (c->auth_failures >= MAX_FAILURES)
		c2s_stream_error(c, "not-authorized", "too many failed attempts");
}

static void
success(struct c2s *c, const char *extra)
{
	char local[JID_PART_MAX + 1];
	char *b64 = NULL;

	snprintf(local, sizeof(local), "%s", c->auth->local);
	log_info("c2s %llu: %s: authenticated %s@%s (%s%s)", (unsigned long long)c->id,
	    c->peer, local, c2s_host(c), c->auth->mech == M_PLAIN ? "PLAIN" :
	    scram_mech_name(c->auth->hash, c->auth->plus),
	    c->auth->plus ? "" : "");
	if (extra) {
		b64 = malloc(base64_encoded_len(strlen(extra)));
		if (b64)
			base64_encode(extra, strlen(extra), b64);
	}
	buf_printf(&c->out, "<success xmlns='%s'>%s</success>", NS_SASL, b64 ? b64 : "");
	free(b64);
	c2s_send_raw(c, "", 0);
	auth_free(c->auth);
	c->auth = NULL;
	c2s_authenticated(c, local);
}

static void
challenge(struct c2s *c, const char *data)
{
	char *b64 = malloc(base64_encoded_len(strlen(data)));

	if (b64 == NULL) {
		failure(c, "temporary-auth-failure", "out of memory");
		return;
	}
	base64_encode(data, strlen(data), b64);
	buf_printf(&c->out, "<challenge xmlns='%s'>%s</challenge>", NS_SASL, b64);
	c2s_send_raw(c, "", 0);
	free(b64);
}

/* Decodes the element's base64 text; "=" is an empty response. */
static ssize_t
decode(struct xml_node *n, char *out, size_t cap)
{
	char *t = xml_text(n);
	size_t len, o = 0;
	ssize_t r;

	if (t == NULL)
		return -1;
	/* whitespace inside base64 is tolerated (line-wrapped clients) */
	for (size_t i = 0; t[i]; i++)
		if (t[i] != ' ' && t[i] != '\n' && t[i] != '\r' && t[i] != '\t')
			t[o++] = t[i];
	t[o] = '\0';
	len = o;
	if (len == 0 || strcmp(t, "=") == 0) {
		free(t);
		out[0] = '\0';
		return 0;
	}
	r = base64_decode(t, len, (uint8_t *)out, cap - 1);
	free(t);
	if (r >= 0)
		out[r] = '\0';
	return r;
}

static void
fake_keys(struct c2s *c, struct scram_keys *k)
{
	uint8_t mac[32];
	char in[2 * JID_PART_MAX + 2];

	/* stable per user, unguessable, so probing reveals nothing */
	snprintf(in, sizeof(in), "%s/%s", c2s_host(c), c->auth->local);
	hmac_sha256(srv.fake_salt_key, sizeof(srv.fake_salt_key), in, strlen(in), mac);
	memset(k, 0, sizeof(*k));
	memcpy(k->salt, mac, SCRAM_SALT_LEN);
	k->saltlen = SCRAM_SALT_LEN;
	k->iter = srv.cfg->scram_iterations;
	random_bytes(k->stored, sizeof(k->stored));
	random_bytes(k->server, sizeof(k->server));
}

static void
upgraded(void *arg, bool ok, const char *err)
{
	(void)arg;
	if (!ok)
		log_warn("sasl: storing the missing SCRAM keys failed: %s",
		    err ? err : "account gone");
}

static void
plain_checked(void *arg, bool ok, const struct scram_keys *unused)
{
	struct c2s *c = arg;
	struct auth *a = c->auth;

	(void)unused;
	if (!c->dead && a != NULL && a->step == S_LOOKUP) {
		/* an imported account gets the keys it lacks (both hashes anew) */
		if (ok && a->found && a->upgrade &&
		    account_set_password(c2s_host(c), a->local, a->password,
		    srv.cfg->scram_iterations, upgraded, NULL) == -1)
			log_warn("sasl: %s@%s: no SCRAM key upgrade (queue full)",
			    a->local, c2s_host(c));
		if (ok && a->found)
			success(c, NULL);
		else
			failure(c, "not-authorized", a->found ? "wrong password" : "no such user");
	}
	c2s_unblock(c);
}

static void
got_keys(void *arg, bool found, const struct account_keys *keys, const char *err)
{
	struct c2s *c = arg;
	struct auth *a = c->auth;
	struct scram_keys fk;
	const char *first;
	enum scram_hash h;

	if (c->dead || a == NULL || a->step != S_LOOKUP)
		goto out;
	if (err) {
		failure(c, "temporary-auth-failure", err);
		goto out;
	}
	if (a->mech == M_PLAIN) {
		/* an unknown user costs the same PBKDF2 run (no timing oracle) */
		if (!found)
			fake_keys(c, &fk);
		a->found = found;
		a->upgrade = found && (!keys->have[SCRAM_SHA1] || !keys->have[SCRAM_SHA256]);
		h = found && !keys->have[SCRAM_SHA256] ? SCRAM_SHA1 : SCRAM_SHA256;
		if (kdf_check(h, found ? &keys->k[h] : &fk,
		    a->password, plain_checked, c) != NULL) {
			OPENSSL_cleanse(&fk, sizeof(fk));
			return;	/* still blocked: plain_checked unblocks */
		}
		OPENSSL_cleanse(&fk, sizeof(fk));
		failure(c, "temporary-auth-failure", "password check queue full");
		goto out;
	}
	/* no keys for this hash (offered before the host's accounts were
	 * counted): it fails as a wrong password would */
	if (found && !keys->have[a->hash])
		found = false;
	if (!found)
		fake_keys(c, &fk);
	first = scram_server_first(&a->scram, found ? &keys->k[a->hash] : &fk, NULL);
	OPENSSL_cleanse(&fk, sizeof(fk));
	if (first == NULL) {
		failure(c, "temporary-auth-failure", "out of memory");
		goto out;
	}
	a->step = S_WAIT_FINAL;
	challenge(c, first);
out:
	c2s_unblock(c);
}

static void
lookup(struct c2s *c)
{
	c->auth->step = S_LOOKUP;
	c2s_block(c);
	if (account_get_keys(c2s_host(c), c->auth->local, got_keys, c) == NULL) {
		failure(c, "temporary-auth-failure", "database busy");
		c2s_unblock(c);
	}
}

/* authzid: empty or the bare JID being authenticated (no proxy auth). */
static bool
authzid_ok(struct c2s *c, const char *authzid)
{
	char bare[2 * JID_PART_MAX + 2];

	if (authzid[0] == '\0')
		return true;
	snprintf(bare, sizeof(bare), "%s@%s", c->auth->local, c2s_host(c));
	return strcmp(authzid, bare) == 0;
}

static void
scram_first(struct c2s *c, const char *msg, size_t len)
{
	struct auth *a = c->auth;
	const char *err;

	if (scram_server_start(&a->scram, a->hash, a->plus, plus_available(c), msg, len,
	    &err) == -1) {
		failure(c, err, "bad client-first message");
		return;
	}
	if (jid_local_prep(a->scram.user, a->local) == -1) {
		failure(c, "not-authorized", "invalid username");
		return;
	}
	if (!authzid_ok(c, a->scram.authzid)) {
		failure(c, "invalid-authzid", "authzid differs");
		return;
	}
	lookup(c);
}

static void
scram_final(struct c2s *c, const char *msg, size_t len)
{
	struct auth *a = c->auth;
	uint8_t cb[128];
	size_t cblen = 0;
	char out[128];
	const char *err;

	if (a->scram.cb_type[0] &&
	    cb_data(c, a->scram.cb_type, cb, sizeof(cb), &cblen) == -1) {
		failure(c, "not-authorized", "unsupported channel binding type");
		return;
	}
	if (scram_server_final(&a->scram, msg, len, cb, cblen, out, sizeof(out), &err) == -1) {
		failure(c, err, "wrong password or proof");
		return;
	}
	success(c, out);
}

static void
plain(struct c2s *c, const char *msg, size_t len)
{
	char authzid[2 * JID_PART_MAX + 2], authcid[JID_PART_MAX + 1];
	char pw[1024];

	if (sasl_plain_parse(msg, len, authzid, sizeof(authzid), authcid,
	    sizeof(authcid), pw, sizeof(pw)) == -1) {
		failure(c, "malformed-request", "bad PLAIN message");
		return;
	}
	if (jid_local_prep(authcid, c->auth->local) == -1) {
		OPENSSL_cleanse(pw, sizeof(pw));
		failure(c, "not-authorized", "invalid username");
		return;
	}
	c->auth->password = strdup(pw);
	OPENSSL_cleanse(pw, sizeof(pw));
	if (!authzid_ok(c, authzid)) {
		failure(c, "invalid-authzid", "authzid differs");
		return;
	}
	if (c->auth->password == NULL) {
		failure(c, "temporary-auth-failure", "out of memory");
		return;
	}
	lookup(c);
}

static void
handle_auth(struct c2s *c, struct xml_node *n)
{
	const char *mech = xml_attr(n, "mechanism");
	char msg[SASL_MAX];
	ssize_t len;
	struct auth *a;

	auth_free(c->auth);
	if ((a = c->auth = calloc(1, sizeof(*a))) == NULL) {
		c2s_stream_error(c, "resource-constraint", NULL);
		return;
	}
	if (mech == NULL) {
		failure(c, "invalid-mechanism", "no mechanism");
		return;
	}
	if (strcmp(mech, "PLAIN") == 0) {
		a->mech = M_PLAIN;
	} else if (strcmp(mech, "SCRAM-SHA-1") == 0 || strcmp(mech, "SCRAM-SHA-256") == 0 ||
	    (strcmp(mech, "SCRAM-SHA-1-PLUS") == 0 && plus_available(c)) ||
	    (strcmp(mech, "SCRAM-SHA-256-PLUS") == 0 && plus_available(c))) {
		a->mech = M_SCRAM;
		a->hash = strncmp(mech, "SCRAM-SHA-1", 11) == 0 &&
		    (mech[11] == '\0' || mech[11] == '-') ? SCRAM_SHA1 : SCRAM_SHA256;
		a->plus = strstr(mech, "-PLUS") != NULL;
		if (!account_hash_offered(c2s_host(c), a->hash)) {
			failure(c, "invalid-mechanism", mech);	/* not offered */
			return;
		}
	} else {
		failure(c, "invalid-mechanism", mech);
		return;
	}
	if ((len = decode(n, msg, sizeof(msg))) < 0) {
		failure(c, "incorrect-encoding", "bad base64");
		return;
	}
	if (len == 0) {
		/* no initial response: ask for it with an empty challenge */
		a->step = S_WAIT_FIRST;
		buf_printf(&c->out, "<challenge xmlns='%s'/>", NS_SASL);
		c2s_send_raw(c, "", 0);
		return;
	}
	if (a->mech == M_PLAIN)
		plain(c, msg, (size_t)len);
	else
		scram_first(c, msg, (size_t)len);
	OPENSSL_cleanse(msg, sizeof(msg));
}

static void
handle_response(struct c2s *c, struct xml_node *n)
{
	struct auth *a = c->auth;
	char msg[SASL_MAX];
	ssize_t len;

	if (a == NULL || (a->step != S_WAIT_FIRST && a->step != S_WAIT_FINAL)) {
		failure(c, "malformed-request", "unexpected response");
		return;
	}
	if ((len = decode(n, msg, sizeof(msg))) < 0) {
		failure(c, "incorrect-encoding", "bad base64");
		return;
	}
	if (a->step == S_WAIT_FIRST && a->mech == M_PLAIN)
		plain(c, msg, (size_t)len);
	else if (a->step == S_WAIT_FIRST)
		scram_first(c, msg, (size_t)len);
	else
		scram_final(c, msg, (size_t)len);
	OPENSSL_cleanse(msg, sizeof(msg));
}

void
auth_handle(struct c2s *c, struct xml_node *n)
{
	if (strcmp(n->name, "auth") == 0)
		handle_auth(c, n);
	else if (strcmp(n->name, "response") == 0)
		handle_response(c, n);
	else if (strcmp(n->name, "abort") == 0)
		failure(c, "aborted", "client aborted");
	else
		c2s_stream_error(c, "unsupported-stanza-type", NULL);
	xml_free(n);
}
