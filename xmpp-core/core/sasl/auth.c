/*
 * auth — SASL for c2s, both profiles.  See auth.h.
 *
 * One exchange engine; only the framing differs: SASL1 answers in the
 * xmpp-sasl namespace and restarts the stream on success, SASL2 answers
 * in urn:xmpp:sasl:2 (failure conditions still from RFC 6120 §6.5, as
 * XEP-0388 §2.6.2 asks) and hands success to sasl2.c, which completes
 * the inline requests without a restart.
 */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "account.h"
#include "c2s.h"
#include "corestats.h"
#include "crypto.h"
#include "kdf.h"
#include "log.h"
#include "sasl2.h"
#include "scram.h"
#include "server.h"
#include "tls.h"
#include "token.h"
#include "xml.h"

#define MAX_FAILURES 3

enum mech { M_PLAIN, M_SCRAM, M_HT };
enum step { S_WAIT_FIRST, S_LOOKUP, S_WAIT_FINAL, S_CONTINUE, S_TASK, S_STORE, S_DONE };

#define NS_SCRAM_UPGRADE "urn:xmpp:scram-upgrade:0"

struct auth {
	enum auth_profile profile;
	enum mech mech;
	enum scram_hash hash;
	bool plus;
	enum fast_cb ht;	/* M_HT: its channel binding */
	enum step step;
	struct scram_server scram;
	char local[JID_PART_MAX + 1];
	char *password;		/* PLAIN only, wiped after the check */
	bool found;		/* PLAIN: the account exists */
	uint8_t mac[FAST_MAC_LEN];	/* M_HT: the client's initiator MAC */
	bool no256;		/* the account has SCRAM-SHA-1 keys only */
	bool upgrade;		/* PLAIN: it lacks a hash's keys (imported) */
	uint8_t up_salt[SCRAM_SALT_LEN];	/* XEP-0480: the new keys' salt */
};

static const char *const cb_types[] = {
	"tls-exporter", "tls-server-end-point", "tls-unique"
};
#define NCB (sizeof(cb_types) / sizeof(cb_types[0]))

/*
 * Channel-binding data of the given type.  tls-unique is not defined for
 * TLS 1.3 (RFC 9266), but clients that only know tls-unique (slixmpp,
 * older desktop clients) compute it from the client's Finished message
 * anyway; it is accepted in that form for them on SASL1, never
 * advertised (SASL2 clients get only what XEP-0440 advertised).
 */
static int
cb_data(struct c2s *c, const char *type, uint8_t *out, size_t cap, size_t *len)
{
	SSL *ssl;
	size_t n;

	if (c->conn.tls == NULL)
		return -1;
	if (tls_channel_binding(c->conn.tls, type, out, cap, len) == 0)
		return 0;
	if (strcmp(type, "tls-unique") != 0 || (ssl = tls_conn_ssl(c->conn.tls)) == NULL ||
	    SSL_version(ssl) < TLS1_3_VERSION)
		return -1;
	n = SSL_session_reused(ssl) == 1 ? SSL_get_finished(ssl, out, cap) :
	    SSL_get_peer_finished(ssl, out, cap);
	if (n == 0 || n > cap)
		return -1;
	*len = n;
	return 0;
}

#define CB_KNOWN 0x80

/*
 * Which types can be computed on c, each tried once per connection (the
 * stream features ask a dozen times, and every try is an exporter run
 * or a certificate hash).  tls-unique counts only where it is defined.
 */
static bool
cb_available(struct c2s *c, const char *type)
{
	uint8_t tmp[128];
	size_t len, i;
	SSL *ssl;

	if (!(c->cb_avail & CB_KNOWN) && c->conn.tls && (ssl = tls_conn_ssl(c->conn.tls)) != NULL) {
		c->cb_avail = CB_KNOWN;
		for (i = 0; i < NCB; i++) {
			if (strcmp(cb_types[i], "tls-unique") == 0 &&
			    SSL_version(ssl) >= TLS1_3_VERSION)
				continue;
			if (cb_data(c, cb_types[i], tmp, sizeof(tmp), &len) == 0)
				c->cb_avail |= 1u << i;
		}
	}
	for (i = 0; i < NCB; i++)
		if (strcmp(cb_types[i], type) == 0)
			return (c->cb_avail & (1u << i)) != 0;
	return false;
}

