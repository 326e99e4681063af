/*
 * c2s — client connections.  See c2s.h.
 *
 * Life of a connection: accept (per-IP limit and ban check) -> direct TLS
 * handshake or plain stream -> stream header -> features -> STARTTLS
 * (5222: required, nothing else is accepted before it) -> SASL (auth.c)
 * -> stream restart -> bind -> session (router.c).  The transport (socket,
 * TLS, output buffer written once per loop batch, shaper, parser feeding)
 * is conn.c's, shared with s2s; this file is the client stream on top.
 * A client that stops reading is cut off when its buffer passes
 * max_output_buffer.
 */
#include "c2s.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accept.h"
#include "auth.h"
#include "crypto.h"
#include "disco.h"
#include "log.h"
#include "registry.h"
#include "router.h"
#include "sasl2.h"
#include "server.h"
#include "tls.h"
#include "xml.h"

#define READ_ROUNDS 4
#define CLOSE_LINGER_MS 2000
#define TRIM_AFTER 64		/* closes, parser releases, TLS parks before a malloc_trim */

static size_t nconns, ndetached;
static LIST_HEAD(, c2s) all_conns = LIST_HEAD_INITIALIZER(all_conns);
/* Connections park_cb has work for: those that read or wrote since it
 * last parked them.  Parked sessions are not on it, so an idle server's
 * timer costs nothing per session (100k of them would be ~10 ms per
 * period of cache misses if it walked them all). */
static LIST_HEAD(, c2s) act_conns = LIST_HEAD_INITIALIZER(act_conns);

static void
act_add(struct c2s *c)
{
	if (c->act.le_prev == NULL)
		LIST_INSERT_HEAD(&act_conns, c, act);
}

static void
act_del(struct c2s *c)
{
	if (c->act.le_prev != NULL) {
		LIST_REMOVE(c, act);
		c->act.le_prev = NULL;
	}
}
static struct ev_timer park_timer;
static unsigned freed_since_trim;

static void c2s_finish(struct c2s *c, const char *why);
static void handle_stanza(struct c2s *c, struct xml_node *n);

size_t
c2s_count(void)
{
	return nconns;
}

struct c2s *
c2s_first(void)
{
	return LIST_FIRST(&all_conns);
}

const char *
c2s_host(const struct c2s *c)
{
	return srv.cfg->hosts[c->host];
}

void
c2s_auth_failed(struct c2s *c)
{
	c->auth_failures++;
	accept_auth_failed(c->ip, c->id);
}

/* ---- lifetime ---- */

void
c2s_ref(struct c2s *c)
{
	c->refs++;
}

void
c2s_unref(struct c2s *c)
{
	struct xml_node *n, *next;

	if (--c->refs > 0)
		return;
	for (n = c->queue; n; n = next) {
		next = n->next;
		xml_free(n);
	}
	conn_free(&c->conn);
	auth_free(c->auth);
	sasl2_free(c->sasl2);
	registry_session_free(c);
	free(c->stream_id);
	free(c->local);
	free(c->full);
	free(c);
}

/* Tears the connection down now (after a final flush attempt); why:
 * what failed, NULL for an orderly end. */
static void
c2s_finish(struct c2s *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = true;
	if (c->conn.overflow)
		log_info("c2s %llu: %s: output buffer over %llu bytes, closing",
		    (unsigned long long)c->id, c->peer,
		    (unsigned long long)srv.cfg->max_out_buffer);
	else if (why && strncmp(why, "TLS", 3) == 0)
		log_info("c2s %llu: %s: %s", (unsigned long long)c->id, c->peer, why);
	else if (why)
		log_debug("c2s %llu: %s", (unsigned long long)c->id, why);
	if (c->state != C2S_CLOSING) {
		/* a module may keep the session, detached (it leaves c) */
		if (c->state == C2S_BOUND && c->user)
			(void)registry_connection_lost(c);
		router_unbind(c);
	}
	c->state = C2S_CLOSING;
	ev_timer_stop(srv.loop, &c->timer);
	LIST_REMOVE(c, all);
	act_del(c);
	conn_stop(&c->conn, c->tr == NULL);
	if (c->tr)
		c->tr->close(c);	/* releases the fd */
	c->tr_ctx = NULL;
	nconns--;
	freed_since_trim++;
	accept_release(c->ip);
	log_debug("c2s %llu: closed", (unsigned long long)c->id);
	c2s_unref(c);
}

