/*
 * wsxmpp — RFC 7395 over RFC 6455 as a c2s transport.  See wsxmpp.h.
 *
 * Buffers per connection, each freed when empty so an idle session keeps
 * none: in (bytes read, frames not yet complete), msg (a fragmented
 * message being put together), xml (what the session's parser is to
 * read next), pend (session output not yet cut into elements: only ever
 * an incomplete tail) and out (frames not yet written).  One data
 * message is turned into parser input per read: the session must see
 * the end of a negotiation step (SASL success restarts its parser)
 * before the next message is looked at.
 */
#include "wsxmpp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "c2s.h"
#include "fragment.h"
#include "log.h"
#include "server.h"
#include "web.h"
#include "webconf.h"
#include "wsproto.h"
#include "xml.h"
#include "xmlsplit.h"

#define READ_CHUNK 16384
#define NS_STREAM "http://etherx.jabber.org/streams"

struct ws {
	struct c2s *c;
	struct ws_owner own;
	int fd;
	struct buf in, msg, xml, pend, out;
	bool in_msg;		/* a fragmented message goes on */
	bool eof;		/* the peer closed (close frame or FIN) */
	bool close_sent;	/* our close frame is queued: nothing after it */
	bool ping_out;		/* a ping is unanswered */
	uint64_t last_in;
	struct ev_timer ping;
	LIST_ENTRY(ws) all;
};

static LIST_HEAD(, ws) all_ws = LIST_HEAD_INITIALIZER(all_ws);
static size_t nws;

size_t
wsxmpp_count(void)
{
	return nws;
}

/* ---- output ---- */

static int
sock_write(struct ws *w)
{
	ssize_t n;

	while (buf_pending(&w->out) > 0) {
		n = send(w->fd, buf_data(&w->out), buf_pending(&w->out), MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -1;
		}
		buf_consume(&w->out, (size_t)n);
	}
	buf_free(&w->out);
	return 0;
}

/* A frame with its payload in up to three pieces (no copy beforehand). */
static void
frame3(struct ws *w, uint8_t op, const void *a, size_t al, const void *b, size_t bl,
    const void *c, size_t cl)
{
	uint8_t h[WS_HEADER_MAX];
	size_t hl = ws_frame_header(h, op, true, al + bl + cl);

	if (buf_append(&w->out, h, hl) == -1 || (al && buf_append(&w->out, a, al) == -1) ||
	    (bl && buf_append(&w->out, b, bl) == -1) ||
	    (cl && buf_append(&w->out, c, cl) == -1))
		w->close_sent = true;	/* out of memory: stop; the write fails it */
}

static void
send_close(struct ws *w, uint16_t code)
{
	uint8_t p[2] = { (uint8_t)(code >> 8), (uint8_t)code };

	if (w->close_sent)
		return;
	frame3(w, WS_CLOSE, p, 2, NULL, 0, NULL, 0);
	w->close_sent = true;
}

static void
buf_putc(struct buf *b, char ch)
{
	(void)buf_append(b, &ch, 1);
}

/* The stream header's attributes but its namespace declarations. */
static bool
open_attr(void *arg, const char *name, size_t nlen, const char *val, size_t vlen)
{
	struct buf *b = arg;
	char q = memchr(val, '\'', vlen) ? '"' : '\'';

	if (nlen >= 5 && memcmp(name, "xmlns", 5) == 0)
		return true;
	buf_putc(b, ' ');
	buf_append(b, name, nlen);
	buf_putc(b, '=');
	buf_putc(b, q);
	buf_append(b, val, vlen);
	buf_putc(b, q);
	return true;
}

