/*
 * regconf — the [registration] table.  See regconf.h and README.md for
 * every key.
 *
 * Defaults follow what a host is: registration limited to `allow_from`
 * networks (the local stack's loopback, an office) is trusted and gets
 * no captcha and no throttle unless asked; registration open to every
 * address is a public host and gets both (the reference host's rules).
 */
#include "regconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "addr.h"
#include "conf.h"
#include "jid.h"
#include "registry.h"

extern struct module register_module;

/* The names people expect to reach a host's operators (RFC 2142 and
 * what Prosody's mod_block_registrations and ejabberd admins reserve). */
static const char *const default_reserved[] = {
	"admin", "administrator", "root", "abuse", "postmaster", "hostmaster",
	"webmaster", "xmpp", "jabber", "support", "security", "info", "noc",
	"help", "contact", "system", "sysadmin", "operator", "owner", "staff",
	"moderator", "official", "server", "register", "registration",
	"www", "mail", "ftp", NULL,
};

const struct reg_config *
reg_cfg(void)
{
	return module_cfg(&register_module);
}

bool
regconf_reserved(const struct reg_config *c, const char *local)
{
	for (size_t i = 0; i < c->nreserved; i++)
		if (strcmp(c->reserved[i], local) == 0)
			return true;
	return false;
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
add_reserved(struct reg_config *c, const char *name, struct conf_table *t,
    struct conf_err *e)
{
	char local[JID_PART_MAX + 1], **v;

	if (jid_local_prep(name, local) == -1) {
		conf_errf(e, t, "reserved", "\"%s\" is not a valid username", name);
		return -1;
	}
	if ((v = realloc(c->reserved, (c->nreserved + 1) * sizeof(*v))) == NULL)
		return -1;
	c->reserved = v;
	if ((v[c->nreserved] = strdup(local)) == NULL)
		return -1;
	c->nreserved++;
	return 0;
}

static int
load_questions(struct reg_config *c, struct conf_table *t, struct conf_err *e)
{
	struct conf_table *const *qs;
	size_t n = 0;

	if (conf_tables(t, "question", &qs, &n, e) == -1)
		return -1;
	if (n > 100) {
		conf_errf(e, t, "question", "at most 100 questions");
		return -1;
	}
	if (n && (c->questions = calloc(n, sizeof(*c->questions))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct reg_question *q = &c->questions[i];
		const char *text = NULL;
		char *const *ans;
		size_t na = 0;

		c->nquestions++;
		if (conf_str(qs[i], "text", &text, e) == -1 ||
		    conf_strarr(qs[i], "answers", &ans, &na, e) == -1)
			return -1;
		if (text == NULL || *text == '\0' || strlen(text) > 500 || na == 0) {
			conf_errf(e, qs[i], "text",
			    "a question needs its text (up to 500 bytes) and answers");
			return -1;
		}
		if ((q->text = strdup(text)) == NULL ||
		    (q->answers = calloc(na, sizeof(*q->answers))) == NULL)
			return -1;
		for (size_t k = 0; k < na; k++) {
			if ((q->answers[k] = strdup(ans[k])) == NULL)
				return -1;
			q->nanswers++;
		}
	}
	return 0;
}

static int
load_captcha(struct reg_config *c, struct conf_table *t, struct conf_err *e)
{
	struct conf_value *v = conf_lookup(t, "captcha");
	const char *key_file = NULL, *url = NULL;
	long long per_min = 10;
	uint64_t ttl = 300;
	char *secret;

	/* public (no allow_from): a captcha unless said otherwise */
	c->captcha = c->nallow == 0 ? CAPTCHA_IMAGE : CAPTCHA_OFF;
	if (v && v->type == CONF_BOOL) {
		c->captcha = v->u.b ? CAPTCHA_IMAGE : CAPTCHA_OFF;
	} else if (v && v->type == CONF_STRING && strcmp(v->u.s, "question") == 0) {
		c->captcha = CAPTCHA_QUESTION;
	} else if (v && !(v->type == CONF_STRING && strcmp(v->u.s, "image") == 0)) {
		conf_errf(e, t, "captcha", "true, false, \"image\" or \"question\"");
		return -1;
	} else if (v) {
		c->captcha = CAPTCHA_IMAGE;
	}
	if (conf_int(t, "captcha_per_minute", 1, 1000, &per_min, e) == -1 ||
	    conf_duration_range(t, "captcha_ttl", 1, 3600, &ttl, e) == -1 ||
	    conf_str(t, "captcha_key_file", &key_file, e) == -1 ||
	    conf_str(t, "captcha_url", &url, e) == -1 ||
	    load_questions(c, t, e) == -1)
		return -1;
	if (url != NULL) {
		size_t n = strlen(url);

		if ((strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) ||
		    n > 500 || url[n - 1] != '/') {
			conf_errf(e, t, "captcha_url", "an http(s) URL ending in / "
			    "(the web listener's /captcha/, as the public sees it)");
			return -1;
		}
		if ((c->captcha_url = strdup(url)) == NULL)
			return -1;
	}
	if (c->captcha == CAPTCHA_QUESTION && c->nquestions == 0) {
		conf_errf(e, t, "captcha", "\"question\" needs [[registration.question]] tables");
		return -1;
	}
	c->limits.per_minute = (unsigned)per_min;
	c->limits.ttl_s = (unsigned)ttl;
	c->limits.question = c->captcha == CAPTCHA_QUESTION;
	c->limits.nquestions = c->nquestions;
	if (key_file == NULL)
		return 0;
	/* the tests' way to know the answers; a host has no reason to set it */
	if (conf_read_secret_file(key_file, &secret, e) == -1)
		return -1;
	if (strlen(secret) < 16) {
		conf_secret_free(secret);
		conf_errf(e, t, "captcha_key_file", "the key needs at least 16 characters");
		return -1;
	}
	EVP_Digest(secret, strlen(secret), c->key, NULL, EVP_sha256(), NULL);
	conf_secret_free(secret);
	c->have_key = true;
	return 0;
}

static int
load_rules(struct reg_config *c, struct conf_table *t, struct conf_err *e)
{
	bool public = c->nallow == 0;
	long long ip = public ? 1 : 0, subnet = public ? 3 : 0, p4 = 24, p6 = 64;
	uint64_t period = 600;
	const char *subject = NULL, *body = NULL;
	char *const *v;
	size_t n = 0;
	int rc;

	if ((rc = conf_strarr(t, "reserved", &v, &n, e)) == -1)
		return -1;
	if (rc == 0) {
		for (size_t i = 0; default_reserved[i]; i++)
			if (add_reserved(c, default_reserved[i], t, e) == -1)
				return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (add_reserved(c, v[i], t, e) == -1)
			return -1;
	if (conf_int(t, "throttle_per_ip", 0, 1000000, &ip, e) == -1 ||
	    conf_int(t, "throttle_per_subnet", 0, 1000000, &subnet, e) == -1 ||
	    conf_int(t, "throttle_prefix4", 8, 32, &p4, e) == -1 ||
	    conf_int(t, "throttle_prefix6", 16, 128, &p6, e) == -1 ||
	    conf_duration_range(t, "throttle_period", 1, 30 * 86400, &period, e) == -1 ||
	    conf_str(t, "welcome_subject", &subject, e) == -1 ||
	    conf_str(t, "welcome_body", &body, e) == -1)
		return -1;
	c->throttle_ip = (unsigned)ip;
	c->throttle_subnet = (unsigned)subnet;
	c->prefix4 = (unsigned)p4;
	c->prefix6 = (unsigned)p6;
	c->throttle_period_ms = period * 1000;
	n = 0;
	if (conf_strarr(t, "watchers", &v, &n, e) == -1)
		return -1;
	if ((subject && strlen(subject) > 1000) || (body && strlen(body) > 10000)) {
		conf_errf(e, t, body ? "welcome_body" : "welcome_subject", "too long");
		return -1;
	}
	if ((subject && (c->welcome_subject = strdup(subject)) == NULL) ||
	    (body && (c->welcome_body = strdup(body)) == NULL))
		return -1;
	if (n && (c->watchers = calloc(n, sizeof(*c->watchers))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct jid j;
		char bare[JID_STR_MAX + 1];

		if (jid_parse(v[i], &j) == -1 || j.local[0] == '\0' || j.resource[0]) {
			conf_errf(e, t, "watchers", "\"%s\" is not a bare JID", v[i]);
			return -1;
		}
		if ((c->watchers[i] = strdup(jid_bare(&j, bare, sizeof(bare)))) == NULL)
			return -1;
		c->nwatchers++;
	}
	return 0;
}

static int
load_invites(struct reg_config *c, struct conf_table *t, struct conf_err *e)
{
	uint64_t ttl = c->invite_ttl_s;
	const char *url = NULL;

	if (conf_duration_range(t, "invite_ttl", 60, 366 * 86400, &ttl, e) == -1 ||
	    conf_str(t, "invite_url", &url, e) == -1)
		return -1;
	c->invite_ttl_s = (unsigned)ttl;
	if (url == NULL)
		return 0;
	if ((strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) ||
	    strlen(url) > 500) {
		conf_errf(e, t, "invite_url", "an http(s) URL the token is appended to");
		return -1;
	}
	return (c->invite_url = strdup(url)) ? 0 : -1;
}

int
regconf_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	struct reg_config *c = calloc(1, sizeof(*c));
	struct conf_table *t;
	char *const *v;
	size_t n = 0;
	long long ent;
	int rc;

	if ((*cfg = c) == NULL)
		return -1;
	c->invite_ttl_s = 7 * 86400;
	/* without the table: registration off and no entropy floor for
	 * password changes; with it 32 bits on trusted networks, 64 on a
	 * public host (the reference host's rule) */
	t = conf_table(root, "registration", e, &rc);
	if (rc <= 0)
		return rc;
	if (conf_bool(t, "enabled", &c->enabled, e) == -1 ||
	    conf_strarr(t, "allow_from", &v, &n, e) == -1)
		return -1;
	ent = n ? 32 : 64;
	if (conf_int(t, "min_password_entropy", 0, 256, &ent, e) == -1)
		return -1;
	c->min_password_entropy = (unsigned)ent;
	if (n && (c->allow = calloc(n, sizeof(*c->allow))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (addr_cidr_parse(v[i], &c->allow[i]) == -1) {
			conf_errf(e, t, "allow_from", "invalid network \"%s\"", v[i]);
			return -1;
		}
	}
	c->nallow = n;
	if (load_captcha(c, t, e) == -1 || load_rules(c, t, e) == -1 ||
	    load_invites(c, t, e) == -1)
		return -1;
	return 0;
}

void
regconf_free(void *cfg)
{
	struct reg_config *c = cfg;

	if (c == NULL)
		return;
	free(c->allow);
	for (size_t i = 0; i < c->nquestions; i++) {
		free(c->questions[i].text);
		strv_free(c->questions[i].answers, c->questions[i].nanswers);
	}
	free(c->questions);
	strv_free(c->reserved, c->nreserved);
	free(c->welcome_subject);
	free(c->welcome_body);
	strv_free(c->watchers, c->nwatchers);
	free(c->invite_url);
	free(c->captcha_url);
	OPENSSL_cleanse(c->key, sizeof(c->key));
	free(c);
}