/* Stops taking input, flushes what is queued, then finishes. */
static void
c2s_close(struct c2s *c)
{
	if (c->dead || c->state == C2S_CLOSING)
		return;
	router_unbind(c);
	c->state = C2S_CLOSING;
	ev_timer_start(srv.loop, &c->timer, CLOSE_LINGER_MS);
	conn_closing(&c->conn);
}

static void
send_header(struct c2s *c)
{
	char id[33];

	random_hex(id, 16);
	free(c->stream_id);
	c->stream_id = strdup(id);
	conn_stream_header(&c->conn.out, NS_CLIENT, NULL, id, c2s_host(c), NULL);
}

void
c2s_stream_error(struct c2s *c, const char *cond, const char *text)
{
	if (c->detached) {
		c2s_expire(c);	/* a detached session replaced by a new one */
		return;
	}
	if (c->dead || c->state == C2S_CLOSING)
		return;
	if (c->conn.handshake) {
		c2s_finish(c, NULL);
		return;
	}
	if (c->state == C2S_STREAM && c->stream_id == NULL)
		send_header(c);
	if (cond)
		log_info("c2s %llu: %s: stream error %s%s%s", (unsigned long long)c->id,
		    c->peer, cond, text ? ": " : "", text ? text : "");
	conn_stream_error(&c->conn.out, cond, text);
	c2s_close(c);
}

/* ---- output ---- */

void
c2s_send_raw(struct c2s *c, const char *s, size_t n)
{
	if (c->dead || c->detached || c->state == C2S_CLOSING || c->conn.overflow)
		return;
	if (c->inline_out) {
		if (buf_append(c->inline_out, s, n) == -1)
			c->conn.overflow = true;
		return;
	}
	/* a client that does not read is cut off and memory stays bounded */
	conn_send(&c->conn, s, n, srv.cfg->max_out_buffer);
}

void
c2s_send_after_inline(struct c2s *c, const char *s, size_t n)
{
	if (c->inline_after == NULL) {
		c2s_send_raw(c, s, n);
		return;
	}
	if (!c->dead && buf_append(c->inline_after, s, n) == -1)
		c->conn.overflow = true;
}

void
c2s_send_str(struct c2s *c, const char *s)
{
	c2s_send_raw(c, s, strlen(s));
}

/* Stanzas are serialised into one buffer kept between calls (a busy
 * server does this for every delivery). */
static struct buf send_scratch;
static bool send_scratch_busy;

void
c2s_send(struct c2s *c, const struct xml_node *n)
{
	struct buf own, *b = &send_scratch;

	if (c->dead || (c->watch && registry_session_send(c, n)))
		return;
	if (send_scratch_busy) {	/* a send from inside a send */
		buf_init(&own);
		b = &own;
	}
	send_scratch_busy = true;
	if (xml_serialize(b, n, NS_CLIENT) == 0)
		c2s_send_stanza_raw(c, b->p, b->len);
	if (b == &own) {
		buf_free(&own);
	} else {
		buf_recycle(b, 64 * 1024);
		send_scratch_busy = false;
	}
}

void
c2s_send_stanza_raw(struct c2s *c, const char *s, size_t n)
{
	if (c->watch)
		registry_session_sent(c, s, n);
	c2s_send_raw(c, s, n);
}

/* ---- blocking while an asynchronous step runs ---- */

void
c2s_block(struct c2s *c)
{
	c->blocked++;
	c2s_ref(c);
}

