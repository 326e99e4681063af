/*
 * carbons — XEP-0280 Message Carbons.  See carbons.h.
 */
#include "carbons.h"

#include <string.h>

#include "c2s.h"
#include "iq.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define NS_HINTS "urn:xmpp:hints"

extern struct module carbons_module;

/* whether the session enabled carbons */
#define ENABLED(c) (*(bool *)c2s_priv((c), &carbons_module))

static bool
carbons_iq(struct iq_req *r)
{
	struct c2s *c = r->c;

	if (strcmp(stanza_type(r->iq), "set") != 0) {
		iq_error(c, r->iq, "modify", "bad-request");
	} else {
		ENABLED(c) = strcmp(r->q->name, "enable") == 0;
		iq_reply(c, stanza_iq_result(r->iq));
	}
	xml_free(r->iq);
	return true;
}

/* Bind2 inline (XEP-0386 §3.2): <enable/> before the session starts. */
static void
carbons_inline(struct c2s *c, struct xml_node *n)
{
	if (strcmp(n->name, "enable") == 0)
		ENABLED(c) = true;
	xml_free(n);
}

bool
carbons_eligible(const struct xml_node *n)
{
	const char *type = stanza_type(n);

	if (xml_child(n, "private", NS_CARBONS) ||
	    xml_child(n, "no-copy", NS_HINTS) ||
	    xml_child(n, "sent", NS_CARBONS) ||
	    xml_child(n, "received", NS_CARBONS))
		return false;
	if (strcmp(type, "chat") == 0)
		return true;
	if (type[0] != '\0' && strcmp(type, "normal") != 0)
		return false;
	/* normal messages with a body, receipts or chat markers */
	return xml_child(n, "body", NS_CLIENT) != NULL ||
	    xml_child(n, NULL, "urn:xmpp:receipts") != NULL ||
	    xml_child(n, NULL, "urn:xmpp:chat-markers:0") != NULL;
}

/* <message from=bare to=full type=...><kind><forwarded>n</forwarded></kind> */
static void
send_copy(struct c2s *s, const char *kind, const struct xml_node *n)
{
	struct xml_node *m, *w, *f, *self = (struct xml_node *)n, *next;
	const char *type = xml_attr(n, "type");

	if ((m = xml_new("message", NS_CLIENT)) == NULL)
		return;
	if (xml_set_attr(m, "from", s->user->bare) == -1 ||
	    xml_set_attr(m, "to", s->full) == -1 ||
	    (type && xml_set_attr(m, "type", type) == -1) ||
	    (w = xml_add(m, kind, NS_CARBONS)) == NULL ||
	    (f = xml_add(w, "forwarded", NS_FORWARD)) == NULL) {
		xml_free(m);
		return;
	}
	/* the message is lent to the wrapper for the send, not copied (what
	 * c2s_send keeps, CSI's queue, it copies): linked as the only child,
	 * unlinked before the wrapper is freed, n itself left as it was */
	next = self->next;
	self->next = NULL;
	f->children = f->last = self;
	c2s_send(s, m);
	f->children = f->last = NULL;
	self->next = next;
	xml_free(m);
}

void
carbons_sent(struct c2s *c, struct xml_node *n)
{
	struct xml_node *p;
	struct jid to;
	char bare[2 * JID_PART_MAX + 2];
	bool private = false;

	/* XEP-0280 §7: the private element is not forwarded (and the
	 * message is not copied) */
	while ((p = xml_child(n, "private", NS_CARBONS)) != NULL) {
		private = true;
		xml_detach(p);
		xml_free(p);
	}
	if (private || c->user == NULL || c->user->nsessions < 2 || !carbons_eligible(n))
		return;
	/* to one's own bare JID every resource gets it anyway */
	if (stanza_jid(n, "to", &to) == 1 && to.resource[0] == '\0' &&
	    strcmp(jid_bare(&to, bare, sizeof(bare)), c->user->bare) == 0)
		return;
	for (struct c2s *s = c->user->sessions; s; s = s->next_session)
		if (s != c && ENABLED(s))
			send_copy(s, "sent", n);
}

void
carbons_received(struct user *u, const struct xml_node *n, const struct c2s *to)
{
	const char *from = xml_attr(n, "from");
	struct jid fj;
	char bare[2 * JID_PART_MAX + 2];

	/* a single session that is the recipient has nobody to copy to */
	if (u == NULL || (to != NULL && u->nsessions < 2) || !carbons_eligible(n))
		return;
	/* one's own resources writing to each other: the sender side has
	 * already sent <sent/> copies (XEP-0280 §6, no double copies) */
	if (from && stanza_jid(n, "from", &fj) == 1 &&
	    strcmp(jid_bare(&fj, bare, sizeof(bare)), u->bare) == 0)
		return;
	for (struct c2s *s = u->sessions; s; s = s->next_session) {
		if (!ENABLED(s) || s == to)
			continue;
		if (to == NULL && s->available && s->priority >= 0)
			continue;
		send_copy(s, "received", n);
	}
}

static enum hook_rc
sent_hook(struct hook_args *a)
{
	carbons_sent(a->c, a->n);
	return HOOK_NEXT;
}

static const struct iq_handler iqs[] = {
	{ "enable", NS_CARBONS, IQ_CLIENT | IQ_SERVER, carbons_iq },
	{ "disable", NS_CARBONS, IQ_CLIENT | IQ_SERVER, carbons_iq },
	{ NULL, NULL, 0, NULL },
};

/* after blocking and the archive (a blocked message is not copied; the
 * copies carry the archive's stanza-id) */
static const struct hook hooks[] = {
	{ EV_MESSAGE_OUT, 40, sent_hook },
	{ EV_MAX, 0, NULL },
};

static const struct stream_element elements[] = {
	{ NS_CARBONS, ELEM_BIND2, carbons_inline, NULL },
	{ NULL, 0, NULL, NULL },
};

static const char *const features[] = { NS_CARBONS, NULL };

struct module carbons_module = {
	.name = "carbons",
	.folder = "im",
	.iqs = iqs,
	.hooks = hooks,
	.elements = elements,
	.server_features = features,
	.session_size = sizeof(bool),
};
