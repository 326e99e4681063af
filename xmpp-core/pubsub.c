/*
 * pubsub — the XEP-0060 protocol: publish (with publish-options, §7.1.5),
 * retract, items, create, configure, default, delete, purge, subscribe,
 * unsubscribe, subscriptions and affiliations, for PEP and the pubsub
 * service alike.  See pubsub.h.
 *
 * Every request that names a node first loads it (configuration, the
 * requester's affiliation and subscription) on the service's pinned
 * database connection, then runs the action's next step.  A request from
 * the account's own session blocks that session until it is answered;
 * others are answered through the router.
 */
#include "pubsub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "c2s.h"
#include "crypto.h"
#include "db.h"
#include "fragment.h"
#include "iq.h"
#include "log.h"
#include "pep.h"
#include "pubsubaccess.h"
#include "pubsubnotify.h"
#include "pubsubstore.h"
#include "pubsubsvc.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define MAX_AFF_SET 100

struct ps_req;
typedef void ps_step(struct ps_req *r);

struct ps_req {
	struct c2s *c;			/* own session (blocked), or NULL */
	struct xml_node *iq;		/* NULL for internal publications */
	struct xml_node *act;		/* the action element */
	struct ps_svc svc;
	char from[JID_STR_MAX + 1];
	char bare[2 * JID_PART_MAX + 2];
	char node[PS_NODE_MAX + 1];
	/* the node as loaded */
	bool exists;
	char id[24];
	int owner_host;
	char owner_local[JID_PART_MAX + 1];
	struct ps_config cfg;
	enum ps_role role;
	bool subscribed;
	ps_step *next;
	/* publish */
	char item[PS_ID_MAX + 1];
	struct xml_node *payload;	/* taken from the IQ, or given */
	struct buf pl;			/* serialised payload */
	struct ps_config create;	/* for a node the publish creates */
	bool internal;
	ps_done_cb *done;
	void *done_arg;
	/* several queries (affiliations set) */
	unsigned pending;
	const char *fail_cond;
	char *extra;			/* subscribe: the JID */
};

static void
req_end(struct ps_req *r)
{
	if (r->done)
		r->done(r->done_arg, false);
	xml_free(r->iq);
	xml_free(r->payload);
	buf_free(&r->pl);
	free(r->extra);
	if (r->c)
		c2s_unblock(r->c);
	free(r);
}

static bool
gone(const struct ps_req *r)
{
	return r->c && r->c->dead;
}

static void
reply(struct ps_req *r, struct xml_node *res)
{
	if (res == NULL || r->iq == NULL) {
		xml_free(res);
		return;
	}
	if (r->c) {
		if (!r->c->dead)
			iq_reply(r->c, res);
		else
			xml_free(res);
	} else {
		router_route(res);
	}
}

/* An error with an optional XEP-0060 §12 application condition; ends r. */
static void
fail(struct ps_req *r, const char *type, const char *cond, const char *app)
{
	struct xml_node *e, *er;

	if (r->iq && !gone(r) && (e = stanza_error(r->iq, type, cond, NULL)) != NULL) {
		if (app && (er = xml_child(e, "error", NS_CLIENT)) != NULL)
			xml_add(er, app, NS_PUBSUB_ERRORS);
		reply(r, e);
	}
	req_end(r);
}

static void
ok(struct ps_req *r, struct xml_node *res)
{
	if (r->iq)
		reply(r, res ? res : stanza_iq_result(r->iq));
	else
		xml_free(res);
	req_end(r);
}

/* A result with <pubsub xmlns=ns> inside; the child is added by the caller. */
static struct xml_node *
result_with(struct ps_req *r, const char *ns, struct xml_node **ps)
{
	struct xml_node *res = r->iq ? stanza_iq_result(r->iq) : NULL;

	*ps = res ? xml_add(res, "pubsub", ns) : NULL;
	if (res && *ps == NULL) {
		xml_free(res);
		res = NULL;
	}
	return res;
}

static bool
query(struct ps_req *r, struct db_stmt *st, const char *const *v, db_cb *cb)
{
	if (db_query_key(srv.db, r->svc.jid, st, v, cb, r) == NULL) {
		fail(r, "wait", "resource-constraint", NULL);
		return false;
	}
	return true;
}

static bool
db_failed(struct ps_req *r, PGresult *res, const char *err)
{
	if (gone(r)) {
		req_end(r);
		return true;
	}
	if (res == NULL) {
		log_warn("pubsub: %s node %s: %s", r->svc.jid, r->node, err);
		fail(r, "wait", "internal-server-error", NULL);
		return true;
	}
	return false;
}

/* ---- loading the node ---- */

