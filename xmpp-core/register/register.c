/*
 * register — XEP-0077.  See register.h.
 */
#include "register.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "account.h"
#include "accountrm.h"
#include "addr.h"
#include "buf.h"
#include "c2s.h"
#include "conf.h"
#include "iq.h"
#include "log.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

/* [registration] */
struct reg_config {
	bool enabled;
	struct addr_cidr *allow;
	size_t nallow;
	unsigned min_password_entropy;
};

extern struct module register_module;

static const struct reg_config *
reg_cfg(void)
{
	return module_cfg(&register_module);
}

static bool
register_allowed(const struct c2s *c)
{
	const struct reg_config *cfg = reg_cfg();

	if (!cfg->enabled)
		return false;
	if (cfg->nallow == 0)
		return true;
	return addr_cidr_match_any(cfg->allow, cfg->nallow,
	    (const struct sockaddr *)&c->addr);
}

/* Replies go to a client that may not have a JID yet: no to/from. */
static void
reply(struct c2s *c, struct xml_node *r)
{
	if (r == NULL)
		return;
	if (!c->full) {
		xml_del_attr(r, "to");
		xml_del_attr(r, "from");
	}
	c2s_send(c, r);
	xml_free(r);
}

static void
error(struct c2s *c, const struct xml_node *iq, const char *type, const char *cond,
    const char *text)
{
	reply(c, stanza_error(iq, type, cond, text));
}

static char *
field(struct xml_node *q, const char *name)
{
	struct xml_node *f = xml_child(q, name, NS_REGISTER);

	return f ? xml_text(f) : NULL;
}

static void
free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

struct reg_ctx {
	struct c2s *c;
	struct xml_node *iq;
	char local[JID_PART_MAX + 1];
	bool remove;
};

static void
reg_done(void *arg, bool ok, const char *err)
{
	struct reg_ctx *x = arg;
	struct c2s *c = x->c;

	if (c->dead)
		goto out;
	if (err) {
		error(c, x->iq, "wait", "internal-server-error", NULL);
	} else if (!ok && !c->authed) {
		error(c, x->iq, "cancel", "conflict", "the username is taken");
	} else if (!ok) {
		error(c, x->iq, "cancel", "item-not-found", NULL);
	} else {
		reply(c, stanza_iq_result(x->iq));
		log_info("c2s %llu: %s: account %s@%s %s", (unsigned long long)c->id,
		    c->peer, x->local, c2s_host(c), x->remove ? "removed" :
		    c->authed ? "changed its password" : "registered");
		/* the other sessions end with not-authorized (accountrm.c) */
		if (x->remove)
			c2s_stream_error(c, NULL, NULL);
	}
out:
	xml_free(x->iq);
	free(x);
	c2s_unblock(c);
}

static struct reg_ctx *
ctx_new(struct c2s *c, struct xml_node *iq, const char *local)
{
	struct reg_ctx *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->c = c;
	x->iq = iq;
	snprintf(x->local, sizeof(x->local), "%s", local);
	c2s_block(c);
	return x;
}

static void
ctx_failed(struct reg_ctx *x)
{
	error(x->c, x->iq, "wait", "resource-constraint", NULL);
	xml_free(x->iq);
	c2s_unblock(x->c);
	free(x);
}

static void
form(struct c2s *c, struct xml_node *iq, bool registered)
{
	struct xml_node *r = stanza_iq_result(iq), *q;

	q = xml_add(r, "query", NS_REGISTER);
	if (registered) {
		xml_add(q, "registered", NULL);
		xml_add_with_text(q, "username", NULL, c->local);
	} else {
		xml_add_with_text(q, "instructions", NULL,
		    "Choose a username and password for use with this service.");
		xml_add(q, "username", NULL);
	}
	xml_add(q, "password", NULL);
	reply(c, r);
	xml_free(iq);
}

/* Validates username and password fields; on failure replies and returns -1. */
static int
check_fields(struct c2s *c, struct xml_node *iq, struct xml_node *q, char *local,
    char **password)
{
	char *user = field(q, "username");

	*password = field(q, "password");
	if (user == NULL || *password == NULL ||
	    (*password)[0] == '\0' || strlen(*password) > 1023) {
		free(user);
		free_secret(*password);
		error(c, iq, "modify", "bad-request", NULL);
		return -1;
	}
	if (jid_local_prep(user, local) == -1) {	/* RFC 7622 §3.3 */
		free(user);
		free_secret(*password);
		error(c, iq, "modify", "jid-malformed", "The username is not a valid localpart");
		return -1;
	}
	free(user);
	if (account_password_entropy(*password) < reg_cfg()->min_password_entropy) {
		free_secret(*password);
		error(c, iq, "modify", "not-acceptable", "The password is too weak");
		return -1;
	}
	return 0;
}

