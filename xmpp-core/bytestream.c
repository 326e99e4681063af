/*
 * bytestream — listeners, SOCKS5 handshakes, pairing and the relay of the
 * XEP-0065 proxy.  See bytestream.h.
 *
 * A connection ("side") goes GREETING -> REQUEST -> PENDING -> ACTIVE,
 * or to LINGER after an error reply (our FIN is sent, the peer gets a
 * moment to read the reply before the socket is closed, so the reply is
 * not lost to a reset).  A CONNECT names a stream by its hash; the first
 * side is the target, the second the initiator (XEP-0065 §6.2: the target
 * connects, says <streamhost-used/>, then the initiator connects); a third
 * is refused.  Pending sides are polled only for EPOLLRDHUP: bytes they
 * send before activation stay in the kernel and are relayed afterwards.
 *
 * Relay: each side owns the bytes read from it on their way to the other,
 * in a pipe (splice(2), no copy through user space) or a buffer.  A
 * direction either reads (its store is empty) or writes (it is not), so
 * a slow reader stops reading on the other side: memory per stream is
 * two stores of buffer_size, whatever the peers do.  EOF is passed on as
 * shutdown(SHUT_WR); the stream closes when both directions ended, on an
 * error, the idle timeout or max_transfer_size.  Sides with nothing to
 * poll for are taken out of epoll (no busy loop on a HUP we cannot act on).
 */
#include "bytestream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "evloop.h"
#include "hmap.h"
#include "log.h"
#include "server.h"
#include "socks5.h"

#define ACCEPT_BATCH 64
#define HS_MAX (S5_GREETING_MAX + S5_REQUEST_MAX)
#define ROUNDS 16		/* read+write rounds per direction and event */
#define SHARE_MAX 16384		/* one read while total_rate applies */
#define SHAPE_STEP 16384	/* a throttled side waits for this many tokens */
#define LINGER_MS 2000
#define ACCEPT_PAUSE_MS 1000

enum side_state { SD_GREETING, SD_REQUEST, SD_PENDING, SD_ACTIVE, SD_LINGER };

struct stream;
struct side;

struct wlist {
	struct side *head, *tail;
};

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

struct listener {
	struct ev_io io;
	char name[ADDR_STRLEN];
};

static struct listener *listeners;
static size_t nlisteners;
static struct ev_timer accept_pause;
static struct hmap streams;	/* hash -> struct stream */
static struct hmap ips;		/* peer address -> connections (as a pointer) */
static struct hmap users;	/* initiator bare JID -> active streams */
static struct side *all;
static size_t npending, nactive;
static uint64_t next_id;
static uint64_t gtokens, gtlast;	/* total_rate */
static struct ev_timer gtimer;
static struct wlist waiting, waking;
static bool opened;

static void relay_pump(struct stream *st);
static void stream_idle(struct ev_loop *loop, struct ev_timer *t);

/* ---- small helpers ---- */

static long
count_get(const struct hmap *m, const char *key)
{
	return (long)(uintptr_t)hmap_get(m, key);
}

static int
count_add(struct hmap *m, const char *key, long delta)
{
	long n = count_get(m, key) + delta;

	if (n <= 0) {
		hmap_del(m, key);
		return 0;
	}
	return hmap_put(m, key, (void *)(uintptr_t)n);
}

static void
wl_push(struct wlist *l, struct side *s)
{
	s->wl = l;
	s->wnext = NULL;
	s->wprev = l->tail;
	if (l->tail)
		l->tail->wnext = s;
	else
		l->head = s;
	l->tail = s;
}

static void
wl_remove(struct side *s)
{
	struct wlist *l = s->wl;

	if (l == NULL)
		return;
	if (s->wprev)
		s->wprev->wnext = s->wnext;
	else
		l->head = s->wnext;
	if (s->wnext)
		s->wnext->wprev = s->wprev;
	else
		l->tail = s->wprev;
	s->wl = NULL;
	s->wprev = s->wnext = NULL;
}

