/*
 * muc — the conference.<host> service (XEP-0045) as a module: the
 * EV_ROUTE hook that takes every stanza for the service and its rooms,
 * the service's own disco, its item in the host's disco#items, the
 * [muc] table, and the session lifecycle (a session that ends leaves its
 * rooms; on shutdown every occupant gets 332).
 *
 * Rooms and occupants: mucroom.c; presence (join, nick, leave):
 * mucpres.c; messages: mucmsg.c; room IQs (config, disco, destroy):
 * mucowner.c; nicknames: mucnick.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "c2s.h"
#include "log.h"
#include "mucconf.h"
#include "mucint.h"
#include "mucmam.h"
#include "mucroom.h"
#include "mucstore.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

static const char *const features[] = {
	"http://jabber.org/protocol/disco#info",
	"http://jabber.org/protocol/disco#items",
	NS_MUC,
	/* rooms have vCards, their avatars (XEP-0486 §3) */
	"vcard-temp",
};

/* The host a service domain belongs to, or -1. */
static int
service_host(const char *domain)
{
	const struct muc_config *mc = muc_cfg();

	if (!mc->enabled)
		return -1;
	if (mc->service_jid)
		return strcmp(domain, mc->service_jid) == 0 ? 0 : -1;
	if (strncmp(domain, "conference.", 11) != 0)
		return -1;
	return router_host_index(domain + 11);
}

static void
service_jid(int host, char *out, size_t len)
{
	const struct muc_config *mc = muc_cfg();

	if (mc->service_jid)
		snprintf(out, len, "%s", mc->service_jid);
	else
		snprintf(out, len, "conference.%s", srv.cfg->hosts[host]);
}

static void
muc_disco_items(struct xml_node *query, int host)
{
	char jid[JID_PART_MAX + 1];
	struct xml_node *it;

	if (!muc_cfg()->enabled || (muc_cfg()->service_jid && host != 0))
		return;
	service_jid(host, jid, sizeof(jid));
	if ((it = xml_add(query, "item", NULL)) != NULL) {
		xml_set_attr(it, "jid", jid);
		xml_set_attr(it, "name", "Chatrooms");
	}
}

static void
service_info(struct xml_node *n)
{
	struct xml_node *r = stanza_iq_result(n), *q, *id;

	if (r == NULL || (q = xml_add(r, "query", NS_DISCO_INFO)) == NULL) {
		xml_free(r);
		stanza_bounce(n, "wait", "resource-constraint");
		return;
	}
	if ((id = xml_add(q, "identity", NULL)) != NULL) {
		xml_set_attr(id, "category", "conference");
		xml_set_attr(id, "type", "text");
		xml_set_attr(id, "name", "Chatrooms");
	}
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
		xml_set_attr(xml_add(q, "feature", NULL), "var", features[i]);
	router_route(r);
}

/*
 * The service's disco#items (XEP-0045 §6.3): its public rooms in JID
 * order, paged with RSM (XEP-0059: <max/>, <after/>, <before/> with a
 * JID or empty for the last page, <count/> of the whole list): the
 * persistent ones from the database, merged with the temporary ones in
 * memory.  One statement returns the page (a row more than asked, from
 * the side the page is taken) and the number of stored public rooms.
 */
#define MUC_DISCO_PAGE	100	/* items per page, and without <max/> */
#define NS_RSM		"http://jabber.org/protocol/rsm"

struct listing {
	struct xml_node *iq;
	unsigned max;
	bool rsm;
	bool backward;			/* <before/>: the page ends at before */
	char after[2 * JID_PART_MAX + 2];	/* "": from the first */
	char before[2 * JID_PART_MAX + 2];	/* "": to the last */
	char domain[JID_PART_MAX + 1];
	size_t ntmp;			/* temporary public rooms in range */
	size_t tmp_all;			/* ... and in all */
	struct item { const char *jid, *name; } *items;
	size_t nitems;
};

static int
by_item(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->jid, ((const struct item *)b)->jid);
}

static bool
in_range(const struct listing *l, const char *jid)
{
	return (l->after[0] == '\0' || strcmp(jid, l->after) > 0) &&
	    (l->before[0] == '\0' || strcmp(jid, l->before) < 0);
}

