/*
 * presence — RFC 6121 presence: initial presence (probes, offline
 * delivery, pending subscription requests), broadcast to contacts with a
 * 'from' subscription and to the account's own resources, directed
 * presence, unavailable on disconnect, and the subscription state machine
 * (subscribe / subscribed / unsubscribe / unsubscribed, pre-approval),
 * run on both rosters when the contact is local.  A removed account's
 * contacts lose both directions (account_removed).
 */
#ifndef XMPP_PRESENCE_H
#define XMPP_PRESENCE_H

#include <stdbool.h>

#include "c2s.h"
#include "jid.h"

struct hmap;
struct user;
struct xml_node;

/* A session's presence state (its part of struct c2s). */
struct presence_sess {
	struct xml_node *presence;	/* last broadcast available presence */
	char *last_status;	/* <status/> of the unavailable presence (XEP-0012) */
	struct hmap *directed;	/* JIDs it sent directed presence to */
	bool initial;		/* initial presence done (offline delivered) */
};

extern struct module presence_module;

#define PSESS(c) ((struct presence_sess *)c2s_priv((c), &presence_module))

/* Roster item removal (RFC 6121 §2.5.2): cancels both directions. */
void presence_roster_removed(struct c2s *c, const char *bare);

#endif
