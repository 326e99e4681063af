/*
 * conn — a stream connection's transport, for c2s and s2s.  See conn.h.
 *
 * The engine is driven by three callbacks of its own: socket readiness
 * (io_cb: the connect, the TLS handshake, then reads and writes), the
 * flush after the loop batch (flush_cb) and the resume (resume_cb: input
 * epoll cannot report, TLS records already decrypted or a transport's
 * buffer).  Reading stops, without losing what was read, whenever the
 * owner takes nothing (want() is 0): the epoll interest drops EPOLLIN,
 * so a blocked or paused connection costs no wake-ups, and TCP pushes
 * back on the peer.
 */
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "server.h"
#include "tls.h"
#include "xml.h"

static void io_cb(struct ev_loop *loop, struct ev_io *io, uint32_t revents);
static void flush_cb(struct ev_loop *loop, struct ev_defer *d);
static void resume_cb(struct ev_loop *loop, struct ev_defer *d);
static void shaper_cb(struct ev_loop *loop, struct ev_timer *t);

int
conn_init(struct conn *k, int fd, const struct conn_ops *ops, void *o,
    const struct xml_limits *lim, const struct xml_stream_cb *cb)
{
	if ((k->xs = xml_stream_new(lim, cb, o)) == NULL)
		return -1;
	k->fd = fd;
	k->ops = ops;
	k->owner = o;
	buf_init(&k->out);
	/* a full bucket: a new stream is not held back */
	k->shaper_tokens = ops->rate(o) ? ops->rate(o) : 1;
	k->shaper_last = ev_now(srv.loop);
	ev_io_init(&k->io, fd, io_cb, k);
	ev_timer_init(&k->shaper_timer, shaper_cb, k);
	ev_defer_init(&k->flush, flush_cb, k);
	ev_defer_init(&k->resume, resume_cb, k);
	return 0;
}

void
conn_set_fd(struct conn *k, int fd)
{
	ev_io_stop(srv.loop, &k->io);
	if (k->fd >= 0 && k->fd != fd)
		close(k->fd);
	k->fd = fd;
	ev_io_init(&k->io, fd, io_cb, k);
}