static void
collect_room(struct muc_room *r, void *arg)
{
	struct listing *l = arg;
	const char *at = strchr(r->jid, '@');

	if (r->stored || !r->cfg.public_ || r->locked || at == NULL ||
	    strcmp(at + 1, l->domain) != 0)
		return;
	l->tmp_all++;
	if (!in_range(l, r->jid) || l->items == NULL)
		return;
	l->items[l->nitems].jid = r->jid;
	l->items[l->nitems].name = r->cfg.name ? r->cfg.name : r->local;
	l->nitems++;
}

static void
public_got(void *arg, PGresult *res, const char *err)
{
	struct listing *l = arg;
	struct xml_node *r = NULL, *q, *set, *it, *first = NULL, *last = NULL;
	long long stored = 0;
	size_t from, n;
	int rows;

	if (res == NULL) {
		log_warn("muc: public rooms of %s: %s", l->domain, err);
		stanza_bounce(l->iq, "wait", "internal-server-error");
		goto out;
	}
	rows = PQntuples(res);
	if ((l->items = calloc(mucroom_count() + (size_t)rows + 1,
	    sizeof(*l->items))) == NULL || (r = stanza_iq_result(l->iq)) == NULL ||
	    (q = xml_add(r, "query", NS_DISCO_ITEMS)) == NULL) {
		stanza_bounce(l->iq, "wait", "resource-constraint");
		xml_free(r);
		goto out;
	}
	for (int i = 0; i < rows; i++) {
		if (PQgetisnull(res, i, 0)) {
			stored = strtoll(PQgetvalue(res, i, 2), NULL, 10);
			continue;
		}
		l->items[l->nitems].jid = PQgetvalue(res, i, 0);
		l->items[l->nitems].name = PQgetvalue(res, i, 1);
		l->nitems++;
	}
	mucroom_each(collect_room, l);
	qsort(l->items, l->nitems, sizeof(*l->items), by_item);
	/* the page: the max items nearest the side it is taken from */
	n = l->nitems < l->max ? l->nitems : l->max;
	from = l->backward ? l->nitems - n : 0;
	for (size_t k = from; k < from + n; k++) {
		if ((it = xml_add(q, "item", NULL)) == NULL)
			break;
		xml_set_attr(it, "jid", l->items[k].jid);
		if (l->items[k].name && l->items[k].name[0])
			xml_set_attr(it, "name", l->items[k].name);
		if (first == NULL)
			first = it;
		last = it;
	}
	/* a page that may go on says where it ended, asked or not */
	if ((l->rsm || l->nitems > n) && (set = xml_add(q, "set", NS_RSM)) != NULL) {
		if (first) {
			xml_add_with_text(set, "first", NULL, xml_attr(first, "jid"));
			xml_add_with_text(set, "last", NULL, xml_attr(last, "jid"));
		}
		if (l->rsm) {
			char cnt[24];

			snprintf(cnt, sizeof(cnt), "%lld", stored + (long long)l->tmp_all);
			xml_add_with_text(set, "count", NULL, cnt);
		}
	}
	router_route(r);
out:
	xml_free(l->iq);
	free(l->items);
	free(l);
}

/* RSM's <after/> or <before/> value into out: -1 when not a room JID of
 * domain (the request is then bad). */
static int
rsm_jid(const struct xml_node *e, const char *domain, char *out, size_t len)
{
	char *v = xml_text(e);
	struct jid j;
	int rc = 0;

	if (v == NULL)
		return -1;
	if (v[0] == '\0' && strcmp(e->name, "before") == 0)
		out[0] = '\0';		/* the last page */
	else if (jid_parse(v, &j) == -1 || j.local[0] == '\0' || j.resource[0] ||
	    strcmp(j.domain, domain) != 0)
		rc = -1;
	else
		jid_bare(&j, out, len);
	free(v);
	return rc;
}

