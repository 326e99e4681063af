/*
 * capsver — XEP-0115 entity capabilities: the ver of a disco#info query.
 */
#ifndef XMPP_CAPSVER_H
#define XMPP_CAPSVER_H

#include <stddef.h>

struct xml_node;

/* The base64 ver of query (identities, features, extended forms, as
 * §5.1 orders them) with hash "sha-1" or "sha-256": 0, or -1 when the
 * hash is unknown or the answer unusable (§5.4: duplicates). */
int capsver(const struct xml_node *query, const char *hash, char *out, size_t outlen);

#endif
