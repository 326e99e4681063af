/*
 * stanza — helpers shared by the stanza handlers: error replies (RFC 6120
 * §8.3), result replies for IQs, attribute access.
 */
#ifndef XMPP_STANZA_H
#define XMPP_STANZA_H

#include "jid.h"

struct xml_node;
struct c2s;

/* A new error stanza answering orig (to <-> from swapped, payload kept for
 * messages and presence as RFC 6120 §8.3.1 allows). */
struct xml_node *stanza_error(const struct xml_node *orig, const char *type,
    const char *cond, const char *text);
/* An empty result for an IQ get/set. */
struct xml_node *stanza_iq_result(const struct xml_node *iq);
/* Sends an error for orig back to its sender through the router, unless
 * orig is itself an error (never answer errors with errors). */
void stanza_bounce(const struct xml_node *orig, const char *type, const char *cond);
/* Parses the 'to' / 'from' attribute: 1 present, 0 absent, -1 invalid. */
int stanza_jid(const struct xml_node *n, const char *attr, struct jid *out);
const char *stanza_type(const struct xml_node *n);

#endif
