/*
 * hmap — a chained hash map from NUL-terminated string keys to pointers,
 * with a per-process random seed (SipHash-like keyed hashing is overkill
 * here; FNV-1a mixed with a CSPRNG seed keeps remote peers from aiming at
 * one bucket).  Grows by doubling; keys are copied.
 */
#ifndef XMPP_HMAP_H
#define XMPP_HMAP_H

#include <stddef.h>

struct hmap_ent {
	struct hmap_ent *next;
	void *val;
	unsigned hash;
	char key[];
};

struct hmap {
	struct hmap_ent **b;
	size_t nb, n;
};

void hmap_init(struct hmap *m);
void hmap_free(struct hmap *m);	/* frees entries, not values */
void *hmap_get(const struct hmap *m, const char *key);
/* Inserts or replaces: 0, or -1 on ENOMEM. */
int hmap_put(struct hmap *m, const char *key, void *val);
/* The place of key's value, added (NULL) when absent: one lookup to read
 * and change it (a counter); NULL on ENOMEM. */
void **hmap_ref(struct hmap *m, const char *key);
/* Removes and returns the value (NULL if absent). */
void *hmap_del(struct hmap *m, const char *key);
/* Iteration: for (e = hmap_first(m, &i); e; e = hmap_next(m, e, &i)). */
struct hmap_ent *hmap_first(const struct hmap *m, size_t *i);
struct hmap_ent *hmap_next(const struct hmap *m, struct hmap_ent *e, size_t *i);

#endif
