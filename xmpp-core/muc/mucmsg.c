/*
 * mucmsg — messages to a room (XEP-0045 §7.4, §7.5, §7.8.2, §8.1):
 * groupchat messages broadcast to every occupant (serialised once,
 * mucroom_fanout), subject changes, private messages through the room
 * and mediated invitations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "crypto.h"
#include "evloop.h"
#include "c2s.h"
#include "log.h"
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
msg_error(struct xml_node *n, const char *type, const char *cond)
{
	stanza_bounce(n, type, cond);
	xml_free(n);
}

/* The copy occupants get: from the sender's occupant JID, no 'to'. */
static struct xml_node *
relayed(const struct xml_node *n, const struct muc_occ *o)
{
	struct xml_node *m = xml_copy(n);

	if (m == NULL)
		return NULL;
	xml_del_attr(m, "to");
	xml_set_attr(m, "from", o->full);
	mucroom_stamp_occ_id(m, o);
	return m;
}

static void
subject(struct muc_room *r, struct muc_occ *o, struct xml_node *n,
    const struct xml_node *sub)
{
	char *text = xml_text(sub);
	struct xml_node *m;

	if (text == NULL) {
		msg_error(n, "wait", "resource-constraint");
		return;
	}
	if (o->role < MUC_ROLE_MODERATOR &&
	    (!r->cfg.change_subject || o->role < MUC_ROLE_PARTICIPANT)) {
		free(text);
		msg_error(n, "auth", "forbidden");	/* §8.1 */
		return;
	}
	if (strlen(text) > muc_cfg()->max_subject) {
		free(text);
		msg_error(n, "modify", "not-acceptable");
		return;
	}
	if ((m = relayed(n, o)) == NULL) {
		free(text);
		msg_error(n, "wait", "resource-constraint");
		return;
	}
	free(r->subject);
	free(r->subject_by);
	r->subject = NULL;
	r->subject_by = NULL;
	if (text[0]) {
		r->subject = text;
		r->subject_by = strdup(o->nick);
	} else {
		free(text);
	}
	if (r->stored)
		mucstore_subject(r);
	mucroom_fanout(r, m, NULL);
	xml_free(m);
	xml_free(n);
}

/*
 * XEP-0359: the room names each groupchat message (replies, reactions
 * and corrections in groups refer to it) with its archive id
 * (mucmam.c); a stanza-id claiming to be the room's that the sender put
 * in is dropped first (§6), and so is a muc#user payload, where the
 * room's own word on the sender's real JID goes (XEP-0313 §5.1.2).
 */
static void
stamp_stanza_id(const struct muc_room *r, struct xml_node *m, int64_t sid)
{
	struct xml_node *e, *next;
	char id[24];

	for (e = xml_first_elem(m); e; e = next) {
		const char *by = xml_attr(e, "by");

		next = xml_next_elem(e);
		if ((xml_is(e, "stanza-id", NS_SID) && by && strcmp(by, r->jid) == 0) ||
		    xml_is(e, "x", NS_MUC_USER)) {
			xml_detach(e);
			xml_free(e);
		}
	}
	snprintf(id, sizeof(id), "%lld", (long long)sid);
	if ((e = xml_add(m, "stanza-id", NS_SID)) == NULL)
		return;
	xml_set_attr(e, "id", id);
	xml_set_attr(e, "by", r->jid);
}

static void
groupchat(struct muc_room *r, struct muc_sess *s, struct xml_node *n)
{
	struct muc_occ *o = s->occ;
	struct xml_node *sub = xml_child(n, "subject", NS_CLIENT), *m;
	int64_t sid;

	if (sub && xml_child(n, "body", NS_CLIENT) == NULL) {
		subject(r, o, n, sub);
		return;
	}
	if (o->role < MUC_ROLE_PARTICIPANT) {
		msg_error(n, "auth", "forbidden");	/* §7.4: a visitor */
		return;
	}
	if ((m = relayed(n, o)) == NULL) {
		msg_error(n, "wait", "resource-constraint");
		return;
	}
	sid = mucmam_next_id();
	stamp_stanza_id(r, m, sid);
	mucroom_fanout(r, m, NULL);
	if (mucmam_archivable(m)) {
		struct buf b;

		buf_init(&b);
		mucroom_hist_add_id(r, m, time(NULL), sid, r->stored ? &b : NULL);
		if (mucmam_on(r) && b.p)
			mucmam_store(r->jid, o, sid, b.p);
		else if (r->stored && b.p)
			mucstore_history(r, b.p);
		buf_free(&b);
	}
	xml_free(m);
	xml_free(n);
}

