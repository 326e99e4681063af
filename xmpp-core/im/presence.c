/*
 * presence — broadcast, probes and subscriptions.  See presence.h.
 *
 * A remote contact (another server, over s2s) gets what RFC 6121 says
 * the user's server sends it (subscription stanzas stamped with the bare
 * JID, broadcasts, probes), through the router; what it sends back is
 * applied to the local account's roster on arrival (inbound_*).  Both
 * sides of a local pair are applied in one job.
 */
#include "presence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "hmap.h"
#include "log.h"
#include "offline.h"
#include "roster.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "vcard.h"
#include "xml.h"

enum subop { SUB_SUBSCRIBE, SUB_SUBSCRIBED, SUB_UNSUBSCRIBE, SUB_UNSUBSCRIBED, SUB_REMOVE };

struct sub_job {
	struct c2s *c;		/* the session that asked (blocked), or NULL */
	struct user *u;		/* the account (own reference) */
	struct user *cu;	/* the contact, when local (own reference) */
	char contact[2 * JID_PART_MAX + 2];
	int chost;
	enum subop op;
	struct xml_node *n;
};

/* ---- sending helpers ---- */

static struct xml_node *
sub_stanza(const char *type, const char *from, const char *to)
{
	struct xml_node *p = xml_new("presence", NS_CLIENT);

	if (p) {
		xml_set_attr(p, "type", type);
		xml_set_attr(p, "from", from);
		xml_set_attr(p, "to", to);
	}
	return p;
}

static void
send_all(struct user *to, struct xml_node *p)
{
	if (to && p)
		router_send_available(to, p, false);
	xml_free(p);
}

/* A contact on another server (its presence goes through the router). */
static bool
remote_contact(const char *jid)
{
	struct jid j;

	return jid_parse(jid, &j) == 0 && router_host_index(j.domain) < 0;
}

static void
route_new(struct xml_node *p)
{
	if (p)
		router_route(p);
}

/* Presence of each available session of u (or unavailable) to a remote
 * contact's bare JID (RFC 6121 §3.1.5, §3.3.2, §4.3.2). */
static void
presence_remote(struct user *u, const char *contact, bool unavailable)
{
	struct xml_node *p;

	for (struct c2s *s = u->sessions; s; s = s->next_session) {
		if (!s->available)
			continue;
		if (unavailable || PSESS(s)->presence == NULL)
			p = sub_stanza("unavailable", s->full, contact);
		else if ((p = xml_copy(PSESS(s)->presence)) != NULL) {
			xml_set_attr(p, "from", s->full);
			xml_set_attr(p, "to", contact);
		}
		if (p)
			router_route(p);
	}
}

/* Presence of each available session of 'from' to the available sessions
 * of 'to' (after a subscription is approved). */
static void
presence_all(struct user *from, struct user *to, bool unavailable)
{
	struct xml_node *p;

	for (struct c2s *s = from->sessions; s; s = s->next_session) {
		if (!s->available)
			continue;
		if (unavailable) {
			p = sub_stanza("unavailable", s->full, to->bare);
		} else {
			if ((p = xml_copy(PSESS(s)->presence)) == NULL)
				continue;
			xml_set_attr(p, "from", s->full);
			xml_set_attr(p, "to", to->bare);
		}
		send_all(to, p);
	}
}

/* n (from set) to contacts with a 'from' subscription and own resources. */
static void
broadcast(struct c2s *c, const struct xml_node *n)
{
	struct roster *r = USER_ROSTER(c->user);
	struct xml_node *p = xml_copy(n);
	struct user *cu;

	if (p == NULL)
		return;
	if (r && r->loaded) {
		for (size_t i = 0; i < r->n; i++) {
			if (!r->items[i].sub_from)
				continue;
			if (remote_contact(r->items[i].jid)) {
				struct xml_node *q = xml_copy(p);

				if (q) {
					xml_set_attr(q, "to", r->items[i].jid);
					router_route(q);
				}
				continue;
			}
			if ((cu = router_user_find(r->items[i].jid)) == NULL)
				continue;
			xml_set_attr(p, "to", r->items[i].jid);
			router_send_available(cu, p, false);
		}
	}
	xml_set_attr(p, "to", c->user->bare);
	router_send_available(c->user, p, false);
	xml_free(p);
}

