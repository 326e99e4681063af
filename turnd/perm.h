/*
 * perm — permissions of an allocation (RFC 8656 §9): one per peer IP
 * address, five minutes unless refreshed, found in O(1) through a
 * server-wide hash keyed by (allocation, IP).
 */
#ifndef TURND_PERM_H
#define TURND_PERM_H

#include "turnd.h"

struct alloc;

/*
 * XOR-PEER-ADDRESS attributes one CreatePermission may carry (RFC 8656
 * §9.1 allows several; browsers send one per request).  More get 400: the
 * request is all or nothing, and this bounds the work one request costs.
 */
#define PERM_MAX_PER_REQUEST	16

struct perm {
	struct hnode node;
	struct alloc *a;
	struct perm *next;		/* the allocation's list */
	uint64_t expire_ms;
	union sockaddr_u ip;		/* port ignored */
};

struct perm *perm_find(struct alloc *a, const struct sockaddr *peer);
/* A live permission for peer's IP exists. */
bool perm_ok(struct alloc *a, const struct sockaddr *peer, uint64_t now);
/* Installs or refreshes; -1 when the allocation's quota is reached. */
int perm_install(struct alloc *a, const struct sockaddr *peer, uint64_t now);
/* Whether perm_install would succeed without installing. */
bool perm_room(struct alloc *a, const struct sockaddr *peer);
/* Drops expired permissions; returns the earliest remaining expiry or 0. */
uint64_t perm_sweep(struct alloc *a, uint64_t now);
void perm_free_all(struct alloc *a);

#endif
