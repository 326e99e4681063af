/*
 * policy — which peer addresses a relay may send to.
 *
 * Denied by default: every block the IANA special-purpose registries mark
 * not globally reachable, the IPv6 forms that embed an IPv4 address
 * (mapped, compatible, SIIT, NAT64, 6to4, Teredo), and the relay's own
 * addresses; the list is in policy.c and deploy/TURND.md.  A deny list adds
 * ranges and wins over everything; an allow list opens ranges the defaults
 * (or own addresses) close.  IPv4-mapped IPv6 addresses are judged as the
 * IPv4 address they carry (the CVE-2020-26262 class of bypass).
 */
#ifndef TURND_POLICY_H
#define TURND_POLICY_H

#include "addr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct policy {
	struct addr_cidr *allow;
	size_t nallow;
	struct addr_cidr *deny;
	size_t ndeny;
	struct addr_cidr own[8];	/* relay and listen addresses */
	size_t nown;
};
void policy_add_own(struct policy *p, const struct sockaddr *sa);
/* true when the relay may send to sa. */
bool policy_peer_allowed(const struct policy *p, const struct sockaddr *sa);
void policy_free(struct policy *p);

#endif