static void
node_loaded(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (db_failed(r, res, err))
		return;
	r->exists = PQntuples(res) > 0;
	if (r->exists) {
		snprintf(r->id, sizeof(r->id), "%s", PQgetvalue(res, 0, 0));
		ps_config_decode(PQgetvalue(res, 0, 1), r->svc.pep, r->node, &r->cfg);
		r->owner_host = router_host_index(PQgetvalue(res, 0, 2));
		snprintf(r->owner_local, sizeof(r->owner_local), "%s", PQgetvalue(res, 0, 3));
		r->role = ps_role(&r->svc, r->bare,
		    PQgetisnull(res, 0, 4) ? NULL : PQgetvalue(res, 0, 4));
		r->subscribed = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
		if (r->owner_host < 0) {
			fail(r, "cancel", "item-not-found", NULL);
			return;
		}
	} else {
		r->role = ps_role(&r->svc, r->bare, NULL);
	}
	r->next(r);
}

static void
load(struct ps_req *r, ps_step *next)
{
	const char *v[4] = { r->svc.jid, r->node, r->bare, r->from };

	r->next = next;
	query(r, &ps_st_node, v, node_loaded);
}

/* Continues with next when the node exists, else item-not-found. */
static bool
need_node(struct ps_req *r)
{
	if (!r->exists) {
		fail(r, "cancel", "item-not-found", NULL);
		return false;
	}
	return true;
}

static bool
need_owner(struct ps_req *r)
{
	if (!need_node(r))
		return false;
	if (r->role != PS_ROLE_OWNER) {
		fail(r, "auth", "forbidden", NULL);
		return false;
	}
	return true;
}

/* ---- publish ---- */

static void
published(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;
	struct xml_node *rs, *ps, *p, *ev;
	const char *status;
	struct ps_config cfg;

	if (res == NULL && !r->internal) {
		if (db_failed(r, res, err))
			return;
	}
	if (res == NULL || PQntuples(res) == 0) {
		log_warn("pubsub: publishing on %s node %s failed: %s", r->svc.jid,
		    r->node, err ? err : "no row");
		fail(r, "wait", "internal-server-error", NULL);
		return;
	}
	status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "ok") != 0) {
		if (strcmp(status, "max-nodes") == 0)
			log_info("pubsub: %s is at max_nodes (%u)", r->svc.jid,
			    srv.cfg->pubsub.max_nodes);
		fail(r, "cancel", strcmp(status, "max-nodes") == 0 ?
		    "resource-constraint" : "item-not-found", NULL);
		return;
	}
	ps_config_decode(PQgetvalue(res, 0, 1), r->svc.pep, r->node, &cfg);
	if (!gone(r)) {
		rs = result_with(r, NS_PUBSUB, &ps);
		if (rs && (p = xml_add(ps, "publish", NULL)) != NULL) {
			xml_set_attr(p, "node", r->node);
			xml_set_attr(xml_add(p, "item", NULL), "id", r->item);
		}
		reply(r, rs);
	}
	if (cfg.deliver_notifications &&
	    (ev = ps_items_event(r->node, r->item, cfg.deliver_payloads ?
	    r->payload : NULL)) != NULL)
		ps_notify(&r->svc, r->node, &cfg, ev,
		    PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2));
	if (r->svc.pep && !r->internal)
		pep_published(&r->svc, r->node, r->item, r->payload);
	if (r->done) {
		r->done(r->done_arg, true);
		r->done = NULL;
	}
	req_end(r);
}

static void
publish_store(struct ps_req *r)
{
	const struct pubsub_config *pc = &srv.cfg->pubsub;
	char maxi[16], maxn[16];
	struct buf cfgtext;
	const char *v[10];
	unsigned keep = r->create.persist ? r->create.max_items : 1;

	buf_init(&cfgtext);
	if (ps_config_encode(&r->create, &cfgtext) == -1) {
		buf_free(&cfgtext);
		fail(r, "wait", "resource-constraint", NULL);
		return;
	}
	snprintf(maxi, sizeof(maxi), "%u", keep);
	snprintf(maxn, sizeof(maxn), "%u", pc->max_nodes);
	v[0] = r->svc.jid;
	v[1] = r->node;
	v[2] = r->svc.pep ? srv.cfg->hosts[r->svc.host] : srv.cfg->hosts[r->owner_host];
	v[3] = r->svc.pep ? r->svc.local : r->owner_local;
	v[4] = cfgtext.p;
	v[5] = maxi;
	v[6] = maxn;
	v[7] = r->item;
	v[8] = r->svc.pep ? r->svc.jid : r->bare;
	v[9] = r->pl.p ? r->pl.p : "";
	query(r, &ps_st_publish, v, published);
	buf_free(&cfgtext);
}

