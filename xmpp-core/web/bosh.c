/*
 * bosh — XEP-0124/0206 sessions as c2s transports.  See bosh.h.
 *
 * Input: each request's children are serialised again (xml_serialize,
 * jabber:client as the parent's namespace) into `xml`, which the
 * session's parser reads as its stream; session creation and a restart
 * put a stream header there.  Output: the session's text is cut at
 * top-level elements (xmlsplit.c) into `outq`; the stream header only
 * gives the authid, </stream:stream> ends the session.  Whatever is in
 * outq goes into the answer to the oldest held request, once per loop
 * batch (c2s_flush calls write once per batch).
 */
#include "bosh.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <microhttpd.h>

#include "accept.h"
#include "buf.h"
#include "c2s.h"
#include "crypto.h"
#include "fragment.h"
#include "hmap.h"
#include "log.h"
#include "server.h"
#include "xml.h"
#include "xmlsplit.h"

#define NS_STREAM "http://etherx.jabber.org/streams"
#define BOSH_WAIT_MAX 60	/* seconds a request is held at most */
#define BOSH_INACTIVITY 60	/* seconds without a request */
#define BOSH_MAXPAUSE 300
#define BOSH_REQUESTS 2		/* the rid window (hold + 1) */
#define BOSH_HOLD_MAX 1

struct bosh;

struct bosh_req {
	struct MHD_Connection *conn;
	struct bosh *b;		/* NULL once answered or the session is gone */
	uint64_t rid;
	bool early;		/* waits for the requests before it */
	struct xml_node *body;	/* an early request's body */
	struct buf resp;	/* the answer */
	struct ev_timer wait;
	TAILQ_ENTRY(bosh_req) q;
};

TAILQ_HEAD(bosh_reqs, bosh_req);

struct bosh {
	struct c2s *c;
	char sid[33];
	char authid[40];
	uint64_t rid;		/* the last rid taken in */
	uint64_t wait_ms, idle_ms;
	unsigned hold, nheld, nearly;
	struct bosh_reqs held, early;
	struct buf xml, pend, outq;
	bool first;		/* the creation answer is due */
	bool ended;		/* the stream ended: answer terminate */
	bool stream_error;	/* ... with a <stream:error/> */
	bool close_after_input;	/* type='terminate': end the stream once read */
	struct {
		uint64_t rid;
		char *text;
		size_t len;
	} cache[BOSH_REQUESTS];
	struct ev_timer idle;
	LIST_ENTRY(bosh) all;
};

static LIST_HEAD(, bosh) all_bosh = LIST_HEAD_INITIALIZER(all_bosh);
static struct hmap sessions;	/* sid -> struct bosh */
static size_t nbosh;
static void (*kick_mhd)(void);

size_t
bosh_count(void)
{
	return nbosh;
}

void
bosh_init(void (*kick)(void))
{
	kick_mhd = kick;
	hmap_init(&sessions);
}

static void
terminate_body(struct buf *out, const char *cond)
{
	buf_printf(out, "<body xmlns='" NS_HTTPBIND "' type='terminate'%s%s%s/>",
	    cond ? " condition='" : "", cond ? cond : "", cond ? "'" : "");
}

/* ---- answering ---- */

static void
idle_arm(struct bosh *b)
{
	if (b->nheld == 0 && !b->ended)
		ev_timer_start(srv.loop, &b->idle, b->idle_ms);
}

static void
resume(struct bosh_req *q)
{
	ev_timer_stop(srv.loop, &q->wait);
	q->b = NULL;
	MHD_resume_connection(q->conn);
	kick_mhd();
}