static void
service_items(struct xml_node *n, const struct xml_node *q, const char *domain)
{
	const struct xml_node *set = xml_child(q, "set", NS_RSM), *e;
	struct listing *l = calloc(1, sizeof(*l));
	char *v, *end;

	if (l == NULL) {
		stanza_bounce(n, "wait", "resource-constraint");
		return;
	}
	l->max = MUC_DISCO_PAGE;
	l->rsm = set != NULL;
	snprintf(l->domain, sizeof(l->domain), "%s", domain);
	if (set && (e = xml_child(set, "max", NS_RSM)) != NULL) {
		unsigned long m;

		if ((v = xml_text(e)) == NULL)
			goto bad;
		m = strtoul(v, &end, 10);
		if (v[0] < '0' || v[0] > '9' || *end != '\0') {
			free(v);
			goto bad;
		}
		l->max = m < MUC_DISCO_PAGE ? (unsigned)m : MUC_DISCO_PAGE;
		free(v);
	}
	if (set && (e = xml_child(set, "after", NS_RSM)) != NULL &&
	    rsm_jid(e, domain, l->after, sizeof(l->after)) == -1)
		goto bad;
	if (set && (e = xml_child(set, "before", NS_RSM)) != NULL) {
		if (rsm_jid(e, domain, l->before, sizeof(l->before)) == -1)
			goto bad;
		l->backward = true;
	}
	if ((l->iq = xml_copy(n)) == NULL ||
	    mucstore_public(domain, l->after, l->before, l->backward, l->max + 1,
	    public_got, l) == -1) {
		xml_free(l->iq);
		free(l);
		stanza_bounce(n, "wait", "resource-constraint");
	}
	return;
bad:
	free(l);
	stanza_bounce(n, "modify", "bad-request");
}

/* The service's own vCard: its name; nobody sets it over XMPP. */
static void
service_vcard(struct xml_node *n, const char *type)
{
	struct xml_node *r, *vc;

	if (strcmp(type, "set") == 0) {
		stanza_bounce(n, "auth", "forbidden");
		return;
	}
	if ((r = stanza_iq_result(n)) == NULL ||
	    (vc = xml_add(r, "vCard", "vcard-temp")) == NULL ||
	    xml_add_with_text(vc, "FN", NULL, "Chatrooms") == NULL) {
		xml_free(r);
		stanza_bounce(n, "wait", "resource-constraint");
		return;
	}
	router_route(r);
}

static void
service_iq(struct xml_node *n, const struct jid *to)
{
	struct xml_node *q = xml_first_elem(n);
	const char *type = stanza_type(n);

	if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
		return;
	if (q == NULL || xml_next_elem(q) != NULL)
		stanza_bounce(n, "modify", "bad-request");
	else if (strcmp(type, "get") == 0 && xml_is(q, "query", NS_DISCO_INFO) &&
	    xml_attr(q, "node") == NULL)
		service_info(n);
	else if (strcmp(type, "get") == 0 && xml_is(q, "query", NS_DISCO_ITEMS) &&
	    xml_attr(q, "node") == NULL)
		service_items(n, q, to->domain);
	else if (xml_is(q, "vCard", "vcard-temp"))
		service_vcard(n, type);
	else
		stanza_bounce(n, "cancel", "service-unavailable");
}

/*
 * Rooms not in memory are looked up in the database first; the stanzas
 * for a room being loaded wait, in order, and are routed again when it
 * is there (or known not to exist).
 */
#define MUC_LOAD_QUEUE	32	/* stanzas waiting for one room */
#define MUC_MAX_LOADS	1024	/* rooms being loaded at once */

/* What waits for a room being loaded: a stanza, or a command (fn). */
struct waiter {
	struct xml_node *n;
	void (*fn)(void *arg, struct muc_room *r, const char *err);
	void *arg;
};

struct loading {
	unsigned n;
	struct waiter q[MUC_LOAD_QUEUE];
	char jid[];
};

static struct hmap loads;
static const char *absent;	/* the room just found not to exist */
static bool stopping;

static void room_stanza(struct xml_node *n, const struct jid *to, int host);

