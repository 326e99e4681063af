/*
 * evloop — epoll + timer heap + signalfd + deferred work.  See evloop.h.
 */
#include "evloop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define EV_BATCH 256
#define EV_NSIG 65

struct ev_sig {
	ev_signal_cb *cb;
	void *data;
};

struct ev_loop {
	int epfd;
	bool stop;
	uint64_t now;
	uint32_t gen;

	struct ev_io **fds;	/* fd -> watcher, for stale-event checks */
	size_t nfds;

	struct ev_timer **heap;
	size_t nheap, capheap;

	struct ev_defer *dhead, **dtail;

	int sigfd;
	sigset_t sigmask;
	struct ev_io sigio;
	struct ev_sig sigs[EV_NSIG];
};

uint64_t
ev_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct ev_loop *
ev_loop_new(void)
{
	struct ev_loop *loop = calloc(1, sizeof(*loop));

	if (loop == NULL)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	loop->sigfd = -1;
	loop->now = ev_clock_ms();
	loop->dtail = &loop->dhead;
	sigemptyset(&loop->sigmask);
	return loop;
}

void
ev_loop_free(struct ev_loop *loop)
{
	if (loop == NULL)
		return;
	if (loop->sigfd >= 0) {
		struct signalfd_siginfo si;

		/* signals that came after the loop's last turn (a second
		 * SIGTERM while shutting down) are the loop's: taken here, not
		 * left to kill the process with their default action the
		 * moment they are unblocked */
		while (read(loop->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			;
		close(loop->sigfd);
		sigprocmask(SIG_UNBLOCK, &loop->sigmask, NULL);
	}
	close(loop->epfd);
	free(loop->fds);
	free(loop->heap);
	free(loop);
}

void
ev_break(struct ev_loop *loop)
{
	loop->stop = true;
}

uint64_t
ev_now(const struct ev_loop *loop)
{
	return loop->now;
}

/* ---- fds ---- */

void
ev_io_init(struct ev_io *io, int fd, ev_io_cb *cb, void *data)
{
	memset(io, 0, sizeof(*io));
	io->fd = fd;
	io->cb = cb;
	io->data = data;
}

static int
fds_reserve(struct ev_loop *loop, int fd)
{
	size_t want = (size_t)fd + 1, n;
	struct ev_io **nf;

	if (want <= loop->nfds)
		return 0;
	n = loop->nfds ? loop->nfds : 64;
	while (n < want)
		n *= 2;
	if ((nf = realloc(loop->fds, n * sizeof(*nf))) == NULL)
		return -1;
	memset(nf + loop->nfds, 0, (n - loop->nfds) * sizeof(*nf));
	loop->fds = nf;
	loop->nfds = n;
	return 0;
}

int
ev_io_start(struct ev_loop *loop, struct ev_io *io, uint32_t events)
{
	struct epoll_event ev = { 0 };

	if (io->fd < 0) {
		errno = EBADF;
		return -1;
	}
	bool in_epoll = io->active && io->events != 0;

	if (io->active && io->events == events)
		return 0;
	if (!io->active) {
		if (fds_reserve(loop, io->fd) < 0)
			return -1;
		io->gen = ++loop->gen;
	}
	if (events == 0) {
		/* asking for nothing keeps the descriptor out of epoll, which
		 * reports a hang-up or an error whatever the mask (a watcher
		 * waiting for something else would be woken over and over) */
		if (in_epoll)
			epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	} else {
		ev.events = events;
		ev.data.u64 = (uint64_t)(uint32_t)io->fd | (uint64_t)io->gen << 32;
		if (epoll_ctl(loop->epfd, in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
		    io->fd, &ev) < 0)
			return -1;
	}
	io->events = events;
	io->active = true;
	loop->fds[io->fd] = io;
	return 0;
}

void
ev_io_stop(struct ev_loop *loop, struct ev_io *io)
{
	if (!io->active)
		return;
	if (io->events != 0)
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	if ((size_t)io->fd < loop->nfds && loop->fds[io->fd] == io)
		loop->fds[io->fd] = NULL;
	io->active = false;
	io->events = 0;
}

/* ---- timers: binary min-heap, idx stored 1-based in the timer ---- */

void
ev_timer_init(struct ev_timer *t, ev_timer_cb *cb, void *data)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
	t->data = data;
}

static void
heap_set(struct ev_loop *loop, size_t i, struct ev_timer *t)
{
	loop->heap[i] = t;
	t->idx = i + 1;
}

static void
heap_up(struct ev_loop *loop, size_t i)
{
	struct ev_timer *t = loop->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (loop->heap[p]->expire <= t->expire)
			break;
		heap_set(loop, i, loop->heap[p]);
		i = p;
	}
	heap_set(loop, i, t);
}

static void
heap_down(struct ev_loop *loop, size_t i)
{
	struct ev_timer *t = loop->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= loop->nheap)
			break;
		if (c + 1 < loop->nheap &&
		    loop->heap[c + 1]->expire < loop->heap[c]->expire)
			c++;
		if (t->expire <= loop->heap[c]->expire)
			break;
		heap_set(loop, i, loop->heap[c]);
		i = c;
	}
	heap_set(loop, i, t);
}