void
c2s_unblock(struct c2s *c)
{
	if (--c->blocked == 0 && !c->dead)
		conn_resume(&c->conn);
	c2s_unref(c);
}

/* The conn's resume: the stanzas that waited go first, then it reads
 * again (TLS may hold decrypted bytes). */
static void
tr_resumed(void *o)
{
	struct c2s *c = o;
	struct xml_node *n;

	while (!c->dead && c->blocked == 0 && (n = c->queue) != NULL) {
		c->queue = n->next;
		if (c->queue == NULL)
			c->queue_tail = NULL;
		n->next = NULL;
		handle_stanza(c, n);
	}
}

/* ---- stream callbacks ---- */

static void
send_features(struct c2s *c)
{
	struct buf *b = &c->conn.out;

	buf_puts(b, "<stream:features>");
	if (c->state == C2S_BOUND) {
		/* after a SASL2 success with Bind2 or a resumption: nothing is
		 * left to negotiate (a client must not see bind or sm again) */
	} else if (!c->secure) {
		buf_printf(b, "<starttls xmlns='%s'><required/></starttls>", NS_TLS);
	} else if (!c->authed) {
		auth_features(c, b);
		sasl2_features(c, b);
		registry_stream_features(c, b);
	} else {
		buf_printf(b, "<bind xmlns='%s'/><session xmlns='%s'><optional/></session>",
		    NS_BIND, NS_SESSION);
		registry_stream_features(c, b);
		disco_caps(b, c->host);
	}
	buf_puts(b, "</stream:features>");
	ev_defer(srv.loop, &c->conn.flush);
}

void
c2s_send_features(struct c2s *c)
{
	if (!c->dead && c->state != C2S_CLOSING)
		send_features(c);
}

static void
on_open(void *arg, const char *name, const char *ns, const char **attrs)
{
	struct c2s *c = arg;
	const char *to = NULL, *version = NULL;
	char dom[JID_PART_MAX + 1];
	int host = -1;

	if (c->state != C2S_STREAM)
		return;
	for (size_t i = 0; attrs[i]; i += 2) {
		if (strcmp(attrs[i], "to") == 0)
			to = attrs[i + 1];
		else if (strcmp(attrs[i], "version") == 0)
			version = attrs[i + 1];
	}
	if (to && jid_domain_prep(to, dom) == 0) {
		for (size_t i = 0; i < srv.cfg->nhosts; i++)
			if (strcmp(srv.cfg->hosts[i], dom) == 0)
				host = (int)i;
	}
	if (c->authed && host != c->host)
		host = -1;	/* RFC 6120 §4.3.1: the same domain after a restart */
	if (host >= 0)
		c->host = host;
	send_header(c);
	c->state = C2S_NEGOTIATE;
	if (strcmp(name, "stream") != 0 || strcmp(ns, XML_NS_STREAM) != 0) {
		c2s_stream_error(c, "invalid-namespace", NULL);
		return;
	}
	if (host < 0) {
		c2s_stream_error(c, "host-unknown", NULL);
		return;
	}
	if (version == NULL || strtol(version, NULL, 10) < 1) {
		c2s_stream_error(c, "unsupported-version", NULL);
		return;
	}
	send_features(c);
}

static void
on_close(void *arg)
{
	c2s_stream_error(arg, NULL, NULL);
}

static void
on_stanza(void *arg, struct xml_node *n)
{
	struct c2s *c = arg;

	if (c->dead || c->state == C2S_CLOSING) {
		xml_free(n);
		return;
	}
	if (c->blocked || c->queue) {
		if (c->queue_tail)
			c->queue_tail->next = n;
		else
			c->queue = n;
		c->queue_tail = n;
		return;
	}
	handle_stanza(c, n);
}

static const struct xml_stream_cb stream_cb = { on_open, on_stanza, on_close };

/* ---- negotiation ---- */

