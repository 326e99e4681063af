/*
 * relay — the data path of the XEP-0065 proxy once a stream is active
 * (bytestream.c owns everything before: listeners, handshakes, pairing,
 * activation, limits).  Each side owns the bytes read from it on their
 * way to the other, in a pipe (splice(2), no copy through user space)
 * or a buffer.  A direction either reads (its store is empty) or writes
 * (it is not), so a slow reader stops reading on the other side: memory
 * per stream is two stores of buffer_size, whatever the peers do.  EOF
 * is passed on as shutdown(SHUT_WR); the stream ends when both
 * directions ended, on an error, the idle timeout or max_transfer_size.
 * Sides with nothing to poll for are taken out of epoll (no busy loop on
 * a HUP that cannot be acted on yet).  Shaping: a token bucket per side
 * ([proxy65] rate) and one for all (total_rate), whose waiters take
 * turns in FIFO order.
 *
 * The two structs are shared by bytestream.c and relay.c only.
 */
#ifndef XMPP_RELAY_H
#define XMPP_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evloop.h"
#include "socks5.h"

#define HS_MAX (S5_GREETING_MAX + S5_REQUEST_MAX)

enum side_state { SD_GREETING, SD_REQUEST, SD_PENDING, SD_ACTIVE, SD_LINGER };

struct stream;
struct side;

struct wlist {
	struct side *head, *tail;
};

/* One SOCKS5 connection. */
struct side {
	struct ev_io io;
	uint64_t id;
	enum side_state state;
	struct stream *st;
	unsigned idx;			/* in st->side[] */
	char ip[48];
	char peer[64];
	struct ev_timer timer;		/* pending timeout, linger */
	/* bytes read from this side, on their way to the other */
	uint8_t *buf;			/* copy relay */
	int pipe[2];			/* splice relay */
	size_t cap, off, len;
	bool eof;			/* FIN read */
	bool shut;			/* FIN passed on */
	uint64_t tokens, tlast;		/* rate */
	struct ev_timer shape;
	struct wlist *wl;		/* waiting for total_rate tokens */
	struct side *wprev, *wnext;
	struct side *prev, *next;	/* every connection */
	size_t hslen;
	uint8_t hs[HS_MAX];		/* handshake bytes, then early data */
};

/* Two sides that asked for one hash. */
struct stream {
	uint64_t id;
	char hash[S5_HASH_LEN + 1];
	struct side *side[2];		/* [0] target, [1] initiator */
	bool active;
	char *initiator;		/* bare JID */
	char *desc;			/* "initiator -> target" */
	uint64_t bytes, since, last_io;
	struct ev_timer idle;
};

/* bytestream.c: closes both sides and frees st (why goes to the log). */
void bytestream_end(struct stream *st, const char *why);

void relay_init(void);
void relay_stop(void);
void relay_side_init(struct side *s);
/* Timers, wait list and store of a side that goes away. */
void relay_side_free(struct side *s);
/* The store of a side about to be activated: 0, or -1. */
int relay_alloc(struct side *s);
/* Bytes that came after the CONNECT request, into the store. */
int relay_prefill(struct stream *st, struct side *s);
void relay_free(struct side *s);
/* An activated stream: buckets, idle timer, the first moves. */
void relay_start(struct stream *st);
/* epoll reported revents on a side of an active stream. */
void relay_event(struct side *s, uint32_t revents);

#endif