void
ev_timer_stop(struct ev_loop *loop, struct ev_timer *t)
{
	size_t i;

	if (t->idx == 0)
		return;
	i = t->idx - 1;
	t->idx = 0;
	loop->nheap--;
	if (i == loop->nheap)
		return;
	{
		struct ev_timer *m = loop->heap[loop->nheap];

		heap_set(loop, i, m);
		heap_up(loop, i);
		if (m->idx - 1 == i)
			heap_down(loop, i);
	}
}

void
ev_timer_start(struct ev_loop *loop, struct ev_timer *t, uint64_t after_ms)
{
	ev_timer_stop(loop, t);
	if (loop->nheap == loop->capheap) {
		size_t n = loop->capheap ? loop->capheap * 2 : 64;
		struct ev_timer **nh = realloc(loop->heap, n * sizeof(*nh));

		if (nh == NULL)
			abort();	/* cannot keep the timing promise */
		loop->heap = nh;
		loop->capheap = n;
	}
	t->expire = ev_clock_ms() + after_ms;
	heap_set(loop, loop->nheap++, t);
	heap_up(loop, loop->nheap - 1);
}

size_t
ev_timer_count(const struct ev_loop *loop)
{
	return loop->nheap;
}

static void
run_timers(struct ev_loop *loop)
{
	/* Timers armed by callbacks for "now" run on the next iteration. */
	uint64_t now = loop->now;

	while (loop->nheap > 0 && loop->heap[0]->expire <= now && !loop->stop) {
		struct ev_timer *t = loop->heap[0];

		ev_timer_stop(loop, t);
		t->cb(loop, t);
	}
}

/* ---- deferred work ---- */

void
ev_defer_init(struct ev_defer *d, ev_defer_cb *cb, void *data)
{
	memset(d, 0, sizeof(*d));
	d->cb = cb;
	d->data = data;
}

void
ev_defer(struct ev_loop *loop, struct ev_defer *d)
{
	if (d->pending)
		return;
	d->pending = true;
	d->next = NULL;
	*loop->dtail = d;
	loop->dtail = &d->next;
}

void
ev_defer_cancel(struct ev_loop *loop, struct ev_defer *d)
{
	struct ev_defer **pp;

	if (!d->pending)
		return;
	for (pp = &loop->dhead; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			if (loop->dtail == &d->next)
				loop->dtail = pp;
			break;
		}
	}
	d->pending = false;
}

static void
run_deferred(struct ev_loop *loop)
{
	/*
	 * Only what was queued before we started; new work waits a turn.
	 * Entries are taken from the loop's list one at a time, so a callback
	 * may cancel any other pending entry (and free its owner) safely.
	 * A cancelled entry lets one newer entry run this turn instead.
	 */
	size_t n = 0;

	for (struct ev_defer *d = loop->dhead; d != NULL; d = d->next)
		n++;
	while (n-- > 0 && loop->dhead != NULL) {
		struct ev_defer *d = loop->dhead;

		loop->dhead = d->next;
		if (loop->dhead == NULL)
			loop->dtail = &loop->dhead;
		d->pending = false;
		d->next = NULL;
		d->cb(loop, d);
	}
}

/* ---- signals ---- */

static void
sig_read(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	struct signalfd_siginfo si;

	(void)revents;
	while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int s = (int)si.ssi_signo;

		if (s > 0 && s < EV_NSIG && loop->sigs[s].cb != NULL)
			loop->sigs[s].cb(loop, s, loop->sigs[s].data);
	}
}

int
ev_signal(struct ev_loop *loop, int signo, ev_signal_cb *cb, void *data)
{
	int fd;

	if (signo <= 0 || signo >= EV_NSIG) {
		errno = EINVAL;
		return -1;
	}
	sigaddset(&loop->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &loop->sigmask, NULL) < 0)
		return -1;
	fd = signalfd(loop->sigfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -1;
	loop->sigs[signo].cb = cb;
	loop->sigs[signo].data = data;
	if (loop->sigfd < 0) {
		loop->sigfd = fd;
		ev_io_init(&loop->sigio, fd, sig_read, NULL);
		if (ev_io_start(loop, &loop->sigio, EPOLLIN) < 0)
			return -1;
	}
	return 0;
}

/* ---- the loop ---- */

int
ev_run(struct ev_loop *loop)
{
	struct epoll_event evs[EV_BATCH];

	loop->stop = false;
	while (!loop->stop) {
		int timeout = -1, n;

		if (loop->dhead != NULL) {
			timeout = 0;
		} else if (loop->nheap > 0) {
			uint64_t now = ev_clock_ms(), at = loop->heap[0]->expire;
			timeout = at <= now ? 0 : (at - now > 3600000 ? 3600000 :
			    (int)(at - now));
		}
		n = epoll_wait(loop->epfd, evs, EV_BATCH, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		loop->now = ev_clock_ms();
		for (int i = 0; i < n && !loop->stop; i++) {
			int fd = (int)(uint32_t)evs[i].data.u64;
			uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
			struct ev_io *io;

			if ((size_t)fd >= loop->nfds || (io = loop->fds[fd]) == NULL ||
			    io->gen != gen || io->events == 0)
				continue;	/* stopped or paused during this batch */
			io->cb(loop, io, evs[i].events);
		}
		if (!loop->stop)
			run_timers(loop);
		if (!loop->stop)
			run_deferred(loop);
	}
	return 0;
}
