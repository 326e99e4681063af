/*
 * buf — a length-carrying growable byte buffer (sds-like), used for
 * output queues and serialised stanzas.  Appends return 0 / -1 (ENOMEM or
 * over the cap the caller set); the content is always NUL-terminated so
 * it can be handed to libpq and log lines.
 */
#ifndef XMPP_BUF_H
#define XMPP_BUF_H

#include <stddef.h>
#include <string.h>

struct buf {
	char *p;
	size_t len, cap;
	size_t off;		/* consumed prefix (output queues) */
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
/* Empties a buffer reused between calls: keeps its memory up to keep
 * bytes of capacity, frees a larger one (one big stanza is not kept). */
void buf_recycle(struct buf *b, size_t keep);
int buf_reserve(struct buf *b, size_t extra);
int buf_append_slow(struct buf *b, const void *p, size_t n);
/* Inline while the room is there: serialisers append many short pieces. */
static inline int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n >= b->cap - b->len)	/* cap 0: always; else cap > len */
		return buf_append_slow(b, p, n);
	if (n) {
		memcpy(b->p + b->len, p, n);
		b->len += n;
		b->p[b->len] = '\0';
	}
	return 0;
}
static inline int buf_puts(struct buf *b, const char *s) { return buf_append(b, s, strlen(s)); }
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Drops n bytes from the front (lazily; compacts when half is consumed). */
void buf_consume(struct buf *b, size_t n);
static inline size_t buf_pending(const struct buf *b) { return b->len - b->off; }
static inline const char *buf_data(const struct buf *b) { return b->p + b->off; }
/* Takes the malloc'd string out of b (b becomes empty); NULL when empty. */
char *buf_steal(struct buf *b);

#endif
