/*
 * mucpres — presence to a room (XEP-0045 §7.1-7.4, §10.1): joining
 * (creating the room when it does not exist), presence changes, nick
 * changes and leaving.
 *
 * A join is answered in the order of §7.2.3: the presence of every
 * other occupant, the new occupant's own presence to everyone (with
 * 110 to itself, 100 in a non-anonymous room, 201 to the creator, 210
 * when the service changed the nick), the history, then the subject.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "c2s.h"
#include "mucconf.h"
#include "mucint.h"
#include "mucmam.h"
#include "mucnick.h"
#include "mucroom.h"
#include "mucstore.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

static void
pres_error(struct xml_node *n, const char *type, const char *cond)
{
	stanza_bounce(n, type, cond);
	xml_free(n);
}

/* A presence as occupants keep it: the stanza's payload, no MUC element. */
static struct xml_node *
keep_presence(const struct xml_node *n)
{
	struct xml_node *p = xml_copy(n), *x;

	if (p == NULL)
		return NULL;
	xml_del_attr(p, "to");
	xml_del_attr(p, "from");
	xml_del_attr(p, "type");
	while ((x = xml_child(p, "x", NS_MUC)) != NULL ||
	    (x = xml_child(p, "x", NS_MUC_USER)) != NULL ||
	    (x = xml_child(p, "occupant-id", NS_OCCUPANT_ID)) != NULL) {
		xml_detach(x);
		xml_free(x);
	}
	return p;
}

static bool
too_large(const struct xml_node *n, size_t max)
{
	struct buf b;
	bool big;

	buf_init(&b);
	big = xml_serialize(&b, n, NS_CLIENT) == -1 || b.len > max;
	buf_free(&b);
	return big;
}

static bool
sees_jid(const struct muc_room *r, const struct muc_occ *viewer)
{
	return r->cfg.whois_anyone || viewer->role == MUC_ROLE_MODERATOR;
}

/* Which occupants get a variant of a presence. */
enum audience { TO_MODERATORS, TO_ALL, TO_OTHERS_THAN_MODERATORS };

struct view {
	const struct muc_room *r;
	const struct muc_occ *self;
	bool full;
	enum audience who;
};

static bool
view_wants(const struct muc_occ *v, void *arg)
{
	const struct view *w = arg;
	bool mod = v->role == MUC_ROLE_MODERATOR;

	return v != w->self && sees_jid(w->r, v) == w->full &&
	    (w->who == TO_ALL || mod == (w->who == TO_MODERATORS));
}

/* Whether occupants who are not moderators see o's presence
 * (muc#roomconfig_presencebroadcast); moderators see everyone's. */
static bool
broadcast_role(const struct muc_room *r, enum muc_role role)
{
	return (r->cfg.presence_broadcast & (1u << role)) != 0;
}

/* The anonymous and full variants of a presence, one serialisation
 * each, to the audience. */
static void
fan_variants(struct muc_room *r, struct muc_occ *o, struct xml_node *anon,
    struct xml_node *full, enum audience who)
{
	struct view vf = { r, o, true, who }, va = { r, o, false, who };

	if (full)
		mucroom_fanout_if(r, full, view_wants, &vf);
	if (anon)
		mucroom_fanout_if(r, anon, view_wants, &va);
}

static void
add_extra(struct xml_node *p, const char *nick_attr, const struct xml_node *extra)
{
	struct xml_node *it = p ? xml_first_elem(xml_child(p, "x", NS_MUC_USER)) : NULL;

	if (it == NULL)
		return;
	if (nick_attr)
		xml_set_attr(it, "nick", nick_attr);
	/* <actor/> and <reason/> of a kick or ban (§8.2, §9.1) */
	for (const struct xml_node *e = extra ? xml_first_elem(extra) : NULL;
	    e; e = xml_next_elem(e))
		xml_append_child(it, xml_copy(e));
}

/*
 * o's presence to every occupant, o itself with self codes.  Moderators
 * get every presence; the others only those of roles the room
 * broadcasts: an occupant whose role becomes hidden leaves their view
 * (unavailable), one whose role becomes broadcast enters it.
 */
