/*
 * bytestream — listeners, SOCKS5 handshakes, pairing and activation of
 * the XEP-0065 proxy.  See bytestream.h; the relay itself is relay.c.
 *
 * A connection ("side") goes GREETING -> REQUEST -> PENDING -> ACTIVE,
 * or to LINGER after an error reply (our FIN is sent, the peer gets a
 * moment to read the reply before the socket is closed, so the reply is
 * not lost to a reset).  A CONNECT names a stream by its hash; the first
 * side is the target, the second the initiator (XEP-0065 §6.2: the target
 * connects, says <streamhost-used/>, then the initiator connects); a third
 * is refused.  Pending sides are polled only for EPOLLRDHUP: bytes they
 * send before activation stay in the kernel and are relayed afterwards.
 */
#include "bytestream.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "evloop.h"
#include "hmap.h"
#include "listener.h"
#include "log.h"
#include "proxyconf.h"
#include "server.h"
#include "relay.h"
#include "socks5.h"

#define ACCEPT_BATCH 64
#define LINGER_MS 2000
#define ACCEPT_PAUSE_MS 1000

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
static bool opened;

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

/* ---- connections ---- */

static void
side_free(struct side *s)
{
	ev_io_stop(srv.loop, &s->io);
	close(s->io.fd);
	ev_timer_stop(srv.loop, &s->timer);
	relay_side_free(s);
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

void
bytestream_end(struct stream *st, const char *why)
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

enum bytestream_result
bytestream_activate(const char *hash, const char *initiator, const char *desc)
{
	const struct proxy_config *pc = proxy_cfg();
	struct stream *st = hmap_get(&streams, hash);

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
	for (int i = 0; i < 2; i++) {
		ev_timer_stop(srv.loop, &st->side[i]->timer);
		st->side[i]->state = SD_ACTIVE;
		npending--;
	}
	log_info("proxy65 %llu: %s activated (target %s, initiator %s, %s)",
	    (unsigned long long)st->id, desc, st->side[0]->peer, st->side[1]->peer,
	    st->side[0]->buf ? "copy" : "splice");
	relay_start(st);
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
accept_one(int fd, const struct sockaddr_storage *ss, socklen_t sl)
{
	const struct proxy_config *pc = proxy_cfg();
	char ip[ADDR_STRLEN];
	const char *why = NULL;
	struct side *s;

	listener_peer_ip(ss, sl, ip, sizeof(ip));
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
	s->state = SD_GREETING;
	npending++;
	s->next = all;
	if (all)
		all->prev = s;
	all = s;
	ev_io_init(&s->io, fd, side_io, s);
	ev_timer_init(&s->timer, side_timer, s);
	relay_side_init(s);
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
	const struct proxy_config *pc = proxy_cfg();
	char e2[256];

	hmap_init(&streams);
	hmap_init(&ips);
	hmap_init(&users);
	relay_init();
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
	const struct proxy_config *pc = proxy_cfg();
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
	relay_stop();
	while (all) {
		if (all->st)
			bytestream_end(all->st, "server shutdown");
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
