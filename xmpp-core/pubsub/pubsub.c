/*
 * pubsub — the XEP-0060 protocol: publish (with publish-options, §7.1.5),
 * retract, items, create, configure, default, delete, purge and the
 * dispatch of every request (subscriptions and affiliations are
 * pubsubsubs.c), for PEP and the pubsub service alike.  See pubsub.h.
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
#include "pubsubconf.h"
#include "pep.h"
#include "pubsubaccess.h"
#include "pubsubnotify.h"
#include "pubsubreq.h"
#include "pubsubstore.h"
#include "pubsubsvc.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

void
pubsub_req_end(struct ps_req *r)
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

bool
pubsub_req_gone(const struct ps_req *r)
{
	return r->c && r->c->dead;
}

void
pubsub_req_reply(struct ps_req *r, struct xml_node *res)
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
void
pubsub_req_fail(struct ps_req *r, const char *type, const char *cond, const char *app)
{
	struct xml_node *e, *er;

	if (r->iq && !pubsub_req_gone(r) && (e = stanza_error(r->iq, type, cond, NULL)) != NULL) {
		if (app && (er = xml_child(e, "error", NS_CLIENT)) != NULL)
			xml_add(er, app, NS_PUBSUB_ERRORS);
		pubsub_req_reply(r, e);
	}
	pubsub_req_end(r);
}

void
pubsub_req_ok(struct ps_req *r, struct xml_node *res)
{
	if (r->iq)
		pubsub_req_reply(r, res ? res : stanza_iq_result(r->iq));
	else
		xml_free(res);
	pubsub_req_end(r);
}

/* A result with <pubsub xmlns=ns> inside; the child is added by the caller. */
struct xml_node *
pubsub_req_result(struct ps_req *r, const char *ns, struct xml_node **ps)
{
	struct xml_node *res = r->iq ? stanza_iq_result(r->iq) : NULL;

	*ps = res ? xml_add(res, "pubsub", ns) : NULL;
	if (res && *ps == NULL) {
		xml_free(res);
		res = NULL;
	}
	return res;
}

bool
pubsub_req_query(struct ps_req *r, struct db_stmt *st, const char *const *v, db_cb *cb)
{
	if (db_query_key(srv.db, r->svc.jid, st, v, cb, r) == NULL) {
		pubsub_req_fail(r, "wait", "resource-constraint", NULL);
		return false;
	}
	return true;
}

bool
pubsub_req_db_failed(struct ps_req *r, PGresult *res, const char *err)
{
	if (pubsub_req_gone(r)) {
		pubsub_req_end(r);
		return true;
	}
	if (res == NULL) {
		log_warn("pubsub: %s node %s: %s", r->svc.jid, r->node, err);
		pubsub_req_fail(r, "wait", "internal-server-error", NULL);
		return true;
	}
	return false;
}

/* ---- loading the node ---- */

static void
node_loaded(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (pubsub_req_db_failed(r, res, err))
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
			pubsub_req_fail(r, "cancel", "item-not-found", NULL);
			return;
		}
	} else {
		r->role = ps_role(&r->svc, r->bare, NULL);
	}
	r->next(r);
}

void
pubsub_req_load(struct ps_req *r, ps_step *next)
{
	const char *v[4] = { r->svc.jid, r->node, r->bare, r->from };

	r->next = next;
	pubsub_req_query(r, &ps_st_node, v, node_loaded);
}

/* Continues with next when the node exists, else item-not-found. */
bool
pubsub_req_need_node(struct ps_req *r)
{
	if (!r->exists) {
		pubsub_req_fail(r, "cancel", "item-not-found", NULL);
		return false;
	}
	return true;
}

