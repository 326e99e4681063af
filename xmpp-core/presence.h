/*
 * presence — RFC 6121 presence: initial presence (probes, offline
 * delivery, pending subscription requests), broadcast to contacts with a
 * 'from' subscription and to the account's own resources, directed
 * presence, unavailable on disconnect, and the subscription state machine
 * (subscribe / subscribed / unsubscribe / unsubscribed, pre-approval),
 * run on both rosters when the contact is local.
 */
#ifndef XMPP_PRESENCE_H
#define XMPP_PRESENCE_H

#include "jid.h"

struct c2s;
struct user;
struct xml_node;

void presence_from_client(struct c2s *c, struct xml_node *n);
/* Presence routed to a local entity (available / unavailable / error). */
void presence_deliver(struct xml_node *n, const struct jid *to, int host);
/* The session ends: unavailable to everyone who saw it available. */
void presence_session_end(struct c2s *c);
/* Roster item removal (RFC 6121 §2.5.2): cancels both directions. */
void presence_roster_removed(struct c2s *c, const char *bare);
/* The same for an account without a session (accountrm.c); holds u. */
void presence_user_roster_removed(struct user *u, const char *bare);

#endif
