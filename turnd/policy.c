/*
 * policy — peer address filtering.  See policy.h.
 */
#include "policy.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/*
 * Every block the IANA special-purpose registries (RFC 6890, as updated)
 * mark not globally reachable, and the IPv6 forms that embed an IPv4
 * address a translator or tunnel would deliver to: a TURN relay is an open
 * door into whatever network the host sits in (RFC 8656 §21), so a peer
 * it may send to by default is one anybody on the Internet could reach.
 */
static const char *const default_deny[] = {
	/* IPv4 */
	"0.0.0.0/8",		/* "this network" (RFC 791) */
	"10.0.0.0/8",		/* private (RFC 1918) */
	"100.64.0.0/10",	/* shared, CGNAT (RFC 6598) */
	"127.0.0.0/8",		/* loopback */
	"169.254.0.0/16",	/* link-local (RFC 3927) */
	"172.16.0.0/12",	/* private */
	"192.0.0.0/24",		/* IETF protocol assignments, DS-Lite B4 (RFC 6890) */
	"192.0.2.0/24",		/* documentation, TEST-NET-1 (RFC 5737) */
	"192.88.99.0/24",	/* deprecated 6to4 relay anycast (RFC 7526) */
	"192.168.0.0/16",	/* private */
	"198.18.0.0/15",	/* benchmarking (RFC 2544) */
	"198.51.100.0/24",	/* documentation, TEST-NET-2 */
	"203.0.113.0/24",	/* documentation, TEST-NET-3 */
	"224.0.0.0/4",		/* multicast */
	"240.0.0.0/4",		/* reserved, and the limited broadcast */
	/* IPv6 */
	"::/128", "::1/128",	/* unspecified, loopback */
	"::/96",		/* IPv4-compatible (deprecated, RFC 4291) */
	"::ffff:0:0/96",	/* IPv4-mapped */
	"::ffff:0:0:0/96",	/* IPv4-translated, SIIT (RFC 7915, RFC 6052) */
	"64:ff9b::/96",		/* NAT64 well-known prefix (RFC 6052) */
	"64:ff9b:1::/48",	/* local-use IPv4/IPv6 translation (RFC 8215) */
	"100::/64",		/* discard-only (RFC 6666) */
	"100:0:0:1::/64",	/* dummy prefix (RFC 9780) */
	"2001::/23",		/* IETF protocol assignments: Teredo 2001::/32
				 * (embeds IPv4), benchmarking, ORCHID (RFC 2928) */
	"2001:db8::/32",	/* documentation (RFC 3849) */
	"2002::/16",		/* 6to4 (embeds IPv4, RFC 3056) */
	"3fff::/20",		/* documentation (RFC 9637) */
	"5f00::/16",		/* SRv6 SIDs (RFC 9602) */
	"fc00::/7",		/* unique local (RFC 4193) */
	"fe80::/10",		/* link-local */
	"fec0::/10",		/* site-local (deprecated, RFC 3879) */
	"ff00::/8",		/* multicast */
};