void
conn_stop(struct conn *k, bool close_fd)
{
	if (k->closed)
		return;
	k->closed = true;
	ev_io_stop(srv.loop, &k->io);
	ev_timer_stop(srv.loop, &k->shaper_timer);
	ev_defer_cancel(srv.loop, &k->flush);
	ev_defer_cancel(srv.loop, &k->resume);
	if (k->tls) {
		if (tls_handshake_done(k->tls))
			(void)tls_shutdown(k->tls);
		tls_conn_free(k->tls);
		k->tls = NULL;
	}
	if (close_fd && k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

void
conn_free(struct conn *k)
{
	xml_stream_free(k->xs);
	k->xs = NULL;
	buf_free(&k->out);
}

/* ---- the socket, TLS, or the owner's transport ---- */

ssize_t
conn_read(struct conn *k, void *buf, size_t len)
{
	ssize_t n;

	if (k->tls) {
		n = tls_read(k->tls, buf, len);
		k->tls_want_write = n == TLS_WANT_WRITE;
		if (n == TLS_WANT_READ || n == TLS_WANT_WRITE)
			return TR_AGAIN;
		return n < 0 ? TR_ERROR : n;
	}
	n = read(k->fd, buf, len);
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? TR_AGAIN : TR_ERROR;
	return n;
}

ssize_t
conn_write(struct conn *k, const void *buf, size_t len)
{
	ssize_t n;

	if (k->tls) {
		n = tls_write(k->tls, buf, len);
		if (n == TLS_WANT_READ || n == TLS_WANT_WRITE)
			return TR_AGAIN;
		return n < 0 ? TR_ERROR : n;
	}
	n = send(k->fd, buf, len, MSG_NOSIGNAL);
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? TR_AGAIN : TR_ERROR;
	return n;
}

static ssize_t
tr_read(struct conn *k, void *buf, size_t len)
{
	return k->ops->read ? k->ops->read(k->owner, buf, len) : conn_read(k, buf, len);
}

static ssize_t
tr_write(struct conn *k, const void *buf, size_t len)
{
	return k->ops->write ? k->ops->write(k->owner, buf, len) : conn_write(k, buf, len);
}

size_t
conn_out_pending(const struct conn *k)
{
	return buf_pending(&k->out) +
	    (k->ops->output_pending ? k->ops->output_pending(k->owner) : 0);
}

/* ---- output ---- */

void
conn_send(struct conn *k, const char *s, size_t n, size_t max)
{
	if (buf_pending(&k->out) + n > max || buf_append(&k->out, s, n) == -1)
		k->overflow = true;
	ev_defer(srv.loop, &k->flush);
}

static void
start_tls(struct conn *k)
{
	k->starttls_pending = false;
	if (conn_tls_server(k, k->ops->tls_server(k->owner)) == -1)
		k->ops->done(k->owner, "TLS set-up failed");
}

void
conn_flush(struct conn *k)
{
	ssize_t n;

	if (k->closed || k->handshake || (k->fd < 0 && k->ops->write == NULL))
		return;
	if (k->overflow) {
		k->ops->done(k->owner, "output buffer full");
		return;
	}
	while (buf_pending(&k->out) > 0) {
		n = tr_write(k, buf_data(&k->out), buf_pending(&k->out));
		if (n == TR_AGAIN)
			break;
		if (n <= 0) {
			k->ops->done(k->owner, "write failed");
			return;
		}
		buf_consume(&k->out, (size_t)n);
		if (k->ops->wrote)
			k->ops->wrote(k->owner);
	}
	if (k->ops->flush && buf_pending(&k->out) == 0 &&
	    k->ops->flush(k->owner) == TR_ERROR) {
		k->ops->done(k->owner, "write failed");
		return;
	}
	if (conn_out_pending(k) == 0) {
		/* idle connections keep no buffer (memory per connection) */
		buf_free(&k->out);
		if (k->closing) {
			k->ops->done(k->owner, NULL);
			return;
		}
		if (k->starttls_pending) {
			start_tls(k);
			return;
		}
	}
	conn_update(k);
}

void
conn_closing(struct conn *k)
{
	k->closing = true;
	ev_defer(srv.loop, &k->flush);
}

/* ---- input ---- */

/* What the owner takes now: nothing while the transport is not ready. */
static size_t
can_read(struct conn *k)
{
	if (k->closed || k->closing || k->handshake || k->starttls_pending)
		return 0;
	return k->ops->want(k->owner);
}

void
conn_update(struct conn *k)
{
	uint32_t ev = 0;

	/* a transport without a socket (BOSH) drives itself; the handshake
	 * asks for the events it needs */
	if (k->closed || k->fd < 0 || k->handshake)
		return;
	if ((k->shaper_tokens > 0 || k->ops->rate(k->owner) == 0) && can_read(k) > 0)
		ev |= EPOLLIN;
	/* a flush already scheduled writes first and asks for EPOLLOUT itself */
	if ((conn_out_pending(k) > 0 && !k->flush.pending) || k->tls_want_write)
		ev |= EPOLLOUT;
	if (ev != k->io.events || !k->io.active)
		ev_io_start(srv.loop, &k->io, ev);
}

/* Token bucket of rate bytes a second, one second deep: false (and the
 * refill timer armed, EPOLLIN dropped) when it is empty. */
static bool
shaper_take(struct conn *k, size_t *want)
{
	uint64_t rate = k->ops->rate(k->owner), now, add, ms;

	if (rate == 0)
		return true;
	now = ev_now(srv.loop);
	add = (now - k->shaper_last) * rate / 1000;
	if (add > 0) {
		k->shaper_tokens = k->shaper_tokens + add > rate ? rate : k->shaper_tokens + add;
		k->shaper_last = now;
	}
	if (k->shaper_tokens == 0) {
		/* wait until about one chunk's worth has accumulated */
		ms = (CONN_READ_CHUNK < rate ? CONN_READ_CHUNK : rate) * 1000 / rate;
		if (!ev_timer_active(&k->shaper_timer))
			ev_timer_start(srv.loop, &k->shaper_timer, ms ? ms : 1);
		if (k->io.active && (k->io.events & EPOLLIN))
			ev_io_start(srv.loop, &k->io, k->io.events & ~(uint32_t)EPOLLIN);
		return false;
	}
	if (*want > k->shaper_tokens)
		*want = (size_t)k->shaper_tokens;
	return true;
}

void
conn_pause(struct conn *k, uint64_t ms)
{
	if (!ev_timer_active(&k->shaper_timer))
		ev_timer_start(srv.loop, &k->shaper_timer, ms ? ms : 1);
}

static void
feed(struct conn *k, const char *data, size_t n)
{
	long used;

	while (n > 0 && !k->closed && !k->closing) {
		used = xml_stream_feed(k->xs, data, n);
		if (used < 0) {
			k->ops->parse_error(k->owner, xml_stream_error(k->xs));
			return;
		}
		if (k->starttls_pending || k->handshake)
			return;	/* anything after <starttls/> is not the stream's */
		/* a restart (SASL): the rest is the new stream */
		data += used;
		n -= (size_t)used;
	}
}

void
conn_readable(struct conn *k)
{
	char buf[CONN_READ_CHUNK];
	uint64_t rate;
	size_t want;
	ssize_t n;

	for (unsigned round = 0; round < k->ops->rounds; round++) {
		if ((want = can_read(k)) == 0)
			goto out;
		if (want > sizeof(buf))
			want = sizeof(buf);
		if (!shaper_take(k, &want))
			return;
		n = tr_read(k, buf, want);
		if (n == TR_AGAIN)
			break;
		if (n <= 0) {
			k->ops->done(k->owner, n == 0 ? "peer closed" : "read error");
			return;
		}
		if (k->ops->rate(k->owner))
			k->shaper_tokens -= (uint64_t)n < k->shaper_tokens ?
			    (uint64_t)n : k->shaper_tokens;
		if (!k->ops->got(k->owner, (size_t)n))
			return;
		feed(k, buf, (size_t)n);
		/* the socket is empty (it gave less than asked): epoll,
		 * level-triggered, says when more comes; no read() only to
		 * hear EAGAIN, one syscall per message at light load */
		if (k->ops->read == NULL &&
		    (k->tls ? tls_drained(k->tls) : (size_t)n < want))
			break;
	}
	if (k->closed)
		return;
	/* records read ahead by TLS, or a transport's buffer: epoll will
	 * not report them */
	if ((k->tls && tls_pending(k->tls) > 0) ||
	    (k->ops->input_pending && k->ops->input_pending(k->owner)))
		ev_defer(srv.loop, &k->resume);
	/* the last round may have emptied the bucket: arm its refill */
	rate = k->ops->rate(k->owner);
	if (rate && k->shaper_tokens == 0 && !ev_timer_active(&k->shaper_timer)) {
		want = 1;
		if (!shaper_take(k, &want))
			return;
	}
out:
	conn_update(k);
}

void
conn_resume(struct conn *k)
{
	if (!k->closed)
		ev_defer(srv.loop, &k->resume);
}

/* ---- TLS ---- */

int
conn_tls_server(struct conn *k, struct tls_server *ts)
{
	if (ts == NULL || (k->tls = tls_conn_server(ts, k->fd)) == NULL)
		return -1;
	k->handshake = true;
	ev_io_start(srv.loop, &k->io, EPOLLIN);
	return 0;
}

int
conn_tls_client(struct conn *k, void *ssl_ctx, const char *sni)
{
	if ((k->tls = tls_conn_client(ssl_ctx, k->fd, sni, NULL)) == NULL)
		return -1;
	k->handshake = true;
	ev_io_start(srv.loop, &k->io, EPOLLOUT);
	return 0;
}

void
conn_starttls(struct conn *k)
{
	k->starttls_pending = true;
	xml_stream_restart(k->xs);
}

static void
handshake(struct conn *k)
{
	int rc = tls_handshake(k->tls);
	char why[160];

	if (rc == TLS_WANT_READ || rc == TLS_WANT_WRITE) {
		ev_io_start(srv.loop, &k->io, rc == TLS_WANT_READ ? EPOLLIN : EPOLLOUT);
		return;
	}
	if (rc != TLS_OK) {
		snprintf(why, sizeof(why), "TLS handshake failed: %s", tls_conn_error(k->tls));
		k->ops->done(k->owner, why);
		return;
	}
	k->handshake = false;
	k->ops->secured(k->owner);
	if (!k->closed)
		conn_readable(k);
}

/* ---- events ---- */

static void
io_cb(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	struct conn *k = io->data;
	void *o = k->owner;

	(void)loop;
	k->ops->ref(o);
	if (k->handshake) {
		handshake(k);
	} else {
		if (revents & EPOLLOUT) {
			if (k->tls_want_write) {
				k->tls_want_write = false;
				conn_readable(k);
			}
			conn_flush(k);
		}
		/* also when the owner takes nothing now: readable asks for
		 * no more input then (a level-triggered fd would wake the
		 * loop at once again) */
		if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
			conn_readable(k);
	}
	k->ops->unref(o);
}

static void
flush_cb(struct ev_loop *loop, struct ev_defer *d)
{
	struct conn *k = d->data;
	void *o = k->owner;

	(void)loop;
	k->ops->ref(o);
	conn_flush(k);
	k->ops->unref(o);
}

static void
resume_cb(struct ev_loop *loop, struct ev_defer *d)
{
	struct conn *k = d->data;
	void *o = k->owner;

	(void)loop;
	k->ops->ref(o);
	if (k->ops->resumed)
		k->ops->resumed(o);
	if (!k->closed)
		conn_readable(k);
	k->ops->unref(o);
}

static void
shaper_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct conn *k = t->data;
	void *o = k->owner;

	(void)loop;
	k->ops->ref(o);
	if (!k->closed)
		conn_readable(k);
	k->ops->unref(o);
}

/* ---- stream framing ---- */

void
conn_stream_header(struct buf *b, const char *ns, const char *extra_ns,
    const char *id, const char *from, const char *to)
{
	buf_printf(b, "<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s'%s",
	    ns, XML_NS_STREAM, extra_ns ? extra_ns : "");
	if (id)
		buf_printf(b, " id='%s'", id);
	if (from)
		buf_printf(b, " from='%s'", from);
	if (to)
		buf_printf(b, " to='%s'", to);
	buf_puts(b, " version='1.0' xml:lang='en'>");
}

void
conn_stream_error(struct buf *b, const char *cond, const char *text)
{
	if (cond) {
		buf_printf(b, "<stream:error><%s xmlns='%s'/>", cond, NS_STREAMS_ERR);
		if (text) {
			buf_printf(b, "<text xmlns='%s' xml:lang='en'>", NS_STREAMS_ERR);
			xml_escape(b, text, strlen(text), false);
			buf_puts(b, "</text>");
		}
		buf_puts(b, "</stream:error>");
	}
	buf_puts(b, "</stream:stream>");
}
