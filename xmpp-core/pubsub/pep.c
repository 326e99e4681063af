/*
 * pep — XEP-0163 on accounts' bare JIDs.  See pep.h.
 */
#include "pep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avatar.h"
#include "bookmarks.h"
#include "buf.h"
#include "c2s.h"
#include "caps.h"
#include "db.h"
#include "fragment.h"
#include "iq.h"
#include "log.h"
#include "pubsubconf.h"
#include "pubsub.h"
#include "pubsubaccess.h"
#include "pubsubnotify.h"
#include "pubsubstore.h"
#include "roster.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

static const char *const account_features[] = {
	"http://jabber.org/protocol/pubsub",
	"http://jabber.org/protocol/pubsub#access-open",
	"http://jabber.org/protocol/pubsub#access-presence",
	"http://jabber.org/protocol/pubsub#access-whitelist",
	"http://jabber.org/protocol/pubsub#auto-create",
	"http://jabber.org/protocol/pubsub#auto-subscribe",
	"http://jabber.org/protocol/pubsub#config-node",
	"http://jabber.org/protocol/pubsub#create-and-configure",
	"http://jabber.org/protocol/pubsub#create-nodes",
	"http://jabber.org/protocol/pubsub#delete-items",
	"http://jabber.org/protocol/pubsub#delete-nodes",
	"http://jabber.org/protocol/pubsub#filtered-notifications",
	"http://jabber.org/protocol/pubsub#item-ids",
	"http://jabber.org/protocol/pubsub#last-published",
	"http://jabber.org/protocol/pubsub#member-affiliation",
	"http://jabber.org/protocol/pubsub#modify-affiliations",
	"http://jabber.org/protocol/pubsub#outcast-affiliation",
	"http://jabber.org/protocol/pubsub#persistent-items",
	"http://jabber.org/protocol/pubsub#presence-notifications",
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
	"urn:xmpp:bookmarks-conversion:0",	/* XEP-0411 §2: on the account */
	"urn:xmpp:bookmarks:1#compat",
	"urn:xmpp:pep-vcard-conversion:0",	/* XEP-0398 §2: on the account */
};

/* Identity and features of PEP in another account's disco#info. */
static void
pep_disco_info(struct xml_node *q)
{
	struct xml_node *id = xml_add(q, "identity", NULL);

	if (id) {
		xml_set_attr(id, "category", "pubsub");
		xml_set_attr(id, "type", "pep");
	}
	for (size_t i = 0; i < sizeof(account_features) / sizeof(account_features[0]); i++)
		xml_set_attr(xml_add(q, "feature", NULL), "var", account_features[i]);
}

/* XEP-0163 §6: the account is a PEP service (one's own disco#info). */
static void
pep_disco(enum disco_target t, int host, struct disco *d)
{
	(void)host;
	if (t != DISCO_ACCOUNT)
		return;
	disco_add_identity(d, "pubsub", "pep", NULL);
	for (size_t i = 0; i < sizeof(account_features) / sizeof(account_features[0]); i++)
		disco_add_feature(d, account_features[i]);
}

/* ---- disco of an account ---- */

struct pep_disco {
	struct c2s *c;		/* own session, or NULL (routed answer) */
	struct xml_node *iq;
	struct ps_svc svc;
	char requester[2 * JID_PART_MAX + 2];
	bool info;
	PGresult *nodes;
};

static void
disco_end(struct pep_disco *d)
{
	if (d->nodes)
		PQclear(d->nodes);
	xml_free(d->iq);
	if (d->c)
		c2s_unblock(d->c);
	free(d);
}

static void
disco_reply(struct pep_disco *d, struct xml_node *r)
{
	if (r == NULL)
		return;
	if (d->c == NULL)
		router_route(r);
	else if (!d->c->dead)
		iq_reply(d->c, r);
	else
		xml_free(r);
}

static void
disco_fail(struct pep_disco *d, const char *type, const char *cond)
{
	if (d->c == NULL)
		stanza_bounce(d->iq, type, cond);
	else if (!d->c->dead)
		iq_error(d->c, d->iq, type, cond);
	disco_end(d);
}

/* The nodes the requester may see (sub_from: it has the owner's presence). */
static void
items_reply(struct pep_disco *d, const PGresult *nodes, struct roster *owner_roster)
{
	struct xml_node *r = stanza_iq_result(d->iq), *q, *it;
	struct roster_item *ri = NULL;
	struct ps_config cfg;
	bool own = strcmp(d->requester, d->svc.jid) == 0;

	if (owner_roster && owner_roster->loaded)
		ri = roster_find(owner_roster, d->requester);
	if (r == NULL || (q = xml_add(r, "query", NS_DISCO_ITEMS)) == NULL) {
		xml_free(r);
		disco_fail(d, "wait", "resource-constraint");
		return;
	}
	for (int i = 0; i < PQntuples(nodes); i++) {
		const char *node = PQgetvalue(nodes, i, 0);

		ps_config_decode(PQgetvalue(nodes, i, 1), true, node, &cfg);
		if (!own && !(cfg.access == PS_ACCESS_OPEN ||
		    (cfg.access == PS_ACCESS_PRESENCE && ri && ri->sub_from)))
			continue;
		if ((it = xml_add(q, "item", NULL)) == NULL)
			break;
		xml_set_attr(it, "jid", d->svc.jid);
		xml_set_attr(it, "node", node);
	}
	disco_reply(d, r);
	disco_end(d);
}

