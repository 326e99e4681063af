/*
 * sm — XEP-0198 Stream Management.  See sm.h.
 */
#include "sm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "carbons.h"
#include "crypto.h"
#include "csi.h"
#include "hmap.h"
#include "imconf.h"
#include "log.h"
#include "offline.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

struct sm_item {
	struct sm_item *next;
	size_t len;
	char data[];
};

struct sm {
	char id[33];
	struct c2s *c;		/* the connection or the detached session */
	bool resume;
	uint32_t h_in;		/* stanzas handled from the client */
	uint32_t h_out;		/* stanzas sent to the client */
	uint32_t h_acked;	/* the last h we acknowledged (durable) */
	uint64_t mark;		/* detached: the durability mark then */
	unsigned n;		/* unacked (the last n of h_out) */
	unsigned since_r;	/* sent since our last <r/> */
	struct sm_item *head, *tail;
	struct ev_timer timer;	/* detached: resumption deadline */
};

static struct hmap resumable;	/* id -> struct sm */
static const struct sm_durability *durability;	/* the archive's, or NULL */

/* the session's state once enabled */
#define SM(c) (*(struct sm **)c2s_priv((c), &sm_module))

uint64_t
sm_resume_timeout(void)
{
	return sm_cfg()->resume_timeout_ms;
}

static void
sm_free(struct sm *sm)
{
	struct sm_item *i, *next;

	if (sm->resume)
		hmap_del(&resumable, sm->id);
	ev_timer_stop(srv.loop, &sm->timer);
	for (i = sm->head; i; i = next) {
		next = i->next;
		free(i);
	}
	free(sm);
}

static void
send_failed(struct c2s *c, const char *cond)
{
	char b[160];

	snprintf(b, sizeof(b), "<failed xmlns='" NS_SM "'><%s xmlns='%s'/></failed>",
	    cond, NS_STANZAS);
	c2s_send_str(c, b);
}

static void
send_ack(struct c2s *c, uint32_t h)
{
	char b[64];

	snprintf(b, sizeof(b), "<a xmlns='" NS_SM "' h='%" PRIu32 "'/>", h);
	c2s_send_str(c, b);
}

int
sm_parse_h(const char *s, uint32_t *h)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -1;
	*h = (uint32_t)v;
	return 0;
}

static int
parse_h(const struct xml_node *n, uint32_t *h)
{
	return sm_parse_h(xml_attr(n, "h"), h);
}

int
sm_ack_window(uint32_t h_out, uint32_t n, uint32_t h, uint32_t *drop)
{
	/* the first unacked stanza is number h_out - n; h counts up to it */
	uint32_t k = h - (h_out - n);

	if (k > n)
		return -1;
	*drop = k;
	return 0;
}

/* The client acknowledged h: drops what it has; -1 if h is too high. */
static int
acked(struct sm *sm, uint32_t h)
{
	struct sm_item *i;
	uint32_t k;

	if (sm_ack_window((uint32_t)sm->h_out, sm->n, h, &k) == -1)
		return -1;
	while (k-- > 0) {
		i = sm->head;
		sm->head = i->next;
		if (sm->head == NULL)
			sm->tail = NULL;
		free(i);
		sm->n--;
	}
	return 0;
}

static void
sm_handled(struct c2s *c)
{
	if (SM(c))
		SM(c)->h_in++;
}

static void
sm_sent(struct c2s *c, const char *p, size_t len)
{
	struct sm *sm = SM(c);
	struct sm_item *i;

	if ((i = malloc(sizeof(*i) + len + 1)) == NULL) {
		c->conn.overflow = true;	/* cannot keep it: cut off, resume later */
		return;
	}
	i->next = NULL;
	i->len = len;
	memcpy(i->data, p, len);
	i->data[len] = '\0';
	if (sm->tail)
		sm->tail->next = i;
	else
		sm->head = i;
	sm->tail = i;
	sm->n++;
	sm->h_out++;
	if (c->detached && hooks_any(EV_DETACHED_STANZA)) {
		struct hook_args a = { .c = c, .raw = i->data, .rawlen = len };

		(void)hooks_run(EV_DETACHED_STANZA, &a);
	}
	if (sm->n > sm_cfg()->max_unacked) {
		/* never synchronously: callers may be walking a session list */
		if (c->detached)
			ev_timer_start(srv.loop, &sm->timer, 0);
		else
			c->conn.overflow = true;
		return;
	}
	if (!c->detached && ++sm->since_r >= sm_cfg()->request_every) {
		sm->since_r = 0;
		c2s_send_str(c, "<r xmlns='" NS_SM "'/>");
	}
}

static void
expire_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct sm *sm = t->data;

	(void)loop;
	log_info("c2s %llu: %s: not resumed in time",
	    (unsigned long long)sm->c->id, sm->c->full);
	c2s_expire(sm->c);
}

