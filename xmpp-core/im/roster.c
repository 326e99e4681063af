/*
 * roster — roster storage, get/set/push.  See roster.h.
 */
#include "roster.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "buf.h"
#include "db.h"
#include "imconf.h"
#include "jid.h"
#include "log.h"
#include "presence.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define GROUP_SEP "\x01"	/* cannot occur in XML text */
#define MAX_GROUPS 64

struct roster_waiter {
	struct roster_waiter *next;
	roster_cb *cb;
	void *arg;
};

static struct db_stmt st_load = {
	"SELECT u.roster_version, r.jid, r.name, array_to_string(r.groups, E'\\x01'), "
	"r.sub_to, r.sub_from, r.ask_out, r.ask_in, r.approved, r.visible "
	"FROM users u LEFT JOIN roster r ON r.host = u.host AND r.username = u.username "
	"WHERE u.host = $1 AND u.username = $2", 2, 0 };
static struct db_stmt st_upsert = {
	"WITH v AS (UPDATE users SET roster_version = $12::bigint "
	"WHERE host = $1 AND username = $2) "
	"INSERT INTO roster (host, username, jid, name, groups, sub_to, sub_from, "
	"ask_out, ask_in, approved, visible, version) VALUES ($1, $2, $3, $4, "
	"string_to_array($5, E'\\x01'), $6, $7, $8, $9, $10, $11, $12::bigint) "
	"ON CONFLICT (host, username, jid) DO UPDATE SET name = EXCLUDED.name, "
	"groups = EXCLUDED.groups, sub_to = EXCLUDED.sub_to, sub_from = EXCLUDED.sub_from, "
	"ask_out = EXCLUDED.ask_out, ask_in = EXCLUDED.ask_in, "
	"approved = EXCLUDED.approved, visible = EXCLUDED.visible, version = EXCLUDED.version",
	12, 0 };
static struct db_stmt st_delete = {
	"WITH v AS (UPDATE users SET roster_version = $4::bigint "
	"WHERE host = $1 AND username = $2) "
	"DELETE FROM roster WHERE host = $1 AND username = $2 AND jid = $3", 4, 0 };

static void
item_clear(struct roster_item *it)
{
	free(it->jid);
	free(it->name);
	for (size_t i = 0; i < it->ngroups; i++)
		free(it->groups[i]);
	free(it->groups);
	memset(it, 0, sizeof(*it));
}

void
roster_free(struct roster *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		item_clear(&r->items[i]);
	free(r->items);
	free(r->index);
	free(r);
}

/* ---- the JID index: big rosters are searched on every presence ---- */

static size_t
jid_hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void
index_put(struct roster *r, size_t i)
{
	size_t mask = r->index_cap - 1, h = jid_hash(r->items[i].jid) & mask;

	while (r->index[h] != 0)
		h = (h + 1) & mask;
	r->index[h] = (uint32_t)(i + 1);
}

/* Rebuilt at a size for n items; without memory, lookups scan instead. */
static void
index_build(struct roster *r, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap *= 2;
	if (cap != r->index_cap) {
		free(r->index);
		r->index_cap = 0;
		if ((r->index = malloc(cap * sizeof(*r->index))) == NULL)
			return;
		r->index_cap = cap;
	}
	memset(r->index, 0, cap * sizeof(*r->index));
	for (size_t i = 0; i < r->n; i++)
		index_put(r, i);
}

struct roster_item *
roster_find(struct roster *r, const char *jid)
{
	size_t mask, h;
	uint32_t k;

	if (r->index_cap == 0) {
		for (size_t i = 0; i < r->n; i++)
			if (strcmp(r->items[i].jid, jid) == 0)
				return &r->items[i];
		return NULL;
	}
	mask = r->index_cap - 1;
	for (h = jid_hash(jid) & mask; (k = r->index[h]) != 0; h = (h + 1) & mask)
		if (strcmp(r->items[k - 1].jid, jid) == 0)
			return &r->items[k - 1];
	return NULL;
}