static void
publish_loaded(struct ps_req *r)
{
	struct xml_node *po = xml_child(xml_first_elem(r->iq), "publish-options", NS_PUBSUB);
	struct xml_node *x = po ? xml_child(po, "x", NS_XDATA) : NULL;
	struct ps_config want;
	const char *bad = NULL, *ft;

	if (x && (ft = ps_form_type(x)) != NULL && strcmp(ft, NS_PUBSUB_PUBLISH_OPTIONS) != 0)
		x = NULL;	/* XEP-0060 §7.1.5: only this FORM_TYPE is options */
	if (r->exists) {
		if (!ps_may_publish(&r->cfg, r->role, r->subscribed)) {
			fail(r, "auth", "forbidden", NULL);
			return;
		}
		if (x) {
			want = r->cfg;
			if (ps_config_apply(&want, x, srv.cfg->pubsub.max_items, &bad) == -1 ||
			    (ps_config_force(&want, r->svc.pep, r->node),
			    !ps_config_equal(&want, &r->cfg))) {
				fail(r, "cancel", "conflict", "precondition-not-met");
				return;
			}
		}
		r->create = r->cfg;
		publish_store(r);
		return;
	}
	/* auto-create (XEP-0060 §7.1.4): the account on its PEP service, a
	 * local user on the pubsub service */
	if (r->svc.pep ? r->role != PS_ROLE_OWNER : !pubsubsvc_may_create(r->bare)) {
		fail(r, "cancel", "item-not-found", NULL);
		return;
	}
	if (!r->svc.pep) {
		char *at = strchr(r->bare, '@');

		if (at == NULL || (size_t)(at - r->bare) > JID_PART_MAX) {
			fail(r, "auth", "forbidden", NULL);
			return;
		}
		memcpy(r->owner_local, r->bare, (size_t)(at - r->bare));
		r->owner_local[at - r->bare] = '\0';
		r->owner_host = router_host_index(at + 1);
	}
	ps_config_default(&r->create, r->svc.pep, r->node);
	if (x && ps_config_apply(&r->create, x, srv.cfg->pubsub.max_items, &bad) == -1) {
		fail(r, "cancel", "conflict", "precondition-not-met");
		return;
	}
	ps_config_force(&r->create, r->svc.pep, r->node);
	publish_store(r);
}

/* Takes the payload out of <item/>: 0, or -1 after answering. */
static int
publish_parse(struct ps_req *r)
{
	struct xml_node *it = xml_first_elem(r->act), *pl;
	const char *id;

	if (it && (xml_next_elem(it) || !xml_is(it, "item", NS_PUBSUB))) {
		fail(r, "modify", "bad-request", "invalid-payload");
		return -1;
	}
	id = it ? xml_attr(it, "id") : NULL;
	if (id && !ps_name_valid(id, PS_ID_MAX)) {
		fail(r, "modify", "not-acceptable", NULL);
		return -1;
	}
	if (id) {
		snprintf(r->item, sizeof(r->item), "%s", id);
	} else if (random_hex(r->item, 16) == -1) {
		fail(r, "wait", "internal-server-error", NULL);
		return -1;
	}
	pl = it ? xml_first_elem(it) : NULL;
	if (pl && xml_next_elem(pl)) {
		fail(r, "modify", "bad-request", "invalid-payload");
		return -1;
	}
	if (pl) {
		xml_detach(pl);
		r->payload = pl;
		if (xml_serialize(&r->pl, pl, NS_PUBSUB) == -1) {
			fail(r, "wait", "resource-constraint", NULL);
			return -1;
		}
		if (r->pl.len > srv.cfg->pubsub.max_item_size) {
			log_info("pubsub: %s: item of %zu bytes refused (max_item_size %zu)",
			    r->from, r->pl.len, srv.cfg->pubsub.max_item_size);
			fail(r, "modify", "not-acceptable", "payload-too-big");
			return -1;
		}
	}
	return 0;
}

void
pubsub_publish_internal(const struct ps_svc *svc, const char *node,
    const struct ps_config *cfg, const char *id, struct xml_node *payload,
    ps_done_cb *done, void *arg)
{
	struct ps_req *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		xml_free(payload);
		if (done)
			done(arg, false);
		return;
	}
	buf_init(&r->pl);
	r->svc = *svc;
	r->internal = true;
	r->done = done;
	r->done_arg = arg;
	r->payload = payload;
	snprintf(r->node, sizeof(r->node), "%s", node);
	snprintf(r->item, sizeof(r->item), "%s", id);
	snprintf(r->bare, sizeof(r->bare), "%s", svc->jid);
	r->create = *cfg;
	if (payload && xml_serialize(&r->pl, payload, NS_PUBSUB) == -1) {
		req_end(r);
		return;
	}
	publish_store(r);
}