/* Answers q (held) with what is queued. */
static void
answer(struct bosh *b, struct bosh_req *q)
{
	struct buf *o = &q->resp;
	size_t slot = q->rid % BOSH_REQUESTS;

	TAILQ_REMOVE(&b->held, q, q);
	b->nheld--;
	if (b->first) {
		buf_printf(o, "<body xmlns='" NS_HTTPBIND "' xmlns:xmpp='" NS_XBOSH "' "
		    "xmlns:stream='" NS_STREAM "' sid='%s' wait='%" PRIu64 "' hold='%u' "
		    "requests='%u' inactivity='%d' maxpause='%d' polling='2' ver='1.6' "
		    "from='%s' authid='%s' secure='true' xmpp:version='1.0' "
		    "xmpp:restartlogic='true'>", b->sid, b->wait_ms / 1000, b->hold,
		    BOSH_REQUESTS, BOSH_INACTIVITY, BOSH_MAXPAUSE, c2s_host(b->c), b->authid);
		b->first = false;
	} else if (b->ended) {
		buf_printf(o, "<body xmlns='" NS_HTTPBIND "' xmlns:stream='" NS_STREAM
		    "' type='terminate'%s>", b->stream_error ?
		    " condition='remote-stream-error'" : "");
	} else {
		buf_puts(o, "<body xmlns='" NS_HTTPBIND "' xmlns:stream='" NS_STREAM "'>");
	}
	buf_append(o, buf_data(&b->outq), buf_pending(&b->outq));
	buf_puts(o, "</body>");
	buf_free(&b->outq);
	/* kept for a retransmission of this rid (XEP-0124 §14.3) */
	free(b->cache[slot].text);
	b->cache[slot].rid = q->rid;
	b->cache[slot].len = buf_pending(o);
	if ((b->cache[slot].text = malloc(buf_pending(o))) != NULL)
		memcpy(b->cache[slot].text, buf_data(o), buf_pending(o));
	resume(q);
	idle_arm(b);
}

static void
answer_oldest(struct bosh *b)
{
	struct bosh_req *q = TAILQ_FIRST(&b->held);

	if (q)
		answer(b, q);
}

static void
wait_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct bosh_req *q = t->data;

	(void)loop;
	if (q->b)
		answer(q->b, q);
}

static void
idle_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct bosh *b = t->data;
	struct c2s *c = b->c;

	(void)loop;
	log_info("c2s %llu: %s: bosh: no request for %llus, dropped",
	    (unsigned long long)c->id, c->peer, (unsigned long long)(b->idle_ms / 1000));
	c2s_ref(c);
	c2s_abort(c);
	c2s_unref(c);
}

/* ---- the transport ---- */

static ssize_t
bosh_read(struct c2s *c, void *dst, size_t len)
{
	struct bosh *b = c->tr_ctx;
	size_t n = buf_pending(&b->xml);

	if (n == 0) {
		if (b->close_after_input) {
			b->close_after_input = false;
			c2s_stream_error(c, NULL, NULL);
		}
		return TR_AGAIN;
	}
	if (n > len)
		n = len;
	memcpy(dst, buf_data(&b->xml), n);
	buf_consume(&b->xml, n);
	if (buf_pending(&b->xml) == 0)
		buf_free(&b->xml);
	return (ssize_t)n;
}

static bool
authid_attr(void *arg, const char *name, size_t nlen, const char *val, size_t vlen)
{
	struct bosh *b = arg;

	if (nlen == 2 && memcmp(name, "id", 2) == 0) {
		snprintf(b->authid, sizeof(b->authid), "%.*s", (int)vlen, val);
		return false;
	}
	return true;
}

static ssize_t
bosh_write(struct c2s *c, const void *data, size_t len)
{
	struct bosh *b = c->tr_ctx;
	struct xml_unit u;
	const char *p, *ins;
	int r;

	if (b->ended)
		return (ssize_t)len;
	if (buf_append(&b->pend, data, len) == -1)
		return TR_ERROR;
	while (!b->ended && buf_pending(&b->pend) > 0) {
		p = buf_data(&b->pend);
		if ((r = xml_unit_next(p, buf_pending(&b->pend), true, &u)) == 0)
			break;
		if (r == -1)
			return TR_ERROR;
		switch (u.kind) {
		case XU_SPACE:
		case XU_PI:
			break;
		case XU_START:
			xml_unit_attrs(p, &u, authid_attr, b);
			break;
		case XU_END:
			b->ended = true;
			break;
		case XU_ELEMENT:
			ins = NULL;
			if (u.namelen > 7 && memcmp(p + u.name, "stream:", 7) == 0) {
				if (u.namelen == 12 && memcmp(p + u.name, "stream:error", 12) == 0)
					b->stream_error = true;
			} else if (!u.has_xmlns) {
				ins = " xmlns='" NS_CLIENT "'";
			}
			buf_append(&b->outq, p, u.name + u.namelen);
			if (ins)
				buf_puts(&b->outq, ins);
			buf_append(&b->outq, p + u.name + u.namelen, u.len - u.name - u.namelen);
			break;
		}
		buf_consume(&b->pend, u.len);
	}
	if (b->ended || buf_pending(&b->pend) == 0)
		buf_free(&b->pend);
	if (buf_pending(&b->outq) > srv.cfg->max_out_buffer)
		return TR_ERROR;
	if ((buf_pending(&b->outq) > 0 || b->ended) && !b->first)
		answer_oldest(b);
	else if (b->first && buf_pending(&b->outq) > 0 && b->authid[0])
		answer_oldest(b);
	return (ssize_t)len;
}