bool
pubsub_req_need_owner(struct ps_req *r)
{
	if (!pubsub_req_need_node(r))
		return false;
	if (r->role != PS_ROLE_OWNER) {
		pubsub_req_fail(r, "auth", "forbidden", NULL);
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
		if (pubsub_req_db_failed(r, res, err))
			return;
	}
	if (res == NULL || PQntuples(res) == 0) {
		log_warn("pubsub: publishing on %s node %s failed: %s", r->svc.jid,
		    r->node, err ? err : "no row");
		pubsub_req_fail(r, "wait", "internal-server-error", NULL);
		return;
	}
	status = PQgetvalue(res, 0, 0);
	if (strcmp(status, "ok") != 0) {
		if (strcmp(status, "max-nodes") == 0)
			log_info("pubsub: %s is at max_nodes (%u)", r->svc.jid,
			    pubsub_cfg()->max_nodes);
		pubsub_req_fail(r, "cancel", strcmp(status, "max-nodes") == 0 ?
		    "resource-constraint" : "item-not-found", NULL);
		return;
	}
	ps_config_decode(PQgetvalue(res, 0, 1), r->svc.pep, r->node, &cfg);
	if (!pubsub_req_gone(r)) {
		rs = pubsub_req_result(r, NS_PUBSUB, &ps);
		if (rs && (p = xml_add(ps, "publish", NULL)) != NULL) {
			xml_set_attr(p, "node", r->node);
			xml_set_attr(xml_add(p, "item", NULL), "id", r->item);
		}
		pubsub_req_reply(r, rs);
	}
	if (cfg.deliver_notifications &&
	    (ev = ps_items_event(r->node, r->item, cfg.deliver_payloads ?
	    r->payload : NULL)) != NULL)
		ps_notify(&r->svc, r->node, &cfg, ev,
		    PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2));
	if (r->svc.pep && !r->internal)
		pep_published(&r->svc, r->node, r->item, r->payload, r->c);
	if (r->done) {
		r->done(r->done_arg, true);
		r->done = NULL;
	}
	pubsub_req_end(r);
}