static struct roster_item *
item_append(struct roster *r, const char *jid)
{
	struct roster_item *it;

	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 8;

		if ((it = realloc(r->items, nc * sizeof(*it))) == NULL)
			return NULL;
		r->items = it;
		r->cap = nc;
	}
	it = &r->items[r->n];
	memset(it, 0, sizeof(*it));
	if ((it->jid = strdup(jid)) == NULL || (it->name = strdup("")) == NULL) {
		item_clear(it);
		return NULL;
	}
	r->n++;
	if (r->index_cap >= 2 * r->n)
		index_put(r, r->n - 1);
	else
		index_build(r, r->cap);
	return it;
}

struct roster_item *
roster_add(struct roster *r, const char *jid)
{
	if (r->n >= roster_cfg()->max_items)
		return NULL;	/* bounded: callers answer resource-constraint */
	return item_append(r, jid);
}

static int
set_groups(struct roster_item *it, const char *joined)
{
	const char *p = joined, *q;

	for (size_t i = 0; i < it->ngroups; i++)
		free(it->groups[i]);
	free(it->groups);
	it->groups = NULL;
	it->ngroups = 0;
	if (*joined == '\0')
		return 0;
	if ((it->groups = calloc(MAX_GROUPS, sizeof(char *))) == NULL)
		return -1;
	while (it->ngroups < MAX_GROUPS) {
		q = strchr(p, GROUP_SEP[0]);
		it->groups[it->ngroups] = q ? strndup(p, (size_t)(q - p)) : strdup(p);
		if (it->groups[it->ngroups] == NULL)
			return -1;
		it->ngroups++;
		if (q == NULL)
			break;
		p = q + 1;
	}
	return 0;
}

static bool
b(PGresult *res, int row, int col)
{
	return PQgetvalue(res, row, col)[0] == 't';
}

static void
loaded(void *arg, PGresult *res, const char *err)
{
	struct user *u = arg;
	struct roster *r = USER_ROSTER(u);
	struct roster_waiter *w, *next;
	bool ok;

	if (res == NULL) {
		log_warn("roster: loading %s failed: %s", u->bare, err);
	} else {
		r->exists = PQntuples(res) > 0;
		if (r->exists)
			r->version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		for (int i = 0; i < PQntuples(res); i++) {
			struct roster_item *it;

			if (PQgetisnull(res, i, 1))
				continue;
			if ((it = item_append(r, PQgetvalue(res, i, 1))) == NULL)
				break;
			free(it->name);
			it->name = strdup(PQgetvalue(res, i, 2));
			set_groups(it, PQgetvalue(res, i, 3));
			it->sub_to = b(res, i, 4);
			it->sub_from = b(res, i, 5);
			it->ask_out = b(res, i, 6);
			it->ask_in = b(res, i, 7);
			it->approved = b(res, i, 8);
			it->visible = b(res, i, 9);
		}
		r->loaded = true;
	}
	w = r->waiters;
	r->waiters = NULL;
	ok = r->loaded;
	if (!ok)
		USER_ROSTER(u) = NULL;	/* let a later caller try again */
	/* the last unref below may free u and its roster: r is not used after */
	for (; w; w = next) {
		next = w->next;
		w->cb(w->arg, u);
		router_user_unref(u);
		free(w);
	}
	if (!ok)
		roster_free(r);
}

