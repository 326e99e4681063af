/*
 * alloc — TURN allocations (RFC 8656 §7): the relay socket on a port from
 * the configured range, the lifetime timer, quotas per user and in total,
 * the 5-tuple table for UDP clients, and the one log line per allocation.
 */
#ifndef TURND_ALLOC_H
#define TURND_ALLOC_H

#include "auth.h"
#include "turnd.h"

struct perm;
struct channel;

struct alloc {
	struct hnode node;		/* td->allocs (UDP only) */
	struct turnd *td;
	struct client_ep ep;
	int fd;				/* relay socket */
	struct ev_io io;
	union sockaddr_u relay;		/* bound */
	union sockaddr_u ext;		/* advertised */
	struct ev_timer timer;		/* earliest of expiry and sweeps */
	uint64_t expire_ms;
	uint64_t created_ms;
	struct user_count *uc;
	char *user;			/* the full USERNAME */
	uint8_t key[AUTH_KEY_MAX];
	uint8_t keylen;
	bool df;			/* DONT-FRAGMENT currently set on fd */
	uint8_t tid[STUN_TID_LEN];	/* of the Allocate, for retransmits */
	uint32_t lifetime;		/* granted, seconds */
	struct perm *perms;
	struct channel *chans;
	uint16_t nperms;
	uint16_t nchans;
	uint64_t tokens;		/* bandwidth cap bucket, bytes */
	uint64_t tokens_ms;
	uint64_t bytes_to_peer, bytes_to_client;
	uint64_t pkts_to_peer, pkts_to_client;
};

struct user_count {
	struct hnode node;
	uint32_t n;
	char name[];
};

enum alloc_err {
	ALLOC_OK = 0,
	ALLOC_QUOTA_USER = 486,
	ALLOC_CAPACITY = 508,
	ALLOC_FAMILY = 440,
};

/* Sets up what allocations share (call once at start-up). */
void alloc_init(struct turnd *td);

/* The UDP allocation of a 5-tuple, or NULL. */
struct alloc *alloc_find(struct turnd *td, const struct client_ep *ep);

/* What an Allocate asks for, once parsed and authenticated. */
struct alloc_req {
	int family;
	bool even_port;
	bool reserve;			/* EVEN-PORT R bit: keep port+1 */
	const uint8_t *token;		/* RESERVATION-TOKEN or NULL */
	bool df;
	const char *user;
	size_t ulen;
	const uint8_t *key;
	size_t keylen;
	const uint8_t *tid;
	uint32_t lifetime;
	bool token_made;		/* out: token holds a new reservation */
	uint8_t token_out[8];
};

/*
 * New allocation for ep.  On failure NULL with *err set to the STUN error
 * code to answer.
 */
struct alloc *alloc_create(struct turnd *td, const struct client_ep *ep,
    struct alloc_req *rq, int *err);

void alloc_refresh(struct alloc *a, uint32_t lifetime);
/* Closes the relay, frees permissions and channels, logs the line. */
void alloc_free(struct alloc *a, const char *why);
/* Re-arm the timer for the earliest deadline (after perm/channel changes). */
void alloc_schedule(struct alloc *a);
/* Frees every allocation (shutdown). */
void alloc_free_all(struct turnd *td);
/* Sets or clears DF on the relay socket. */
void alloc_set_df(struct alloc *a, bool df);

#endif
