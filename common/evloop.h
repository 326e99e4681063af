/*
 * evloop — the one event loop of every daemon: epoll for fds, a binary
 * min-heap of monotonic timers (100k idle timeouts cost O(log n) each),
 * signals through signalfd, and deferred work run after the current batch.
 *
 * Watchers are embedded in the caller's structs (no allocation per event).
 * Stopping a watcher from any callback is safe even while its fd has an
 * event pending in the current batch: events are looked up through a
 * per-fd table with a generation number, so a stale event is skipped.
 * Single-threaded; a daemon that shards per core runs one loop per thread.
 */
#ifndef EDGE_EVLOOP_H
#define EDGE_EVLOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

struct ev_loop;
struct ev_io;
struct ev_timer;
struct ev_defer;

typedef void ev_io_cb(struct ev_loop *, struct ev_io *, uint32_t revents);
typedef void ev_timer_cb(struct ev_loop *, struct ev_timer *);
typedef void ev_defer_cb(struct ev_loop *, struct ev_defer *);
typedef void ev_signal_cb(struct ev_loop *, int signo, void *data);

struct ev_io {
	int fd;
	uint32_t events;	/* EPOLLIN / EPOLLOUT (EPOLLET allowed) */
	uint32_t gen;
	bool active;
	ev_io_cb *cb;
	void *data;
};

struct ev_timer {
	uint64_t expire;	/* monotonic ms */
	size_t idx;		/* heap slot + 1; 0 when inactive */
	ev_timer_cb *cb;
	void *data;
};

struct ev_defer {
	struct ev_defer *next;
	bool pending;
	ev_defer_cb *cb;
	void *data;
};

struct ev_loop *ev_loop_new(void);
/* Frees the loop; signals it watches that are still pending are dropped,
 * then unblocked. */
void ev_loop_free(struct ev_loop *loop);
/* Runs until ev_break(); 0, or -1 if epoll itself failed. */
int ev_run(struct ev_loop *loop);
void ev_break(struct ev_loop *loop);

/* Monotonic milliseconds, cached at the start of each iteration. */
uint64_t ev_now(const struct ev_loop *loop);
uint64_t ev_clock_ms(void);

void ev_io_init(struct ev_io *io, int fd, ev_io_cb *cb, void *data);
/* Start or change interest.  -1 with errno on failure.  events 0 keeps the
 * watcher started but out of epoll (no hang-up or error reports either)
 * until it asks for something again. */
int ev_io_start(struct ev_loop *loop, struct ev_io *io, uint32_t events);
void ev_io_stop(struct ev_loop *loop, struct ev_io *io);

void ev_timer_init(struct ev_timer *t, ev_timer_cb *cb, void *data);
/* (Re)arms the timer to fire once, after_ms from now. */
void ev_timer_start(struct ev_loop *loop, struct ev_timer *t, uint64_t after_ms);
void ev_timer_stop(struct ev_loop *loop, struct ev_timer *t);
static inline bool ev_timer_active(const struct ev_timer *t) { return t->idx != 0; }
size_t ev_timer_count(const struct ev_loop *loop);

void ev_defer_init(struct ev_defer *d, ev_defer_cb *cb, void *data);
/* Runs cb once after the current batch of events; no-op if pending. */
void ev_defer(struct ev_loop *loop, struct ev_defer *d);
void ev_defer_cancel(struct ev_loop *loop, struct ev_defer *d);

/* Blocks signo and delivers it through the loop.  -1 on failure. */
int ev_signal(struct ev_loop *loop, int signo, ev_signal_cb *cb, void *data);

#endif