static void
owner_roster(void *arg, struct user *u)
{
	struct pep_disco *d = arg;

	if (d->c == NULL || !d->c->dead)
		items_reply(d, d->nodes, USER_ROSTER(u));
	else
		disco_end(d);
	router_user_unref(u);
}

static void
nodes_got(void *arg, PGresult *res, const char *err)
{
	struct pep_disco *d = arg;
	struct user *u;

	if (d->c && d->c->dead) {
		disco_end(d);
		return;
	}
	if (res == NULL) {
		log_warn("pep: nodes of %s: %s", d->svc.jid, err);
		disco_fail(d, "wait", "internal-server-error");
		return;
	}
	if (strcmp(d->requester, d->svc.jid) == 0) {
		items_reply(d, res, NULL);
		return;
	}
	/* the result is db's: keep a copy for after the roster load */
	if ((d->nodes = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES)) == NULL ||
	    (u = router_user_get(d->svc.host, d->svc.local)) == NULL) {
		disco_fail(d, "wait", "resource-constraint");
		return;
	}
	roster_load(u, owner_roster, d);
}

static void
account_got(void *arg, PGresult *res, const char *err)
{
	struct pep_disco *d = arg;
	struct xml_node *r, *q, *id;

	if (d->c && d->c->dead) {
		disco_end(d);
		return;
	}
	if (res == NULL || PQntuples(res) == 0) {
		log_warn("pep: account %s: %s", d->svc.jid, err ? err : "no row");
		disco_fail(d, "wait", "internal-server-error");
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		disco_fail(d, "cancel", "service-unavailable");
		return;
	}
	if (!d->info) {
		char lim[16];
		const char *v[2] = { d->svc.jid, lim };

		snprintf(lim, sizeof(lim), "%u", pubsub_cfg()->max_nodes);
		if (db_query_key(srv.db, d->svc.jid, &ps_st_nodes, v, nodes_got, d) == NULL)
			disco_fail(d, "wait", "resource-constraint");
		return;
	}
	if ((r = stanza_iq_result(d->iq)) == NULL ||
	    (q = xml_add(r, "query", NS_DISCO_INFO)) == NULL) {
		xml_free(r);
		disco_fail(d, "wait", "resource-constraint");
		return;
	}
	if ((id = xml_add(q, "identity", NULL)) != NULL) {
		xml_set_attr(id, "category", "account");
		xml_set_attr(id, "type", "registered");
	}
	pep_disco_info(q);
	disco_reply(d, r);
	disco_end(d);
}

static void
disco_start(struct c2s *c, struct xml_node *n, int host, const char *local, bool info)
{
	struct pep_disco *d = calloc(1, sizeof(*d));
	struct jid from;
	const char *v[2];

	if (d == NULL || stanza_jid(n, "from", &from) != 1) {
		free(d);
		if (c)
			iq_error(c, n, "wait", "resource-constraint");
		else
			stanza_bounce(n, "wait", "resource-constraint");
		xml_free(n);
		return;
	}
	d->c = c;
	d->iq = n;
	d->info = info;
	ps_svc_pep(&d->svc, host, local);
	jid_bare(&from, d->requester, sizeof(d->requester));
	if (c)
		c2s_block(c);
	v[0] = srv.cfg->hosts[host];
	v[1] = local;
	if (c) {
		/* one's own account exists */
		char lim[16];
		const char *w[2] = { d->svc.jid, lim };

		snprintf(lim, sizeof(lim), "%u", pubsub_cfg()->max_nodes);
		if (db_query_key(srv.db, d->svc.jid, &ps_st_nodes, w, nodes_got, d) == NULL)
			disco_fail(d, "wait", "resource-constraint");
		return;
	}
	if (db_query_key(srv.db, d->svc.jid, &ps_st_account, v, account_got, d) == NULL)
		disco_fail(d, "wait", "resource-constraint");
}

static bool
is_disco(const struct xml_node *n, const char *ns)
{
	const struct xml_node *q = xml_first_elem(n);

	return strcmp(stanza_type(n), "get") == 0 && xml_is(q, "query", ns) &&
	    xml_attr(q, "node") == NULL;
}

