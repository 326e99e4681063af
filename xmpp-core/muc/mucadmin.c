/*
 * mucadmin — muc#admin on a room (XEP-0045 §8, §9, §10.3-10.8):
 * affiliation lists (owner, admin, member, outcast) and role lists
 * (moderator, participant) read and changed, which is how a moderator
 * kicks (307), grants and revokes voice and an admin bans (301) or
 * makes members.  A request is checked whole — every item, every
 * permission — before any of it takes effect; the answer waits until
 * the affiliations of a persistent room are stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mucconf.h"
#include "mucint.h"
#include "mucnick.h"
#include "mucroom.h"
#include "mucstore.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define NS_MUC_ADMIN	NS_MUC "#admin"
#define MUC_MAX_ITEMS	100	/* items of one request */

static void
iq_err(struct xml_node *n, const char *type, const char *cond)
{
	stanza_bounce(n, type, cond);
	xml_free(n);
}

static int
aff_of(const char *s)
{
	for (int a = MUC_AFF_OUTCAST; a <= MUC_AFF_OWNER; a++)
		if (strcmp(s, muc_aff_name((enum muc_aff)a)) == 0)
			return a;
	return -1;
}

static int
role_of(const char *s)
{
	for (int r = MUC_ROLE_NONE; r <= MUC_ROLE_MODERATOR; r++)
		if (strcmp(s, muc_role_name((enum muc_role)r)) == 0)
			return r;
	return -1;
}

/* Who asks: their affiliation and, when in the room, their occupant. */
struct actor {
	char bare[2 * JID_PART_MAX + 2];
	enum muc_aff aff;
	struct muc_occ *occ;
	enum muc_role role;
};

static int
actor_of(struct muc_room *r, const struct xml_node *n, struct actor *a)
{
	const char *from = xml_attr(n, "from");
	struct muc_from f;
	struct jid j;
	struct muc_sess *s;

	if (from == NULL || jid_parse(from, &j) == -1)
		return -1;
	jid_bare(&j, a->bare, sizeof(a->bare));
	a->aff = mucroom_aff(r, a->bare);
	s = muc_from(from, &f) == 0 ? mucroom_sess_of(r, &f) : NULL;
	a->occ = s ? s->occ : NULL;
	a->role = s ? s->occ->role : MUC_ROLE_NONE;
	return 0;
}

/* ---- get ---- */

static void
list_affs(struct muc_room *r, struct xml_node *q, enum muc_aff want)
{
	struct hmap_ent *e;
	struct xml_node *it;
	size_t i;

	for (e = hmap_first(&r->affs, &i); e; e = hmap_next(&r->affs, e, &i)) {
		if (mucroom_aff(r, e->key) != want || (it = xml_add(q, "item", NULL)) == NULL)
			continue;
		xml_set_attr(it, "affiliation", muc_aff_name(want));
		xml_set_attr(it, "jid", e->key);
	}
}

static void
list_roles(struct muc_room *r, struct xml_node *q, enum muc_role want)
{
	struct xml_node *it;

	for (struct muc_occ *o = r->occs; o; o = o->next) {
		if (o->role != want || (it = xml_add(q, "item", NULL)) == NULL)
			continue;
		xml_set_attr(it, "role", muc_role_name(want));
		xml_set_attr(it, "affiliation", muc_aff_name(o->aff));
		xml_set_attr(it, "nick", o->nick);
		xml_set_attr(it, "jid", o->bare);
	}
}

