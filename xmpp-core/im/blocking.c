/*
 * blocking — XEP-0191.  See blocking.h.
 */
#include "blocking.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "crypto.h"
#include "db.h"
#include "hmap.h"
#include "iq.h"
#include "log.h"
#include "imconf.h"
#include "presence.h"
#include "roster.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"
#define MAX_PER_SET 256

struct blist {
	char *bare;
	unsigned refs;		/* sessions + loads in flight */
	bool loaded;
	struct hmap jids;	/* normalised JID -> (void *)1 */
	uint64_t *req;		/* sessions that asked for the list (pushes) */
	size_t nreq;
};

static struct hmap lists;	/* bare JID -> struct blist */
static size_t nonempty;		/* loaded lists with at least one entry */

static struct db_stmt st_load = {
	"SELECT jid FROM blocklist WHERE host = $1 AND username = $2", 2, 0 };
static struct db_stmt st_add = {
	"INSERT INTO blocklist (host, username, jid) VALUES ($1, $2, $3) "
	"ON CONFLICT DO NOTHING", 3, 0 };
static struct db_stmt st_del = {
	"DELETE FROM blocklist WHERE host = $1 AND username = $2 AND jid = $3", 3, 0 };
static struct db_stmt st_clear = {
	"DELETE FROM blocklist WHERE host = $1 AND username = $2", 2, 0 };
static struct db_stmt st_check = {
	"SELECT 1 FROM blocklist WHERE host = $1 AND username = $2 "
	"AND jid IN ($3, $4, $5, $6) LIMIT 1", 6, 0 };

/* ---- the in-memory lists ---- */

static void
count(struct blist *b, long delta)
{
	if (b->loaded && b->jids.n > 0)
		nonempty = (size_t)((long)nonempty + delta);
}

static void
blist_unref(struct blist *b)
{
	if (--b->refs > 0)
		return;
	count(b, -1);
	hmap_del(&lists, b->bare);
	hmap_free(&b->jids);
	free(b->req);
	free(b->bare);
	free(b);
}

static struct blist *
blist_get(const char *bare)
{
	struct blist *b = hmap_get(&lists, bare);

	if (b)
		return b;
	if ((b = calloc(1, sizeof(*b))) == NULL || (b->bare = strdup(bare)) == NULL ||
	    hmap_put(&lists, bare, b) == -1) {
		if (b)
			free(b->bare);
		free(b);
		return NULL;
	}
	return b;
}

/* The four forms of j an item may name (XEP-0191 §3.4 via XEP-0016 §2.1). */
struct forms {
	char full[JID_STR_MAX + 1];
	char bare[2 * JID_PART_MAX + 2];
	char domres[2 * JID_PART_MAX + 2];
	const char *domain;
};

static void
forms_of(const struct jid *j, struct forms *f)
{
	jid_full(j, f->full, sizeof(f->full));
	jid_bare(j, f->bare, sizeof(f->bare));
	if (j->resource[0])
		snprintf(f->domres, sizeof(f->domres), "%s/%s", j->domain, j->resource);
	else
		snprintf(f->domres, sizeof(f->domres), "%s", j->domain);
	f->domain = j->domain;
}

static bool
blist_match(const struct blist *b, const struct jid *j)
{
	struct forms f;

	if (b == NULL || !b->loaded || b->jids.n == 0)
		return false;
	forms_of(j, &f);
	return hmap_get(&b->jids, f.full) || hmap_get(&b->jids, f.bare) ||
	    hmap_get(&b->jids, f.domres) || hmap_get(&b->jids, f.domain);
}

static int
blist_add(struct blist *b, const char *jid)
{
	count(b, -1);
	if (hmap_put(&b->jids, jid, (void *)1) == -1)
		return -1;
	count(b, 1);
	return 0;
}

static void
blist_remove(struct blist *b, const char *jid)
{
	count(b, -1);
	hmap_del(&b->jids, jid);
	count(b, 1);
}

/* ---- loading at bind ---- */

struct load {
	struct c2s *c;
	struct blist *b;
};

static void
loaded(void *arg, PGresult *res, const char *err)
{
	struct load *l = arg;
	struct blist *b = l->b;

	if (res == NULL) {
		log_warn("blocking: loading the list of %s failed: %s", b->bare, err);
	} else if (!b->loaded) {
		b->loaded = true;
		for (int i = 0; i < PQntuples(res); i++)
			if (hmap_put(&b->jids, PQgetvalue(res, i, 0), (void *)1) == -1)
				break;
		count(b, 1);
	}
	c2s_unblock(l->c);
	blist_unref(b);
	free(l);
}

