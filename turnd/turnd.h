/*
 * turnd — the daemon's shared state: the server, its listeners, how a
 * client is reached (UDP 5-tuple or a TCP/TLS connection), and counters.
 * Each concern's functions live in their own file (alloc.c, perm.c,
 * channel.c, turn.c, relay.c, listen.c, conn.c).
 */
#ifndef TURND_TURND_H
#define TURND_TURND_H

#include "addr.h"
#include "evloop.h"
#include "hash.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct turnd_config;
struct conn;
struct tls_server;
struct metrics_server;

union sockaddr_u {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

enum transport {
	TP_UDP,
	TP_TCP,
	TP_TLS,
};

struct listener {
	struct turnd *td;
	enum transport tp;
	int fd;
	struct ev_io io;
	struct edge_addr addr;
};

/* How a client reaches us and we reach it. */
struct client_ep {
	enum transport tp;
	struct listener *l;	/* the UDP socket, or the accepting listener */
	struct conn *conn;	/* TCP/TLS */
	union sockaddr_u addr;	/* the client */
	union sockaddr_u local;	/* our address it talks to (UDP pktinfo) */
	bool have_local;
};

struct turnd_stats {
	uint64_t allocs_total;
	uint64_t relayed_to_peer;
	uint64_t relayed_to_client;
	uint64_t dropped;
	/* for the metrics endpoint (stats.c) */
	uint64_t bytes_to_peer;
	uint64_t bytes_to_client;
	uint64_t peers_refused;
	uint64_t auth_failures;
};

struct turnd {
	struct ev_loop *loop;
	struct turnd_config *cfg;
	struct listener *listeners;
	size_t nlisteners;
	struct hash allocs;	/* UDP allocations by 5-tuple */
	struct hash users;	/* allocation count per username */
	struct hash perms;	/* (allocation, peer IP) */
	struct hash chan_num;	/* (allocation, channel number) */
	struct hash chan_peer;	/* (allocation, peer address) */
	struct hash reserved;	/* port reservations by token */
	struct hash conn_ips;	/* TCP/TLS connections per client IP */
	size_t nallocs;
	size_t nconns;
	struct conn *conns;	/* all TCP/TLS connections */
	struct tls_server *tls;	/* NULL without TLS listeners */
	struct ev_timer trim;	/* gives freed allocation memory back */
	struct ev_io addr_watch;	/* netlink: the host's addresses changed */
	struct turnd_stats stats;
	struct metrics_server *metrics;	/* NULL unless [metrics] listen */
	bool stopping;
};

static inline time_t turnd_now_s(void) { return time(NULL); }

/* sockaddr helpers shared by the modules. */
socklen_t sa_len(const struct sockaddr *sa);
/* ::ffff:a.b.c.d -> a.b.c.d in place. */
void sa_unmap(union sockaddr_u *u);
bool sa_equal(const struct sockaddr *a, const struct sockaddr *b);
bool sa_ip_equal(const struct sockaddr *a, const struct sockaddr *b);
const char *sa_str(const struct sockaddr *sa, char *buf, size_t len);

#endif
