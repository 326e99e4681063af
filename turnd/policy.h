/*
 * policy — which peer addresses a relay may send to.
 *
 * Denied by default: loopback, RFC 1918, CGNAT 100.64/10, link-local,
 * multicast, 0.0.0.0/8, broadcast, reserved, ::/128, ::1, IPv4-mapped and
 * -compatible ranges, NAT64 and 6to4 prefixes, fc00::/7, fe80::/10, multicast ff00::/8, and the
 * relay's own addresses.  A deny list adds ranges and wins over everything;
 * an allow list opens ranges the defaults (or own addresses) close.  IPv4-mapped IPv6 addresses are judged as the IPv4 address
 * they carry (the CVE-2020-26262 class of bypass).
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
