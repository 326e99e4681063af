/*
 * mhdloop — libmicrohttpd on the evloop.  See mhdloop.h.
 */
#include "mhdloop.h"

#include <stdio.h>

#include <microhttpd.h>

void
mhd_loop_run(struct mhd_loop *m)
{
	MHD_UNSIGNED_LONG_LONG to;

	if (m->d == NULL)
		return;
	(void)MHD_run(m->d);
	if (MHD_get_timeout(m->d, &to) == MHD_YES) {
		if (to == 0)
			ev_defer(m->loop, &m->run);
		else
			ev_timer_start(m->loop, &m->timer, to);
	} else {
		ev_timer_stop(m->loop, &m->timer);
	}
}

static void
io_cb(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	(void)loop;
	(void)revents;
	mhd_loop_run(io->data);
}

static void
timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	mhd_loop_run(t->data);
}

static void
run_cb(struct ev_loop *loop, struct ev_defer *d)
{
	(void)loop;
	mhd_loop_run(d->data);
}

int
mhd_loop_attach(struct mhd_loop *m, struct ev_loop *loop, struct MHD_Daemon *d,
    char *err, size_t errlen)
{
	const union MHD_DaemonInfo *di;

	m->d = d;
	m->loop = loop;
	if ((di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD)) == NULL) {
		snprintf(err, errlen, "no epoll descriptor");
		m->d = NULL;
		return -1;
	}
	ev_io_init(&m->io, di->epoll_fd, io_cb, m);
	ev_timer_init(&m->timer, timer_cb, m);
	ev_defer_init(&m->run, run_cb, m);
	if (ev_io_start(loop, &m->io, EPOLLIN) < 0) {
		snprintf(err, errlen, "cannot watch its epoll descriptor");
		m->d = NULL;
		return -1;
	}
	return 0;
}

void
mhd_loop_kick(struct mhd_loop *m)
{
	if (m->d)
		ev_defer(m->loop, &m->run);
}

void
mhd_loop_detach(struct mhd_loop *m)
{
	if (m->d == NULL)
		return;
	ev_io_stop(m->loop, &m->io);
	ev_timer_stop(m->loop, &m->timer);
	ev_defer_cancel(m->loop, &m->run);
	m->d = NULL;
}
