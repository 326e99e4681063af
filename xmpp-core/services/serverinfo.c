/*
 * serverinfo — what a host says about itself: ping (XEP-0199), software
 * version (XEP-0092), entity time (XEP-0202) and the contact addresses
 * of the [contact] table in its disco#info (XEP-0157).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "form.h"
#include "iq.h"
#include "registry.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

struct contact_config {
	char *const *abuse, *const *admin, *const *support;
	size_t nabuse, nadmin, nsupport;
};

extern struct module serverinfo_module;

static const struct contact_config *
contact_cfg(void)
{
	return module_cfg(&serverinfo_module);
}

static bool
reply(struct iq_req *r, struct xml_node *res)
{
	iq_reply(r->c, res);
	xml_free(r->iq);
	return true;
}

static bool
ping_iq(struct iq_req *r)
{
	if (strcmp(stanza_type(r->iq), "get") != 0)
		return false;
	return reply(r, stanza_iq_result(r->iq));
}

static bool
version_iq(struct iq_req *r)
{
	struct xml_node *res, *q;

	if (strcmp(stanza_type(r->iq), "get") != 0)
		return false;
	res = stanza_iq_result(r->iq);
	q = xml_add(res, "query", "jabber:iq:version");
	xml_add_with_text(q, "name", NULL, "edge xmpp-core");
	xml_add_with_text(q, "version", NULL, EDGE_VERSION);
	return reply(r, res);
}

static bool
time_iq(struct iq_req *r)
{
	struct xml_node *res, *q;
	char buf[64];
	time_t now;
	struct tm tm;

	if (strcmp(stanza_type(r->iq), "get") != 0)
		return false;
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	res = stanza_iq_result(r->iq);
	q = xml_add(res, "time", "urn:xmpp:time");
	xml_add_with_text(q, "tzo", NULL, "+00:00");
	xml_add_with_text(q, "utc", NULL, buf);
	return reply(r, res);
}

static void
add_field(struct xml_node *x, const char *var, char *const *addrs, size_t n)
{
	struct xml_node *f;

	if (n == 0 || (f = form_field(x, var, NULL, NULL, NULL)) == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		xml_add_with_text(f, "value", NULL, addrs[i]);
}

/* XEP-0157: the serverinfo form, when any address is configured. */
static void
contact_disco(enum disco_target t, int host, struct disco *d)
{
	const struct contact_config *cc = contact_cfg();
	struct xml_node *x;

	(void)host;
	if (t != DISCO_SERVER || cc->nabuse + cc->nadmin + cc->nsupport == 0 ||
	    (x = xml_new("x", "jabber:x:data")) == NULL)
		return;
	xml_set_attr(x, "type", "result");
	form_field(x, "FORM_TYPE", "hidden", NULL, "http://jabber.org/network/serverinfo");
	add_field(x, "abuse-addresses", cc->abuse, cc->nabuse);
	add_field(x, "admin-addresses", cc->admin, cc->nadmin);
	add_field(x, "support-addresses", cc->support, cc->nsupport);
	disco_add_form(d, x);
	xml_free(x);
}

static int
config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	struct contact_config *c = calloc(1, sizeof(*c));
	struct conf_table *t;
	int rc;

	if ((*cfg = c) == NULL)
		return -1;
	t = conf_table(root, "contact", e, &rc);
	if (rc == -1)
		return -1;
	if (rc == 1 && (conf_strarr(t, "abuse", &c->abuse, &c->nabuse, e) == -1 ||
	    conf_strarr(t, "admin", &c->admin, &c->nadmin, e) == -1 ||
	    conf_strarr(t, "support", &c->support, &c->nsupport, e) == -1))
		return -1;
	return 0;
}

static void
config_free(void *cfg)
{
	free(cfg);	/* the strings belong to the parsed file */
}

static const struct iq_handler iqs[] = {
	{ "ping", "urn:xmpp:ping", IQ_NOTO | IQ_HOST, ping_iq },
	{ "query", "jabber:iq:version", IQ_NOTO | IQ_HOST, version_iq },
	{ "time", "urn:xmpp:time", IQ_NOTO | IQ_HOST, time_iq },
	{ NULL, NULL, 0, NULL },
};

static const char *const features[] = {
	"jabber:iq:version", "urn:xmpp:ping", "urn:xmpp:time", NULL,
};

struct module serverinfo_module = {
	.name = "serverinfo",
	.folder = "services",
	.config_load = config_load,
	.config_free = config_free,
	.iqs = iqs,
	.server_features = features,
	.disco_info = contact_disco,
};
