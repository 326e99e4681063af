/*
 * iq — <iq/> dispatch through the registry.  See iq.h.
 *
 * A request from a session is classified by its 'to' (RFC 6120 §10.3,
 * RFC 6121 §8.5): none (IQ_NOTO), the sender's own bare JID (IQ_SELF),
 * the host (IQ_SERVER), anything else is routed.  A request routed to a
 * local account's bare JID is IQ_ACCOUNT, to a local host (from another
 * server, or from another local host's account) IQ_REMOTE; to a full JID
 * it goes to that session.  The answers to IQ_ACCOUNT and IQ_REMOTE
 * requests are routed like any stanza (to s2s for a remote sender).  The payload (exactly one element, RFC 6120 §8.2.3) names the
 * module that answers (registry_iq); nobody: service-unavailable.
 * Results and errors go to the module whose id prefix they carry.
 */
#include "iq.h"

#include <string.h>

#include "c2s.h"
#include "registry.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

void
iq_reply(struct c2s *c, struct xml_node *reply)
{
	if (reply == NULL)
		return;
	if (c == NULL) {
		router_route(reply);
		return;
	}
	c2s_send(c, reply);
	xml_free(reply);
}

void
iq_error(struct c2s *c, const struct xml_node *iq, const char *type, const char *cond)
{
	iq_reply(c, stanza_error(iq, type, cond, NULL));
}

static bool
is_request(const char *type)
{
	return strcmp(type, "get") == 0 || strcmp(type, "set") == 0;
}

/* A result or error for an IQ a module sent: true when one took it. */
static bool
iq_result(struct c2s *c, struct xml_node *n, const struct jid *to)
{
	const struct iq_result_handler *h = registry_iq_result(xml_attr(n, "id"));

	return h && h->fn(c, n, to);
}

static void
dispatch(struct iq_req *r)
{
	const struct iq_handler *h = registry_iq(r->q, r->scope);

	if (h && h->fn(r))
		return;
	if (r->c)
		iq_error(r->c, r->iq, "cancel", "service-unavailable");
	else
		stanza_bounce(r->iq, "cancel", "service-unavailable");
	xml_free(r->iq);
}

void
iq_from_client(struct c2s *c, struct xml_node *n)
{
	const char *type = stanza_type(n);
	struct iq_req r = { .c = c, .iq = n, .host = c->host };
	struct jid to;
	char bare[2 * JID_PART_MAX + 2];
	int has_to = stanza_jid(n, "to", &to);

	if (!is_request(type) && strcmp(type, "result") != 0 && strcmp(type, "error") != 0) {
		iq_error(c, n, "modify", "bad-request");
		xml_free(n);
		return;
	}
	if (has_to == 0)
		r.scope = IQ_NOTO;
	else if (to.local[0] == '\0' && to.resource[0] == '\0' &&
	    strcmp(to.domain, c2s_host(c)) == 0)
		r.scope = IQ_SERVER;
	else if (to.resource[0] == '\0' &&
	    strcmp(jid_bare(&to, bare, sizeof(bare)), c->user->bare) == 0)
		r.scope = IQ_SELF;
	if (r.scope == 0) {
		router_route(n);
		return;
	}
	if (!is_request(type)) {
		if (!iq_result(c, n, NULL))
			xml_free(n);
		return;
	}
	/* RFC 6120 §8.2.3: a get/set has exactly one payload */
	r.q = xml_first_elem(n);
	if (r.q == NULL || xml_next_elem(r.q) != NULL) {
		iq_error(c, n, "modify", "bad-request");
		xml_free(n);
		return;
	}
	dispatch(&r);
}

void
iq_deliver(struct xml_node *n, const struct jid *to, int host)
{
	char bare[2 * JID_PART_MAX + 2];
	struct iq_req r = { .iq = n, .to = to, .host = host, .scope = IQ_ACCOUNT };
	bool server = to->local[0] == '\0' && to->resource[0] == '\0';
	struct user *u;
	struct c2s *s;

	if (!is_request(stanza_type(n))) {
		if ((to->local[0] || server) && iq_result(NULL, n, to))
			return;
	} else if (!to->resource[0]) {
		if (server) {
			r.scope = IQ_REMOTE;
			r.to = NULL;
		}
		r.q = xml_first_elem(n);
		if (r.q == NULL || xml_next_elem(r.q) != NULL) {
			stanza_bounce(n, "modify", "bad-request");
			xml_free(n);
			return;
		}
		dispatch(&r);
		return;
	}
	if (to->local[0] && to->resource[0]) {
		u = router_user_find(jid_bare(to, bare, sizeof(bare)));
		if (u && (s = router_session(u, to->resource)) != NULL) {
			c2s_send(s, n);
			xml_free(n);
			return;
		}
	}
	/* a gone resource, or the host's full JID: nothing here answers
	 * (RFC 6121 §8.5.3.2.3) */
	if (is_request(stanza_type(n)))
		stanza_bounce(n, "cancel", "service-unavailable");
	xml_free(n);
}
