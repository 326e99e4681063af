/* Unit tests for common/evloop.c: timer order, stale events, signals. */
#include "t.h"
#include "evloop.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int order[16], norder;

static void
tcb(struct ev_loop *loop, struct ev_timer *t)
{
	order[norder++] = (int)(intptr_t)t->data;
	if (norder == 4)
		ev_break(loop);
}

TEST(evloop_timers_order)
{
	struct ev_loop *loop = ev_loop_new();
	struct ev_timer t[5];

	norder = 0;
	for (int i = 0; i < 5; i++)
		ev_timer_init(&t[i], tcb, (void *)(intptr_t)i);
	ev_timer_start(loop, &t[0], 30);
	ev_timer_start(loop, &t[1], 10);
	ev_timer_start(loop, &t[2], 20);
	ev_timer_start(loop, &t[3], 5);
	ev_timer_start(loop, &t[4], 40);
	ev_timer_stop(loop, &t[2]);
	ev_timer_start(loop, &t[3], 1);
	CHECK_INT(ev_timer_count(loop), 4);
	ev_run(loop);
	CHECK_INT(norder, 4);
	CHECK_INT(order[0], 3);
	CHECK_INT(order[1], 1);
	CHECK_INT(order[2], 0);
	CHECK_INT(order[3], 4);
	ev_loop_free(loop);
}

TEST(evloop_heap_random)
{
	struct ev_loop *loop = ev_loop_new();
	enum { N = 2000 };
	struct ev_timer *t = calloc(N, sizeof(*t));

	for (int i = 0; i < N; i++) {
		ev_timer_init(&t[i], tcb, NULL);
		ev_timer_start(loop, &t[i], (uint64_t)(rand() % 100000) + 1000);
	}
	for (int i = 0; i < N; i += 3)
		ev_timer_stop(loop, &t[i]);
	CHECK_INT(ev_timer_count(loop), N - (N + 2) / 3);
	for (int i = 0; i < N; i++)
		ev_timer_stop(loop, &t[i]);
	CHECK_INT(ev_timer_count(loop), 0);
	free(t);
	ev_loop_free(loop);
}

struct pair {
	struct ev_io a, b;
	int calls;
};

static void
closer(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
	struct pair *p = io->data;

	(void)ev;
	p->calls++;
	/* Whichever fires first stops both: the other must not run. */
	ev_io_stop(loop, &p->a);
	ev_io_stop(loop, &p->b);
}

static void
stop_timer(struct ev_loop *loop, struct ev_timer *t)
{
	(void)t;
	ev_break(loop);
}

TEST(evloop_stale_events_skipped)
{
	struct ev_loop *loop = ev_loop_new();
	struct pair p = { .calls = 0 };
	struct ev_timer t;
	int fa[2], fb[2];

	CHECK(pipe(fa) == 0 && pipe(fb) == 0);
	CHECK(write(fa[1], "x", 1) == 1 && write(fb[1], "x", 1) == 1);
	ev_io_init(&p.a, fa[0], closer, &p);
	ev_io_init(&p.b, fb[0], closer, &p);
	CHECK_INT(ev_io_start(loop, &p.a, EPOLLIN), 0);
	CHECK_INT(ev_io_start(loop, &p.b, EPOLLIN), 0);
	ev_timer_init(&t, stop_timer, NULL);
	ev_timer_start(loop, &t, 50);
	ev_run(loop);
	CHECK_INT(p.calls, 1);
	close(fa[0]); close(fa[1]); close(fb[0]); close(fb[1]);
	ev_loop_free(loop);
}

static void
count_io(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	(void)loop;
	(void)revents;
	*(int *)io->data += 1;
}

/* A watcher asking for nothing is not woken by its peer's hang-up (epoll
 * reports EPOLLHUP whatever the mask); asking for input again delivers it. */
