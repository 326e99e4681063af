/*
 * caps — what the clients on this server can do (XEP-0115 entity
 * capabilities): when an available presence carries <c hash ver node/>
 * with a ver not seen yet, the server asks that resource for
 * disco#info of node#ver, checks the ver against the answer (§5.1
 * verification string, SHA-1 or SHA-256) and keeps the features by ver
 * in a bounded cache shared by every session with that ver.  PEP
 * (pubsubnotify.c, pep.c) asks it who wants <node>+notify.
 */
#ifndef XMPP_CAPS_H
#define XMPP_CAPS_H

#include <stdbool.h>
#include <stddef.h>

struct c2s;
struct xml_node;

#define NS_CAPS "http://jabber.org/protocol/caps"

/* An available presence from c (before it is broadcast). */
void caps_presence(struct c2s *c, const struct xml_node *presence);
/* A result/error IQ from c to the server: true when it answered our
 * disco#info query (n taken). */
bool caps_iq_response(struct c2s *c, struct xml_node *n);
/* The session's verified features include feature. */
bool caps_has(const struct c2s *c, const char *feature);
/* The session's features (sorted), or 0 when not known. */
size_t caps_features(const struct c2s *c, char *const **features);
void caps_session_end(struct c2s *c);
void caps_cleanup(void);

/* XEP-0115 §5.1: the base64 ver of a disco#info <query/> with hash
 * ("sha-1" or "sha-256") into out; -1 for an unknown hash or a query
 * that §5.4 says to refuse (duplicate identities, features or forms). */
int caps_ver(const struct xml_node *query, const char *hash, char *out,
    size_t outlen);

#endif