void
roster_load(struct user *u, roster_cb *cb, void *arg)
{
	struct roster_waiter *w;
	const char *v[2] = { srv.cfg->hosts[u->host], u->local };

	if (USER_ROSTER(u) && USER_ROSTER(u)->loaded) {
		cb(arg, u);
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		goto fail;
	w->cb = cb;
	w->arg = arg;
	router_user_ref(u);
	if (USER_ROSTER(u)) {
		w->next = USER_ROSTER(u)->waiters;
		USER_ROSTER(u)->waiters = w;
		return;
	}
	if ((USER_ROSTER(u) = calloc(1, sizeof(*USER_ROSTER(u)))) == NULL) {
		router_user_unref(u);
		free(w);
		goto fail;
	}
	USER_ROSTER(u)->waiters = w;
	if (db_query_key(srv.db, u->bare, &st_load, v, loaded, u) == NULL) {
		loaded(u, NULL, "database queue full");
	}
	return;
fail:
	/* out of memory: cb sees no loaded roster and answers with an error */
	cb(arg, u);
}

const char *
roster_subscription(const struct roster_item *it)
{
	if (it->sub_to && it->sub_from)
		return "both";
	if (it->sub_to)
		return "to";
	if (it->sub_from)
		return "from";
	return "none";
}

static void
item_xml(struct xml_node *q, const struct roster_item *it, bool removed)
{
	struct xml_node *x = xml_add(q, "item", NS_ROSTER);

	if (x == NULL)
		return;
	xml_set_attr(x, "jid", it->jid);
	if (removed) {
		xml_set_attr(x, "subscription", "remove");
		return;
	}
	if (it->name[0])
		xml_set_attr(x, "name", it->name);
	xml_set_attr(x, "subscription", roster_subscription(it));
	if (it->ask_out)
		xml_set_attr(x, "ask", "subscribe");
	if (it->approved)
		xml_set_attr(x, "approved", "true");
	for (size_t i = 0; i < it->ngroups; i++)
		xml_add_with_text(x, "group", NS_ROSTER, it->groups[i]);
}

static void
push(struct user *u, const struct roster_item *it, bool removed)
{
	char ver[24], id[32];
	struct xml_node *iq, *q;

	snprintf(ver, sizeof(ver), "%lld", USER_ROSTER(u)->version);
	for (struct c2s *s = u->sessions; s; s = s->next_session) {
		if (!ROSTER_REQUESTED(s))
			continue;
		iq = xml_new("iq", NS_CLIENT);
		snprintf(id, sizeof(id), "push%s", ver);
		xml_set_attr(iq, "type", "set");
		xml_set_attr(iq, "id", id);
		xml_set_attr(iq, "to", s->full);
		q = xml_add(iq, "query", NS_ROSTER);
		xml_set_attr(q, "ver", ver);
		item_xml(q, it, removed);
		c2s_send(s, iq);
		xml_free(iq);
	}
}

static void
write_done(void *arg, PGresult *res, const char *err)
{
	(void)arg;
	(void)res;
	if (err)
		log_warn("roster: write failed: %s", err);
}

void
roster_commit(struct user *u, struct roster_item *it)
{
	struct roster *r = USER_ROSTER(u);
	char ver[24], groups[MAX_GROUPS * (JID_PART_MAX + 1)];
	const char *v[12];
	size_t gl = 0;

	if (!it->visible && !it->sub_to && !it->sub_from && !it->ask_out &&
	    !it->ask_in && !it->approved) {
		roster_remove(u, it->jid);
		return;
	}
	r->version++;
	snprintf(ver, sizeof(ver), "%lld", r->version);
	groups[0] = '\0';
	for (size_t i = 0; i < it->ngroups; i++) {
		int n = snprintf(groups + gl, sizeof(groups) - gl, "%s%s",
		    i ? GROUP_SEP : "", it->groups[i]);

		if (n < 0 || (size_t)n >= sizeof(groups) - gl)
			break;
		gl += (size_t)n;
	}
	v[0] = srv.cfg->hosts[u->host];
	v[1] = u->local;
	v[2] = it->jid;
	v[3] = it->name;
	v[4] = groups;
	v[5] = it->sub_to ? "t" : "f";
	v[6] = it->sub_from ? "t" : "f";
	v[7] = it->ask_out ? "t" : "f";
	v[8] = it->ask_in ? "t" : "f";
	v[9] = it->approved ? "t" : "f";
	v[10] = it->visible ? "t" : "f";
	v[11] = ver;
	if (db_query_key(srv.db, u->bare, &st_upsert, v, write_done, NULL) == NULL)
		log_warn("roster: write for %s dropped: database queue full", u->bare);
	if (it->visible)
		push(u, it, false);
}

void
roster_remove(struct user *u, const char *jid)
{
	struct roster *r = USER_ROSTER(u);
	struct roster_item *it = roster_find(r, jid), tmp;
	char ver[24];
	const char *v[4];

	if (it == NULL)
		return;
	r->version++;
	snprintf(ver, sizeof(ver), "%lld", r->version);
	v[0] = srv.cfg->hosts[u->host];
	v[1] = u->local;
	v[2] = it->jid;
	v[3] = ver;
	if (db_query_key(srv.db, u->bare, &st_delete, v, write_done, NULL) == NULL)
		log_warn("roster: delete for %s dropped: database queue full", u->bare);
	tmp = *it;
	*it = r->items[--r->n];
	index_build(r, r->cap);	/* the last item moved */
	if (tmp.visible)
		push(u, &tmp, true);
	item_clear(&tmp);
}

/* ---- jabber:iq:roster from the client ---- */

static void
reply_error(struct c2s *c, struct xml_node *iq, const char *type, const char *cond)
{
	struct xml_node *e = stanza_error(iq, type, cond, NULL);

	if (e) {
		xml_del_attr(e, "from");
		c2s_send(c, e);
		xml_free(e);
	}
}

static void
roster_get(struct c2s *c, struct xml_node *iq)
{
	struct roster *r = USER_ROSTER(c->user);
	struct xml_node *res = stanza_iq_result(iq), *q;
	const char *ver = xml_attr(xml_child(iq, "query", NS_ROSTER), "ver");
	char cur[24];

	xml_del_attr(res, "from");
	ROSTER_REQUESTED(c) = true;
	snprintf(cur, sizeof(cur), "%lld", r->version);
	if (ver == NULL || strcmp(ver, cur) != 0) {
		q = xml_add(res, "query", NS_ROSTER);
		xml_set_attr(q, "ver", cur);
		for (size_t i = 0; i < r->n; i++)
			if (r->items[i].visible)
				item_xml(q, &r->items[i], false);
	}
	c2s_send(c, res);
	xml_free(res);
}

static void
roster_set(struct c2s *c, struct xml_node *iq)
{
	struct xml_node *q = xml_child(iq, "query", NS_ROSTER), *x, *g;
	struct roster_item *it;
	const char *jid, *sub, *name;
	char bare[2 * JID_PART_MAX + 2], *groups[MAX_GROUPS];
	size_t ng = 0;
	struct jid j;
	struct xml_node *res;

	x = xml_first_elem(q);
	/* RFC 6121 §2.3.3: exactly one item */
	if (x == NULL || !xml_is(x, "item", NS_ROSTER) || xml_next_elem(x) ||
	    (jid = xml_attr(x, "jid")) == NULL || jid_parse(jid, &j) == -1 ||
	    j.resource[0]) {
		reply_error(c, iq, "modify", "bad-request");
		return;
	}
	jid_bare(&j, bare, sizeof(bare));
	sub = xml_attr(x, "subscription");
	if (sub && strcmp(sub, "remove") == 0) {
		if (roster_find(USER_ROSTER(c->user), bare) == NULL) {
			reply_error(c, iq, "cancel", "item-not-found");
			return;
		}
		res = stanza_iq_result(iq);
		xml_del_attr(res, "from");
		c2s_send(c, res);
		xml_free(res);
		presence_roster_removed(c, bare);
		return;
	}
	if (sub && strcmp(sub, "none") != 0 && strcmp(sub, "both") != 0 &&
	    strcmp(sub, "from") != 0 && strcmp(sub, "to") != 0) {
		reply_error(c, iq, "modify", "bad-request");
		return;
	}
	for (g = xml_child(x, "group", NS_ROSTER); g; g = xml_next_elem(g)) {
		char *t;

		if (!xml_is(g, "group", NS_ROSTER))
			continue;
		t = xml_text(g);
		if (t == NULL || t[0] == '\0' || strlen(t) > JID_PART_MAX ||
		    ng == MAX_GROUPS) {
			free(t);
			for (size_t i = 0; i < ng; i++)
				free(groups[i]);
			reply_error(c, iq, "modify", "not-acceptable");
			return;
		}
		groups[ng++] = t;
	}
	it = roster_find(USER_ROSTER(c->user), bare);
	if (it == NULL && (it = roster_add(USER_ROSTER(c->user), bare)) == NULL) {
		for (size_t i = 0; i < ng; i++)
			free(groups[i]);
		reply_error(c, iq, "wait", "resource-constraint");
		return;
	}
	name = xml_attr(x, "name");
	free(it->name);
	it->name = strdup(name ? name : "");
	for (size_t i = 0; i < it->ngroups; i++)
		free(it->groups[i]);
	free(it->groups);
	it->groups = ng ? calloc(ng, sizeof(char *)) : NULL;
	it->ngroups = it->groups ? ng : 0;
	for (size_t i = 0; i < ng; i++) {
		if (it->groups)
			it->groups[i] = groups[i];
		else
			free(groups[i]);
	}
	it->visible = true;
	roster_commit(c->user, it);
	res = stanza_iq_result(iq);
	xml_del_attr(res, "from");
	c2s_send(c, res);
	xml_free(res);
}

struct iq_ctx {
	struct c2s *c;
	struct xml_node *iq;
};

static void
roster_ready(void *arg, struct user *u)
{
	struct iq_ctx *x = arg;
	struct c2s *c = x->c;

	(void)u;
	if (!c->dead && c->user) {
		if (USER_ROSTER(c->user) == NULL || !USER_ROSTER(c->user)->loaded)
			reply_error(c, x->iq, "wait", "internal-server-error");
		else if (strcmp(stanza_type(x->iq), "get") == 0)
			roster_get(c, x->iq);
		else
			roster_set(c, x->iq);
	}
	xml_free(x->iq);
	free(x);
	c2s_unblock(c);
}

static void
roster_iq(struct c2s *c, struct xml_node *iq)
{
	struct iq_ctx *x;
	const char *type = stanza_type(iq);

	if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0) {
		xml_free(iq);
		return;
	}
	if ((x = malloc(sizeof(*x))) == NULL) {
		reply_error(c, iq, "wait", "resource-constraint");
		xml_free(iq);
		return;
	}
	x->c = c;
	x->iq = iq;
	c2s_block(c);
	roster_load(c->user, roster_ready, x);
}

