/*
 * mucroom — rooms, occupants, fan-out and history.  See mucroom.h.
 */
#include "mucroom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "c2s.h"
#include "mucconf.h"
#include "router.h"
#include "server.h"
#include "xml.h"

/* A remote session's rooms, by its full JID (a local one's are in its
 * per-session state). */
struct muc_remote {
	struct muc_c2s st;
	char jid[];
};

static struct hmap rooms;	/* room JID -> struct muc_room */
static struct hmap creators;	/* bare JID -> (uintptr_t) rooms it created */
static struct hmap remotes;	/* full JID -> struct muc_remote */

struct muc_c2s *
muc_c2s(const struct c2s *c)
{
	return c2s_priv(c, &muc_module);
}

struct muc_room *
mucroom_find(const char *jid)
{
	return hmap_get(&rooms, jid);
}

size_t
mucroom_count(void)
{
	return rooms.n;
}

unsigned
mucroom_count_by(const char *creator)
{
	return (unsigned)(uintptr_t)hmap_get(&creators, creator);
}

static void
creator_count(const char *creator, int d)
{
	uintptr_t n = (uintptr_t)hmap_get(&creators, creator);

	n = d > 0 ? n + 1 : n - 1;
	if (n == 0)
		hmap_del(&creators, creator);
	else
		(void)hmap_put(&creators, creator, (void *)n);
}

struct muc_room *
mucroom_create(const char *jid, const char *local, int host, const char *creator)
{
	const struct muc_config *mc = muc_cfg();
	struct muc_room *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	hmap_init(&r->by_key);
	hmap_init(&r->affs);
	r->jid = strdup(jid);
	r->local = strdup(local);
	r->creator = strdup(creator);
	r->host = host;
	r->locked = true;
	r->cfg.persistent = mc->default_persistent;
	r->cfg.public_ = mc->default_public;
	r->cfg.moderated = mc->default_moderated;
	r->cfg.members_only = mc->default_members_only;
	r->cfg.whois_anyone = mc->default_whois_anyone;
	r->cfg.change_subject = true;
	r->cfg.allow_pm = MUC_PM_ANYONE;
	r->cfg.max_users = mc->default_max_users;
	r->cfg.archive = mc->default_archive;
	r->cfg.presence_broadcast = MUC_PB_ALL;
	r->hist_cap = mc->history;
	if (random_hex(r->salt, 16) == -1) {
		free(r);
		return NULL;
	}
	if (r->hist_cap)
		r->hist = calloc(r->hist_cap, sizeof(*r->hist));
	if (r->jid == NULL || r->local == NULL || r->creator == NULL ||
	    (r->hist_cap && r->hist == NULL) ||
	    mucroom_set_aff(r, creator, MUC_AFF_OWNER) == -1 ||
	    hmap_put(&rooms, jid, r) == -1) {
		hmap_free(&r->by_key);
		hmap_free(&r->affs);
		free(r->jid);
		free(r->local);
		free(r->creator);
		free(r->hist);
		free(r);
		return NULL;
	}
	creator_count(creator, 1);
	return r;
}

static void
room_free(struct muc_room *r)
{
	while (r->occs)
		mucroom_occ_free(r, r->occs);
	for (unsigned i = 0; i < r->hist_n; i++)
		xml_free(r->hist[(r->hist_first + i) % r->hist_cap].msg);
	free(r->hist);
	hmap_free(&r->by_key);
	hmap_free(&r->affs);
	free(r->cfg.name);
	free(r->cfg.desc);
	free(r->cfg.password);
	free(r->subject);
	free(r->subject_by);
	free(r->vcard);
	free(r->jid);
	free(r->local);
	free(r->creator);
	free(r);
}

void
mucroom_destroy(struct muc_room *r, const struct xml_node *dx)
{
	static const unsigned self[] = { 110, 0 };
	struct xml_node *p, *x;

	for (struct muc_occ *o = r->occs; o; o = o->next) {
		for (struct muc_sess *s = o->sessions; s; s = s->next) {
			p = mucroom_presence(r, o, false, "unavailable", self);
			x = p ? xml_child(p, "x", NS_MUC_USER) : NULL;
			if (x && dx) {
				struct xml_node *d = xml_first_elem(x);

				/* the item says none/none, as §10.9 shows */
				xml_set_attr(d, "affiliation", "none");
				xml_set_attr(d, "role", "none");
				xml_append_child(x, xml_copy(dx));
			}
			if (p)
				mucroom_send_sess(s, p);
			xml_free(p);
		}
	}
	hmap_del(&rooms, r->jid);
	creator_count(r->creator, -1);
	room_free(r);
}

