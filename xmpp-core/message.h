/*
 * message — <message/> routing (RFC 6121 §8.5): to full and bare JIDs by
 * type, with priorities; chat/normal messages for an account without an
 * available resource go to offline storage (offline.c).
 */
#ifndef XMPP_MESSAGE_H
#define XMPP_MESSAGE_H

#include "jid.h"

struct c2s;
struct xml_node;

void message_from_client(struct c2s *c, struct xml_node *n);
void message_deliver(struct xml_node *n, const struct jid *to, int host);
/* The same once the archive (mam.c) has seen it. */
void message_deliver_archived(struct xml_node *n, const struct jid *to,
    int host);

#endif