/* The channel-binding types advertised on c (XEP-0440). */
static size_t
cb_list(struct c2s *c, const char **out)
{
	size_t n = 0;

	for (size_t i = 0; i < NCB; i++)
		if (cb_available(c, cb_types[i]))
			out[n++] = cb_types[i];
	return n;
}

static bool
plus_available(struct c2s *c)
{
	const char *cbs[NCB];

	return cb_list(c, cbs) > 0;
}

bool
auth_fast_available(struct c2s *c, enum fast_cb cb)
{
	return cb == FAST_NONE || cb_available(c, fast_cb_type(cb));
}

/* The mechanisms offered on c, in preference order (both profiles). */
static size_t
mech_list(struct c2s *c, const char **out)
{
	/* a hash only while every account of the host has its keys: an
	 * exchange that cannot succeed is never offered (account.h) */
	bool s256 = account_hash_offered(c2s_host(c), SCRAM_SHA256);
	bool s1 = account_hash_offered(c2s_host(c), SCRAM_SHA1);
	bool plus = plus_available(c);
	size_t n = 0;

	if (plus && s256)
		out[n++] = "SCRAM-SHA-256-PLUS";
	if (plus && s1)
		out[n++] = "SCRAM-SHA-1-PLUS";
	if (s256)
		out[n++] = "SCRAM-SHA-256";
	if (s1)
		out[n++] = "SCRAM-SHA-1";
	out[n++] = "PLAIN";
	return n;
}

void
auth_features(struct c2s *c, struct buf *b)
{
	const char *m[8], *cbs[NCB];
	size_t n = mech_list(c, m), ncb = cb_list(c, cbs);

	buf_printf(b, "<mechanisms xmlns='%s'>", NS_SASL);
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "<mechanism>%s</mechanism>", m[i]);
	buf_puts(b, "</mechanisms>");
	if (ncb > 0) {
		/* XEP-0440: which channel-binding types we support */
		buf_puts(b, "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>");
		for (size_t i = 0; i < ncb; i++)
			buf_printf(b, "<channel-binding type='%s'/>", cbs[i]);
		buf_puts(b, "</sasl-channel-binding>");
	}
}