static void
blocking_session_start(struct c2s *c)
{
	struct blist *b = blist_get(c->user->bare);
	struct load *l;
	const char *v[2];

	if (b == NULL)
		return;
	b->refs++;		/* the session's */
	if (b->loaded || (l = calloc(1, sizeof(*l))) == NULL)
		return;
	l->c = c;
	l->b = b;
	b->refs++;		/* the load's */
	c2s_block(c);
	v[0] = srv.cfg->hosts[c->host];
	v[1] = c->local;
	if (db_query_key(srv.db, c->user->bare, &st_load, v, loaded, l) == NULL) {
		c2s_unblock(c);
		blist_unref(b);
		free(l);
	}
}

static void
blocking_session_end(struct c2s *c)
{
	struct blist *b = c->user ? hmap_get(&lists, c->user->bare) : NULL;

	if (b == NULL)
		return;
	for (size_t i = 0; i < b->nreq; i++) {
		if (b->req[i] == c->id) {
			b->req[i] = b->req[--b->nreq];
			break;
		}
	}
	blist_unref(b);
}

/* ---- the protocol ---- */

static void
add_items(struct xml_node *parent, struct hmap *jids)
{
	size_t i;

	for (struct hmap_ent *e = hmap_first(jids, &i); e; e = hmap_next(jids, e, &i))
		xml_set_attr(xml_add(parent, "item", NULL), "jid", e->key);
}

static void
get_list(struct c2s *c, struct xml_node *n, struct blist *b)
{
	struct xml_node *r, *q;
	uint64_t *nr;
	bool known = false;

	if (b == NULL || !b->loaded) {
		iq_error(c, n, "wait", "internal-server-error");
		return;
	}
	/* XEP-0191 §3.2: pushes go to the resources that asked */
	for (size_t i = 0; i < b->nreq; i++)
		known = known || b->req[i] == c->id;
	if (!known && (nr = realloc(b->req, (b->nreq + 1) * sizeof(*nr))) != NULL) {
		b->req = nr;
		b->req[b->nreq++] = c->id;
	}
	r = stanza_iq_result(n);
	q = xml_add(r, "blocklist", NS_BLOCKING);
	add_items(q, &b->jids);
	iq_reply(c, r);
}

struct change {
	struct c2s *c;
	struct xml_node *iq;
	struct blist *b;
	bool block, all;
	struct hmap jids;	/* the items, normalised */
	unsigned pending;
	bool failed;
};

static void
push(struct change *x)
{
	struct xml_node *p, *q;
	char id[24];

	if ((p = xml_new("iq", NS_CLIENT)) == NULL)
		return;
	xml_set_attr(p, "type", "set");
	memcpy(id, "push-", 5);
	random_hex(id + 5, 8);
	xml_set_attr(p, "id", id);
	q = xml_add(p, x->block ? "block" : "unblock", NS_BLOCKING);
	if (q && !x->all)
		add_items(q, &x->jids);
	for (struct c2s *s = x->c->user->sessions; s; s = s->next_session) {
		for (size_t i = 0; i < x->b->nreq; i++) {
			if (x->b->req[i] == s->id) {
				xml_set_attr(p, "to", s->full);
				c2s_send(s, p);
				break;
			}
		}
	}
	xml_free(p);
}

static void
send_unavailable(const struct c2s *s, const char *to)
{
	struct xml_node *p = xml_new("presence", NS_CLIENT);

	if (p == NULL)
		return;
	xml_set_attr(p, "type", "unavailable");
	xml_set_attr(p, "from", s->full);
	xml_set_attr(p, "to", to);
	router_route(p);
}

/* Whether the blocklist item (domain, domain/resource, bare or full JID)
 * covers the JID to. */
static bool
item_covers(const char *item, const char *to)
{
	struct forms f;
	struct jid j;

	if (jid_parse(to, &j) == -1)
		return false;
	forms_of(&j, &f);
	return strcmp(item, f.full) == 0 || strcmp(item, f.bare) == 0 ||
	    strcmp(item, f.domres) == 0 || strcmp(item, f.domain) == 0;
}

/*
 * §3.3: a newly blocked contact sees the account go unavailable, but
 * only where it was entitled to the account's presence (RFC 6121): a
 * bare JID with a 'from' subscription, and every JID the item covers
 * that a session sent directed presence to (a MUC occupant blocking the
 * room leaves it under its own nick; blocking another occupant's room
 * JID, which it never sent presence to, keeps it in the room).
 */
