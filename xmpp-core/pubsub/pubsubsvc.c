/*
 * pubsubsvc — pubsub.<host>.  See pubsubsvc.h.
 */
#include "pubsubsvc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "pubsubconf.h"
#include "pubsub.h"
#include "pubsubstore.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

static const char *const features[] = {
	"http://jabber.org/protocol/disco#info",
	"http://jabber.org/protocol/disco#items",
	"http://jabber.org/protocol/pubsub",
	"http://jabber.org/protocol/pubsub#access-open",
	"http://jabber.org/protocol/pubsub#access-presence",
	"http://jabber.org/protocol/pubsub#access-whitelist",
	"http://jabber.org/protocol/pubsub#auto-create",
	"http://jabber.org/protocol/pubsub#config-node",
	"http://jabber.org/protocol/pubsub#create-and-configure",
	"http://jabber.org/protocol/pubsub#create-nodes",
	"http://jabber.org/protocol/pubsub#delete-items",
	"http://jabber.org/protocol/pubsub#delete-nodes",
	"http://jabber.org/protocol/pubsub#item-ids",
	"http://jabber.org/protocol/pubsub#last-published",
	"http://jabber.org/protocol/pubsub#member-affiliation",
	"http://jabber.org/protocol/pubsub#modify-affiliations",
	"http://jabber.org/protocol/pubsub#outcast-affiliation",
	"http://jabber.org/protocol/pubsub#persistent-items",
	"http://jabber.org/protocol/pubsub#publish",
	"http://jabber.org/protocol/pubsub#publish-options",
	"http://jabber.org/protocol/pubsub#publisher-affiliation",
	"http://jabber.org/protocol/pubsub#purge-nodes",
	"http://jabber.org/protocol/pubsub#retract-items",
	"http://jabber.org/protocol/pubsub#retrieve-affiliations",
	"http://jabber.org/protocol/pubsub#retrieve-default",
	"http://jabber.org/protocol/pubsub#retrieve-items",
	"http://jabber.org/protocol/pubsub#retrieve-subscriptions",
	"http://jabber.org/protocol/pubsub#subscribe",
};

/* The host a service JID belongs to, or -1. */
static int
service_host(const char *domain)
{
	const struct pubsub_config *pc = pubsub_cfg();

	if (!pc->service)
		return -1;
	if (pc->service_jid)
		return strcmp(domain, pc->service_jid) == 0 ? 0 : -1;
	if (strncmp(domain, "pubsub.", 7) != 0)
		return -1;
	return router_host_index(domain + 7);
}

static void
pubsubsvc_disco_items(struct xml_node *query, int hostidx)
{
	const char *host = srv.cfg->hosts[hostidx];
	const struct pubsub_config *pc = pubsub_cfg();
	char jid[JID_PART_MAX + 1];
	struct xml_node *it;

	if (!pc->service)
		return;
	if (pc->service_jid)
		snprintf(jid, sizeof(jid), "%s", pc->service_jid);
	else
		snprintf(jid, sizeof(jid), "pubsub.%s", host);
	if ((it = xml_add(query, "item", NULL)) != NULL) {
		xml_set_attr(it, "jid", jid);
		xml_set_attr(it, "name", "Publish-Subscribe");
	}
}

bool
pubsubsvc_may_create(const char *bare)
{
	const char *at = strchr(bare, '@');

	return at != NULL && at != bare && router_host_index(at + 1) >= 0;
}

static void
info(struct xml_node *n)
{
	struct xml_node *r = stanza_iq_result(n), *q, *id;

	if (r == NULL || (q = xml_add(r, "query", NS_DISCO_INFO)) == NULL) {
		xml_free(r);
		return;
	}
	if ((id = xml_add(q, "identity", NULL)) != NULL) {
		xml_set_attr(id, "category", "pubsub");
		xml_set_attr(id, "type", "service");
		xml_set_attr(id, "name", "Publish-Subscribe");
	}
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
		xml_set_attr(xml_add(q, "feature", NULL), "var", features[i]);
	router_route(r);
}

struct items {
	struct xml_node *iq;
	char jid[JID_PART_MAX + 1];
};

