/*
 * s2s — the federation module: its registry table, the links to remote
 * domains and the routing between them and the router.  See s2s.h.
 *
 * Stanzas to a domain that is neither a local host nor one of its
 * subdomains (the services take theirs on EV_ROUTE first) are taken on
 * EV_ROUTE, last: the link of the pair (sender's domain, remote domain)
 * sends them at once when it is authenticated, else queues them
 * (bounded in stanzas and bytes) and sets the connection up.  When
 * that fails, or the set-up deadline (connect_timeout) passes, every
 * queued stanza is bounced to its sender, RFC 6120 §8.3.3:
 * <remote-server-not-found/> for a domain that cannot be reached,
 * <remote-server-timeout/> when it took too long.  A lost link is
 * set up again by the next stanza; an idle one is closed.  A domain
 * whose link could not be set up is not tried again for a while
 * (1 s, doubling up to 5 min; stanzas for it bounce at once meanwhile),
 * so a dead server is not hammered by every stanza for it.
 */
#include "s2s.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "control.h"
#include "crypto.h"
#include "dialback.h"
#include "hmap.h"
#include "log.h"
#include "registry.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "tls.h"
#include "xml.h"

extern struct module s2s_module;

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS (300 * 1000)

struct backoff {
	uint64_t ms;		/* the last wait */
	uint64_t until;		/* no new attempt before (monotonic ms) */
};

static LIST_HEAD(, s2s_link) links = LIST_HEAD_INITIALIZER(links);
static struct hmap backoffs;	/* remote domain -> struct backoff */
static size_t nlinks;
static bool stopping;
static uint64_t bounced;
static uint64_t stanzas_in, stanzas_out;	/* accepted from / written to peers */

static const struct s2s_config defaults;

const struct s2s_config *
s2s_cfg(void)
{
	const struct s2s_config *c = module_cfg(&s2s_module);

	return c ? c : &defaults;
}

/* ---- links ---- */

static void link_timer_cb(struct ev_loop *loop, struct ev_timer *t);

