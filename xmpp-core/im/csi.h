/*
 * csi — Client State Indication (XEP-0352).  While a session says
 * <inactive/>, presence updates and chat-state-only messages (also inside
 * carbons) are held back: a newer presence from the same JID replaces the
 * held one, and the queue is bounded by [csi] max_queue (when full,
 * everything held is sent).  <active/> or any other stanza to the session
 * (a real message, an IQ) sends what is held first, in order.
 */
#ifndef XMPP_CSI_H
#define XMPP_CSI_H

#include <stdbool.h>

#define NS_CSI "urn:xmpp:csi:0"
#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"

struct c2s;
struct xml_node;

/* Whether n may wait while the client is inactive. */
bool csi_holdable(const struct xml_node *n);
/* Writes what is held to c (in order) and leaves the state as it is. */
void csi_flush(struct c2s *c);
/* Number of stanzas held for c. */
unsigned csi_held(const struct c2s *c);
/* Drops the state of a closing session. */
void csi_free(struct c2s *c);

#endif
