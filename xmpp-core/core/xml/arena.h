/*
 * arena — a private heap for one short-lived owner (an expat parser), made
 * of page-aligned chunks from mmap and returned with munmap when the owner
 * goes (the last 16 freed chunks are kept for the next arenas).  glibc
 * interleaves a parser's ~44 blocks with the small long-lived
 * blocks of sessions allocated meanwhile (during a login burst), so after
 * the parser is freed its pages stay pinned; an arena's pages are all its
 * own and leave with it.
 *
 * Blocks are kept in size classes (powers of two and the 1.5x steps in
 * between, 32 bytes to ARENA_BIG); a freed block goes on its class's free
 * list and is reused by the next allocation of that class, so a busy owner
 * that keeps reallocating stays bounded by its peak live size per class.
 * Blocks above ARENA_BIG get a mapping of their own.  Not thread-safe.
 */
#ifndef XMPP_ARENA_H
#define XMPP_ARENA_H

#include <stddef.h>

#define ARENA_CHUNK 16384	/* bytes per chunk (a parser fits in one) */
#define ARENA_BIG 4096		/* larger blocks are mapped on their own */

struct arena;

struct arena *arena_new(void);
/* Unmaps everything, including blocks not freed. */
void arena_free(struct arena *a);

void *arena_malloc(struct arena *a, size_t n);
/* These find the arena from the block (NULL p: like malloc / no-op). */
void *arena_realloc(struct arena *a, void *p, size_t n);
void arena_release(void *p);

/* Bytes mapped by the arena (chunks and big blocks), for tests. */
size_t arena_mapped(const struct arena *a);

#endif