static bool
pm_allowed(const struct muc_room *r, const struct muc_occ *o)
{
	switch (r->cfg.allow_pm) {
	case MUC_PM_ANYONE:
		return true;
	case MUC_PM_PARTICIPANTS:
		return o->role >= MUC_ROLE_PARTICIPANT;
	case MUC_PM_MODERATORS:
		return o->role >= MUC_ROLE_MODERATOR;
	case MUC_PM_NONE:
		break;
	}
	return false;
}

/* §7.5: to room@service/nick, delivered to every session of that nick. */
static void
private_message(struct muc_room *r, struct muc_sess *s, struct xml_node *n,
    const struct jid *to)
{
	char key[JID_PART_MAX + 1];
	struct muc_occ *dst;
	struct xml_node *m;

	if (strcmp(stanza_type(n), "groupchat") == 0) {
		msg_error(n, "modify", "bad-request");
		return;
	}
	if (!pm_allowed(r, s->occ)) {
		msg_error(n, "cancel", "not-allowed");
		return;
	}
	if (mucnick_key(to->resource, key, sizeof(key)) < 0 ||
	    (dst = mucroom_occ_by_nick(r, key)) == NULL) {
		msg_error(n, "cancel", "item-not-found");
		return;
	}
	if ((m = relayed(n, s->occ)) == NULL) {
		msg_error(n, "wait", "resource-constraint");
		return;
	}
	if (xml_child(m, "x", NS_MUC_USER) == NULL)
		xml_add(m, "x", NS_MUC_USER);
	mucroom_send_occ(dst, m);
	xml_free(m);
	xml_free(n);
}

static void
member_stored(void *arg, int rc)
{
	if (rc != 0)
		log_warn("muc: %s: an invitee's membership was not stored",
		    (const char *)arg);
	free(arg);
}

/*
 * §7.8.2: <invite to=.../> in muc#user, passed on from the room.  In a
 * members-only room the invitee becomes a member (an outcast stays one),
 * so only those who may make members invite there: admins and owners,
 * and members too when the room lets participants invite.
 */
static void
invite(struct muc_room *r, struct muc_sess *s, struct xml_node *n,
    struct xml_node *inv)
{
	struct xml_node *m, *x, *i, *reason;
	const char *to = xml_attr(inv, "to");
	char bare[2 * JID_PART_MAX + 2], *what;
	struct jid j;

	if (r->cfg.members_only ? s->occ->aff < MUC_AFF_ADMIN &&
	    !(r->cfg.allow_invites && s->occ->aff >= MUC_AFF_MEMBER) :
	    !r->cfg.allow_invites && s->occ->role < MUC_ROLE_MODERATOR) {
		msg_error(n, "auth", "forbidden");
		return;
	}
	if (to == NULL || jid_parse(to, &j) == -1) {
		msg_error(n, "modify", "jid-malformed");
		return;
	}
	if ((m = xml_new("message", NS_CLIENT)) == NULL ||
	    (x = xml_add(m, "x", NS_MUC_USER)) == NULL ||
	    (i = xml_add(x, "invite", NULL)) == NULL) {
		xml_free(m);
		msg_error(n, "wait", "resource-constraint");
		return;
	}
	jid_bare(&j, bare, sizeof(bare));
	if (r->cfg.members_only && mucroom_aff(r, bare) == MUC_AFF_NONE) {
		if ((what = strdup(r->jid)) == NULL ||
		    mucadmin_set_aff(r, bare, MUC_AFF_MEMBER, NULL, member_stored,
		    what) != NULL) {
			free(what);
			xml_free(m);
			msg_error(n, "wait", "resource-constraint");
			return;
		}
	}
	xml_set_attr(m, "from", r->jid);
	xml_set_attr(m, "to", to);
	xml_set_attr(i, "from", s->occ->bare);
	if ((reason = xml_child(inv, "reason", NULL)) != NULL)
		xml_append_child(i, xml_copy(reason));
	if (r->cfg.password_protected && r->cfg.password)
		xml_add_with_text(x, "password", NULL, r->cfg.password);
	router_route(m);
	xml_free(n);
}

