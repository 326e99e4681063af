/*
 * disco — service discovery (XEP-0030) of the server and of accounts'
 * bare JIDs, contact addresses (XEP-0157), and the server's entity
 * capabilities hash (XEP-0115) for the stream features.
 */
#ifndef XMPP_DISCO_H
#define XMPP_DISCO_H

#include <stdbool.h>

struct buf;
struct c2s;
struct xml_node;

/* Computes the caps hash once the configuration is loaded. */
void disco_init(void);
void disco_caps(struct buf *b);
/* Answers disco#info/#items for the server (to_account false) or for the
 * sender's own bare JID; returns false when the IQ is not disco. */
bool disco_iq(struct c2s *c, struct xml_node *iq, bool to_account);

#endif