void
auth_sasl2_mechanisms(struct c2s *c, struct buf *b)
{
	const char *m[8];
	size_t n = mech_list(c, m);

	for (size_t i = 0; i < n; i++)
		buf_printf(b, "<mechanism>%s</mechanism>", m[i]);
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
failure_p(struct c2s *c, enum auth_profile p, const char *cond, const char *why)
{
	log_info("c2s %llu: %s: %sauthentication failed%s%s: %s",
	    (unsigned long long)c->id, c->peer, p == AUTH_SASL2 ? "SASL2 " : "",
	    c->auth && c->auth->local[0] ? " for " : "",
	    c->auth ? c->auth->local : "", why);
	auth_free(c->auth);
	c->auth = NULL;
	if (p == AUTH_SASL1) {
		buf_printf(&c->conn.out, "<failure xmlns='%s'><%s/></failure>", NS_SASL, cond);
	} else {
		buf_printf(&c->conn.out, "<failure xmlns='%s'><%s xmlns='%s'/></failure>",
		    NS_SASL2, cond, NS_SASL);
		sasl2_failed(c);
	}
	c2s_send_raw(c, "", 0);
	if (strcmp(cond, "aborted") != 0 && strcmp(cond, "temporary-auth-failure") != 0) {
		core_stats.auth_failures++;
		c2s_auth_failed(c);
	}
	if (c->auth_failures >= MAX_FAILURES)
		c2s_stream_error(c, "not-authorized", "too many failed attempts");
}

static void
failure(struct c2s *c, const char *cond, const char *why)
{
	failure_p(c, c->auth ? c->auth->profile : AUTH_SASL1, cond, why);
}

void
auth_fail(struct c2s *c, const char *cond, const char *why)
{
	failure_p(c, AUTH_SASL2, cond, why);
}

static const char *
mech_name(const struct auth *a)
{
	if (a->mech == M_PLAIN)
		return "PLAIN";
	if (a->mech == M_HT)
		return fast_mech_name(a->ht);
	return scram_mech_name(a->hash, a->plus);
}

/* o: the outcome so far (FAST's token facts), or NULL. */
static void
success(struct c2s *c, const void *extra, size_t len, struct auth_outcome *o)
{
	struct auth_outcome none = { 0 };
	char local[JID_PART_MAX + 1];
	char *b64 = NULL;

	if (o == NULL)
		o = &none;
	snprintf(local, sizeof(local), "%s", c->auth->local);
	log_info("c2s %llu: %s: authenticated %s@%s (%s%s)", (unsigned long long)c->id,
	    c->peer, local, c2s_host(c), mech_name(c->auth),
	    c->auth->profile == AUTH_SASL2 ? ", SASL2" : "");
	if (c->auth->profile == AUTH_SASL2) {
		o->local = local;
		o->mech = mech_name(c->auth);
		o->extra = extra;
		o->extralen = len;
		auth_free(c->auth);
		c->auth = NULL;
		sasl2_authenticated(c, o);
		return;
	}
	if (len > 0 && (b64 = malloc(base64_encoded_len(len))) != NULL)
		base64_encode(extra, len, b64);
	buf_printf(&c->conn.out, "<success xmlns='%s'>%s</success>", NS_SASL, b64 ? b64 : "");
	free(b64);
	c2s_send_raw(c, "", 0);
	auth_free(c->auth);
	c->auth = NULL;
	c2s_authenticated(c, local);
}

static void
challenge(struct c2s *c, const char *data)
{
	size_t len = strlen(data);
	char *b64 = malloc(base64_encoded_len(len));

	if (b64 == NULL) {
		failure(c, "temporary-auth-failure", "out of memory");
		return;
	}
	base64_encode(data, len, b64);
	buf_printf(&c->conn.out, "<challenge xmlns='%s'>%s</challenge>",
	    c->auth->profile == AUTH_SASL1 ? NS_SASL : NS_SASL2, b64);
	c2s_send_raw(c, "", 0);
	free(b64);
}

long
auth_decode(struct xml_node *n, char *out, size_t cap)
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

/* ---- XEP-0480 upgrade tasks: SHA-1-only accounts gain SHA-256 keys ---- */

static bool
upgrade_due(struct c2s *c)
{
	return c->auth->profile == AUTH_SASL2 && c->auth->no256 &&
	    sasl2_upgrade_requested(c);
}

/* Authenticated, but first the task the client asked for (§2.2). */
static void
upgrade_continue(struct c2s *c, const char *extra)
{
	char b64[base64_encoded_len(128)];

	buf_printf(&c->conn.out, "<continue xmlns='%s'>", NS_SASL2);
	if (extra && strlen(extra) <= 128) {
		base64_encode(extra, strlen(extra), b64);
		buf_printf(&c->conn.out, "<additional-data>%s</additional-data>", b64);
	}
	buf_puts(&c->conn.out, "<tasks><task>UPGR-SCRAM-SHA-256</task></tasks>"
	    "<text>SCRAM-SHA-256 credentials are missing</text></continue>");
	c2s_send_raw(c, "", 0);
	c->auth->step = S_CONTINUE;
}

void
auth_next(struct c2s *c, struct xml_node *n)
{
	struct auth *a = c->auth;
	const char *task = xml_attr(n, "task");
	char salt[base64_encoded_len(SCRAM_SALT_LEN)];

	if (a == NULL || a->profile != AUTH_SASL2 || a->step != S_CONTINUE) {
		failure_p(c, AUTH_SASL2, "malformed-request", "no task was offered");
		return;
	}
	if (task == NULL || strcmp(task, "UPGR-SCRAM-SHA-256") != 0) {
		failure(c, "malformed-request", "not the task offered");
		return;
	}
	/* XEP-0480 §3: salt and iterations, the client sends SaltedPassword */
	if (random_bytes(a->up_salt, sizeof(a->up_salt)) == -1) {
		failure(c, "temporary-auth-failure", "no randomness");
		return;
	}
	base64_encode(a->up_salt, sizeof(a->up_salt), salt);
	buf_printf(&c->conn.out, "<task-data xmlns='%s'><salt xmlns='%s' iterations='%u'>%s</salt>"
	    "</task-data>", NS_SASL2, NS_SCRAM_UPGRADE, srv.cfg->scram_iterations, salt);
	c2s_send_raw(c, "", 0);
	a->step = S_TASK;
}

static void
upgraded(void *arg, bool ok, const char *err)
{
	struct c2s *c = arg;
	struct auth *a = c->auth;

	if (!c->dead && a != NULL && a->step == S_STORE) {
		if (err) {
			failure(c, "temporary-auth-failure", err);
		} else {
			/* !ok: another login stored them first; as good */
			log_info("c2s %llu: %s: %s: SCRAM-SHA-256 keys %s (XEP-0480)",
			    (unsigned long long)c->id, c->peer, a->local,
			    ok ? "added" : "were there");
			success(c, NULL, 0, NULL);
		}
	}
	c2s_unblock(c);
}

void
auth_task_data(struct c2s *c, struct xml_node *n)
{
	struct auth *a = c->auth;
	struct xml_node *h = xml_child(n, "hash", NS_SCRAM_UPGRADE);
	uint8_t salted[SCRAM_HASH_MAX + 4];
	struct scram_keys k;
	long len;

	if (a == NULL || a->profile != AUTH_SASL2 || a->step != S_TASK) {
		failure_p(c, AUTH_SASL2, "malformed-request", "no task data was asked for");
		return;
	}
	if (h == NULL || (len = auth_decode(h, (char *)salted, sizeof(salted))) !=
	    (long)scram_hash_len(SCRAM_SHA256)) {
		failure(c, "malformed-request", "bad upgrade hash");
		return;
	}
	if (scram_keys_from_salted(SCRAM_SHA256, salted, a->up_salt, sizeof(a->up_salt),
	    srv.cfg->scram_iterations, &k) == -1) {
		OPENSSL_cleanse(salted, sizeof(salted));
		failure(c, "temporary-auth-failure", "key derivation failed");
		return;
	}
	OPENSSL_cleanse(salted, sizeof(salted));
	a->step = S_STORE;
	c2s_block(c);
	if (account_add_sha256(c2s_host(c), a->local, &k, upgraded, c) == NULL) {
		failure(c, "temporary-auth-failure", "database busy");
		c2s_unblock(c);
	}
	OPENSSL_cleanse(&k, sizeof(k));
}

static void
keys_made(void *arg, bool ok, const char *err)
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
		if (ok && a->found && upgrade_due(c)) {
			/* the client asked for the XEP-0480 task: it runs it */
			upgrade_continue(c, NULL);
		} else if (ok && a->found) {
			/* an imported account gets the keys it lacks (both
			 * hashes anew) from the password it just proved */
			if (a->upgrade && account_set_password(c2s_host(c), a->local,
			    a->password, srv.cfg->scram_iterations, keys_made,
			    NULL) == -1)
				log_warn("sasl: %s@%s: no SCRAM key upgrade (queue full)",
				    a->local, c2s_host(c));
			success(c, NULL, 0, NULL);
		} else {
			failure(c, "not-authorized", a->found ? "wrong password" : "no such user");
		}
	}
	c2s_unblock(c);
}