static void
refill(uint64_t *tokens, uint64_t *last, uint64_t rate, uint64_t now)
{
	uint64_t dt = now - *last, add;

	/* the bucket holds one second's worth */
	if (dt >= 1000) {
		*tokens = rate;
		*last = now;
		return;
	}
	add = dt * rate / 1000;
	if (add > 0) {
		*tokens = *tokens + add > rate ? rate : *tokens + add;
		*last = now;
	}
}

static uint64_t
wait_ms(uint64_t rate)
{
	uint64_t need = SHAPE_STEP < rate ? SHAPE_STEP : rate, ms = need * 1000 / rate;

	return ms ? ms : 1;
}

/* ---- connections ---- */

static void
relay_free(struct side *s)
{
	free(s->buf);
	s->buf = NULL;
	for (int i = 0; i < 2; i++) {
		if (s->pipe[i] >= 0)
			close(s->pipe[i]);
		s->pipe[i] = -1;
	}
}

static void
side_free(struct side *s)
{
	ev_io_stop(srv.loop, &s->io);
	close(s->io.fd);
	ev_timer_stop(srv.loop, &s->timer);
	ev_timer_stop(srv.loop, &s->shape);
	wl_remove(s);
	relay_free(s);
	count_add(&ips, s->ip, -1);
	if (s->state != SD_ACTIVE)
		npending--;
	if (s->prev)
		s->prev->next = s->next;
	else
		all = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
}

static void
stream_free(struct stream *st)
{
	hmap_del(&streams, st->hash);
	if (st->active) {
		nactive--;
		count_add(&users, st->initiator, -1);
	}
	ev_timer_stop(srv.loop, &st->idle);
	free(st->initiator);
	free(st->desc);
	free(st);
}

static void
stream_close(struct stream *st, const char *why)
{
	uint64_t ms = ev_now(srv.loop) - st->since;

	if (st->active)
		log_info("proxy65 %llu: %s closed (%s): %llu bytes in %llu.%01llus",
		    (unsigned long long)st->id, st->desc, why,
		    (unsigned long long)st->bytes, (unsigned long long)(ms / 1000),
		    (unsigned long long)(ms % 1000 / 100));
	else
		log_debug("proxy65 %llu: pending stream closed (%s)",
		    (unsigned long long)st->id, why);
	for (int i = 0; i < 2; i++)
		if (st->side[i])
			side_free(st->side[i]);
	stream_free(st);
}

/* A side that is not (or no longer) part of an active stream goes alone. */
static void
side_drop(struct side *s, const char *why)
{
	struct stream *st = s->st;

	log_debug("proxy65 %llu: %s: %s", (unsigned long long)s->id, s->peer, why);
	if (st) {
		st->side[s->idx] = NULL;
		if (st->side[0] == NULL && st->side[1] == NULL)
			stream_free(st);
	}
	side_free(s);
}

static int
send_all(struct side *s, const uint8_t *p, size_t n)
{
	/* the first bytes on a fresh socket: the kernel takes them whole */
	if (send(s->io.fd, p, n, MSG_NOSIGNAL) != (ssize_t)n) {
		side_drop(s, "write failed");
		return -1;
	}
	return 0;
}

/* Error reply, then our FIN; the peer's close (or LINGER_MS) ends it. */
static void
side_refuse(struct side *s, const uint8_t *reply, size_t n, const char *why)
{
	log_info("proxy65 %llu: %s refused: %s", (unsigned long long)s->id, s->peer, why);
	if (send(s->io.fd, reply, n, MSG_NOSIGNAL) != (ssize_t)n ||
	    shutdown(s->io.fd, SHUT_WR) == -1) {
		side_drop(s, "write failed");
		return;
	}
	s->state = SD_LINGER;
	s->hslen = 0;
	ev_io_start(srv.loop, &s->io, EPOLLIN);
	ev_timer_start(srv.loop, &s->timer, LINGER_MS);
}

static struct stream *
stream_new(const char *hash)
{
	struct stream *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->id = ++next_id;
	memcpy(st->hash, hash, sizeof(st->hash));
	ev_timer_init(&st->idle, stream_idle, st);
	if (hmap_put(&streams, st->hash, st) == -1) {
		free(st);
		return NULL;
	}
	return st;
}

