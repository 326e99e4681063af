/*
 * resolve — where a remote domain's server listens (RFC 6120 §3.2,
 * XEP-0368): SRV records of _xmpps-server._tcp (direct TLS) and
 * _xmpp-server._tcp, ordered by priority and weight (RFC 2782), each
 * target's A/AAAA addresses interleaved by family (RFC 8305 §4), and
 * the fallback to the domain's own addresses on 5269 when there is no
 * SRV record.  All of it runs on one thread with libc's resolver, off
 * the event loop; answers come back on the loop and are cached for
 * their TTL.  Domains go to DNS as A-labels (IDNA2008).
 */
#ifndef XMPP_RESOLVE_H
#define XMPP_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ev_loop;

struct s2s_target {
	struct sockaddr_storage ss;
	socklen_t len;
	bool direct_tls;	/* from _xmpps-server: TLS from the first byte */
};

/* n == 0: nothing to connect to (no records, or the lookup failed: why). */
typedef void resolve_cb(void *arg, const struct s2s_target *t, size_t n,
    const char *why);

struct resolve_req;

int resolve_init(struct ev_loop *loop);
/* Waits for the thread (a query in flight ends within its time-out). */
void resolve_shutdown(void);

/*
 * Looks domain (a normalised domainpart) up; host/port set: a static
 * route, only host's addresses are looked up (direct_tls: its kind).  cache_ms bounds how long
 * an answer without a TTL of its own (getaddrinfo's) is kept.  cb runs on
 * the loop, later, unless the request is cancelled first.  NULL on ENOMEM.
 */
struct resolve_req *resolve_query(const char *domain, const char *host, int port,
    bool direct_tls, uint64_t cache_ms, resolve_cb *cb, void *arg);
void resolve_cancel(struct resolve_req *r);
/* Forgets every cached answer (xmppctl, tests of a peer that moved). */
void resolve_flush(void);

/* ---- pure parts, exposed for the unit tests ---- */

struct srv_rec {
	uint16_t prio, weight, port;
	bool direct_tls;
	char target[256];
};

/*
 * Orders SRV records in place: by priority, direct TLS before STARTTLS
 * at one priority (XEP-0368 §3), and within one priority and kind by
 * RFC 2782's weighted random selection (rnd(arg) gives uniform 32-bit
 * numbers; a weight-0 record is picked first only when the draw is 0).
 * Returns n.
 */
size_t resolve_srv_order(struct srv_rec *r, size_t n,
    uint32_t (*rnd)(void *arg), void *arg);
/* U-label domain to its A-label form (xn--...): length, or -1. */
long resolve_alabel(const char *in, char *out, size_t cap);

#endif