static void
publish_store(struct ps_req *r)
{
	const struct pubsub_config *pc = pubsub_cfg();
	char maxi[16], maxn[16];
	struct buf cfgtext;
	const char *v[10];
	unsigned keep = r->create.persist ? r->create.max_items : 1;

	buf_init(&cfgtext);
	if (ps_config_encode(&r->create, &cfgtext) == -1) {
		buf_free(&cfgtext);
		pubsub_req_fail(r, "wait", "resource-constraint", NULL);
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
	pubsub_req_query(r, &ps_st_publish, v, published);
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
			pubsub_req_fail(r, "auth", "forbidden", NULL);
			return;
		}
		if (x) {
			want = r->cfg;
			if (ps_config_apply(&want, x, pubsub_cfg()->max_items, &bad) == -1 ||
			    (ps_config_force(&want, r->svc.pep, r->node),
			    !ps_config_equal(&want, &r->cfg))) {
				pubsub_req_fail(r, "cancel", "conflict", "precondition-not-met");
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
		pubsub_req_fail(r, "cancel", "item-not-found", NULL);
		return;
	}
	if (!r->svc.pep) {
		char *at = strchr(r->bare, '@');

		if (at == NULL || (size_t)(at - r->bare) > JID_PART_MAX) {
			pubsub_req_fail(r, "auth", "forbidden", NULL);
			return;
		}
		memcpy(r->owner_local, r->bare, (size_t)(at - r->bare));
		r->owner_local[at - r->bare] = '\0';
		r->owner_host = router_host_index(at + 1);
	}
	ps_config_default(&r->create, r->svc.pep, r->node);
	if (x && ps_config_apply(&r->create, x, pubsub_cfg()->max_items, &bad) == -1) {
		pubsub_req_fail(r, "cancel", "conflict", "precondition-not-met");
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
		pubsub_req_fail(r, "modify", "bad-request", "invalid-payload");
		return -1;
	}
	id = it ? xml_attr(it, "id") : NULL;
	if (id && !ps_name_valid(id, PS_ID_MAX)) {
		pubsub_req_fail(r, "modify", "not-acceptable", NULL);
		return -1;
	}
	if (id) {
		snprintf(r->item, sizeof(r->item), "%s", id);
	} else if (random_hex(r->item, 16) == -1) {
		pubsub_req_fail(r, "wait", "internal-server-error", NULL);
		return -1;
	}
	pl = it ? xml_first_elem(it) : NULL;
	if (pl && xml_next_elem(pl)) {
		pubsub_req_fail(r, "modify", "bad-request", "invalid-payload");
		return -1;
	}
	if (pl) {
		xml_detach(pl);
		r->payload = pl;
		if (xml_serialize(&r->pl, pl, NS_PUBSUB) == -1) {
			pubsub_req_fail(r, "wait", "resource-constraint", NULL);
			return -1;
		}
		if (r->pl.len > pubsub_cfg()->max_item_size) {
			log_info("pubsub: %s: item of %zu bytes refused (max_item_size %zu)",
			    r->from, r->pl.len, pubsub_cfg()->max_item_size);
			pubsub_req_fail(r, "modify", "not-acceptable", "payload-too-big");
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
		pubsub_req_end(r);
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
		pubsub_req_end(r);
		return;
	}
	if (!r->internal && pubsub_req_db_failed(r, res, err))
		return;
	if (PQntuples(res) == 0) {
		pubsub_req_fail(r, "cancel", "item-not-found", NULL);
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
	pubsub_req_ok(r, NULL);
}

static void
retract_loaded(struct ps_req *r)
{
	const char *v[2] = { r->id, r->item };

	if (!pubsub_req_need_node(r))
		return;
	if (r->role < PS_ROLE_PUBLISHER) {
		pubsub_req_fail(r, "auth", "forbidden", NULL);
		return;
	}
	pubsub_req_query(r, &ps_st_retract, v, retracted);
}

static void
retract_parse(struct ps_req *r)
{
	struct xml_node *it = xml_child(r->act, "item", NS_PUBSUB);
	const char *id = it ? xml_attr(it, "id") : NULL;

	if (id == NULL || xml_next_elem(it)) {
		pubsub_req_fail(r, "modify", "bad-request", "item-required");
		return;
	}
	if (!ps_name_valid(id, PS_ID_MAX)) {
		pubsub_req_fail(r, "cancel", "item-not-found", NULL);
		return;
	}
	snprintf(r->item, sizeof(r->item), "%s", id);
	pubsub_req_load(r, retract_loaded);
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
	pubsub_req_load(r, retract_loaded);
}

static void
purged(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;
	struct xml_node *ev;

	if (pubsub_req_db_failed(r, res, err))
		return;
	if (r->cfg.deliver_notifications && (ev = xml_new("purge", NS_PUBSUB_EVENT)) != NULL) {
		xml_set_attr(ev, "node", r->node);
		ps_notify(&r->svc, r->node, &r->cfg, ev,
		    PQntuples(res) && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : NULL);
	}
	pubsub_req_ok(r, NULL);
}

static void
purge_loaded(struct ps_req *r)
{
	const char *v[1] = { r->id };

	if (pubsub_req_need_owner(r))
		pubsub_req_query(r, &ps_st_purge, v, purged);
}

static void
deleted(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;
	struct xml_node *ev;

	if (pubsub_req_db_failed(r, res, err))
		return;
	if (r->cfg.notify_delete && (ev = xml_new("delete", NS_PUBSUB_EVENT)) != NULL) {
		xml_set_attr(ev, "node", r->node);
		ps_notify(&r->svc, r->node, &r->cfg, ev,
		    PQntuples(res) && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : NULL);
	}
	pubsub_req_ok(r, NULL);
}

static void
delete_loaded(struct ps_req *r)
{
	const char *v[1] = { r->id };

	if (pubsub_req_need_owner(r))
		pubsub_req_query(r, &ps_st_delete, v, deleted);
}

/* ---- items ---- */

static void
items_got(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;
	struct xml_node *rs, *ps, *items, *it, *pl;
	int n;

	if (pubsub_req_db_failed(r, res, err))
		return;
	if ((rs = pubsub_req_result(r, NS_PUBSUB, &ps)) == NULL ||
	    (items = xml_add(ps, "items", NULL)) == NULL) {
		xml_free(rs);
		pubsub_req_fail(r, "wait", "resource-constraint", NULL);
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
	pubsub_req_ok(r, rs);
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

	if (pubsub_req_gone(r)) {
		pubsub_req_end(r);
		return;
	}
	if (cond) {
		pubsub_req_fail(r, type, cond, app);
		return;
	}
	buf_init(&ids);
	for (it = xml_first_elem(r->act); it; it = xml_next_elem(it)) {
		const char *id = xml_attr(it, "id");

		if (!xml_is(it, "item", NS_PUBSUB) || id == NULL || !ps_name_valid(id, PS_ID_MAX) ||
		    ++nids > PS_MAX_IDS) {
			buf_free(&ids);
			pubsub_req_fail(r, "modify", "bad-request", NULL);
			return;
		}
		buf_printf(&ids, "%s%s", nids > 1 ? "\n" : "", id);
	}
	if (max) {
		want = strtoul(max, &end, 10);
		if (max[0] < '0' || max[0] > '9' || *end || want == 0) {
			buf_free(&ids);
			pubsub_req_fail(r, "modify", "bad-request", NULL);
			return;
		}
	}
	if (nids)
		want = nids;
	if (want > pubsub_cfg()->max_items)
		want = pubsub_cfg()->max_items;
	snprintf(lim, sizeof(lim), "%lu", want);
	v[0] = r->id;
	v[1] = ids.p ? ids.p : "";
	v[2] = lim;
	pubsub_req_query(r, &ps_st_items, v, items_got);
	buf_free(&ids);
}

static void
items_loaded(struct ps_req *r)
{
	if (!pubsub_req_need_node(r))
		return;
	ps_access_read(r->owner_host, r->owner_local, &r->cfg, r->role, r->bare,
	    items_allowed, r);
}

/* ---- create, configure, default ---- */

static void
created(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (pubsub_req_db_failed(r, res, err))
		return;
	if (PQntuples(res) == 0) {
		pubsub_req_fail(r, "cancel", "resource-constraint", NULL);
		return;
	}
	pubsub_req_ok(r, NULL);
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
		pubsub_req_fail(r, "modify", "bad-request", NULL);
		return -1;
	}
	if (ps_config_apply(cfg, x, pubsub_cfg()->max_items, &bad) == -1) {
		pubsub_req_fail(r, "modify", "not-acceptable", NULL);
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
		pubsub_req_fail(r, "cancel", "conflict", NULL);
		return;
	}
	/* PEP: the account; the service: its local users (as the seed) */
	if (r->svc.pep ? r->role != PS_ROLE_OWNER : !pubsubsvc_may_create(r->bare) ||
	    (size_t)(at - r->bare) > JID_PART_MAX) {
		pubsub_req_fail(r, "auth", "forbidden", NULL);
		return;
	}
	ps_config_default(&r->create, r->svc.pep, r->node);
	if (config_form(xml_child(ps, "configure", NS_PUBSUB), &r->create, r) == -1)
		return;
	buf_init(&t);
	if (ps_config_encode(&r->create, &t) == -1) {
		buf_free(&t);
		pubsub_req_fail(r, "wait", "resource-constraint", NULL);
		return;
	}
	if (!r->svc.pep) {
		memcpy(r->owner_local, r->bare, (size_t)(at - r->bare));
		r->owner_local[at - r->bare] = '\0';
	}
	snprintf(maxi, sizeof(maxi), "%u", r->create.persist ? r->create.max_items : 1);
	snprintf(maxn, sizeof(maxn), "%u", pubsub_cfg()->max_nodes);
	v[0] = r->svc.jid;
	v[1] = r->node;
	v[2] = r->svc.pep ? srv.cfg->hosts[r->svc.host] : at + 1;
	v[3] = r->svc.pep ? r->svc.local : r->owner_local;
	v[4] = t.p;
	v[5] = maxi;
	v[6] = maxn;
	v[7] = r->svc.pep ? "" : r->bare;
	pubsub_req_query(r, &ps_st_create, v, created);
	buf_free(&t);
}

static void
configured(void *arg, PGresult *res, const char *err)
{
	struct ps_req *r = arg;

	if (pubsub_req_db_failed(r, res, err))
		return;
	pubsub_req_ok(r, NULL);
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

	if (!pubsub_req_need_owner(r))
		return;
	if (strcmp(stanza_type(r->iq), "get") == 0) {
		if ((rs = pubsub_req_result(r, NS_PUBSUB_OWNER, &ps)) == NULL ||
		    (cf = xml_add(ps, "configure", NULL)) == NULL ||
		    (x = ps_config_form(&r->cfg, "form")) == NULL) {
			xml_free(rs);
			pubsub_req_fail(r, "wait", "resource-constraint", NULL);
			return;
		}
		xml_set_attr(cf, "node", r->node);
		xml_append_child(cf, x);
		pubsub_req_ok(r, rs);
		return;
	}
	cfg = r->cfg;
	if ((rc = config_form(r->act, &cfg, r)) == -1)
		return;
	if (rc == 1 || xml_child(r->act, "x", NS_XDATA) == NULL) {
		if (rc == 1)
			pubsub_req_ok(r, NULL);
		else
			pubsub_req_fail(r, "modify", "bad-request", NULL);
		return;
	}
	buf_init(&t);
	if (ps_config_encode(&cfg, &t) == -1) {
		buf_free(&t);
		pubsub_req_fail(r, "wait", "resource-constraint", NULL);
		return;
	}
	snprintf(maxi, sizeof(maxi), "%u", cfg.persist ? cfg.max_items : 1);
	v[0] = r->id;
	v[1] = t.p;
	v[2] = maxi;
	pubsub_req_query(r, &ps_st_configure, v, configured);
	buf_free(&t);
}

static void
default_config(struct ps_req *r)
{
	struct xml_node *rs, *ps, *d, *x;
	struct ps_config cfg;

	ps_config_default(&cfg, r->svc.pep, r->node[0] ? r->node : "");
	if ((rs = pubsub_req_result(r, NS_PUBSUB_OWNER, &ps)) == NULL ||
	    (d = xml_add(ps, "default", NULL)) == NULL ||
	    (x = ps_config_form(&cfg, "form")) == NULL) {
		xml_free(rs);
		pubsub_req_fail(r, "wait", "resource-constraint", NULL);
		return;
	}
	xml_append_child(d, x);
	pubsub_req_ok(r, rs);
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
			pubsub_req_fail(r, "modify", "bad-request", "nodeid-required");
		return !required;
	}
	if (!ps_name_valid(node, PS_NODE_MAX)) {
		pubsub_req_fail(r, "cancel", "item-not-found", NULL);
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
			pubsub_req_load(r, publish_loaded);
	} else if (set && strcmp(a, "retract") == 0) {
		if (set_node(r, true))
			retract_parse(r);
	} else if (set && strcmp(a, "create") == 0) {
		if (xml_attr(r->act, "node") == NULL)
			pubsub_req_fail(r, "modify", "not-acceptable", "nodeid-required");
		else if (set_node(r, true))
			pubsub_req_load(r, create_loaded);
	} else if (set && strcmp(a, "subscribe") == 0) {
		if (set_node(r, true))
			pubsub_req_load(r, pubsub_subscribe_loaded);
	} else if (set && strcmp(a, "unsubscribe") == 0) {
		if (set_node(r, true))
			pubsub_req_load(r, pubsub_unsubscribe_loaded);
	} else if (!set && strcmp(a, "items") == 0) {
		if (set_node(r, true))
			pubsub_req_load(r, items_loaded);
	} else if (!set && strcmp(a, "subscriptions") == 0) {
		if (!set_node(r, false))
			return;
		v[0] = r->svc.jid;
		v[1] = r->bare;
		v[2] = r->from;
		v[3] = r->node;
		pubsub_req_query(r, &ps_st_user_subs, v, pubsub_user_subs_got);
	} else if (!set && strcmp(a, "affiliations") == 0) {
		if (!set_node(r, false))
			return;
		v[0] = r->svc.jid;
		v[1] = r->bare;
		v[2] = r->node;
		if (r->svc.pep && strcmp(r->bare, r->svc.jid) == 0) {
			/* the account owns all its nodes */
			char lim[16];

			snprintf(lim, sizeof(lim), "%u", pubsub_cfg()->max_nodes);
			v[1] = lim;
			pubsub_req_query(r, &ps_st_nodes, v, pubsub_user_affs_got);
		} else {
			pubsub_req_query(r, &ps_st_user_affs, v, pubsub_user_affs_got);
		}
	} else {
		pubsub_req_fail(r, "cancel", "feature-not-implemented", "unsupported");
	}
}

static void
dispatch_owner(struct ps_req *r, bool set)
{
	const char *a = r->act->name;

	if (strcmp(a, "configure") == 0) {
		if (set_node(r, true))
			pubsub_req_load(r, configure_loaded);
	} else if (!set && strcmp(a, "default") == 0) {
		default_config(r);
	} else if (set && strcmp(a, "delete") == 0) {
		if (set_node(r, true))
			pubsub_req_load(r, delete_loaded);
	} else if (set && strcmp(a, "purge") == 0) {
		if (set_node(r, true))
			pubsub_req_load(r, purge_loaded);
	} else if (strcmp(a, "subscriptions") == 0 || strcmp(a, "affiliations") == 0) {
		if (set_node(r, true))
			pubsub_req_load(r, pubsub_owner_lists_loaded);
	} else {
		pubsub_req_fail(r, "cancel", "feature-not-implemented", "unsupported");
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
		pubsub_req_fail(r, "modify", "bad-request", NULL);
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