/* ---- retract, purge, delete ---- */

static void
retracted(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;
	struct xml_node *ev, *rt;
	const char *notify = r->act ? xml_attr(r->act, "notify") : NULL;
	bool want = r->cfg.notify_retract ||
	    (notify && (strcmp(notify, "1") == 0 || strcmp(notify, "true") == 0));

	if (r->internal && res == NULL) {
		req_end(r);
		return;
	}
	if (!r->internal && db_failed(r, res, err))
		return;
	if (PQntuples(res) == 0) {
		fail(r, "cancel", "item-not-found", NULL);
		return;
	}
	if (want && r->cfg.deliver_notifications &&
	    (ev = xml_new("items", NS_PUBSUB_EVENT)) != NULL) {
		xml_set_attr(ev, "node", r->node);
		if ((rt = xml_add(ev, "retract", NULL)) != NULL)
			xml_set_attr(rt, "id", r->item);
		ps_notify(&r->svc, r->node, &r->cfg, ev,
		    PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0));
	}
	if (r->svc.pep && !r->internal)
		pep_retracted(&r->svc, r->node, r->item);
	ok(r, NULL);
}

static void
retract_loaded(struct ps_req *r)
{
	const char *v[2] = { r->id, r->item };

	if (!need_node(r))
		return;
	if (r->role < PS_ROLE_PUBLISHER) {
		fail(r, "auth", "forbidden", NULL);
		return;
	}
	query(r, &ps_st_retract, v, retracted);
}

static void
retract_parse(struct ps_req *r)
{
	struct xml_node *it = xml_child(r->act, "item", NS_PUBSUB);
	const char *id = it ? xml_attr(it, "id") : NULL;

	if (id == NULL || xml_next_elem(it)) {
		fail(r, "modify", "bad-request", "item-required");
		return;
	}
	if (!ps_name_valid(id, PS_ID_MAX)) {
		fail(r, "cancel", "item-not-found", NULL);
		return;
	}
	snprintf(r->item, sizeof(r->item), "%s", id);
	load(r, retract_loaded);
}

void
pubsub_retract_internal(const struct ps_svc *svc, const char *node, const char *id)
{
	struct ps_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return;
	buf_init(&r->pl);
	r->svc = *svc;
	r->internal = true;
	snprintf(r->node, sizeof(r->node), "%s", node);
	snprintf(r->item, sizeof(r->item), "%s", id);
	snprintf(r->bare, sizeof(r->bare), "%s", svc->jid);
	snprintf(r->from, sizeof(r->from), "%s", svc->jid);
	load(r, retract_loaded);
}

static void
purged(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;
	struct xml_node *ev;

	if (db_failed(r, res, err))
		return;
	if (r->cfg.deliver_notifications && (ev = xml_new("purge", NS_PUBSUB_EVENT)) != NULL) {
		xml_set_attr(ev, "node", r->node);
		ps_notify(&r->svc, r->node, &r->cfg, ev,
		    PQntuples(res) && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : NULL);
	}
	ok(r, NULL);
}

static void
purge_loaded(struct ps_req *r)
{
	const char *v[1] = { r->id };

	if (need_owner(r))
		query(r, &ps_st_purge, v, purged);
}

static void
deleted(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;
	struct xml_node *ev;

	if (db_failed(r, res, err))
		return;
	if (r->cfg.notify_delete && (ev = xml_new("delete", NS_PUBSUB_EVENT)) != NULL) {
		xml_set_attr(ev, "node", r->node);
		ps_notify(&r->svc, r->node, &r->cfg, ev,
		    PQntuples(res) && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : NULL);
	}
	ok(r, NULL);
}

static void
delete_loaded(struct ps_req *r)
{
	const char *v[1] = { r->id };

	if (need_owner(r))
		query(r, &ps_st_delete, v, deleted);
}

/* ---- items ---- */

static void
items_got(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;
	struct xml_node *rs, *ps, *items, *it, *pl;
	int n;

	if (db_failed(r, res, err))
		return;
	if ((rs = result_with(r, NS_PUBSUB, &ps)) == NULL ||
	    (items = xml_add(ps, "items", NULL)) == NULL) {
		xml_free(rs);
		fail(r, "wait", "resource-constraint", NULL);
		return;
	}
	xml_set_attr(items, "node", r->node);
	/* newest first from the database; oldest first on the wire */
	n = PQntuples(res);
	for (int i = n - 1; i >= 0; i--) {
		const char *d = PQgetvalue(res, i, 2);

		if ((it = xml_add(items, "item", NULL)) == NULL)
			break;
		xml_set_attr(it, "id", PQgetvalue(res, i, 0));
		if (d[0] && (pl = fragment_parse(d, strlen(d), NS_PUBSUB)) != NULL)
			xml_append_child(it, pl);
	}
	ok(r, rs);
}

