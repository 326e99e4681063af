/*
 * perm — permissions.  See perm.h.
 */
#include "perm.h"
#include "alloc.h"
#include "config.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

static uint32_t
perm_hash(const struct alloc *a, const struct sockaddr *peer)
{
	uint8_t key[sizeof(void *) + 16];
	size_t len = sizeof(void *);

	memcpy(key, &a, sizeof(void *));
	if (peer->sa_family == AF_INET) {
		memcpy(key + len, &((const struct sockaddr_in *)peer)->sin_addr, 4);
		len += 4;
	} else {
		memcpy(key + len, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
		len += 16;
	}
	return hash_bytes(key, len, hash_seed);
}

struct perm *
perm_find(struct alloc *a, const struct sockaddr *peer)
{
	uint32_t h = perm_hash(a, peer);
	struct hnode *n;

	for (n = hash_first(&a->td->perms, h); n != NULL; n = hash_next(n, h)) {
		struct perm *p = container_of(n, struct perm, node);

		if (p->a == a && sa_ip_equal(&p->ip.sa, peer))
			return p;
	}
	return NULL;
}

bool
perm_ok(struct alloc *a, const struct sockaddr *peer, uint64_t now)
{
	struct perm *p = perm_find(a, peer);

	return p != NULL && p->expire_ms > now;
}

bool
perm_room(struct alloc *a, const struct sockaddr *peer)
{
	return perm_find(a, peer) != NULL ||
	    a->nperms < a->td->cfg->max_permissions;
}

int
perm_install(struct alloc *a, const struct sockaddr *peer, uint64_t now)
{
	struct perm *p = perm_find(a, peer);

	if (p == NULL) {
		if (a->nperms >= a->td->cfg->max_permissions)
			return -1;
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return -1;
		p->a = a;
		memcpy(&p->ip, peer, sa_len(peer));
		p->next = a->perms;
		a->perms = p;
		a->nperms++;
		hash_insert(&a->td->perms, &p->node, perm_hash(a, peer));
	}
	p->expire_ms = now + (uint64_t)a->td->cfg->perm_lifetime * 1000;
	return 0;
}

uint64_t
perm_sweep(struct alloc *a, uint64_t now)
{
	struct perm **pp = &a->perms, *p;
	uint64_t earliest = 0;

	while ((p = *pp) != NULL) {
		if (p->expire_ms <= now) {
			*pp = p->next;
			hash_remove(&a->td->perms, &p->node);
			a->nperms--;
			free(p);
			continue;
		}
		if (earliest == 0 || p->expire_ms < earliest)
			earliest = p->expire_ms;
		pp = &p->next;
	}
	return earliest;
}

void
perm_free_all(struct alloc *a)
{
	struct perm *p, *next;

	for (p = a->perms; p != NULL; p = next) {
		next = p->next;
		hash_remove(&a->td->perms, &p->node);
		free(p);
	}
	a->perms = NULL;
	a->nperms = 0;
}