static void
nodes_got(void *arg, PGresult *res, const char *err)
{
	struct items *l = arg;
	struct xml_node *r, *q, *it;

	if (res == NULL) {
		log_warn("pubsub: nodes of %s: %s", l->jid, err);
		stanza_bounce(l->iq, "wait", "internal-server-error");
	} else if ((r = stanza_iq_result(l->iq)) != NULL) {
		if ((q = xml_add(r, "query", NS_DISCO_ITEMS)) != NULL) {
			for (int i = 0; i < PQntuples(res); i++) {
				if ((it = xml_add(q, "item", NULL)) == NULL)
					break;
				xml_set_attr(it, "jid", l->jid);
				xml_set_attr(it, "node", PQgetvalue(res, i, 0));
			}
		}
		router_route(r);
	}
	xml_free(l->iq);
	free(l);
}

static void
items(struct xml_node *n, const char *jid)
{
	struct items *l = calloc(1, sizeof(*l));
	char lim[16];
	const char *v[2] = { jid, lim };

	if (l == NULL) {
		stanza_bounce(n, "wait", "resource-constraint");
		xml_free(n);
		return;
	}
	l->iq = n;
	snprintf(l->jid, sizeof(l->jid), "%s", jid);
	snprintf(lim, sizeof(lim), "%u", pubsub_cfg()->max_nodes);
	if (db_query_key(srv.db, jid, &ps_st_nodes, v, nodes_got, l) == NULL) {
		stanza_bounce(n, "wait", "resource-constraint");
		xml_free(n);
		free(l);
	}
}

static bool
pubsubsvc_route(struct xml_node *n, const struct jid *to)
{
	struct xml_node *q = xml_first_elem(n);
	const char *type = stanza_type(n);
	bool get = strcmp(type, "get") == 0;
	struct ps_svc svc;
	int host;

	if (to->local[0] || (host = service_host(to->domain)) < 0)
		return false;
	if (strcmp(n->name, "iq") != 0) {
		/* messages to the service bounce; presence is ignored */
		if (strcmp(n->name, "message") == 0)
			stanza_bounce(n, "cancel", "service-unavailable");
		xml_free(n);
		return true;
	}
	if (!get && strcmp(type, "set") != 0) {
		xml_free(n);
		return true;
	}
	if (to->resource[0] || q == NULL || xml_next_elem(q) != NULL) {
		stanza_bounce(n, "cancel", to->resource[0] ? "service-unavailable" :
		    "bad-request");
	} else if (get && xml_is(q, "query", NS_DISCO_INFO) && xml_attr(q, "node") == NULL) {
		info(n);
	} else if (get && xml_is(q, "query", NS_DISCO_ITEMS) && xml_attr(q, "node") == NULL) {
		items(n, to->domain);
		return true;
	} else if (pubsub_is(q)) {
		memset(&svc, 0, sizeof(svc));
		svc.host = host;
		snprintf(svc.jid, sizeof(svc.jid), "%s", to->domain);
		pubsub_iq(&svc, NULL, n);
		return true;
	} else {
		stanza_bounce(n, "cancel", "service-unavailable");
	}
	xml_free(n);
	return true;
}

static enum hook_rc
route_hook(struct hook_args *a)
{
	return pubsubsvc_route(a->n, a->to) ? HOOK_TAKEN : HOOK_NEXT;
}

static int
config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	if ((*cfg = calloc(1, sizeof(struct pubsub_config))) == NULL)
		return -1;
	return pubsub_config_load(*cfg, root, e);
}

static void
config_free(void *cfg)
{
	free(cfg);
}

static const struct hook hooks[] = {
	{ EV_ROUTE, 0, route_hook },
	{ EV_MAX, 0, NULL },
};

static const char *const migrations[] = { "030_pubsub", NULL };

/* The [pubsub] table and the schema are the PubSub service's, which PEP
 * (pep.c) is one kind of. */
struct module pubsub_module = {
	.name = "pubsub",
	.folder = "pubsub",
	.config_load = config_load,
	.config_free = config_free,
	.migrations = migrations,
	.hooks = hooks,
	.disco_items = pubsubsvc_disco_items,
};
