/*
 * proxy — client addresses through trusted proxies.  See proxy.h.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "addr.h"

#define MAX_HOPS 32	/* entries looked at, from the right */

static bool
is_space(char ch)
{
	return ch == ' ' || ch == '\t';
}

int
proxy_parse_addr(const char *s, size_t len, struct sockaddr_storage *out)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	struct sockaddr_in *sin = (struct sockaddr_in *)out;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
	const char *colon;

	while (len > 0 && is_space(*s)) {
		s++;
		len--;
	}
	while (len > 0 && is_space(s[len - 1]))
		len--;
	if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
		s++;
		len -= 2;
	}
	if (len == 0)
		return -1;
	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *end = memchr(s, ']', len);

		if (end == NULL || (size_t)(end - s - 1) >= sizeof(tmp))
			return -1;
		/* what follows must be nothing or a port */
		if ((size_t)(end - s) + 1 < len && end[1] != ':')
			return -1;
		memcpy(tmp, s + 1, (size_t)(end - s - 1));
		tmp[end - s - 1] = '\0';
		sin6->sin6_family = AF_INET6;
		return inet_pton(AF_INET6, tmp, &sin6->sin6_addr) == 1 ? 0 : -1;
	}
	if (len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET6, tmp, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	/* IPv4 with an optional port */
	if ((colon = strchr(tmp, ':')) != NULL) {
		if (strchr(colon + 1, ':') || colon[1] == '\0' ||
		    strspn(colon + 1, "0123456789") != strlen(colon + 1))
			return -1;
		tmp[colon - tmp] = '\0';
	}
	if (inet_pton(AF_INET, tmp, &sin->sin_addr) != 1)
		return -1;
	sin->sin_family = AF_INET;
	return 0;
}

/* The for= value of one Forwarded element (RFC 7239 §4): span or NULL. */
static const char *
forwarded_for(const char *s, size_t len, size_t *vlen)
{
	size_t i = 0;

	while (i < len) {
		size_t a = i, e;
		bool quoted = false;

		while (i < len && (s[i] != ';' || quoted)) {
			if (s[i] == '"')
				quoted = !quoted;
			i++;
		}
		e = i++;
		while (a < e && is_space(s[a]))
			a++;
		if (e - a > 4 && strncasecmp(s + a, "for=", 4) == 0) {
			*vlen = e - a - 4;
			return s + a + 4;
		}
	}
	return NULL;
}

bool
proxy_client_addr(const struct sockaddr *peer, socklen_t peerlen, const char *xff,
    const char *fwd, const struct addr_cidr *trusted, size_t ntrusted,
    struct sockaddr_storage *out)
{
	const char *h = fwd ? fwd : xff, *end, *start, *v;
	struct sockaddr_storage cand;
	bool found = false;
	size_t vlen;

	memset(out, 0, sizeof(*out));
	memcpy(out, peer, peerlen < sizeof(*out) ? peerlen : sizeof(*out));
	if (h == NULL || !addr_cidr_match_any(trusted, ntrusted, peer))
		return false;
	/* from the right: each hop trusted so far vouches for the one left of it */
	end = h + strlen(h);
	for (int hop = 0; hop < MAX_HOPS && end > h; hop++) {
		start = end;
		while (start > h && start[-1] != ',')
			start--;
		v = start;
		vlen = (size_t)(end - start);
		if (fwd && (v = forwarded_for(start, vlen, &vlen)) == NULL)
			break;
		if (proxy_parse_addr(v, vlen, &cand) == -1)
			break;	/* nothing known beyond a hop we cannot read */
		*out = cand;
		found = true;
		if (!addr_cidr_match_any(trusted, ntrusted, (struct sockaddr *)&cand))
			break;
		end = start > h ? start - 1 : h;
	}
	return found;
}

void
proxy_addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		snprintf(buf, len, "%u.%u.%u.%u", sin6->sin6_addr.s6_addr[12],
		    sin6->sin6_addr.s6_addr[13], sin6->sin6_addr.s6_addr[14],
		    sin6->sin6_addr.s6_addr[15]);
	} else if (sa->sa_family == AF_INET6) {
		if (inet_ntop(AF_INET6, &sin6->sin6_addr, buf, (socklen_t)len) == NULL)
			snprintf(buf, len, "?");
	} else if (sa->sa_family == AF_INET) {
		if (inet_ntop(AF_INET, &sin->sin_addr, buf, (socklen_t)len) == NULL)
			snprintf(buf, len, "?");
	} else {
		snprintf(buf, len, "?");
	}
}
