/*
 * pushsum — the pure parts of push notifications (see push.h): what a
 * stanza is worth notifying, the publish-options check, and the publish
 * IQ with its urn:xmpp:push:summary form (XEP-0357 §7, §11.3.1).  No
 * state, no I/O: unit-tested in tests/unit/test_xmpp_push.c.
 */
#include "push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "form.h"
#include "fragment.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_XDATA "jabber:x:data"
#define FORM_PUBLISH_OPTIONS "http://jabber.org/protocol/pubsub#publish-options"
#define FORM_SUMMARY "urn:xmpp:push:summary"

/*
 * Content that counts as a message without a body: end-to-end encrypted
 * payloads (ejabberd's mod_push counts OMEMO's <payload/> too) and call
 * proposals (XEP-0353), which is what a phone most needs waking for.
 */
static const struct {
	const char *name, *ns;
	bool need_payload;	/* only with a <payload/> child (not key transport) */
} content[] = {
	{ "encrypted", "eu.siacs.conversations.axolotl", true },	/* OMEMO 0.3 */
	{ "encrypted", "urn:xmpp:omemo:2", true },
	{ "openpgp", "urn:xmpp:openpgp:0", false },			/* XEP-0373 */
	{ "x", "jabber:x:encrypted", false },				/* XEP-0027 */
	{ "propose", "urn:xmpp:jingle-message:0", false },		/* XEP-0353 */
};

static bool
has_content(const struct xml_node *n)
{
	const struct xml_node *e;

	for (size_t i = 0; i < sizeof(content) / sizeof(content[0]); i++) {
		if ((e = xml_child(n, content[i].name, content[i].ns)) == NULL)
			continue;
		if (!content[i].need_payload || xml_child(e, "payload", content[i].ns))
			return true;
	}
	return false;
}

static enum push_kind
classify_message(const struct xml_node *n, char *sender, char **body, int depth)
{
	const char *type = stanza_type(n);
	const struct xml_node *b, *w;
	struct jid from;
	char *text = NULL;

	if (strcmp(type, "error") == 0 || strcmp(type, "headline") == 0)
		return PUSH_NONE;
	/* a copy of a message another resource received is news to this one;
	 * a copy of what the user sent is not (XEP-0280) */
	if (depth == 0 && (w = xml_child(n, "received", PUSH_NS_CARBONS)) != NULL) {
		w = xml_child(w, "forwarded", PUSH_NS_FORWARD);
		w = w ? xml_child(w, "message", NS_CLIENT) : NULL;
		return w ? classify_message(w, sender, body, 1) : PUSH_NONE;
	}
	if (xml_child(n, "sent", PUSH_NS_CARBONS))
		return PUSH_NONE;
	if ((b = xml_child(n, "body", NS_CLIENT)) != NULL) {
		if ((text = xml_text(b)) != NULL && text[0] == '\0') {
			free(text);
			text = NULL;
		}
	}
	if (text == NULL && !has_content(n))
		return PUSH_NONE;
	sender[0] = '\0';
	if (stanza_jid(n, "from", &from) == 1)
		jid_bare(&from, sender, JID_STR_MAX + 1);
	if (text)
		push_truncate(text, PUSH_BODY_MAX);
	*body = text;
	return PUSH_MESSAGE;
}

enum push_kind
push_classify(const struct xml_node *n, char *sender, char **body)
{
	*body = NULL;
	sender[0] = '\0';
	if (strcmp(n->name, "message") == 0)
		return classify_message(n, sender, body, 0);
	if (strcmp(n->name, "presence") == 0 && strcmp(stanza_type(n), "subscribe") == 0)
		return PUSH_SUBSCRIBE;
	return PUSH_NONE;
}

void
push_truncate(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	s[n] = '\0';
}

