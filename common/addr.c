/*
 * addr — parsing, formatting and listening sockets.  See addr.h.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
parse_port(const char *s, int *port)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static void
set_any6(struct edge_addr *out, int port)
{
	out->family = AF_INET6;
	out->len = sizeof(out->u.sin6);
	out->u.sin6.sin6_family = AF_INET6;
	out->u.sin6.sin6_addr = in6addr_any;
	out->u.sin6.sin6_port = htons((uint16_t)port);
	out->dualstack = true;
}

int
addr_parse(const char *s, int default_port, struct edge_addr *out,
    char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *portstr = NULL;
	int port = default_port;

	memset(out, 0, sizeof(*out));
	if (strncmp(s, "unix:", 5) == 0) {
		const char *path = s + 5;

		if (path[0] != '/') {
			snprintf(err, errlen, "\"%s\": unix socket path must be absolute", s);
			return -1;
		}
		if (strlen(path) >= sizeof(out->u.sun.sun_path)) {
			snprintf(err, errlen, "\"%s\": unix socket path too long", s);
			return -1;
		}
		out->family = AF_UNIX;
		out->u.sun.sun_family = AF_UNIX;
		strcpy(out->u.sun.sun_path, path);
		out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    strlen(path) + 1);
		return 0;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		size_t hl;

		if (close == NULL || (hl = (size_t)(close - s - 1)) >= sizeof(host)) {
			snprintf(err, errlen, "\"%s\": bad IPv6 address", s);
			return -1;
		}
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		if (close[1] == ':')
			portstr = close + 2;
		else if (close[1] != '\0')
			goto bad;
		if (portstr && parse_port(portstr, &port) < 0)
			goto badport;
		if (port < 0)
			goto needport;
		out->family = AF_INET6;
		out->len = sizeof(out->u.sin6);
		out->u.sin6.sin6_family = AF_INET6;
		out->u.sin6.sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &out->u.sin6.sin6_addr) != 1)
			goto bad;
		out->dualstack = IN6_IS_ADDR_UNSPECIFIED(&out->u.sin6.sin6_addr);
		return 0;
	}
	/* "5050", ":5050", "*:5050" */
	if (parse_port(s, &port) == 0) {
		set_any6(out, port);
		return 0;
	}
	if ((s[0] == ':' || (s[0] == '*' && s[1] == ':'))) {
		if (parse_port(s + (s[0] == ':' ? 1 : 2), &port) < 0)
			goto badport;
		set_any6(out, port);
		return 0;
	}
	{
		const char *colon = strrchr(s, ':');
		size_t hl = colon ? (size_t)(colon - s) : strlen(s);

		if (colon != NULL && strchr(s, ':') != colon) {
			snprintf(err, errlen,
			    "\"%s\": IPv6 addresses must be written in brackets, "
			    "e.g. [::1]:5050", s);
			return -1;
		}
		if (hl >= sizeof(host))
			goto bad;
		memcpy(host, s, hl);
		host[hl] = '\0';
		if (colon && parse_port(colon + 1, &port) < 0)
			goto badport;
		if (port < 0)
			goto needport;
		out->family = AF_INET;
		out->len = sizeof(out->u.sin);
		out->u.sin.sin_family = AF_INET;
		out->u.sin.sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &out->u.sin.sin_addr) != 1)
			goto bad;
		return 0;
	}
bad:
	snprintf(err, errlen, "\"%s\": not a numeric address "
	    "(use 127.0.0.1:PORT, [::1]:PORT, [::]:PORT or unix:/path)", s);
	return -1;
badport:
	snprintf(err, errlen, "\"%s\": port must be 1-65535", s);
	return -1;
needport:
	snprintf(err, errlen, "\"%s\": a port is required", s);
	return -1;
}

const char *
addr_format_sa(const struct sockaddr *sa, socklen_t salen, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN];

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, h, sizeof(h));
		snprintf(buf, len, "%s:%u", h, ntohs(in->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, h, sizeof(h));
		snprintf(buf, len, "[%s]:%u", h, ntohs(in6->sin6_port));
		break;
	}
	case AF_UNIX: {
		const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
		if (salen <= offsetof(struct sockaddr_un, sun_path) ||
		    un->sun_path[0] == '\0')
			snprintf(buf, len, "unix:");
		else
			snprintf(buf, len, "unix:%.*s", (int)(salen -
			    offsetof(struct sockaddr_un, sun_path)), un->sun_path);
		break;
	}
	default:
		snprintf(buf, len, "?");
	}
	return buf;
}

