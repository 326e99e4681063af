/*
 * certs — certificate checks with OpenSSL.  See certs.h.
 */
#include "certs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "access.h"
#include "report.h"
#include "users.h"

#define MAX_PAIRS 4
#define MAX_USERS 4

struct pair {
	const char *cert, *key;
	enum daemon_id users[MAX_USERS];
	size_t nusers;
	const char *names[SITE_MAX_NAMES];	/* must be covered */
	const char *whats[SITE_MAX_NAMES];
	bool soft[SITE_MAX_NAMES];		/* web names: a warning */
	size_t nnames;
};

static void
pair_name(struct pair *p, const char *name, const char *what, bool soft)
{
	for (size_t i = 0; i < p->nnames; i++)
		if (strcasecmp(p->names[i], name) == 0)
			return;
	if (p->nnames == SITE_MAX_NAMES)
		return;
	p->names[p->nnames] = name;
	p->whats[p->nnames] = what;
	p->soft[p->nnames] = soft;
	p->nnames++;
}

static struct pair *
pair_add(struct pair *v, size_t *n, const char *cert, const char *key,
    enum daemon_id d)
{
	struct pair *p = NULL;

	for (size_t i = 0; i < *n; i++)
		if (strcmp(v[i].cert, cert) == 0 && strcmp(v[i].key, key) == 0)
			p = &v[i];
	if (p == NULL) {
		if (*n == MAX_PAIRS)
			return NULL;
		p = &v[(*n)++];
		memset(p, 0, sizeof(*p));
		p->cert = cert;
		p->key = key;
	}
	if (p->nusers < MAX_USERS)
		p->users[p->nusers++] = d;
	return p;
}

static const char *
tm_date(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(buf, len, "?");
	return buf;
}

static const char *
ossl_err(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "unreadable");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static void
check_chain(const char *file, X509 *leaf, STACK_OF(X509) *rest, const char *ca_file)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	char err[256];
	int ok, code;

	if (store == NULL || ctx == NULL)
		goto out;
	if (ca_file ? X509_STORE_load_file(store, ca_file) != 1 :
	    X509_STORE_set_default_paths(store) != 1) {
		report(V_FAIL, "give a readable PEM file to --ca",
		    "tls: %s: CA store %s: %s", file, ca_file ? ca_file : "(system)",
		    ossl_err(err, sizeof(err)));
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, store, leaf, rest) != 1)
		goto out;
	/* expiry has its own line below; this one is about trust */
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	ok = X509_verify_cert(ctx);
	code = X509_STORE_CTX_get_error(ctx);
	if (ok == 1)
		report(V_OK, NULL, "tls: %s: chain verifies (%d certificates, CA %s)",
		    file, X509_STORE_CTX_get_num_untrusted(ctx) + 1,
		    ca_file ? ca_file : "store of the system");
	else
		report(V_FAIL, code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
		    code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ?
		    "install the full chain (acme.sh --fullchain-file), leaf first" :
		    "get a certificate from a CA clients trust (acme.sh)",
		    "tls: %s: chain does not verify: %s", file,
		    X509_verify_cert_error_string(code));
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
}

static void
check_dates(const char *file, X509 *leaf)
{
	const ASN1_TIME *nb = X509_get0_notBefore(leaf), *na = X509_get0_notAfter(leaf);
	char when[64];
	int days = 0, secs = 0;

	if (X509_cmp_current_time(nb) > 0) {
		report(V_FAIL, "check the system clock, or install a current certificate",
		    "tls: %s: not valid before %s", file, tm_date(nb, when, sizeof(when)));
		return;
	}
	if (ASN1_TIME_diff(&days, &secs, NULL, na) != 1) {
		report(V_FAIL, "reissue the certificate", "tls: %s: unreadable expiry date", file);
		return;
	}
	tm_date(na, when, sizeof(when));
	if (days < 0 || secs < 0)
		report(V_FAIL, "renew it (acme.sh --renew), then systemctl reload xmpp-core turnd",
		    "tls: %s: expired on %s", file, when);
	else if (days < CERT_WARN_DAYS)
		report(V_WARN, "renew it (acme.sh --renew; is acme.sh's cron job running?), "
		    "then systemctl reload xmpp-core turnd",
		    "tls: %s: expires in %d day%s (%s)", file, days, days == 1 ? "" : "s", when);
	else
		report(V_OK, NULL, "tls: %s: valid until %s (%d days)", file, when, days);
}

