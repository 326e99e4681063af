/*
 * addr — listen/connect addresses as written in configs, and sockets on them.
 *
 * Accepted forms: "127.0.0.1:5050", "[::1]:5050", "[::]:5050" (dual-stack),
 * "0.0.0.0:5050", "*:5050" and ":5050" (all addresses, dual-stack),
 * a bare "5050" (same), and "unix:/path/to.sock".  Host names are refused:
 * a daemon must not depend on DNS to start.
 */
#ifndef EDGE_ADDR_H
#define EDGE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

struct edge_addr {
	int family;			/* AF_INET, AF_INET6, AF_UNIX */
	socklen_t len;
	bool dualstack;			/* [::] written as "*" / ":port" / "[::]" */
	union {
		struct sockaddr sa;
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
		struct sockaddr_un sun;
		struct sockaddr_storage ss;
	} u;
};

#define ADDR_STRLEN (sizeof(((struct sockaddr_un *)0)->sun_path) + 8)

/* 0 or -1 with a message in err.  default_port < 0: a port is required. */
int addr_parse(const char *s, int default_port, struct edge_addr *out,
    char *err, size_t errlen);
/* "1.2.3.4:5", "[::1]:5", "unix:/p"; returns buf. */
const char *addr_format(const struct edge_addr *a, char *buf, size_t len);
const char *addr_format_sa(const struct sockaddr *sa, socklen_t salen,
    char *buf, size_t len);
int addr_port(const struct edge_addr *a);
void addr_set_port(struct edge_addr *a, int port);

/*
 * Bound, listening, non-blocking, close-on-exec socket (SO_REUSEADDR; for
 * unix sockets a stale socket file is replaced and the mode set).  type is
 * SOCK_STREAM or SOCK_DGRAM (no listen for datagram sockets).
 * -1 with message on failure.
 */
int addr_listen(const struct edge_addr *a, int type, int backlog,
    int unix_mode, char *err, size_t errlen);

int fd_set_nonblock(int fd);

/*
 * Address prefixes for allow/deny lists: "192.0.2.0/24", "2001:db8::/32",
 * or a bare address (a /32 or /128).  Matching treats IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d, what a dual-stack socket reports for IPv4
 * peers) as the IPv4 address they carry.
 */
struct addr_cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned bits;
	uint8_t addr[16];	/* network order; host bits cleared */
};

int addr_cidr_parse(const char *s, struct addr_cidr *out);
bool addr_cidr_match(const struct addr_cidr *c, const struct sockaddr *sa);
/* true if any of the n prefixes matches */
bool addr_cidr_match_any(const struct addr_cidr *v, size_t n,
    const struct sockaddr *sa);
const char *addr_cidr_format(const struct addr_cidr *c, char *buf, size_t len);

#endif
