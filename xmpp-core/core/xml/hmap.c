/*
 * hmap — string-keyed chained hash map.  See hmap.h.
 */
#include "hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

static uint32_t seed;

static unsigned
hash_str(const char *s)
{
	uint32_t h = 2166136261u ^ seed;

	if (seed == 0) {
		while (seed == 0)
			if (random_bytes(&seed, sizeof(seed)) == -1)
				seed = 0x9e3779b9u;
		h = 2166136261u ^ seed;
	}
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 16777619u;
	}
	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	h ^= h >> 12;
	return h;
}

void
hmap_init(struct hmap *m)
{
	memset(m, 0, sizeof(*m));
}

void
hmap_free(struct hmap *m)
{
	for (size_t i = 0; i < m->nb; i++) {
		struct hmap_ent *e = m->b[i], *n;

		for (; e; e = n) {
			n = e->next;
			free(e);
		}
	}
	free(m->b);
	hmap_init(m);
}

static struct hmap_ent **
find(const struct hmap *m, const char *key, unsigned h)
{
	struct hmap_ent **pp;

	if (m->nb == 0)
		return NULL;
	for (pp = &m->b[h & (m->nb - 1)]; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0)
			return pp;
	return NULL;
}

void *
hmap_get(const struct hmap *m, const char *key)
{
	struct hmap_ent **pp = find(m, key, hash_str(key));

	return pp ? (*pp)->val : NULL;
}

static int
grow(struct hmap *m)
{
	size_t nb = m->nb ? m->nb * 2 : 16;
	struct hmap_ent **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return -1;
	for (size_t i = 0; i < m->nb; i++) {
		struct hmap_ent *e = m->b[i], *n;

		for (; e; e = n) {
			n = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
	return 0;
}

void **
hmap_ref(struct hmap *m, const char *key)
{
	unsigned h = hash_str(key);
	struct hmap_ent **pp = find(m, key, h), *e;
	size_t kl;

	if (pp)
		return &(*pp)->val;
	if (m->n >= m->nb && grow(m) == -1)
		return NULL;
	kl = strlen(key) + 1;
	if ((e = malloc(sizeof(*e) + kl)) == NULL)
		return NULL;
	memcpy(e->key, key, kl);
	e->hash = h;
	e->val = NULL;
	e->next = m->b[h & (m->nb - 1)];
	m->b[h & (m->nb - 1)] = e;
	m->n++;
	return &e->val;
}

int
hmap_put(struct hmap *m, const char *key, void *val)
{
	void **v = hmap_ref(m, key);

	if (v == NULL)
		return -1;
	*v = val;
	return 0;
}

void *
hmap_del(struct hmap *m, const char *key)
{
	struct hmap_ent **pp = find(m, key, hash_str(key)), *e;
	void *v;

	if (pp == NULL)
		return NULL;
	e = *pp;
	*pp = e->next;
	v = e->val;
	free(e);
	m->n--;
	return v;
}

struct hmap_ent *
hmap_first(const struct hmap *m, size_t *i)
{
	for (*i = 0; *i < m->nb; (*i)++)
		if (m->b[*i])
			return m->b[*i];
	return NULL;
}

struct hmap_ent *
hmap_next(const struct hmap *m, struct hmap_ent *e, size_t *i)
{
	if (e->next)
		return e->next;
	for ((*i)++; *i < m->nb; (*i)++)
		if (m->b[*i])
			return m->b[*i];
	return NULL;
}
