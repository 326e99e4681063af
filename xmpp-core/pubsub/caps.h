/*
 * caps — what the clients on this server can do (XEP-0115 entity
 * capabilities): when an available presence carries <c hash ver node/>
 * with a ver not seen yet, the server asks that resource for
 * disco#info of node#ver, checks the ver against the answer (§5.1
 * verification string, SHA-1 or SHA-256) and keeps the features by ver
 * in a bounded cache shared by every session with that ver; the same
 * for other servers' resources that send presence to our accounts.  PEP
 * (pubsubnotify.c, pep.c) asks it who wants <node>+notify.
 */
#ifndef XMPP_CAPS_H
#define XMPP_CAPS_H

#include <stdbool.h>
#include <stddef.h>

struct c2s;
struct xml_node;

#define NS_CAPS "http://jabber.org/protocol/caps"

/* The session's verified features include feature. */
bool caps_has(const struct c2s *c, const char *feature);
/* The session's features (sorted), or 0 when not known. */
size_t caps_features(const struct c2s *c, char *const **features);
/* Calls fn with the full JID of every resource of another server that
 * sent owner (a bare JID of ours) available presence with caps that
 * include feature. */
void caps_remote_each(const char *owner, const char *feature,
    void (*fn)(void *arg, const char *full), void *arg);


#endif
