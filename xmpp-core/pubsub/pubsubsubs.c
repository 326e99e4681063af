/*
 * pubsubsubs — subscriptions and affiliations of XEP-0060: subscribe
 * (§6.1, with the last item, §6.1.7), unsubscribe (§6.2), the
 * requester's subscriptions and affiliations (§5.6, §5.7), and the
 * owner's view and changes of a node's subscriptions and affiliations
 * (§8.8, §8.9).  See pubsubreq.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fragment.h"
#include "log.h"
#include "pubsubconf.h"
#include "pubsubnotify.h"
#include "pubsubreq.h"
#include "pubsubstore.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define MAX_AFF_SET 100

/* ---- subscriptions ---- */

static void
sent_last(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;
	struct xml_node *ev, *m, *pl = NULL;
	const char *d;

	if (res && PQntuples(res) > 0 && !pubsub_req_gone(r)) {
		d = PQgetvalue(res, 0, 2);
		if (d[0] && r->cfg.deliver_payloads)
			pl = fragment_parse(d, strlen(d), NS_PUBSUB);
		ev = ps_items_event(r->node, PQgetvalue(res, 0, 0), pl);
		if ((m = ps_event_message(r->svc.jid, r->extra, ev)) != NULL)
			router_route(m);
		xml_free(pl);
	} else if (res == NULL) {
		log_warn("pubsub: last item of %s %s: %s", r->svc.jid, r->node, err);
	}
	pubsub_req_end(r);
}

static void
subscribed(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;
	struct xml_node *rs, *ps, *s;
	const char *v[3] = { r->id, "", "1" };

	if (pubsub_req_db_failed(r, res, err))
		return;
	if (PQntuples(res) == 0) {
		log_info("pubsub: %s node %s is at max_subscriptions", r->svc.jid, r->node);
		pubsub_req_fail(r, "wait", "resource-constraint", NULL);
		return;
	}
	if ((rs = pubsub_req_result(r, NS_PUBSUB, &ps)) != NULL &&
	    (s = xml_add(ps, "subscription", NULL)) != NULL) {
		xml_set_attr(s, "node", r->node);
		xml_set_attr(s, "jid", r->extra);
		xml_set_attr(s, "subscription", "subscribed");
	}
	pubsub_req_reply(r, rs);
	xml_free(r->iq);
	r->iq = NULL;
	/* XEP-0060 §6.1.7: the last item on subscription */
	if (r->cfg.send_last == PS_SENDLAST_NEVER || !r->cfg.deliver_notifications) {
		pubsub_req_end(r);
		return;
	}
	if (db_query_key(srv.db, r->svc.jid, &ps_st_items, v, sent_last, r) == NULL)
		pubsub_req_end(r);
}

static void
subscribe_allowed(void *arg, const char *type, const char *cond, const char *app)
{
	struct ps_req *r = arg;
	char lim[16];
	const char *v[3] = { r->id, r->extra, lim };

	if (pubsub_req_gone(r)) {
		pubsub_req_end(r);
		return;
	}
	if (cond) {
		pubsub_req_fail(r, type, cond, app);
		return;
	}
	snprintf(lim, sizeof(lim), "%u", pubsub_cfg()->max_subscriptions);
	pubsub_req_query(r, &ps_st_subscribe, v, subscribed);
}

/* The subscription's JID must be the requester's (§6.1.3.1): 0 / -1. */
static int
sub_jid(struct ps_req *r)
{
	const char *j = xml_attr(r->act, "jid");
	struct jid jj;
	char b[2 * JID_PART_MAX + 2], full[JID_STR_MAX + 1];

	if (j == NULL || jid_parse(j, &jj) == -1 ||
	    strcmp(jid_bare(&jj, b, sizeof(b)), r->bare) != 0) {
		pubsub_req_fail(r, "modify", "bad-request", "invalid-jid");
		return -1;
	}
	if ((r->extra = strdup(jid_full(&jj, full, sizeof(full)))) == NULL) {
		pubsub_req_fail(r, "wait", "resource-constraint", NULL);
		return -1;
	}
	return 0;
}

void
pubsub_subscribe_loaded(struct ps_req *r)
{
	if (!pubsub_req_need_node(r) || sub_jid(r) == -1)
		return;
	ps_access_read(r->owner_host, r->owner_local, &r->cfg, r->role, r->bare,
	    subscribe_allowed, r);
}

static void
unsubscribed(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (pubsub_req_db_failed(r, res, err))
		return;
	if (PQntuples(res) == 0)
		pubsub_req_fail(r, "cancel", "unexpected-request", "not-subscribed");
	else
		pubsub_req_ok(r, NULL);
}

void
pubsub_unsubscribe_loaded(struct ps_req *r)
{
	const char *v[2];

	if (!pubsub_req_need_node(r) || sub_jid(r) == -1)
		return;
	v[0] = r->id;
	v[1] = r->extra;
	pubsub_req_query(r, &ps_st_unsubscribe, v, unsubscribed);
}