static void
handle_starttls(struct c2s *c, struct xml_node *n)
{
	xml_free(n);
	if (c->secure) {
		c2s_stream_error(c, "policy-violation", "TLS is already up");
		return;
	}
	c2s_send_str(c, "<proceed xmlns='" NS_TLS "'/>");
	conn_starttls(&c->conn);
}

static void
bind_reply(struct c2s *c, struct xml_node *iq, const char *cond)
{
	struct xml_node *r = xml_new("iq", NS_CLIENT), *b, *e;
	const char *id = xml_attr(iq, "id");

	xml_set_attr(r, "id", id ? id : "");
	if (cond) {
		xml_set_attr(r, "type", "error");
		e = xml_add(r, "error", NS_CLIENT);
		xml_set_attr(e, "type", strcmp(cond, "resource-constraint") == 0 ?
		    "wait" : strcmp(cond, "not-allowed") == 0 ? "cancel" : "modify");
		xml_add(e, cond, NS_STANZAS);
	} else {
		xml_set_attr(r, "type", "result");
		b = xml_add(r, "bind", NS_BIND);
		xml_add_with_text(b, "jid", NULL, c->full);
	}
	c2s_send(c, r);
	xml_free(r);
}

/*
 * A bound session's TLS leaves OpenSSL (tls_conn_park: ~14 KB down to a
 * few hundred bytes; SASL, which needs channel bindings, is over): at
 * once, so that a login storm holds OpenSSL state only for the logins in
 * flight, or when idle if a record was half read then.  Again when idle:
 * the cipher contexts go.
 */
static void
tls_park(struct c2s *c)
{
	bool was;

	if (c->conn.tls == NULL)
		return;
	was = tls_conn_parked(c->conn.tls);
	if (tls_conn_park(c->conn.tls) == 0 && !was) {
		log_debug("c2s %llu: TLS parked", (unsigned long long)c->id);
		freed_since_trim++;
	}
}

static void
c2s_bound(struct c2s *c)
{
	c->state = C2S_BOUND;
	tls_park(c);
	ev_timer_stop(srv.loop, &c->timer);
	if (srv.cfg->idle_timeout_ms)
		ev_timer_start(srv.loop, &c->timer, srv.cfg->idle_timeout_ms);
}

void
c2s_abort(struct c2s *c)
{
	c2s_finish(c, NULL);
}

/* ---- detached sessions ---- */

size_t
c2s_ndetached(void)
{
	return ndetached;
}

void
c2s_watch(struct c2s *c, const struct module *m, bool on)
{
	if (on)
		c->watch |= m->watch_bit;
	else
		c->watch &= ~m->watch_bit;
}

/* Moves the session (router entry, identity, the modules' state) from
 * one struct c2s to another; from keeps no session. */
static void
move_session(struct c2s *from, struct c2s *to)
{
	struct c2s **pp;
	size_t priv = registry_session_size();

	for (pp = &from->user->sessions; *pp; pp = &(*pp)->next_session) {
		if (*pp == from) {
			*pp = to;
			break;
		}
	}
	to->next_session = from->next_session;
	from->next_session = NULL;
	to->id = from->id;	/* per-session state elsewhere is keyed by it */
	to->user = from->user;
	from->user = NULL;
	free(to->full);
	to->full = from->full;
	to->resource = from->resource;
	from->full = NULL;
	from->resource = NULL;
	if (to->local == NULL) {
		to->local = from->local;
		from->local = NULL;
	}
	to->host = from->host;
	to->priority = from->priority;
	to->available = from->available;
	to->watch = from->watch;
	from->watch = 0;
	registry_session_free(to);	/* a new connection has none yet */
	memcpy(to->priv, from->priv, priv);
	memset(from->priv, 0, priv);
	registry_session_moved(to);
}

