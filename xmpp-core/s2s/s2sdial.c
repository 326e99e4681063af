/*
 * s2sdial — the TCP set-up of an outgoing s2s connection: the addresses
 * the resolver found (SRV order, IPv6 and IPv4 interleaved) raced as RFC
 * 8305 §5 says.  The first attempt starts at once; while it has not
 * connected, the next starts DIAL_DELAY_MS later, or at once when one
 * fails; the first to connect wins and the others are closed.  Each
 * attempt gives up after DIAL_ATTEMPT_MS, and at most DIAL_MAX are in
 * flight (a domain of 64 silent addresses does not open 64 sockets).
 * A dead address then costs a quarter of a second, not a whole time-out.
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

#define DIAL_DELAY_MS 250	/* RFC 8305 §5: Connection Attempt Delay */
#define DIAL_ATTEMPT_MS 10000	/* one address's TCP connect */
#define DIAL_MAX 8		/* attempts in flight at once */

struct s2s_attempt {
	struct s2s_attempt *next;
	struct s2s_conn *c;
	const struct s2s_target *t;
	struct ev_io io;
	struct ev_timer timer;
	char addr[ADDR_STRLEN];
};

static void dial_next(struct s2s_conn *c);

static void
attempt_free(struct s2s_attempt *a, bool close_fd)
{
	struct s2s_attempt **pp;

	for (pp = &a->c->attempts; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	a->c->nattempts--;
	ev_io_stop(srv.loop, &a->io);
	ev_timer_stop(srv.loop, &a->timer);
	if (close_fd)
		close(a->io.fd);
	free(a);
}

void
s2s_dial_stop(struct s2s_conn *c)
{
	ev_timer_stop(srv.loop, &c->dial_timer);
	while (c->attempts)
		attempt_free(c->attempts, true);
}

/* An attempt failed (why): the next address now. */
static void
attempt_failed(struct s2s_attempt *a, const char *why)
{
	struct s2s_conn *c = a->c;

	log_debug("s2s %llu out: %s: %s", (unsigned long long)c->id, a->addr, why);
	snprintf(c->fail_why, sizeof(c->fail_why), "%s: %s", a->addr, why);
	attempt_free(a, true);
	dial_next(c);
}

static void
attempt_io(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	struct s2s_attempt *a = io->data;
	struct s2s_conn *c = a->c;
	const struct s2s_target *t = a->t;
	int err = 0, fd = io->fd;
	socklen_t l = sizeof(err);

	(void)loop;
	(void)revents;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) == -1)
		err = errno;
	if (err != 0) {
		attempt_failed(a, strerror(err));
		return;
	}
	attempt_free(a, false);
	s2s_dial_stop(c);	/* the others lost the race */
	s2s_conn_dialed(c, fd, t);
}

static void
attempt_timeout(struct ev_loop *loop, struct ev_timer *tm)
{
	(void)loop;
	attempt_failed(tm->data, "connect timed out");
}

static void
delay_cb(struct ev_loop *loop, struct ev_timer *tm)
{
	struct s2s_conn *c = tm->data;

	(void)loop;
	log_debug("s2s %llu out: no answer within %d ms, racing the next address",
	    (unsigned long long)c->id, DIAL_DELAY_MS);
	dial_next(c);
}

/* Starts an attempt at t: 0, or -1 with why in c->fail_why. */
static int
attempt_start(struct s2s_conn *c, const struct s2s_target *t)
{
	struct s2s_attempt *a;
	char addr[ADDR_STRLEN];
	int fd, one = 1;

	addr_format_sa((const struct sockaddr *)&t->ss, t->len, addr, sizeof(addr));
	fd = socket(t->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(c->fail_why, sizeof(c->fail_why), "socket: %s", strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((connect(fd, (const struct sockaddr *)&t->ss, t->len) == -1 &&
	    errno != EINPROGRESS) || (a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(c->fail_why, sizeof(c->fail_why), "%s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	a->c = c;
	a->t = t;
	memcpy(a->addr, addr, sizeof(a->addr));
	ev_io_init(&a->io, fd, attempt_io, a);
	ev_timer_init(&a->timer, attempt_timeout, a);
	if (ev_io_start(srv.loop, &a->io, EPOLLOUT) == -1) {
		snprintf(c->fail_why, sizeof(c->fail_why), "%s: %s", addr, strerror(errno));
		close(fd);
		free(a);
		return -1;
	}
	ev_timer_start(srv.loop, &a->timer, DIAL_ATTEMPT_MS);
	a->next = c->attempts;
	c->attempts = a;
	c->nattempts++;
	log_debug("s2s %llu out: connecting to %s for %s", (unsigned long long)c->id,
	    addr, c->link ? c->link->remote : "?");
	return 0;
}

static void
dial_next(struct s2s_conn *c)
{
	ev_timer_stop(srv.loop, &c->dial_timer);
	while (c->next_target < c->ntargets && c->nattempts < DIAL_MAX) {
		if (attempt_start(c, &c->targets[c->next_target++]) == 0) {
			if (c->next_target < c->ntargets)
				ev_timer_start(srv.loop, &c->dial_timer, DIAL_DELAY_MS);
			return;
		}
	}
	if (c->attempts == NULL) {
		if (c->fail_why[0] == '\0')
			snprintf(c->fail_why, sizeof(c->fail_why), "no address answered");
		s2s_conn_dial_failed(c);	/* c may be gone */
	}
}

void
s2s_dial_start(struct s2s_conn *c)
{
	ev_timer_init(&c->dial_timer, delay_cb, c);
	dial_next(c);
}