static void
loaded(void *arg, struct muc_room *r, const char *err)
{
	struct loading *l = arg;
	struct jid to;
	int host;

	hmap_del(&loads, l->jid);
	if (r == NULL && err == NULL)
		absent = l->jid;
	for (unsigned i = 0; i < l->n; i++) {
		struct xml_node *n = l->q[i].n;

		if (n == NULL) {
			if (stopping)
				l->q[i].fn(l->q[i].arg, NULL, "the service is stopping");
			else if (err)
				l->q[i].fn(l->q[i].arg, NULL, err);
			else
				l->q[i].fn(l->q[i].arg, mucroom_find(l->jid), NULL);
		} else if (stopping || stanza_jid(n, "to", &to) != 1 ||
		    (host = service_host(to.domain)) < 0) {
			xml_free(n);
		} else if (err) {
			stanza_bounce(n, "wait", "internal-server-error");
			xml_free(n);
		} else {
			room_stanza(n, &to, host);
		}
	}
	absent = NULL;
	free(l);
}

/* The load of room under way, started if need be; NULL when no more can
 * wait for it. */
static struct loading *
load_of(const char *room, int host)
{
	struct loading *l;
	size_t len;

	if ((l = hmap_get(&loads, room)) == NULL) {
		len = strlen(room) + 1;
		if (loads.n >= MUC_MAX_LOADS || (l = calloc(1, sizeof(*l) + len)) == NULL)
			return NULL;
		memcpy(l->jid, room, len);
		if (hmap_put(&loads, room, l) == -1) {
			free(l);
			return NULL;
		}
		if (mucstore_load(room, host, loaded, l) == -1) {
			hmap_del(&loads, room);
			free(l);
			return NULL;
		}
	}
	return l->n < MUC_LOAD_QUEUE ? l : NULL;
}

/* true: n waits for its room to be loaded (or was refused for it). */
static bool
wait_for_room(struct xml_node *n, const char *room, int host)
{
	struct loading *l;

	if (mucroom_find(room) != NULL && hmap_get(&loads, room) == NULL)
		return false;
	if (absent && strcmp(absent, room) == 0)
		return false;
	if ((l = load_of(room, host)) == NULL) {
		stanza_bounce(n, "wait", "resource-constraint");
		xml_free(n);
		return true;
	}
	l->q[l->n++].n = n;
	return true;
}

int
muc_service_host(const char *domain)
{
	return service_host(domain);
}

int
muc_room_get(const char *room, int host,
    void (*fn)(void *arg, struct muc_room *r, const char *err), void *arg)
{
	struct muc_room *r;
	struct loading *l;

	if (stopping) {
		fn(arg, NULL, "the service is stopping");
		return 0;
	}
	if ((r = mucroom_find(room)) != NULL && hmap_get(&loads, room) == NULL) {
		fn(arg, r, NULL);
		return 0;
	}
	if ((l = load_of(room, host)) == NULL)
		return -1;
	l->q[l->n].n = NULL;
	l->q[l->n].fn = fn;
	l->q[l->n].arg = arg;
	l->n++;
	return 0;
}

static void
room_stanza(struct xml_node *n, const struct jid *to, int host)
{
	char room[2 * JID_PART_MAX + 2];
	struct muc_room *r;

	if (stopping) {
		xml_free(n);	/* rooms are gone; occupants were told (332) */
		return;
	}
	jid_bare(to, room, sizeof(room));
	if (wait_for_room(n, room, host))
		return;
	if (strcmp(n->name, "presence") == 0) {
		mucpres_handle(n, to, host);
		return;
	}
	r = mucroom_find(room);
	if (strcmp(n->name, "message") == 0)
		mucmsg_handle(r, n, to);
	else if (to->resource[0] == '\0')
		mucowner_iq(r, n);
	else
		muciq_handle(r, n, to);
	/* a room loaded for a disco or an owner's request, with nobody in
	 * it, does not stay (memory holds rooms people are in) */
	if ((r = mucroom_find(room)) != NULL)
		mucroom_release(r);
}

static bool
muc_route(struct xml_node *n, const struct jid *to)
{
	int host;

	if ((host = service_host(to->domain)) < 0)
		return false;
	if (to->local[0] == '\0') {
		/* the service itself */
		if (strcmp(n->name, "iq") == 0 && to->resource[0] == '\0')
			service_iq(n, to);
		else if (strcmp(n->name, "presence") == 0 && to->resource[0])
			stanza_bounce(n, "modify", "jid-malformed");	/* no room */
		else if (strcmp(n->name, "presence") != 0)
			stanza_bounce(n, "cancel", "service-unavailable");
		xml_free(n);
		return true;
	}
	room_stanza(n, to, host);
	return true;
}