/* The connection of a bound session is lost: a resumable one lives on,
 * detached (true); otherwise it ends (session_unbound: sm_end). */
static bool
sm_detach(struct c2s *c)
{
	struct sm *sm = SM(c);
	struct hook_args a = { 0 };
	struct c2s *z;

	if (sm == NULL)
		return false;
	csi_flush(c);	/* what CSI held joins the unacked queue */
	if (!sm->resume || (z = c2s_detach(c)) == NULL)
		return false;
	/* every stanza h_in counts made its archive rows by now */
	sm->mark = durability ? durability->mark() : 0;
	ev_timer_start(srv.loop, &sm->timer, sm_cfg()->resume_timeout_ms);
	log_info("c2s %llu: %s: detached, %u unacked, resumable for %llu s",
	    (unsigned long long)z->id, z->full, sm->n,
	    (unsigned long long)(sm_cfg()->resume_timeout_ms / 1000));
	a.c = z;
	(void)hooks_run(EV_SESSION_DETACHED, &a);
	return true;
}

void
sm_set_timeout(struct c2s *c, uint64_t ms)
{
	/* an overflowing session ends at once, whatever push wants */
	if (c->detached && SM(c) && SM(c)->n <= sm_cfg()->max_unacked)
		ev_timer_start(srv.loop, &SM(c)->timer, ms);
}

void
sm_unacked_each(const struct c2s *c, void (*fn)(void *, const char *, size_t),
    void *arg)
{
	for (const struct sm_item *i = SM(c) ? SM(c)->head : NULL; i; i = i->next)
		fn(arg, i->data, i->len);
}

/* ---- the end of a session: unacked stanzas ---- */

struct requeue {
	struct c2s *c;
	bool others;	/* another available resource exists */
};

static void
requeue_stanza(void *arg, struct xml_node *n)
{
	struct requeue *r = arg;
	const char *type = stanza_type(n);
	struct jid to;

	if (strcmp(n->name, "iq") == 0) {
		if (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)
			stanza_bounce(n, "cancel", "service-unavailable");
		xml_free(n);
		return;
	}
	/* only chat/normal messages are worth keeping; carbons are copies
	 * the other resources got themselves */
	if (strcmp(n->name, "message") != 0 || strcmp(type, "error") == 0 ||
	    strcmp(type, "groupchat") == 0 || strcmp(type, "headline") == 0 ||
	    xml_child(n, "sent", NS_CARBONS) || xml_child(n, "received", NS_CARBONS) ||
	    stanza_jid(n, "to", &to) != 1) {
		xml_free(n);
		return;
	}
	if (r->others) {
		/* to this resource only: the others never saw it */
		if (to.resource[0] && xml_set_attr(n, "to", r->c->user->bare) == 0) {
			router_route(n);
			return;
		}
		xml_free(n);
		return;
	}
	offline_store(n, r->c->host, r->c->local);
}

static void
requeue_open(void *arg, const char *name, const char *ns, const char **attrs)
{
	(void)arg;
	(void)name;
	(void)ns;
	(void)attrs;
}

static void
requeue_close(void *arg)
{
	(void)arg;
}

/* The session of c ends: unacked stanzas are re-routed or stored. */
static void
sm_end(struct c2s *c)
{
	static const char hdr[] = "<stream:stream xmlns='jabber:client' "
	    "xmlns:stream='" XML_NS_STREAM "'>";
	static const struct xml_stream_cb cb = {
		requeue_open, requeue_stanza, requeue_close,
	};
	struct xml_limits lim = {
		.max_stanza = srv.cfg->max_stanza + 4096,
		.max_depth = srv.cfg->max_depth + 4,
		.max_attrs = srv.cfg->max_attrs,
	};
	struct sm *sm = SM(c);
	struct requeue r = { .c = c };
	struct xml_stream *xs;
	unsigned n;

	if (sm == NULL)
		return;
	n = sm->n;
	csi_flush(c);
	SM(c) = NULL;
	c2s_watch(c, &sm_module, false);
	if (sm->n && c->user && c->local) {
		for (struct c2s *s = c->user->sessions; s; s = s->next_session)
			if (s != c && s->available && !s->detached)
				r.others = true;
		if ((xs = xml_stream_new(&lim, &cb, &r)) == NULL ||
		    xml_stream_feed(xs, hdr, sizeof(hdr) - 1) < 0) {
			log_warn("c2s %llu: %u unacked stanzas lost (out of memory)",
			    (unsigned long long)c->id, n);
		} else {
			for (struct sm_item *i = sm->head; i; i = i->next)
				if (xml_stream_feed(xs, i->data, i->len) < 0)
					break;
			log_info("c2s %llu: %u unacked stanzas %s", (unsigned long long)c->id,
			    n, r.others ? "re-routed" : "to offline storage");
		}
		xml_stream_free(xs);
	}
	sm_free(sm);
}

