/*
 * pep — Personal Eventing Protocol (XEP-0163): a PubSub service on every
 * account's bare JID.  Routes pubsub IQs to the account (its own, and
 * other accounts' from local users), answers the account's disco#info
 * (identity pubsub/pep and the pubsub features) and disco#items (its
 * nodes the requester may see), sends the last published items of the
 * account's and its contacts' nodes to a resource whose caps ask for
 * them when it comes online (another server's too, the account's own
 * nodes then; send_last_published_item =
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

/* The session's caps became known (caps.c). */
void pep_caps_ready(struct c2s *c);
/* The caps of full, another server's resource that sent owner (our
 * account's bare JID) available presence, are known or newly its
 * (caps.c): the last items it asks for go to it. */
void pep_remote_caps_ready(const char *owner, const char *full, char *const *features,
    size_t n);
/* An item stored on an account's node by the account itself (not by a
 * conversion): bookmarks and avatar conversions look at it. */
void pep_published(const struct ps_svc *svc, const char *node, const char *id,
    const struct xml_node *payload, struct c2s *c);
void pep_retracted(const struct ps_svc *svc, const char *node, const char *id);

#endif