static void
get(struct muc_room *r, struct xml_node *n, const struct xml_node *q,
    const struct actor *a)
{
	const struct xml_node *item = xml_child(q, "item", NULL);
	const char *av = item ? xml_attr(item, "affiliation") : NULL;
	const char *rv = item ? xml_attr(item, "role") : NULL;
	struct xml_node *res, *rq;
	int want;

	if (item == NULL || xml_next_elem(item) != NULL || (av == NULL) == (rv == NULL)) {
		iq_err(n, "modify", "bad-request");
		return;
	}
	if (av) {
		if ((want = aff_of(av)) < 0 || want == MUC_AFF_NONE) {
			iq_err(n, "modify", "bad-request");
			return;
		}
		/* admins and owners; in a non-anonymous room every member too
		 * (the JIDs are no secret there: OMEMO clients read the lists) */
		if (a->aff < MUC_AFF_ADMIN &&
		    !(r->cfg.whois_anyone && a->aff >= MUC_AFF_MEMBER)) {
			iq_err(n, "auth", "forbidden");
			return;
		}
	} else {
		if ((want = role_of(rv)) < MUC_ROLE_PARTICIPANT) {
			iq_err(n, "modify", "bad-request");
			return;
		}
		if (a->role < MUC_ROLE_MODERATOR) {
			iq_err(n, "auth", "forbidden");
			return;
		}
	}
	if ((res = stanza_iq_result(n)) == NULL ||
	    (rq = xml_add(res, "query", NS_MUC_ADMIN)) == NULL) {
		xml_free(res);
		iq_err(n, "wait", "resource-constraint");
		return;
	}
	if (av)
		list_affs(r, rq, (enum muc_aff)want);
	else
		list_roles(r, rq, (enum muc_role)want);
	router_route(res);
	xml_free(n);
}

/* ---- set ---- */

struct change {
	bool is_aff;
	int to;				/* enum muc_aff or enum muc_role */
	char bare[2 * JID_PART_MAX + 2];	/* affiliation: whose */
	struct muc_occ *occ;		/* role: whose */
	struct xml_node *extra;		/* <actor/>, <reason/> */
};

static unsigned
owners(const struct muc_room *r)
{
	struct hmap_ent *e;
	unsigned n = 0;
	size_t i;

	for (e = hmap_first(&r->affs, &i); e; e = hmap_next(&r->affs, e, &i))
		if (mucroom_aff(r, e->key) == MUC_AFF_OWNER)
			n++;
	return n;
}

/* §9, §10: may a (affiliation a->aff) move target from `from` to `to`? */
static const char *
aff_refused(const struct muc_room *r, const struct actor *a, enum muc_aff from,
    enum muc_aff to, unsigned *owners_left)
{
	if (a->aff < MUC_AFF_ADMIN)
		return "forbidden";
	if (a->aff == MUC_AFF_ADMIN && (from >= MUC_AFF_ADMIN || to >= MUC_AFF_ADMIN))
		return "not-allowed";
	if (from == MUC_AFF_OWNER && to != MUC_AFF_OWNER) {
		if (*owners_left <= 1)
			return "conflict";	/* §10.5: the last owner stays */
		(*owners_left)--;
	}
	if (to != MUC_AFF_NONE && from == MUC_AFF_NONE && r->affs.n >= MUC_MAX_AFFS)
		return "resource-constraint";
	return NULL;
}

static const char *
role_refused(const struct actor *a, const struct muc_occ *t, enum muc_role to)
{
	if (a->role < MUC_ROLE_MODERATOR)
		return "forbidden";
	/* nobody takes voice or the room from an admin or owner (§8.2) */
	if (t->aff >= MUC_AFF_ADMIN && to < MUC_ROLE_MODERATOR)
		return "not-allowed";
	if ((to == MUC_ROLE_MODERATOR || t->role == MUC_ROLE_MODERATOR) &&
	    a->aff < MUC_AFF_ADMIN)
		return "not-allowed";	/* moderators are made by admins */
	return NULL;
}

static struct xml_node *
extra_of(const struct xml_node *item, const struct actor *a)
{
	struct xml_node *e = xml_new("x", NS_MUC_USER), *act, *rs;
	char *reason;

	if (e == NULL)
		return NULL;
	if (a->occ && (act = xml_add(e, "actor", NULL)) != NULL)
		xml_set_attr(act, "nick", a->occ->nick);
	if ((rs = xml_child(item, "reason", NULL)) != NULL &&
	    (reason = xml_text(rs)) != NULL) {
		if (reason[0] && strlen(reason) <= muc_cfg()->max_description)
			xml_add_with_text(e, "reason", NULL, reason);
		free(reason);
	}
	return e;
}