static void
broadcast_occ(struct muc_room *r, struct muc_occ *o, const char *type,
    const unsigned *self, const unsigned *others, const char *nick_attr,
    const struct xml_node *extra)
{
	bool avail = type == NULL, show = avail && broadcast_role(r, o->role);
	bool plain = show || (!avail && o->shown), gone = avail && !show && o->shown;
	struct xml_node *anon, *full, *mine;

	o->shown = show;
	anon = mucroom_presence(r, o, false, type, others);
	full = mucroom_presence(r, o, true, type, others);
	mine = mucroom_presence(r, o, true, type, self);
	add_extra(anon, nick_attr, extra);
	add_extra(full, nick_attr, extra);
	add_extra(mine, nick_attr, extra);
	/* one serialisation per variant, whatever the room's size */
	fan_variants(r, o, anon, full, plain ? TO_ALL : TO_MODERATORS);
	if (mine)
		mucroom_send_occ(o, mine);
	xml_free(anon);
	xml_free(full);
	xml_free(mine);
	if (gone) {
		/* the others than moderators see it leave */
		anon = mucroom_presence(r, o, false, "unavailable", others);
		full = mucroom_presence(r, o, true, "unavailable", others);
		fan_variants(r, o, anon, full, TO_OTHERS_THAN_MODERATORS);
		xml_free(anon);
		xml_free(full);
	}
}

static void
parse_history(const struct xml_node *x, struct muc_histreq *q)
{
	const struct xml_node *h = x ? xml_child(x, "history", NS_MUC) : NULL;
	const char *v;
	struct tm tm;

	q->maxstanzas = -1;
	q->maxchars = -1;
	q->since = 0;
	if (h == NULL)
		return;
	if ((v = xml_attr(h, "maxstanzas")) != NULL)
		q->maxstanzas = strtol(v, NULL, 10) < 0 ? 0 : strtol(v, NULL, 10);
	if ((v = xml_attr(h, "maxchars")) != NULL)
		q->maxchars = strtol(v, NULL, 10) < 0 ? 0 : strtol(v, NULL, 10);
	if ((v = xml_attr(h, "seconds")) != NULL) {
		long s = strtol(v, NULL, 10);

		q->since = time(NULL) - (s < 0 ? 0 : s);
	}
	if ((v = xml_attr(h, "since")) != NULL) {
		memset(&tm, 0, sizeof(tm));
		/* XEP-0082 DateTime, UTC; fractions and offsets are rare here */
		if (strptime(v, "%Y-%m-%dT%H:%M:%S", &tm) != NULL) {
			time_t t = timegm(&tm);

			if (t > q->since)
				q->since = t;
		}
	}
}

static void
send_subject(const struct muc_room *r, const struct muc_sess *s)
{
	struct xml_node *m = xml_new("message", NS_CLIENT);
	char from[2 * JID_PART_MAX + 2];

	if (m == NULL)
		return;
	if (r->subject_by)
		snprintf(from, sizeof(from), "%s/%s", r->jid, r->subject_by);
	else
		snprintf(from, sizeof(from), "%s", r->jid);
	xml_set_attr(m, "type", "groupchat");
	xml_set_attr(m, "from", from);
	xml_add_with_text(m, "subject", NULL, r->subject ? r->subject : "");
	mucroom_send_sess(s, m);
	xml_free(m);
}

