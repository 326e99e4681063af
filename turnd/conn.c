/*
 * conn — TCP/TLS connections.  See conn.h.
 */
#include "conn.h"
#include "alloc.h"
#include "config.h"
#include "log.h"
#include "relay.h"
#include "stun.h"
#include "tlsconn.h"
#include "turn.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RBUF_INIT	256
#define FRAME_MAX	(STUN_HDR_LEN + 0xFFFF + 3)

/* Connections per client IP (the max_connections_per_ip limit). */
struct ip_count {
	struct hnode node;
	uint32_t n;
	union sockaddr_u ip;
};

struct conn {
	struct turnd *td;
	struct ip_count *ipc;
	struct conn *prev, *next;
	int fd;
	struct ev_io io;
	struct ev_timer idle;
	struct ev_defer closer;
	struct ev_defer more;		/* TLS data left after a full round */
	struct client_ep ep;
	struct alloc *alloc;
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint8_t *wbuf;
	size_t woff, wlen;
	size_t wframe;			/* TLS: bytes left of the frame being written */
	struct tlsconn *tls;
	bool dead;
};

static void conn_close(struct conn *c);

static uint32_t
ip_hash(const union sockaddr_u *a)
{
	if (a->sa.sa_family == AF_INET)
		return hash_bytes(&a->sin.sin_addr, 4, hash_seed ^ 0x1b873593u);
	return hash_bytes(&a->sin6.sin6_addr, 16, hash_seed ^ 0x1b873593u);
}

/* Counts one more connection from a's IP; NULL when over the limit. */
static struct ip_count *
ip_take(struct turnd *td, const union sockaddr_u *a)
{
	uint32_t h = ip_hash(a);
	struct ip_count *ic;
	struct hnode *n;

	for (n = hash_first(&td->conn_ips, h); n != NULL; n = hash_next(n, h)) {
		ic = container_of(n, struct ip_count, node);
		if (sa_ip_equal(&ic->ip.sa, &a->sa)) {
			if (ic->n >= td->cfg->max_connections_per_ip)
				return NULL;
			ic->n++;
			return ic;
		}
	}
	if ((ic = calloc(1, sizeof(*ic))) == NULL)
		return NULL;
	ic->ip = *a;
	ic->n = 1;
	hash_insert(&td->conn_ips, &ic->node, h);
	return ic;
}

static void
ip_put(struct turnd *td, struct ip_count *ic)
{
	if (--ic->n == 0) {
		hash_remove(&td->conn_ips, &ic->node);
		free(ic);
	}
}

static void
closer_cb(struct ev_loop *loop, struct ev_defer *d)
{
	(void)loop;
	conn_close(d->data);
}

static void
kill_later(struct conn *c)
{
	if (!c->dead) {
		c->dead = true;
		ev_defer(c->td->loop, &c->closer);
	}
}

static void
idle_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct conn *c = t->data;
	char cs[64];

	(void)loop;
	log_info("closing idle %s connection from %s",
	    c->ep.tp == TP_TLS ? "TLS" : "TCP", sa_str(&c->ep.addr.sa, cs, sizeof(cs)));
	conn_close(c);
}

static void
update_events(struct conn *c)
{
	uint32_t ev = EPOLLIN;

	if (c->wlen > 0 || (c->tls != NULL && (tlsconn_wants_write(c->tls) ||
	    tlsconn_pending(c->tls))))
		ev |= EPOLLOUT;
	if (c->io.events != ev || !c->io.active)
		ev_io_start(c->td->loop, &c->io, ev);
}

/* Raw I/O through TLS when present: >0 bytes, 0 would block, -1 closed. */
static ssize_t
io_read(struct conn *c, void *buf, size_t len)
{
	ssize_t n;

	if (c->tls != NULL)
		return tlsconn_read(c->tls, buf, len);
	n = read(c->fd, buf, len);
	if (n > 0)
		return n;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return -1;
}

static ssize_t
io_write(struct conn *c, const void *buf, size_t len)
{
	ssize_t n;

	if (c->tls != NULL)
		return tlsconn_write(c->tls, buf, len);
	n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	return -1;
}