struct c2s *
c2s_detach(struct c2s *c)
{
	struct c2s *z;

	if (c->user == NULL || c->detached ||
	    (z = calloc(1, sizeof(*z) + registry_session_size())) == NULL)
		return NULL;
	z->id = c->id;
	z->since = c->since;
	z->conn.fd = -1;
	z->refs = 1;
	z->state = C2S_BOUND;
	z->detached = true;
	z->secure = c->secure;
	z->authed = true;
	z->addr = c->addr;
	memcpy(z->peer, c->peer, sizeof(z->peer));
	memcpy(z->ip, c->ip, sizeof(z->ip));
	buf_init(&z->conn.out);
	move_session(c, z);
	ndetached++;
	return z;
}

void
c2s_attach(struct c2s *z, struct c2s *c)
{
	move_session(z, c);
	z->detached = false;
	ndetached--;
	z->dead = true;
	c2s_unref(z);
	c2s_bound(c);
}

void
c2s_expire(struct c2s *z)
{
	if (!z->detached)
		return;
	z->detached = false;	/* once */
	z->dead = true;		/* what its end re-routes must not write to it */
	ndetached--;
	router_unbind(z);
	c2s_unref(z);
}

static void
handle_bind(struct c2s *c, struct xml_node *iq)
{
	struct xml_node *b = xml_child(iq, "bind", NS_BIND), *rn;
	char res[JID_PART_MAX + 1], *txt = NULL;
	const char *type = xml_attr(iq, "type"), *cond = NULL;

	if (b == NULL || type == NULL || strcmp(type, "set") != 0) {
		c2s_stream_error(c, "not-authorized", "bind a resource first");
		xml_free(iq);
		return;
	}
	res[0] = '\0';
	if ((rn = xml_child(b, "resource", NS_BIND)) != NULL) {
		txt = xml_text(rn);
		if (txt && txt[0] && jid_resource_prep(txt, res) == -1)
			cond = "bad-request";
		free(txt);
	}
	if (cond == NULL && res[0] == '\0')
		random_hex(res, 8);
	if (cond == NULL)
		(void)c2s_bind(c, res, &cond);
	bind_reply(c, iq, cond);
	xml_free(iq);
}

int
c2s_bind(struct c2s *c, const char *resource, const char **cond)
{
	if (router_bind(c, resource, cond) == -1)
		return -1;
	c2s_bound(c);
	log_info("c2s %llu: %s: bound %s", (unsigned long long)c->id, c->peer, c->full);
	return 0;
}

/* A top-level element of a module's namespace (SM, CSI): true when taken. */
static bool
module_element(struct c2s *c, struct xml_node *n, unsigned when)
{
	const struct stream_element *e;

	if (strcmp(n->ns, NS_CLIENT) == 0 || (e = registry_element(n->ns, when)) == NULL)
		return false;
	e->fn(c, n);
	return true;
}

/* An IQ before authentication (in-band registration): true when taken. */
static bool
preauth_iq(struct c2s *c, struct xml_node *n)
{
	struct iq_req r = { .c = c, .iq = n, .host = c->host, .scope = IQ_PREAUTH };
	const struct iq_handler *h;

	if (!xml_is(n, "iq", NS_CLIENT) || (r.q = xml_first_elem(n)) == NULL ||
	    xml_next_elem(r.q) != NULL || (h = registry_iq(r.q, IQ_PREAUTH)) == NULL)
		return false;
	return h->fn(&r);
}