static void
items_allowed(void *arg, const char *type, const char *cond, const char *app)
{
	struct ps_req *r = arg;
	struct xml_node *it;
	struct buf ids;
	char lim[16];
	const char *max = xml_attr(r->act, "max_items"), *v[3];
	unsigned long want = r->cfg.max_items;
	unsigned nids = 0;
	char *end;

	if (gone(r)) {
		req_end(r);
		return;
	}
	if (cond) {
		fail(r, type, cond, app);
		return;
	}
	buf_init(&ids);
	for (it = xml_first_elem(r->act); it; it = xml_next_elem(it)) {
		const char *id = xml_attr(it, "id");

		if (!xml_is(it, "item", NS_PUBSUB) || id == NULL || !ps_name_valid(id, PS_ID_MAX) ||
		    ++nids > PS_MAX_IDS) {
			buf_free(&ids);
			fail(r, "modify", "bad-request", NULL);
			return;
		}
		buf_printf(&ids, "%s%s", nids > 1 ? "\n" : "", id);
	}
	if (max) {
		want = strtoul(max, &end, 10);
		if (max[0] < '0' || max[0] > '9' || *end || want == 0) {
			buf_free(&ids);
			fail(r, "modify", "bad-request", NULL);
			return;
		}
	}
	if (nids)
		want = nids;
	if (want > srv.cfg->pubsub.max_items)
		want = srv.cfg->pubsub.max_items;
	snprintf(lim, sizeof(lim), "%lu", want);
	v[0] = r->id;
	v[1] = ids.p ? ids.p : "";
	v[2] = lim;
	query(r, &ps_st_items, v, items_got);
	buf_free(&ids);
}

static void
items_loaded(struct ps_req *r)
{
	if (!need_node(r))
		return;
	ps_access_read(r->owner_host, r->owner_local, &r->cfg, r->role, r->bare,
	    items_allowed, r);
}

/* ---- create, configure, default ---- */

static void
created(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (db_failed(r, res, err))
		return;
	if (PQntuples(res) == 0) {
		fail(r, "cancel", "resource-constraint", NULL);
		return;
	}
	ok(r, NULL);
}

/* The node_config form of a configure element (NULL when none); -1 bad. */
static int
config_form(struct xml_node *conf, struct ps_config *cfg, struct ps_req *r)
{
	struct xml_node *x = conf ? xml_child(conf, "x", NS_XDATA) : NULL;
	const char *ft, *bad = NULL, *type;

	if (x == NULL)
		return 0;
	type = xml_attr(x, "type");
	if (type && strcmp(type, "cancel") == 0)
		return 1;
	if ((ft = ps_form_type(x)) != NULL && strcmp(ft, NS_PUBSUB_NODE_CONFIG) != 0) {
		fail(r, "modify", "bad-request", NULL);
		return -1;
	}
	if (ps_config_apply(cfg, x, srv.cfg->pubsub.max_items, &bad) == -1) {
		fail(r, "modify", "not-acceptable", NULL);
		return -1;
	}
	ps_config_force(cfg, r->svc.pep, r->node);
	return 0;
}

static void
create_loaded(struct ps_req *r)
{
	struct xml_node *ps = xml_first_elem(r->iq);
	struct buf t;
	char maxi[16], maxn[16];
	const char *v[8];
	char *at = strchr(r->bare, '@');

	if (r->exists) {
		fail(r, "cancel", "conflict", NULL);
		return;
	}
	/* PEP: the account; the service: its local users (as the seed) */
	if (r->svc.pep ? r->role != PS_ROLE_OWNER : !pubsubsvc_may_create(r->bare) ||
	    (size_t)(at - r->bare) > JID_PART_MAX) {
		fail(r, "auth", "forbidden", NULL);
		return;
	}
	ps_config_default(&r->create, r->svc.pep, r->node);
	if (config_form(xml_child(ps, "configure", NS_PUBSUB), &r->create, r) == -1)
		return;
	buf_init(&t);
	if (ps_config_encode(&r->create, &t) == -1) {
		buf_free(&t);
		fail(r, "wait", "resource-constraint", NULL);
		return;
	}
	if (!r->svc.pep) {
		memcpy(r->owner_local, r->bare, (size_t)(at - r->bare));
		r->owner_local[at - r->bare] = '\0';
	}
	snprintf(maxi, sizeof(maxi), "%u", r->create.persist ? r->create.max_items : 1);
	snprintf(maxn, sizeof(maxn), "%u", srv.cfg->pubsub.max_nodes);
	v[0] = r->svc.jid;
	v[1] = r->node;
	v[2] = r->svc.pep ? srv.cfg->hosts[r->svc.host] : at + 1;
	v[3] = r->svc.pep ? r->svc.local : r->owner_local;
	v[4] = t.p;
	v[5] = maxi;
	v[6] = maxn;
	v[7] = r->svc.pep ? "" : r->bare;
	query(r, &ps_st_create, v, created);
	buf_free(&t);
}

