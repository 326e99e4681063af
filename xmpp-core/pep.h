/*
 * pep — Personal Eventing Protocol (XEP-0163): a PubSub service on every
 * account's bare JID.  Routes pubsub IQs to the account (its own, and
 * other accounts' from local users), answers the account's disco#info
 * (identity pubsub/pep and the pubsub features) and disco#items (its
 * nodes the requester may see), sends the last published items of the
 * account's and its contacts' nodes to a resource whose caps ask for
 * them when it comes online (send_last_published_item =
 * on_sub_and_presence), and hands published items to the conversions
 * (bookmarks.c, avatar.c).
 */
#ifndef XMPP_PEP_H
#define XMPP_PEP_H

#include <stdbool.h>

#include "jid.h"

struct c2s;
struct ps_svc;
struct xml_node;

/* An IQ the account addressed to itself (addressed: with a 'to', so
 * disco is the account's, not the server's): false when not PEP (n kept). */
bool pep_iq(struct c2s *c, struct xml_node *n, bool addressed);
/* An IQ routed to another account's bare JID: false when not PEP/disco. */
bool pep_deliver(struct xml_node *n, const struct jid *to, int host);
/* Identity and features of an account's disco#info. */
void pep_disco_info(struct xml_node *query);
/* The session's caps became known (caps.c). */
void pep_caps_ready(struct c2s *c);
/* An item stored on an account's node by the account itself (not by a
 * conversion): bookmarks and avatar conversions look at it. */
void pep_published(const struct ps_svc *svc, const char *node, const char *id,
    const struct xml_node *payload, struct c2s *c);
void pep_retracted(const struct ps_svc *svc, const char *node, const char *id);

#endif