static void
handle_stanza(struct c2s *c, struct xml_node *n)
{
	if (c->state == C2S_BOUND) {
		if (module_element(c, n, ELEM_BOUND))
			return;
		if (strcmp(n->ns, NS_CLIENT) != 0 || !(strcmp(n->name, "message") == 0 ||
		    strcmp(n->name, "presence") == 0 || strcmp(n->name, "iq") == 0)) {
			xml_free(n);
			c2s_stream_error(c, "unsupported-stanza-type", NULL);
			return;
		}
		if (c->watch)
			registry_session_received(c);
		router_from_client(c, n);
		return;
	}
	if (xml_is(n, "starttls", NS_TLS)) {
		handle_starttls(c, n);
		return;
	}
	if (!c->secure) {
		if (xml_is(n, "auth", NS_SASL)) {
			/* RFC 6120 §6.4.5: no SASL before TLS on this server */
			c2s_send_str(c, "<failure xmlns='" NS_SASL "'><encryption-required/>"
			    "</failure>");
			xml_free(n);
			c2s_stream_error(c, "policy-violation", "STARTTLS is required");
			return;
		}
		if (xml_is(n, "authenticate", NS_SASL2)) {
			/* the same for SASL2 (XEP-0388 §2.6.2: RFC 6120's conditions) */
			c2s_send_str(c, "<failure xmlns='" NS_SASL2 "'><encryption-required xmlns='"
			    NS_SASL "'/></failure>");
			xml_free(n);
			c2s_stream_error(c, "policy-violation", "STARTTLS is required");
			return;
		}
		xml_free(n);
		c2s_stream_error(c, "policy-violation", "STARTTLS is required");
		return;
	}
	if (!c->authed) {
		if (strcmp(n->ns, NS_SASL) == 0) {
			auth_handle(c, n);
			return;
		}
		if (strcmp(n->ns, NS_SASL2) == 0) {
			sasl2_handle(c, n);
			return;
		}
		if (preauth_iq(c, n))
			return;
		xml_free(n);
		c2s_stream_error(c, "not-authorized", NULL);
		return;
	}
	if (xml_is(n, "iq", NS_CLIENT)) {
		handle_bind(c, n);
		return;
	}
	if (module_element(c, n, ELEM_AUTHED))
		return;
	xml_free(n);
	c2s_stream_error(c, "not-authorized", "bind a resource first");
}

void
c2s_authenticated(struct c2s *c, const char *local)
{
	free(c->local);
	c->local = strdup(local);
	c->authed = true;
	c->auth_failures = 0;
	c->state = C2S_STREAM;
	free(c->stream_id);
	c->stream_id = NULL;
	xml_stream_set_max_stanza(c->conn.xs, srv.cfg->max_stanza);
	xml_stream_restart(c->conn.xs);
}

void
c2s_authenticated_inline(struct c2s *c, const char *local)
{
	free(c->local);
	c->local = strdup(local);
	c->authed = true;
	c->auth_failures = 0;
	xml_stream_set_max_stanza(c->conn.xs, srv.cfg->max_stanza);
}

/* ---- the transport (conn.h) ---- */

static void
tr_ref(void *o)
{
	c2s_ref(o);
}

static void
tr_unref(void *o)
{
	c2s_unref(o);
}

static size_t
tr_want(void *o)
{
	const struct c2s *c = o;

	return c->dead || c->blocked || c->state == C2S_CLOSING ? 0 : CONN_READ_CHUNK;
}

static bool
tr_got(void *o, size_t n)
{
	struct c2s *c = o;

	c->last_read = ev_now(srv.loop);
	act_add(c);
	if (!c->authed && (c->preauth_bytes += n) > srv.cfg->preauth_max_bytes) {
		log_info("c2s %llu: %s: more than %llu bytes before authentication",
		    (unsigned long long)c->id, c->peer,
		    (unsigned long long)srv.cfg->preauth_max_bytes);
		c2s_stream_error(c, "policy-violation", "too much input before authentication");
		return false;
	}
	return true;
}

/* a parked TLS keeps cipher state until parked again */
static void
tr_wrote(void *o)
{
	act_add(o);
}

static uint64_t
tr_rate(void *o)
{
	(void)o;
	return srv.cfg->shaper_rate;
}

static void
tr_parse_error(void *o, const char *cond)
{
	c2s_stream_error(o, cond, NULL);
}

static void
tr_done(void *o, const char *why)
{
	c2s_finish(o, why);
}