const char *
addr_format(const struct edge_addr *a, char *buf, size_t len)
{
	return addr_format_sa(&a->u.sa, a->len, buf, len);
}

int
addr_port(const struct edge_addr *a)
{
	if (a->family == AF_INET)
		return ntohs(a->u.sin.sin_port);
	if (a->family == AF_INET6)
		return ntohs(a->u.sin6.sin6_port);
	return 0;
}

void
addr_set_port(struct edge_addr *a, int port)
{
	if (a->family == AF_INET)
		a->u.sin.sin_port = htons((uint16_t)port);
	else if (a->family == AF_INET6)
		a->u.sin6.sin6_port = htons((uint16_t)port);
}

int
fd_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

int
addr_listen(const struct edge_addr *a, int type, int backlog, int unix_mode,
    char *err, size_t errlen)
{
	char as[ADDR_STRLEN];
	int fd, one = 1, zero = 0;

	addr_format(a, as, sizeof(as));
	fd = socket(a->family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "%s: socket: %s", as, strerror(errno));
		return -1;
	}
	if (a->family == AF_UNIX) {
		struct stat st;

		/* Replace a stale socket, never any other kind of file. */
		if (lstat(a->u.sun.sun_path, &st) == 0) {
			if (!S_ISSOCK(st.st_mode)) {
				snprintf(err, errlen, "%s: exists and is not a socket", as);
				goto fail;
			}
			unlink(a->u.sun.sun_path);
		}
	} else {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (a->family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
			    a->dualstack ? &zero : &one, sizeof(int));
	}
	if (bind(fd, &a->u.sa, a->len) < 0) {
		snprintf(err, errlen, "%s: bind: %s", as, strerror(errno));
		goto fail;
	}
	if (a->family == AF_UNIX && unix_mode > 0 &&
	    chmod(a->u.sun.sun_path, (mode_t)unix_mode) < 0) {
		snprintf(err, errlen, "%s: chmod: %s", as, strerror(errno));
		goto fail;
	}
	if (type == SOCK_STREAM && listen(fd, backlog) < 0) {
		snprintf(err, errlen, "%s: listen: %s", as, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int
addr_cidr_parse(const char *s, struct addr_cidr *out)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	long bits;
	char *end;

	memset(out, 0, sizeof(*out));
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1) {
		out->family = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, host, out->addr) == 1) {
		out->family = AF_INET6;
		bits = 128;
	} else {
		return -1;
	}
	if (slash != NULL) {
		long max = bits;

		if (slash[1] < '0' || slash[1] > '9')
			return -1;
		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (errno != 0 || *end != '\0' || bits > max)
			return -1;
	}
	out->bits = (unsigned)bits;
	/* clear host bits so equal prefixes compare equal */
	for (unsigned i = out->bits; i < 128; i++)
		out->addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	return 0;
}

static bool
prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	return rest == 0 ||
	    ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool
addr_cidr_match(const struct addr_cidr *c, const struct sockaddr *sa)
{
	const uint8_t *a;
	int fam = sa->sa_family;

	if (fam == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (fam == AF_INET6) {
		const struct in6_addr *in6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		a = in6->s6_addr;
		if (c->family == AF_INET && IN6_IS_ADDR_V4MAPPED(in6)) {
			a += 12;
			fam = AF_INET;
		}
	} else {
		return false;
	}
	return fam == c->family && prefix_equal(a, c->addr, c->bits);
}

bool
addr_cidr_match_any(const struct addr_cidr *v, size_t n,
    const struct sockaddr *sa)
{
	for (size_t i = 0; i < n; i++)
		if (addr_cidr_match(&v[i], sa))
			return true;
	return false;
}

const char *
addr_cidr_format(const struct addr_cidr *c, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->addr, h, sizeof(h));
	snprintf(buf, len, "%s/%u", h, c->bits);
	return buf;
}