static bool
bosh_input_pending(const struct c2s *c)
{
	const struct bosh *b = c->tr_ctx;

	return buf_pending(&b->xml) > 0;
}

static size_t
bosh_output_pending(const struct c2s *c)
{
	(void)c;
	return 0;	/* queued output waits for a request, not for a socket */
}

static int
bosh_flush(struct c2s *c)
{
	(void)c;
	return 0;
}

static void
drop_req(struct bosh *b, struct bosh_req *q, struct bosh_reqs *list)
{
	TAILQ_REMOVE(list, q, q);
	xml_free(q->body);
	q->body = NULL;
	if (!q->early)
		b->nheld--;
	else
		b->nearly--;
}

static void
bosh_close(struct c2s *c)
{
	struct bosh *b = c->tr_ctx;
	struct bosh_req *q;

	/* what is still held learns the session is over */
	while ((q = TAILQ_FIRST(&b->held)) != NULL) {
		if (b->ended || buf_pending(&b->outq))
			answer(b, q);
		else {
			drop_req(b, q, &b->held);
			terminate_body(&q->resp, NULL);
			resume(q);
		}
	}
	while ((q = TAILQ_FIRST(&b->early)) != NULL) {
		drop_req(b, q, &b->early);
		terminate_body(&q->resp, "item-not-found");
		resume(q);
	}
	ev_timer_stop(srv.loop, &b->idle);
	hmap_del(&sessions, b->sid);
	LIST_REMOVE(b, all);
	nbosh--;
	buf_free(&b->xml);
	buf_free(&b->pend);
	buf_free(&b->outq);
	for (size_t i = 0; i < BOSH_REQUESTS; i++)
		free(b->cache[i].text);
	free(b);
}

static const struct c2s_transport bosh_transport = {
	.name = "bosh",
	.read = bosh_read,
	.write = bosh_write,
	.input_pending = bosh_input_pending,
	.output_pending = bosh_output_pending,
	.flush = bosh_flush,
	.close = bosh_close,
};

/* ---- requests ---- */

static uint64_t
attr_u64(const struct xml_node *n, const char *name, bool *ok)
{
	const char *v = xml_attr(n, name);
	char *end;
	unsigned long long x;

	*ok = false;
	if (v == NULL || *v < '0' || *v > '9')
		return 0;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end || x > (1ULL << 53))	/* §14.1: at most 2^53 */
		return 0;
	*ok = true;
	return x;
}

static size_t
max_size(const struct c2s *c)
{
	return c->authed ? srv.cfg->max_stanza : srv.cfg->preauth_max_stanza;
}

static void
stream_header(struct bosh *b)
{
	buf_printf(&b->xml, "<stream:stream xmlns='" NS_CLIENT "' xmlns:stream='"
	    NS_STREAM "' to='%s' version='1.0'>", c2s_host(b->c));
}

static struct bosh_req *
req_new(struct MHD_Connection *conn, struct bosh *b, uint64_t rid)
{
	struct bosh_req *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	q->conn = conn;
	q->b = b;
	q->rid = rid;
	buf_init(&q->resp);
	ev_timer_init(&q->wait, wait_cb, q);
	return q;
}

/* Holds q (in rid order). */
static void
hold(struct bosh *b, struct bosh_req *q)
{
	TAILQ_INSERT_TAIL(&b->held, q, q);
	b->nheld++;
	ev_timer_start(srv.loop, &q->wait, b->wait_ms);
	ev_timer_stop(srv.loop, &b->idle);
	MHD_suspend_connection(q->conn);
	/* more than hold waiting: the oldest goes back (XEP-0124 §11); what
	 * came while no request was held goes out at once */
	if (!b->first && (b->nheld > b->hold || buf_pending(&b->outq) > 0 || b->ended))
		answer_oldest(b);
}

/* A request in rid order: its payload to the session.  0, or -1 with
 * the terminate condition. */
