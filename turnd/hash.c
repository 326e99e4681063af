/*
 * hash — intrusive chained hash table.  See hash.h.
 */
#include "hash.h"
#include "crypto.h"
#include "log.h"

#include <stdlib.h>

uint32_t hash_seed;

void
hash_seed_init(void)
{
	if (random_bytes(&hash_seed, sizeof(hash_seed)) < 0)
		fatal("no randomness for the hash seed");
}

void
hash_init(struct hash *t)
{
	t->mask = 15;
	t->n = 0;
	if ((t->b = calloc(t->mask + 1, sizeof(*t->b))) == NULL)
		fatal("out of memory");
}

void
hash_free(struct hash *t)
{
	free(t->b);
	t->b = NULL;
	t->n = 0;
}

static void
grow(struct hash *t)
{
	size_t nmask = t->mask * 2 + 1;
	struct hnode **nb = calloc(nmask + 1, sizeof(*nb));

	if (nb == NULL)
		return;		/* keep the longer chains; still correct */
	for (size_t i = 0; i <= t->mask; i++) {
		struct hnode *n = t->b[i], *next;

		for (; n != NULL; n = next) {
			next = n->next;
			n->next = nb[n->hash & nmask];
			nb[n->hash & nmask] = n;
		}
	}
	free(t->b);
	t->b = nb;
	t->mask = nmask;
}

void
hash_insert(struct hash *t, struct hnode *n, uint32_t h)
{
	if (t->n > t->mask)
		grow(t);
	n->hash = h;
	n->next = t->b[h & t->mask];
	t->b[h & t->mask] = n;
	t->n++;
}

void
hash_remove(struct hash *t, struct hnode *n)
{
	struct hnode **pp = &t->b[n->hash & t->mask];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			t->n--;
			return;
		}
	}
}

uint32_t
hash_bytes(const void *p, size_t len, uint32_t seed)
{
	const uint8_t *s = p;
	uint32_t h = 2166136261u ^ seed;

	/* FNV-1a with a final avalanche (murmur3 fmix). */
	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= 16777619u;
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}