/* Cuts the session's text into messages: -1 on text that cannot be cut. */
static int
frame_out(struct ws *w)
{
	struct xml_unit u;
	const char *p, *ins;
	int r;

	while (!w->close_sent && buf_pending(&w->pend) > 0) {
		p = buf_data(&w->pend);
		if ((r = xml_unit_next(p, buf_pending(&w->pend), true, &u)) == 0)
			break;
		if (r == -1)
			return -1;
		switch (u.kind) {
		case XU_SPACE:
		case XU_PI:
			break;
		case XU_START: {
			struct buf b;

			buf_init(&b);
			buf_puts(&b, "<open xmlns='" NS_FRAMING "'");
			xml_unit_attrs(p, &u, open_attr, &b);
			buf_puts(&b, "/>");
			frame3(w, WS_TEXT, buf_data(&b), buf_pending(&b), NULL, 0, NULL, 0);
			buf_free(&b);
			break;
		}
		case XU_END:
			if (u.namelen != 13 || memcmp(p + u.name, "stream:stream", 13) != 0)
				return -1;
			buf_consume(&w->pend, u.len);
			frame3(w, WS_TEXT, "<close xmlns='" NS_FRAMING "'/>",
			    sizeof("<close xmlns='" NS_FRAMING "'/>") - 1, NULL, 0, NULL, 0);
			send_close(w, WS_CLOSE_NORMAL);
			continue;
		case XU_ELEMENT:
			/* a lone element carries its namespaces (RFC 7395 §3.3.3) */
			ins = NULL;
			if (u.namelen > 7 && memcmp(p + u.name, "stream:", 7) == 0)
				ins = " xmlns:stream='" NS_STREAM "'";
			else if (!u.has_xmlns)
				ins = " xmlns='" NS_CLIENT "'";
			if (ins)
				frame3(w, WS_TEXT, p, u.name + u.namelen, ins, strlen(ins),
				    p + u.name + u.namelen, u.len - u.name - u.namelen);
			else
				frame3(w, WS_TEXT, p, u.len, NULL, 0, NULL, 0);
			break;
		}
		buf_consume(&w->pend, u.len);
	}
	if (w->close_sent || buf_pending(&w->pend) == 0)
		buf_free(&w->pend);
	return 0;
}

static ssize_t
ws_write(struct c2s *c, const void *data, size_t len)
{
	struct ws *w = c->tr_ctx;

	if (w->close_sent)
		return (ssize_t)len;	/* RFC 6455 §5.5.1: nothing after Close */
	if (buf_append(&w->pend, data, len) == -1)
		return TR_ERROR;
	if (frame_out(w) == -1) {
		log_warn("c2s %llu: websocket: output not cut into elements",
		    (unsigned long long)c->id);
		return TR_ERROR;
	}
	if (buf_pending(&w->out) > srv.cfg->max_out_buffer) {
		log_info("c2s %llu: %s: output buffer over %llu bytes, closing",
		    (unsigned long long)c->id, c->peer,
		    (unsigned long long)srv.cfg->max_out_buffer);
		return TR_ERROR;
	}
	if (sock_write(w) == -1)
		return TR_ERROR;
	return (ssize_t)len;
}

static size_t
ws_output_pending(const struct c2s *c)
{
	const struct ws *w = c->tr_ctx;

	return buf_pending(&w->out);
}

static int
ws_flush(struct c2s *c)
{
	struct ws *w = c->tr_ctx;

	if (sock_write(w) == -1)
		return TR_ERROR;
	return buf_pending(&w->out) ? TR_AGAIN : 0;
}

/* ---- input ---- */

static uint64_t
max_message(const struct c2s *c)
{
	return c->authed ? srv.cfg->max_stanza : srv.cfg->preauth_max_stanza;
}

/* A WebSocket-level violation: close with code; the connection ends. */
static int
fail(struct ws *w, uint16_t code, const char *why)
{
	log_info("c2s %llu: %s: websocket: %s, closing with %u",
	    (unsigned long long)w->c->id, w->c->peer, why, code);
	send_close(w, code);
	(void)sock_write(w);
	w->eof = true;
	return -1;
}

