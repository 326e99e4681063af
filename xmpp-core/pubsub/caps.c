/*
 * caps — the client entity-capabilities cache.  See caps.h.
 *
 * An entry per (hash, ver), shared by reference between the sessions that
 * announced it and kept in a least-recently-used list; at
 * [pubsub] caps_cache entries an unused one is dropped for a new one (when
 * every entry is in use the new ver is not cached and its sessions get no
 * filtered notifications).  A pending entry has one disco#info query out,
 * to the first resource that announced it; when no answer came within
 * QUERY_RETRY_MS the next presence with that ver asks again.  An answer
 * whose ver does not verify (XEP-0115 §5.4) is not kept: the entry is
 * dropped from the cache and its sessions have no features.
 * Per-session state is keyed by the session id (stable across XEP-0198
 * resumption).
 */
#include "caps.h"
#include "capsver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "c2s.h"
#include "crypto.h"
#include "evloop.h"
#include "hmap.h"
#include "log.h"
#include "pubsubconf.h"
#include "pep.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define QUERY_RETRY_MS 30000
#define MAX_FEATURES 1000
#define MAX_IDENTITIES 100
#define MAX_FORMS 20
#define VER_MAX 128

struct caps_ent {
	char *key;		/* "hash ver" */
	unsigned refs;		/* sessions + the cache */
	bool cached;		/* in the map and the LRU list */
	bool known;		/* features verified */
	char **features;	/* sorted */
	size_t nfeatures;
	char qid[40];		/* id of our disco#info query */
	char *qjid;		/* asked */
	uint64_t asked;
	struct caps_ent *prev, *next;	/* LRU, most recent first */
};

static struct hmap cache;	/* key -> entry */
static struct hmap sessions;	/* session id -> entry */
static struct caps_ent *lru_head, *lru_tail;

static void
ent_free(struct caps_ent *e)
{
	for (size_t i = 0; i < e->nfeatures; i++)
		free(e->features[i]);
	free(e->features);
	free(e->qjid);
	free(e->key);
	free(e);
}

static void
ent_unref(struct caps_ent *e)
{
	if (e && --e->refs == 0)
		ent_free(e);
}