static void
sm_shutdown(void)
{
	struct hmap_ent *e;
	struct sm *sm;
	size_t i;

	/* each expiry removes its entry: restart the walk every time */
	for (;;) {
		sm = NULL;
		for (e = hmap_first(&resumable, &i); e; e = hmap_next(&resumable, e, &i)) {
			if (((struct sm *)e->val)->c->detached) {
				sm = e->val;
				break;
			}
		}
		if (sm == NULL)
			break;
		c2s_expire(sm->c);
	}
}

/* ---- nonzas ---- */

static void
enable(struct c2s *c, const struct xml_node *n)
{
	const char *res = xml_attr(n, "resume");
	struct sm *sm;
	char b[200];

	if (c->state != C2S_BOUND || SM(c)) {
		send_failed(c, "unexpected-request");
		return;
	}
	if ((sm = calloc(1, sizeof(*sm))) == NULL) {
		send_failed(c, "resource-constraint");
		return;
	}
	ev_timer_init(&sm->timer, expire_cb, sm);
	sm->c = c;
	sm->resume = res && (strcmp(res, "true") == 0 || strcmp(res, "1") == 0) &&
	    sm_cfg()->resume_timeout_ms > 0;
	if (sm->resume) {
		do
			random_hex(sm->id, 16);
		while (hmap_get(&resumable, sm->id));
		if (hmap_put(&resumable, sm->id, sm) == -1) {
			free(sm);
			send_failed(c, "resource-constraint");
			return;
		}
		snprintf(b, sizeof(b), "<enabled xmlns='" NS_SM "' id='%s' resume='true' "
		    "max='%llu'/>", sm->id,
		    (unsigned long long)(sm_cfg()->resume_timeout_ms / 1000));
	} else {
		snprintf(b, sizeof(b), "<enabled xmlns='" NS_SM "'/>");
	}
	SM(c) = sm;
	c2s_watch(c, &sm_module, true);
	c2s_send_str(c, b);
}

static void
resume(struct c2s *c, const struct xml_node *n, bool durable)
{
	static const char r[] = "<r xmlns='" NS_SM "'/>";
	const char *previd = xml_attr(n, "previd");
	struct sm *sm;
	struct c2s *z;
	uint32_t h;
	char b[200];

	if (c->state == C2S_BOUND || !c->authed || SM(c)) {
		send_failed(c, "unexpected-request");
		return;
	}
	if (parse_h(n, &h) == -1 || previd == NULL) {
		send_failed(c, "bad-request");
		return;
	}
	sm = hmap_get(&resumable, previd);
	if (sm == NULL || sm->c->host != c->host || sm->c->local == NULL ||
	    strcmp(sm->c->local, c->local) != 0) {
		send_failed(c, "item-not-found");
		return;
	}
	/* the old connection is not known to be gone yet: it is now */
	if (!sm->c->detached) {
		c2s_abort(sm->c);
		if ((sm = hmap_get(&resumable, previd)) == NULL || !sm->c->detached) {
			send_failed(c, "item-not-found");
			return;
		}
	}
	z = sm->c;
	if (acked(sm, h) == -1) {
		c2s_stream_error(c, "undefined-condition",
		    "acknowledged more stanzas than were sent");
		return;
	}
	/* not durable yet and no time to wait (inline in SASL2): the h we
	 * last acknowledged; the client sends the rest again */
	if (!durable)
		sm->h_in = sm->h_acked;
	ev_timer_stop(srv.loop, &sm->timer);
	c2s_attach(z, c);	/* sm is c's now (sm_moved) */
	{
		struct hook_args a = { .c = c };

		(void)hooks_run(EV_SESSION_RESUMED, &a);
	}
	snprintf(b, sizeof(b), "<resumed xmlns='" NS_SM "' h='%" PRIu32 "' previd='%s'/>",
	    sm->h_in, sm->id);
	sm->h_acked = sm->h_in;
	c2s_send_str(c, b);
	/* inline in SASL2 (XEP-0198 §4): <resumed/> goes into the
	 * <success/>, the stanzas after it */
	for (struct sm_item *i = sm->head; i; i = i->next)
		c2s_send_after_inline(c, i->data, i->len);
	sm->since_r = 0;
	if (sm->n)
		c2s_send_after_inline(c, r, sizeof(r) - 1);
	log_info("c2s %llu: %s: resumed %s, %u stanzas re-sent",
	    (unsigned long long)c->id, c->peer, c->full, sm->n);
}

/* ---- acknowledgements wait for the archive (sm_set_durability) ---- */

void
sm_set_durability(const struct sm_durability *d)
{
	durability = d;
}

