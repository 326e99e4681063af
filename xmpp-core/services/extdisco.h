/*
 * extdisco — external service discovery (XEP-0215, urn:xmpp:extdisco:2):
 * the configured STUN/TURN/TURNS services, with time-limited credentials
 * for the restricted ones in the TURN REST form turnd (and coturn's
 * use-auth-secret) verify: username "<expiry>:<bare JID>", password
 * base64(HMAC-SHA1(secret, username)).
 */
#ifndef XMPP_EXTDISCO_H
#define XMPP_EXTDISCO_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct c2s;
struct xml_node;

#define NS_EXTDISCO "urn:xmpp:extdisco:2"


/* The REST credential for user valid until expiry: username into user
 * (ulen bytes), password into pass (at least 29 bytes).  0, or -1. */
int extdisco_credential(const char *secret, const char *who, time_t expiry,
    char *user, size_t ulen, char *pass, size_t plen);

#endif