static void
lru_unlink(struct caps_ent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		lru_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_front(struct caps_ent *e)
{
	if (e == lru_head)
		return;
	if (e->prev)		/* linked (a new entry is not yet) */
		lru_unlink(e);
	e->next = lru_head;
	if (lru_head)
		lru_head->prev = e;
	lru_head = e;
	if (lru_tail == NULL)
		lru_tail = e;
}

static void
uncache(struct caps_ent *e)
{
	if (!e->cached)
		return;
	e->cached = false;
	lru_unlink(e);
	hmap_del(&cache, e->key);
	ent_unref(e);
}

/* Room for one more entry: drops the least recently used unused one. */
static bool
make_room(void)
{
	if (cache.n < pubsub_cfg()->caps_cache)
		return true;
	for (struct caps_ent *e = lru_tail; e; e = e->prev) {
		if (e->refs == 1) {
			uncache(e);
			return true;
		}
	}
	return false;
}

static void
sess_key(const struct c2s *c, char *buf, size_t len)
{
	snprintf(buf, len, "%llu", (unsigned long long)c->id);
}

static struct caps_ent *
sess_ent(const struct c2s *c)
{
	char k[24];

	sess_key(c, k, sizeof(k));
	return hmap_get(&sessions, k);
}

/* Points c at e (NULL: no caps); true when that changed anything. */
static bool
sess_set(struct c2s *c, struct caps_ent *e)
{
	char k[24];
	struct caps_ent *old;

	sess_key(c, k, sizeof(k));
	old = hmap_get(&sessions, k);
	if (old == e)
		return false;
	if (e) {
		if (hmap_put(&sessions, k, e) == -1)
			return false;
		e->refs++;
	} else {
		hmap_del(&sessions, k);
	}
	ent_unref(old);
	return true;
}

/* Our disco#info query for node#ver to `to`, its id kept in e. */
static struct xml_node *
query(struct caps_ent *e, const char *from, const char *to, const char *node,
    const char *ver)
{
	struct xml_node *iq, *q;
	char nv[JID_PART_MAX + VER_MAX + 2], rnd[17];

	if (random_hex(rnd, 8) == -1 || (iq = xml_new("iq", NS_CLIENT)) == NULL)
		return NULL;
	snprintf(e->qid, sizeof(e->qid), "caps_%s", rnd);
	free(e->qjid);
	e->qjid = strdup(to);
	e->asked = ev_now(srv.loop);
	snprintf(nv, sizeof(nv), "%s#%s", node, ver);
	xml_set_attr(iq, "type", "get");
	xml_set_attr(iq, "id", e->qid);
	xml_set_attr(iq, "from", from);
	xml_set_attr(iq, "to", to);
	if ((q = xml_add(iq, "query", NS_DISCO_INFO)) != NULL)
		xml_set_attr(q, "node", nv);
	return iq;
}

static void
ask(struct c2s *c, struct caps_ent *e, const char *node, const char *ver)
{
	struct xml_node *iq;

	if ((iq = query(e, c2s_host(c), c->full, node, ver)) == NULL)
		return;
	log_debug("c2s %llu: %s: asking for caps %s", (unsigned long long)c->id,
	    c->full, e->key);
	c2s_send(c, iq);
	xml_free(iq);
}

/* The cache entry for a <c/> (a new one, unknown, when there is room);
 * NULL: none usable. */
static struct caps_ent *
lookup(const char *hash, const char *ver, const char *node, bool *fresh)
{
	char key[VER_MAX + 16];
	struct caps_ent *e;

	*fresh = false;
	/* legacy caps (no hash) cannot be verified and are not used */
	if (hash == NULL || ver == NULL || node == NULL || strlen(ver) > VER_MAX ||
	    strlen(node) > JID_PART_MAX || ver[0] == '\0' ||
	    (strcmp(hash, "sha-1") != 0 && strcmp(hash, "sha-256") != 0))
		return NULL;
	snprintf(key, sizeof(key), "%s %s", hash, ver);
	if ((e = hmap_get(&cache, key)) != NULL) {
		lru_front(e);
		return e;
	}
	if (!make_room()) {
		log_debug("caps: cache full, %s not kept", key);
		return NULL;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL || (e->key = strdup(key)) == NULL ||
	    hmap_put(&cache, key, e) == -1) {
		if (e)
			free(e->key);
		free(e);
		return NULL;
	}
	e->refs = 1;
	e->cached = true;
	lru_front(e);
	*fresh = true;
	return e;
}

static void
caps_presence(struct c2s *c, const struct xml_node *p)
{
	struct xml_node *cn = xml_child(p, "c", NS_CAPS);
	const char *ver = cn ? xml_attr(cn, "ver") : NULL;
	const char *node = cn ? xml_attr(cn, "node") : NULL;
	struct caps_ent *e;
	bool fresh;

	if ((e = lookup(cn ? xml_attr(cn, "hash") : NULL, ver, node, &fresh)) == NULL) {
		sess_set(c, NULL);
		return;
	}
	if (fresh) {
		sess_set(c, e);
		ask(c, e, node, ver);
		return;
	}
	if (!e->known && ev_now(srv.loop) - e->asked > QUERY_RETRY_MS)
		ask(c, e, node, ver);
	if (sess_set(c, e) && e->known)
		pep_caps_ready(c);
}

/* ---- other servers' resources ----
 *
 * A resource of another server that sends presence to one of our
 * accounts (its contact's broadcast, RFC 6121 §4.4) is kept with its
 * caps under that account, so the account's PEP notifications reach
 * it (XEP-0163 §4.3.2, filtered by +notify) as they reach a local
 * contact's sessions; its unavailable presence forgets it.  Unknown
 * caps are asked for from our host to that resource, over s2s; the
 * answer comes back to the host (caps_iq_response).  At most
 * REMOTE_MAX resources are kept, server-wide (beyond it a new one is
 * not, and gets no notifications).
 */

#define REMOTE_MAX 100000

static int cmp_str(const void *a, const void *b);

static struct hmap remotes;	/* owner's bare JID -> struct hmap (full JID -> entry) */
static size_t nremote;

/* Points owner's entry for full at e (NULL: forgets it); true when e is
 * newly its. */
static bool
remote_set(const char *owner, const char *full, struct caps_ent *e)
{
	struct hmap *res = hmap_get(&remotes, owner);
	struct caps_ent *old = res ? hmap_get(res, full) : NULL;
	bool set = false;

	if (old == e)
		return false;
	if (old) {
		hmap_del(res, full);
		nremote--;
		ent_unref(old);
	}
	if (e && nremote < REMOTE_MAX) {
		if (res == NULL) {
			if ((res = malloc(sizeof(*res))) == NULL)
				return false;
			hmap_init(res);
			if (hmap_put(&remotes, owner, res) == -1) {
				free(res);
				return false;
			}
		}
		if (hmap_put(res, full, e) == 0) {
			e->refs++;
			nremote++;
			set = true;
		}
	}
	if (res && res->n == 0) {
		hmap_del(&remotes, owner);
		hmap_free(res);
		free(res);
	}
	return set;
}

static void
remote_presence(const struct xml_node *p, const struct jid *to, int host)
{
	const char *type = xml_attr(p, "type");
	struct xml_node *cn, *iq;
	struct caps_ent *e = NULL;
	struct jid from;
	char owner[2 * JID_PART_MAX + 2], full[JID_STR_MAX + 1];
	bool fresh = false;

	if (stanza_jid(p, "from", &from) != 1 || from.resource[0] == '\0' ||
	    router_local_domain(from.domain) || to->local[0] == '\0')
		return;
	if (type && strcmp(type, "unavailable") != 0 && strcmp(type, "error") != 0)
		return;		/* subscriptions, probes */
	jid_bare(to, owner, sizeof(owner));
	jid_full(&from, full, sizeof(full));
	if (type == NULL && (cn = xml_child(p, "c", NS_CAPS)) != NULL &&
	    (e = lookup(xml_attr(cn, "hash"), xml_attr(cn, "ver"), xml_attr(cn, "node"),
	    &fresh)) != NULL && (fresh || (!e->known &&
	    ev_now(srv.loop) - e->asked > QUERY_RETRY_MS)) &&
	    (iq = query(e, srv.cfg->hosts[host], full, xml_attr(cn, "node"),
	    xml_attr(cn, "ver"))) != NULL) {
		log_debug("caps: %s: asking %s for caps %s", owner, full, e->key);
		router_route(iq);
	}
	if (remote_set(owner, full, e) && e->known) {
		/* the same ver seen before (from any client, local or not) */
		log_debug("caps: %s: caps %s: %zu features (cached), for %s", full,
		    e->key, e->nfeatures, owner);
		pep_remote_caps_ready(owner, full, e->features, e->nfeatures);
	}
}

void
caps_remote_each(const char *owner, const char *feature,
    void (*fn)(void *arg, const char *full), void *arg)
{
	struct hmap *res = hmap_get(&remotes, owner);
	struct hmap_ent *h;
	struct caps_ent *e;
	size_t i;

	for (h = res ? hmap_first(res, &i) : NULL; h; h = hmap_next(res, h, &i)) {
		e = h->val;
		if (e->known && bsearch(&feature, e->features, e->nfeatures,
		    sizeof(char *), cmp_str) != NULL)
			fn(arg, h->key);
	}
}

static struct caps_ent *
pending_by_id(const char *id)
{
	for (struct caps_ent *e = lru_head; e; e = e->next)
		if (!e->known && strcmp(e->qid, id) == 0)
			return e;
	return NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Takes the verified features of query into e: 0 / -1. */
static int
learn(struct caps_ent *e, const struct xml_node *q)
{
	size_t n = 0;

	for (struct xml_node *f = xml_first_elem(q); f; f = xml_next_elem(f))
		if (xml_is(f, "feature", NS_DISCO_INFO) && xml_attr(f, "var"))
			n++;
	if ((e->features = calloc(n ? n : 1, sizeof(char *))) == NULL)
		return -1;
	for (struct xml_node *f = xml_first_elem(q); f; f = xml_next_elem(f))
		if (xml_is(f, "feature", NS_DISCO_INFO) && xml_attr(f, "var") &&
		    (e->features[e->nfeatures] = strdup(xml_attr(f, "var"))) != NULL)
			e->nfeatures++;
	qsort(e->features, e->nfeatures, sizeof(char *), cmp_str);
	e->known = true;
	return 0;
}

static void
announce(struct caps_ent *e)
{
	struct hmap_ent *h, *r;
	size_t i, j;

	for (struct c2s *c = c2s_first(); c; c = LIST_NEXT(c, all))
		if (c->user && !c->dead && sess_ent(c) == e)
			pep_caps_ready(c);
	for (h = hmap_first(&remotes, &i); h; h = hmap_next(&remotes, h, &i)) {
		struct hmap *res = h->val;

		for (r = hmap_first(res, &j); r; r = hmap_next(res, r, &j))
			if (r->val == e) {
				/* (one that announced the ver while it was asked) */
				log_debug("caps: %s: caps %s: %zu features (cached), for %s",
				    r->key, e->key, e->nfeatures, h->key);
				pep_remote_caps_ready(h->key, r->key, e->features, e->nfeatures);
			}
	}
}

static bool
caps_iq_response(struct c2s *c, struct xml_node *n, const struct jid *to)
{
	const char *id = xml_attr(n, "id");
	struct xml_node *q = xml_first_elem(n);
	const char *node = q ? xml_attr(q, "node") : NULL, *hash, *ver;
	char mine[VER_MAX + 1];
	struct caps_ent *e;

	struct jid from, asked;
	const char *who;

	/* a client of ours answers on its stream; another server's resource
	 * answers our host (remote_presence asked from there) */
	if (c == NULL && (to == NULL || to->local[0] || stanza_jid(n, "from", &from) != 1))
		return false;
	if (id == NULL || strncmp(id, "caps_", 5) != 0 || (e = pending_by_id(id)) == NULL)
		return false;
	if (e->qjid == NULL)
		return false;
	if (c ? strcmp(e->qjid, c->full) != 0 :
	    jid_parse(e->qjid, &asked) == -1 || !jid_eq(&asked, &from))
		return false;
	who = c ? c->full : e->qjid;
	e->qid[0] = '\0';
	hash = e->key;
	ver = strchr(e->key, ' ') + 1;
	if (strcmp(stanza_type(n), "result") == 0 && xml_is(q, "query", NS_DISCO_INFO) &&
	    node && strlen(node) > strlen(ver) && node[strlen(node) - strlen(ver) - 1] == '#' &&
	    strcmp(node + strlen(node) - strlen(ver), ver) == 0 &&
	    capsver(q, strncmp(hash, "sha-1 ", 6) == 0 ? "sha-1" : "sha-256",
	    mine, sizeof(mine)) == 0 && strcmp(mine, ver) == 0 && learn(e, q) == 0) {
		log_debug("caps: %s: caps %s: %zu features", who, e->key, e->nfeatures);
		announce(e);
	} else {
		log_info("caps: %s: caps %s not verified", who, e->key);
		uncache(e);
	}
	xml_free(n);
	return true;
}

static struct caps_ent *
known_ent(const struct c2s *c)
{
	struct caps_ent *e = sess_ent(c);

	return e && e->known ? e : NULL;
}

bool
caps_has(const struct c2s *c, const char *feature)
{
	struct caps_ent *e = known_ent(c);

	return e && bsearch(&feature, e->features, e->nfeatures, sizeof(char *),
	    cmp_str) != NULL;
}

size_t
caps_features(const struct c2s *c, char *const **features)
{
	struct caps_ent *e = known_ent(c);

	if (e == NULL)
		return 0;
	*features = e->features;
	return e->nfeatures;
}

static void
caps_session_end(struct c2s *c)
{
	sess_set(c, NULL);
}

static void
caps_cleanup(void)
{
	struct hmap_ent *h;
	size_t i;

	for (h = hmap_first(&sessions, &i); h; h = hmap_next(&sessions, h, &i))
		ent_unref(h->val);
	hmap_free(&sessions);
	for (h = hmap_first(&remotes, &i); h; h = hmap_next(&remotes, h, &i)) {
		struct hmap *res = h->val;
		struct hmap_ent *r;
		size_t j;

		for (r = hmap_first(res, &j); r; r = hmap_next(res, r, &j))
			ent_unref(r->val);
		hmap_free(res);
		free(res);
	}
	hmap_free(&remotes);
	nremote = 0;
	while (lru_head)
		uncache(lru_head);
	hmap_free(&cache);
}

static enum hook_rc
presence_hook(struct hook_args *a)
{
	caps_presence(a->c, a->n);
	return HOOK_NEXT;
}

/* ids of our disco#info queries to clients (ask) */
static const struct iq_result_handler results[] = {
	{ "caps_", caps_iq_response },
	{ NULL, NULL },
};

/* before im/presence (0), which takes it */
static enum hook_rc
presence_in_hook(struct hook_args *a)
{
	remote_presence(a->n, a->to, a->host);
	return HOOK_NEXT;
}

static const struct hook hooks[] = {
	{ EV_PRESENCE_AVAILABLE, 0, presence_hook },
	{ EV_PRESENCE_IN, 10, presence_in_hook },
	{ EV_MAX, 0, NULL },
};

struct module caps_module = {
	.name = "caps",
	.folder = "pubsub",
	.iq_results = results,
	.hooks = hooks,
	.session_unbound = caps_session_end,
	.cleanup = caps_cleanup,
};
