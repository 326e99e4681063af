/*
 * policy — peer address filtering.  See policy.h.
 */
#include "policy.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/*
 * IPv6 forms that embed an IPv4 address a gateway would translate to
 * (NAT64 64:ff9b::/96, 6to4 2002::/16) are refused too: otherwise
 * 64:ff9b::7f00:1 would reach 127.0.0.1 on a host behind NAT64.
 */
static const char *const default_deny[] = {
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
	"169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16",
	"198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "::1/128", "::/96", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16",
	"100::/64", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
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
	if (in_list(p->allow, p->nallow, sa))
		return true;
	if (sa->sa_family == AF_INET &&
	    ((const struct sockaddr_in *)sa)->sin_addr.s_addr == INADDR_BROADCAST)
		return false;
	return !default_denied(sa) && !in_list(p->own, p->nown, sa);
}

void
policy_free(struct policy *p)
{
	free(p->allow);
	free(p->deny);
	p->allow = p->deny = NULL;
	p->nallow = p->ndeny = 0;
}
