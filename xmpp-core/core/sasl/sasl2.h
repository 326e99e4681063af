/*
 * sasl2 — XEP-0388 Extensible SASL Profile on c2s, with what rides
 * inline on it: Bind2 (XEP-0386) and FAST tokens (XEP-0484).
 *
 * The <authentication/> feature is offered next to SASL1's
 * <mechanisms/>; the exchange itself is auth.c's.  <authenticate/> is
 * parsed here (initial response, <user-agent/>, <bind/>, FAST's
 * <request-token/> and <fast/>, and the modules' inline elements, see
 * registry.h ELEM_SASL2 / ELEM_BIND2); once auth.c reports success the
 * token is stored or rotated (core/db/token.c, waited for: a token is
 * never handed out before it is durable), then the inline requests run
 * in XEP-0388's order (SM <resume/> first, then the bind with its
 * features, XEP-0386 §3.2; the modules' additions to <bound/>, MAM's
 * <metadata/>, may take a query) and one <success/> carries every result,
 * followed by the features of the authenticated stream, without a
 * stream restart.  A failure leaves the stream as it was.
 */
#ifndef XMPP_SASL2_H
#define XMPP_SASL2_H

#include <stdbool.h>
#include <stddef.h>

#define NS_SASL2 "urn:xmpp:sasl:2"
#define NS_BIND2 "urn:xmpp:bind:0"

#define SASL2_AGENT_MAX 128	/* <user-agent id=/> */
#define SASL2_TEXT_MAX 128	/* <software/>, <device/> */
#define SASL2_TAG_MAX 64	/* Bind2 <tag/> */

struct auth_outcome;
struct buf;
struct c2s;
struct sasl2;
struct xml_node;

void sasl2_features(struct c2s *c, struct buf *b);
/* A top-level element of urn:xmpp:sasl:2 before authentication; takes n. */
void sasl2_handle(struct c2s *c, struct xml_node *n);
/* auth.c: the exchange succeeded / failed (the failure is sent). */
void sasl2_authenticated(struct c2s *c, struct auth_outcome *o);
void sasl2_failed(struct c2s *c);
/* The <user-agent/> of the connection: id (NULL: none), software and
 * device ("" when not given). */
const char *sasl2_agent(const struct c2s *c);
void sasl2_user_agent(const struct c2s *c, const char **software,
    const char **device);
bool sasl2_fast_enabled(void);
/* A module's late part of <bound/> is in (registry.h: bind2_bound). */
void sasl2_bound_done(struct c2s *c);
/* The client asked for XEP-0480's UPGR-SCRAM-SHA-256. */
bool sasl2_upgrade_requested(const struct c2s *c);
void sasl2_free(struct sasl2 *s);
/* Bind2's resource: tag "/" 8 hex digits of SHA-256(user NUL agent id),
 * stable per device, the id not revealed; random without an id. */
int sasl2_resource(const char *local, const char *agent, const char *tag,
    char *out, size_t outlen);

#endif