TEST(evloop_nothing_asked_no_hangup)
{
	struct ev_loop *loop = ev_loop_new();
	struct ev_io io;
	struct ev_timer t;
	int sv[2], calls = 0;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ev_io_init(&io, sv[0], count_io, &calls);
	CHECK_INT(ev_io_start(loop, &io, EPOLLOUT), 0);
	CHECK_INT(ev_io_start(loop, &io, 0), 0);
	CHECK(io.active);
	close(sv[1]);		/* EPOLLHUP on sv[0] */
	ev_timer_init(&t, stop_timer, NULL);
	ev_timer_start(loop, &t, 50);
	ev_run(loop);
	CHECK_INT(calls, 0);
	CHECK_INT(ev_io_start(loop, &io, EPOLLIN), 0);
	ev_timer_start(loop, &t, 50);
	ev_run(loop);
	CHECK(calls > 0);
	ev_io_stop(loop, &io);
	close(sv[0]);
	ev_loop_free(loop);
}

static int got_sig;

static void
on_sig(struct ev_loop *loop, int signo, void *data)
{
	(void)data;
	got_sig = signo;
	ev_break(loop);
}

static void
deferred(struct ev_loop *loop, struct ev_defer *d)
{
	(void)loop;
	*(int *)d->data += 1;
	raise(SIGUSR2);
}

TEST(evloop_signal_and_defer)
{
	struct ev_loop *loop = ev_loop_new();
	struct ev_defer d;
	int count = 0;

	got_sig = 0;
	CHECK_INT(ev_signal(loop, SIGUSR2, on_sig, NULL), 0);
	ev_defer_init(&d, deferred, &count);
	ev_defer(loop, &d);
	ev_defer(loop, &d);	/* idempotent while pending */
	ev_run(loop);
	CHECK_INT(count, 1);
	CHECK_INT(got_sig, SIGUSR2);
	ev_loop_free(loop);
	signal(SIGUSR2, SIG_DFL);
}

/* A signal that arrives after the loop's last turn (a second SIGTERM
 * during shutdown) must not kill the process when the loop is freed: it
 * was blocked for the loop, whose default action was never wanted. */
TEST(evloop_free_drops_pending_signals)
{
	struct ev_loop *loop = ev_loop_new();

	CHECK_INT(ev_signal(loop, SIGUSR1, on_sig, NULL), 0);
	raise(SIGUSR1);		/* pending: blocked, not read */
	ev_loop_free(loop);	/* before the fix: killed here (default action) */
	CHECK(1);
	signal(SIGUSR1, SIG_DFL);
}

/* A deferred callback that frees the owner of another pending entry. */
struct owner {
	struct ev_defer first, second;
	int *ran_second;
	struct owner **self;
};

static void
free_owner(struct ev_loop *loop, struct ev_defer *d)
{
	struct owner *o = d->data;

	ev_defer_cancel(loop, &o->second);
	*o->self = NULL;
	free(o);
}

static void
second_ran(struct ev_loop *loop, struct ev_defer *d)
{
	(void)loop;
	*((struct owner *)d->data)->ran_second += 1;
}

static void
stop_defer(struct ev_loop *loop, struct ev_defer *d)
{
	(void)d;
	ev_break(loop);
}

TEST(evloop_defer_cancel_from_callback)
{
	struct ev_loop *loop = ev_loop_new();
	struct owner *o = calloc(1, sizeof(*o));
	struct ev_defer stop;
	int ran = 0;

	CHECK(o != NULL);
	o->ran_second = &ran;
	o->self = &o;
	ev_defer_init(&o->first, free_owner, o);
	ev_defer_init(&o->second, second_ran, o);
	ev_defer_init(&stop, stop_defer, NULL);
	ev_defer(loop, &o->first);
	ev_defer(loop, &o->second);
	ev_defer(loop, &stop);
	ev_run(loop);
	CHECK(o == NULL);
	CHECK_INT(ran, 0);
	ev_loop_free(loop);
}
