/*
 * register — in-band registration (XEP-0077): account creation before
 * authentication (only when [registration] enables it for the peer's
 * network), password change and account removal afterwards, with a
 * minimum password entropy.
 */
#ifndef XMPP_REGISTER_H
#define XMPP_REGISTER_H

#include <stdbool.h>

struct c2s;
struct xml_node;

bool register_allowed(const struct c2s *c);
/* jabber:iq:register before authentication (takes ownership). */
void register_preauth(struct c2s *c, struct xml_node *iq);
/* jabber:iq:register from a bound session (takes ownership). */
void register_iq(struct c2s *c, struct xml_node *iq);

#endif
