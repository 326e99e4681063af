/*
 * local — getifaddrs snapshot and address helpers.  See local.h.
 */
#include "local.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define LOCAL_MAX 256

static struct sockaddr_storage addrs[LOCAL_MAX];
static size_t naddrs;

int
local_load(char *err, size_t errlen)
{
	struct ifaddrs *ifa, *i;

	naddrs = 0;
	if (getifaddrs(&ifa) == -1) {
		snprintf(err, errlen, "getifaddrs: %s", strerror(errno));
		return -1;
	}
	for (i = ifa; i && naddrs < LOCAL_MAX; i = i->ifa_next) {
		if (i->ifa_addr == NULL || (i->ifa_addr->sa_family != AF_INET &&
		    i->ifa_addr->sa_family != AF_INET6))
			continue;
		memset(&addrs[naddrs], 0, sizeof(addrs[naddrs]));
		memcpy(&addrs[naddrs], i->ifa_addr, i->ifa_addr->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		naddrs++;
	}
	freeifaddrs(ifa);
	return 0;
}

bool
ip_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
	return false;
}

bool
ip_is_any(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (a->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)a)->sin6_addr);
	return false;
}

bool
local_has(const struct sockaddr_storage *ip)
{
	for (size_t i = 0; i < naddrs; i++)
		if (ip_equal(&addrs[i], ip))
			return true;
	return false;
}

const char *
ip_str(const struct sockaddr_storage *a, int port, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN];
	const void *p = a->ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)a)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr;

	if (inet_ntop(a->ss_family, p, h, sizeof(h)) == NULL)
		snprintf(h, sizeof(h), "?");
	if (port <= 0)
		snprintf(buf, len, "%s", h);
	else if (a->ss_family == AF_INET6)
		snprintf(buf, len, "[%s]:%d", h, port);
	else
		snprintf(buf, len, "%s:%d", h, port);
	return buf;
}

int
ip_parse(const char *s, struct sockaddr_storage *ss)
{
	char h[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(s);

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		return 0;
	}
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']' && n - 2 < sizeof(h)) {
		memcpy(h, s + 1, n - 2);
		h[n - 2] = '\0';
		s = h;
	}
	if (inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		return 0;
	}
	return -1;
}