/* Whether what was handled so far is durable; *mark says up to where. */
static bool
durable_now(uint64_t *mark)
{
	*mark = durability ? durability->mark() : 0;
	return durability == NULL || durability->durable(*mark);
}

struct ackwait {
	struct c2s *c;
	uint32_t h;
	struct xml_node *resume;	/* a <resume/> waiting, or NULL */
};


static void
ack_durable(void *arg, bool ok)
{
	struct ackwait *w = arg;
	struct c2s *c = w->c;

	if (w->resume) {
		if (ok && !c->dead)
			resume(c, w->resume, true);
		xml_free(w->resume);
		c2s_unblock(c);		/* input goes on */
	} else {
		if (ok && !c->dead && SM(c)) {
			send_ack(c, w->h);
			SM(c)->h_acked = w->h;
		}
		c2s_unref(c);
	}
	free(w);
}

/* An <r/>: the ack of what was handled until now, once it is durable (an
 * ack the client cannot have yet is no ack: it asks again). */
static void
answer_r(struct c2s *c, struct sm *sm)
{
	struct ackwait *w;
	uint64_t mark;

	if (durable_now(&mark)) {
		send_ack(c, sm->h_in);
		sm->h_acked = sm->h_in;
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return;
	w->c = c;
	w->h = sm->h_in;
	c2s_ref(c);
	if (durability->wait(mark, ack_durable, w) == -1) {
		c2s_unref(c);
		free(w);
	}
}

/*
 * A <resume/> tells the client how many of the old connection's stanzas
 * were handled: only once those are durable (the rows made before the
 * connection was lost, or all so far when it is not known lost yet); the
 * stream's later input waits.  Inline in SASL2 there is no waiting: the
 * h last acknowledged is told instead.  True when n was taken.
 */
static bool
resume_later(struct c2s *c, struct xml_node *n)
{
	const char *previd = xml_attr(n, "previd");
	struct sm *old = previd ? hmap_get(&resumable, previd) : NULL;
	struct ackwait *w;
	uint64_t mark;

	if (durable_now(&mark))
		return false;
	if (old && old->c->detached) {
		if (durability->durable(old->mark))
			return false;
		mark = old->mark;
	}
	if (c->inline_out) {
		resume(c, n, false);
		xml_free(n);
		return true;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return false;
	w->c = c;
	w->resume = n;
	c2s_block(c);
	if (durability->wait(mark, ack_durable, w) == -1) {
		c2s_unblock(c);
		free(w);
		return false;
	}
	return true;
}

static void
sm_element(struct c2s *c, struct xml_node *n)
{
	struct sm *sm = SM(c);
	uint32_t h;

	if (strcmp(n->name, "enable") == 0) {
		enable(c, n);
	} else if (strcmp(n->name, "resume") == 0) {
		if (resume_later(c, n))
			return;
		resume(c, n, true);
	} else if (strcmp(n->name, "r") == 0 && sm) {
		log_debug("c2s %llu: sm: <r/> h=%" PRIu32, (unsigned long long)c->id, sm->h_in);
		answer_r(c, sm);
	} else if (strcmp(n->name, "a") == 0 && sm) {
		if (parse_h(n, &h) == -1)
			c2s_stream_error(c, "invalid-xml", "bad h");
		else if (acked(sm, h) == -1)
			c2s_stream_error(c, "undefined-condition",
			    "acknowledged more stanzas than were sent");
	} else {
		send_failed(c, "unexpected-request");
	}
	xml_free(n);
}

static void
sm_features(struct c2s *c, struct buf *b)
{
	if (c->authed)
		buf_puts(b, "<sm xmlns='" NS_SM "'/>");
}

static void
sm_moved(struct c2s *c)
{
	if (SM(c))
		SM(c)->c = c;
}

/* Only a session that never went through its end still holds state. */
static void
sm_session_free(struct c2s *c)
{
	if (SM(c)) {
		sm_free(SM(c));
		SM(c) = NULL;
	}
}

static const struct stream_element elements[] = {
	/* also inline: <resume/> in SASL2, <enable/> in Bind2 */
	{ NS_SM, ELEM_AUTHED | ELEM_BOUND | ELEM_SASL2 | ELEM_BIND2, sm_element, "sm" },
	{ NULL, 0, NULL, NULL },
};

/* First in modules.c: a session's unacked stanzas are re-routed while
 * it is still in the router, before presence says it is gone. */
struct module sm_module = {
	.name = "sm",
	.folder = "im",
	.config_load = sm_config_load,
	.config_free = im_config_free,
	.elements = elements,
	.stream_features = sm_features,
	.session_size = sizeof(struct sm *),
	.session_sent = sm_sent,
	.session_received = sm_handled,
	.shutdown = sm_shutdown,
	.session_unbound = sm_end,
	.connection_lost = sm_detach,
	.session_moved = sm_moved,
	.session_free = sm_session_free,
};