static void
tr_secured(void *o)
{
	struct c2s *c = o;

	c->secure = true;
	c->state = C2S_STREAM;
	log_debug("c2s %llu: TLS %s %s alpn=%s", (unsigned long long)c->id,
	    tls_conn_version(c->conn.tls), tls_conn_cipher(c->conn.tls),
	    tls_conn_alpn(c->conn.tls));
}

static struct tls_server *
tr_tls_server(void *o)
{
	struct c2s *c = o;

	/* after the handshake: a new stream header (RFC 6120 §5.4.3.3) */
	c->state = C2S_STREAM;
	free(c->stream_id);
	c->stream_id = NULL;
	xml_stream_restart(c->conn.xs);
	return srv.tls;
}

/* Another transport (c2s_transport, web/) under the stream. */
static ssize_t
tr_read(void *o, void *buf, size_t len)
{
	struct c2s *c = o;

	return c->tr->read(c, buf, len);
}

static ssize_t
tr_write(void *o, const void *buf, size_t len)
{
	struct c2s *c = o;

	return c->tr->write(c, buf, len);
}

static bool
tr_input_pending(void *o)
{
	const struct c2s *c = o;

	return c->tr->input_pending(c);
}

static size_t
tr_output_pending(void *o)
{
	const struct c2s *c = o;

	return c->tr->output_pending(c);
}

static int
tr_flush(void *o)
{
	struct c2s *c = o;

	return c->tr->flush(c);
}

#define C2S_OPS \
	.name = "c2s", .rounds = READ_ROUNDS, .ref = tr_ref, .unref = tr_unref, \
	.want = tr_want, .got = tr_got, .wrote = tr_wrote, .rate = tr_rate, \
	.parse_error = tr_parse_error, .done = tr_done, .secured = tr_secured, \
	.tls_server = tr_tls_server, .resumed = tr_resumed

/* TCP, with TLS over it */
static const struct conn_ops tcp_ops = { C2S_OPS };
/* a c2s_transport */
static const struct conn_ops transport_ops = { C2S_OPS,
	.read = tr_read, .write = tr_write, .input_pending = tr_input_pending,
	.output_pending = tr_output_pending, .flush = tr_flush };

static void
timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct c2s *c = t->data;

	(void)loop;
	c2s_ref(c);
	if (c->state == C2S_CLOSING)
		c2s_finish(c, NULL);
	else if (c->state == C2S_BOUND)
		c2s_stream_error(c, "connection-timeout", NULL);
	else
		c2s_stream_error(c, "connection-timeout", "authentication took too long");
	c2s_unref(c);
}

/* ---- accepting ---- */

/* A connection's state, on no list yet; NULL when out of memory. */
static struct c2s *
c2s_new(int fd, const struct sockaddr_storage *ss, socklen_t sl, const char *ip,
    const struct conn_ops *ops)
{
	struct xml_limits lim = { srv.cfg->preauth_max_stanza, srv.cfg->max_depth,
	    srv.cfg->max_attrs, XML_MAX_HEADER, XML_MAX_ROOT_DECLS };
	struct c2s *c;

	if ((c = calloc(1, sizeof(*c) + registry_session_size())) == NULL)
		return NULL;
	if (conn_init(&c->conn, fd, ops, c, &lim, &stream_cb) == -1) {
		free(c);
		return NULL;
	}
	c->refs = 1;
	c->id = ++srv.next_conn_id;
	c->since = c->last_read = ev_now(srv.loop);
	c->state = C2S_STREAM;
	memcpy(&c->addr, ss, sl);
	addr_format_sa((const struct sockaddr *)ss, sl, c->peer, sizeof(c->peer));
	snprintf(c->ip, sizeof(c->ip), "%.47s", ip);
	ev_timer_init(&c->timer, timer_cb, c);
	return c;
}

static void
c2s_add(struct c2s *c, const char *via)
{
	nconns++;
	LIST_INSERT_HEAD(&all_conns, c, all);
	act_add(c);
	log_debug("c2s %llu: %s connected on %s", (unsigned long long)c->id, c->peer, via);
	ev_timer_start(srv.loop, &c->timer, srv.cfg->auth_timeout_ms);
}