static void
pair(struct side *s, const struct s5_request *r)
{
	struct stream *st = hmap_get(&streams, r->hash);
	uint8_t out[S5_REPLY_MAX];
	unsigned idx;

	if (st && (st->active || (st->side[0] && st->side[1]))) {
		side_refuse(s, out, s5_reply(r, S5_REP_NOT_ALLOWED, out),
		    "both parties of that stream are already connected");
		return;
	}
	if (st == NULL && (st = stream_new(r->hash)) == NULL) {
		side_refuse(s, out, s5_reply(r, S5_REP_FAILURE, out), "out of memory");
		return;
	}
	idx = st->side[0] ? 1 : 0;
	st->side[idx] = s;
	s->st = st;
	s->idx = idx;
	if (send_all(s, out, s5_reply(r, S5_REP_SUCCEEDED, out)) == -1)
		return;
	s->state = SD_PENDING;
	ev_io_start(srv.loop, &s->io, EPOLLRDHUP);
	log_debug("proxy65 %llu: %s is the %s of stream %llu", (unsigned long long)s->id,
	    s->peer, idx ? "second (initiator)" : "first (target)",
	    (unsigned long long)st->id);
}

static void
hs_consume(struct side *s, size_t n)
{
	memmove(s->hs, s->hs + n, s->hslen - n);
	s->hslen -= n;
}

static void
hs_parse(struct side *s)
{
	static const uint8_t no_method[2] = { S5_VERSION, S5_METHOD_UNACCEPTABLE };
	static const uint8_t no_auth[2] = { S5_VERSION, S5_METHOD_NONE };
	struct s5_request r;
	uint8_t out[S5_REPLY_MAX];
	bool noauth;
	long used;

	if (s->state == SD_GREETING) {
		if ((used = s5_greeting(s->hs, s->hslen, &noauth)) == 0)
			return;
		if (used < 0) {
			side_drop(s, "not a SOCKS5 greeting");
			return;
		}
		hs_consume(s, (size_t)used);
		if (!noauth) {
			side_refuse(s, no_method, sizeof(no_method),
			    "no acceptable authentication method (only \"none\" is)");
			return;
		}
		if (send_all(s, no_auth, sizeof(no_auth)) == -1)
			return;
		s->state = SD_REQUEST;
	}
	if ((used = s5_request(s->hs, s->hslen, &r)) == 0)
		return;
	if (used < 0) {
		side_drop(s, "not a SOCKS5 request");
		return;
	}
	hs_consume(s, (size_t)used);
	if (r.rep != S5_REP_SUCCEEDED) {
		side_refuse(s, out, s5_reply(&r, r.rep, out),
		    r.rep == S5_REP_COMMAND ? "command other than CONNECT" :
		    r.rep == S5_REP_ADDRESS_TYPE ? "address type other than a domain name" :
		    "address is not a 40-digit hex SHA-1");
		return;
	}
	pair(s, &r);
}

static void
hs_readable(struct side *s)
{
	ssize_t n = read(s->io.fd, s->hs + s->hslen, sizeof(s->hs) - s->hslen);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		side_drop(s, n == 0 ? "closed during the handshake" : strerror(errno));
		return;
	}
	s->hslen += (size_t)n;
	hs_parse(s);
}

static void
linger_readable(struct side *s)
{
	ssize_t n = read(s->io.fd, s->hs, sizeof(s->hs));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		side_drop(s, "closed after the error reply");
}

/* ---- relay ---- */

static bool
throttled(const struct side *x)
{
	return ev_timer_active(&x->shape) || x->wl != NULL;
}

static bool
quota_left(const struct stream *st)
{
	uint64_t max = srv.cfg->proxy.max_transfer;

	return max == 0 || st->bytes < max;
}

/* How much x may read now; 0 when throttled (a timer or the total-rate
 * wait list resumes it) or at max_transfer_size. */
