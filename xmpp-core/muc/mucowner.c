/*
 * mucowner — IQs to a room's bare JID: its disco#info (the muc_*
 * features and the muc#roominfo form, XEP-0045 §6.4), its disco#items,
 * and the owner's muc#owner requests: the muc#roomconfig form (§10.1.3,
 * §10.2), cancelling a creation (§10.1.3) and destroying the room
 * (§10.9).  A submitted form is checked whole before anything of it is
 * applied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "form.h"
#include "mucconf.h"
#include "mucint.h"
#include "mucmam.h"
#include "mucroom.h"
#include "mucstore.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

static const unsigned maxusers_opts[] = { 10, 20, 30, 50, 100, 200, 500, 1000,
    5000, 10000, 0 };
static const char *const pm_names[] = { "anyone", "participants", "moderators",
    "none" };

static void
iq_err(struct xml_node *n, const char *type, const char *cond)
{
	stanza_bounce(n, type, cond);
	xml_free(n);
}

static void
option(struct xml_node *f, const char *label, const char *value)
{
	struct xml_node *o = xml_add(f, "option", NULL);

	if (o == NULL)
		return;
	xml_set_attr(o, "label", label);
	xml_add_with_text(o, "value", NULL, value);
}

static const char *
b(bool v)
{
	return v ? "1" : "0";
}

static void
config_form(const struct muc_room *r, struct xml_node *q)
{
	const struct muc_config *mc = muc_cfg();
	struct xml_node *x = xml_add(q, "x", NS_XDATA), *f;
	char num[16];

	if (x == NULL)
		return;
	xml_set_attr(x, "type", "form");
	xml_add_with_text(x, "title", NULL, "Room configuration");
	form_field(x, "FORM_TYPE", "hidden", NULL, NS_MUC_CONFIG);
	form_field(x, "muc#roomconfig_roomname", "text-single", "Name", r->cfg.name);
	form_field(x, "muc#roomconfig_roomdesc", "text-single", "Description", r->cfg.desc);
	form_field(x, "muc#roomconfig_lang", "text-single", "Natural language (en, de ...)",
	    r->cfg.lang);
	form_field(x, "muc#roomconfig_persistentroom", "boolean",
	    "Kept when empty", b(r->cfg.persistent));
	form_field(x, "muc#roomconfig_publicroom", "boolean", "Listed in the directory",
	    b(r->cfg.public_));
	form_field(x, "muc#roomconfig_membersonly", "boolean", "Members only",
	    b(r->cfg.members_only));
	form_field(x, "muc#roomconfig_moderatedroom", "boolean", "Moderated",
	    b(r->cfg.moderated));
	form_field(x, "muc#roomconfig_passwordprotectedroom", "boolean",
	    "Password required", b(r->cfg.password_protected));
	form_field(x, "muc#roomconfig_roomsecret", "text-private", "Password",
	    r->cfg.password);
	snprintf(num, sizeof(num), "%u", r->cfg.max_users);
	if ((f = form_field(x, "muc#roomconfig_maxusers", "list-single",
	    "Maximum number of occupants", num)) != NULL) {
		for (const unsigned *o = maxusers_opts; *o && *o <= mc->max_occupants; o++) {
			snprintf(num, sizeof(num), "%u", *o);
			option(f, num, num);
		}
	}
	if ((f = form_field(x, "muc#roomconfig_whois", "list-single",
	    "Who may see real JIDs", r->cfg.whois_anyone ? "anyone" :
	    "moderators")) != NULL) {
		option(f, "Moderators only", "moderators");
		option(f, "Anyone", "anyone");
	}
	if ((f = form_field(x, "muc#roomconfig_allowpm", "list-single",
	    "Who may send private messages", pm_names[r->cfg.allow_pm])) != NULL) {
		option(f, "Anyone", "anyone");
		option(f, "Participants", "participants");
		option(f, "Moderators", "moderators");
		option(f, "Nobody", "none");
	}
	form_field(x, "muc#roomconfig_allowinvites", "boolean",
	    "Occupants may invite others", b(r->cfg.allow_invites));
	form_field(x, "muc#roomconfig_changesubject", "boolean",
	    "Occupants may change the subject", b(r->cfg.change_subject));
	/* ejabberd's name (what clients look for); Prosody's is accepted */
	form_field(x, "mam", "boolean", "Archive messages (persistent rooms)",
	    b(r->cfg.archive));
	if ((f = form_field(x, "muc#roomconfig_presencebroadcast", "list-multi",
	    "Roles whose presence is broadcast", NULL)) != NULL) {
		/* the values, then the options (XEP-0004's schema order) */
		for (int k = MUC_ROLE_MODERATOR; k >= MUC_ROLE_VISITOR; k--)
			if (r->cfg.presence_broadcast & (1u << k))
				xml_add_with_text(f, "value", NULL,
				    muc_role_name((enum muc_role)k));
		for (int k = MUC_ROLE_MODERATOR; k >= MUC_ROLE_VISITOR; k--)
			option(f, k == MUC_ROLE_MODERATOR ? "Moderator" :
			    k == MUC_ROLE_PARTICIPANT ? "Participant" : "Visitor",
			    muc_role_name((enum muc_role)k));
	}
}