void
mucroom_evict(struct muc_room *r)
{
	hmap_del(&rooms, r->jid);
	creator_count(r->creator, -1);
	room_free(r);
}

void
mucroom_release(struct muc_room *r)
{
	if (r->nocc == 0)
		mucroom_evict(r);
}

void
mucroom_each(void (*fn)(struct muc_room *r, void *arg), void *arg)
{
	struct hmap_ent *e;
	size_t i;

	for (e = hmap_first(&rooms, &i); e; e = hmap_next(&rooms, e, &i))
		fn(e->val, arg);
}

void
mucroom_cleanup(void)
{
	struct hmap_ent *e;
	size_t i;

	for (e = hmap_first(&rooms, &i); e; e = hmap_next(&rooms, e, &i))
		room_free(e->val);
	hmap_free(&rooms);
	hmap_free(&creators);
	hmap_free(&remotes);	/* emptied with the rooms' sessions */
	hmap_init(&rooms);
	hmap_init(&creators);
	hmap_init(&remotes);
}

/* ---- affiliations ---- */

static const char *const aff_names[] = { "outcast", "none", "member", "admin",
    "owner" };
static const char *const role_names[] = { "none", "visitor", "participant",
    "moderator" };

const char *
muc_aff_name(enum muc_aff a)
{
	return aff_names[a];
}

const char *
muc_role_name(enum muc_role r)
{
	return role_names[r];
}

enum muc_aff
mucroom_aff(const struct muc_room *r, const char *bare)
{
	uintptr_t v = (uintptr_t)hmap_get(&r->affs, bare);

	return v ? (enum muc_aff)(v - 1) : MUC_AFF_NONE;
}

int
mucroom_set_aff(struct muc_room *r, const char *bare, enum muc_aff a)
{
	if (a == MUC_AFF_NONE) {
		hmap_del(&r->affs, bare);
		return 0;
	}
	return hmap_put(&r->affs, bare, (void *)(uintptr_t)(a + 1));
}

/* ---- occupants ---- */

struct muc_occ *
mucroom_occ_by_nick(const struct muc_room *r, const char *key)
{
	return hmap_get(&r->by_key, key);
}

/* The rooms of a sender, NULL for a remote JID in none (create: made). */
static struct muc_c2s *
from_state(const struct muc_from *f, bool create, struct muc_remote **rem)
{
	struct muc_remote *x;
	size_t len;

	*rem = NULL;
	if (f->c)
		return muc_c2s(f->c);
	if ((x = hmap_get(&remotes, f->full)) == NULL && create) {
		len = strlen(f->full) + 1;
		if ((x = calloc(1, sizeof(*x) + len)) == NULL)
			return NULL;
		memcpy(x->jid, f->full, len);
		if (hmap_put(&remotes, x->jid, x) == -1) {
			free(x);
			return NULL;
		}
	}
	*rem = x;
	return x ? &x->st : NULL;
}

struct muc_sess *
mucroom_sess_of(const struct muc_room *r, const struct muc_from *f)
{
	struct muc_remote *rem;
	const struct muc_c2s *st = from_state(f, false, &rem);

	for (struct muc_sess *s = st ? st->rooms : NULL; s; s = s->next_c2s)
		if (s->room == r)
			return s;
	return NULL;
}

unsigned
muc_from_nrooms(const struct muc_from *f)
{
	struct muc_remote *rem;
	const struct muc_c2s *st = from_state(f, false, &rem);

	return st ? st->nrooms : 0;
}

const char *
muc_sess_jid(const struct muc_sess *s)
{
	return s->c ? s->c->full : s->rem->jid;
}

int
muc_from(const char *from, struct muc_from *f)
{
	struct jid j;

	f->c = NULL;
	if (from == NULL)
		return -1;
	if ((f->c = muc_session_of(from)) != NULL) {
		f->full = f->c->full;
		snprintf(f->bare, sizeof(f->bare), "%s", f->c->user->bare);
		return 0;
	}
	/* an account of another server (its domain passed s2s's checks):
	 * keyed by its normalised JID */
	if (jid_parse(from, &j) == -1 || j.local[0] == '\0' ||
	    router_local_domain(j.domain))
		return -1;
	f->full = jid_full(&j, f->buf, sizeof(f->buf));
	jid_bare(&j, f->bare, sizeof(f->bare));
	return 0;
}

/*
 * A stanza from a local session carries the 'from' the router stamped,
 * c->full, already prepared: split, not parsed again (this runs for
 * every message to a room).  Anything else finds no session.
 */