static void
presence_gone(struct c2s *c, const char *jid)
{
	struct roster *r = USER_ROSTER(c->user);
	struct roster_item *it = r && r->loaded ? roster_find(r, jid) : NULL;
	bool subscribed = it && it->sub_from;
	size_t i;

	for (struct c2s *s = c->user->sessions; s; s = s->next_session) {
		struct hmap *d = PSESS(s)->directed;

		if (!s->available)
			continue;
		if (subscribed)
			send_unavailable(s, jid);
		for (struct hmap_ent *e = d ? hmap_first(d, &i) : NULL; e; e = hmap_next(d, e, &i))
			/* (a subscribed contact's resources had the bare one) */
			if (item_covers(jid, e->key) && !(subscribed &&
			    strncmp(e->key, jid, strlen(jid)) == 0 &&
			    (e->key[strlen(jid)] == '/' || e->key[strlen(jid)] == '\0')))
				send_unavailable(s, e->key);
	}
}

/* §3.4: an unblocked contact entitled to the account's presence gets it. */
static void
presence_back(struct c2s *c, const char *jid)
{
	struct roster *r = USER_ROSTER(c->user);
	struct roster_item *it;
	struct xml_node *p;
	struct jid j;

	if (r == NULL || !r->loaded || jid_parse(jid, &j) == -1 || j.local[0] == '\0' ||
	    j.resource[0] || (it = roster_find(r, jid)) == NULL || !it->sub_from)
		return;
	for (struct c2s *s = c->user->sessions; s; s = s->next_session) {
		if (!s->available || PSESS(s)->presence == NULL || (p = xml_copy(PSESS(s)->presence)) == NULL)
			continue;
		xml_set_attr(p, "from", s->full);
		xml_set_attr(p, "to", jid);
		router_route(p);
	}
}

static void
change_free(struct change *x)
{
	hmap_free(&x->jids);
	xml_free(x->iq);
	c2s_unblock(x->c);
	blist_unref(x->b);
	free(x);
}

static void
change_release(struct change *x)
{
	struct c2s *c = x->c;
	struct blist *b = x->b;
	size_t i;

	if (--x->pending > 0)
		return;
	if (x->failed) {
		if (!c->dead)
			iq_error(c, x->iq, "wait", "internal-server-error");
		change_free(x);
		return;
	}
	/* the database has it: now the list in memory and the contacts */
	if (x->all) {
		for (struct hmap_ent *e = hmap_first(&b->jids, &i); e; e = hmap_next(&b->jids, e, &i))
			hmap_put(&x->jids, e->key, (void *)1);
	}
	for (struct hmap_ent *e = hmap_first(&x->jids, &i); e; e = hmap_next(&x->jids, e, &i)) {
		if (x->block) {
			if (!c->dead && c->user)
				presence_gone(c, e->key);
			blist_add(b, e->key);
		} else {
			blist_remove(b, e->key);
			if (!c->dead && c->user)
				presence_back(c, e->key);
		}
	}
	if (!c->dead && c->user) {
		iq_reply(c, stanza_iq_result(x->iq));
		push(x);
	}
	change_free(x);
}

static void
changed(void *arg, PGresult *res, const char *err)
{
	struct change *x = arg;

	if (res == NULL) {
		log_warn("blocking: updating the list of %s failed: %s", x->b->bare, err);
		x->failed = true;
	}
	change_release(x);
}