/* ---- subscriptions ---- */

static void
job_done(struct sub_job *j)
{
	struct c2s *c = j->c;

	if (j->cu)
		router_user_unref(j->cu);
	router_user_unref(j->u);
	xml_free(j->n);
	free(j);
	if (c)
		c2s_unblock(c);
}

static void
forward(struct sub_job *j, const char *type)
{
	struct xml_node *p;

	/* the request as the client sent it (status text etc.), to the bare JID */
	if (j->n && strcmp(stanza_type(j->n), type) == 0 && (p = xml_copy(j->n)) != NULL) {
		xml_set_attr(p, "from", j->u->bare);
		xml_set_attr(p, "to", j->contact);
	} else {
		p = sub_stanza(type, j->u->bare, j->contact);
	}
	if (j->cu == NULL && j->chost < 0) {
		if (p)
			router_route(p);	/* RFC 6121 §3.1.2: to the contact's server */
		return;
	}
	send_all(j->cu, p);
}

static void
inbound_subscribed(struct sub_job *j, struct roster_item *ui)
{
	if (ui && ui->ask_out) {
		ui->sub_to = true;
		ui->ask_out = false;
		roster_commit(j->u, ui);
		send_all(j->u, sub_stanza("subscribed", j->contact, j->u->bare));
	}
}

static void
apply_subscribe(struct sub_job *j, struct roster_item *ui, struct roster *cr)
{
	struct roster_item *ci;

	if (!ui->sub_to && (!ui->ask_out || !ui->visible)) {
		ui->ask_out = true;
		ui->visible = true;
		roster_commit(j->u, ui);
	}
	if (j->cu == NULL)
		return;
	if (!cr->exists) {
		/* RFC 6121 §3.1.3: no such contact: answer 'unsubscribed' */
		if ((ui = roster_find(USER_ROSTER(j->u), j->contact)) != NULL &&
		    (ui->ask_out || ui->sub_to)) {
			ui->ask_out = ui->sub_to = false;
			roster_commit(j->u, ui);
		}
		send_all(j->u, sub_stanza("unsubscribed", j->contact, j->u->bare));
		return;
	}
	if ((ci = roster_find(cr, j->u->bare)) == NULL &&
	    (ci = roster_add(cr, j->u->bare)) == NULL)
		return;
	if (ci->sub_from) {
		/* already subscribed: the contact's server confirms at once */
		inbound_subscribed(j, roster_find(USER_ROSTER(j->u), j->contact));
		return;
	}
	if (ci->approved) {
		/* RFC 6121 §3.4: pre-approved */
		ci->sub_from = true;
		ci->approved = false;
		roster_commit(j->cu, ci);
		inbound_subscribed(j, roster_find(USER_ROSTER(j->u), j->contact));
		presence_all(j->cu, j->u, false);
		return;
	}
	if (!ci->ask_in) {
		ci->ask_in = true;
		roster_commit(j->cu, ci);
	}
	forward(j, "subscribe");
}

static void
apply_subscribed(struct sub_job *j, struct roster_item *ui, struct roster *cr)
{
	struct roster_item *ci;

	if (ui->ask_in) {
		ui->sub_from = true;
		ui->ask_in = false;
		ui->visible = true;
		roster_commit(j->u, ui);
		if (j->cu && cr->exists && (ci = roster_find(cr, j->u->bare)) != NULL &&
		    ci->ask_out) {
			ci->sub_to = true;
			ci->ask_out = false;
			roster_commit(j->cu, ci);
			forward(j, "subscribed");
		}
		if (j->cu)
			presence_all(j->u, j->cu, false);
		else if (j->chost < 0) {
			forward(j, "subscribed");
			presence_remote(j->u, j->contact, false);
		}
	} else if (!ui->sub_from && !ui->approved) {
		ui->approved = true;
		ui->visible = true;
		roster_commit(j->u, ui);
	}
}

static void
contact_unsubscribe(struct sub_job *j, struct roster *cr)
{
	struct roster_item *ci;

	if (j->cu == NULL && j->chost < 0) {
		forward(j, "unsubscribe");
		return;
	}
	if (j->cu == NULL || !cr->exists ||
	    (ci = roster_find(cr, j->u->bare)) == NULL || !(ci->sub_from || ci->ask_in))
		return;
	ci->sub_from = ci->ask_in = false;
	roster_commit(j->cu, ci);
	forward(j, "unsubscribe");
	presence_all(j->cu, j->u, true);
}

