/*
 * sa — small sockaddr helpers shared by turnd's modules (see turnd.h).
 */
#include "turnd.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

socklen_t
sa_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

void
sa_unmap(union sockaddr_u *u)
{
	struct sockaddr_in sin;

	if (u->sa.sa_family != AF_INET6 ||
	    !IN6_IS_ADDR_V4MAPPED(&u->sin6.sin6_addr))
		return;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = u->sin6.sin6_port;
	memcpy(&sin.sin_addr, u->sin6.sin6_addr.s6_addr + 12, 4);
	memset(u, 0, sizeof(*u));
	u->sin = sin;
}

bool
sa_ip_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	    &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

bool
sa_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (!sa_ip_equal(a, b))
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_port ==
		    ((const struct sockaddr_in *)b)->sin_port;
	return ((const struct sockaddr_in6 *)a)->sin6_port ==
	    ((const struct sockaddr_in6 *)b)->sin6_port;
}

const char *
sa_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(s->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(s->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}
