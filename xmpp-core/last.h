/*
 * last — XEP-0012 last activity of accounts: the time (and status) of an
 * account's last session end is stored when its last session ends; a
 * query to the account's bare JID from a contact with a subscription
 * (or the account itself) answers 0 while online, else the seconds since.
 */
#ifndef XMPP_LAST_H
#define XMPP_LAST_H

#include "jid.h"

struct user;
struct xml_node;

/* The last session of u ended (status: text of its unavailable presence). */
void last_session_end(struct user *u, const char *status);
/* jabber:iq:last get to a local account's bare JID (takes ownership). */
void last_query(struct xml_node *iq, const struct jid *to, int host);

#endif