static int
take(struct bosh *b, struct xml_node *body, const char **cond)
{
	const char *type = xml_attr(body, "type"), *restart;
	bool ok;
	uint64_t pause = attr_u64(body, "pause", &ok);

	if (ok) {
		if (pause < 1 || pause > BOSH_MAXPAUSE) {
			*cond = "policy-violation";
			return -1;
		}
		b->idle_ms = pause * 1000;	/* §12: until the next request */
	} else {
		b->idle_ms = BOSH_INACTIVITY * 1000;
	}
	restart = xml_attr(body, NS_XBOSH " restart");
	if (restart && strcmp(restart, "true") == 0) {
		if (b->c->state != C2S_STREAM) {
			*cond = "bad-request";
			return -1;
		}
		stream_header(b);
	}
	for (struct xml_node *ch = xml_first_elem(body); ch; ch = xml_next_elem(ch))
		if (xml_serialize(&b->xml, ch, NS_CLIENT) == -1) {
			*cond = "internal-server-error";
			return -1;
		}
	if (type && strcmp(type, "terminate") == 0)
		b->close_after_input = true;
	if (buf_pending(&b->xml) > max_size(b->c)) {
		*cond = "policy-violation";
		return -1;
	}
	c2s_input(b->c);
	return 0;
}

/* Early requests whose turn has come. */
static void
take_early(struct bosh *b)
{
	struct bosh_req *q;
	const char *cond;

	for (;;) {
		TAILQ_FOREACH(q, &b->early, q)
			if (q->rid == b->rid + 1)
				break;
		if (q == NULL)
			return;
		TAILQ_REMOVE(&b->early, q, q);
		b->nearly--;
		q->early = false;
		b->rid = q->rid;
		if (take(b, q->body, &cond) == -1) {
			xml_free(q->body);
			q->body = NULL;
			terminate_body(&q->resp, cond);
			resume(q);
			c2s_abort(b->c);
			return;
		}
		xml_free(q->body);
		q->body = NULL;
		TAILQ_INSERT_TAIL(&b->held, q, q);
		b->nheld++;
		ev_timer_start(srv.loop, &q->wait, b->wait_ms);
		ev_timer_stop(srv.loop, &b->idle);
		if (b->nheld > b->hold || buf_pending(&b->outq) > 0)
			answer_oldest(b);
	}
}

static int
create(struct MHD_Connection *conn, struct xml_node *body, uint64_t rid,
    const struct bosh_client *cl, struct bosh_req **held, struct buf *out)
{
	const char *to = xml_attr(body, "to"), *why;
	uint64_t wait, holdv;
	struct bosh *b;
	struct bosh_req *q;
	bool ok, known = false;

	for (size_t i = 0; to && i < srv.cfg->nhosts; i++)
		known |= strcmp(srv.cfg->hosts[i], to) == 0;
	if (!known) {
		terminate_body(out, "host-unknown");
		return 0;
	}
	wait = attr_u64(body, "wait", &ok);
	if (!ok || wait > BOSH_WAIT_MAX)
		wait = BOSH_WAIT_MAX;
	if (wait == 0)
		wait = 1;
	holdv = attr_u64(body, "hold", &ok);
	if (!ok || holdv > BOSH_HOLD_MAX)
		holdv = BOSH_HOLD_MAX;
	if (accept_admit(cl->ip, &why) == -1) {
		log_info("web: bosh session from %s refused (%s)", cl->peer, why);
		terminate_body(out, "policy-violation");
		return 0;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL || (q = req_new(conn, b, rid)) == NULL) {
		free(b);
		accept_release(cl->ip);
		terminate_body(out, "internal-server-error");
		return 0;
	}
	random_hex(b->sid, 16);
	b->rid = rid;
	b->wait_ms = wait * 1000;
	b->idle_ms = BOSH_INACTIVITY * 1000;
	b->hold = (unsigned)holdv;
	b->first = true;
	TAILQ_INIT(&b->held);
	TAILQ_INIT(&b->early);
	buf_init(&b->xml);
	buf_init(&b->pend);
	buf_init(&b->outq);
	ev_timer_init(&b->idle, idle_cb, b);
	if (hmap_put(&sessions, b->sid, b) == -1 ||
	    (b->c = c2s_accept_transport(-1, cl->addr, sizeof(*cl->addr), cl->ip, cl->peer,
	    &bosh_transport, b, cl->secure)) == NULL) {
		hmap_del(&sessions, b->sid);
		free(q);
		free(b);
		accept_release(cl->ip);
		terminate_body(out, "internal-server-error");
		return 0;
	}
	LIST_INSERT_HEAD(&all_bosh, b, all);
	nbosh++;
	stream_header(b);
	c2s_input(b->c);
	hold(b, q);
	*held = q;
	return 1;
}