static void
check_names(const struct pair *p, X509 *leaf)
{
	char miss[1024], soft[1024], ok[1024];
	size_t nm = 0, ns = 0;

	miss[0] = soft[0] = ok[0] = '\0';
	for (size_t i = 0; i < p->nnames; i++) {
		char *buf = ok;

		if (X509_check_host(leaf, p->names[i], 0, 0, NULL) != 1) {
			if (p->soft[i]) {
				buf = soft;
				ns++;
			} else {
				buf = miss;
				nm++;
			}
			snprintf(buf + strlen(buf), 1024 - strlen(buf), "%s%s (%s)",
			    buf[0] ? ", " : "", p->names[i], p->whats[i]);
		} else
			snprintf(buf + strlen(buf), 1024 - strlen(buf), "%s%s",
			    buf[0] ? ", " : "", p->names[i]);
	}
	if (nm)
		report(V_FAIL, "reissue it with every name (acme.sh -d NAME for each, "
		    "or a wildcard)", "tls: %s: does not cover %s", p->cert, miss);
	if (ns)
		report(V_WARN, "add the name, unless nginx serves it with a certificate of its own",
		    "tls: %s: does not cover %s", p->cert, soft);
	if (ok[0])
		report(V_OK, NULL, "tls: %s: covers %s", p->cert, ok);
}

static void
check_key(const struct pair *p, X509 *leaf)
{
	char err[256];
	EVP_PKEY *k = NULL;
	FILE *f;

	if ((f = fopen(p->key, "r")) == NULL ||
	    (k = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL)
		report(V_FAIL, "install the key that belongs to the certificate",
		    "tls: %s: no private key: %s", p->key,
		    f ? ossl_err(err, sizeof(err)) : strerror(errno));
	else if (X509_check_private_key(leaf, k) != 1)
		report(V_FAIL, "install the key that belongs to the certificate "
		    "(acme.sh --key-file), or the certificate made for this key",
		    "tls: %s: key does not match %s", p->key, p->cert);
	else
		report(V_OK, NULL, "tls: %s: key matches the certificate", p->key);
	ERR_clear_error();
	EVP_PKEY_free(k);
	if (f)
		fclose(f);
}

static void
check_readers(const struct site *s, const struct pair *p)
{
	for (size_t i = 0; i < p->nusers; i++) {
		const struct daemon_conf *d = &s->d[p->users[i]];
		const char *files[2] = { p->cert, p->key };
		struct ident id;
		char why[512];
		bool all = true;

		if (users_ident(s, p->users[i], &id) == -1)
			continue;	/* reported once, by users_check */
		for (int j = 0; j < 2; j++) {
			if (ident_can_access(&id, files[j], false, why, sizeof(why)))
				continue;
			all = false;
			report(V_FAIL, "chgrp edge-tls the files and chmod 0640 them "
			    "(acme.sh --reloadcmd, deploy/README.md); the unit's "
			    "SupplementaryGroups= has edge-tls",
			    "tls: %s (user %s) cannot read %s", d->name, id.name, why);
		}
		if (all)
			report(V_OK, NULL, "tls: %s (user %s) can read %s and %s",
			    d->name, id.name, p->cert, p->key);
	}
}

static void
check_pair(const struct site *s, const struct pair *p, const char *ca_file)
{
	STACK_OF(X509) *rest = sk_X509_new_null();
	X509 *leaf = NULL, *x;
	char err[256];
	FILE *f;

	if ((f = fopen(p->cert, "r")) == NULL) {
		report(V_FAIL, "install the certificate there (acme.sh --install-cert)",
		    "tls: %s: %s", p->cert, strerror(errno));
		goto out;
	}
	if ((leaf = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		report(V_FAIL, "install a PEM certificate, leaf first",
		    "tls: %s: no certificate: %s", p->cert, ossl_err(err, sizeof(err)));
		goto out;
	}
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
		sk_X509_push(rest, x);
	ERR_clear_error();	/* the end of the file */
	check_chain(p->cert, leaf, rest, ca_file);
	check_dates(p->cert, leaf);
	check_names(p, leaf);
	check_key(p, leaf);
out:
	check_readers(s, p);
	if (f)
		fclose(f);
	X509_free(leaf);
	sk_X509_pop_free(rest, X509_free);
}

void
certs_check(const struct site *s, const char *ca_file)
{
	struct pair pairs[MAX_PAIRS], *p;
	size_t n = 0;

	if (s->d[D_XMPP].loaded && s->x_cert && s->x_key &&
	    (p = pair_add(pairs, &n, s->x_cert, s->x_key, D_XMPP)) != NULL)
		for (size_t i = 0; i < s->nnames; i++)
			pair_name(p, s->names[i].name, s->names[i].what,
			    !s->names[i].xmpp);
	if (s->d[D_TURND].loaded && s->t_cert && s->t_key &&
	    (p = pair_add(pairs, &n, s->t_cert, s->t_key, D_TURND)) != NULL)
		/* TURNS clients check the name XEP-0215 gave them */
		for (size_t i = 0; i < s->next; i++)
			if (s->ext[i].type[strlen(s->ext[i].type) - 1] == 's')
				pair_name(p, s->ext[i].host, "TURNS/STUNS host", false);
	for (size_t i = 0; i < n; i++)
		check_pair(s, &pairs[i], ca_file);
}
