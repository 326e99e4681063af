/*
 * carbons — Message Carbons (XEP-0280) with the XEP-0334 hints `private`
 * (urn:xmpp:carbons:2) and `no-copy`: a session that enabled carbons gets
 * a <sent/> copy of what its account's other resources send and a
 * <received/> copy of what reaches another resource of its account.
 */
#ifndef XMPP_CARBONS_H
#define XMPP_CARBONS_H

#include <stdbool.h>

#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_FORWARD "urn:xmpp:forward:0"

struct c2s;
struct user;
struct xml_node;

/* A message from client c, stamped, before routing: removes the private
 * hint and sends <sent/> copies to c's carbon-enabled sibling sessions. */
void carbons_sent(struct c2s *c, struct xml_node *n);
/* A message delivered to u: <received/> copies to every carbon-enabled
 * session of u that did not get n itself: all but `to` when not NULL,
 * else those that router_send_available(nonneg_only) skipped. */
void carbons_received(struct user *u, const struct xml_node *n,
    const struct c2s *to);
/* Whether a message is eligible for carbons (XEP-0280 §6). */
bool carbons_eligible(const struct xml_node *n);

#endif