static int
flush_wbuf(struct conn *c)
{
	if (c->tls != NULL && tlsconn_flush(c->tls) < 0)
		return -1;
	while (c->wlen > 0) {
		size_t chunk = c->wlen;
		ssize_t n;

		if (c->tls != NULL) {
			/* Queued frames still leave as a record each. */
			if (c->wframe == 0) {
				ssize_t fl = stun_frame_len(c->wbuf + c->woff, c->wlen);

				c->wframe = fl > 0 && (size_t)fl <= c->wlen ?
				    (size_t)fl : c->wlen;
			}
			chunk = c->wframe;
		}
		if ((n = io_write(c, c->wbuf + c->woff, chunk)) < 0)
			return -1;
		if (n == 0)
			break;
		c->woff += (size_t)n;
		c->wlen -= (size_t)n;
		if (c->tls != NULL)
			c->wframe -= (size_t)n;
	}
	if (c->wlen == 0) {
		/* Drained: give the queue back; a slow reader pays for it
		 * only while it is behind. */
		free(c->wbuf);
		c->wbuf = NULL;
		c->woff = 0;
	}
	if (c->tls != NULL && tlsconn_flush(c->tls) < 0)
		return -1;
	return 0;
}

bool
conn_is_tls(const struct conn *c)
{
	return c->tls != NULL;
}

void
conn_flush(struct conn *c)
{
	if (c->dead || c->tls == NULL)
		return;
	if (tlsconn_flush(c->tls) < 0) {
		kill_later(c);
		return;
	}
	update_events(c);
}

int
conn_send(struct conn *c, const void *buf, size_t len, bool control)
{
	size_t cap = c->td->cfg->tcp_buffer;
	ssize_t n = 0;

	if (c->dead)
		return -1;
	if (c->wlen == 0) {
		n = io_write(c, buf, len);
		if (n < 0) {
			kill_later(c);
			return -1;
		}
		if ((size_t)n == len) {
			if (c->tls != NULL && control)
				conn_flush(c);
			return 0;
		}
	}
	if (c->wbuf == NULL && (c->wbuf = malloc(cap)) == NULL) {
		kill_later(c);
		return -1;
	}
	if (c->woff + c->wlen + (len - (size_t)n) > cap && c->woff > 0) {
		memmove(c->wbuf, c->wbuf + c->woff, c->wlen);
		c->woff = 0;
	}
	if (c->wlen + (len - (size_t)n) > cap) {
		if (n > 0 || control) {
			/* A partly written frame cannot be dropped. */
			kill_later(c);
			return -1;
		}
		c->td->stats.dropped++;
		return -1;
	}
	if (c->wlen == 0 && n > 0)
		c->wframe = len - (size_t)n;	/* the rest of a split record */
	memcpy(c->wbuf + c->woff + c->wlen, (const uint8_t *)buf + n, len - (size_t)n);
	c->wlen += len - (size_t)n;
	update_events(c);
	return 0;
}

/*
 * Reads go into one shared scratch buffer (pending partial frames first),
 * so a connection only keeps the bytes of an incomplete frame between
 * reads, not a buffer of its own for every read.
 */
#define SCRATCH (64 * 1024 + FRAME_MAX)
static uint8_t scratch[SCRATCH];

/* Handles every complete frame in buf; bytes used, or -1 on garbage. */
static ssize_t
process_frames(struct conn *c, uint8_t *buf, size_t len)
{
	size_t off = 0;
	ssize_t rc = 0;

	while (!c->dead && len - off >= 4) {
		uint8_t *p = buf + off;
		ssize_t flen = stun_frame_len(p, len - off);

		if (flen < 0 || flen > FRAME_MAX) {
			rc = -1;
			break;
		}
		if ((size_t)flen > len - off)
			break;
		if (stun_is_channeldata(p, (size_t)flen)) {
			if (c->alloc != NULL)
				relay_channeldata(c->alloc, p, (size_t)flen);
		} else {
			turn_handle(c->td, &c->ep, c->alloc, p, (size_t)flen);
		}
		off += (size_t)flen;
	}
	/* Queued datagrams point into buf: send them before it is reused. */
	relay_flush();
	return rc < 0 ? -1 : (ssize_t)off;
}

/* Keeps an incomplete frame for the next read; -1 without memory. */
static int
keep_partial(struct conn *c, const uint8_t *p, size_t len)
{
	if (c->rcap > RBUF_INIT && len <= RBUF_INIT) {
		/* A large frame went through: shrink back. */
		free(c->rbuf);
		c->rbuf = NULL;
		c->rcap = 0;
	}
	if (len > c->rcap) {
		uint8_t *nb = realloc(c->rbuf, len < RBUF_INIT ? RBUF_INIT : len);

		if (nb == NULL)
			return -1;
		c->rbuf = nb;
		c->rcap = len < RBUF_INIT ? RBUF_INIT : len;
	}
	if (len > 0)
		memcpy(c->rbuf, p, len);
	c->rlen = len;
	return 0;
}

