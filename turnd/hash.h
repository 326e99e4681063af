/*
 * hash — an intrusive chained hash table with power-of-two buckets that
 * doubles when the load passes one.  Entries embed a struct hnode; the
 * table never allocates per entry, only its bucket array when it grows.
 * Lookups hash the key themselves and compare in the caller's loop:
 *
 *	for (n = hash_first(&t, h); n; n = hash_next(n, h))
 *		if (key matches container_of(n, ...)) ...
 */
#ifndef TURND_HASH_H
#define TURND_HASH_H

#include <stddef.h>
#include <stdint.h>

struct hnode {
	struct hnode *next;
	uint32_t hash;
};

struct hash {
	struct hnode **b;
	size_t mask;		/* nbuckets - 1 */
	size_t n;
};

#define container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

void hash_init(struct hash *t);
void hash_free(struct hash *t);
void hash_insert(struct hash *t, struct hnode *n, uint32_t h);
void hash_remove(struct hash *t, struct hnode *n);

static inline struct hnode *
hash_first(const struct hash *t, uint32_t h)
{
	struct hnode *n = t->b[h & t->mask];

	while (n != NULL && n->hash != h)
		n = n->next;
	return n;
}

static inline struct hnode *
hash_next(struct hnode *n, uint32_t h)
{
	for (n = n->next; n != NULL && n->hash != h; n = n->next)
		;
	return n;
}

/* Keyed hash of bytes (SipHash-like strength is not needed: the key is
 * drawn at start-up so clients cannot aim at one bucket). */
uint32_t hash_bytes(const void *p, size_t len, uint32_t seed);
void hash_seed_init(void);
extern uint32_t hash_seed;

#endif