static void
contact_unsubscribed(struct sub_job *j, struct roster *cr)
{
	struct roster_item *ci;

	if (j->cu == NULL && j->chost < 0) {
		forward(j, "unsubscribed");
		presence_remote(j->u, j->contact, true);
		return;
	}
	if (j->cu == NULL || !cr->exists ||
	    (ci = roster_find(cr, j->u->bare)) == NULL || !(ci->sub_to || ci->ask_out))
		return;
	ci->sub_to = ci->ask_out = false;
	roster_commit(j->cu, ci);
	forward(j, "unsubscribed");
	presence_all(j->u, j->cu, true);
}

static void
sub_apply(struct sub_job *j)
{
	struct roster *ur = USER_ROSTER(j->u), *cr = j->cu ? USER_ROSTER(j->cu) : NULL;
	struct roster_item *ui;
	bool to, from;

	if (ur == NULL || !ur->loaded || (j->cu && (cr == NULL || !cr->loaded))) {
		log_warn("presence: subscription update for %s dropped: roster unavailable",
		    j->u->bare);
		return;
	}
	ui = roster_find(ur, j->contact);
	switch (j->op) {
	case SUB_SUBSCRIBE:
		if (ui == NULL && (ui = roster_add(ur, j->contact)) == NULL)
			return;
		apply_subscribe(j, ui, cr);
		if (j->cu == NULL && j->chost < 0)
			forward(j, "subscribe");
		break;
	case SUB_SUBSCRIBED:
		if (ui == NULL && (ui = roster_add(ur, j->contact)) == NULL)
			return;
		apply_subscribed(j, ui, cr);
		break;
	case SUB_UNSUBSCRIBE:
		if (ui && (ui->sub_to || ui->ask_out)) {
			ui->sub_to = ui->ask_out = false;
			roster_commit(j->u, ui);
		}
		contact_unsubscribe(j, cr);
		break;
	case SUB_UNSUBSCRIBED:
		if (ui && (ui->sub_from || ui->ask_in || ui->approved)) {
			ui->sub_from = ui->ask_in = ui->approved = false;
			roster_commit(j->u, ui);
		}
		contact_unsubscribed(j, cr);
		break;
	case SUB_REMOVE:
		/* RFC 6121 §2.5.2: removal cancels both directions */
		to = ui && (ui->sub_to || ui->ask_out);
		from = ui && (ui->sub_from || ui->ask_in);
		roster_remove(j->u, j->contact);
		if (to)
			contact_unsubscribe(j, cr);
		if (from)
			contact_unsubscribed(j, cr);
		break;
	}
}

static void
contact_ready(void *arg, struct user *cu)
{
	struct sub_job *j = arg;

	(void)cu;
	sub_apply(j);
	job_done(j);
}

static void
own_ready(void *arg, struct user *u)
{
	struct sub_job *j = arg;
	const char *at;
	char local[JID_PART_MAX + 1];

	(void)u;
	at = strchr(j->contact, '@');
	if (j->chost >= 0 && at != NULL && (size_t)(at - j->contact) <= JID_PART_MAX) {
		memcpy(local, j->contact, (size_t)(at - j->contact));
		local[at - j->contact] = '\0';
		if ((j->cu = router_user_get(j->chost, local)) != NULL) {
			roster_load(j->cu, contact_ready, j);
			return;
		}
	}
	sub_apply(j);
	job_done(j);
}

static void
subscription(struct user *u, struct c2s *c, struct xml_node *n, enum subop op,
    const struct jid *to)
{
	struct sub_job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		xml_free(n);
		return;
	}
	j->c = c;
	j->u = u;
	router_user_ref(j->u);
	j->op = op;
	j->n = n;
	jid_bare(to, j->contact, sizeof(j->contact));
	j->chost = to->local[0] ? router_host_index(to->domain) : -1;
	if (c)
		c2s_block(c);
	roster_load(j->u, own_ready, j);
}

static void
roster_removed(struct user *u, struct c2s *c, const char *bare)
{
	struct jid to;

	if (jid_parse(bare, &to) == -1)
		return;
	subscription(u, c, NULL, SUB_REMOVE, &to);
}