/* A list result: <pubsub xmlns=ns><what [node]><elem a0=col0 a1=col1/>... */
static void
list_got(struct ps_req *r, PGresult *res, const char *ns, const char *what,
    const char *elem, const char *a0, const char *a1, const char *fixed)
{
	struct xml_node *rs, *ps, *l, *e;

	if ((rs = pubsub_req_result(r, ns, &ps)) == NULL ||
	    (l = xml_add(ps, what, NULL)) == NULL) {
		xml_free(rs);
		pubsub_req_fail(r, "wait", "resource-constraint", NULL);
		return;
	}
	if (r->node[0])
		xml_set_attr(l, "node", r->node);
	if (r->svc.pep && strcmp(what, "affiliations") == 0 && r->role == PS_ROLE_OWNER &&
	    strcmp(ns, NS_PUBSUB_OWNER) == 0 && (e = xml_add(l, elem, NULL)) != NULL) {
		xml_set_attr(e, "jid", r->svc.jid);
		xml_set_attr(e, "affiliation", "owner");
	}
	for (int i = 0; i < PQntuples(res); i++) {
		if ((e = xml_add(l, elem, NULL)) == NULL)
			break;
		xml_set_attr(e, a0, PQgetvalue(res, i, 0));
		if (a1)
			xml_set_attr(e, a1, fixed ? fixed : PQgetvalue(res, i, 1));
		if (strcmp(what, "subscriptions") == 0 && strcmp(a0, "node") == 0)
			xml_set_attr(e, "jid", PQgetvalue(res, i, 1));
	}
	pubsub_req_ok(r, rs);
}

void
pubsub_user_subs_got(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (!pubsub_req_db_failed(r, res, err))
		list_got(r, res, NS_PUBSUB, "subscriptions", "subscription", "node",
		    "subscription", "subscribed");
}

void
pubsub_user_affs_got(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (!pubsub_req_db_failed(r, res, err))
		list_got(r, res, NS_PUBSUB, "affiliations", "affiliation", "node",
		    "affiliation", r->svc.pep && strcmp(r->bare, r->svc.jid) == 0 ?
		    "owner" : NULL);
}

static void
node_subs_got(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (!pubsub_req_db_failed(r, res, err))
		list_got(r, res, NS_PUBSUB_OWNER, "subscriptions", "subscription", "jid",
		    "subscription", "subscribed");
}

static void
node_affs_got(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (!pubsub_req_db_failed(r, res, err))
		list_got(r, res, NS_PUBSUB_OWNER, "affiliations", "affiliation", "jid",
		    "affiliation", NULL);
}

static void
aff_set_done(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (res == NULL) {
		log_warn("pubsub: affiliation on %s %s: %s", r->svc.jid, r->node, err);
		r->fail_cond = "internal-server-error";
	} else if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 0 &&
	    r->fail_cond == NULL) {
		r->fail_cond = "resource-constraint";
	}
	if (--r->pending > 0)
		return;
	if (pubsub_req_gone(r))
		pubsub_req_end(r);
	else if (r->fail_cond)
		pubsub_req_fail(r, "wait", r->fail_cond, NULL);
	else
		pubsub_req_ok(r, NULL);
}

void
pubsub_owner_lists_loaded(struct ps_req *r)
{
	const char *v[4] = { r->id, NULL, NULL, NULL };
	char lim[16];
	struct xml_node *a;
	unsigned n = 0;
	struct jid j;
	char b[JID_STR_MAX + 1];

	if (!pubsub_req_need_owner(r))
		return;
	if (strcmp(stanza_type(r->iq), "get") == 0) {
		pubsub_req_query(r, strcmp(r->act->name, "subscriptions") == 0 ? &ps_st_node_subs :
		    &ps_st_node_affs, v, strcmp(r->act->name, "subscriptions") == 0 ?
		    node_subs_got : node_affs_got);
		return;
	}
	if (strcmp(r->act->name, "affiliations") != 0) {
		pubsub_req_fail(r, "cancel", "feature-not-implemented", "unsupported");
		return;
	}
	/* check the whole set first (§8.9.2.4: all or nothing) */
	for (a = xml_first_elem(r->act); a; a = xml_next_elem(a)) {
		const char *jid = xml_attr(a, "jid"), *aff = xml_attr(a, "affiliation");

		if (!xml_is(a, "affiliation", NS_PUBSUB_OWNER) || jid == NULL || aff == NULL ||
		    ps_role_parse(aff) < 0 || jid_parse(jid, &j) == -1 || ++n > MAX_AFF_SET ||
		    (r->svc.pep && strcmp(jid_full(&j, b, sizeof(b)), r->svc.jid) == 0)) {
			pubsub_req_fail(r, "modify", "bad-request", NULL);
			return;
		}
	}
	if (n == 0) {
		pubsub_req_fail(r, "modify", "bad-request", NULL);
		return;
	}
	snprintf(lim, sizeof(lim), "%u", pubsub_cfg()->max_subscriptions);
	r->pending = 1;
	for (a = xml_first_elem(r->act); a; a = xml_next_elem(a)) {
		const char *aff = xml_attr(a, "affiliation");

		jid_parse(xml_attr(a, "jid"), &j);
		v[1] = jid_full(&j, b, sizeof(b));
		v[2] = aff;
		v[3] = lim;
		r->pending++;
		if (db_query_key(srv.db, r->svc.jid, strcmp(aff, "none") == 0 ?
		    &ps_st_del_aff : &ps_st_set_aff, v, aff_set_done, r) == NULL) {
			r->pending--;
			r->fail_cond = "resource-constraint";
			break;
		}
	}
	if (--r->pending == 0) {
		if (r->fail_cond)
			pubsub_req_fail(r, "wait", r->fail_cond, NULL);
		else
			pubsub_req_ok(r, NULL);
	}
}