struct s2s_link *
s2s_link_get(const char *local, const char *remote, bool create)
{
	struct s2s_link *l;

	LIST_FOREACH(l, &links, entry)
		if (strcmp(l->local, local) == 0 && strcmp(l->remote, remote) == 0)
			return l;
	if (!create || (l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	snprintf(l->local, sizeof(l->local), "%s", local);
	snprintf(l->remote, sizeof(l->remote), "%s", remote);
	l->qtail = &l->q;
	ev_timer_init(&l->timer, link_timer_cb, l);
	LIST_INSERT_HEAD(&links, l, entry);
	nlinks++;
	return l;
}

static void
link_free(struct s2s_link *l)
{
	ev_timer_stop(srv.loop, &l->timer);
	LIST_REMOVE(l, entry);
	nlinks--;
	free(l);
}

static bool
link_idle(const struct s2s_link *l)
{
	return l->conn == NULL && l->bidi == NULL && l->q == NULL && l->verifies == NULL &&
	    l->bouncing == 0;
}

/* Starts the connection and its deadline; false when it cannot start. */
static bool
link_connect(struct s2s_link *l)
{
	struct backoff *b = hmap_get(&backoffs, l->remote);

	if (l->conn)
		return true;
	if (b && ev_now(srv.loop) < b->until) {
		log_debug("s2s: %s: not retried before %llu ms more", l->remote,
		    (unsigned long long)(b->until - ev_now(srv.loop)));
		return false;
	}
	if (stopping || (l->conn = s2s_conn_connect(l)) == NULL)
		return false;
	l->tried = true;
	l->timed_out = false;
	ev_timer_start(srv.loop, &l->timer, s2s_cfg()->connect_timeout_ms);
	return true;
}

/*
 * Every waiting stanza back to its sender, and every dialback it was to
 * verify answered invalid.  A bounce is routed, and what its sender does
 * about it may come back here: a room removing the occupant whose
 * messages bounced tells that occupant, over this very link.  So the
 * queue is taken off the link first, and the link is not freed while
 * it bounces (bouncing).
 */
static void
link_bounce_all(struct s2s_link *l, const char *type, const char *cond)
{
	struct s2s_qitem *q = l->q, *qn;
	struct s2s_dbv *v = l->verifies, *vn;

	l->q = NULL;
	l->qtail = &l->q;
	l->qn = 0;
	l->qbytes = 0;
	l->verifies = NULL;
	l->bouncing++;
	for (; q; q = qn) {
		qn = q->next;
		stanza_bounce(q->n, type, cond);
		xml_free(q->n);
		free(q);
		bounced++;
	}
	for (; v; v = vn) {
		vn = v->next;
		s2s_conn_verified(v->in_id, l->local, l->remote, false);
		free(v);
	}
	l->bouncing--;
}

static void
backoff_failed(const char *remote)
{
	struct backoff *b = hmap_get(&backoffs, remote);

	if (b == NULL) {
		if ((b = calloc(1, sizeof(*b))) == NULL)
			return;
		if (hmap_put(&backoffs, remote, b) == -1) {
			free(b);
			return;
		}
	}
	b->ms = b->ms ? b->ms * 2 : BACKOFF_FIRST_MS;
	if (b->ms > BACKOFF_MAX_MS)
		b->ms = BACKOFF_MAX_MS;
	b->until = ev_now(srv.loop) + b->ms;
	log_info("s2s: %s: next attempt in %llu s at the earliest", remote,
	    (unsigned long long)(b->ms / 1000));
}

static void
backoffs_free(void)
{
	size_t i;

	for (struct hmap_ent *e = hmap_first(&backoffs, &i); e;
	    e = hmap_next(&backoffs, e, &i))
		free(e->val);
	hmap_free(&backoffs);
}

void
s2s_link_lost(struct s2s_link *l, const char *why, bool timeout)
{
	bool was = l->ready;

	timeout = timeout || l->timed_out;
	l->ready = false;
	ev_timer_stop(srv.loop, &l->timer);
	if (l->tried && !was)
		backoff_failed(l->remote);
	l->tried = false;
	if (l->q || l->verifies)
		log_info("s2s: %s -> %s failed: %s%s", l->local, l->remote, why,
		    l->qn ? "; bouncing what waited" : "");
	else if (was)
		log_info("s2s: %s -> %s closed: %s", l->local, l->remote, why);
	link_bounce_all(l, timeout ? "wait" : "cancel",
	    timeout ? "remote-server-timeout" : "remote-server-not-found");
	if (link_idle(l))
		link_free(l);
}

static void
link_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct s2s_link *l = t->data;
	struct s2s_conn *c = l->conn;

	(void)loop;
	if (c == NULL || l->ready)
		return;
	/* the connection goes on its own (a stream lingers a moment to say
	 * goodbye); the senders are told now */
	l->conn = NULL;
	c->link = NULL;
	snprintf(c->fail_why, sizeof(c->fail_why), "not set up within %llus",
	    (unsigned long long)(s2s_cfg()->connect_timeout_ms / 1000));
	s2s_conn_stream_error(c, "connection-timeout", NULL);
	s2s_link_lost(l, "timed out", true);
}

/* The connection the link's stanzas go on: its own once authenticated,
 * else an incoming bidi stream from the remote domain; NULL: neither. */
static struct s2s_conn *
link_stream(const struct s2s_link *l)
{
	return l->ready && l->conn ? l->conn : l->bidi;
}

static int
link_write(struct s2s_link *l, const struct xml_node *n)
{
	struct buf b;

	buf_init(&b);
	/* written without xmlns: on our jabber:server stream it is in
	 * jabber:server, as RFC 6120 §4.8.3 wants */
	if (xml_serialize(&b, n, NS_CLIENT) == -1) {
		buf_free(&b);
		return -1;
	}
	s2s_conn_send(link_stream(l), b.p, b.len);
	buf_free(&b);
	stanzas_out++;
	return 0;
}

/* What waited goes on the link's stream now. */
static void
link_drain(struct s2s_link *l)
{
	struct s2s_qitem *q;

	while ((q = l->q) != NULL && link_stream(l)) {
		l->q = q->next;
		(void)link_write(l, q->n);
		xml_free(q->n);
		free(q);
	}
	l->qtail = &l->q;
	l->qn = 0;
	l->qbytes = 0;
}

void
s2s_link_bidi(struct s2s_link *l, struct s2s_conn *c)
{
	l->bidi = c;
	log_info("s2s: %s -> %s: on %s's bidirectional stream", l->local, l->remote,
	    l->remote);
	link_drain(l);
}

void
s2s_link_bidi_gone(struct s2s_link *l, struct s2s_conn *c)
{
	if (l->bidi != c)
		return;
	l->bidi = NULL;
	if (link_idle(l))
		link_free(l);
}

void
s2s_link_ready(struct s2s_link *l)
{
	l->ready = true;
	l->tried = false;
	l->since = ev_now(srv.loop);
	free(hmap_del(&backoffs, l->remote));
	ev_timer_stop(srv.loop, &l->timer);
	link_drain(l);
}

int
s2s_link_verify(const char *local, const char *remote, uint64_t in_id,
    const char *stream_id, const char *key)
{
	struct s2s_link *l = s2s_link_get(local, remote, true);
	struct s2s_dbv *v;

	if (l == NULL || (v = calloc(1, sizeof(*v))) == NULL)
		goto fail;
	v->in_id = in_id;
	snprintf(v->stream_id, sizeof(v->stream_id), "%s", stream_id);
	snprintf(v->key, sizeof(v->key), "%s", key);
	v->next = l->verifies;
	l->verifies = v;
	if (l->conn)
		s2s_conn_send_verifies(l->conn);
	else if (!link_connect(l)) {
		l->verifies = v->next;
		free(v);
		goto fail;
	}
	return 0;
fail:
	if (l && link_idle(l))
		link_free(l);
	return -1;
}

/* ---- routing ---- */

static void
link_send(struct s2s_link *l, struct xml_node *n)
{
	const struct s2s_config *cfg = s2s_cfg();
	struct s2s_qitem *q;
	struct buf b;

	if (link_stream(l)) {
		log_debug("s2s: %s -> %s: %s sent", l->local, l->remote, n->name);
		(void)link_write(l, n);
		xml_free(n);
		return;
	}
	buf_init(&b);
	(void)xml_serialize(&b, n, NS_CLIENT);
	if (l->qn >= cfg->queue_max_stanzas || l->qbytes + b.len > cfg->queue_max_bytes ||
	    (q = calloc(1, sizeof(*q))) == NULL) {
		/* RFC 6120 §8.3.3.18: the link is being set up and full */
		log_info("s2s: %s -> %s: queue full (%u stanzas, %zu bytes), bouncing",
		    l->local, l->remote, l->qn, l->qbytes);
		stanza_bounce(n, "wait", "resource-constraint");
		xml_free(n);
		buf_free(&b);
		bounced++;
		return;
	}
	log_debug("s2s: %s -> %s: %s queued (%u waiting)", l->local, l->remote,
	    n->name, l->qn + 1);
	q->n = n;
	q->bytes = b.len;
	buf_free(&b);
	*l->qtail = q;
	l->qtail = &q->next;
	l->qn++;
	l->qbytes += q->bytes;
	if (!link_connect(l))
		s2s_link_lost(l, "no attempt now (backing off after a failure)", false);
}

static enum hook_rc
route_hook(struct hook_args *a)
{
	const struct s2s_config *cfg = s2s_cfg();
	struct jid from;
	struct s2s_link *l;

	if (router_local_domain(a->to->domain))
		return HOOK_NEXT;
	if (!cfg->enabled || stopping) {
		/* presence broadcasts and probes for remote contacts go nowhere
		 * without s2s, quietly; a subscription request and the rest
		 * get the router's remote-server-not-found */
		if (strcmp(a->n->name, "presence") == 0 &&
		    strcmp(stanza_type(a->n), "subscribe") != 0 &&
		    strcmp(stanza_type(a->n), "error") != 0) {
			xml_free(a->n);
			return HOOK_TAKEN;
		}
		return HOOK_NEXT;
	}
	if (stanza_jid(a->n, "from", &from) != 1 || !router_local_domain(from.domain)) {
		xml_free(a->n);	/* only our own entities send out */
		return HOOK_TAKEN;
	}
	if (s2s_config_blocked(cfg, a->to->domain)) {
		stanza_bounce(a->n, "cancel", "remote-server-not-found");
		xml_free(a->n);
		bounced++;
		return HOOK_TAKEN;
	}
	if ((l = s2s_link_get(from.domain, a->to->domain, true)) == NULL) {
		stanza_bounce(a->n, "wait", "resource-constraint");
		xml_free(a->n);
		return HOOK_TAKEN;
	}
	link_send(l, a->n);
	return HOOK_TAKEN;
}

/* XEP-0359 §5: a stanza-id is trusted by who it claims to be by; one
 * from another server claiming to be by one of our accounts, rooms or
 * hosts is a forgery (it would make our archive skip the message as
 * already stamped, and hand the client an id we never gave). */
static void
strip_our_stanza_ids(struct xml_node *n)
{
	struct xml_node *c, *next;
	struct jid by;

	for (c = xml_first_elem(n); c; c = next) {
		next = xml_next_elem(c);
		if (!xml_is(c, "stanza-id", "urn:xmpp:sid:0"))
			continue;
		if (jid_parse(xml_attr(c, "by") ? xml_attr(c, "by") : "", &by) == 0 &&
		    !router_local_domain(by.domain))
			continue;
		xml_detach(c);
		xml_free(c);
	}
}

void
s2s_deliver(struct xml_node *n)
{
	stanzas_in++;
	if (strcmp(n->name, "message") == 0)
		strip_our_stanza_ids(n);
	router_route(n);
}

/* ---- xmppctl s2s ---- */

static int
ctl_s2s(struct ctl_req *req, const char *args)
{
	struct buf *b = ctl_out(req);
	uint64_t now = ev_now(srv.loop);

	while (*args == ' ')
		args++;
	if (strncmp(args, "close ", 6) == 0) {
		const char *dom = args + 6;
		unsigned n = 0;

		for (struct s2s_conn *c = s2s_conn_first(), *next; c; c = next) {
			next = s2s_conn_next(c);
			bool hit = c->out ? c->link && strcmp(c->link->remote, dom) == 0 : false;

			for (size_t i = 0; !c->out && i < c->nauthed; i++)
				if (strcmp(c->authed[i].remote, dom) == 0)
					hit = true;
			if (hit && !c->dead) {
				s2s_conn_close(c);
				n++;
			}
		}
		if (n == 0)
			buf_printf(b, "error: no connection with %s\n", dom);
		else
			buf_printf(b, "closed %u\n", n);
		return 0;
	}
	if (*args) {
		buf_printf(b, "error: usage: s2s [close DOMAIN]\n");
		return 0;
	}
	if (s2s_conn_first() == NULL)
		buf_puts(b, "no s2s connections\n");	/* an answer is never empty */
	for (struct s2s_conn *c = s2s_conn_first(); c; c = s2s_conn_next(c)) {
		const char *tlsv = c->conn.tls && tls_handshake_done(c->conn.tls) ?
		    tls_conn_version(c->conn.tls) : "-";
		unsigned queued = c->out && c->link ? c->link->qn : 0;
		const char *bidi = c->bidi ? "bidi" : "-";

		if (c->dead)
			continue;
		if (c->out)
			buf_printf(b, "%s\tout\t%s\t%s\t%s\t%s\t%u\t%llu\t%s\n",
			    c->link ? c->link->remote : "-", c->link ? c->link->local : "-",
			    c->link && c->link->ready ? c->link->auth : "unauthenticated",
			    tlsv, c->peer[0] ? c->peer : "-", queued,
			    (unsigned long long)((now - c->last_active) / 1000), bidi);
		else if (c->nauthed == 0)
			buf_printf(b, "-\tin\t%s\tunauthenticated\t%s\t%s\t0\t%llu\t%s\n",
			    c->to[0] ? c->to : "-", tlsv, c->peer,
			    (unsigned long long)((now - c->last_active) / 1000), bidi);
		for (size_t i = 0; !c->out && i < c->nauthed; i++)
			buf_printf(b, "%s\tin\t%s\t%s\t%s\t%s\t0\t%llu\t%s\n",
			    c->authed[i].remote, c->authed[i].local, c->authed[i].how,
			    tlsv, c->peer,
			    (unsigned long long)((now - c->last_active) / 1000), bidi);
	}
	return 0;
}

static const struct ctl_command commands[] = {
	{ "s2s", "s2s [close DOMAIN]",
	  "server-to-server connections (remote, direction, local, auth, TLS, "
	  "peer, queued, idle s, bidi), or close those with DOMAIN", ctl_s2s },
	{ NULL, NULL, NULL, NULL },
};

/* ---- lifecycle ---- */

static int
load_secret(void)
{
	const char *file = s2s_cfg()->dialback_secret_file;
	struct conf_err e;
	char *s = NULL, rnd[65];
	int rc;

	if (file == NULL) {
		/* keys only need to outlive the dialback exchanges of this
		 * process: a random secret per start is enough */
		if (random_hex(rnd, 32) == -1)
			return -1;
		rc = dialback_set_secret(rnd, strlen(rnd));
		memset(rnd, 0, sizeof(rnd));
		return rc;
	}
	if (conf_read_secret_file(file, &s, &e) == -1) {
		log_err("s2s: %s", e.msg);
		return -1;
	}
	rc = dialback_set_secret(s, strlen(s));
	conf_secret_free(s);
	return rc;
}

static int
s2s_open(char *err, size_t errlen)
{
	if (!s2s_cfg()->enabled)
		return 0;
	if (load_secret() == -1) {
		snprintf(err, errlen, "s2s: cannot set up the dialback secret");
		return -1;
	}
	if (s2stls_init(err, errlen) == -1)
		return -1;
	if (resolve_init(srv.loop) == -1) {
		snprintf(err, errlen, "s2s: resolver thread: %s", strerror(errno));
		return -1;
	}
	return s2s_listen_open(err, errlen);
}

static void
s2s_reload(void)
{
	char err[256];

	if (!s2s_cfg()->enabled)
		return;
	if (s2stls_init(err, sizeof(err)) == -1)
		log_err("s2s: reload: %s (the old TLS settings stay)", err);
	if (s2s_cfg()->dialback_secret_file && load_secret() == -1)
		log_err("s2s: reload: dialback secret not changed");
}

static void
s2s_shutdown(void)
{
	struct s2s_link *l, *next;

	stopping = true;
	s2s_listen_close();
	s2s_conn_close_all();
	/* what still waits goes back to its senders while they are there */
	for (l = LIST_FIRST(&links); l; l = next) {
		next = LIST_NEXT(l, entry);
		link_bounce_all(l, "cancel", "remote-server-not-found");
	}
}

static void
s2s_cleanup(void)
{
	struct s2s_link *l;

	s2s_conn_free_all();
	resolve_shutdown();
	/* the loop has ended (what waited was bounced at shutdown): no
	 * routing any more, only freeing */
	while ((l = LIST_FIRST(&links)) != NULL) {
		struct s2s_qitem *q;
		struct s2s_dbv *v;

		while ((q = l->q) != NULL) {
			l->q = q->next;
			xml_free(q->n);
			free(q);
		}
		while ((v = l->verifies) != NULL) {
			l->verifies = v->next;
			free(v);
		}
		link_free(l);
	}
	s2stls_free();
	dialback_clear();
	backoffs_free();
}

static void
s2s_stats(struct buf *b)
{
	size_t in = 0, out = 0;

	for (struct s2s_conn *c = s2s_conn_first(); c; c = s2s_conn_next(c))
		if (c->out)
			out++;
		else
			in++;
	buf_printf(b, "s2s_links\t%zu\ns2s_out\t%zu\ns2s_in\t%zu\ns2s_bounced\t%llu\n"
	    "s2s_stanzas_in\t%llu\ns2s_stanzas_out\t%llu\n", nlinks, out, in,
	    (unsigned long long)bounced, (unsigned long long)stanzas_in,
	    (unsigned long long)stanzas_out);
}

static int
config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	if ((*cfg = calloc(1, sizeof(struct s2s_config))) == NULL)
		return -1;
	return s2s_config_load(*cfg, root, e);
}

static void
config_free(void *cfg)
{
	if (cfg)
		s2s_config_free(cfg);
	free(cfg);
}

static const struct hook hooks[] = {
	/* after every service took its own JIDs */
	{ EV_ROUTE, -500, route_hook },
	{ EV_MAX, 0, NULL },
};

struct module s2s_module = {
	.name = "s2s",
	.folder = "s2s",
	.config_load = config_load,
	.config_free = config_free,
	.hooks = hooks,
	.commands = commands,
	.open = s2s_open,
	.reload = s2s_reload,
	.shutdown = s2s_shutdown,
	.cleanup = s2s_cleanup,
	.stats = s2s_stats,
};