void
presence_roster_removed(struct c2s *c, const char *bare)
{
	roster_removed(c->user, c, bare);
}

/*
 * A removed account's contacts lose both directions of their
 * subscriptions, as if the account had removed them from its roster
 * (ejabberd and Prosody do the same), so that nobody's presence goes on
 * to a new account of the same name.  The roster was loaded before the
 * rows went (roster's account_prepare).  JIDs are copied: the jobs
 * change the roster.
 */
static void
presence_account_removed(struct user *u)
{
	struct roster *r = USER_ROSTER(u);
	struct roster_item *it;
	char **jids;
	size_t n = 0;

	if (r == NULL || !r->loaded || r->n == 0 ||
	    (jids = calloc(r->n, sizeof(*jids))) == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		it = &r->items[i];
		if ((it->sub_to || it->sub_from || it->ask_out || it->ask_in) &&
		    (jids[n] = strdup(it->jid)) != NULL)
			n++;
	}
	for (size_t i = 0; i < n; i++) {
		roster_removed(u, NULL, jids[i]);
		free(jids[i]);
	}
	free(jids);
}

/* ---- availability ---- */

static void
initial_ready(void *arg, struct user *u)
{
	struct c2s *c = arg;
	struct roster *r = USER_ROSTER(u);
	struct user *cu;
	struct xml_node *p;

	if (c->dead || c->user == NULL || !c->available) {
		c2s_unblock(c);
		return;
	}
	p = xml_copy(PSESS(c)->presence);
	if (p) {
		xml_set_attr(p, "from", c->full);
		broadcast(c, p);
		xml_free(p);
	}
	if (r && r->loaded) {
		for (size_t i = 0; i < r->n; i++) {
			struct roster_item *it = &r->items[i];

			/* RFC 6121 §4.3.1: a remote contact's server is probed */
			if (it->sub_to && remote_contact(it->jid)) {
				if ((p = sub_stanza("probe", u->bare, it->jid)) != NULL)
					router_route(p);
			} else if (it->sub_to && (cu = router_user_find(it->jid)) != NULL) {
				/* probes, answered locally from the contacts' sessions */
				for (struct c2s *s = cu->sessions; s; s = s->next_session) {
					if (!s->available || (p = xml_copy(PSESS(s)->presence)) == NULL)
						continue;
					xml_set_attr(p, "from", s->full);
					xml_set_attr(p, "to", c->full);
					c2s_send(c, p);
					xml_free(p);
				}
			}
			/* RFC 6121 §3.1.3: pending requests are redelivered */
			if (it->ask_in && (p = sub_stanza("subscribe", it->jid, u->bare))) {
				c2s_send(c, p);
				xml_free(p);
			}
		}
	}
	offline_deliver(c);
	c2s_unblock(c);
}

static void
directed_note(struct c2s *c, const char *to, bool available)
{
	if (available) {
		if (PSESS(c)->directed == NULL && (PSESS(c)->directed = calloc(1, sizeof(*PSESS(c)->directed))) == NULL)
			return;
		if (PSESS(c)->directed->n < 1000)
			hmap_put(PSESS(c)->directed, to, NULL);
	} else if (PSESS(c)->directed) {
		hmap_del(PSESS(c)->directed, to);
	}
}

static void
go_unavailable(struct c2s *c, const struct xml_node *n)
{
	struct xml_node *p;
	struct hmap_ent *e;
	size_t i;

	if (!c->available)
		return;
	c->available = false;
	broadcast(c, n);
	if (PSESS(c)->directed) {
		for (e = hmap_first(PSESS(c)->directed, &i); e; e = hmap_next(PSESS(c)->directed, e, &i)) {
			if ((p = sub_stanza("unavailable", c->full, e->key)) != NULL)
				router_route(p);
		}
		hmap_free(PSESS(c)->directed);
		free(PSESS(c)->directed);
		PSESS(c)->directed = NULL;
	}
	xml_free(PSESS(c)->presence);
	PSESS(c)->presence = NULL;
}

static void
presence_session_end(struct c2s *c)
{
	struct xml_node *p;

	if (!c->available)
		return;
	if ((p = xml_new("presence", NS_CLIENT)) == NULL)
		return;
	xml_set_attr(p, "type", "unavailable");
	xml_set_attr(p, "from", c->full);
	go_unavailable(c, p);
	xml_free(p);
}

