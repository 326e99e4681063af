/*
 * relay — moving bytes between the two sides of an active stream,
 * shaping, half-close.  See relay.h.
 */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "proxyconf.h"
#include "server.h"

#define ROUNDS 16		/* read+write rounds per direction and event */
#define SHARE_MAX 16384		/* one read while total_rate applies */
#define SHAPE_STEP 16384	/* a throttled side waits for this many tokens */

static uint64_t gtokens, gtlast;	/* total_rate */
static struct ev_timer gtimer;
static struct wlist waiting, waking;

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

void
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

/* ---- moving bytes ---- */

static bool
throttled(const struct side *x)
{
	return ev_timer_active(&x->shape) || x->wl != NULL;
}

static bool
quota_left(const struct stream *st)
{
	uint64_t max = proxy_cfg()->max_transfer;

	return max == 0 || st->bytes < max;
}

/* How much x may read now; 0 when throttled (a timer or the total-rate
 * wait list resumes it) or at max_transfer_size. */
static size_t
budget(struct stream *st, struct side *x)
{
	const struct proxy_config *pc = proxy_cfg();
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
	if (proxy_cfg()->total_rate)
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
	int rounds = proxy_cfg()->total_rate ? 1 : ROUNDS;
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
	/* nothing to wait for on x: ev 0 keeps it out of epoll (evloop.h) */
	if (ev_io_start(srv.loop, &x->io, ev) == -1)
		log_warn("proxy65 %llu: epoll: %s", (unsigned long long)x->id, strerror(errno));
}

static void
relay_pump(struct stream *st)
{
	struct side *a = st->side[0], *b = st->side[1];
	const char *why = NULL;

	if (flow(st, a, b, &why) == -1 || flow(st, b, a, &why) == -1) {
		bytestream_end(st, why);
		return;
	}
	if (a->shut && b->shut) {
		bytestream_end(st, "both sides finished");
		return;
	}
	if (!quota_left(st) && a->len == 0 && b->len == 0) {
		bytestream_end(st, "max_transfer_size reached");
		return;
	}
	side_poll(st, a, b);
	side_poll(st, b, a);
}

void
relay_event(struct side *s, uint32_t revents)
{
	int err = 0;
	socklen_t l = sizeof(err);

	if (revents & EPOLLERR) {
		getsockopt(s->io.fd, SOL_SOCKET, SO_ERROR, &err, &l);
		bytestream_end(s->st, err ? strerror(err) : "socket error");
		return;
	}
	relay_pump(s->st);
}

int
relay_alloc(struct side *s)
{
	const struct proxy_config *pc = proxy_cfg();
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
int
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
	uint64_t idle = proxy_cfg()->idle_timeout_ms, quiet = ev_now(loop) - st->last_io;

	if (quiet >= idle) {
		bytestream_end(st, "idle timeout");
		return;
	}
	ev_timer_start(loop, t, idle - quiet);
}


void
relay_start(struct stream *st)
{
	const struct proxy_config *pc = proxy_cfg();
	uint64_t now = ev_now(srv.loop);

	st->since = st->last_io = now;
	for (int i = 0; i < 2; i++) {
		st->side[i]->tokens = pc->rate;
		st->side[i]->tlast = now;
	}
	ev_timer_init(&st->idle, stream_idle, st);
	ev_timer_start(srv.loop, &st->idle, pc->idle_timeout_ms);
	relay_pump(st);
}

void
relay_side_init(struct side *s)
{
	s->pipe[0] = s->pipe[1] = -1;
	ev_timer_init(&s->shape, shape_cb, s);
}

void
relay_side_free(struct side *s)
{
	ev_timer_stop(srv.loop, &s->shape);
	wl_remove(s);
	relay_free(s);
}

void
relay_init(void)
{
	ev_timer_init(&gtimer, gtimer_cb, NULL);
}

void
relay_stop(void)
{
	ev_timer_stop(srv.loop, &gtimer);
}
