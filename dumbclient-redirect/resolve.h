/*
 * resolve — finds the XMPP host from DNS without blocking the event loop:
 * _xmpp-client._tcp and _xmpp-server._tcp SRV records of the domain, then
 * A and AAAA of their targets, with the smallest TTL of everything used.
 * Lookups run in a worker thread (res_nquery with a private resolver
 * state); the result comes back to the loop through a pipe.
 */
#ifndef REDIRECT_RESOLVE_H
#define REDIRECT_RESOLVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "config.h"

struct ev_loop;

struct resolve_req {
	char domain[256];
	bool has_ns;
	struct sockaddr_in ns;
	int timeout;			/* seconds per attempt */
};

struct resolve_res {
	bool ok;
	char err[800];
	struct redirect_target target;
	uint32_t ttl;			/* smallest TTL of the answers used */
	char client_host[256], server_host[256];
};

void resolve_req_from_conf(const struct redirect_conf *c,
    struct resolve_req *req);

/* Blocking lookup (the worker thread's body; --once uses it directly). */
void resolve_targets(const struct resolve_req *req, struct resolve_res *res,
    const atomic_bool *stop);

/*
 * Answer parsers (RFC 1035 / RFC 2782).  The best SRV record is the lowest
 * priority, then the highest weight: a stable choice, so the rules do not
 * flap between equal records.  0 found, 1 "service not available" (target
 * "."), -1 nothing usable.
 */
int resolve_parse_srv(const unsigned char *msg, int len, char *host,
    size_t hostlen, uint16_t *port, uint32_t *ttl);
/* First address of family in the answer: 0, or -1. */
int resolve_parse_addr(const unsigned char *msg, int len, int family,
    struct nft_ip *out, uint32_t *ttl);

/* Asynchronous lookups on a loop, one at a time. */
struct resolver;
typedef void resolve_done_cb(const struct resolve_res *res, void *data);

struct resolver *resolver_new(struct ev_loop *loop, resolve_done_cb *cb,
    void *data);
/* Starts a lookup: 0, or -1 (busy, or no thread: errno). */
int resolver_start(struct resolver *r, const struct resolve_req *req);
bool resolver_busy(const struct resolver *r);
/* Asks a running lookup to stop, waits for it, frees everything. */
void resolver_free(struct resolver *r);

#endif