/*
 * §7.8.2: an invitee declines; the room passes it on to the inviter.
 * Only to someone the room knows (an occupant or an affiliated JID), so
 * the room relays no messages to strangers.
 */
static void
decline(struct muc_room *r, struct xml_node *n, struct xml_node *dec)
{
	const char *to = xml_attr(dec, "to"), *from = xml_attr(n, "from");
	char bare[2 * JID_PART_MAX + 2], fbare[2 * JID_PART_MAX + 2];
	struct xml_node *m, *x, *d, *reason;
	bool known;
	struct jid j, f;

	if (to == NULL || jid_parse(to, &j) == -1 || from == NULL ||
	    jid_parse(from, &f) == -1) {
		msg_error(n, "modify", "jid-malformed");
		return;
	}
	jid_bare(&j, bare, sizeof(bare));
	known = mucroom_aff(r, bare) >= MUC_AFF_MEMBER;
	for (struct muc_occ *o = r->occs; o && !known; o = o->next)
		known = strcmp(o->bare, bare) == 0;
	if (!known) {
		msg_error(n, "cancel", "item-not-found");
		return;
	}
	if ((m = xml_new("message", NS_CLIENT)) == NULL ||
	    (x = xml_add(m, "x", NS_MUC_USER)) == NULL ||
	    (d = xml_add(x, "decline", NULL)) == NULL) {
		xml_free(m);
		msg_error(n, "wait", "resource-constraint");
		return;
	}
	xml_set_attr(m, "from", r->jid);
	xml_set_attr(m, "to", to);
	xml_set_attr(d, "from", jid_bare(&f, fbare, sizeof(fbare)));
	if ((reason = xml_child(dec, "reason", NULL)) != NULL)
		xml_append_child(d, xml_copy(reason));
	router_route(m);
	xml_free(n);
}

/*
 * The room's own flood limit, a token bucket per occupant ([muc]
 * message_rate per second, message_burst at once): a busy room stays
 * usable for the others even when the c2s shaper lets a sender through.
 */
static bool
flooding(struct muc_occ *o)
{
	const struct muc_config *mc = muc_cfg();
	uint64_t now = ev_now(srv.loop), cap, add;

	if (mc->message_rate == 0)
		return false;
	cap = (uint64_t)mc->message_burst * 1000;
	if (o->rate_last == 0) {
		o->rate_tokens = cap;
	} else {
		add = (now - o->rate_last) * mc->message_rate;
		o->rate_tokens = o->rate_tokens + add > cap ? cap : o->rate_tokens + add;
	}
	o->rate_last = now;
	if (o->rate_tokens < 1000)
		return true;
	o->rate_tokens -= 1000;
	return false;
}

void
mucmsg_handle(struct muc_room *r, struct xml_node *n, const struct jid *to)
{
	const char *type = stanza_type(n);
	struct muc_from f;
	struct muc_sess *s = r && muc_from(xml_attr(n, "from"), &f) == 0 ?
	    mucroom_sess_of(r, &f) : NULL;
	struct xml_node *x, *inv;

	if (strcmp(type, "error") == 0) {
		/* what the room sent another server's session came back */
		if (s && s->rem && mucpres_fatal_error(n))
			mucpres_gone(s);
		xml_free(n);
		return;
	}
	if (r == NULL) {
		msg_error(n, "cancel", "item-not-found");
		return;
	}
	if (!to->resource[0] && strcmp(type, "groupchat") != 0 &&
	    (x = xml_child(n, "x", NS_MUC_USER)) != NULL &&
	    (inv = xml_child(x, "decline", NULL)) != NULL) {
		decline(r, n, inv);	/* invitees are not in the room */
		return;
	}
	if (s == NULL) {
		msg_error(n, "modify", "not-acceptable");	/* §7.4 */
		return;
	}
	if (flooding(s->occ)) {
		msg_error(n, "wait", "policy-violation");
		return;
	}
	if (to->resource[0]) {
		private_message(r, s, n, to);
		return;
	}
	if (strcmp(type, "groupchat") == 0) {
		groupchat(r, s, n);
		return;
	}
	if ((x = xml_child(n, "x", NS_MUC_USER)) != NULL &&
	    (inv = xml_child(x, "invite", NULL)) != NULL) {
		invite(r, s, n, inv);
		return;
	}
	if (mucvoice_message(r, s, n))
		return;
	msg_error(n, "modify", "bad-request");
}