struct c2s *
muc_session_of(const char *full)
{
	const char *slash = strchr(full, '/');
	char bare[2 * JID_PART_MAX + 2];
	struct user *u;
	size_t n;

	if (slash == NULL || slash[1] == '\0' || (n = (size_t)(slash - full)) >= sizeof(bare))
		return NULL;
	memcpy(bare, full, n);
	bare[n] = '\0';
	if ((u = router_user_find(bare)) == NULL)
		return NULL;
	return router_session(u, slash + 1);
}

static char *
occ_full(const struct muc_room *r, const char *nick)
{
	size_t n = strlen(r->jid) + strlen(nick) + 2;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "%s/%s", r->jid, nick);
	return s;
}

/* Stable per room and bare JID, across rejoins and restarts, and says
 * nothing about the JID without the room's salt. */
static void
occ_id(const struct muc_room *r, const char *bare, char out[48])
{
	uint8_t mac[HMAC_SHA256_LEN];

	if (hmac_sha256(r->salt, strlen(r->salt), bare, strlen(bare), mac) == -1) {
		out[0] = '\0';
		return;
	}
	base64_encode(mac, sizeof(mac), out);
}

void
mucroom_stamp_occ_id(struct xml_node *n, const struct muc_occ *o)
{
	struct xml_node *e;

	while ((e = xml_child(n, "occupant-id", NS_OCCUPANT_ID)) != NULL) {
		xml_detach(e);
		xml_free(e);
	}
	if (o->occ_id[0] && (e = xml_add(n, "occupant-id", NS_OCCUPANT_ID)) != NULL)
		xml_set_attr(e, "id", o->occ_id);
}

struct muc_occ *
mucroom_occ_new(struct muc_room *r, const char *nick, const char *key,
    const char *bare)
{
	struct muc_occ *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->nick = strdup(nick);
	o->key = strdup(key);
	o->bare = strdup(bare);
	o->full = occ_full(r, nick);
	occ_id(r, bare, o->occ_id);
	if (o->nick == NULL || o->key == NULL || o->bare == NULL || o->full == NULL ||
	    hmap_put(&r->by_key, key, o) == -1) {
		free(o->nick);
		free(o->key);
		free(o->bare);
		free(o->full);
		free(o);
		return NULL;
	}
	if (r->occs_tail)
		r->occs_tail->next = o;
	else
		r->occs = o;
	r->occs_tail = o;
	r->nocc++;
	return o;
}

int
mucroom_occ_add_session(struct muc_room *r, struct muc_occ *o,
    const struct muc_from *f)
{
	struct muc_remote *rem;
	struct muc_c2s *mc = from_state(f, true, &rem);
	struct muc_sess *s;

	if (mc == NULL || (s = calloc(1, sizeof(*s))) == NULL) {
		if (rem && rem->st.nrooms == 0) {
			hmap_del(&remotes, rem->jid);
			free(rem);
		}
		return -1;
	}
	s->c = f->c;
	s->rem = rem;
	s->occ = o;
	s->room = r;
	s->next = o->sessions;
	o->sessions = s;
	o->nsessions++;
	s->next_c2s = mc->rooms;
	mc->rooms = s;
	mc->nrooms++;
	return 0;
}

void
mucroom_occ_drop_session(struct muc_sess *s)
{
	struct muc_occ *o = s->occ;
	struct muc_c2s *mc = s->c ? muc_c2s(s->c) : &s->rem->st;
	struct muc_sess **pp;

	for (pp = &o->sessions; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			o->nsessions--;
			break;
		}
	}
	for (pp = &mc->rooms; *pp; pp = &(*pp)->next_c2s) {
		if (*pp == s) {
			*pp = s->next_c2s;
			mc->nrooms--;
			break;
		}
	}
	if (s->rem && s->rem->st.nrooms == 0) {
		hmap_del(&remotes, s->rem->jid);
		free(s->rem);
	}
	free(s);
}

void
mucroom_occ_free(struct muc_room *r, struct muc_occ *o)
{
	struct muc_occ **pp, *prev = NULL;

	while (o->sessions)
		mucroom_occ_drop_session(o->sessions);
	for (pp = &r->occs; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp == o) {
			*pp = o->next;
			if (r->occs_tail == o)
				r->occs_tail = prev;
			r->nocc--;
			break;
		}
	}
	hmap_del(&r->by_key, o->key);
	xml_free(o->pres);
	free(o->nick);
	free(o->key);
	free(o->bare);
	free(o->full);
	free(o);
}