static void
configured(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (db_failed(r, res, err))
		return;
	ok(r, NULL);
}

static void
configure_loaded(struct ps_req *r)
{
	struct xml_node *rs, *ps, *cf, *x;
	struct ps_config cfg;
	struct buf t;
	char maxi[16];
	const char *v[3];
	int rc;

	if (!need_owner(r))
		return;
	if (strcmp(stanza_type(r->iq), "get") == 0) {
		if ((rs = result_with(r, NS_PUBSUB_OWNER, &ps)) == NULL ||
		    (cf = xml_add(ps, "configure", NULL)) == NULL ||
		    (x = ps_config_form(&r->cfg, "form")) == NULL) {
			xml_free(rs);
			fail(r, "wait", "resource-constraint", NULL);
			return;
		}
		xml_set_attr(cf, "node", r->node);
		xml_append_child(cf, x);
		ok(r, rs);
		return;
	}
	cfg = r->cfg;
	if ((rc = config_form(r->act, &cfg, r)) == -1)
		return;
	if (rc == 1 || xml_child(r->act, "x", NS_XDATA) == NULL) {
		if (rc == 1)
			ok(r, NULL);
		else
			fail(r, "modify", "bad-request", NULL);
		return;
	}
	buf_init(&t);
	if (ps_config_encode(&cfg, &t) == -1) {
		buf_free(&t);
		fail(r, "wait", "resource-constraint", NULL);
		return;
	}
	snprintf(maxi, sizeof(maxi), "%u", cfg.persist ? cfg.max_items : 1);
	v[0] = r->id;
	v[1] = t.p;
	v[2] = maxi;
	query(r, &ps_st_configure, v, configured);
	buf_free(&t);
}

static void
default_config(struct ps_req *r)
{
	struct xml_node *rs, *ps, *d, *x;
	struct ps_config cfg;

	ps_config_default(&cfg, r->svc.pep, r->node[0] ? r->node : "");
	if ((rs = result_with(r, NS_PUBSUB_OWNER, &ps)) == NULL ||
	    (d = xml_add(ps, "default", NULL)) == NULL ||
	    (x = ps_config_form(&cfg, "form")) == NULL) {
		xml_free(rs);
		fail(r, "wait", "resource-constraint", NULL);
		return;
	}
	xml_append_child(d, x);
	ok(r, rs);
}

/* ---- subscriptions ---- */

static void
sent_last(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;
	struct xml_node *ev, *m, *pl = NULL;
	const char *d;

	if (res && PQntuples(res) > 0 && !gone(r)) {
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
	req_end(r);
}

static void
subscribed(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;
	struct xml_node *rs, *ps, *s;
	const char *v[3] = { r->id, "", "1" };

	if (db_failed(r, res, err))
		return;
	if (PQntuples(res) == 0) {
		log_info("pubsub: %s node %s is at max_subscriptions", r->svc.jid, r->node);
		fail(r, "wait", "resource-constraint", NULL);
		return;
	}
	if ((rs = result_with(r, NS_PUBSUB, &ps)) != NULL &&
	    (s = xml_add(ps, "subscription", NULL)) != NULL) {
		xml_set_attr(s, "node", r->node);
		xml_set_attr(s, "jid", r->extra);
		xml_set_attr(s, "subscription", "subscribed");
	}
	reply(r, rs);
	xml_free(r->iq);
	r->iq = NULL;
	/* XEP-0060 §6.1.7: the last item on subscription */
	if (r->cfg.send_last == PS_SENDLAST_NEVER || !r->cfg.deliver_notifications) {
		req_end(r);
		return;
	}
	if (db_query_key(srv.db, r->svc.jid, &ps_st_items, v, sent_last, r) == NULL)
		req_end(r);
}

static void
subscribe_allowed(void *arg, const char *type, const char *cond, const char *app)
{
	struct ps_req *r = arg;
	char lim[16];
	const char *v[3] = { r->id, r->extra, lim };

	if (gone(r)) {
		req_end(r);
		return;
	}
	if (cond) {
		fail(r, type, cond, app);
		return;
	}
	snprintf(lim, sizeof(lim), "%u", srv.cfg->pubsub.max_subscriptions);
	query(r, &ps_st_subscribe, v, subscribed);
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
		fail(r, "modify", "bad-request", "invalid-jid");
		return -1;
	}
	if ((r->extra = strdup(jid_full(&jj, full, sizeof(full)))) == NULL) {
		fail(r, "wait", "resource-constraint", NULL);
		return -1;
	}
	return 0;
}