int
bosh_request(struct MHD_Connection *conn, const char *text, size_t len,
    const struct bosh_client *cl, struct bosh_req **held, struct buf *out,
    unsigned *status)
{
	struct xml_node *body = fragment_parse(text, len, "");
	const char *sid, *cond = NULL;
	struct bosh *b;
	struct bosh_req *q;
	uint64_t rid;
	bool ok;
	int rc = 0;

	*status = 200;
	*held = NULL;
	rid = body ? attr_u64(body, "rid", &ok) : 0;
	if (body == NULL || !xml_is(body, "body", NS_HTTPBIND) || !ok) {
		*status = 400;	/* XEP-0124 §17.1 */
		terminate_body(out, "bad-request");
		goto out;
	}
	if ((sid = xml_attr(body, "sid")) == NULL) {
		if (!cl->secure) {
			*status = 403;
			terminate_body(out, "policy-violation");
			goto out;
		}
		rc = create(conn, body, rid, cl, held, out);
		goto out;
	}
	if ((b = hmap_get(&sessions, sid)) == NULL) {
		terminate_body(out, "item-not-found");
		goto out;
	}
	for (size_t i = 0; i < BOSH_REQUESTS; i++) {
		if (b->cache[i].text && b->cache[i].rid == rid) {
			buf_append(out, b->cache[i].text, b->cache[i].len);
			goto out;
		}
	}
	if (rid <= b->rid || rid > b->rid + BOSH_REQUESTS) {
		/* §14.3: outside the window */
		terminate_body(out, "item-not-found");
		c2s_abort(b->c);
		goto out;
	}
	if ((q = req_new(conn, b, rid)) == NULL) {
		terminate_body(out, "internal-server-error");
		goto out;
	}
	log_debug("c2s %llu: bosh: rid %llu (last %llu, %u held)",
	    (unsigned long long)b->c->id, (unsigned long long)rid,
	    (unsigned long long)b->rid, b->nheld);
	if (rid > b->rid + 1) {
		struct bosh_req *e;

		TAILQ_FOREACH(e, &b->early, q)
			if (e->rid == rid)
				break;
		if (e) {	/* the same early rid twice: one waits, not both */
			free(q);
			terminate_body(out, "item-not-found");
			goto out;
		}
		/* early: it waits for the missing requests */
		q->early = true;
		q->body = body;
		body = NULL;
		TAILQ_INSERT_TAIL(&b->early, q, q);
		b->nearly++;
		MHD_suspend_connection(conn);
		*held = q;
		rc = 1;
		goto out;
	}
	b->rid = rid;
	if (take(b, body, &cond) == -1) {
		free(q);
		terminate_body(out, cond);
		c2s_abort(b->c);
		goto out;
	}
	hold(b, q);
	*held = q;
	rc = 1;
	if (xml_attr(body, "pause")) {
		/* §12: every held request is answered at once */
		while (TAILQ_FIRST(&b->held))
			answer_oldest(b);
	}
	take_early(b);
out:
	xml_free(body);
	return rc;
}

void
bosh_answer(struct bosh_req *q, struct buf *out)
{
	if (buf_pending(&q->resp) == 0)
		terminate_body(out, "internal-server-error");
	else
		buf_append(out, buf_data(&q->resp), buf_pending(&q->resp));
}

void
bosh_req_done(struct bosh_req *q)
{
	struct bosh *b;

	if (q == NULL)
		return;
	if ((b = q->b) != NULL) {
		/* its connection went while it was held */
		ev_timer_stop(srv.loop, &q->wait);
		drop_req(b, q, q->early ? &b->early : &b->held);
		idle_arm(b);
	}
	xml_free(q->body);
	buf_free(&q->resp);
	free(q);
}

void
bosh_abort_all(void)
{
	struct bosh *b;

	if (kick_mhd == NULL)
		return;		/* never started */
	while ((b = LIST_FIRST(&all_bosh)) != NULL) {
		struct c2s *c = b->c;

		c2s_ref(c);
		c2s_abort(c);
		c2s_unref(c);
	}
	hmap_free(&sessions);
}