/* The new session's view of the room: others, itself, history, subject. */
static void
join_replies(struct muc_room *r, struct muc_sess *s, bool created, bool renamed,
    bool new_occ, const struct xml_node *x)
{
	struct muc_occ *o = s->occ;
	unsigned self[6], others[1] = { 0 }, k = 0;
	struct muc_histreq q;
	struct xml_node *p;

	for (struct muc_occ *v = r->occs; v; v = v->next) {
		if (v == o || (!v->shown && o->role != MUC_ROLE_MODERATOR))
			continue;
		if ((p = mucroom_presence(r, v, sees_jid(r, o), NULL, NULL)) != NULL) {
			mucroom_send_sess(s, p);
			xml_free(p);
		}
	}
	if (r->cfg.whois_anyone)
		self[k++] = 100;
	self[k++] = 110;
	if (mucmam_on(r))
		self[k++] = 170;	/* §7.2.12: what is said is archived */
	if (created)
		self[k++] = 201;
	if (renamed)
		self[k++] = 210;
	self[k] = 0;
	if (new_occ) {
		broadcast_occ(r, o, NULL, self, others, NULL, NULL);
	} else if ((p = mucroom_presence(r, o, true, NULL, self)) != NULL) {
		mucroom_send_sess(s, p);
		xml_free(p);
	}
	parse_history(x, &q);
	mucroom_hist_send(r, s, &q);
	send_subject(r, s);
}

static enum muc_role
role_for(const struct muc_room *r, enum muc_aff a)
{
	if (a >= MUC_AFF_ADMIN)
		return MUC_ROLE_MODERATOR;
	if (a == MUC_AFF_MEMBER || !r->cfg.moderated)
		return MUC_ROLE_PARTICIPANT;
	return MUC_ROLE_VISITOR;
}

static bool
may_create(const char *bare)
{
	const struct muc_config *mc = muc_cfg();
	const char *at = strchr(bare, '@');

	switch (mc->create) {
	case MUC_CREATE_ANYONE:
		return true;
	case MUC_CREATE_LOCAL:
		return at && router_host_index(at + 1) >= 0;
	case MUC_CREATE_ADMINS:
		for (size_t i = 0; i < mc->nadmins; i++)
			if (strcmp(mc->admins[i], bare) == 0)
				return true;
		return false;
	}
	return false;
}

/* The checks of §7.2.5-7.2.9 for a new occupant: NULL when it may enter. */
static const char *
entry_refused(const struct muc_room *r, enum muc_aff a, const struct xml_node *x,
    const char **type)
{
	char *pw;
	bool ok;

	*type = "auth";
	if (a == MUC_AFF_OUTCAST)
		return "forbidden";
	if (r->cfg.members_only && a < MUC_AFF_MEMBER)
		return "registration-required";
	if (r->cfg.password_protected && a < MUC_AFF_OWNER) {
		const struct xml_node *pe = x ? xml_child(x, "password", NS_MUC) : NULL;

		if (pe == NULL || (pw = xml_text(pe)) == NULL)
			return "not-authorized";
		ok = r->cfg.password && strcmp(pw, r->cfg.password) == 0;
		free(pw);
		if (!ok)
			return "not-authorized";
	}
	if (r->nocc >= r->cfg.max_users && a < MUC_AFF_ADMIN) {
		*type = "wait";
		return "service-unavailable";
	}
	return NULL;
}

static void
instant_saved(void *arg, int rc)
{
	struct muc_room *r = mucroom_find(arg);

	if (rc == 0 && r)
		r->stored = true;
	free(arg);
}

/* A gc-1.0 instant room is configured at once: persistent ones are
 * stored now (when the creator is at its limit, it stays temporary). */
static void
store_instant(struct muc_room *r)
{
	char *jid;

	if (r->locked || !r->cfg.persistent || (jid = strdup(r->jid)) == NULL)
		return;
	if (mucstore_save(r, &r->cfg, instant_saved, jid) == -1)
		free(jid);
}

