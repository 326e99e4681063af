/*
 * s2slisten — the 5269 listeners (dual-stack by default): accept and
 * hand the socket to s2sconn.c, which applies the per-address limit.
 */
#include "s2s.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "log.h"
#include "server.h"

struct s2s_listener {
	struct ev_io io;
	bool direct_tls;
	char name[ADDR_STRLEN];
};

static struct s2s_listener *listeners;
static size_t nlisteners;

static void
accept_cb(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	struct s2s_listener *l = io->data;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;

	(void)loop;
	(void)revents;
	for (int k = 0; k < 32; k++) {
		sl = sizeof(ss);
		fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("s2s: accept on %s: %s", l->name, strerror(errno));
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		if (s2s_conn_accept(fd, &ss, sl, l->direct_tls) == -1)
			close(fd);
	}
}

static int
listen_list(const struct edge_addr *a, size_t n, bool tls, char *err, size_t errlen)
{
	char e2[256];

	for (size_t i = 0; i < n; i++) {
		struct s2s_listener *l = &listeners[nlisteners];
		int fd = addr_listen(&a[i], SOCK_STREAM, 512, 0, e2, sizeof(e2));

		if (fd == -1) {
			snprintf(err, errlen, "s2s: %s", e2);
			return -1;
		}
		addr_format(&a[i], l->name, sizeof(l->name));
		l->direct_tls = tls;
		ev_io_init(&l->io, fd, accept_cb, l);
		ev_io_start(srv.loop, &l->io, EPOLLIN);
		nlisteners++;
		log_info("s2s: listening on %s%s", l->name, tls ? " (direct TLS)" : "");
	}
	return 0;
}

int
s2s_listen_open(char *err, size_t errlen)
{
	const struct s2s_config *cfg = s2s_cfg();
	size_t n = cfg->nlisten + cfg->nlisten_tls;

	if ((listeners = calloc(n ? n : 1, sizeof(*listeners))) == NULL) {
		snprintf(err, errlen, "s2s: out of memory");
		return -1;
	}
	if (listen_list(cfg->listen, cfg->nlisten, false, err, errlen) == -1 ||
	    listen_list(cfg->listen_tls, cfg->nlisten_tls, true, err, errlen) == -1)
		return -1;
	return 0;
}

void
s2s_listen_close(void)
{
	for (size_t i = 0; i < nlisteners; i++) {
		ev_io_stop(srv.loop, &listeners[i].io);
		close(listeners[i].io.fd);
	}
	free(listeners);
	listeners = NULL;
	nlisteners = 0;
}