/* XEP-0474: the hash of what this profile advertised, into server-first. */
static void
set_ssdp(struct c2s *c, struct auth *a)
{
	const char *m[8], *cbs[NCB];
	size_t n = mech_list(c, m), ncb = cb_list(c, cbs);

	if (scram_ssdp(a->hash, m, n, ncb ? cbs : NULL, ncb, a->scram.ssdp,
	    sizeof(a->scram.ssdp)) == -1)
		a->scram.ssdp[0] = '\0';
}

static void
got_keys(void *arg, bool found, const struct account_keys *keys, const char *err)
{
	struct c2s *c = arg;
	struct auth *a = c->auth;
	struct scram_keys fk;
	const char *first;

	if (c->dead || a == NULL || a->step != S_LOOKUP)
		goto out;
	if (err) {
		failure(c, "temporary-auth-failure", err);
		goto out;
	}
	a->no256 = found && !keys->have[SCRAM_SHA256];
	a->upgrade = found && (!keys->have[SCRAM_SHA1] || !keys->have[SCRAM_SHA256]);
	if (a->mech == M_PLAIN) {
		/* an unknown user costs the same PBKDF2 run (no timing oracle) */
		enum scram_hash h = a->no256 ? SCRAM_SHA1 : SCRAM_SHA256;

		if (!found)
			fake_keys(c, &fk);
		a->found = found;
		if (kdf_check(h, found ? &keys->k[h] : &fk,
		    a->password, plain_checked, c) != NULL) {
			OPENSSL_cleanse(&fk, sizeof(fk));
			return;	/* still blocked: plain_checked unblocks */
		}
		OPENSSL_cleanse(&fk, sizeof(fk));
		failure(c, "temporary-auth-failure", "password check queue full");
		goto out;
	}
	/* no keys of this hash (offered before the host's accounts were
	 * counted, or SHA-1 only): it fails as a wrong password would */
	if (found && !keys->have[a->hash])
		found = false;
	if (!found)
		fake_keys(c, &fk);
	set_ssdp(c, a);
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
	/* XEP-0440 §4: on SASL2 only the types we advertised */
	if (a->profile == AUTH_SASL2 && a->scram.cb_type[0] &&
	    !cb_available(c, a->scram.cb_type)) {
		failure(c, "not-authorized", "channel binding type not offered");
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
	if (upgrade_due(c))
		upgrade_continue(c, out);
	else
		success(c, out, strlen(out), NULL);
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

/* ---- HT-SHA-256-* (FAST tokens) ---- */

/* Does the client's MAC match slot s?  Constant time in the MAC. */
static bool
ht_match(const struct auth *a, const struct token_slot *s, const uint8_t *cb,
    size_t cblen)
{
	uint8_t want[FAST_MAC_LEN];
	bool ok;

	if (!s->set || strcmp(s->mech, fast_mech_name(a->ht)) != 0)
		return false;
	fast_ht_mac(s->key, "Initiator", cb, cblen, want);
	ok = CRYPTO_memcmp(want, a->mac, FAST_MAC_LEN) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

static void
got_token(void *arg, bool found, const struct token_row *r, const char *err)
{
	struct c2s *c = arg;
	struct auth *a = c->auth;
	struct auth_outcome o = { 0 };
	const struct token_slot *s = NULL;
	uint8_t cb[128], resp[FAST_MAC_LEN];
	size_t cblen = 0;

	if (c->dead || a == NULL || a->step != S_LOOKUP)
		goto out;
	if (err) {
		failure(c, "temporary-auth-failure", err);
		goto out;
	}
	if (a->ht != FAST_NONE &&
	    cb_data(c, fast_cb_type(a->ht), cb, sizeof(cb), &cblen) == -1) {
		failure(c, "not-authorized", "channel binding unavailable");
		goto out;
	}
	/* XEP-0484 §5.1: the 'new' slot first, then 'cur' */
	if (found && ht_match(a, &r->next, cb, cblen)) {
		s = &r->next;
		o.token_new = true;
	} else if (found && ht_match(a, &r->cur, cb, cblen)) {
		s = &r->cur;
	}
	if (s == NULL) {
		failure(c, "not-authorized", found ? "wrong or expired token" : "no token");
		goto out;
	}
	o.token = true;
	o.token_age_s = s->age_s;
	memcpy(o.token_key, s->key, FAST_KEY_LEN);
	fast_ht_mac(s->key, "Responder", cb, cblen, resp);
	success(c, resp, sizeof(resp), &o);
	OPENSSL_cleanse(&o, sizeof(o));
out:
	c2s_unblock(c);
}

static void
ht_first(struct c2s *c, const char *msg, size_t len)
{
	struct auth *a = c->auth;
	char authcid[JID_PART_MAX + 1];
	const char *agent = sasl2_agent(c);

	if (fast_ht_parse(msg, len, authcid, sizeof(authcid), a->mac) == -1) {
		failure(c, "malformed-request", "bad HT message");
		return;
	}
	if (jid_local_prep(authcid, a->local) == -1) {
		failure(c, "not-authorized", "invalid username");
		return;
	}
	if (agent == NULL) {
		/* XEP-0484 §6.1: tokens belong to a user-agent id */
		failure(c, "not-authorized", "FAST without a user-agent id");
		return;
	}
	a->step = S_LOOKUP;
	c2s_block(c);
	if (token_get(c2s_host(c), a->local, agent, got_token, c) == NULL) {
		failure(c, "temporary-auth-failure", "database busy");
		c2s_unblock(c);
	}
}

/* ---- the exchange ---- */

static void
first_message(struct c2s *c, const char *msg, size_t len)
{
	if (c->auth->mech == M_PLAIN)
		plain(c, msg, len);
	else if (c->auth->mech == M_HT)
		ht_first(c, msg, len);
	else
		scram_first(c, msg, len);
}

/* Picks the mechanism: 0, or -1 (failure sent). */
static int
choose(struct c2s *c, struct auth *a, const char *mech)
{
	enum fast_cb cb;

	if (mech == NULL) {
		failure(c, "invalid-mechanism", "no mechanism");
		return -1;
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
			return -1;
		}
	} else if (a->profile == AUTH_SASL2 && fast_mech_parse(mech, &cb) == 0 &&
	    sasl2_fast_enabled() && auth_fast_available(c, cb)) {
		a->mech = M_HT;
		a->ht = cb;
	} else {
		failure(c, "invalid-mechanism", mech);
		return -1;
	}
	return 0;
}

static struct auth *
auth_new(struct c2s *c, enum auth_profile p)
{
	auth_free(c->auth);
	if ((c->auth = calloc(1, sizeof(*c->auth))) == NULL) {
		c2s_stream_error(c, "resource-constraint", NULL);
		return NULL;
	}
	c->auth->profile = p;
	return c->auth;
}

void
auth_start(struct c2s *c, const char *mech, const char *resp, size_t len)
{
	struct auth *a;

	if ((a = auth_new(c, AUTH_SASL2)) == NULL || choose(c, a, mech) == -1)
		return;
	if (resp == NULL || len == 0) {
		/* no initial response: ask for it with an empty challenge */
		a->step = S_WAIT_FIRST;
		buf_printf(&c->conn.out, "<challenge xmlns='%s'/>", NS_SASL2);
		c2s_send_raw(c, "", 0);
		return;
	}
	first_message(c, resp, len);
}

static void
handle_auth(struct c2s *c, struct xml_node *n)
{
	char msg[AUTH_MSG_MAX];
	struct auth *a;
	long len;

	if ((a = auth_new(c, AUTH_SASL1)) == NULL ||
	    choose(c, a, xml_attr(n, "mechanism")) == -1)
		return;
	if ((len = auth_decode(n, msg, sizeof(msg))) < 0) {
		failure(c, "incorrect-encoding", "bad base64");
		return;
	}
	if (len == 0) {
		a->step = S_WAIT_FIRST;
		buf_printf(&c->conn.out, "<challenge xmlns='%s'/>", NS_SASL);
		c2s_send_raw(c, "", 0);
		return;
	}
	first_message(c, msg, (size_t)len);
	OPENSSL_cleanse(msg, sizeof(msg));
}

void
auth_response(struct c2s *c, struct xml_node *n)
{
	struct auth *a = c->auth;
	char msg[AUTH_MSG_MAX];
	long len;

	/* a response of the other profile than the exchange is no response */
	if (a == NULL || (a->step != S_WAIT_FIRST && a->step != S_WAIT_FINAL) ||
	    (a->profile == AUTH_SASL2) != (strcmp(n->ns, NS_SASL2) == 0)) {
		failure_p(c, a ? a->profile : strcmp(n->ns, NS_SASL2) == 0 ?
		    AUTH_SASL2 : AUTH_SASL1, "malformed-request", "unexpected response");
		return;
	}
	if ((len = auth_decode(n, msg, sizeof(msg))) < 0) {
		failure(c, "incorrect-encoding", "bad base64");
		return;
	}
	if (a->step == S_WAIT_FIRST)
		first_message(c, msg, (size_t)len);
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
		auth_response(c, n);
	else if (strcmp(n->name, "abort") == 0)
		failure_p(c, AUTH_SASL1, "aborted", "client aborted");
	else
		c2s_stream_error(c, "unsupported-stanza-type", NULL);
	xml_free(n);
}