static size_t
budget(struct stream *st, struct side *x)
{
	const struct proxy_config *pc = &srv.cfg->proxy;
	uint64_t now = ev_now(srv.loop), want = x->cap;

	/* already waiting: events of the other direction must not re-arm
	 * (and so postpone) the timer */
	if (throttled(x))
		return 0;
	if (pc->max_transfer) {
		if (st->bytes >= pc->max_transfer)
			return 0;
		if (want > pc->max_transfer - st->bytes)
			want = pc->max_transfer - st->bytes;
	}
	if (pc->rate) {
		refill(&x->tokens, &x->tlast, pc->rate, now);
		if (x->tokens == 0) {
			ev_timer_start(srv.loop, &x->shape, wait_ms(pc->rate));
			return 0;
		}
		if (want > x->tokens)
			want = x->tokens;
	}
	if (pc->total_rate) {
		refill(&gtokens, &gtlast, pc->total_rate, now);
		if (gtokens == 0) {
			if (x->wl == NULL)
				wl_push(&waiting, x);
			if (!ev_timer_active(&gtimer))
				ev_timer_start(srv.loop, &gtimer, wait_ms(pc->total_rate));
			return 0;
		}
		if (want > gtokens)
			want = gtokens;
		if (want > SHARE_MAX)
			want = SHARE_MAX;
	}
	return (size_t)want;
}

static void
spend(struct stream *st, struct side *x, size_t n)
{
	x->len = n;
	st->bytes += n;
	x->tokens = x->tokens > n ? x->tokens - n : 0;
	if (srv.cfg->proxy.total_rate)
		gtokens = gtokens > n ? gtokens - n : 0;
}