int
push_form_check(const struct xml_node *x)
{
	const struct xml_node *f, *v;
	const char *var;
	char *val;
	int rc;

	if (!xml_is(x, "x", NS_XDATA))
		return -1;
	for (f = xml_first_elem(x); f; f = xml_next_elem(f)) {
		if (!xml_is(f, "field", NS_XDATA) || (var = xml_attr(f, "var")) == NULL ||
		    strcmp(var, "FORM_TYPE") != 0)
			continue;
		if ((v = xml_child(f, "value", NS_XDATA)) == NULL || (val = xml_text(v)) == NULL)
			return -1;
		rc = strcmp(val, FORM_PUBLISH_OPTIONS) == 0 ? 0 : -1;
		free(val);
		return rc;
	}
	return 0;
}

struct xml_node *
push_notification(const char *from, const char *to, const char *id,
    const char *node, const struct push_summary *s, const struct xml_node *form)
{
	struct xml_node *iq = xml_new("iq", NS_CLIENT), *ps, *p, *x, *po, *fc;
	char num[16];
	int rc = -1;

	if (iq == NULL)
		return NULL;
	if (xml_set_attr(iq, "type", "set") == -1 || xml_set_attr(iq, "from", from) == -1 ||
	    xml_set_attr(iq, "to", to) == -1 || xml_set_attr(iq, "id", id) == -1 ||
	    (ps = xml_add(iq, "pubsub", NS_PUBSUB)) == NULL ||
	    (p = xml_add(ps, "publish", NS_PUBSUB)) == NULL ||
	    xml_set_attr(p, "node", node) == -1 ||
	    (p = xml_add(p, "item", NS_PUBSUB)) == NULL ||
	    (p = xml_add(p, "notification", NS_PUSH)) == NULL ||
	    (x = xml_add(p, "x", NS_XDATA)) == NULL ||
	    xml_set_attr(x, "type", "submit") == -1 ||
	    form_field(x, "FORM_TYPE", "hidden", NULL, FORM_SUMMARY) == NULL)
		goto out;
	snprintf(num, sizeof(num), "%u", s->messages);
	if (form_field(x, "message-count", NULL, NULL, num) == NULL)
		goto out;
	snprintf(num, sizeof(num), "%u", s->subscriptions);
	if (s->subscriptions && form_field(x, "pending-subscription-count", NULL, NULL, num) == NULL)
		goto out;
	if (s->sender && s->sender[0] &&
	    form_field(x, "last-message-sender", NULL, NULL, s->sender) == NULL)
		goto out;
	if (s->body && form_field(x, "last-message-body", NULL, NULL, s->body) == NULL)
		goto out;
	if (form) {
		if ((po = xml_add(ps, "publish-options", NS_PUBSUB)) == NULL ||
		    (fc = xml_copy(form)) == NULL)
			goto out;
		xml_append_child(po, fc);
	}
	rc = 0;
out:
	if (rc == -1) {
		xml_free(iq);
		return NULL;
	}
	return iq;
}

enum push_kind
push_classify_raw(const char *p, size_t len, char *sender, char **body)
{
	struct xml_node *n;
	enum push_kind k;

	*body = NULL;
	sender[0] = '\0';
	/* cheap first: only messages and subscription requests can count
	 * (xml_serialize quotes attributes with ') */
	if (!(len > 8 && memcmp(p, "<message", 8) == 0) &&
	    !(len > 9 && memcmp(p, "<presence", 9) == 0 && memmem(p, len, "'subscribe'", 11)))
		return PUSH_NONE;
	if ((n = fragment_parse(p, len, NS_CLIENT)) == NULL)
		return PUSH_NONE;
	k = push_classify(n, sender, body);
	xml_free(n);
	return k;
}

int
push_form_text(const struct xml_node *x, struct buf *b)
{
	struct xml_node *cp = xml_copy(x);
	int rc;

	if (cp == NULL || xml_set_attr(cp, "type", "submit") == -1) {
		xml_free(cp);
		return -1;
	}
	rc = xml_serialize(b, cp, NS_CLIENT);
	xml_free(cp);
	return rc;
}
