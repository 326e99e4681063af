/*
 * listener — listening sockets.  See listener.h.
 *
 * When accept(2) fails for want of descriptors (or memory) the socket
 * stays readable: every listener of the set stops for LISTEN_PAUSE_MS
 * and the shortage is logged once, not on every pause.
 */
#include "listener.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "log.h"
#include "server.h"

#define ACCEPT_BATCH 64
#define LISTEN_PAUSE_MS 100

struct listener {
	struct ev_io io;
	struct listener_set *set;
	struct listener *next;
	bool direct_tls;
	char name[ADDR_STRLEN];
};

static void
pause_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct listener_set *s = t->data;

	for (struct listener *l = s->first; l; l = l->next)
		ev_io_start(loop, &l->io, EPOLLIN);
}

static void
pause_all(struct listener *l, int err)
{
	struct listener_set *s = l->set;

	if (!s->pause_logged)
		log_warn("%s: accept on %s: %s (pausing accepts for %d ms until it passes)",
		    s->what, l->name, strerror(err), LISTEN_PAUSE_MS);
	s->pause_logged = true;
	for (struct listener *k = s->first; k; k = k->next)
		ev_io_stop(srv.loop, &k->io);
	ev_timer_start(srv.loop, &s->pause, LISTEN_PAUSE_MS);
}

void
listener_peer_ip(const struct sockaddr_storage *ss, socklen_t sl, char *ip, size_t len)
{
	char *colon;

	addr_format_sa((const struct sockaddr *)ss, sl, ip, len);
	if (ip[0] == '[') {
		memmove(ip, ip + 1, strlen(ip));
		if ((colon = strrchr(ip, ']')) != NULL)
			*colon = '\0';
	} else if ((colon = strrchr(ip, ':')) != NULL) {
		*colon = '\0';
	}
}

static void
accept_cb(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	struct listener *l = io->data;
	struct sockaddr_storage ss;
	char ip[ADDR_STRLEN];
	socklen_t sl;
	int fd;

	(void)loop;
	(void)revents;
	for (int k = 0; k < ACCEPT_BATCH; k++) {
		sl = sizeof(ss);
		fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				pause_all(l, errno);
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("%s: accept on %s: %s", l->set->what, l->name,
				    strerror(errno));
			return;
		}
		l->set->pause_logged = false;
		/* output is coalesced per loop turn (conn.c): Nagle would only
		 * hold back the tail of a burst for the peer's delayed ACK */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		listener_peer_ip(&ss, sl, ip, sizeof(ip));
		l->set->fn(fd, &ss, sl, ip, l->direct_tls, l->name);
	}
}

void
listener_init(struct listener_set *s, const char *what, listener_fn *fn)
{
	memset(s, 0, sizeof(*s));
	s->what = what;
	s->fn = fn;
	ev_timer_init(&s->pause, pause_cb, s);
}

int
listener_open(struct listener_set *s, const struct edge_addr *a, size_t n,
    bool direct_tls, int backlog, char *err, size_t errlen)
{
	char e2[256], name[ADDR_STRLEN];
	struct listener *l;
	int fd;

	for (size_t i = 0; i < n; i++) {
		addr_format(&a[i], name, sizeof(name));
		if ((fd = addr_listen(&a[i], SOCK_STREAM, backlog, 0, e2, sizeof(e2))) < 0) {
			snprintf(err, errlen, "%s listen %s: %s", s->what, name, e2);
			return -1;
		}
		if ((l = calloc(1, sizeof(*l))) == NULL) {
			close(fd);
			snprintf(err, errlen, "%s: out of memory", s->what);
			return -1;
		}
		memcpy(l->name, name, sizeof(l->name));
		l->set = s;
		l->direct_tls = direct_tls;
		l->next = s->first;
		s->first = l;
		s->n++;
		ev_io_init(&l->io, fd, accept_cb, l);
		ev_io_start(srv.loop, &l->io, EPOLLIN);
		log_info("%s: listening on %s (%s)", s->what, l->name,
		    direct_tls ? "direct TLS" : "STARTTLS");
	}
	return 0;
}

void
listener_close(struct listener_set *s)
{
	struct listener *l;

	ev_timer_stop(srv.loop, &s->pause);
	while ((l = s->first) != NULL) {
		s->first = l->next;
		ev_io_stop(srv.loop, &l->io);
		close(l->io.fd);
		free(l);
	}
	s->n = 0;
}
