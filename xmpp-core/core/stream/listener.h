/*
 * listener — the listening sockets of one kind of stream (c2s in
 * accept.c, s2s in s2s/): bound from the configured addresses
 * (dual-stack where an address says so), accepted in batches with
 * TCP_NODELAY set, and paused for a moment when the process runs out of
 * descriptors rather than spinning on a level-triggered socket.
 */
#ifndef XMPP_LISTENER_H
#define XMPP_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "addr.h"
#include "evloop.h"

/*
 * An accepted connection: ip is the peer's address alone ("192.0.2.1",
 * "2001:db8::1"), via the listener's address; fd is the callee's (it
 * closes it when it does not take it).
 */
typedef void listener_fn(int fd, const struct sockaddr_storage *ss, socklen_t sl,
    const char *ip, bool direct_tls, const char *via);

struct listener;

struct listener_set {
	const char *what;	/* "c2s", "s2s": logs */
	listener_fn *fn;
	struct listener *first;
	size_t n;
	struct ev_timer pause;	/* paused: out of descriptors or memory */
	bool pause_logged;	/* once per shortage */
};

void listener_init(struct listener_set *s, const char *what, listener_fn *fn);
/* Binds and starts a listener on each address: 0, or -1 with why. */
int listener_open(struct listener_set *s, const struct edge_addr *a, size_t n,
    bool direct_tls, int backlog, char *err, size_t errlen);
/* Stops accepting and closes them all (the set may be opened again). */
void listener_close(struct listener_set *s);
/* A peer's address alone: "192.0.2.1:5" / "[2001:db8::1]:5" -> the
 * address, as listener_fn gets it (for other accepting code). */
void listener_peer_ip(const struct sockaddr_storage *ss, socklen_t sl, char *ip,
    size_t len);

#endif
