/*
 * disco — XEP-0030 answers assembled from the registry, and the server's
 * XEP-0115 caps.  See disco.h.
 *
 * disco#info of a host: identity server/im plus every module's server
 * features and what their disco_info adds (forms such as XEP-0157's);
 * of an account (the sender's own bare JID): identity account/registered
 * plus the modules' account features.  Identities and features are sorted
 * (XEP-0115 §5.1 orders by byte value; clients do not care) and a feature
 * two modules add appears once.  The hosts' answers are built again on
 * every configuration load, and their caps ver with them.
 */
#include "disco.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "c2s.h"
#include "capsver.h"
#include "iq.h"
#include "log.h"
#include "registry.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define CAPS_NODE "https://github.com/edge-xmpp/edge"
#define VER_MAX 64

struct disco_ident {
	char *category, *type, *name;
};

struct disco {
	char **features;
	size_t nfeatures, capfeatures;
	struct disco_ident *ids;
	size_t nids, capids;
	struct xml_node **forms;
	size_t nforms, capforms;
	bool failed;		/* out of memory somewhere */
};

static char (*vers)[VER_MAX];	/* per host */
static size_t nvers;

static bool
grow(void **p, size_t *cap, size_t n, size_t size)
{
	void *q;
	size_t nc;

	if (n < *cap)
		return true;
	nc = *cap ? *cap * 2 : 16;
	if ((q = realloc(*p, nc * size)) == NULL)
		return false;
	*p = q;
	*cap = nc;
	return true;
}

void
disco_add_feature(struct disco *d, const char *var)
{
	char *v;

	if (!grow((void **)&d->features, &d->capfeatures, d->nfeatures, sizeof(char *)) ||
	    (v = strdup(var)) == NULL) {
		d->failed = true;
		return;
	}
	d->features[d->nfeatures++] = v;
}

void
disco_add_identity(struct disco *d, const char *category, const char *type,
    const char *name)
{
	struct disco_ident *i;

	if (!grow((void **)&d->ids, &d->capids, d->nids, sizeof(*d->ids))) {
		d->failed = true;
		return;
	}
	i = &d->ids[d->nids];
	i->category = strdup(category);
	i->type = strdup(type);
	i->name = name ? strdup(name) : NULL;
	if (i->category == NULL || i->type == NULL || (name && i->name == NULL)) {
		free(i->category);
		free(i->type);
		free(i->name);
		d->failed = true;
		return;
	}
	d->nids++;
}

void
disco_add_form(struct disco *d, const struct xml_node *x)
{
	struct xml_node *c;

	if (!grow((void **)&d->forms, &d->capforms, d->nforms, sizeof(*d->forms)) ||
	    (c = xml_copy(x)) == NULL) {
		d->failed = true;
		return;
	}
	d->forms[d->nforms++] = c;
}