static void
set_list(struct c2s *c, struct xml_node *n, struct xml_node *q, struct blist *b)
{
	struct change *x;
	struct xml_node *it;
	const char *v[3], *cond = NULL, *s;
	char norm[JID_STR_MAX + 1];
	size_t nitems = 0, i;
	struct jid j;

	if (b == NULL || !b->loaded) {
		iq_error(c, n, "wait", "internal-server-error");
		xml_free(n);
		return;
	}
	if ((x = calloc(1, sizeof(*x))) == NULL) {
		iq_error(c, n, "wait", "resource-constraint");
		xml_free(n);
		return;
	}
	x->block = strcmp(q->name, "block") == 0;
	for (it = xml_first_elem(q); it && cond == NULL; it = xml_next_elem(it)) {
		if (!xml_is(it, "item", NS_BLOCKING))
			continue;
		if ((s = xml_attr(it, "jid")) == NULL || jid_parse(s, &j) == -1)
			cond = "jid-malformed";
		else if (++nitems > MAX_PER_SET)
			cond = "not-acceptable";
		else if (hmap_put(&x->jids, jid_full(&j, norm, sizeof(norm)), (void *)1) == -1)
			cond = "resource-constraint";
	}
	/* §3.3: a block needs items; §3.4: an unblock without items is all */
	if (cond == NULL && nitems == 0 && x->block)
		cond = "bad-request";
	if (cond == NULL && x->block) {
		size_t fresh = 0;

		for (struct hmap_ent *e = hmap_first(&x->jids, &i); e;
		    e = hmap_next(&x->jids, e, &i))
			fresh += hmap_get(&b->jids, e->key) == NULL;
		if (b->jids.n + fresh > blocking_cfg()->max_items)
			cond = "resource-constraint";
	}
	if (cond) {
		iq_error(c, n, strcmp(cond, "resource-constraint") == 0 ? "wait" : "modify", cond);
		hmap_free(&x->jids);
		free(x);
		xml_free(n);
		return;
	}
	x->all = !x->block && nitems == 0;
	x->c = c;
	x->iq = n;
	x->b = b;
	b->refs++;
	c2s_block(c);
	v[0] = srv.cfg->hosts[c->host];
	v[1] = c->local;
	x->pending = 1;
	if (x->all) {
		x->pending++;
		if (db_query_key(srv.db, c->user->bare, &st_clear, v, changed, x) == NULL) {
			x->pending--;
			x->failed = true;
		}
	}
	for (struct hmap_ent *e = hmap_first(&x->jids, &i); e && !x->failed;
	    e = hmap_next(&x->jids, e, &i)) {
		v[2] = e->key;
		x->pending++;
		if (db_query_key(srv.db, c->user->bare, x->block ? &st_add : &st_del, v,
		    changed, x) == NULL) {
			x->pending--;
			x->failed = true;
		}
	}
	change_release(x);
}

static bool
blocking_iq(struct iq_req *r)
{
	struct c2s *c = r->c;
	struct xml_node *n = r->iq, *q = r->q;
	struct blist *b = hmap_get(&lists, c->user->bare);
	const char *type = stanza_type(n);

	if (strcmp(type, "get") == 0 && strcmp(q->name, "blocklist") == 0) {
		get_list(c, n, b);
		xml_free(n);
	} else if (strcmp(type, "set") == 0 && (strcmp(q->name, "block") == 0 ||
	    strcmp(q->name, "unblock") == 0)) {
		set_list(c, n, q, b);
	} else {
		iq_error(c, n, "modify", "bad-request");
		xml_free(n);
	}
	return true;
}

/* ---- enforcement ---- */

static bool
is_request(const struct xml_node *n)
{
	const char *t = stanza_type(n);

	if (strcmp(n->name, "message") == 0)
		return strcmp(t, "error") != 0;
	if (strcmp(n->name, "iq") == 0)
		return strcmp(t, "get") == 0 || strcmp(t, "set") == 0;
	return false;
}

/* §3.5: the account tried to reach someone it blocked. */
static void
refuse_outgoing(struct xml_node *n)
{
	struct xml_node *e, *err;

	if (is_request(n) && (e = stanza_error(n, "cancel", "not-acceptable", NULL)) != NULL) {
		if ((err = xml_child(e, "error", NULL)) != NULL)
			xml_add(err, "blocked", NS_BLOCKING_ERRORS);
		router_route(e);
	}
	xml_free(n);
}

/* §3.4: someone the account blocked tried to reach it. */
static void
refuse_incoming(struct xml_node *n)
{
	if (is_request(n))
		stanza_bounce(n, "cancel", "service-unavailable");
	xml_free(n);
}

struct check {
	struct xml_node *n;
	struct jid to;
	int host;
	struct hook_args a;	/* where routing goes on */
};

static void
checked(void *arg, PGresult *res, const char *err)
{
	struct check *k = arg;

	if (res == NULL) {
		log_warn("blocking: checking the list of %s@%s failed: %s", k->to.local,
		    k->to.domain, err);
		stanza_bounce(k->n, "wait", "internal-server-error");
		xml_free(k->n);
	} else if (PQntuples(res) > 0) {
		refuse_incoming(k->n);
	} else {
		k->a.to = &k->to;
		router_resume(&k->a);
	}
	free(k);
}