static ssize_t
store_read(struct side *x, size_t want)
{
	if (x->buf)
		return read(x->io.fd, x->buf, want);
	return splice(x->io.fd, NULL, x->pipe[1], NULL, want,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

static ssize_t
store_write(struct side *x, int fd)
{
	if (x->buf)
		return send(fd, x->buf + x->off, x->len, MSG_NOSIGNAL);
	return splice(x->pipe[0], NULL, fd, NULL, x->len,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

/* Moves what x sent on to y.  0, or -1 (with *why) to close the stream. */
static int
flow(struct stream *st, struct side *x, struct side *y, const char **why)
{
	int rounds = srv.cfg->proxy.total_rate ? 1 : ROUNDS;
	size_t want;
	ssize_t n;

	for (int r = 0; r < rounds; r++) {
		if (x->len > 0) {
			if ((n = store_write(x, y->io.fd)) < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				*why = strerror(errno);
				return -1;
			}
			x->len -= (size_t)n;
			x->off += (size_t)n;
			st->last_io = ev_now(srv.loop);
			if (x->len > 0)
				break;
			x->off = 0;
		}
		if (x->eof || (want = budget(st, x)) == 0)
			break;
		/* the store is empty: splice's 0 is EOF, EAGAIN "no data" */
		if ((n = store_read(x, want)) < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			*why = strerror(errno);
			return -1;
		}
		if (n == 0) {
			x->eof = true;
			break;
		}
		spend(st, x, (size_t)n);
		st->last_io = ev_now(srv.loop);
	}
	if (x->eof && x->len == 0 && !x->shut) {
		/* half-close: y may go on sending to x */
		shutdown(y->io.fd, SHUT_WR);
		x->shut = true;
	}
	return 0;
}

static void
side_poll(struct stream *st, struct side *x, struct side *y)
{
	uint32_t ev = 0;

	if (!x->eof && x->len == 0 && !throttled(x) && quota_left(st))
		ev |= EPOLLIN;
	if (y->len > 0)
		ev |= EPOLLOUT;
	/* nothing to wait for on x: keep it out of epoll, where a HUP would
	 * be reported over and over */
	if (ev == 0)
		ev_io_stop(srv.loop, &x->io);
	else if (ev_io_start(srv.loop, &x->io, ev) == -1)
		log_warn("proxy65 %llu: epoll: %s", (unsigned long long)x->id, strerror(errno));
}

static void
relay_pump(struct stream *st)
{
	struct side *a = st->side[0], *b = st->side[1];
	const char *why = NULL;

	if (flow(st, a, b, &why) == -1 || flow(st, b, a, &why) == -1) {
		stream_close(st, why);
		return;
	}
	if (a->shut && b->shut) {
		stream_close(st, "both sides finished");
		return;
	}
	if (!quota_left(st) && a->len == 0 && b->len == 0) {
		stream_close(st, "max_transfer_size reached");
		return;
	}
	side_poll(st, a, b);
	side_poll(st, b, a);
}

static void
relay_event(struct side *s, uint32_t revents)
{
	int err = 0;
	socklen_t l = sizeof(err);

	if (revents & EPOLLERR) {
		getsockopt(s->io.fd, SOL_SOCKET, SO_ERROR, &err, &l);
		stream_close(s->st, err ? strerror(err) : "socket error");
		return;
	}
	relay_pump(s->st);
}

static int
relay_alloc(struct side *s)
{
	const struct proxy_config *pc = &srv.cfg->proxy;
	int sz;

	s->cap = pc->buffer_size;
	if (pc->relay == PROXY_RELAY_SPLICE &&
	    pipe2(s->pipe, O_NONBLOCK | O_CLOEXEC) == 0) {
		/* F_SETPIPE_SZ rounds up to a power-of-two number of pages */
		if ((sz = fcntl(s->pipe[1], F_SETPIPE_SZ, (int)s->cap)) < 0)
			sz = fcntl(s->pipe[1], F_GETPIPE_SZ);
		if (sz > 0 && (size_t)sz < s->cap)
			s->cap = (size_t)sz;
		return 0;
	}
	if (pc->relay == PROXY_RELAY_SPLICE)
		log_warn("proxy65 %llu: pipe: %s (relaying with a buffer)",
		    (unsigned long long)s->id, strerror(errno));
	s->pipe[0] = s->pipe[1] = -1;
	return (s->buf = malloc(s->cap)) == NULL ? -1 : 0;
}

/* Bytes that came after the CONNECT request, before activation. */
static int
relay_prefill(struct stream *st, struct side *s)
{
	if (s->hslen == 0)
		return 0;
	if (s->buf)
		memcpy(s->buf, s->hs, s->hslen);
	else if (write(s->pipe[1], s->hs, s->hslen) != (ssize_t)s->hslen)
		return -1;
	s->len = s->hslen;
	st->bytes += s->hslen;
	s->hslen = 0;
	return 0;
}

static void
shape_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct side *s = t->data;

	(void)loop;
	relay_pump(s->st);
}

static void
gtimer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct side *s;

	(void)loop;
	(void)t;
	/* everyone who waited gets one turn, in order; re-queued ones wait
	 * for the next tick */
	waking = waiting;
	for (s = waking.head; s; s = s->wnext)
		s->wl = &waking;
	waiting.head = waiting.tail = NULL;
	while ((s = waking.head) != NULL) {
		wl_remove(s);
		relay_pump(s->st);
	}
}

static void
stream_idle(struct ev_loop *loop, struct ev_timer *t)
{
	struct stream *st = t->data;
	uint64_t idle = srv.cfg->proxy.idle_timeout_ms, quiet = ev_now(loop) - st->last_io;

	if (quiet >= idle) {
		stream_close(st, "idle timeout");
		return;
	}
	ev_timer_start(loop, t, idle - quiet);
}

enum bytestream_result
bytestream_activate(const char *hash, const char *initiator, const char *desc)
{
	const struct proxy_config *pc = &srv.cfg->proxy;
	struct stream *st = hmap_get(&streams, hash);
	uint64_t now = ev_now(srv.loop);

	if (st == NULL)
		return BS_NOT_FOUND;
	if (st->active)
		return BS_ALREADY_ACTIVE;
	if (st->side[0] == NULL || st->side[1] == NULL)
		return BS_ONE_SIDE;
	if (nactive >= pc->max_streams)
		return BS_LIMIT;
	if (count_get(&users, initiator) >= (long)pc->max_per_user)
		return BS_USER_LIMIT;
	if ((st->initiator = strdup(initiator)) == NULL ||
	    (st->desc = strdup(desc)) == NULL ||
	    relay_alloc(st->side[0]) == -1 || relay_alloc(st->side[1]) == -1 ||
	    relay_prefill(st, st->side[0]) == -1 || relay_prefill(st, st->side[1]) == -1 ||
	    count_add(&users, initiator, 1) == -1) {
		/* prefill only fails on a fresh pipe, i.e. never */
		relay_free(st->side[0]);
		relay_free(st->side[1]);
		free(st->initiator);
		free(st->desc);
		st->initiator = st->desc = NULL;
		return BS_FAILED;
	}
	st->active = true;
	nactive++;
	st->since = st->last_io = now;
	for (int i = 0; i < 2; i++) {
		struct side *s = st->side[i];

		ev_timer_stop(srv.loop, &s->timer);
		s->state = SD_ACTIVE;
		npending--;
		s->tokens = pc->rate;
		s->tlast = now;
	}
	ev_timer_start(srv.loop, &st->idle, pc->idle_timeout_ms);
	log_info("proxy65 %llu: %s activated (target %s, initiator %s, %s)",
	    (unsigned long long)st->id, desc, st->side[0]->peer, st->side[1]->peer,
	    st->side[0]->buf ? "copy" : "splice");
	relay_pump(st);
	return BS_ACTIVATED;
}

/* ---- accepting ---- */

static void
side_io(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	struct side *s = io->data;

	(void)loop;
	switch (s->state) {
	case SD_GREETING:
	case SD_REQUEST:
		hs_readable(s);
		break;
	case SD_LINGER:
		linger_readable(s);
		break;
	case SD_PENDING:
		side_drop(s, revents & EPOLLERR ? "reset before activation" :
		    "closed before activation");
		break;
	case SD_ACTIVE:
		relay_event(s, revents);
		break;
	}
}

static void
side_timer(struct ev_loop *loop, struct ev_timer *t)
{
	struct side *s = t->data;

	(void)loop;
	side_drop(s, s->state == SD_LINGER ? "gone after the error reply" :
	    "not activated in time");
}

static void
peer_ip(const struct sockaddr_storage *ss, socklen_t sl, char *ip, size_t len)
{
	char *colon;

	addr_format_sa((const struct sockaddr *)ss, sl, ip, len);
	/* "1.2.3.4:5" / "[::1]:5" -> the address */
	if (ip[0] == '[') {
		memmove(ip, ip + 1, strlen(ip));
		if ((colon = strrchr(ip, ']')) != NULL)
			*colon = '\0';
	} else if ((colon = strrchr(ip, ':')) != NULL) {
		*colon = '\0';
	}
}

static void
accept_one(int fd, const struct sockaddr_storage *ss, socklen_t sl)
{
	const struct proxy_config *pc = &srv.cfg->proxy;
	char ip[ADDR_STRLEN];
	const char *why = NULL;
	struct side *s;

	peer_ip(ss, sl, ip, sizeof(ip));
	if (!pc->enabled)
		why = "[proxy65] is no longer configured";
	else if (npending >= pc->max_pending)
		why = "max_pending reached";
	else if (count_get(&ips, ip) >= (long)pc->max_per_ip)
		why = "max_connections_per_ip reached";
	if (why || (s = calloc(1, sizeof(*s))) == NULL) {
		log_info("proxy65: %s refused (%s)", ip, why ? why : "out of memory");
		close(fd);
		return;
	}
	snprintf(s->ip, sizeof(s->ip), "%.47s", ip);
	if (count_add(&ips, s->ip, 1) == -1) {
		log_info("proxy65: %s refused (out of memory)", ip);
		free(s);
		close(fd);
		return;
	}
	s->id = ++next_id;
	if (pc->socket_buffer) {
		/* caps what the kernel queues per socket (stalled peers) */
		int v = (int)pc->socket_buffer;

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	}
	addr_format_sa((const struct sockaddr *)ss, sl, s->peer, sizeof(s->peer));
	s->pipe[0] = s->pipe[1] = -1;
	s->state = SD_GREETING;
	npending++;
	s->next = all;
	if (all)
		all->prev = s;
	all = s;
	ev_io_init(&s->io, fd, side_io, s);
	ev_timer_init(&s->timer, side_timer, s);
	ev_timer_init(&s->shape, shape_cb, s);
	ev_timer_start(srv.loop, &s->timer, pc->pending_timeout_ms);
	if (ev_io_start(srv.loop, &s->io, EPOLLIN) == -1) {
		side_drop(s, strerror(errno));
		return;
	}
	log_debug("proxy65 %llu: connection from %s", (unsigned long long)s->id, s->peer);
}

static void
listeners_start(bool on)
{
	for (size_t k = 0; k < nlisteners; k++) {
		if (on)
			ev_io_start(srv.loop, &listeners[k].io, EPOLLIN);
		else
			ev_io_stop(srv.loop, &listeners[k].io);
	}
}

static void
accept_pause_cb(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	(void)t;
	listeners_start(true);
}

static void
accept_cb(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	struct listener *l = io->data;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;

	(void)revents;
	for (int k = 0; k < ACCEPT_BATCH; k++) {
		sl = sizeof(ss);
		fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			accept_one(fd, &ss, sl);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* the listen queue stays readable: wait instead of spinning */
			log_warn("proxy65: accept on %s: %s (pausing for %us)", l->name,
			    strerror(errno), ACCEPT_PAUSE_MS / 1000);
			listeners_start(false);
			ev_timer_start(loop, &accept_pause, ACCEPT_PAUSE_MS);
		} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
			log_warn("proxy65: accept on %s: %s", l->name, strerror(errno));
		}
		return;
	}
}

