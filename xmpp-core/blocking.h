/*
 * blocking — the blocking command (XEP-0191, urn:xmpp:blocking).
 *
 * An account's blocklist lives in PostgreSQL and, while the account has
 * sessions, in memory (loaded at bind; the new session's stanzas wait
 * until it is there).  Enforcement, as XEP-0191 §3.4/§3.5 says:
 *
 * - from a blocked entity to the account: presence dropped, messages and
 *   IQ requests answered with service-unavailable, nothing stored offline
 *   (an account whose list is not in memory is asked in the database);
 * - from the account to a blocked entity: messages and IQ requests get
 *   not-acceptable with <blocked xmlns='urn:xmpp:blocking:errors'/>,
 *   presence (directed or broadcast) is not sent.
 *
 * Errors always pass (they carry nothing and may be our own bounces).
 */
#ifndef XMPP_BLOCKING_H
#define XMPP_BLOCKING_H

#include <stdbool.h>

#include "jid.h"

struct c2s;
struct user;
struct xml_node;

#define NS_BLOCKING "urn:xmpp:blocking"

/* Session lifecycle (router_bind / router_unbind). */
void blocking_session_start(struct c2s *c);
void blocking_session_end(struct c2s *c);
/* An IQ the account addressed to itself: false when not XEP-0191. */
bool blocking_iq(struct c2s *c, struct xml_node *n);
/* router_route: true when n was taken (refused, or held for a lookup). */
bool blocking_route(struct xml_node *n, const struct jid *to, int host);
/* message_from_client: true when n was refused because its sender blocked
 * the recipient (before it is archived or copied to the other resources). */
bool blocking_outgoing(struct c2s *c, struct xml_node *n);
/* router_send_available: true when n must not reach u. */
bool blocking_drops(const struct user *u, const struct xml_node *n);
/* At exit (router_cleanup). */
void blocking_cleanup(void);

#endif
