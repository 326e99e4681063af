/*
 * mucvoice — voice requests in moderated rooms (XEP-0045 §7.13, §8.6):
 * a visitor submits the muc#request form, the room hands an approval
 * form to every moderator, and a moderator who submits it with
 * muc#request_allow makes the visitor a participant.  One request per
 * occupant is outstanding at a time, so a visitor cannot flood the
 * moderators through the room.
 */
#include <stdlib.h>
#include <string.h>

#include "mucint.h"
#include "form.h"
#include "mucnick.h"
#include "mucroom.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define NS_MUC_REQUEST	NS_MUC "#request"

/* The value of a form field, malloc'd, or NULL. */
static char *
value(const struct xml_node *x, const char *var)
{
	for (const struct xml_node *f = xml_first_elem(x); f; f = xml_next_elem(f)) {
		const char *v = xml_attr(f, "var");
		const struct xml_node *val;

		if (strcmp(f->name, "field") == 0 && v && strcmp(v, var) == 0)
			return (val = xml_child(f, "value", NULL)) ? xml_text(val) : NULL;
	}
	return NULL;
}

static bool
value_is(const struct xml_node *x, const char *var, const char *want)
{
	char *v = value(x, var);
	bool eq = v && strcmp(v, want) == 0;

	free(v);
	return eq;
}

static bool
is_moderator(const struct muc_occ *o, void *arg)
{
	(void)arg;
	return o->role == MUC_ROLE_MODERATOR;
}

/* §7.13: the request, as an approval form to the moderators. */
static void
request(struct muc_room *r, struct muc_occ *o)
{
	struct xml_node *m, *x;

	if (o->role != MUC_ROLE_VISITOR || o->voice_requested)
		return;		/* nothing to ask for, or already asked */
	if ((m = xml_new("message", NS_CLIENT)) == NULL ||
	    (x = xml_add(m, "x", NS_XDATA)) == NULL) {
		xml_free(m);
		return;
	}
	o->voice_requested = true;
	xml_set_attr(m, "from", r->jid);
	xml_set_attr(x, "type", "form");
	xml_add_with_text(x, "title", NULL, "Voice request");
	form_field(x, "FORM_TYPE", "hidden", NULL, NS_MUC_REQUEST);
	form_field(x, "muc#role", "list-single", "Requested role", "participant");
	form_field(x, "muc#jid", "jid-single", "User ID", o->bare);
	form_field(x, "muc#roomnick", "text-single", "Room nickname", o->nick);
	form_field(x, "muc#request_allow", "boolean", "Grant voice?", "false");
	mucroom_fanout_if(r, m, is_moderator, NULL);
	xml_free(m);
}

/* §8.6: a moderator's answer. */
static void
approval(struct muc_room *r, struct muc_occ *mod, struct xml_node *n,
    const struct xml_node *x)
{
	char *nick = value(x, "muc#roomnick"), key[JID_PART_MAX + 1];
	struct muc_occ *o = NULL;

	if (mod->role != MUC_ROLE_MODERATOR) {
		free(nick);
		stanza_bounce(n, "auth", "forbidden");
		return;
	}
	if (nick && mucnick_key(nick, key, sizeof(key)) >= 0)
		o = mucroom_occ_by_nick(r, key);
	free(nick);
	if (o == NULL) {
		stanza_bounce(n, "cancel", "item-not-found");
		return;
	}
	o->voice_requested = false;
	if ((value_is(x, "muc#request_allow", "true") ||
	    value_is(x, "muc#request_allow", "1")) && o->role == MUC_ROLE_VISITOR) {
		o->role = MUC_ROLE_PARTICIPANT;
		mucpres_broadcast(r, o, NULL);
	}
}

bool
mucvoice_message(struct muc_room *r, struct muc_sess *s, struct xml_node *n)
{
	const struct xml_node *x = xml_child(n, "x", NS_XDATA);
	const char *type = x ? xml_attr(x, "type") : NULL;

	if (x == NULL || type == NULL || strcmp(type, "submit") != 0 ||
	    !value_is(x, "FORM_TYPE", NS_MUC_REQUEST))
		return false;
	if (value_is(x, "muc#request_allow", "true") ||
	    value_is(x, "muc#request_allow", "1") ||
	    value_is(x, "muc#request_allow", "false") ||
	    value_is(x, "muc#request_allow", "0"))
		approval(r, s->occ, n, x);
	else if (value_is(x, "muc#role", "participant"))
		request(r, s->occ);
	else
		stanza_bounce(n, "modify", "bad-request");
	xml_free(n);
	return true;
}