static void
disco_free(struct disco *d)
{
	for (size_t i = 0; i < d->nfeatures; i++)
		free(d->features[i]);
	for (size_t i = 0; i < d->nids; i++) {
		free(d->ids[i].category);
		free(d->ids[i].type);
		free(d->ids[i].name);
	}
	for (size_t i = 0; i < d->nforms; i++)
		xml_free(d->forms[i]);
	free(d->features);
	free(d->ids);
	free(d->forms);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmp_ident(const void *a, const void *b)
{
	const struct disco_ident *x = a, *y = b;
	int r;

	if ((r = strcmp(x->category, y->category)) != 0)
		return r;
	return strcmp(x->type, y->type);
}

/* What the modules say of a host or an account, as a query's children. */
static int
collect(enum disco_target t, int host, struct xml_node *q)
{
	struct disco d = { 0 };
	struct xml_node *e;
	int rc = -1;

	if (t == DISCO_SERVER)
		disco_add_identity(&d, "server", "im", "edge");
	else
		disco_add_identity(&d, "account", "registered", NULL);
	for (size_t k = 0; k < registry_nmodules; k++) {
		const struct module *m = registry_modules[k];
		const char *const *f = t == DISCO_SERVER ? m->server_features :
		    m->account_features;

		for (; f && *f; f++)
			disco_add_feature(&d, *f);
		if (m->disco_info)
			m->disco_info(t, host, &d);
	}
	if (d.failed)
		goto out;
	qsort(d.ids, d.nids, sizeof(*d.ids), cmp_ident);
	qsort(d.features, d.nfeatures, sizeof(char *), cmp_str);
	for (size_t i = 0; i < d.nids; i++) {
		if ((e = xml_add(q, "identity", NULL)) == NULL ||
		    xml_set_attr(e, "category", d.ids[i].category) == -1 ||
		    xml_set_attr(e, "type", d.ids[i].type) == -1 ||
		    (d.ids[i].name && xml_set_attr(e, "name", d.ids[i].name) == -1))
			goto out;
	}
	for (size_t i = 0; i < d.nfeatures; i++) {
		if (i > 0 && strcmp(d.features[i - 1], d.features[i]) == 0)
			continue;
		if ((e = xml_add(q, "feature", NULL)) == NULL ||
		    xml_set_attr(e, "var", d.features[i]) == -1)
			goto out;
	}
	for (size_t i = 0; i < d.nforms; i++) {
		xml_append_child(q, d.forms[i]);
		d.forms[i] = NULL;
	}
	rc = 0;
out:
	disco_free(&d);
	return rc;
}

int
disco_init(char *err, size_t errlen)
{
	char (*nv)[VER_MAX] = calloc(srv.cfg->nhosts, sizeof(*nv));
	struct xml_node *q;

	if (nv == NULL) {
		snprintf(err, errlen, "disco: out of memory");
		return -1;
	}
	for (size_t h = 0; h < srv.cfg->nhosts; h++) {
		if ((q = xml_new("query", NS_DISCO_INFO)) == NULL ||
		    collect(DISCO_SERVER, (int)h, q) == -1 ||
		    capsver(q, "sha-1", nv[h], VER_MAX) == -1) {
			snprintf(err, errlen, "disco: the features of %s do not make a "
			    "valid caps hash (out of memory or a duplicate)",
			    srv.cfg->hosts[h]);
			xml_free(q);
			free(nv);
			return -1;
		}
		xml_free(q);
	}
	free(vers);
	vers = nv;
	nvers = srv.cfg->nhosts;
	return 0;
}

void
disco_cleanup(void)
{
	free(vers);
	vers = NULL;
	nvers = 0;
}

const char *
disco_ver(int host)
{
	return host >= 0 && (size_t)host < nvers ? vers[host] : "";
}

void
disco_caps(struct buf *b, int host)
{
	buf_printf(b, "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
	    "node='%s' ver='%s'/>", CAPS_NODE, disco_ver(host));
}

/* disco#info of the host (no 'to', or the domain) or of one's account. */
bool
disco_iq_info(struct iq_req *r)
{
	bool account = r->scope == IQ_SELF;
	const char *node = xml_attr(r->q, "node");
	struct xml_node *res, *rq;

	if (strcmp(stanza_type(r->iq), "get") != 0)
		return false;
	if (node) {
		char want[128];

		snprintf(want, sizeof(want), "%s#%s", CAPS_NODE, disco_ver(r->host));
		if (account || strcmp(node, want) != 0) {
			iq_error(r->c, r->iq, "cancel", "item-not-found");
			xml_free(r->iq);
			return true;
		}
	}
	if ((res = stanza_iq_result(r->iq)) == NULL ||
	    (rq = xml_add(res, "query", NS_DISCO_INFO)) == NULL ||
	    (node && xml_set_attr(rq, "node", node) == -1) ||
	    collect(account ? DISCO_ACCOUNT : DISCO_SERVER, r->host, rq) == -1) {
		xml_free(res);
		iq_error(r->c, r->iq, "wait", "resource-constraint");
		xml_free(r->iq);
		return true;
	}
	iq_reply(r->c, res);
	xml_free(r->iq);
	return true;
}

/* disco#items of the host: the services of the modules. */
bool
disco_iq_items(struct iq_req *r)
{
	struct xml_node *res, *rq;

	if (strcmp(stanza_type(r->iq), "get") != 0)
		return false;
	if (xml_attr(r->q, "node")) {
		iq_error(r->c, r->iq, "cancel", "item-not-found");
		xml_free(r->iq);
		return true;
	}
	if ((res = stanza_iq_result(r->iq)) == NULL ||
	    (rq = xml_add(res, "query", NS_DISCO_ITEMS)) == NULL) {
		xml_free(res);
		iq_error(r->c, r->iq, "wait", "resource-constraint");
		xml_free(r->iq);
		return true;
	}
	for (size_t k = 0; k < registry_nmodules; k++)
		if (registry_modules[k]->disco_items)
			registry_modules[k]->disco_items(rq, r->host);
	iq_reply(r->c, res);
	xml_free(r->iq);
	return true;
}