static void
available(struct c2s *c, struct xml_node *n)
{
	struct xml_node *pr = xml_child(n, "priority", NS_CLIENT), *keep;
	long prio = 0;
	char *t;

	if (pr && (t = xml_text(pr)) != NULL) {
		prio = strtol(t, NULL, 10);
		free(t);
		if (prio < -128)
			prio = -128;
		if (prio > 127)
			prio = 127;
	}
	c->priority = (int)prio;
	vcard_presence(c, n);
	if (hooks_any(EV_PRESENCE_AVAILABLE)) {
		struct hook_args a = { .c = c, .n = n };

		(void)hooks_run(EV_PRESENCE_AVAILABLE, &a);
	}
	if ((keep = xml_copy(n)) != NULL) {
		xml_del_attr(keep, "from");
		xml_del_attr(keep, "to");
		xml_free(PSESS(c)->presence);
		PSESS(c)->presence = keep;
	}
	if (!PSESS(c)->initial) {
		PSESS(c)->initial = true;
		c->available = true;
		c2s_block(c);
		roster_load(c->user, initial_ready, c);
		xml_free(n);
		return;
	}
	c->available = true;
	broadcast(c, n);
	xml_free(n);
}

static void
presence_from_client(struct c2s *c, struct xml_node *n)
{
	const char *type = stanza_type(n);
	struct jid to;
	char bare[2 * JID_PART_MAX + 2];

	if (stanza_jid(n, "to", &to) != 1) {
		if (type[0] == '\0') {
			available(c, n);
			return;
		}
		if (strcmp(type, "unavailable") == 0) {
			struct xml_node *st = xml_child(n, "status", NS_CLIENT);

			free(PSESS(c)->last_status);
			PSESS(c)->last_status = st ? xml_text(st) : NULL;
			go_unavailable(c, n);
		}
		xml_free(n);
		return;
	}
	if (strcmp(type, "subscribe") == 0 || strcmp(type, "subscribed") == 0 ||
	    strcmp(type, "unsubscribe") == 0 || strcmp(type, "unsubscribed") == 0) {
		jid_bare(&to, bare, sizeof(bare));
		if (strcmp(bare, c->user->bare) == 0 || to.local[0] == '\0') {
			xml_free(n);	/* no subscriptions to oneself or servers */
			return;
		}
		subscription(c->user, c, n, strcmp(type, "subscribe") == 0 ? SUB_SUBSCRIBE :
		    strcmp(type, "subscribed") == 0 ? SUB_SUBSCRIBED :
		    strcmp(type, "unsubscribe") == 0 ? SUB_UNSUBSCRIBE : SUB_UNSUBSCRIBED, &to);
		return;
	}
	if (strcmp(type, "probe") == 0) {
		xml_free(n);
		return;
	}
	/* directed presence (RFC 6121 §4.6); MUC joins carry the avatar hash
	 * too (XEP-0398 §4) */
	if (type[0] == '\0' || strcmp(type, "unavailable") == 0)
		directed_note(c, xml_attr(n, "to"), type[0] == '\0');
	if (type[0] == '\0')
		vcard_presence(c, n);
	router_route(n);
}

/* ---- from remote contacts (RFC 6121 §3, contact's server side) ---- */

