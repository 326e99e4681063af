/*
 * policy — which peer addresses a relay may send to.
 *
 * Denied by default: loopback, RFC 1918, CGNAT 100.64/10, link-local,
 * multicast, 0.0.0.0/8, broadcast, reserved, ::/128, ::1, IPv4-mapped and
 * -compatible ranges, fc00::/7, fe80::/10, multicast ff00::/8, and the
 * relay's own addresses.  A deny list adds ranges and wins over everything;
 * an allow list opens ranges the defaults (or own addresses) close.  IPv4-mapped IPv6 addresses are judged as the IPv4 address
 * they carry (the CVE-2020-26262 class of bypass).
 */
#ifndef TURND_POLICY_H
#define TURND_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t prefix;
	uint8_t addr[16];	/* 4 used for IPv4 */
};

struct policy {
	struct cidr *allow;
	size_t nallow;
	struct cidr *deny;
	size_t ndeny;
	struct cidr own[8];	/* relay and listen addresses */
	size_t nown;
};

/* "192.0.2.0/24", "2001:db8::/32", or a bare address (full prefix). */
int cidr_parse(const char *s, struct cidr *out);
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);
void policy_add_own(struct policy *p, const struct sockaddr *sa);
/* true when the relay may send to sa. */
bool policy_peer_allowed(const struct policy *p, const struct sockaddr *sa);
void policy_free(struct policy *p);

#endif