/* <open/>: the stream header the session's parser expects. */
static int
msg_open(struct ws *w, const char *p, size_t n)
{
	struct xml_node *o = fragment_parse(p, n, "");
	const char *to, *ver;

	if (o == NULL || !xml_is(o, "open", NS_FRAMING)) {
		xml_free(o);
		c2s_stream_error(w->c, o ? "invalid-namespace" : "not-well-formed", NULL);
		return 2;
	}
	if (w->c->state != C2S_STREAM) {
		xml_free(o);
		c2s_stream_error(w->c, "invalid-xml", "<open/> only to begin or restart "
		    "the stream (RFC 7395 §3.4)");
		return 2;
	}
	to = xml_attr(o, "to");
	ver = xml_attr(o, "version");
	buf_puts(&w->xml, "<stream:stream xmlns='" NS_CLIENT "' xmlns:stream='"
	    NS_STREAM "'");
	if (to) {
		buf_puts(&w->xml, " to='");
		xml_escape(&w->xml, to, strlen(to), true);
		buf_putc(&w->xml, '\'');
	}
	if (ver) {
		buf_puts(&w->xml, " version='");
		xml_escape(&w->xml, ver, strlen(ver), true);
		buf_putc(&w->xml, '\'');
	}
	buf_putc(&w->xml, '>');
	xml_free(o);
	return 1;
}

/* A complete text message: 1 input for the session, 2 it was ended. */
static int
message(struct ws *w, const char *p, size_t n)
{
	struct xml_unit u;
	size_t off = 0;
	int r;

	if (!ws_utf8_valid((const uint8_t *)p, n))
		return fail(w, WS_CLOSE_BAD_DATA, "text message not UTF-8");
	while ((r = xml_unit_next(p + off, n - off, false, &u)) == 1 && u.kind == XU_SPACE)
		off += u.len;
	if (off == n)
		return 1;	/* whitespace: a keepalive, nothing for the session */
	if (r == 1 && u.kind == XU_ELEMENT) {
		struct xml_unit t;
		size_t end = off + u.len;

		if (end == n || (xml_unit_next(p + end, n - end, false, &t) == 1 &&
		    t.kind == XU_SPACE && end + t.len == n))
			goto one;
	}
	c2s_stream_error(w->c, "not-well-formed", "one complete element per WebSocket "
	    "message (RFC 7395 §3.3.3)");
	return 2;
one:
	if (u.namelen == 4 && memcmp(p + off + u.name, "open", 4) == 0)
		return msg_open(w, p + off, u.len);
	if (u.namelen == 5 && memcmp(p + off + u.name, "close", 5) == 0) {
		struct xml_node *x = fragment_parse(p + off, u.len, "");
		bool ok = x && xml_is(x, "close", NS_FRAMING);

		xml_free(x);
		if (ok) {
			c2s_stream_error(w->c, NULL, NULL);	/* answered by <close/> */
			return 2;
		}
	}
	if (w->c->state == C2S_STREAM) {
		c2s_stream_error(w->c, "invalid-xml", "an <open/> comes first (RFC 7395 §3.4)");
		return 2;
	}
	if (buf_append(&w->xml, p + off, u.len) == -1)
		return fail(w, WS_CLOSE_TOO_BIG, "out of memory");
	return 1;
}

/*
 * The next frame of w->in: 1 one was taken (a control frame answered, a
 * fragment kept, a message turned into w->xml), 0 more bytes needed, -1
 * the connection ends, 2 the session ended the stream.
 */
