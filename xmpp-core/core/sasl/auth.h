/*
 * auth — SASL on a c2s stream (RFC 6120 §6): the mechanisms list and the
 * exchange for SCRAM-SHA-1/-256 (+PLUS with the channel bindings tls.h
 * provides) and PLAIN.  The account's keys are fetched asynchronously;
 * an unknown user gets a deterministic fake salt so the exchange looks
 * the same as for a real one.
 */
#ifndef XMPP_AUTH_H
#define XMPP_AUTH_H

struct auth;
struct buf;
struct c2s;
struct xml_node;

void auth_features(struct c2s *c, struct buf *b);
/* An element in the SASL namespace; takes ownership. */
void auth_handle(struct c2s *c, struct xml_node *n);
void auth_free(struct auth *a);

#endif
