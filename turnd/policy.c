/*
 * policy — peer address filtering.  See policy.h.
 */
#include "policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static const char *const default_deny[] = {
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
	"169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16",
	"198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "::1/128", "::/96", "::ffff:0:0/96", "64:ff9b:1::/48",
	"100::/64", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
};

int
cidr_parse(const char *s, struct cidr *out)
{
	char buf[64], *slash, *end;
	long prefix;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	memset(out, 0, sizeof(*out));
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		prefix = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		prefix = 128;
	} else {
		return -1;
	}
	if (slash != NULL) {
		long max = prefix;

		if (*slash == '\0')
			return -1;
		prefix = strtol(slash, &end, 10);
		if (*end != '\0' || prefix < 0 || prefix > max)
			return -1;
	}
	out->prefix = (uint8_t)prefix;
	return 0;
}

static bool
prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rem = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rem == 0)
		return true;
	return ((a[bytes] ^ b[bytes]) & (0xFF << (8 - rem))) == 0;
}

bool
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET && c->family == AF_INET)
		return prefix_match(c->addr,
		    (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr,
		    c->prefix);
	if (sa->sa_family == AF_INET6 && c->family == AF_INET6)
		return prefix_match(c->addr,
		    ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, c->prefix);
	return false;
}

void
policy_add_own(struct policy *p, const struct sockaddr *sa)
{
	struct cidr *c;

	if (p->nown == sizeof(p->own) / sizeof(p->own[0]))
		return;
	c = &p->own[p->nown];
	memset(c, 0, sizeof(*c));
	c->family = sa->sa_family;
	if (sa->sa_family == AF_INET) {
		memcpy(c->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		c->prefix = 32;
		if (((const struct sockaddr_in *)sa)->sin_addr.s_addr == INADDR_ANY)
			return;
	} else if (sa->sa_family == AF_INET6) {
		memcpy(c->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		c->prefix = 128;
		if (IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr))
			return;
	} else {
		return;
	}
	p->nown++;
}

static bool
in_list(const struct cidr *l, size_t n, const struct sockaddr *sa)
{
	for (size_t i = 0; i < n; i++)
		if (cidr_match(&l[i], sa))
			return true;
	return false;
}

static bool
default_denied(const struct sockaddr *sa)
{
	static struct cidr parsed[sizeof(default_deny) / sizeof(default_deny[0])];
	static bool ready;

	if (!ready) {
		for (size_t i = 0; i < sizeof(parsed) / sizeof(parsed[0]); i++)
			cidr_parse(default_deny[i], &parsed[i]);
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
