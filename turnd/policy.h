/*
 * policy — which peer addresses a relay may send to.
 *
 * Denied by default: every block the IANA special-purpose registries mark
 * not globally reachable, the IPv6 forms that embed an IPv4 address
 * (mapped, compatible, SIIT, NAT64, 6to4, Teredo), and the relay's own
 * addresses; the list is in policy.c and deploy/TURND.md.
 *
 * Own addresses are the configured listen, relay and advertised addresses
 * and every address of the host (hostaddr.c keeps that list current): each
 * interface address, each IPv4 broadcast address, and a loopback
 * interface's whole prefix, so a client cannot reach what listens on the
 * host's other addresses through the relay.
 *
 * A deny list adds ranges and wins over everything; an allow list opens
 * ranges the defaults close, but an own address only when an entry names
 * that very address (/32, /128): opening the host's LAN must not open the
 * host.  IPv4-mapped IPv6 addresses are judged as the IPv4 address they
 * carry (the CVE-2020-26262 class of bypass).
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
	struct addr_cidr *host;		/* the host's addresses */
	size_t nhost;
};
struct ifaddrs;

void policy_add_own(struct policy *p, const struct sockaddr *sa);
/*
 * Replaces the host's addresses with those in ifa (a getifaddrs(3) list).
 * 0, or -1 when out of memory (the old list stays).
 */
int policy_set_host(struct policy *p, const struct ifaddrs *ifa);
/* true when the relay may send to sa. */
bool policy_peer_allowed(const struct policy *p, const struct sockaddr *sa);
void policy_free(struct policy *p);

#endif