static const char *
parse_item(struct muc_room *r, const struct xml_node *item, const struct actor *a,
    struct change *ch, unsigned *owners_left, const char **type)
{
	const char *av = xml_attr(item, "affiliation"), *rv = xml_attr(item, "role");
	const char *jv = xml_attr(item, "jid"), *nv = xml_attr(item, "nick");
	char key[JID_PART_MAX + 1];
	const char *why;
	struct jid j;

	*type = "modify";
	memset(ch, 0, sizeof(*ch));
	if (strcmp(item->name, "item") != 0 || (av == NULL) == (rv == NULL))
		return "bad-request";
	*type = "cancel";
	if (av) {
		if ((ch->to = aff_of(av)) < 0 || jv == NULL || jid_parse(jv, &j) == -1) {
			*type = "modify";
			return jv && jid_parse(jv, &j) == -1 ? "jid-malformed" : "bad-request";
		}
		ch->is_aff = true;
		jid_bare(&j, ch->bare, sizeof(ch->bare));
		why = aff_refused(r, a, mucroom_aff(r, ch->bare), (enum muc_aff)ch->to,
		    owners_left);
	} else {
		if ((ch->to = role_of(rv)) < 0 || nv == NULL) {
			*type = "modify";
			return "bad-request";
		}
		if (mucnick_key(nv, key, sizeof(key)) < 0 ||
		    (ch->occ = mucroom_occ_by_nick(r, key)) == NULL)
			return "item-not-found";
		why = role_refused(a, ch->occ, (enum muc_role)ch->to);
	}
	if (why) {
		if (strcmp(why, "forbidden") == 0)
			*type = "auth";
		else if (strcmp(why, "resource-constraint") == 0)
			*type = "wait";
		return why;
	}
	if ((ch->extra = extra_of(item, a)) == NULL) {
		*type = "wait";
		return "resource-constraint";
	}
	return NULL;
}

/* What an affiliation change does to the occupants of that bare JID. */
static void
aff_effect(struct muc_room *r, struct change *ch)
{
	struct muc_occ *o, *next;

	for (o = r->occs; o; o = next) {
		next = o->next;
		if (strcmp(o->bare, ch->bare) != 0)
			continue;
		o->aff = (enum muc_aff)ch->to;
		if (o->aff == MUC_AFF_OUTCAST) {
			mucpres_remove(r, o, 301, ch->extra);		/* §9.1 */
		} else if (r->cfg.members_only && o->aff < MUC_AFF_MEMBER) {
			mucpres_remove(r, o, 321, ch->extra);		/* §9.5 */
		} else {
			o->role = mucpres_role_for(r, o->aff);
			mucpres_broadcast(r, o, ch->extra);
		}
	}
}

static void
role_effect(struct muc_room *r, struct change *ch)
{
	if (ch->to == MUC_ROLE_NONE) {
		mucpres_remove(r, ch->occ, 307, ch->extra);		/* §8.2 */
		return;
	}
	ch->occ->role = (enum muc_role)ch->to;
	ch->occ->voice_requested = false;
	mucpres_broadcast(r, ch->occ, ch->extra);
}

/* The answer once every affiliation write is done. */
struct reply {
	struct xml_node *iq;
	unsigned pending;
	bool failed;
};

static void
reply_done(struct reply *rp)
{
	struct xml_node *res;

	if (rp->failed) {
		stanza_bounce(rp->iq, "wait", "internal-server-error");
	} else if ((res = stanza_iq_result(rp->iq)) != NULL) {
		router_route(res);
	}
	xml_free(rp->iq);
	free(rp);
}

static void
aff_stored(void *arg, int rc)
{
	struct reply *rp = arg;

	if (rc != 0)
		rp->failed = true;
	if (--rp->pending == 0)
		reply_done(rp);
}

/* One request names each occupant and each JID once: later items are
 * never about someone an earlier one removed. */