/* ---- lifecycle ---- */

int
bytestream_open(char *err, size_t errlen)
{
	const struct proxy_config *pc = &srv.cfg->proxy;
	char e2[256];

	hmap_init(&streams);
	hmap_init(&ips);
	hmap_init(&users);
	ev_timer_init(&gtimer, gtimer_cb, NULL);
	ev_timer_init(&accept_pause, accept_pause_cb, NULL);
	opened = true;
	if (!pc->enabled)
		return 0;
	if ((listeners = calloc(pc->nlisten, sizeof(*listeners))) == NULL) {
		snprintf(err, errlen, "proxy65: out of memory");
		return -1;
	}
	for (size_t i = 0; i < pc->nlisten; i++) {
		struct listener *l = &listeners[nlisteners];
		int fd = addr_listen(&pc->listen[i], SOCK_STREAM, 1024, 0, e2, sizeof(e2));

		addr_format(&pc->listen[i], l->name, sizeof(l->name));
		if (fd < 0) {
			snprintf(err, errlen, "proxy65 listen %s: %s", l->name, e2);
			return -1;
		}
		ev_io_init(&l->io, fd, accept_cb, l);
		ev_io_start(srv.loop, &l->io, EPOLLIN);
		nlisteners++;
		log_info("proxy65: listening on %s", l->name);
	}
	return 0;
}