static bool
blocking_route(struct hook_args *a)
{
	struct xml_node *n = a->n;
	const struct jid *to = a->to;
	int host = a->host;
	char bare[2 * JID_PART_MAX + 2], fbare[2 * JID_PART_MAX + 2];
	struct blist *b, *rb = NULL;
	struct check *k;
	struct forms f;
	struct jid from;
	const char *v[6];

	if (strcmp(stanza_type(n), "error") == 0)
		return false;
	if (to->local[0])
		rb = hmap_get(&lists, jid_bare(to, bare, sizeof(bare)));
	/* the common case costs two lookups: nobody online blocks anyone and
	 * the recipient's (empty) list is in memory */
	if (nonempty == 0 && (to->local[0] == '\0' || (rb && rb->loaded)))
		return false;
	if (stanza_jid(n, "from", &from) != 1)
		return false;
	/* outgoing: the sender is online, its list is in memory */
	if (from.local[0] && router_host_index(from.domain) >= 0 &&
	    (b = hmap_get(&lists, jid_bare(&from, fbare, sizeof(fbare)))) != NULL &&
	    blist_match(b, to)) {
		refuse_outgoing(n);
		return true;
	}
	if (to->local[0] == '\0')
		return false;
	b = rb;
	if (b && b->loaded) {
		if (!blist_match(b, &from))
			return false;
		refuse_incoming(n);
		return true;
	}
	/* the list is not in memory: ask the database before anything is
	 * delivered or stored (requests only: presence to an account with no
	 * session goes nowhere anyway) */
	if (!is_request(n) || jid_bare_eq(&from, to))
		return false;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return false;
	k->n = n;
	k->to = *to;
	k->host = host;
	k->a = *a;
	forms_of(&from, &f);
	v[0] = srv.cfg->hosts[host];
	v[1] = to->local;
	v[2] = f.full;
	v[3] = f.bare;
	v[4] = f.domres;
	v[5] = f.domain;
	if (db_query_key(srv.db, bare, &st_check, v, checked, k) == NULL) {
		free(k);
		stanza_bounce(n, "wait", "resource-constraint");
		xml_free(n);
	}
	return true;
}

static bool
blocking_outgoing(struct c2s *c, struct xml_node *n)
{
	struct blist *b;
	struct jid to;

	if (nonempty == 0 || c->user == NULL || strcmp(stanza_type(n), "error") == 0 ||
	    (b = hmap_get(&lists, c->user->bare)) == NULL ||
	    stanza_jid(n, "to", &to) != 1 || !blist_match(b, &to))
		return false;
	refuse_outgoing(n);
	return true;
}

static bool
blocking_drops(const struct user *u, const struct xml_node *n)
{
	char bare[2 * JID_PART_MAX + 2];
	struct blist *b;
	struct jid from, ub;

	if (nonempty == 0 || strcmp(stanza_type(n), "error") == 0 ||
	    stanza_jid(n, "from", &from) != 1)
		return false;
	if (blist_match(hmap_get(&lists, u->bare), &from))
		return true;
	b = from.local[0] ? hmap_get(&lists, jid_bare(&from, bare, sizeof(bare))) : NULL;
	if (b == NULL || b == hmap_get(&lists, u->bare) || jid_parse(u->bare, &ub) == -1)
		return false;
	return blist_match(b, &ub);
}

static void
blocking_cleanup(void)
{
	struct hmap_ent *e;
	struct blist *b;
	size_t i;

	for (e = hmap_first(&lists, &i); e; e = hmap_next(&lists, e, &i)) {
		b = e->val;
		hmap_free(&b->jids);
		free(b->req);
		free(b->bare);
		free(b);
	}
	hmap_free(&lists);
	nonempty = 0;
}

static enum hook_rc
route_hook(struct hook_args *a)
{
	return blocking_route(a) ? HOOK_TAKEN : HOOK_NEXT;
}

static enum hook_rc
outgoing_hook(struct hook_args *a)
{
	return blocking_outgoing(a->c, a->n) ? HOOK_TAKEN : HOOK_NEXT;
}

static enum hook_rc
deliver_hook(struct hook_args *a)
{
	return blocking_drops(a->u, a->n) ? HOOK_TAKEN : HOOK_NEXT;
}

static const struct iq_handler iqs[] = {
	/* blocklist, block, unblock; others get bad-request */
	{ IQ_ANY, NS_BLOCKING, IQ_CLIENT, blocking_iq },
	{ NULL, NULL, 0, NULL },
};

/* before everything else on the paths it guards */
static const struct hook hooks[] = {
	{ EV_STANZA_IN, 100, route_hook },
	{ EV_MESSAGE_OUT, 100, outgoing_hook },
	{ EV_DELIVER, 100, deliver_hook },
	{ EV_MAX, 0, NULL },
};

static const char *const features[] = { NS_BLOCKING, NULL };
static const char *const migrations[] = { "011_blocking", NULL };

struct module blocking_module = {
	.name = "blocking",
	.folder = "im",
	.config_load = blocking_config_load,
	.config_free = im_config_free,
	.migrations = migrations,
	.iqs = iqs,
	.hooks = hooks,
	.server_features = features,
	.session_bound = blocking_session_start,
	.session_unbound = blocking_session_end,
	.cleanup = blocking_cleanup,
};