/* An RFC 5646 language tag as far as its syntax goes: subtags of 1-8
 * letters or digits, the first letters only. */
static bool
lang_ok(const char *v)
{
	size_t run = 0;
	bool first = true;

	if (strlen(v) >= sizeof(((struct muc_roomcfg *)0)->lang))
		return false;
	for (const char *p = v; ; p++) {
		if (*p == '-' || *p == '\0') {
			if (run == 0 || run > 8)
				return false;
			if (*p == '\0')
				return true;
			run = 0;
			first = false;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (!first && *p >= '0' && *p <= '9')) {
			run++;
		} else {
			return false;
		}
	}
}

/* The roles of a muc#roomconfig_presencebroadcast field: -1 if unknown. */
static int
parse_broadcast(const struct xml_node *f, unsigned *out)
{
	unsigned m = 0;

	for (const struct xml_node *v = xml_first_elem(f); v; v = xml_next_elem(v)) {
		char *t;
		int k, got = -1;

		if (strcmp(v->name, "value") != 0)
			continue;
		if ((t = xml_text(v)) == NULL)
			return -1;
		for (k = MUC_ROLE_VISITOR; k <= MUC_ROLE_MODERATOR; k++)
			if (strcmp(t, muc_role_name((enum muc_role)k)) == 0)
				got = k;
		free(t);
		if (got < 0)
			return -1;
		m |= 1u << got;
	}
	*out = m;
	return 0;
}

