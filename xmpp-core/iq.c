/*
 * iq — IQ dispatch and the small server services: ping (XEP-0199),
 * version (XEP-0092), entity time (XEP-0202), last activity (XEP-0012,
 * server uptime).  See iq.h.
 */
#include "iq.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "blocking.h"
#include "c2s.h"
#include "caps.h"
#include "carbons.h"
#include "disco.h"
#include "extdisco.h"
#include "last.h"
#include "pep.h"
#include "mam.h"
#include "private.h"
#include "push.h"
#include "register.h"
#include "roster.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "vcard.h"
#include "xml.h"

void
iq_reply(struct c2s *c, struct xml_node *reply)
{
	if (reply) {
		c2s_send(c, reply);
		xml_free(reply);
	}
}

void
iq_error(struct c2s *c, const struct xml_node *iq, const char *type, const char *cond)
{
	iq_reply(c, stanza_error(iq, type, cond, NULL));
}

static bool
server_service(struct c2s *c, struct xml_node *iq)
{
	struct xml_node *q = xml_first_elem(iq), *r, *rq;
	char buf[64];
	time_t now;
	struct tm tm;

	if (strcmp(stanza_type(iq), "get") != 0)
		return false;
	if (xml_is(q, "ping", "urn:xmpp:ping")) {
		iq_reply(c, stanza_iq_result(iq));
	} else if (xml_is(q, "query", "jabber:iq:version")) {
		r = stanza_iq_result(iq);
		rq = xml_add(r, "query", "jabber:iq:version");
		xml_add_with_text(rq, "name", NULL, "edge xmpp-core");
		xml_add_with_text(rq, "version", NULL, EDGE_VERSION);
		iq_reply(c, r);
	} else if (xml_is(q, "time", "urn:xmpp:time")) {
		now = time(NULL);
		gmtime_r(&now, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		r = stanza_iq_result(iq);
		rq = xml_add(r, "time", "urn:xmpp:time");
		xml_add_with_text(rq, "tzo", NULL, "+00:00");
		xml_add_with_text(rq, "utc", NULL, buf);
		iq_reply(c, r);
	} else if (xml_is(q, "query", "jabber:iq:last")) {
		snprintf(buf, sizeof(buf), "%lld", (long long)(time(NULL) - srv.started));
		r = stanza_iq_result(iq);
		rq = xml_add(r, "query", "jabber:iq:last");
		xml_set_attr(rq, "seconds", buf);
		iq_reply(c, r);
	} else {
		return false;
	}
	return true;
}

void
iq_from_client(struct c2s *c, struct xml_node *n)
{
	const char *type = stanza_type(n);
	struct xml_node *q = xml_first_elem(n);
	struct jid to;
	char bare[2 * JID_PART_MAX + 2];
	bool to_server = false, to_self = false;
	int has_to = stanza_jid(n, "to", &to);

	if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0 &&
	    strcmp(type, "result") != 0 && strcmp(type, "error") != 0) {
		iq_error(c, n, "modify", "bad-request");
		xml_free(n);
		return;
	}
	if (has_to == 0) {
		to_self = true;
	} else if (to.local[0] == '\0' && to.resource[0] == '\0' &&
	    strcmp(to.domain, c2s_host(c)) == 0) {
		to_server = true;
	} else if (to.resource[0] == '\0' &&
	    strcmp(jid_bare(&to, bare, sizeof(bare)), c->user->bare) == 0) {
		to_self = true;
	}
	if (!to_server && !to_self) {
		router_route(n);
		return;
	}
	if (strcmp(type, "result") == 0 || strcmp(type, "error") == 0) {
		if (!caps_iq_response(c, n))
			xml_free(n);
		return;
	}
	/* RFC 6120 §8.2.3: a get/set has exactly one payload */
	if (q == NULL || xml_next_elem(q) != NULL) {
		iq_error(c, n, "modify", "bad-request");
		xml_free(n);
		return;
	}
	if (xml_is(q, "query", NS_ROSTER) && to_self) {
		roster_iq(c, n);
		return;
	}
	if (xml_is(q, "session", NS_SESSION) && strcmp(type, "set") == 0) {
		/* RFC 3921 session establishment: a no-op kept for old clients */
		iq_reply(c, stanza_iq_result(n));
		xml_free(n);
		return;
	}
	if (xml_is(q, "query", NS_REGISTER)) {
		register_iq(c, n);
		return;
	}
	if ((to_self || to_server) && carbons_iq(c, n))
		return;
	if (to_self && (private_iq(c, n) || vcard_iq(c, n) || blocking_iq(c, n) ||
	    pep_iq(c, n, has_to != 0) || push_iq(c, n) || mam_iq(c, n)))
		return;
	if ((to_server || has_to == 0) && extdisco_iq(c, n))
		return;
	if (disco_iq(c, n, has_to != 0 && to_self) ||
	    (to_server || has_to == 0 ? server_service(c, n) : false)) {
		xml_free(n);
		return;
	}
	iq_error(c, n, "cancel", "service-unavailable");
	xml_free(n);
}

void
iq_deliver(struct xml_node *n, const struct jid *to, int host)
{
	char bare[2 * JID_PART_MAX + 2];
	const char *type = stanza_type(n);
	bool request = strcmp(type, "get") == 0 || strcmp(type, "set") == 0;
	struct user *u;
	struct c2s *s;

	if (!request && to->local[0] && push_iq_response(n, to))
		return;
	if (to->local[0] && to->resource[0]) {
		u = router_user_find(jid_bare(to, bare, sizeof(bare)));
		if (u && (s = router_session(u, to->resource)) != NULL) {
			c2s_send(s, n);
			xml_free(n);
			return;
		}
	}
	if (to->local[0] && !to->resource[0] && pep_deliver(n, to, host))
		return;
	if (to->local[0] && !to->resource[0] && vcard_deliver(n, to, host))
		return;
	if (to->local[0] && !to->resource[0] && strcmp(type, "get") == 0 &&
	    xml_is(xml_first_elem(n), "query", "jabber:iq:last")) {
		last_query(n, to, host);
		return;
	}
	/* another account's bare JID, the server of another host, or a gone
	 * resource: nothing here answers (RFC 6121 §8.5.2.2.3, §8.5.3.2.3) */
	if (request)
		stanza_bounce(n, "cancel", "service-unavailable");
	xml_free(n);
}