static enum hook_rc
route_hook(struct hook_args *a)
{
	return muc_route(a->n, a->to) ? HOOK_TAKEN : HOOK_NEXT;
}

/* A session that ends leaves every room it was in (§7.14 from the
 * room's side: the others see it go). */
static void
session_unbound(struct c2s *c)
{
	struct muc_c2s *mc = muc_c2s(c);

	while (mc->rooms)
		mucpres_leave(mc->rooms, NULL);
}

static void
session_moved(struct c2s *c)
{
	for (struct muc_sess *s = muc_c2s(c)->rooms; s; s = s->next_c2s)
		s->c = c;
}

static void
shutdown_room(struct muc_room *r, void *arg)
{
	static const unsigned self[] = { 332, 110, 0 };

	(void)arg;
	for (struct muc_occ *o = r->occs; o; o = o->next) {
		for (struct muc_sess *s = o->sessions; s; s = s->next) {
			struct xml_node *p = mucroom_presence(r, o, false,
			    "unavailable", self);

			if (p) {
				mucroom_send_sess(s, p);
				xml_free(p);
			}
		}
	}
}

struct orphans {
	char **jids;
	size_t n, cap;
};

static void
find_orphan(struct muc_room *r, void *arg)
{
	struct orphans *o = arg;
	const char *at = strchr(r->jid, '@');

	if (at && service_host(at + 1) >= 0)
		return;
	if (o->n < o->cap && (o->jids[o->n] = strdup(r->jid)) != NULL)
		o->n++;
}

/*
 * A reload that turned the service off or moved it: the rooms it no
 * longer serves end as on shutdown (332, their state stays stored), so
 * no occupant waits in a room nothing routes to.
 */
static void
muc_reload(void)
{
	struct orphans o = { .cap = mucroom_count() };
	struct muc_room *r;

	if (o.cap == 0 || (o.jids = calloc(o.cap, sizeof(*o.jids))) == NULL)
		return;
	mucroom_each(find_orphan, &o);
	for (size_t i = 0; i < o.n; i++) {
		if ((r = mucroom_find(o.jids[i])) != NULL) {
			shutdown_room(r, NULL);
			while (r->occs)
				mucroom_occ_free(r, r->occs);
			mucroom_evict(r);
		}
		free(o.jids[i]);
	}
	free(o.jids);
}

/* §7.2.x 332: the service is going down (persistent rooms are stored). */
static void
muc_shutdown(void)
{
	stopping = true;
	mucmam_shutdown();
	mucroom_each(shutdown_room, NULL);
	mucroom_cleanup();
}

/* What waits for the database is dropped when the pool fails it. */
static void
muc_cleanup(void)
{
	mucroom_cleanup();
	muciq_cleanup();
	hmap_free(&loads);
}

static void
muc_stats(struct buf *b)
{
	buf_printf(b, "muc_rooms\t%zu\nmuc_loading\t%zu\n", mucroom_count(), loads.n);
}

static int
config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	if ((*cfg = calloc(1, sizeof(struct muc_config))) == NULL)
		return -1;
	return muc_config_load(*cfg, root, e);
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

static const char *const migrations[] = { "050_muc", "051_muc_archive",
    "052_muc_config", NULL };

struct module muc_module = {
	.name = "muc",
	.folder = "muc",
	.migrations = migrations,
	.config_load = config_load,
	.config_free = config_free,
	.hooks = hooks,
	.commands = mucctl_commands,
	.disco_items = muc_disco_items,
	.start = mucmam_start,
	.init = mucmam_init,
	.session_size = sizeof(struct muc_c2s),
	.session_unbound = session_unbound,
	.session_moved = session_moved,
	.reload = muc_reload,
	.shutdown = muc_shutdown,
	.cleanup = muc_cleanup,
	.stats = muc_stats,
};
