/*
 * offline — XEP-0160 offline storage in PostgreSQL: chat and normal
 * messages for an account with no available resource are stored (at most
 * offline_max per account, with an XEP-0203 <delay/> added at storage
 * time) and delivered, oldest first, on the next initial presence.
 */
#ifndef XMPP_OFFLINE_H
#define XMPP_OFFLINE_H

struct c2s;
struct xml_node;

/* Stores n for local@hosts[host] (takes ownership); bounces on failure. */
void offline_store(struct xml_node *n, int host, const char *local);
/* Sends and removes the stored messages of c's account, in batches as
 * the client's output buffer drains. */
void offline_deliver(struct c2s *c);

#endif