static bool
pep_iq(struct c2s *c, struct xml_node *n, bool addressed)
{
	struct ps_svc svc;

	if (pubsub_is(xml_first_elem(n))) {
		ps_svc_pep(&svc, c->host, c->local);
		pubsub_iq(&svc, c, n);
		return true;
	}
	if (addressed && is_disco(n, NS_DISCO_ITEMS)) {
		disco_start(c, n, c->host, c->local, false);
		return true;
	}
	return false;
}

static bool
pep_deliver(struct xml_node *n, const struct jid *to, int host)
{
	struct ps_svc svc;
	const char *type = stanza_type(n);

	if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
		return false;
	if (pubsub_is(xml_first_elem(n))) {
		ps_svc_pep(&svc, host, to->local);
		pubsub_iq(&svc, NULL, n);
		return true;
	}
	if (is_disco(n, NS_DISCO_INFO) || is_disco(n, NS_DISCO_ITEMS)) {
		disco_start(NULL, n, host, to->local, is_disco(n, NS_DISCO_INFO));
		return true;
	}
	return false;
}

/* ---- the last items when a resource comes online ---- */

struct last {
	struct c2s *c;
	char *nodes;
};

static void
last_got(void *arg, PGresult *res, const char *err)
{
	struct last *l = arg;
	struct c2s *c = l->c;
	struct roster *r;
	struct roster_item *it;
	struct ps_config cfg;
	struct xml_node *pl, *ev, *m;

	if (res == NULL)
		log_warn("pep: last items for %s: %s", c->full ? c->full : "?", err);
	for (int i = 0; res && !c->dead && c->user && i < PQntuples(res); i++) {
		const char *svc = PQgetvalue(res, i, 0), *node = PQgetvalue(res, i, 1);
		const char *d = PQgetvalue(res, i, 5);
		bool own = strcmp(svc, c->user->bare) == 0;

		ps_config_decode(PQgetvalue(res, i, 2), true, node, &cfg);
		if (cfg.send_last != PS_SENDLAST_ON_SUB_AND_PRESENCE || !cfg.deliver_notifications)
			continue;
		r = USER_ROSTER(c->user);
		it = r && r->loaded ? roster_find(r, svc) : NULL;
		if (!own && (cfg.access == PS_ACCESS_WHITELIST || it == NULL || !it->sub_to))
			continue;
		pl = d[0] && cfg.deliver_payloads ? fragment_parse(d, strlen(d), NS_PUBSUB) : NULL;
		ev = ps_items_event(node, PQgetvalue(res, i, 3), pl);
		xml_free(pl);
		if ((m = ps_event_message(svc, c->full, ev)) != NULL) {
			c2s_send(c, m);
			xml_free(m);
		}
	}
	c2s_unref(c);
	free(l->nodes);
	free(l);
}

static void
last_roster(void *arg, struct user *u)
{
	struct last *l = arg;
	struct roster *r = USER_ROSTER(u);
	struct buf svcs;
	const char *v[2];

	if (l->c->dead || l->c->user != u) {
		c2s_unref(l->c);
		free(l->nodes);
		free(l);
		return;
	}
	buf_init(&svcs);
	buf_puts(&svcs, u->bare);
	for (size_t i = 0; r && r->loaded && i < r->n; i++)
		if (r->items[i].sub_to)
			buf_printf(&svcs, "\n%s", r->items[i].jid);
	v[0] = svcs.p;
	v[1] = l->nodes;
	if (svcs.p == NULL || db_query(srv.db, &ps_st_last, v, last_got, l) == NULL) {
		c2s_unref(l->c);
		free(l->nodes);
		free(l);
	}
	buf_free(&svcs);
}

void
pep_caps_ready(struct c2s *c)
{
	char *const *f;
	size_t n = caps_features(c, &f), len;
	struct buf nodes;
	struct last *l;

	if (c->user == NULL)
		return;
	buf_init(&nodes);
	for (size_t i = 0; i < n; i++) {
		len = strlen(f[i]);
		if (len <= 7 || strcmp(f[i] + len - 7, "+notify") != 0 ||
		    len - 7 > PS_NODE_MAX || strchr(f[i], '\n'))
			continue;
		buf_printf(&nodes, "%s%.*s", nodes.len ? "\n" : "", (int)(len - 7), f[i]);
	}
	if (nodes.p == NULL || (l = calloc(1, sizeof(*l))) == NULL) {
		buf_free(&nodes);
		return;
	}
	l->c = c;
	l->nodes = buf_steal(&nodes);
	c2s_ref(c);
	roster_load(c->user, last_roster, l);
}

/* ---- the last items for another server's resource ----
 *
 * As pep_caps_ready for a session: a resource of another server that
 * sent our account presence with caps wanting some of its nodes gets
 * their last items (send_last_published_item = on_sub_and_presence,
 * the account's own nodes only), if its roster item lets it see them.
 */