static void
subscribe_loaded(struct ps_req *r)
{
	if (!need_node(r) || sub_jid(r) == -1)
		return;
	ps_access_read(r->owner_host, r->owner_local, &r->cfg, r->role, r->bare,
	    subscribe_allowed, r);
}

static void
unsubscribed(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (db_failed(r, res, err))
		return;
	if (PQntuples(res) == 0)
		fail(r, "cancel", "unexpected-request", "not-subscribed");
	else
		ok(r, NULL);
}

static void
unsubscribe_loaded(struct ps_req *r)
{
	const char *v[2];

	if (!need_node(r) || sub_jid(r) == -1)
		return;
	v[0] = r->id;
	v[1] = r->extra;
	query(r, &ps_st_unsubscribe, v, unsubscribed);
}

/* A list result: <pubsub xmlns=ns><what [node]><elem a0=col0 a1=col1/>... */
static void
list_got(struct ps_req *r, PGresult *res, const char *ns, const char *what,
    const char *elem, const char *a0, const char *a1, const char *fixed)
{
	struct xml_node *rs, *ps, *l, *e;

	if ((rs = result_with(r, ns, &ps)) == NULL ||
	    (l = xml_add(ps, what, NULL)) == NULL) {
		xml_free(rs);
		fail(r, "wait", "resource-constraint", NULL);
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
	ok(r, rs);
}

static void
user_subs_got(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (!db_failed(r, res, err))
		list_got(r, res, NS_PUBSUB, "subscriptions", "subscription", "node",
		    "subscription", "subscribed");
}

static void
user_affs_got(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (!db_failed(r, res, err))
		list_got(r, res, NS_PUBSUB, "affiliations", "affiliation", "node",
		    "affiliation", r->svc.pep && strcmp(r->bare, r->svc.jid) == 0 ?
		    "owner" : NULL);
}

static void
node_subs_got(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (!db_failed(r, res, err))
		list_got(r, res, NS_PUBSUB_OWNER, "subscriptions", "subscription", "jid",
		    "subscription", "subscribed");
}

static void
node_affs_got(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (!db_failed(r, res, err))
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
	if (gone(r))
		req_end(r);
	else if (r->fail_cond)
		fail(r, "wait", r->fail_cond, NULL);
	else
		ok(r, NULL);
}

static void
owner_lists_loaded(struct ps_req *r)
{
	const char *v[4] = { r->id, NULL, NULL, NULL };
	char lim[16];
	struct xml_node *a;
	unsigned n = 0;
	struct jid j;
	char b[JID_STR_MAX + 1];

	if (!need_owner(r))
		return;
	if (strcmp(stanza_type(r->iq), "get") == 0) {
		query(r, strcmp(r->act->name, "subscriptions") == 0 ? &ps_st_node_subs :
		    &ps_st_node_affs, v, strcmp(r->act->name, "subscriptions") == 0 ?
		    node_subs_got : node_affs_got);
		return;
	}
	if (strcmp(r->act->name, "affiliations") != 0) {
		fail(r, "cancel", "feature-not-implemented", "unsupported");
		return;
	}
	/* check the whole set first (§8.9.2.4: all or nothing) */
	for (a = xml_first_elem(r->act); a; a = xml_next_elem(a)) {
		const char *jid = xml_attr(a, "jid"), *aff = xml_attr(a, "affiliation");

		if (!xml_is(a, "affiliation", NS_PUBSUB_OWNER) || jid == NULL || aff == NULL ||
		    ps_role_parse(aff) < 0 || jid_parse(jid, &j) == -1 || ++n > MAX_AFF_SET ||
		    (r->svc.pep && strcmp(jid_full(&j, b, sizeof(b)), r->svc.jid) == 0)) {
			fail(r, "modify", "bad-request", NULL);
			return;
		}
	}
	if (n == 0) {
		fail(r, "modify", "bad-request", NULL);
		return;
	}
	snprintf(lim, sizeof(lim), "%u", srv.cfg->pubsub.max_subscriptions);
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
			fail(r, "wait", r->fail_cond, NULL);
		else
			ok(r, NULL);
	}
}

/* ---- dispatch ---- */

bool
pubsub_is(const struct xml_node *q)
{
	return xml_is(q, "pubsub", NS_PUBSUB) || xml_is(q, "pubsub", NS_PUBSUB_OWNER);
}

