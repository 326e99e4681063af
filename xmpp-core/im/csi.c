/*
 * csi — XEP-0352 Client State Indication.  See csi.h.
 */
#include "csi.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "c2s.h"
#include "carbons.h"
#include "imconf.h"
#include "log.h"
#include "server.h"
#include "xml.h"

#define NS_ADDRESS "http://jabber.org/protocol/address"
#define NS_PUBSUB_EVENT "http://jabber.org/protocol/pubsub#event"

/* the session's state: NULL while active */
#define CSI(c) (*(struct csi **)c2s_priv((c), &csi_module))

struct csi {
	bool inactive;
	unsigned n;
	struct xml_node *head, *tail;	/* linked by ->next */
};

static bool
chatstate_only(const struct xml_node *m, unsigned depth)
{
	const struct xml_node *e, *f, *inner;
	bool state = false;
	const char *type = xml_attr(m, "type");

	if (type && strcmp(type, "error") == 0)
		return false;
	for (e = xml_first_elem(m); e; e = xml_next_elem(e)) {
		if (strcmp(e->ns, NS_CHATSTATES) == 0) {
			state = true;
		} else if (xml_is(e, "thread", NS_CLIENT) ||
		    strcmp(e->ns, "urn:xmpp:hints") == 0 ||
		    strcmp(e->ns, "urn:xmpp:sid:0") == 0 ||
		    strcmp(e->ns, NS_DELAY) == 0) {
			continue;
		} else if (depth == 0 && (xml_is(e, "sent", NS_CARBONS) ||
		    xml_is(e, "received", NS_CARBONS))) {
			f = xml_child(e, "forwarded", NS_FORWARD);
			inner = f ? xml_child(f, "message", NS_CLIENT) : NULL;
			if (inner == NULL || !chatstate_only(inner, depth + 1))
				return false;
			state = true;
		} else {
			return false;
		}
	}
	return state;
}

/*
 * A pubsub event notification (a contact's PEP nick, avatar, OMEMO
 * devicelist, one's own bookmarks, a service's items): nothing the user
 * waits for, so it waits like presence does (ejabberd's queue_pep,
 * Prosody's mod_csi_simple).  Several events of one node are all kept:
 * a node may carry many items (bookmarks), a later one does not replace
 * an earlier one.
 */
static bool
pubsub_event(const struct xml_node *m)
{
	const char *type = xml_attr(m, "type");
	bool ev = false;

	if (type && strcmp(type, "error") == 0)
		return false;
	for (const struct xml_node *e = xml_first_elem(m); e; e = xml_next_elem(e)) {
		if (xml_is(e, "event", NS_PUBSUB_EVENT))
			ev = true;
		else if (strcmp(e->ns, NS_DELAY) != 0 && strcmp(e->ns, NS_ADDRESS) != 0 &&
		    strcmp(e->ns, "urn:xmpp:hints") != 0)
			return false;
	}
	return ev;
}

bool
csi_holdable(const struct xml_node *n)
{
	const char *type;

	if (xml_is(n, "presence", NS_CLIENT)) {
		type = xml_attr(n, "type");
		return type == NULL || strcmp(type, "unavailable") == 0;
	}
	return xml_is(n, "message", NS_CLIENT) && (chatstate_only(n, 0) || pubsub_event(n));
}

unsigned
csi_held(const struct c2s *c)
{
	return CSI(c) ? CSI(c)->n : 0;
}

void
csi_flush(struct c2s *c)
{
	struct csi *s = CSI(c);
	struct xml_node *n, *next;
	struct buf b;

	if (s == NULL || s->head == NULL)
		return;
	log_debug("c2s %llu: csi: %u held stanzas sent", (unsigned long long)c->id, s->n);
	n = s->head;
	s->head = s->tail = NULL;
	s->n = 0;
	buf_init(&b);
	for (; n; n = next) {
		next = n->next;
		n->next = NULL;
		buf_reset(&b);
		if (xml_serialize(&b, n, NS_CLIENT) == -1)
			c->conn.overflow = true;	/* out of memory: cut it off */
		else
			c2s_send_stanza_raw(c, b.p, b.len);
		xml_free(n);
	}
	buf_free(&b);
}

void
csi_free(struct c2s *c)
{
	struct xml_node *n, *next;

	if (CSI(c) == NULL)
		return;
	for (n = CSI(c)->head; n; n = next) {
		next = n->next;
		n->next = NULL;
		xml_free(n);
	}
	free(CSI(c));
	CSI(c) = NULL;
	c2s_watch(c, &csi_module, false);
}

static void
csi_element(struct c2s *c, struct xml_node *n)
{
	if (xml_is(n, "inactive", NS_CSI)) {
		if (CSI(c) == NULL && (CSI(c) = calloc(1, sizeof(*CSI(c)))) == NULL) {
			xml_free(n);
			return;	/* stays active: nothing is lost */
		}
		CSI(c)->inactive = true;
		c2s_watch(c, &csi_module, true);
		log_debug("c2s %llu: inactive", (unsigned long long)c->id);
	} else if (xml_is(n, "active", NS_CSI)) {
		csi_flush(c);
		csi_free(c);
		log_debug("c2s %llu: active", (unsigned long long)c->id);
	} else {
		xml_free(n);
		c2s_stream_error(c, "unsupported-stanza-type", NULL);
		return;
	}
	xml_free(n);
}

/* A held presence from the same JID is replaced (only the latest counts). */
static void
drop_older_presence(struct csi *s, const struct xml_node *n)
{
	const char *from = xml_attr(n, "from");
	struct xml_node **pp, *old, *prev = NULL;

	if (from == NULL || strcmp(n->name, "presence") != 0)
		return;
	for (pp = &s->head; *pp; prev = *pp, pp = &(*pp)->next) {
		old = *pp;
		if (strcmp(old->name, "presence") != 0 ||
		    xml_attr(old, "from") == NULL ||
		    strcmp(xml_attr(old, "from"), from) != 0)
			continue;
		*pp = old->next;
		if (s->tail == old)
			s->tail = prev;
		old->next = NULL;
		xml_free(old);
		s->n--;
		return;
	}
}

static bool
csi_hold(struct c2s *c, const struct xml_node *n)
{
	struct csi *s = CSI(c);
	struct xml_node *copy;

	if (s == NULL || !s->inactive)
		return false;
	if (!csi_holdable(n)) {
		csi_flush(c);
		return false;
	}
	drop_older_presence(s, n);
	if (s->n >= csi_cfg()->max_queue || (copy = xml_copy(n)) == NULL) {
		csi_flush(c);
		return false;
	}
	if (s->tail)
		s->tail->next = copy;
	else
		s->head = copy;
	s->tail = copy;
	s->n++;
	return true;
}

static void
csi_features(struct c2s *c, struct buf *b)
{
	if (c->authed)
		buf_puts(b, "<csi xmlns='" NS_CSI "'/>");
}

/* A session that moves (XEP-0198) starts active on its new connection. */
static void
csi_moved(struct c2s *c)
{
	csi_free(c);
}

static const struct stream_element elements[] = {
	{ NS_CSI, ELEM_BOUND | ELEM_BIND2, csi_element, NULL },	/* Bind2 too */
	{ NULL, 0, NULL, NULL },
};

struct module csi_module = {
	.name = "csi",
	.folder = "im",
	.config_load = csi_config_load,
	.config_free = im_config_free,
	.elements = elements,
	.stream_features = csi_features,
	.session_size = sizeof(struct csi *),
	.session_send = csi_hold,
	.session_moved = csi_moved,
	.session_free = csi_free,
};