struct rlast {
	struct user *u;		/* the owner (referenced) */
	char *full;
	char *nodes;
};

static void
rlast_end(struct rlast *l)
{
	if (l->u)
		router_user_unref(l->u);
	free(l->full);
	free(l->nodes);
	free(l);
}

static void
rlast_got(void *arg, PGresult *res, const char *err)
{
	struct rlast *l = arg;
	struct roster *r = USER_ROSTER(l->u);
	struct roster_item *it = NULL;
	struct ps_config cfg;
	struct xml_node *pl, *ev, *m;
	struct jid j;
	char bare[2 * JID_PART_MAX + 2];

	if (res == NULL)
		log_warn("pep: last items of %s for %s: %s", l->u->bare, l->full, err);
	if (r && r->loaded && jid_parse(l->full, &j) == 0)
		it = roster_find(r, jid_bare(&j, bare, sizeof(bare)));
	for (int i = 0; res && i < PQntuples(res); i++) {
		const char *node = PQgetvalue(res, i, 1), *d = PQgetvalue(res, i, 5);

		ps_config_decode(PQgetvalue(res, i, 2), true, node, &cfg);
		if (cfg.send_last != PS_SENDLAST_ON_SUB_AND_PRESENCE || !cfg.deliver_notifications ||
		    !ps_access_contact(&cfg, it && it->sub_from))
			continue;
		pl = d[0] && cfg.deliver_payloads ? fragment_parse(d, strlen(d), NS_PUBSUB) : NULL;
		ev = ps_items_event(node, PQgetvalue(res, i, 3), pl);
		xml_free(pl);
		if ((m = ps_event_message(l->u->bare, l->full, ev)) != NULL)
			router_route(m);
	}
	rlast_end(l);
}

static void
rlast_roster(void *arg, struct user *u)
{
	struct rlast *l = arg;
	const char *v[2] = { u->bare, l->nodes };

	if (db_query(srv.db, &ps_st_last, v, rlast_got, l) == NULL)
		rlast_end(l);
}

void
pep_remote_caps_ready(const char *owner, const char *full, char *const *f, size_t n)
{
	struct buf nodes;
	struct rlast *l;
	struct jid o;
	int host;
	size_t len;

	if (jid_parse(owner, &o) == -1 || (host = router_host_index(o.domain)) < 0)
		return;
	buf_init(&nodes);
	for (size_t i = 0; i < n; i++) {
		len = strlen(f[i]);
		if (len <= 7 || strcmp(f[i] + len - 7, "+notify") != 0 ||
		    len - 7 > PS_NODE_MAX || strchr(f[i], '\n'))
			continue;
		buf_printf(&nodes, "%s%.*s", nodes.len ? "\n" : "", (int)(len - 7), f[i]);
	}
	if (nodes.p == NULL || (l = calloc(1, sizeof(*l))) == NULL) {
		buf_free(&nodes);
		return;
	}
	l->nodes = buf_steal(&nodes);
	if ((l->full = strdup(full)) == NULL ||
	    (l->u = router_user_get(host, o.local)) == NULL) {
		rlast_end(l);
		return;
	}
	roster_load(l->u, rlast_roster, l);
}

/* ---- conversions ---- */

void
pep_published(const struct ps_svc *svc, const char *node, const char *id,
    const struct xml_node *payload, struct c2s *c)
{
	bookmarks_published(svc, node, id, payload);
	avatar_published(svc, node, id, payload, c);
}

void
pep_retracted(const struct ps_svc *svc, const char *node, const char *id)
{
	bookmarks_retracted(svc, node, id);
}

static bool
own_iq(struct iq_req *r)
{
	return pep_iq(r->c, r->iq, r->scope == IQ_SELF);
}

static bool
account_iq(struct iq_req *r)
{
	return pep_deliver(r->iq, r->to, r->host);
}

static const struct iq_handler iqs[] = {
	{ "pubsub", NS_PUBSUB, IQ_CLIENT, own_iq },
	{ "pubsub", NS_PUBSUB_OWNER, IQ_CLIENT, own_iq },
	/* one's own PEP nodes; the server's items are the core's */
	{ "query", NS_DISCO_ITEMS, IQ_SELF, own_iq },
	{ "pubsub", NS_PUBSUB, IQ_ACCOUNT, account_iq },
	{ "pubsub", NS_PUBSUB_OWNER, IQ_ACCOUNT, account_iq },
	{ "query", NS_DISCO_INFO, IQ_ACCOUNT, account_iq },
	{ "query", NS_DISCO_ITEMS, IQ_ACCOUNT, account_iq },
	{ NULL, NULL, 0, NULL },
};

struct module pep_module = {
	.name = "pep",
	.folder = "pubsub",
	.iqs = iqs,
	.disco_info = pep_disco,
};
