/*
 * iq — <iq/> dispatch (RFC 6120 §8.2.3, RFC 6121 §8.5): IQs the server
 * answers itself (roster, registration, disco, ping, version, time, last
 * activity) and IQs routed to other sessions; unknown payloads get
 * service-unavailable, as the RFC says.
 */
#ifndef XMPP_IQ_H
#define XMPP_IQ_H

#include "jid.h"

struct c2s;
struct xml_node;

void iq_from_client(struct c2s *c, struct xml_node *n);
void iq_deliver(struct xml_node *n, const struct jid *to, int host);
/* Sends reply to c and frees it; c NULL (IQ_ACCOUNT, IQ_REMOTE): routes
 * it to its 'to' (ownership passes). */
void iq_reply(struct c2s *c, struct xml_node *reply);
void iq_error(struct c2s *c, const struct xml_node *iq, const char *type,
    const char *cond);

#endif