static void
register_preauth(struct c2s *c, struct xml_node *iq)
{
	struct xml_node *q = xml_child(iq, "query", NS_REGISTER);
	const char *type = stanza_type(iq);
	char local[JID_PART_MAX + 1], *pw;
	struct reg_ctx *x;

	if (strcmp(type, "get") == 0) {
		form(c, iq, false);
		return;
	}
	if (strcmp(type, "set") != 0 || xml_child(q, "remove", NS_REGISTER)) {
		error(c, iq, "modify", "bad-request", NULL);
		xml_free(iq);
		return;
	}
	if (check_fields(c, iq, q, local, &pw) == -1) {
		xml_free(iq);
		return;
	}
	if ((x = ctx_new(c, iq, local)) == NULL) {
		free_secret(pw);
		error(c, iq, "wait", "resource-constraint", NULL);
		xml_free(iq);
		return;
	}
	if (account_create(c2s_host(c), local, pw, srv.cfg->scram_iterations,
	    reg_done, x) == -1)
		ctx_failed(x);
	free_secret(pw);
}

static void
remove_done(void *arg, int result, const char *err)
{
	reg_done(arg, result == 1, result == -1 ? (err ? err : "failed") : NULL);
}

static void
register_iq(struct c2s *c, struct xml_node *iq)
{
	struct xml_node *q = xml_child(iq, "query", NS_REGISTER);
	const char *type = stanza_type(iq);
	char local[JID_PART_MAX + 1], *pw;
	struct reg_ctx *x;

	if (strcmp(type, "get") == 0) {
		form(c, iq, true);
		return;
	}
	if (xml_child(q, "remove", NS_REGISTER)) {
		if ((x = ctx_new(c, iq, c->local)) == NULL) {
			error(c, iq, "wait", "resource-constraint", NULL);
			xml_free(iq);
			return;
		}
		x->remove = true;
		if (accountrm_start(c->user, remove_done, x) == -1)
			ctx_failed(x);
		return;
	}
	if (check_fields(c, iq, q, local, &pw) == -1) {
		xml_free(iq);
		return;
	}
	if (strcmp(local, c->local) != 0) {
		free_secret(pw);
		error(c, iq, "modify", "bad-request", "username differs");
		xml_free(iq);
		return;
	}
	if ((x = ctx_new(c, iq, local)) == NULL) {
		free_secret(pw);
		error(c, iq, "wait", "resource-constraint", NULL);
		xml_free(iq);
		return;
	}
	if (account_set_password(c2s_host(c), local, pw, srv.cfg->scram_iterations,
	    reg_done, x) == -1)
		ctx_failed(x);
	free_secret(pw);
}

static bool
preauth_iq(struct iq_req *r)
{
	if (!register_allowed(r->c))
		return false;	/* c2s: not-authorized */
	register_preauth(r->c, r->iq);
	return true;
}

static bool
session_iq(struct iq_req *r)
{
	register_iq(r->c, r->iq);
	return true;
}

static void
features(struct c2s *c, struct buf *b)
{
	if (c->secure && !c->authed && register_allowed(c))
		buf_puts(b, "<register xmlns='http://jabber.org/features/iq-register'/>");
}

static int
config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	struct reg_config *c = calloc(1, sizeof(*c));
	struct conf_table *t;
	char *const *v;
	size_t n = 0;
	long long ent = 32;
	int rc;

	if ((*cfg = c) == NULL)
		return -1;
	/* without the table: registration off and no entropy floor for
	 * password changes (32 bits once the table exists) */
	t = conf_table(root, "registration", e, &rc);
	if (rc <= 0)
		return rc;
	if (conf_bool(t, "enabled", &c->enabled, e) == -1 ||
	    conf_strarr(t, "allow_from", &v, &n, e) == -1 ||
	    conf_int(t, "min_password_entropy", 0, 256, &ent, e) == -1)
		return -1;
	c->min_password_entropy = (unsigned)ent;
	if (n == 0)
		return 0;
	if ((c->allow = calloc(n, sizeof(*c->allow))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (addr_cidr_parse(v[i], &c->allow[i]) == -1) {
			conf_errf(e, t, "allow_from", "invalid network \"%s\"", v[i]);
			return -1;
		}
	}
	c->nallow = n;
	return 0;
}

static void
config_free(void *cfg)
{
	struct reg_config *c = cfg;

	free(c->allow);
	free(c);
}

static const struct iq_handler iqs[] = {
	{ "query", NS_REGISTER, IQ_PREAUTH, preauth_iq },
	{ "query", NS_REGISTER, IQ_CLIENT | IQ_SERVER, session_iq },
	{ NULL, NULL, 0, NULL },
};

static const char *const server_features[] = { NS_REGISTER, NULL };

struct module register_module = {
	.name = "register",
	.folder = "register",
	.config_load = config_load,
	.config_free = config_free,
	.iqs = iqs,
	.stream_features = features,
	.server_features = server_features,
};