static void
conn_io_cb(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
	struct conn *c = io->data;

	if (c->dead)
		return;
	if (c->tls != NULL && !tlsconn_ready(c->tls)) {
		int r = tlsconn_handshake(c->tls);

		if (r < 0) {
			conn_close(c);
			return;
		}
		if (r == 0) {
			update_events(c);
			return;
		}
	}
	if ((ev & EPOLLOUT) || c->wlen > 0) {
		if (flush_wbuf(c) < 0) {
			conn_close(c);
			return;
		}
	}
	for (int round = 0; round < 16 && !c->dead; round++) {
		size_t have = c->rlen;
		ssize_t n, used;

		if (have > 0)
			memcpy(scratch, c->rbuf, have);
		n = io_read(c, scratch + have, SCRATCH - have);
		if (n < 0) {
			conn_close(c);
			return;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (c->alloc == NULL)
			ev_timer_start(loop, &c->idle, (uint64_t)c->td->cfg->idle_timeout * 1000);
		if ((used = process_frames(c, scratch, have)) < 0 ||
		    keep_partial(c, scratch + used, have - (size_t)used) < 0) {
			conn_close(c);
			return;
		}
	}
	if (c->dead)
		return;
	/* Records OpenSSL already decrypted raise no epoll event: come back
	 * for them after the other connections had their turn. */
	if (c->tls != NULL && tlsconn_readable(c->tls))
		ev_defer(loop, &c->more);
	update_events(c);
}

static void
more_cb(struct ev_loop *loop, struct ev_defer *d)
{
	struct conn *c = d->data;

	conn_io_cb(loop, &c->io, EPOLLIN);
}

void
conn_set_alloc(struct conn *c, struct alloc *a)
{
	c->alloc = a;
	ev_timer_stop(c->td->loop, &c->idle);
}

void
conn_alloc_gone(struct conn *c)
{
	c->alloc = NULL;
	if (!c->dead)
		ev_timer_start(c->td->loop, &c->idle,
		    (uint64_t)c->td->cfg->idle_timeout * 1000);
}

static void
conn_close(struct conn *c)
{
	struct turnd *td = c->td;

	c->dead = true;
	if (c->alloc != NULL) {
		struct alloc *a = c->alloc;

		a->ep.conn = NULL;
		c->alloc = NULL;
		alloc_free(a, "connection closed");
	}
	ev_defer_cancel(td->loop, &c->closer);
	ev_defer_cancel(td->loop, &c->more);
	ev_timer_stop(td->loop, &c->idle);
	ev_io_stop(td->loop, &c->io);
	if (c->tls != NULL)
		tlsconn_free(c->tls);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		td->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	td->nconns--;
	ip_put(td, c->ipc);
	free(c->rbuf);
	free(c->wbuf);
	free(c);
}

void
conn_accept_cb(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
	struct listener *l = io->data;
	struct turnd *td = l->td;

	(void)ev;
	for (int i = 0; i < 64; i++) {
		union sockaddr_u peer, local;
		socklen_t plen = sizeof(peer), llen = sizeof(local);
		struct conn *c;
		int fd, one = 1;

		fd = accept4(l->fd, &peer.sa, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (td->nconns >= td->cfg->max_connections || td->stopping) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->td = td;
		c->fd = fd;
		c->ep.tp = l->tp;
		c->ep.l = l;
		c->ep.conn = c;
		c->ep.addr = peer;
		sa_unmap(&c->ep.addr);
		if ((c->ipc = ip_take(td, &c->ep.addr)) == NULL) {
			free(c);
			close(fd);
			continue;
		}
		if (getsockname(fd, &local.sa, &llen) == 0) {
			c->ep.local = local;
			sa_unmap(&c->ep.local);
		}
		if (l->tp == TP_TLS && (c->tls = tlsconn_new(td->tls, fd)) == NULL) {
			ip_put(td, c->ipc);
			free(c);
			close(fd);
			continue;
		}
		ev_io_init(&c->io, fd, conn_io_cb, c);
		ev_timer_init(&c->idle, idle_cb, c);
		ev_defer_init(&c->closer, closer_cb, c);
		ev_defer_init(&c->more, more_cb, c);
		c->next = td->conns;
		if (td->conns != NULL)
			td->conns->prev = c;
		td->conns = c;
		td->nconns++;
		ev_timer_start(loop, &c->idle, (uint64_t)td->cfg->idle_timeout * 1000);
		update_events(c);
	}
}

void
conn_close_all(struct turnd *td)
{
	while (td->conns != NULL)
		conn_close(td->conns);
}