static void
join(struct muc_room *r, const struct muc_from *f, struct xml_node *n,
    const struct jid *to, int host, const char *nick, const char *key)
{
	const struct muc_config *mc = muc_cfg();
	struct xml_node *x = xml_child(n, "x", NS_MUC);
	struct muc_occ *o;
	const char *cond, *type;
	bool created = false, new_occ = false;
	enum muc_aff a;
	char room[2 * JID_PART_MAX + 2];

	if (muc_from_nrooms(f) >= mc->max_rooms_per_session) {
		pres_error(n, "wait", "resource-constraint");
		return;
	}
	if (r == NULL) {
		jid_bare(to, room, sizeof(room));
		if (!may_create(f->bare)) {
			pres_error(n, "cancel", "not-allowed");
			return;
		}
		if (mucroom_count() >= mc->max_rooms ||
		    mucroom_count_by(f->bare) >= mc->max_rooms_per_creator) {
			pres_error(n, "wait", "resource-constraint");
			return;
		}
		if ((r = mucroom_create(room, to->local, host, f->bare)) == NULL) {
			pres_error(n, "wait", "resource-constraint");
			return;
		}
		/* gc-1.0 clients (no <x/>) get an instant room (§10.1.1) */
		r->locked = x != NULL;
		created = true;
	}
	a = mucroom_aff(r, f->bare);
	if (r->locked && a != MUC_AFF_OWNER) {
		pres_error(n, "cancel", "item-not-found");	/* §10.1.2 */
		return;
	}
	if ((o = mucroom_occ_by_nick(r, key)) != NULL) {
		if (strcmp(o->bare, f->bare) != 0) {
			pres_error(n, "cancel", "conflict");
			return;
		}
	} else {
		if ((cond = entry_refused(r, a, x, &type)) != NULL) {
			pres_error(n, type, cond);
			goto gone;
		}
		if ((o = mucroom_occ_new(r, nick, key, f->bare)) == NULL) {
			pres_error(n, "wait", "resource-constraint");
			goto gone;
		}
		o->aff = a;
		o->role = role_for(r, a);
		new_occ = true;
	}
	if (mucroom_occ_add_session(r, o, f) == -1) {
		pres_error(n, "wait", "resource-constraint");
		if (new_occ)
			mucroom_occ_free(r, o);
		goto gone;
	}
	xml_free(o->pres);
	o->pres = keep_presence(n);
	join_replies(r, o->sessions, created, strcmp(nick, to->resource) != 0,
	    new_occ, x);
	if (created)
		store_instant(r);
	xml_free(n);
	return;
gone:
	mucroom_release(r);
}

/* §7.6: unavailable from the old nick with 303, available from the new. */
static void
change_nick(struct muc_room *r, struct muc_sess *s, struct xml_node *n,
    const char *nick, const char *key)
{
	static const unsigned self303[] = { 303, 110, 0 }, others303[] = { 303, 0 };
	static const unsigned self110[] = { 110, 0 };
	struct muc_occ *o = s->occ, *other = mucroom_occ_by_nick(r, key);
	const unsigned none[] = { 0 };

	if (other && other != o) {
		pres_error(n, "cancel", "conflict");
		return;
	}
	if (o->nsessions > 1 && other == NULL) {
		/* one session of a multi-session occupant cannot rename the
		 * others: it would have to leave and join as a new occupant */
		pres_error(n, "modify", "not-acceptable");
		return;
	}
	broadcast_occ(r, o, "unavailable", self303, others303, nick, NULL);
	if (mucroom_occ_rename(r, o, nick, key) == -1) {
		pres_error(n, "wait", "resource-constraint");
		return;
	}
	xml_free(o->pres);
	o->pres = keep_presence(n);
	broadcast_occ(r, o, NULL, self110, none, NULL, NULL);
	xml_free(n);
}

void
mucpres_leave(struct muc_sess *s, const struct xml_node *why)
{
	static const unsigned self[] = { 110, 0 }, others[] = { 0 };
	struct muc_occ *o = s->occ;
	struct muc_room *r = s->room;
	struct xml_node *p;

	if (o->nsessions > 1) {
		if ((p = mucroom_presence(r, o, true, "unavailable", self)) != NULL) {
			mucroom_send_sess(s, p);
			xml_free(p);
		}
		mucroom_occ_drop_session(s);
		return;
	}
	if (why) {
		xml_free(o->pres);
		o->pres = keep_presence(why);
	}
	broadcast_occ(r, o, "unavailable", self, others, NULL, NULL);
	mucroom_occ_free(r, o);
	/* the last one out: a temporary room ends, a persistent one leaves
	 * memory (its state is in the database) */
	mucroom_release(r);
}

