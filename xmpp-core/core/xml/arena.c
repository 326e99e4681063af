/*
 * arena — page-backed private heaps for expat parsers.  See arena.h.
 *
 * Every block starts with a 16-byte header naming its arena and class, so
 * realloc and free need no context.  The first chunk holds struct arena
 * itself; blocks are carved from the newest chunk's unused tail when their
 * class's free list is empty.  arena_malloc(NULL, n) gives a block from
 * the C heap with the same header, so a block allocated with no arena at
 * hand is still released correctly.
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HDR 16			/* keeps blocks 16-byte aligned */
#define NCLASS 27		/* 32, 48, 64, then quarter steps to 4096 */
#define CLS_BIG 0xffffu		/* a block with a mapping of its own */
#define CLS_HEAP 0xfffeu	/* a C-heap block (no arena) */

struct hdr {
	struct arena *a;
	uint32_t cls;
	uint32_t size;		/* usable bytes (big: up to the mapping's end) */
};

struct chunk {
	struct chunk *next;
	size_t len;
};

struct big {
	struct big *prev, *next;
	size_t len;		/* of the mapping */
	size_t pad;
};

struct arena {
	struct chunk *chunks;
	struct big *bigs;
	char *cur, *end;	/* unused tail of the newest chunk */
	void *free[NCLASS];
	size_t mapped;
};

_Static_assert(sizeof(struct hdr) == HDR, "block header size");
_Static_assert(sizeof(struct big) % 16 == 0, "big header alignment");

static unsigned
class_of(size_t n)
{
	unsigned k;
	size_t base, step;

	if (n <= 64)
		return n <= 32 ? 0 : (unsigned)((n + 15) / 16) - 2;
	k = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1));
	base = (size_t)1 << k;
	step = base >> 2;
	return 3 + (k - 6) * 4 + (unsigned)((n - base + step - 1) / step) - 1;
}

static size_t
class_size(unsigned c)
{
	size_t base;

	if (c < 3)
		return 32 + 16 * (size_t)c;
	base = (size_t)1 << (6 + (c - 3) / 4);
	return base + ((c - 3) % 4 + 1) * (base >> 2);
}

/*
 * A few chunks of freed arenas are kept for the next ones: a login
 * replaces its parser three times (STARTTLS, SASL), and each mmap + munmap
 * + first touch of 16 KiB costs more than the parse.  At most CACHE_MAX
 * (256 KiB) stay mapped.
 */
#define CACHE_MAX 16
static struct chunk *cache;
static unsigned ncache;

static struct chunk *
chunk_get(void)
{
	struct chunk *ch = cache;
	void *p;

	if (ch != NULL) {
		cache = ch->next;
		ncache--;
		return ch;
	}
	p = mmap(NULL, ARENA_CHUNK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void
chunk_put(struct chunk *ch)
{
	if (ncache < CACHE_MAX) {
		ch->next = cache;
		cache = ch;
		ncache++;
		return;
	}
	munmap(ch, ARENA_CHUNK);
}

static void *
map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

struct arena *
arena_new(void)
{
	struct chunk *ch = chunk_get();
	struct arena *a;

	if (ch == NULL)
		return NULL;
	ch->next = NULL;
	ch->len = ARENA_CHUNK;
	a = (struct arena *)(ch + 1);
	memset(a, 0, sizeof(*a));
	a->chunks = ch;
	a->cur = (char *)a + ((sizeof(*a) + 15) & ~(size_t)15);
	a->end = (char *)ch + ARENA_CHUNK;
	a->mapped = ARENA_CHUNK;
	return a;
}

void
arena_free(struct arena *a)
{
	struct chunk *ch, *next;
	struct big *b, *bn;

	if (a == NULL)
		return;
	for (b = a->bigs; b != NULL; b = bn) {
		bn = b->next;
		munmap(b, b->len);
	}
	/* the first chunk (holding *a) is last on the list */
	for (ch = a->chunks; ch != NULL; ch = next) {
		next = ch->next;
		chunk_put(ch);
	}
}

static void *
big_alloc(struct arena *a, size_t n)
{
	size_t len = (sizeof(struct big) + HDR + n + 4095) & ~(size_t)4095;
	struct big *b;
	struct hdr *h;

	if (n > UINT32_MAX - 8192 || (b = map(len)) == NULL)
		return NULL;
	b->prev = NULL;
	b->next = a->bigs;
	b->len = len;
	if (a->bigs)
		a->bigs->prev = b;
	a->bigs = b;
	a->mapped += len;
	h = (struct hdr *)(b + 1);
	h->a = a;
	h->cls = CLS_BIG;
	h->size = (uint32_t)(len - sizeof(*b) - HDR);
	return h + 1;
}

void *
arena_malloc(struct arena *a, size_t n)
{
	struct hdr *h;
	unsigned c;
	size_t sz;
	struct chunk *ch;

	if (a == NULL) {
		if (n > UINT32_MAX - HDR || (h = malloc(HDR + n)) == NULL)
			return NULL;
		h->a = NULL;
		h->cls = CLS_HEAP;
		h->size = (uint32_t)n;
		return h + 1;
	}
	if (n > ARENA_BIG - HDR)
		return big_alloc(a, n);
	c = class_of(n + HDR);
	sz = class_size(c);
	if ((h = a->free[c]) != NULL) {
		a->free[c] = *(void **)(h + 1);
		return h + 1;
	}
	if ((size_t)(a->end - a->cur) < sz) {
		if ((ch = chunk_get()) == NULL)
			return NULL;
		/* the old tail is left unused: at most one class size a chunk */
		ch->len = ARENA_CHUNK;
		ch->next = a->chunks;
		a->chunks = ch;
		a->cur = (char *)(ch + 1);
		a->end = (char *)ch + ARENA_CHUNK;
		a->mapped += ARENA_CHUNK;
	}
	h = (struct hdr *)a->cur;
	a->cur += sz;
	h->a = a;
	h->cls = c;
	h->size = (uint32_t)(sz - HDR);
	return h + 1;
}

void
arena_release(void *p)
{
	struct hdr *h;
	struct big *b;
	struct arena *a;

	if (p == NULL)
		return;
	h = (struct hdr *)p - 1;
	a = h->a;
	if (h->cls == CLS_HEAP) {
		free(h);
	} else if (h->cls == CLS_BIG) {
		b = (struct big *)h - 1;
		if (b->prev)
			b->prev->next = b->next;
		else
			a->bigs = b->next;
		if (b->next)
			b->next->prev = b->prev;
		a->mapped -= b->len;
		munmap(b, b->len);
	} else {
		*(void **)p = a->free[h->cls];
		a->free[h->cls] = h;
	}
}

void *
arena_realloc(struct arena *a, void *p, size_t n)
{
	struct hdr *h;
	void *q;

	if (p == NULL)
		return arena_malloc(a, n);
	h = (struct hdr *)p - 1;
	if (n <= h->size)
		return p;
	if ((q = arena_malloc(h->a, n)) == NULL)
		return NULL;
	memcpy(q, p, h->size);
	arena_release(p);
	return q;
}

size_t
arena_mapped(const struct arena *a)
{
	return a->mapped;
}