static bool
roster_iq_handler(struct iq_req *r)
{
	roster_iq(r->c, r->iq);
	return true;
}

static void
roster_features(struct c2s *c, struct buf *b)
{
	if (c->authed)
		buf_puts(b, "<ver xmlns='urn:xmpp:features:rosterver'/>");
}

static void
roster_user_free(struct user *u)
{
	roster_free(USER_ROSTER(u));
	USER_ROSTER(u) = NULL;
}

struct prepare {
	void (*done)(void *, const char *);
	void *arg;
};

static void
prepared(void *arg, struct user *u)
{
	struct prepare p = *(struct prepare *)arg;

	free(arg);
	if (USER_ROSTER(u) == NULL || !USER_ROSTER(u)->loaded)
		p.done(p.arg, "the roster could not be loaded");
	else
		p.done(p.arg, NULL);
}

/* The roster is in memory before its rows go: presence tells the
 * contacts from it (account_removed). */
static void
roster_account_prepare(struct user *u, void (*done)(void *, const char *), void *arg)
{
	struct prepare *p = malloc(sizeof(*p));

	if (p == NULL) {
		done(arg, "out of memory");
		return;
	}
	p->done = done;
	p->arg = arg;
	roster_load(u, prepared, p);
}

static const struct iq_handler iqs[] = {
	{ "query", NS_ROSTER, IQ_CLIENT, roster_iq_handler },
	{ NULL, NULL, 0, NULL },
};

static const char *const features[] = { NS_ROSTER, NULL };
struct module roster_module = {
	.name = "roster",
	.folder = "im",
	.config_load = roster_config_load,
	.config_free = im_config_free,
	.iqs = iqs,
	.stream_features = roster_features,
	.server_features = features,
	.session_size = sizeof(bool),
	.user_size = sizeof(struct roster *),
	.user_free = roster_user_free,
	.account_prepare = roster_account_prepare,
};