/*
 * What the room sent another server's session came back as an error:
 * the session is gone (its server is unreachable, or it left without a
 * word); the others see it leave with 333 (XEP-0045 §7.2.x).
 */
void
mucpres_gone(struct muc_sess *s)
{
	struct muc_room *r = s->room;
	struct muc_occ *o = s->occ;

	mucroom_occ_drop_session(s);	/* it is not told: it would bounce */
	if (o->nsessions > 0)
		return;
	mucpres_remove(r, o, 333, NULL);
	mucroom_release(r);
}

bool
mucpres_fatal_error(const struct xml_node *n)
{
	const struct xml_node *e = xml_child(n, "error", NULL);
	const char *t = e ? xml_attr(e, "type") : NULL;

	/* RFC 6120 §8.3.2: cancel is final; a presence error always is */
	return strcmp(n->name, "presence") == 0 || (t && strcmp(t, "cancel") == 0);
}

void
mucpres_remove(struct muc_room *r, struct muc_occ *o, unsigned code,
    const struct xml_node *extra)
{
	const unsigned self[] = { code, 110, 0 }, others[] = { code, 0 };

	broadcast_occ(r, o, "unavailable", self, others, NULL, extra);
	mucroom_occ_free(r, o);
}

void
mucpres_broadcast(struct muc_room *r, struct muc_occ *o,
    const struct xml_node *extra)
{
	static const unsigned self[] = { 110, 0 }, others[] = { 0 };

	broadcast_occ(r, o, NULL, self, others, NULL, extra);
}

enum muc_role
mucpres_role_for(const struct muc_room *r, enum muc_aff a)
{
	return role_for(r, a);
}

void
mucpres_handle(struct xml_node *n, const struct jid *to, int host)
{
	const struct muc_config *mc = muc_cfg();
	const char *type = stanza_type(n);
	char room[2 * JID_PART_MAX + 2], nick[JID_PART_MAX + 1], key[JID_PART_MAX + 1];
	struct muc_room *r;
	struct muc_sess *s;
	struct muc_from f;
	bool known;
	long len;

	if (type[0] && strcmp(type, "unavailable") != 0 && strcmp(type, "error") != 0) {
		xml_free(n);	/* probes, subscriptions: nothing to do */
		return;
	}
	jid_bare(to, room, sizeof(room));
	r = mucroom_find(room);
	known = muc_from(xml_attr(n, "from"), &f) == 0;
	s = r && known ? mucroom_sess_of(r, &f) : NULL;
	if (strcmp(type, "error") == 0) {
		if (s && s->rem)
			mucpres_gone(s);
		xml_free(n);
		return;
	}
	if (type[0]) {
		if (s)
			mucpres_leave(s, n);
		xml_free(n);
		return;
	}
	if (!known) {
		pres_error(n, "cancel", "service-unavailable");
		return;
	}
	/* §7.2.1: a nick is required; RFC 8266 enforcement */
	if (to->resource[0] == '\0' ||
	    (len = mucnick_enforce(to->resource, strlen(to->resource), nick,
	    sizeof(nick))) < 0 || (size_t)len > mc->max_nick ||
	    mucnick_key(nick, key, sizeof(key)) < 0) {
		pres_error(n, "modify", "jid-malformed");
		return;
	}
	/* occupants' presences are kept and repeated to everyone who
	 * joins: bounded (500 occupants with large presences add up) */
	if (too_large(n, mc->max_presence)) {
		pres_error(n, "modify", "not-acceptable");
		return;
	}
	if (s == NULL) {
		join(r, &f, n, to, host, nick, key);
		return;
	}
	if (strcmp(s->occ->key, key) != 0 || strcmp(s->occ->nick, nick) != 0) {
		change_nick(r, s, n, nick, key);
		return;
	}
	/* a presence update (§7.7): everyone sees the new one */
	xml_free(s->occ->pres);
	s->occ->pres = keep_presence(n);
	{
		static const unsigned self[] = { 110, 0 }, others[] = { 0 };

		broadcast_occ(r, s->occ, NULL, self, others, NULL, NULL);
	}
	xml_free(n);
}