int
mucroom_occ_rename(struct muc_room *r, struct muc_occ *o, const char *nick,
    const char *key)
{
	char *n = strdup(nick), *k = strdup(key), *f = occ_full(r, nick);

	if (n == NULL || k == NULL || f == NULL || hmap_put(&r->by_key, key, o) == -1) {
		free(n);
		free(k);
		free(f);
		return -1;
	}
	if (strcmp(o->key, key) != 0)
		hmap_del(&r->by_key, o->key);
	free(o->nick);
	free(o->key);
	free(o->full);
	o->nick = n;
	o->key = k;
	o->full = f;
	return 0;
}

/* ---- output ---- */

/* What the room sends a local account goes through delivery's checks
 * (EV_DELIVER: XEP-0191, an account that blocked the room, the
 * conference domain or an occupant's room JID gets nothing from it);
 * a remote one's server does its own. */
static bool
deliverable(const struct muc_sess *s, const struct xml_node *n)
{
	return s->c == NULL || s->c->user == NULL || router_deliverable(s->c->user, n);
}

/* n (its 'to' set) to another server's session: a copy, routed (s2s). */
static void
send_remote(const struct xml_node *n)
{
	struct xml_node *copy = xml_copy(n);

	if (copy)
		router_route(copy);
}

void
mucroom_send_sess(const struct muc_sess *s, struct xml_node *n)
{
	if (s->rem) {
		if (xml_set_attr(n, "to", s->rem->jid) == 0)
			send_remote(n);
		return;
	}
	if (s->c->full == NULL || !deliverable(s, n) ||
	    xml_set_attr(n, "to", s->c->full) == -1)
		return;
	c2s_send(s->c, n);
}

void
mucroom_send_occ(const struct muc_occ *o, struct xml_node *n)
{
	for (const struct muc_sess *s = o->sessions; s; s = s->next)
		mucroom_send_sess(s, n);
}

/* Serialised stanzas (no 'to') are kept from one fan-out to the next. */
static struct buf fan_body, fan_copy;

static bool
not_skipped(const struct muc_occ *o, void *arg)
{
	return o != arg;
}

void
mucroom_fanout(struct muc_room *r, const struct xml_node *n,
    const struct muc_occ *skip)
{
	mucroom_fanout_if(r, n, not_skipped, (void *)skip);
}

void
mucroom_fanout_if(struct muc_room *r, const struct xml_node *n,
    bool (*want)(const struct muc_occ *o, void *arg), void *arg)
{
	struct xml_node *w = (struct xml_node *)n;
	size_t head = 1 + strlen(n->name);

	buf_reset(&fan_body);
	if (xml_serialize(&fan_body, n, NS_CLIENT) == -1 || fan_body.len < head)
		goto out;
	for (struct muc_occ *o = r->occs; o; o = o->next) {
		/* one account per occupant: its sessions share the verdict */
		if (!want(o, arg) || (o->sessions && !deliverable(o->sessions, n)))
			continue;
		for (struct muc_sess *s = o->sessions; s; s = s->next) {
			struct c2s *c = s->c;

			if (s->rem) {
				/* another server's: the tree, routed */
				if (xml_set_attr(w, "to", s->rem->jid) == 0)
					send_remote(w);
				xml_del_attr(w, "to");
				continue;
			}
			if (c->full == NULL)
				continue;
			if (c->watch) {
				/* a watcher (CSI) sees the stanza as a tree */
				bool held;

				if (xml_set_attr(w, "to", c->full) == -1)
					continue;
				held = registry_session_send(c, w);
				xml_del_attr(w, "to");
				if (held)
					continue;
			}
			/* "<name" + " to='...'" + the rest */
			buf_reset(&fan_copy);
			if (buf_append(&fan_copy, fan_body.p, head) == -1 ||
			    buf_puts(&fan_copy, " to='") == -1 ||
			    xml_escape(&fan_copy, c->full, strlen(c->full), true) == -1 ||
			    buf_puts(&fan_copy, "'") == -1 ||
			    buf_append(&fan_copy, fan_body.p + head, fan_body.len - head) == -1)
				continue;
			c2s_send_stanza_raw(c, fan_copy.p, fan_copy.len);
		}
	}
out:
	buf_recycle(&fan_body, 64 * 1024);
	buf_recycle(&fan_copy, 64 * 1024);
}