static int
parse_bool(const char *v, bool *out)
{
	if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
		*out = true;
	else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

static int
set_str(char **dst, const char *v, size_t max)
{
	char *s;

	if (strlen(v) > max)
		return -1;
	if (v[0] == '\0') {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if ((s = strdup(v)) == NULL)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

/* One submitted field into c: 0, or -1 when its value is not acceptable. */
static int
apply_field(struct muc_roomcfg *c, const char *var, const char *v)
{
	const struct muc_config *mc = muc_cfg();
	char *end;
	unsigned long n;

	if (strcmp(var, "muc#roomconfig_roomname") == 0)
		return set_str(&c->name, v, mc->max_name);
	if (strcmp(var, "muc#roomconfig_roomdesc") == 0)
		return set_str(&c->desc, v, mc->max_description);
	if (strcmp(var, "muc#roomconfig_roomsecret") == 0)
		return set_str(&c->password, v, mc->max_password);
	if (strcmp(var, "muc#roomconfig_lang") == 0) {
		if (v[0] && !lang_ok(v))
			return -1;
		snprintf(c->lang, sizeof(c->lang), "%s", v);
		return 0;
	}
	if (strcmp(var, "muc#roomconfig_persistentroom") == 0)
		return parse_bool(v, &c->persistent);
	if (strcmp(var, "muc#roomconfig_publicroom") == 0)
		return parse_bool(v, &c->public_);
	if (strcmp(var, "muc#roomconfig_membersonly") == 0)
		return parse_bool(v, &c->members_only);
	if (strcmp(var, "muc#roomconfig_moderatedroom") == 0)
		return parse_bool(v, &c->moderated);
	if (strcmp(var, "muc#roomconfig_passwordprotectedroom") == 0)
		return parse_bool(v, &c->password_protected);
	if (strcmp(var, "muc#roomconfig_allowinvites") == 0)
		return parse_bool(v, &c->allow_invites);
	if (strcmp(var, "muc#roomconfig_changesubject") == 0)
		return parse_bool(v, &c->change_subject);
	if (strcmp(var, "mam") == 0 ||
	    strcmp(var, "muc#roomconfig_enablearchiving") == 0)
		return parse_bool(v, &c->archive);
	if (strcmp(var, "muc#roomconfig_maxusers") == 0) {
		n = strtoul(v, &end, 10);
		if (v[0] < '0' || v[0] > '9' || *end || n < 1 || n > mc->max_occupants)
			return -1;
		c->max_users = (unsigned)n;
		return 0;
	}
	if (strcmp(var, "muc#roomconfig_whois") == 0) {
		if (strcmp(v, "anyone") == 0)
			c->whois_anyone = true;
		else if (strcmp(v, "moderators") == 0)
			c->whois_anyone = false;
		else
			return -1;
		return 0;
	}
	if (strcmp(var, "muc#roomconfig_allowpm") == 0) {
		for (int i = 0; i < 4; i++) {
			if (strcmp(v, pm_names[i]) == 0) {
				c->allow_pm = (enum muc_pm)i;
				return 0;
			}
		}
		return -1;
	}
	return 0;	/* FORM_TYPE and fields this service does not offer */
}

static void
cfg_free(struct muc_roomcfg *c)
{
	free(c->name);
	free(c->desc);
	free(c->password);
}

static int
cfg_dup(struct muc_roomcfg *dst, const struct muc_roomcfg *src)
{
	*dst = *src;
	dst->name = src->name ? strdup(src->name) : NULL;
	dst->desc = src->desc ? strdup(src->desc) : NULL;
	dst->password = src->password ? strdup(src->password) : NULL;
	if ((src->name && !dst->name) || (src->desc && !dst->desc) ||
	    (src->password && !dst->password)) {
		cfg_free(dst);
		return -1;
	}
	return 0;
}

/* §10.2.1: 104 to everyone, with 172/173 when anonymity changed and
 * 170/171 when archiving did. */
static void
announce_change(struct muc_room *r, bool was_anyone, bool was_logged)
{
	struct xml_node *m = xml_new("message", NS_CLIENT), *x;

	if (m == NULL || (x = xml_add(m, "x", NS_MUC_USER)) == NULL) {
		xml_free(m);
		return;
	}
	xml_set_attr(m, "type", "groupchat");
	xml_set_attr(m, "from", r->jid);
	xml_set_attr(xml_add(x, "status", NULL), "code", "104");
	if (was_anyone != r->cfg.whois_anyone)
		xml_set_attr(xml_add(x, "status", NULL), "code",
		    r->cfg.whois_anyone ? "172" : "173");
	if (was_logged != mucmam_on(r))
		xml_set_attr(xml_add(x, "status", NULL), "code",
		    mucmam_on(r) ? "170" : "171");
	mucroom_fanout(r, m, NULL);
	xml_free(m);
}

/* A checked configuration takes effect (c is taken); was_logged:
 * whether the room archived before. */
static void
apply(struct muc_room *r, struct muc_roomcfg *c, bool was_logged)
{
	bool was_locked = r->locked, was_anyone = r->cfg.whois_anyone;

	cfg_free(&r->cfg);
	r->cfg = *c;
	r->locked = false;
	if (!was_locked)
		announce_change(r, was_anyone, was_logged);
	/* members only now excludes who is not a member (322, §9.4) */
	if (r->cfg.members_only) {
		struct muc_occ *o = r->occs, *next;

		for (; o; o = next) {
			next = o->next;
			if (o->aff < MUC_AFF_MEMBER)
				mucpres_remove(r, o, 322, NULL);
		}
		mucroom_release(r);
	}
}

struct pending {
	struct xml_node *iq;
	struct muc_roomcfg c;
	char jid[];
};

static void
saved(void *arg, int rc)
{
	struct pending *p = arg;
	struct muc_room *r = mucroom_find(p->jid);
	struct xml_node *res;

	if (rc != 0) {
		cfg_free(&p->c);
		stanza_bounce(p->iq, "wait", rc == 1 ? "resource-constraint" :
		    "internal-server-error");
	} else {
		if ((res = stanza_iq_result(p->iq)) != NULL)
			router_route(res);
		if (r) {
			bool was_logged = mucmam_on(r);

			r->stored = true;
			apply(r, &p->c, was_logged);
		} else {
			cfg_free(&p->c);
		}
	}
	xml_free(p->iq);
	free(p);
}

static void
submit(struct muc_room *r, struct xml_node *n, const struct xml_node *x)
{
	struct muc_roomcfg c;
	struct xml_node *f, *v, *res;
	char *val;
	int bad = 0;
	bool was_logged;

	if (cfg_dup(&c, &r->cfg) == -1) {
		iq_err(n, "wait", "resource-constraint");
		return;
	}
	for (f = xml_first_elem(x); f && !bad; f = xml_next_elem(f)) {
		const char *var = xml_attr(f, "var");

		if (strcmp(f->name, "field") != 0 || var == NULL)
			continue;
		if (strcmp(var, "muc#roomconfig_presencebroadcast") == 0) {
			bad = parse_broadcast(f, &c.presence_broadcast) == -1;
			continue;
		}
		v = xml_child(f, "value", NULL);
		if ((val = v ? xml_text(v) : strdup("")) == NULL) {
			bad = 1;
			break;
		}
		bad = apply_field(&c, var, val) == -1;
		free(val);
	}
	if (!bad && c.password_protected && c.password == NULL)
		bad = 1;	/* a password room needs its password */
	if (bad) {
		cfg_free(&c);
		iq_err(n, "modify", "not-acceptable");
		return;
	}
	if (c.persistent) {
		/* the owner hears back once the room is stored */
		size_t len = strlen(r->jid) + 1;
		struct pending *p = malloc(sizeof(*p) + len);

		if (p == NULL) {
			cfg_free(&c);
			iq_err(n, "wait", "resource-constraint");
			return;
		}
		p->iq = n;
		p->c = c;
		memcpy(p->jid, r->jid, len);
		if (mucstore_save(r, &p->c, saved, p) == -1) {
			cfg_free(&p->c);
			free(p);
			iq_err(n, "wait", "resource-constraint");
		}
		return;
	}
	was_logged = mucmam_on(r);
	if (r->stored) {
		mucstore_delete(r->jid);	/* now temporary */
		r->stored = false;
	}
	if ((res = stanza_iq_result(n)) != NULL)
		router_route(res);
	xml_free(n);
	apply(r, &c, was_logged);
}

int
mucowner_destroy(struct muc_room *r, const char *alt, const char *reason)
{
	struct xml_node *dx = xml_new("destroy", NS_MUC_USER);

	if (dx == NULL)
		return -1;
	if (alt)
		xml_set_attr(dx, "jid", alt);
	if (reason && reason[0])
		xml_add_with_text(dx, "reason", NULL, reason);
	if (r->stored)
		mucstore_delete(r->jid);
	mucroom_destroy(r, dx);
	xml_free(dx);
	return 0;
}

static void
destroy(struct muc_room *r, struct xml_node *n, const struct xml_node *d)
{
	const char *alt = xml_attr(d, "jid");
	struct xml_node *res, *reason;
	char *t = NULL;
	struct jid j;
	int rc;

	if (alt && jid_parse(alt, &j) == -1) {
		iq_err(n, "modify", "jid-malformed");
		return;
	}
	if ((reason = xml_child(d, "reason", NULL)) != NULL &&
	    (t = xml_text(reason)) != NULL && strlen(t) > muc_cfg()->max_description) {
		free(t);
		t = NULL;
	}
	rc = mucowner_destroy(r, alt, t);
	free(t);
	if (rc == -1) {
		iq_err(n, "wait", "resource-constraint");
		return;
	}
	if ((res = stanza_iq_result(n)) != NULL)
		router_route(res);
	xml_free(n);
}

static bool
from_owner(const struct muc_room *r, const struct xml_node *n)
{
	const char *from = xml_attr(n, "from");
	char bare[2 * JID_PART_MAX + 2];
	struct jid j;

	return from && jid_parse(from, &j) == 0 &&
	    mucroom_aff(r, jid_bare(&j, bare, sizeof(bare))) == MUC_AFF_OWNER;
}

static void
owner(struct muc_room *r, struct xml_node *n, struct xml_node *q, bool get)
{
	const char *from = xml_attr(n, "from");
	struct xml_node *x, *res, *d;
	struct jid j;
	char bare[2 * JID_PART_MAX + 2];

	if (from == NULL || jid_parse(from, &j) == -1 ||
	    mucroom_aff(r, jid_bare(&j, bare, sizeof(bare))) != MUC_AFF_OWNER) {
		iq_err(n, "auth", "forbidden");
		return;
	}
	if (get) {
		if ((res = stanza_iq_result(n)) == NULL ||
		    (d = xml_add(res, "query", NS_MUC_OWNER)) == NULL) {
			xml_free(res);
			iq_err(n, "wait", "resource-constraint");
			return;
		}
		config_form(r, d);
		router_route(res);
		xml_free(n);
		return;
	}
	if ((d = xml_child(q, "destroy", NULL)) != NULL) {
		destroy(r, n, d);
		return;
	}
	if ((x = xml_child(q, "x", NS_XDATA)) == NULL) {
		iq_err(n, "modify", "bad-request");
		return;
	}
	if (xml_attr(x, "type") && strcmp(xml_attr(x, "type"), "cancel") == 0) {
		/* §10.1.3: cancelling the initial configuration destroys it */
		if ((res = stanza_iq_result(n)) != NULL)
			router_route(res);
		xml_free(n);
		if (r->locked)
			mucroom_destroy(r, NULL);
		return;
	}
	if (xml_attr(x, "type") == NULL || strcmp(xml_attr(x, "type"), "submit") != 0) {
		iq_err(n, "modify", "bad-request");
		return;
	}
	submit(r, n, x);
}

static void
info(struct muc_room *r, struct xml_node *n)
{
	const struct muc_roomcfg *c = &r->cfg;
	struct xml_node *res = stanza_iq_result(n), *q, *id, *x;
	const char *feat[] = {
		"http://jabber.org/protocol/disco#info", NS_MUC, NS_OCCUPANT_ID, NS_SID,
		"vcard-temp",
		c->public_ ? "muc_public" : "muc_hidden",
		c->persistent ? "muc_persistent" : "muc_temporary",
		c->members_only ? "muc_membersonly" : "muc_open",
		c->moderated ? "muc_moderated" : "muc_unmoderated",
		c->whois_anyone ? "muc_nonanonymous" : "muc_semianonymous",
		c->password_protected ? "muc_passwordprotected" : "muc_unsecured",
	};
	char num[16];

	if (res == NULL || (q = xml_add(res, "query", NS_DISCO_INFO)) == NULL) {
		xml_free(res);
		iq_err(n, "wait", "resource-constraint");
		return;
	}
	if ((id = xml_add(q, "identity", NULL)) != NULL) {
		xml_set_attr(id, "category", "conference");
		xml_set_attr(id, "type", "text");
		xml_set_attr(id, "name", c->name ? c->name : r->local);
	}
	for (size_t i = 0; i < sizeof(feat) / sizeof(feat[0]); i++)
		xml_set_attr(xml_add(q, "feature", NULL), "var", feat[i]);
	mucmam_features(r, q);
	if ((x = xml_add(q, "x", NS_XDATA)) != NULL) {
		xml_set_attr(x, "type", "result");
		form_field(x, "FORM_TYPE", "hidden", NULL, NS_MUC_INFO);
		form_field(x, "muc#roominfo_description", NULL, "Description",
		    c->desc ? c->desc : "");
		snprintf(num, sizeof(num), "%u", r->nocc);
		form_field(x, "muc#roominfo_occupants", NULL, "Number of occupants", num);
		form_field(x, "muc#roominfo_subject", NULL, "Subject",
		    r->subject ? r->subject : "");
		if (c->lang[0])
			form_field(x, "muc#roominfo_lang", NULL, "Natural language",
			    c->lang);
		form_field(x, "muc#roomconfig_changesubject", NULL,
		    "Occupants may change the subject", b(c->change_subject));
		if (r->avatar[0])	/* XEP-0486 */
			form_field(x, "muc#roominfo_avatarhash", "text-multi", "Avatar hash",
			    r->avatar);
	}
	router_route(res);
	xml_free(n);
}

void
mucowner_iq(struct muc_room *r, struct xml_node *n)
{
	struct xml_node *q = xml_first_elem(n), *res;
	const char *type = stanza_type(n);
	bool get = strcmp(type, "get") == 0;

	if (!get && strcmp(type, "set") != 0) {
		xml_free(n);	/* results and errors: nothing was asked */
		return;
	}
	if (q == NULL || xml_next_elem(q) != NULL) {
		iq_err(n, "modify", "bad-request");
		return;
	}
	/* a locked room (§10.1.2) exists for its owner only, who may look
	 * at it and configure it */
	if (r == NULL || (r->locked && !from_owner(r, n))) {
		iq_err(n, "cancel", "item-not-found");
		return;
	}
	if (get && xml_is(q, "query", NS_DISCO_INFO) && xml_attr(q, "node") == NULL) {
		info(r, n);
	} else if (get && xml_is(q, "query", NS_DISCO_ITEMS) && xml_attr(q, "node") == NULL) {
		/* occupants are not listed: §6.5 lets a room keep them private */
		if ((res = stanza_iq_result(n)) != NULL) {
			xml_add(res, "query", NS_DISCO_ITEMS);
			router_route(res);
		}
		xml_free(n);
	} else if (xml_is(q, "query", NS_MUC_OWNER)) {
		owner(r, n, q, get);
	} else if (xml_is(q, "query", NS_MUC "#admin")) {
		mucadmin_iq(r, n, q);
	} else if (xml_is(q, "vCard", "vcard-temp")) {
		mucvcard_iq(r, n, q);
	} else if (mucmam_iq(r, n, q) || mucmod_iq(r, n, q)) {
		/* archive queries, moderation: taken */
	} else {
		iq_err(n, "cancel", "service-unavailable");
	}
}