static int
next_frame(struct ws *w)
{
	struct ws_frame f;
	uint16_t code;
	uint8_t *pl;
	int r;

	r = ws_frame_parse((const uint8_t *)buf_data(&w->in), buf_pending(&w->in),
	    max_message(w->c), &f, &code);
	if (r == 0)
		return 0;
	if (r == -1)
		return fail(w, code, code == WS_CLOSE_TOO_BIG ? "frame over the stanza limit" :
		    !f.masked ? "unmasked client frame" : "bad frame header");
	if (buf_pending(&w->in) - f.hdrlen < f.len)
		return 0;
	pl = (uint8_t *)w->in.p + w->in.off + f.hdrlen;
	ws_unmask(pl, (size_t)f.len, f.mask, 0);
	r = 1;
	switch (f.opcode) {
	case WS_PING:
		/* a peer that pings without reading gets no unbounded pongs */
		if (buf_pending(&w->out) > srv.cfg->max_out_buffer)
			return fail(w, WS_CLOSE_POLICY, "pings while not reading");
		if (!w->close_sent)
			frame3(w, WS_PONG, pl, (size_t)f.len, NULL, 0, NULL, 0);
		c2s_wake(w->c);
		break;
	case WS_PONG:
		break;
	case WS_CLOSE:
		if (f.len == 1)
			return fail(w, WS_CLOSE_PROTOCOL, "close frame of one byte");
		if (f.len >= 2) {
			code = (uint16_t)(pl[0] << 8 | pl[1]);
			if (!ws_close_code_valid(code))
				return fail(w, WS_CLOSE_PROTOCOL, "invalid close code");
			if (!ws_utf8_valid(pl + 2, (size_t)f.len - 2))
				return fail(w, WS_CLOSE_BAD_DATA, "close reason not UTF-8");
		} else {
			code = WS_CLOSE_NORMAL;
		}
		log_debug("c2s %llu: websocket closed by the peer (%u)",
		    (unsigned long long)w->c->id, code);
		send_close(w, code);	/* §5.5.1: echo it */
		(void)sock_write(w);
		w->eof = true;
		break;
	case WS_BINARY:
		return fail(w, w->in_msg ? WS_CLOSE_PROTOCOL : WS_CLOSE_UNSUPPORTED,
		    "binary frame (RFC 7395 §3.2: text only)");
	case WS_TEXT:
	case WS_CONT:
		if ((f.opcode == WS_TEXT) == w->in_msg)
			return fail(w, WS_CLOSE_PROTOCOL, w->in_msg ?
			    "new message inside a fragmented one" : "continuation of nothing");
		if (buf_pending(&w->msg) + f.len > max_message(w->c))
			return fail(w, WS_CLOSE_TOO_BIG, "message over the stanza limit");
		if (!f.fin || w->in_msg) {
			if (buf_append(&w->msg, pl, (size_t)f.len) == -1)
				return fail(w, WS_CLOSE_TOO_BIG, "out of memory");
		}
		w->in_msg = !f.fin;
		if (f.fin) {
			if (buf_pending(&w->msg) > 0) {
				r = message(w, buf_data(&w->msg), buf_pending(&w->msg));
				buf_free(&w->msg);
			} else {
				r = message(w, (const char *)pl, (size_t)f.len);
			}
		}
		break;
	}
	if (!w->eof || r != -1)
		buf_consume(&w->in, f.hdrlen + (size_t)f.len);
	if (buf_pending(&w->in) == 0)
		buf_free(&w->in);
	return r;
}

static ssize_t
ws_read(struct c2s *c, void *dst, size_t len)
{
	struct ws *w = c->tr_ctx;
	char tmp[READ_CHUNK];
	ssize_t n;
	int r;

	for (;;) {
		if (buf_pending(&w->xml) > 0) {
			n = (ssize_t)(buf_pending(&w->xml) < len ? buf_pending(&w->xml) : len);
			memcpy(dst, buf_data(&w->xml), (size_t)n);
			buf_consume(&w->xml, (size_t)n);
			if (buf_pending(&w->xml) == 0)
				buf_free(&w->xml);
			return n;
		}
		if (w->eof)
			return 0;
		if ((r = next_frame(w)) == -1)
			return TR_ERROR;
		if (r == 2)
			return TR_AGAIN;
		if (r == 1)
			continue;
		n = read(w->fd, tmp, sizeof(tmp));
		if (n == 0)
			return 0;
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) ? TR_AGAIN : TR_ERROR;
		w->last_in = ev_now(srv.loop);
		w->ping_out = false;
		if (buf_append(&w->in, tmp, (size_t)n) == -1)
			return TR_ERROR;
	}
}

