/*
 * channel — channel bindings of an allocation (RFC 8656 §12): number
 * 0x4000-0x4FFF <-> peer transport address, ten minutes unless refreshed,
 * found in O(1) both ways through two server-wide hashes.
 */
#ifndef TURND_CHANNEL_H
#define TURND_CHANNEL_H

#include "turnd.h"

struct alloc;

struct channel {
	struct hnode by_num;
	struct hnode by_peer;
	struct alloc *a;
	struct channel *next;		/* the allocation's list */
	uint64_t expire_ms;
	uint16_t num;
	union sockaddr_u peer;
};

struct channel *channel_by_num(struct alloc *a, uint16_t num);
struct channel *channel_by_peer(struct alloc *a, const struct sockaddr *peer);

enum channel_bind_rc {
	CHANNEL_BOUND = 0,
	CHANNEL_CONFLICT = 400,		/* number or peer bound otherwise */
	CHANNEL_QUOTA = 508,
};

/* Binds or refreshes num <-> peer. */
enum channel_bind_rc channel_bind(struct alloc *a, uint16_t num,
    const struct sockaddr *peer, uint64_t now);
/* Whether channel_bind would succeed without binding. */
enum channel_bind_rc channel_check(struct alloc *a, uint16_t num,
    const struct sockaddr *peer, uint64_t now);
/* Drops bindings five minutes past expiry; earliest such time or 0. */
uint64_t channel_sweep(struct alloc *a, uint64_t now);
void channel_free_all(struct alloc *a);

#endif