void
policy_add_own(struct policy *p, const struct sockaddr *sa)
{
	struct addr_cidr *c;

	if (p->nown == sizeof(p->own) / sizeof(p->own[0]))
		return;
	c = &p->own[p->nown];
	memset(c, 0, sizeof(*c));
	c->family = sa->sa_family;
	if (sa->sa_family == AF_INET) {
		memcpy(c->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		c->bits = 32;
		if (((const struct sockaddr_in *)sa)->sin_addr.s_addr == INADDR_ANY)
			return;
	} else if (sa->sa_family == AF_INET6) {
		memcpy(c->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		c->bits = 128;
		if (IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr))
			return;
	} else {
		return;
	}
	p->nown++;
}

/* sa as a prefix of the given length (host bits cleared); false if not IP. */
static bool
cidr_from(const struct sockaddr *sa, unsigned bits, struct addr_cidr *c)
{
	memset(c, 0, sizeof(*c));
	c->family = sa->sa_family;
	if (sa->sa_family == AF_INET) {
		memcpy(c->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		c->bits = bits > 32 ? 32 : bits;
	} else if (sa->sa_family == AF_INET6) {
		memcpy(c->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		c->bits = bits > 128 ? 128 : bits;
	} else {
		return false;
	}
	for (unsigned i = c->bits; i < 128; i++)
		c->addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	return true;
}

/* Leading one bits of a netmask; full length when there is none. */
static unsigned
mask_bits(const struct sockaddr *mask, int family)
{
	const uint8_t *m;
	size_t n;
	unsigned bits = 0;

	if (mask == NULL || mask->sa_family != family)
		return family == AF_INET ? 32 : 128;
	if (family == AF_INET) {
		m = (const uint8_t *)&((const struct sockaddr_in *)mask)->sin_addr;
		n = 4;
	} else {
		m = ((const struct sockaddr_in6 *)mask)->sin6_addr.s6_addr;
		n = 16;
	}
	for (size_t i = 0; i < n && m[i] == 0xff; i++)
		bits += 8;
	if (bits < n * 8)
		for (uint8_t b = m[bits / 8]; b & 0x80; b = (uint8_t)(b << 1))
			bits++;
	return bits;
}

/*
 * Each address as itself, a loopback interface's with its whole prefix
 * (every address in 127.0.0.0/8 is the host's), and IPv4 broadcast
 * addresses (a directed broadcast reaches every host on the link).
 */
static size_t
host_entries(const struct ifaddrs *ifa, struct addr_cidr *out)
{
	size_t n = 0;

	for (; ifa != NULL; ifa = ifa->ifa_next) {
		const struct sockaddr *sa = ifa->ifa_addr;
		unsigned bits;

		if (sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
			continue;
		bits = ifa->ifa_flags & IFF_LOOPBACK ?
		    mask_bits(ifa->ifa_netmask, sa->sa_family) : 128;
		if (out != NULL)
			cidr_from(sa, bits, &out[n]);
		n++;
		if (sa->sa_family == AF_INET && (ifa->ifa_flags & IFF_BROADCAST) &&
		    ifa->ifa_broadaddr != NULL &&
		    ifa->ifa_broadaddr->sa_family == AF_INET) {
			if (out != NULL)
				cidr_from(ifa->ifa_broadaddr, 32, &out[n]);
			n++;
		}
	}
	return n;
}

int
policy_set_host(struct policy *p, const struct ifaddrs *ifa)
{
	size_t n = host_entries(ifa, NULL);
	struct addr_cidr *v = NULL;

	if (n > 0 && (v = calloc(n, sizeof(*v))) == NULL)
		return -1;
	host_entries(ifa, v);
	free(p->host);
	p->host = v;
	p->nhost = n;
	return 0;
}

static bool
in_list(const struct addr_cidr *l, size_t n, const struct sockaddr *sa)
{
	return addr_cidr_match_any(l, n, sa);
}

static bool
default_denied(const struct sockaddr *sa)
{
	static struct addr_cidr parsed[sizeof(default_deny) / sizeof(default_deny[0])];
	static bool ready;

	if (!ready) {
		for (size_t i = 0; i < sizeof(parsed) / sizeof(parsed[0]); i++)
			addr_cidr_parse(default_deny[i], &parsed[i]);
		ready = true;
	}
	return in_list(parsed, sizeof(parsed) / sizeof(parsed[0]), sa);
}

/* An allow entry names sa itself (a whole-length prefix). */
static bool
named_in_allow(const struct policy *p, const struct sockaddr *sa)
{
	for (size_t i = 0; i < p->nallow; i++) {
		const struct addr_cidr *c = &p->allow[i];

		if (c->bits == (c->family == AF_INET ? 32u : 128u) &&
		    addr_cidr_match(c, sa))
			return true;
	}
	return false;
}

bool
policy_peer_allowed(const struct policy *p, const struct sockaddr *sa)
{
	struct sockaddr_in v4;

	/* Judge IPv4-mapped addresses as IPv4: the allow list must not be
	 * matched by one form and the deny list escaped by the other. */
	if (sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)sa)->sin6_addr)) {
		memset(&v4, 0, sizeof(v4));
		v4.sin_family = AF_INET;
		memcpy(&v4.sin_addr,
		    ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr + 12, 4);
		if (!policy_peer_allowed(p, (struct sockaddr *)&v4))
			return false;
		/* The relay socket is IPv6-only: a mapped peer is unreachable. */
		return false;
	}
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return false;
	if (in_list(p->deny, p->ndeny, sa))
		return false;
	if (in_list(p->own, p->nown, sa) || in_list(p->host, p->nhost, sa))
		return named_in_allow(p, sa);
	if (in_list(p->allow, p->nallow, sa))
		return true;
	if (sa->sa_family == AF_INET &&
	    ((const struct sockaddr_in *)sa)->sin_addr.s_addr == INADDR_BROADCAST)
		return false;
	return !default_denied(sa);
}

void
policy_free(struct policy *p)
{
	free(p->allow);
	free(p->deny);
	free(p->host);
	p->allow = p->deny = p->host = NULL;
	p->nallow = p->ndeny = p->nhost = 0;
}