static bool
ws_input_pending(const struct c2s *c)
{
	const struct ws *w = c->tr_ctx;
	struct ws_frame f;
	uint16_t code;

	if (buf_pending(&w->xml) > 0 || w->eof)
		return true;
	/* a complete frame, or one that is refused: either is work */
	switch (ws_frame_parse((const uint8_t *)buf_data(&w->in), buf_pending(&w->in),
	    max_message(c), &f, &code)) {
	case 0:
		return false;
	case -1:
		return true;
	default:
		return buf_pending(&w->in) - f.hdrlen >= f.len;
	}
}

static void
ws_close(struct c2s *c)
{
	struct ws *w = c->tr_ctx;

	ev_timer_stop(srv.loop, &w->ping);
	LIST_REMOVE(w, all);
	nws--;
	(void)sock_write(w);
	buf_free(&w->in);
	buf_free(&w->msg);
	buf_free(&w->xml);
	buf_free(&w->pend);
	buf_free(&w->out);
	w->own.release(w->own.h);
	free(w);
}

static const struct c2s_transport ws_transport = {
	.name = "websocket",
	.read = ws_read,
	.write = ws_write,
	.input_pending = ws_input_pending,
	.output_pending = ws_output_pending,
	.flush = ws_flush,
	.close = ws_close,
};

/* ---- idle: ping, then drop ---- */

static void
ping_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct ws *w = t->data;
	const struct web_config *cf = web_cfg();
	uint64_t quiet = ev_now(loop) - w->last_in, wait;
	struct c2s *c = w->c;

	if (w->ping_out && quiet >= cf->ping_after_ms + cf->ping_timeout_ms) {
		log_info("c2s %llu: %s: websocket: no answer to a ping, dropped",
		    (unsigned long long)c->id, c->peer);
		c2s_ref(c);
		c2s_abort(c);
		c2s_unref(c);
		return;
	}
	if (!w->ping_out && quiet >= cf->ping_after_ms) {
		if (!w->close_sent)
			frame3(w, WS_PING, NULL, 0, NULL, 0, NULL, 0);
		w->ping_out = true;
		c2s_wake(c);
	}
	wait = w->ping_out ? cf->ping_after_ms + cf->ping_timeout_ms : cf->ping_after_ms;
	ev_timer_start(loop, t, wait > quiet ? wait - quiet : 1);
}

int
wsxmpp_start(int fd, const struct ws_owner *own, const char *extra, size_t extralen,
    const struct sockaddr_storage *client, const char *ip, const char *peer,
    bool secure)
{
	struct ws *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -1;
	w->fd = fd;
	w->own = *own;
	w->last_in = ev_now(srv.loop);
	buf_init(&w->in);
	buf_init(&w->msg);
	buf_init(&w->xml);
	buf_init(&w->pend);
	buf_init(&w->out);
	if (extralen && buf_append(&w->in, extra, extralen) == -1) {
		free(w);
		return -1;
	}
	w->c = c2s_accept_transport(fd, client, sizeof(*client), ip, peer,
	    &ws_transport, w, secure);
	if (w->c == NULL) {
		buf_free(&w->in);
		free(w);
		return -1;
	}
	LIST_INSERT_HEAD(&all_ws, w, all);
	nws++;
	ev_timer_init(&w->ping, ping_cb, w);
	ev_timer_start(srv.loop, &w->ping, web_cfg()->ping_after_ms);
	return 0;
}

void
wsxmpp_abort_all(void)
{
	struct ws *w;

	while ((w = LIST_FIRST(&all_ws)) != NULL) {
		struct c2s *c = w->c;

		c2s_ref(c);
		c2s_abort(c);
		c2s_unref(c);
	}
}