struct xml_node *
mucroom_presence(const struct muc_room *r, const struct muc_occ *o,
    bool with_jid, const char *type, const unsigned *codes)
{
	struct xml_node *p, *x, *it;
	char code[16];

	if (o->pres && type == NULL)
		p = xml_copy(o->pres);
	else
		p = xml_new("presence", NS_CLIENT);
	if (p == NULL)
		return NULL;
	if (type)
		xml_set_attr(p, "type", type);
	xml_set_attr(p, "from", o->full);
	if ((x = xml_add(p, "x", NS_MUC_USER)) == NULL ||
	    (it = xml_add(x, "item", NULL)) == NULL) {
		xml_free(p);
		return NULL;
	}
	xml_set_attr(it, "affiliation", muc_aff_name(o->aff));
	xml_set_attr(it, "role", type && strcmp(type, "unavailable") == 0 ?
	    "none" : muc_role_name(o->role));
	if (with_jid)
		xml_set_attr(it, "jid", o->bare);
	(void)r;
	mucroom_stamp_occ_id(p, o);
	for (; codes && *codes; codes++) {
		snprintf(code, sizeof(code), "%u", *codes);
		xml_set_attr(xml_add(x, "status", NULL), "code", code);
	}
	return p;
}

/* ---- history ---- */

void
mucroom_hist_add(struct muc_room *r, const struct xml_node *msg, time_t at,
    struct buf *out)
{
	mucroom_hist_add_id(r, msg, at, 0, out);
}

void
mucroom_hist_replace(struct muc_room *r, int64_t id, const struct xml_node *msg)
{
	struct xml_node *m;
	struct buf b;

	for (unsigned i = 0; i < r->hist_n; i++) {
		struct muc_hist *h = &r->hist[(r->hist_first + i) % r->hist_cap];

		if (h->id != id)
			continue;
		buf_init(&b);
		if (xml_serialize(&b, msg, NS_CLIENT) == -1 ||
		    (m = xml_copy(msg)) == NULL) {
			buf_free(&b);
			return;
		}
		xml_free(h->msg);
		h->msg = m;
		r->hist_bytes = r->hist_bytes - h->size + b.len;
		h->size = b.len;
		buf_free(&b);
		return;
	}
}

void
mucroom_hist_add_id(struct muc_room *r, const struct xml_node *msg, time_t at,
    int64_t id, struct buf *out)
{
	const struct muc_config *mc = muc_cfg();
	struct muc_hist *h;
	struct buf b;
	size_t size;

	if (r->hist_cap == 0 && out == NULL)
		return;
	buf_init(&b);
	if (xml_serialize(&b, msg, NS_CLIENT) == -1) {
		buf_free(&b);
		return;
	}
	size = b.len;
	if (out) {
		buf_free(out);
		*out = b;
	} else {
		buf_free(&b);
	}
	/* (out has the serialisation even when the ring keeps nothing) */
	if (r->hist_cap == 0 || size > mc->history_bytes)
		return;
	/* oldest out until the new one fits both bounds */
	while (r->hist_n > 0 && (r->hist_n == r->hist_cap ||
	    r->hist_bytes + size > mc->history_bytes)) {
		h = &r->hist[r->hist_first];
		r->hist_bytes -= h->size;
		xml_free(h->msg);
		h->msg = NULL;
		r->hist_first = (r->hist_first + 1) % r->hist_cap;
		r->hist_n--;
	}
	h = &r->hist[(r->hist_first + r->hist_n) % r->hist_cap];
	if ((h->msg = xml_copy(msg)) == NULL)
		return;
	h->at = at;
	h->id = id;
	h->size = size;
	r->hist_bytes += size;
	r->hist_n++;
}

/* XEP-0045 §7.2.15: the newest messages within every limit asked for,
 * sent oldest first with their XEP-0203 delay. */
void
mucroom_hist_send(const struct muc_room *r, const struct muc_sess *s,
    const struct muc_histreq *q)
{
	unsigned n = 0, first;
	long chars = 0;
	char stamp[32];
	struct tm tm;

	while (n < r->hist_n) {
		const struct muc_hist *h =
		    &r->hist[(r->hist_first + r->hist_n - 1 - n) % r->hist_cap];

		if (q->maxstanzas >= 0 && (long)n >= q->maxstanzas)
			break;
		if (q->maxchars >= 0 && chars + (long)h->size > q->maxchars)
			break;
		if (q->since && h->at < q->since)
			break;
		chars += (long)h->size;
		n++;
	}
	first = r->hist_n - n;
	for (unsigned i = first; i < r->hist_n; i++) {
		const struct muc_hist *h = &r->hist[(r->hist_first + i) % r->hist_cap];
		struct xml_node *m = xml_copy(h->msg), *d;

		if (m == NULL)
			continue;
		gmtime_r(&h->at, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if ((d = xml_add(m, "delay", NS_DELAY)) != NULL) {
			xml_set_attr(d, "from", r->jid);
			xml_set_attr(d, "stamp", stamp);
		}
		mucroom_send_sess(s, m);
		xml_free(m);
	}
}