int
c2s_accept(int fd, const struct sockaddr_storage *ss, socklen_t sl, bool direct_tls,
    const char *ip, const char *via)
{
	struct c2s *c;

	if ((c = c2s_new(fd, ss, sl, ip, &tcp_ops)) == NULL)
		return -1;
	c->direct_tls = direct_tls;
	c2s_add(c, via);
	if (direct_tls) {
		if (conn_tls_server(&c->conn, srv.tls) == -1)
			c2s_finish(c, "TLS set-up failed");	/* closes fd, releases ip */
	} else {
		conn_update(&c->conn);
	}
	return 0;
}

struct c2s *
c2s_accept_transport(int fd, const struct sockaddr_storage *ss, socklen_t sl,
    const char *ip, const char *peer, const struct c2s_transport *tr, void *ctx,
    bool secure)
{
	struct c2s *c;

	if ((c = c2s_new(fd, ss, sl, ip, &transport_ops)) == NULL)
		return NULL;
	if (peer)
		snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->tr = tr;
	c->tr_ctx = ctx;
	c->secure = secure;
	c2s_add(c, tr->name);
	conn_update(&c->conn);
	if (tr->input_pending(c))	/* bytes that came with the upgrade */
		conn_resume(&c->conn);
	return c;
}

void
c2s_wake(struct c2s *c)
{
	if (!c->dead)
		ev_defer(srv.loop, &c->conn.flush);
}

void
c2s_input(struct c2s *c)
{
	if (!c->dead)
		conn_resume(&c->conn);
}

/*
 * Memory of idle sessions: expat keeps ~10 KiB per parser, so the parser
 * of a connection quiet for release_parser_after (checked as often) is
 * released (xml_stream_park) and recreated on its next bytes, and the
 * TLS state of the bound ones is trimmed (tls_park).  What they free lies
 * in the middle of the heap, which
 * glibc does not give back by itself: after TRIM_AFTER sessions parked or
 * closed, malloc_trim returns the free pages (a few ms for a large heap,
 * at most once per period), so RSS follows the sessions down after churn.
 */
static void
park_cb(struct ev_loop *loop, struct ev_timer *t)
{
	uint64_t now = ev_now(loop);
	struct c2s *c, *next;

	for (c = LIST_FIRST(&act_conns); c; c = next) {
		next = LIST_NEXT(c, act);
		if (c->dead || c->blocked || c->queue ||
		    (c->state != C2S_BOUND && c->state != C2S_NEGOTIATE) ||
		    now - c->last_read < srv.cfg->park_after_ms)
			continue;
		if (xml_stream_park(c->conn.xs))
			freed_since_trim++;
		if (c->state == C2S_BOUND) {
			tls_park(c);
			/* nothing left to do until it reads or writes again
			 * (a TLS that cannot park, 1.2, stays on the list) */
			if (xml_stream_parked(c->conn.xs) && (c->tr ||
			    (c->conn.tls && tls_conn_parked(c->conn.tls))))
				act_del(c);
		}
	}
	if (freed_since_trim >= TRIM_AFTER) {
		malloc_trim(0);
		freed_since_trim = 0;
	}
	ev_timer_start(loop, t, srv.cfg->park_after_ms);
}

void
c2s_init(void)
{
	ev_timer_init(&park_timer, park_cb, NULL);
	ev_timer_start(srv.loop, &park_timer, srv.cfg->park_after_ms);
}

/* Graceful stop: every client gets system-shutdown. */
void
c2s_shutdown(void)
{
	struct c2s *c, *next;

	ev_timer_stop(srv.loop, &park_timer);
	for (c = LIST_FIRST(&all_conns); c; c = next) {
		c2s_ref(c);
		c2s_stream_error(c, "system-shutdown", NULL);
		next = LIST_NEXT(c, all);
		c2s_unref(c);
	}
}