void
bytestream_reload(void)
{
	const struct proxy_config *pc = &srv.cfg->proxy;
	char name[ADDR_STRLEN];
	bool same = pc->enabled && pc->nlisten == nlisteners;

	for (size_t i = 0; same && i < nlisteners; i++)
		same = strcmp(addr_format(&pc->listen[i], name, sizeof(name)),
		    listeners[i].name) == 0;
	if (nlisteners == 0 && pc->enabled)
		log_warn("reload: [proxy65] was added; the proxy starts at the next restart");
	else if (nlisteners > 0 && !pc->enabled)
		log_warn("reload: [proxy65] was removed; new SOCKS5 connections are refused, "
		    "running streams go on; the listeners close at the next restart");
	else if (nlisteners > 0 && !same)
		log_warn("reload: [proxy65] listen changed; that needs a restart "
		    "(still listening on the old addresses)");
}

bool
bytestream_listening(void)
{
	return nlisteners > 0;
}

size_t
bytestream_npending(void)
{
	return npending;
}

size_t
bytestream_nactive(void)
{
	return nactive;
}

void
bytestream_close(void)
{
	for (size_t k = 0; k < nlisteners; k++) {
		ev_io_stop(srv.loop, &listeners[k].io);
		close(listeners[k].io.fd);
	}
	nlisteners = 0;
	if (!opened)
		return;
	ev_timer_stop(srv.loop, &accept_pause);
	ev_timer_stop(srv.loop, &gtimer);
	while (all) {
		if (all->st)
			stream_close(all->st, "server shutdown");
		else
			side_free(all);
	}
}

void
bytestream_cleanup(void)
{
	bytestream_close();
	if (!opened)
		return;
	hmap_free(&streams);
	hmap_free(&ips);
	hmap_free(&users);
	free(listeners);
	listeners = NULL;
	opened = false;
}