static bool
set_node(struct ps_req *r, bool required)
{
	const char *node = xml_attr(r->act, "node");

	if (node == NULL) {
		if (required)
			fail(r, "modify", "bad-request", "nodeid-required");
		return !required;
	}
	if (!ps_name_valid(node, PS_NODE_MAX)) {
		fail(r, "cancel", "item-not-found", NULL);
		return false;
	}
	snprintf(r->node, sizeof(r->node), "%s", node);
	return true;
}

static void
dispatch_user(struct ps_req *r, bool set)
{
	const char *a = r->act->name;
	const char *v[4];

	if (set && strcmp(a, "publish") == 0) {
		if (set_node(r, true) && publish_parse(r) == 0)
			load(r, publish_loaded);
	} else if (set && strcmp(a, "retract") == 0) {
		if (set_node(r, true))
			retract_parse(r);
	} else if (set && strcmp(a, "create") == 0) {
		if (xml_attr(r->act, "node") == NULL)
			fail(r, "modify", "not-acceptable", "nodeid-required");
		else if (set_node(r, true))
			load(r, create_loaded);
	} else if (set && strcmp(a, "subscribe") == 0) {
		if (set_node(r, true))
			load(r, subscribe_loaded);
	} else if (set && strcmp(a, "unsubscribe") == 0) {
		if (set_node(r, true))
			load(r, unsubscribe_loaded);
	} else if (!set && strcmp(a, "items") == 0) {
		if (set_node(r, true))
			load(r, items_loaded);
	} else if (!set && strcmp(a, "subscriptions") == 0) {
		if (!set_node(r, false))
			return;
		v[0] = r->svc.jid;
		v[1] = r->bare;
		v[2] = r->from;
		v[3] = r->node;
		query(r, &ps_st_user_subs, v, user_subs_got);
	} else if (!set && strcmp(a, "affiliations") == 0) {
		if (!set_node(r, false))
			return;
		v[0] = r->svc.jid;
		v[1] = r->bare;
		v[2] = r->node;
		if (r->svc.pep && strcmp(r->bare, r->svc.jid) == 0) {
			/* the account owns all its nodes */
			char lim[16];

			snprintf(lim, sizeof(lim), "%u", srv.cfg->pubsub.max_nodes);
			v[1] = lim;
			query(r, &ps_st_nodes, v, user_affs_got);
		} else {
			query(r, &ps_st_user_affs, v, user_affs_got);
		}
	} else {
		fail(r, "cancel", "feature-not-implemented", "unsupported");
	}
}

static void
dispatch_owner(struct ps_req *r, bool set)
{
	const char *a = r->act->name;

	if (strcmp(a, "configure") == 0) {
		if (set_node(r, true))
			load(r, configure_loaded);
	} else if (!set && strcmp(a, "default") == 0) {
		default_config(r);
	} else if (set && strcmp(a, "delete") == 0) {
		if (set_node(r, true))
			load(r, delete_loaded);
	} else if (set && strcmp(a, "purge") == 0) {
		if (set_node(r, true))
			load(r, purge_loaded);
	} else if (strcmp(a, "subscriptions") == 0 || strcmp(a, "affiliations") == 0) {
		if (set_node(r, true))
			load(r, owner_lists_loaded);
	} else {
		fail(r, "cancel", "feature-not-implemented", "unsupported");
	}
}

void
pubsub_iq(const struct ps_svc *svc, struct c2s *c, struct xml_node *n)
{
	struct xml_node *q = xml_first_elem(n);
	struct ps_req *r = calloc(1, sizeof(*r));
	struct jid from;
	bool set = strcmp(stanza_type(n), "set") == 0;

	if (r == NULL || stanza_jid(n, "from", &from) != 1) {
		free(r);
		if (c)
			iq_error(c, n, "wait", "resource-constraint");
		else
			stanza_bounce(n, "wait", "resource-constraint");
		xml_free(n);
		return;
	}
	buf_init(&r->pl);
	r->c = c;
	r->iq = n;
	r->svc = *svc;
	jid_full(&from, r->from, sizeof(r->from));
	jid_bare(&from, r->bare, sizeof(r->bare));
	if (c)
		c2s_block(c);
	/* XEP-0060: one action, optionally with publish-options / configure /
	 * options beside it */
	if ((r->act = xml_first_elem(q)) == NULL) {
		fail(r, "modify", "bad-request", NULL);
		return;
	}
	if (strcmp(q->ns, NS_PUBSUB) == 0)
		dispatch_user(r, set);
	else
		dispatch_owner(r, set);
}

void
ps_svc_pep(struct ps_svc *svc, int host, const char *local)
{
	memset(svc, 0, sizeof(*svc));
	svc->pep = true;
	svc->host = host;
	snprintf(svc->local, sizeof(svc->local), "%s", local);
	snprintf(svc->jid, sizeof(svc->jid), "%s@%s", local, srv.cfg->hosts[host]);
}