static bool
repeated(const struct change *ch, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		for (unsigned k = i + 1; k < n; k++) {
			const char *bi = ch[i].is_aff ? ch[i].bare : ch[i].occ->bare;
			const char *bk = ch[k].is_aff ? ch[k].bare : ch[k].occ->bare;

			if (strcmp(bi, bk) == 0)
				return true;
		}
	}
	return false;
}

static void
set(struct muc_room *r, struct xml_node *n, const struct xml_node *q,
    const struct actor *a)
{
	struct change *ch = calloc(MUC_MAX_ITEMS, sizeof(*ch));
	unsigned nch = 0, owners_left = owners(r);
	const char *cond = NULL, *type = "modify";
	struct reply *rp = NULL;

	if (ch == NULL) {
		iq_err(n, "wait", "resource-constraint");
		return;
	}
	for (const struct xml_node *it = xml_first_elem(q); it; it = xml_next_elem(it)) {
		if (nch == MUC_MAX_ITEMS) {
			cond = "policy-violation";
			break;
		}
		if ((cond = parse_item(r, it, a, &ch[nch], &owners_left, &type)) != NULL)
			break;
		nch++;
	}
	if (cond == NULL && (nch == 0 || repeated(ch, nch)))
		cond = "bad-request";
	if (cond == NULL && (rp = calloc(1, sizeof(*rp))) == NULL) {
		cond = "resource-constraint";
		type = "wait";
	}
	if (cond) {
		for (unsigned i = 0; i < nch; i++)
			xml_free(ch[i].extra);
		free(ch);
		iq_err(n, type, cond);
		return;
	}
	rp->iq = n;
	rp->pending = 1;
	for (unsigned i = 0; i < nch; i++) {
		if (ch[i].is_aff) {
			if (mucroom_set_aff(r, ch[i].bare, (enum muc_aff)ch[i].to) == -1)
				rp->failed = true;
			if (r->stored) {
				rp->pending++;
				if (mucstore_aff(r, ch[i].bare, ch[i].to, aff_stored, rp) == -1) {
					rp->pending--;
					rp->failed = true;
				}
			}
			aff_effect(r, &ch[i]);
		} else {
			role_effect(r, &ch[i]);
		}
		xml_free(ch[i].extra);
	}
	free(ch);
	if (--rp->pending == 0)
		reply_done(rp);
	mucroom_release(r);
}

const char *
mucadmin_set_aff(struct muc_room *r, const char *bare, enum muc_aff to,
    const char *reason, void (*done)(void *arg, int rc), void *arg)
{
	enum muc_aff from = mucroom_aff(r, bare);
	struct change ch = { .is_aff = true, .to = (int)to };

	if (from == MUC_AFF_OWNER && to != MUC_AFF_OWNER && owners(r) <= 1)
		return "a room keeps at least one owner (make another owner first)";
	if (to != MUC_AFF_NONE && from == MUC_AFF_NONE && r->affs.n >= MUC_MAX_AFFS)
		return "the room has as many affiliations as it keeps";
	snprintf(ch.bare, sizeof(ch.bare), "%s", bare);
	if ((ch.extra = xml_new("x", NS_MUC_USER)) == NULL ||
	    (reason && reason[0] &&
	    xml_add_with_text(ch.extra, "reason", NULL, reason) == NULL) ||
	    mucroom_set_aff(r, bare, to) == -1) {
		xml_free(ch.extra);
		return "out of memory";
	}
	aff_effect(r, &ch);
	xml_free(ch.extra);
	if (!r->stored || mucstore_aff(r, bare, (int)to, done, arg) == -1)
		done(arg, r->stored ? -1 : 0);
	return NULL;
}

void
mucadmin_iq(struct muc_room *r, struct xml_node *n, struct xml_node *q)
{
	struct actor a;

	if (actor_of(r, n, &a) == -1) {
		iq_err(n, "modify", "jid-malformed");
		return;
	}
	if (strcmp(stanza_type(n), "get") == 0)
		get(r, n, q, &a);
	else
		set(r, n, q, &a);
}