static void
inbound_apply(struct sub_job *j, const char *type)
{
	struct roster *ur = USER_ROSTER(j->u);
	struct roster_item *ui;

	if (ur == NULL || !ur->loaded)
		return;
	ui = roster_find(ur, j->contact);
	if (strcmp(type, "probe") == 0) {
		/* §4.3.2: answered for a contact with a 'from' subscription */
		if (ui && ui->sub_from)
			presence_remote(j->u, j->contact, false);
	} else if (!ur->exists) {
		/* §3.1.3: no such user */
		if (strcmp(type, "subscribe") == 0)
			route_new(sub_stanza("unsubscribed", j->u->bare, j->contact));
	} else if (strcmp(type, "subscribe") == 0) {
		if (ui && ui->sub_from) {
			route_new(sub_stanza("subscribed", j->u->bare, j->contact));
		} else if (ui && ui->approved) {
			ui->sub_from = true;
			ui->approved = false;
			roster_commit(j->u, ui);
			route_new(sub_stanza("subscribed", j->u->bare, j->contact));
			presence_remote(j->u, j->contact, false);
		} else if (ui || (ui = roster_add(ur, j->contact)) != NULL) {
			if (!ui->ask_in) {
				ui->ask_in = true;
				roster_commit(j->u, ui);
			}
			/* offline: redelivered at login (initial_ready) */
			send_all(j->u, sub_stanza("subscribe", j->contact, j->u->bare));
		}
	} else if (strcmp(type, "subscribed") == 0) {
		inbound_subscribed(j, ui);
	} else if (strcmp(type, "unsubscribe") == 0) {
		if (ui && (ui->sub_from || ui->ask_in)) {
			ui->sub_from = ui->ask_in = false;
			roster_commit(j->u, ui);
			send_all(j->u, sub_stanza("unsubscribe", j->contact, j->u->bare));
		}
	} else if (strcmp(type, "unsubscribed") == 0) {
		if (ui && (ui->sub_to || ui->ask_out)) {
			ui->sub_to = ui->ask_out = false;
			roster_commit(j->u, ui);
			send_all(j->u, sub_stanza("unsubscribed", j->contact, j->u->bare));
		}
	}
}

static void
inbound_ready(void *arg, struct user *u)
{
	struct sub_job *j = arg;

	(void)u;
	inbound_apply(j, stanza_type(j->n));
	job_done(j);
}

/* A subscription stanza or probe from a remote entity to a local account. */
static void
inbound(struct xml_node *n, const struct jid *to, int host)
{
	struct sub_job *j;
	struct jid from;

	if (stanza_jid(n, "from", &from) != 1 || from.local[0] == '\0' ||
	    (j = calloc(1, sizeof(*j))) == NULL) {
		xml_free(n);
		return;
	}
	if ((j->u = router_user_get(host, to->local)) == NULL) {
		free(j);
		xml_free(n);
		return;
	}
	j->n = n;
	j->chost = -1;
	jid_bare(&from, j->contact, sizeof(j->contact));
	roster_load(j->u, inbound_ready, j);
}

static void
presence_deliver(struct xml_node *n, const struct jid *to, int host)
{
	char bare[2 * JID_PART_MAX + 2];
	const char *type = stanza_type(n);
	const char *from = xml_attr(n, "from");
	struct user *u;
	struct c2s *s;

	if (to->local[0] && from && remote_contact(from) &&
	    (strcmp(type, "subscribe") == 0 || strcmp(type, "subscribed") == 0 ||
	    strcmp(type, "unsubscribe") == 0 || strcmp(type, "unsubscribed") == 0 ||
	    strcmp(type, "probe") == 0)) {
		inbound(n, to, host);
		return;
	}
	if (to->local[0] == '\0' || (type[0] && strcmp(type, "unavailable") != 0 &&
	    strcmp(type, "error") != 0)) {
		xml_free(n);
		return;
	}
	if ((u = router_user_find(jid_bare(to, bare, sizeof(bare)))) != NULL) {
		if (to->resource[0]) {
			if ((s = router_session(u, to->resource)) != NULL)
				c2s_send(s, n);
		} else {
			router_send_available(u, n, false);
		}
	}
	xml_free(n);
}

static enum hook_rc
out_hook(struct hook_args *a)
{
	presence_from_client(a->c, a->n);
	return HOOK_TAKEN;
}

static enum hook_rc
in_hook(struct hook_args *a)
{
	presence_deliver(a->n, a->to, a->host);
	return HOOK_TAKEN;
}

static void
presence_session_free(struct c2s *c)
{
	struct presence_sess *p = PSESS(c);

	xml_free(p->presence);
	free(p->last_status);
	if (p->directed) {
		hmap_free(p->directed);
		free(p->directed);
	}
	memset(p, 0, sizeof(*p));
}

static const struct hook hooks[] = {
	{ EV_PRESENCE_OUT, 0, out_hook },
	{ EV_PRESENCE_IN, 0, in_hook },
	{ EV_MAX, 0, NULL },
};

struct module presence_module = {
	.name = "presence",
	.folder = "im",
	.hooks = hooks,
	.session_size = sizeof(struct presence_sess),
	.session_unbound = presence_session_end,
	.session_free = presence_session_free,
	.account_removed = presence_account_removed,
};
