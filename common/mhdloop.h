/*
 * mhdloop — a libmicrohttpd daemon driven by an evloop instead of its own
 * threads: the daemon is started with MHD_USE_EPOLL and no internal
 * polling thread, its epoll descriptor is watched by the loop, and
 * MHD_run is called when that descriptor is readable, when MHD's own
 * timeout expires, and once more after a run that left work to do
 * (timeout 0).  So every callback of the daemon runs on the loop and may
 * touch the daemon's state without locks.  Shared by xmpp-core's web
 * listener and the metrics endpoints (metrics_http.c).
 */
#ifndef EDGE_MHDLOOP_H
#define EDGE_MHDLOOP_H

#include <stddef.h>

#include "evloop.h"

struct MHD_Daemon;

struct mhd_loop {
	struct MHD_Daemon *d;
	struct ev_loop *loop;
	struct ev_io io;
	struct ev_timer timer;
	struct ev_defer run;
};

/* Watches d (started with MHD_USE_EPOLL) on loop: 0, or -1 with err. */
int mhd_loop_attach(struct mhd_loop *m, struct ev_loop *loop, struct MHD_Daemon *d,
    char *err, size_t errlen);
/* MHD has work after something the caller did (a resumed or closed
 * connection): run it after the current batch. */
void mhd_loop_kick(struct mhd_loop *m);
/* One MHD_run now (before stopping: sockets just released). */
void mhd_loop_run(struct mhd_loop *m);
/* Stops watching; the daemon is the caller's to stop (d is cleared). */
void mhd_loop_detach(struct mhd_loop *m);

#endif
