/*
 * s2sconn — server-to-server streams, both directions (RFC 6120 §4,
 * §5, XEP-0220).  See s2s.h.
 *
 * Outgoing: resolve (resolve.c), connect (s2sdial.c: addresses raced), open
 * a jabber:server stream, STARTTLS (required: a peer that does not
 * offer it is not talked to), restart, then authenticate with Server
 * Dialback: <db:result/> with our key, the peer checks it with us on a
 * stream of its own.  The same stream carries the <db:verify/> requests
 * of our incoming streams to that peer (XEP-0220 §2.1.2: to the
 * Authoritative Server).
 *
 * Incoming: header, <starttls required/>, TLS, restart, the dialback
 * feature; each <db:result/> is checked with the sender's
 * authoritative server over our outgoing link to it, and answered
 * valid or invalid; every domain pair answered valid may send stanzas
 * (piggybacking, XEP-0220 §4.4).  A stanza's 'from' must be one of
 * them (<invalid-from/>), its 'to' one of ours (<host-unknown/>).
 *
 * The transport under the stream (socket, TLS, the output buffer and
 * its flush, the shaper, feeding the parser) is the core's conn.c, the
 * one c2s streams use: this file is what makes the stream a server's.
 */
#include "s2s.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "crypto.h"
#include "dialback.h"
#include "jid.h"
#include "log.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "tls.h"
#include "xml.h"

#define READ_ROUNDS 8
#define RATE_CHUNK 1024
#define CLOSE_LINGER_MS 2000

static LIST_HEAD(, s2s_conn) conns = LIST_HEAD_INITIALIZER(conns);
static size_t nconns;

static void finish(struct s2s_conn *c);
static void bidi_detach(struct s2s_conn *c);
static bool add_pair(struct s2s_conn *c, const char *remote, const char *local,
    const char *how);
static void in_sasl_auth(struct s2s_conn *c, struct xml_node *n);

size_t
s2s_conn_count(void)
{
	return nconns;
}

struct s2s_conn *
s2s_conn_first(void)
{
	return LIST_FIRST(&conns);
}

struct s2s_conn *
s2s_conn_next(struct s2s_conn *c)
{
	return LIST_NEXT(c, entry);
}

unsigned
s2s_conn_per_ip(const char *ip)
{
	unsigned n = 0;
	struct s2s_conn *c;

	LIST_FOREACH(c, &conns, entry)
		if (!c->out && !c->dead && strcmp(c->ip, ip) == 0)
			n++;
	return n;
}

/* ---- lifetime ---- */

static void
hold(struct s2s_conn *c)
{
	c->refs++;
}

static void
release(struct s2s_conn *c)
{
	if (--c->refs > 0)
		return;
	conn_free(&c->conn);
	free(c->targets);
	free(c->authed);
	free(c);
}

static const char *
dir(const struct s2s_conn *c)
{
	return c->out ? "out" : "in";
}

static void
finish(struct s2s_conn *c)
{
	struct s2s_link *l = c->link;

	if (c->dead)
		return;
	c->dead = true;
	log_info("s2s %llu %s: %s closed%s%s", (unsigned long long)c->id, dir(c),
	    c->peer[0] ? c->peer : (l ? l->remote : "?"),
	    c->fail_why[0] ? ": " : "", c->fail_why);
	if (c->rq) {
		resolve_cancel(c->rq);
		c->rq = NULL;
	}
	s2s_dial_stop(c);
	conn_stop(&c->conn, true);
	ev_timer_stop(srv.loop, &c->timer);
	bidi_detach(c);
	LIST_REMOVE(c, entry);
	nconns--;
	if (l) {
		c->link = NULL;
		if (l->conn == c)
			l->conn = NULL;
		s2s_link_lost(l, c->fail_why[0] ? c->fail_why : "connection closed",
		    false);
	}
	release(c);
}

/* Stops taking input, writes what is queued, then finishes. */
static void
linger(struct s2s_conn *c)
{
	c->state = S2S_CLOSING;
	ev_timer_start(srv.loop, &c->timer, CLOSE_LINGER_MS);
	conn_closing(&c->conn);
}

#define DB_DECL " xmlns:db='" NS_DIALBACK "'"

static void
send_header(struct s2s_conn *c)
{
	char id[33];

	if (c->out) {
		/* RFC 6120 §4.7.1: 'from' our domain, 'to' theirs */
		conn_stream_header(&c->conn.out, NS_SERVER, DB_DECL, NULL, c->link->local,
		    c->link->remote);
		return;
	}
	random_hex(id, 16);
	snprintf(c->stream_id, sizeof(c->stream_id), "%s", id);
	conn_stream_header(&c->conn.out, NS_SERVER, DB_DECL, id, c->to[0] ? c->to : NULL,
	    NULL);
}

void
s2s_conn_stream_error(struct s2s_conn *c, const char *cond, const char *text)
{
	if (c->dead || c->state == S2S_CLOSING)
		return;
	if (c->conn.handshake || (c->state != S2S_OPEN && c->state != S2S_STREAM)) {
		if (cond)
			snprintf(c->fail_why, sizeof(c->fail_why), "%s", cond);
		finish(c);
		return;
	}
	if (!c->out && c->stream_id[0] == '\0')
		send_header(c);
	if (cond) {
		log_info("s2s %llu %s: %s: stream error %s%s%s", (unsigned long long)c->id,
		    dir(c), c->peer, cond, text ? ": " : "", text ? text : "");
		snprintf(c->fail_why, sizeof(c->fail_why), "stream error %s", cond);
	}
	conn_stream_error(&c->conn.out, cond, text);
	linger(c);
}

/* ---- output ---- */

/* Authenticated: the idle time-out replaces the auth one, the first
 * look for parking comes a park period on (timer_cb). */
static void
idle_timer(struct s2s_conn *c)
{
	uint64_t idle = s2s_cfg()->idle_timeout_ms, park_after = srv.cfg->park_after_ms;

	ev_timer_start(srv.loop, &c->timer, park_after < idle ? park_after : idle);
}

void
s2s_conn_send(struct s2s_conn *c, const char *s, size_t n)
{
	if (c->dead || c->state == S2S_CLOSING)
		return;
	conn_send(&c->conn, s, n, s2s_cfg()->max_out_buffer);
	c->last_active = ev_now(srv.loop);
}

static void
send_str(struct s2s_conn *c, const char *s)
{
	s2s_conn_send(c, s, strlen(s));
}

/* <db:NAME from= to= [id=] [type=]>key</db:NAME> */
static void
send_db(struct s2s_conn *c, const char *name, const char *from, const char *to,
    const char *id, const char *type, const char *key)
{
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "<db:%s from='", name);
	xml_escape(&b, from, strlen(from), true);
	buf_puts(&b, "' to='");
	xml_escape(&b, to, strlen(to), true);
	buf_puts(&b, "'");
	if (id) {
		buf_puts(&b, " id='");
		xml_escape(&b, id, strlen(id), true);
		buf_puts(&b, "'");
	}
	if (type)
		buf_printf(&b, " type='%s'", type);
	if (key)
		buf_printf(&b, ">%s</db:%s>", key, name);
	else
		buf_puts(&b, "/>");
	s2s_conn_send(c, b.p, b.len);
	buf_free(&b);
}

void
s2s_conn_send_verifies(struct s2s_conn *c)
{
	struct s2s_link *l = c->link;

	if (l == NULL || c->state != S2S_OPEN || !c->features_seen ||
	    c->sasl == SASL_SENT)
		return;
	for (struct s2s_dbv *v = l->verifies; v; v = v->next) {
		if (v->sent)
			continue;
		v->sent = true;
		send_db(c, "verify", l->local, l->remote, v->stream_id, NULL, v->key);
	}
}

/* ---- incoming stream elements ---- */

static struct s2s_pair *
pair_find(const struct s2s_conn *c, const char *remote, const char *local)
{
	for (size_t i = 0; i < c->nauthed; i++)
		if (strcmp(c->authed[i].remote, remote) == 0 &&
		    strcmp(c->authed[i].local, local) == 0)
			return &c->authed[i];
	return NULL;
}

static bool
pair_authed(const struct s2s_conn *c, const char *remote, const char *local)
{
	return pair_find(c, remote, local) != NULL;
}

static bool
is_stanza(const struct xml_node *n)
{
	return strcmp(n->ns, NS_SERVER) == 0 && (strcmp(n->name, "message") == 0 ||
	    strcmp(n->name, "presence") == 0 || strcmp(n->name, "iq") == 0);
}

/*
 * XEP-0288 on an incoming stream: once its peer asked for bidi and a
 * pair authenticated (the dialback result sent, or the stream after
 * SASL open), our link for the reverse pair sends on this stream
 * instead of a connection of its own.
 */
static void
bidi_attach(struct s2s_conn *c)
{
	struct s2s_link *l;

	for (size_t i = 0; c->bidi && !c->out && i < c->nauthed; i++) {
		struct s2s_pair *p = &c->authed[i];

		if (p->linked || (l = s2s_link_get(p->local, p->remote, true)) == NULL ||
		    l->bidi)
			continue;
		p->linked = true;
		s2s_link_bidi(l, c);
	}
}

/* The incoming stream goes: its links send no more on it. */
static void
bidi_detach(struct s2s_conn *c)
{
	struct s2s_link *l;

	for (size_t i = 0; !c->out && i < c->nauthed; i++)
		if (c->authed[i].linked &&
		    (l = s2s_link_get(c->authed[i].local, c->authed[i].remote, false)) != NULL)
			s2s_link_bidi_gone(l, c);
}

/* A bidi outgoing stream authenticated us: the peer may send its link's
 * pair on it. */
static void
bidi_accept(struct s2s_conn *c, const char *how)
{
	if (c->bidi && !add_pair(c, c->link->remote, c->link->local, how))
		c->bidi = false;
}

/*
 * stanza_rate: a token bucket per authenticated domain of the stream.
 * A domain over its rate is not cut off: the stream is not read until
 * its bucket has a token again (TCP pushes back on the sender).
 */
static void
rate_take(struct s2s_conn *c, struct s2s_pair *p)
{
	const struct s2s_config *cfg = s2s_cfg();
	uint64_t now = ev_now(srv.loop);

	if (cfg->stanza_rate == 0)
		return;
	p->tokens += (double)(now - p->last) * cfg->stanza_rate / 1000.0;
	if (p->tokens > cfg->stanza_burst)
		p->tokens = cfg->stanza_burst;
	p->last = now;
	p->tokens -= 1;
	if (p->tokens < 0)
		c->paused_until = now + (uint64_t)(-p->tokens * 1000.0 / cfg->stanza_rate) + 1;
}

/* XEP-0220 §2.1.1: an Originating Server asks us to accept its domain. */
static void
in_db_result(struct s2s_conn *c, struct xml_node *n)
{
	const char *from = xml_attr(n, "from"), *to = xml_attr(n, "to");
	char fdom[JID_PART_MAX + 1], *key = xml_text(n);

	if (from == NULL || to == NULL || jid_domain_prep(from, fdom) == -1 ||
	    key == NULL || key[0] == '\0' || strlen(key) > 128) {
		s2s_conn_stream_error(c, "improper-addressing", "bad <db:result/>");
		goto out;
	}
	if (!router_local_domain(to)) {
		/* §2.4: a domain we do not serve */
		send_db(c, "result", to, from, NULL, "error", NULL);
		goto out;
	}
	if (s2s_config_blocked(s2s_cfg(), fdom) || router_local_domain(fdom)) {
		log_notice("s2s %llu in: %s: dialback from %s refused (blocked)",
		    (unsigned long long)c->id, c->peer, fdom);
		send_db(c, "result", to, from, NULL, "invalid", NULL);
		goto out;
	}
	if (pair_authed(c, fdom, to)) {
		send_db(c, "result", to, from, NULL, "valid", NULL);
		goto out;
	}
	/* verify = "certificate": dialback only backs a valid certificate */
	if (s2s_cfg()->verify == S2S_VERIFY_CERT && !s2stls_cert_valid(c->conn.tls, fdom)) {
		log_notice("s2s %llu in: %s: dialback from %s refused: its certificate "
		    "does not verify", (unsigned long long)c->id, c->peer, fdom);
		send_db(c, "result", to, from, NULL, "invalid", NULL);
		goto out;
	}
	if (c->nauthed >= S2S_MAX_DOMAINS ||
	    s2s_link_verify(to, fdom, c->id, c->stream_id, key) == -1) {
		send_db(c, "result", to, from, NULL, "invalid", NULL);
		goto out;
	}
	log_debug("s2s %llu in: %s: verifying %s -> %s with its authoritative server",
	    (unsigned long long)c->id, c->peer, fdom, to);
out:
	free(key);
	xml_free(n);
}

/* XEP-0220 §2.1.3: we are the Authoritative Server of 'to'. */
static void
in_db_verify(struct s2s_conn *c, struct xml_node *n)
{
	const char *from = xml_attr(n, "from"), *to = xml_attr(n, "to"),
	    *id = xml_attr(n, "id");
	char *key = xml_text(n);
	bool ok;

	if (from == NULL || to == NULL || id == NULL || key == NULL) {
		s2s_conn_stream_error(c, "improper-addressing", "bad <db:verify/>");
		goto out;
	}
	/* the Receiving Server ('from') got the key on a stream from us
	 * ('to') with that id */
	ok = router_local_domain(to) && dialback_check(from, to, id, key);
	send_db(c, "verify", to, from, id, ok ? "valid" : "invalid", NULL);
out:
	free(key);
	xml_free(n);
}

void
s2s_conn_verified(uint64_t in_id, const char *local, const char *remote, bool valid)
{
	struct s2s_conn *c;

	LIST_FOREACH(c, &conns, entry)
		if (c->id == in_id && !c->out)
			break;
	if (c == NULL || c->dead || c->state != S2S_OPEN)
		return;
	if (valid && !pair_authed(c, remote, local)) {
		if (!add_pair(c, remote, local, "dialback"))
			valid = false;
		else
			log_info("s2s %llu in: %s authenticated as %s (dialback, %s)",
			    (unsigned long long)c->id, c->peer, remote,
			    c->conn.tls ? tls_conn_version(c->conn.tls) : "-");
	}
	send_db(c, "result", local, remote, NULL, valid ? "valid" : "invalid", NULL);
	if (valid)
		bidi_attach(c);
}

/* ns "jabber:server" -> "jabber:client" in place: the two have the same
 * length, and the rest of the server knows stanzas in jabber:client. */
static void
to_client_ns(struct xml_node *n)
{
	for (; n; n = n->next) {
		if (n->name == NULL)
			continue;
		if (strcmp(n->ns, NS_SERVER) == 0)
			memcpy(n->ns, NS_CLIENT, sizeof(NS_CLIENT) - 1);
		to_client_ns(n->children);
	}
}

static void
in_stanza(struct s2s_conn *c, struct xml_node *n)
{
	struct jid from, to;
	struct s2s_pair *p;

	if (stanza_jid(n, "from", &from) != 1) {
		s2s_conn_stream_error(c, "improper-addressing", "no valid 'from'");
		xml_free(n);
		return;
	}
	if (stanza_jid(n, "to", &to) != 1) {
		s2s_conn_stream_error(c, "improper-addressing", "no valid 'to'");
		xml_free(n);
		return;
	}
	if (!router_local_domain(to.domain)) {
		s2s_conn_stream_error(c, "host-unknown", NULL);
		xml_free(n);
		return;
	}
	/* RFC 6120 §4.9.3.10: only what this stream authenticated */
	if ((p = pair_find(c, from.domain, to.domain)) == NULL) {
		s2s_conn_stream_error(c, "invalid-from", NULL);
		xml_free(n);
		return;
	}
	c->last_active = ev_now(srv.loop);
	log_debug("s2s %llu in: %s from %s", (unsigned long long)c->id, n->name,
	    from.domain);
	rate_take(c, p);
	to_client_ns(n);
	s2s_deliver(n);
}

static void
in_element(struct s2s_conn *c, struct xml_node *n)
{
	if (xml_is(n, "starttls", NS_TLS)) {
		xml_free(n);
		if (c->secure) {
			s2s_conn_stream_error(c, "policy-violation", "TLS is already on");
			return;
		}
		send_str(c, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
		conn_starttls(&c->conn);
		return;
	}
	if (!c->secure) {
		xml_free(n);
		s2s_conn_stream_error(c, "policy-violation", "STARTTLS is required");
		return;
	}
	if (xml_is(n, "bidi", NS_BIDI)) {
		/* XEP-0288 §2: asked for before authentication, where offered */
		if (s2s_cfg()->bidi && c->nauthed == 0 && c->sasl != SASL_DONE) {
			c->bidi = true;
			log_debug("s2s %llu in: %s: bidirectional", (unsigned long long)c->id,
			    c->peer);
		}
		xml_free(n);
	} else if (xml_is(n, "auth", NS_SASL)) {
		in_sasl_auth(c, n);
	} else if (xml_is(n, "result", NS_DIALBACK)) {
		in_db_result(c, n);
	} else if (xml_is(n, "verify", NS_DIALBACK)) {
		in_db_verify(c, n);
	} else if (is_stanza(n)) {
		in_stanza(c, n);
	} else if (c->nauthed == 0) {
		xml_free(n);
		s2s_conn_stream_error(c, "not-authorized", NULL);
	} else {
		xml_free(n);
		s2s_conn_stream_error(c, "unsupported-stanza-type", NULL);
	}
}

static void
in_features(struct s2s_conn *c)
{
	buf_puts(&c->conn.out, "<stream:features>");
	if (!c->secure) {
		buf_printf(&c->conn.out, "<starttls xmlns='%s'><required/></starttls>", NS_TLS);
	} else if (c->sasl != SASL_DONE) {
		c->peer_cert_ok = c->hdr_from[0] && s2stls_cert_valid(c->conn.tls, c->hdr_from);
		/* XEP-0178 §3: EXTERNAL only when the certificate verifies */
		if (c->peer_cert_ok)
			buf_printf(&c->conn.out, "<mechanisms xmlns='%s'><mechanism>EXTERNAL"
			    "</mechanism></mechanisms>", NS_SASL);
		if (c->peer_cert_ok || s2s_cfg()->verify == S2S_VERIFY_DIALBACK)
			buf_printf(&c->conn.out, "<dialback xmlns='%s'><errors/></dialback>",
			    NS_DIALBACK_FEATURE);
		if (s2s_cfg()->bidi)
			buf_printf(&c->conn.out, "<bidi xmlns='%s'/>", NS_BIDI_FEATURE);
	}
	buf_puts(&c->conn.out, "</stream:features>");
	ev_defer(srv.loop, &c->conn.flush);
	if (c->sasl == SASL_DONE)
		bidi_attach(c);	/* the stream after SASL: ours to send on too */
}

static bool
add_pair(struct s2s_conn *c, const char *remote, const char *local, const char *how)
{
	struct s2s_pair *p;

	if (pair_authed(c, remote, local))
		return true;
	if (c->nauthed >= S2S_MAX_DOMAINS ||
	    (p = realloc(c->authed, (c->nauthed + 1) * sizeof(*p))) == NULL)
		return false;
	c->authed = p;
	snprintf(p[c->nauthed].remote, sizeof(p->remote), "%s", remote);
	snprintf(p[c->nauthed].local, sizeof(p->local), "%s", local);
	p[c->nauthed].how = how;
	p[c->nauthed].linked = false;
	p[c->nauthed].tokens = s2s_cfg()->stanza_burst;
	p[c->nauthed].last = ev_now(srv.loop);
	c->nauthed++;
	/* authenticated now: the idle time-out replaces the auth one */
	idle_timer(c);
	return true;
}

/* XEP-0178 §3 / RFC 6120 §6.4: SASL EXTERNAL with the peer's certificate;
 * the authorization identity, when given, must be its header's 'from'. */
static void
in_sasl_auth(struct s2s_conn *c, struct xml_node *n)
{
	const char *mech = xml_attr(n, "mechanism");
	char *text = xml_text(n), authz[DOMAIN_MAX];
	ssize_t len = 0;

	authz[0] = '\0';
	if (text && text[0] && strcmp(text, "=") != 0) {
		if ((len = base64_decode(text, strlen(text), (uint8_t *)authz,
		    sizeof(authz) - 1)) < 0)
			len = -1;
		else
			authz[len] = '\0';
	}
	if (mech == NULL || strcmp(mech, "EXTERNAL") != 0 || !c->peer_cert_ok ||
	    c->sasl == SASL_DONE || c->to[0] == '\0' || len < 0 ||
	    (authz[0] && strcmp(authz, c->hdr_from) != 0) ||
	    s2s_config_blocked(s2s_cfg(), c->hdr_from) ||
	    !add_pair(c, c->hdr_from, c->to, "sasl-external")) {
		log_info("s2s %llu in: %s: SASL EXTERNAL for %s refused",
		    (unsigned long long)c->id, c->peer, c->hdr_from[0] ? c->hdr_from : "-");
		send_str(c, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
		    "<not-authorized/></failure>");
		goto out;
	}
	log_info("s2s %llu in: %s authenticated as %s (SASL EXTERNAL, %s)",
	    (unsigned long long)c->id, c->peer, c->hdr_from, tls_conn_version(c->conn.tls));
	send_str(c, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
	c->sasl = SASL_DONE;
	c->state = S2S_STREAM;	/* RFC 6120 §6.4.6: a new stream follows */
	c->stream_id[0] = '\0';
	xml_stream_restart(c->conn.xs);
out:
	free(text);
	xml_free(n);
}

/* ---- outgoing stream elements ---- */

static void
out_fail(struct s2s_conn *c, const char *why)
{
	snprintf(c->fail_why, sizeof(c->fail_why), "%s", why);
	s2s_conn_stream_error(c, NULL, NULL);
}

static void
start_client_tls(struct s2s_conn *c, bool direct)
{
	char alabel[DOMAIN_MAX];

	if (resolve_alabel(c->link->remote, alabel, sizeof(alabel)) < 0 ||
	    conn_tls_client(&c->conn, s2stls_client_ctx(direct), alabel) == -1) {
		snprintf(c->fail_why, sizeof(c->fail_why), "TLS set-up failed");
		finish(c);
		return;
	}
	c->state = S2S_STREAM;	/* a new stream once TLS is up */
}

static void
out_dialback(struct s2s_conn *c)
{
	struct s2s_link *l = c->link;
	char key[DIALBACK_KEY_LEN + 1];

	/* XEP-0220 §2.1.1: our key for this stream (the id the peer gave) */
	if (c->stream_id[0] == '\0' ||
	    dialback_key(l->remote, l->local, c->stream_id, key) == -1) {
		out_fail(c, "no stream id for dialback");
		return;
	}
	send_db(c, "result", l->local, l->remote, NULL, NULL, key);
}

static bool
offers_external(const struct xml_node *features)
{
	struct xml_node *m = xml_child(features, "mechanisms", NS_SASL);

	for (struct xml_node *e = m ? xml_first_elem(m) : NULL; e; e = xml_next_elem(e)) {
		char *t = xml_text(e);
		bool yes = t && strcmp(t, "EXTERNAL") == 0;

		free(t);
		if (yes)
			return true;
	}
	return false;
}

static void
out_features(struct s2s_conn *c, struct xml_node *n)
{
	struct s2s_link *l = c->link;
	char b64[base64_encoded_len(DOMAIN_MAX)];

	if (!c->secure) {
		if (xml_child(n, "starttls", NS_TLS) == NULL) {
			out_fail(c, "the peer offers no STARTTLS");
			return;
		}
		send_str(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
		return;
	}
	if (c->sasl == SASL_DONE) {
		/* the stream after SASL (RFC 6120 §6.4.6): authenticated */
		snprintf(l->auth, sizeof(l->auth), "sasl-external");
		idle_timer(c);
		log_info("s2s %llu out: %s -> %s authenticated (SASL EXTERNAL, %s)",
		    (unsigned long long)c->id, l->local, l->remote, tls_conn_version(c->conn.tls));
		bidi_accept(c, "sasl-external");
		s2s_link_ready(l);
		s2s_conn_send_verifies(c);
		return;
	}
	if (c->features_seen)
		return;
	c->features_seen = true;
	if (s2s_cfg()->verify == S2S_VERIFY_CERT && !c->cert_ok) {
		out_fail(c, "the peer's certificate does not verify for its domain");
		return;
	}
	/* XEP-0288 §2: asked for before authenticating, where offered */
	if (s2s_cfg()->bidi && xml_child(n, "bidi", NS_BIDI_FEATURE) != NULL) {
		send_str(c, "<bidi xmlns='" NS_BIDI "'/>");
		c->bidi = true;
	}
	c->peer_dialback = xml_child(n, "dialback", NS_DIALBACK_FEATURE) != NULL;
	/* XEP-0178: offered means our certificate verified for our domain */
	if (offers_external(n)) {
		base64_encode(l->local, strlen(l->local), b64);
		c->sasl = SASL_SENT;
		send_str(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
		    "mechanism='EXTERNAL'>");
		send_str(c, b64);
		send_str(c, "</auth>");
		return;
	}
	out_dialback(c);
	s2s_conn_send_verifies(c);
}

static void
out_sasl(struct s2s_conn *c, struct xml_node *n)
{
	if (c->sasl != SASL_SENT) {
		out_fail(c, "unexpected SASL answer");
		return;
	}
	if (xml_is(n, "success", NS_SASL)) {
		c->sasl = SASL_DONE;
		c->state = S2S_STREAM;
		c->stream_id[0] = '\0';
		xml_stream_restart(c->conn.xs);
		send_header(c);
		return;
	}
	/* XEP-0178 §4: fall back to dialback where the peer offers it */
	c->sasl = SASL_NONE;
	log_info("s2s %llu out: %s: SASL EXTERNAL refused%s", (unsigned long long)c->id,
	    c->peer, c->peer_dialback ? ", trying dialback" : "");
	if (!c->peer_dialback || s2s_cfg()->verify == S2S_VERIFY_CERT) {
		out_fail(c, "SASL EXTERNAL refused");
		return;
	}
	out_dialback(c);
	s2s_conn_send_verifies(c);
}

static void
out_db_result(struct s2s_conn *c, struct xml_node *n)
{
	struct s2s_link *l = c->link;
	const char *type = xml_attr(n, "type");

	if (type && strcmp(type, "valid") == 0) {
		snprintf(l->auth, sizeof(l->auth), "dialback");
		idle_timer(c);
		log_info("s2s %llu out: %s -> %s authenticated (dialback, %s%s)",
		    (unsigned long long)c->id, l->local, l->remote,
		    tls_conn_version(c->conn.tls), c->cert_ok ? ", certificate valid" : "");
		bidi_accept(c, "dialback");
		s2s_link_ready(l);
		return;
	}
	out_fail(c, type && strcmp(type, "error") == 0 ?
	    "dialback refused (error)" : "dialback refused (invalid)");
}

static void
out_db_verify(struct s2s_conn *c, struct xml_node *n)
{
	struct s2s_link *l = c->link;
	const char *id = xml_attr(n, "id"), *type = xml_attr(n, "type");
	struct s2s_dbv **pp, *v;

	if (id == NULL)
		return;
	for (pp = &l->verifies; (v = *pp) != NULL; pp = &v->next) {
		if (v->sent && strcmp(v->stream_id, id) == 0) {
			*pp = v->next;
			s2s_conn_verified(v->in_id, l->local, l->remote,
			    type && strcmp(type, "valid") == 0);
			free(v);
			return;
		}
	}
}

static void
out_element(struct s2s_conn *c, struct xml_node *n)
{
	if (xml_is(n, "features", XML_NS_STREAM)) {
		out_features(c, n);
	} else if (xml_is(n, "proceed", NS_TLS)) {
		xml_stream_restart(c->conn.xs);
		start_client_tls(c, false);
	} else if (xml_is(n, "failure", NS_TLS)) {
		out_fail(c, "STARTTLS failed");
	} else if (xml_is(n, "success", NS_SASL) || xml_is(n, "failure", NS_SASL)) {
		out_sasl(c, n);
	} else if (xml_is(n, "result", NS_DIALBACK)) {
		out_db_result(c, n);
	} else if (xml_is(n, "verify", NS_DIALBACK)) {
		out_db_verify(c, n);
	} else if (xml_is(n, "error", XML_NS_STREAM)) {
		struct xml_node *e = xml_first_elem(n);

		snprintf(c->fail_why, sizeof(c->fail_why), "stream error from peer: %s",
		    e ? e->name : "?");
		s2s_conn_stream_error(c, NULL, NULL);
	} else if (c->bidi && c->nauthed && is_stanza(n)) {
		/* XEP-0288: the peer's stanzas to us on our stream */
		in_stanza(c, n);
		return;
	} else {
		/* stanzas come on the peer's own stream to us, not this one */
		s2s_conn_stream_error(c, "unsupported-stanza-type", NULL);
	}
	xml_free(n);
}

/* ---- the parser's callbacks ---- */

static void
on_open(void *arg, const char *name, const char *ns, const char **attrs)
{
	struct s2s_conn *c = arg;
	const char *to = NULL, *id = NULL, *version = NULL;
	char dom[JID_PART_MAX + 1];

	if (c->state != S2S_STREAM)
		return;
	for (size_t i = 0; attrs[i]; i += 2) {
		if (strcmp(attrs[i], "to") == 0)
			to = attrs[i + 1];
		else if (strcmp(attrs[i], "id") == 0)
			id = attrs[i + 1];
		else if (strcmp(attrs[i], "version") == 0)
			version = attrs[i + 1];
	}
	if (c->out) {
		c->state = S2S_OPEN;
		if (strcmp(name, "stream") != 0 || strcmp(ns, XML_NS_STREAM) != 0) {
			out_fail(c, "not an XMPP stream");
			return;
		}
		snprintf(c->stream_id, sizeof(c->stream_id), "%s", id ? id : "");
		return;
	}
	if (to && jid_domain_prep(to, dom) == 0 && router_local_domain(dom))
		snprintf(c->to, sizeof(c->to), "%s", dom);
	else
		c->to[0] = '\0';
	for (size_t i = 0; attrs[i]; i += 2)
		if (strcmp(attrs[i], "from") == 0 && c->sasl != SASL_DONE &&
		    jid_domain_prep(attrs[i + 1], dom) == 0)
			snprintf(c->hdr_from, sizeof(c->hdr_from), "%s", dom);
	send_header(c);
	c->state = S2S_OPEN;
	if (strcmp(name, "stream") != 0 || strcmp(ns, XML_NS_STREAM) != 0) {
		s2s_conn_stream_error(c, "invalid-namespace", NULL);
		return;
	}
	/* RFC 6120 §4.9.3.6: a 'to' we do not serve; none at all is allowed */
	if (to && c->to[0] == '\0') {
		s2s_conn_stream_error(c, "host-unknown", NULL);
		return;
	}
	if (version == NULL || strtol(version, NULL, 10) < 1) {
		s2s_conn_stream_error(c, "unsupported-version", NULL);
		return;
	}
	in_features(c);
}

static void
on_stanza(void *arg, struct xml_node *n)
{
	struct s2s_conn *c = arg;

	if (c->dead || c->state != S2S_OPEN) {
		xml_free(n);
		return;
	}
	if (c->out)
		out_element(c, n);
	else
		in_element(c, n);
}

static void
on_close(void *arg)
{
	s2s_conn_stream_error(arg, NULL, NULL);
}

static const struct xml_stream_cb stream_cb = { on_open, on_stanza, on_close };

/* ---- the transport (conn.h) ---- */

static void
tr_ref(void *o)
{
	hold(o);
}

static void
tr_unref(void *o)
{
	release(o);
}

static size_t
tr_want(void *o)
{
	struct s2s_conn *c = o;
	uint64_t now = ev_now(srv.loop);

	if (c->dead || c->state == S2S_CLOSING)
		return 0;
	if (c->paused_until > now) {
		conn_pause(&c->conn, c->paused_until - now);	/* stanza_rate */
		return 0;
	}
	/* with a stanza rate, small reads: a pause takes effect within
	 * about a stanza, not after a whole chunk of them */
	return s2s_cfg()->stanza_rate ? RATE_CHUNK : CONN_READ_CHUNK;
}

static bool
tr_got(void *o, size_t n)
{
	struct s2s_conn *c = o;

	(void)n;
	c->last_active = ev_now(srv.loop);
	return true;
}

static uint64_t
tr_rate(void *o)
{
	(void)o;
	return s2s_cfg()->shaper_rate;
}

static void
tr_parse_error(void *o, const char *cond)
{
	s2s_conn_stream_error(o, cond, NULL);
}

static void
tr_done(void *o, const char *why)
{
	struct s2s_conn *c = o;

	if (c->conn.overflow)
		snprintf(c->fail_why, sizeof(c->fail_why), "output over %llu bytes",
		    (unsigned long long)s2s_cfg()->max_out_buffer);
	else if (why && c->fail_why[0] == '\0')
		snprintf(c->fail_why, sizeof(c->fail_why), "%s", why);
	finish(c);
}

static void
tr_secured(void *o)
{
	struct s2s_conn *c = o;

	c->secure = true;
	c->state = S2S_STREAM;
	if (c->out) {
		c->cert_ok = s2stls_cert_valid(c->conn.tls, c->link->remote);
		log_debug("s2s %llu out: %s: TLS %s, certificate %s",
		    (unsigned long long)c->id, c->peer, tls_conn_version(c->conn.tls),
		    c->cert_ok ? "valid" : "not trusted");
		c->stream_id[0] = '\0';
		send_header(c);
		return;
	}
	log_debug("s2s %llu in: %s: TLS %s", (unsigned long long)c->id, c->peer,
	    tls_conn_version(c->conn.tls));
}

/* STARTTLS on an incoming stream: a new stream after the handshake */
static struct tls_server *
tr_tls_server(void *o)
{
	struct s2s_conn *c = o;

	c->stream_id[0] = '\0';
	return s2stls_server();
}

static const struct conn_ops ops = {
	.name = "s2s", .rounds = READ_ROUNDS, .ref = tr_ref, .unref = tr_unref,
	.want = tr_want, .got = tr_got, .rate = tr_rate, .parse_error = tr_parse_error,
	.done = tr_done, .secured = tr_secured, .tls_server = tr_tls_server,
};

/* ---- outgoing connection set-up (the TCP part: s2sdial.c) ---- */

void
s2s_conn_dialed(struct s2s_conn *c, int fd, const struct s2s_target *t)
{
	hold(c);
	addr_format_sa((const struct sockaddr *)&t->ss, t->len, c->peer, sizeof(c->peer));
	c->fail_why[0] = '\0';	/* what other addresses did is past */
	log_debug("s2s %llu out: connected to %s for %s", (unsigned long long)c->id,
	    c->peer, c->link ? c->link->remote : "?");
	conn_set_fd(&c->conn, fd);
	if (t->direct_tls) {
		start_client_tls(c, true);
	} else {
		c->state = S2S_STREAM;
		send_header(c);
		conn_flush(&c->conn);
	}
	release(c);
}

void
s2s_conn_dial_failed(struct s2s_conn *c)
{
	finish(c);
}

static void
resolved(void *arg, const struct s2s_target *t, size_t n, const char *why)
{
	struct s2s_conn *c = arg;

	c->rq = NULL;
	if (n == 0) {
		snprintf(c->fail_why, sizeof(c->fail_why), "%s", why);
		finish(c);
		return;
	}
	if ((c->targets = malloc(n * sizeof(*t))) == NULL) {
		finish(c);
		return;
	}
	memcpy(c->targets, t, n * sizeof(*t));
	c->ntargets = n;
	c->state = S2S_SETUP;
	s2s_dial_start(c);
}

/* ---- events ---- */

/*
 * An authenticated connection quiet for [c2s] release_parser_after lets
 * go of its expat parser (~10 KiB, recreated by the next bytes) and, an
 * incoming one (a TLS server connection), of OpenSSL's state
 * (tls_conn_park, ~14 KB); what they free lies amid the heap, so after
 * TRIM_AFTER parks malloc_trim gives the pages back.  Once per quiet
 * spell: traffic makes it eligible again.
 */
#define TRIM_AFTER 16

static unsigned parked_since_trim;

static void
park(struct s2s_conn *c)
{
	bool tls = c->conn.tls && !tls_conn_parked(c->conn.tls) &&
	    tls_conn_park(c->conn.tls) == 0;
	bool xs = c->conn.xs && xml_stream_park(c->conn.xs);

	c->parked_active = c->last_active;
	if (tls || xs) {
		log_debug("s2s %llu %s: %s quiet: parked (%s%s)", (unsigned long long)c->id,
		    dir(c), c->peer, xs ? "parser" : "", tls ? (xs ? ", TLS" : "TLS") : "");
		if (++parked_since_trim >= TRIM_AFTER) {
			malloc_trim(0);
			parked_since_trim = 0;
		}
	}
}

static void
timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct s2s_conn *c = t->data;
	uint64_t idle = s2s_cfg()->idle_timeout_ms, now = ev_now(loop), quiet, next;
	uint64_t park_after = srv.cfg->park_after_ms;

	hold(c);
	if (c->state == S2S_CLOSING) {
		finish(c);
	} else if ((c->out && c->link && c->link->ready) || (!c->out && c->nauthed)) {
		quiet = now - c->last_active;
		if (quiet >= idle) {
			snprintf(c->fail_why, sizeof(c->fail_why), "idle");
			log_info("s2s %llu %s: %s idle for %llus, closing",
			    (unsigned long long)c->id, dir(c), c->peer,
			    (unsigned long long)(idle / 1000));
			s2s_conn_stream_error(c, NULL, NULL);
		} else {
			if (c->parked_active != c->last_active && quiet >= park_after)
				park(c);
			/* again a park period on: traffic may come meanwhile */
			next = idle - quiet;
			if (park_after < next)
				next = park_after;
			ev_timer_start(loop, t, next);
		}
	} else {
		s2s_conn_stream_error(c, "connection-timeout",
		    "authentication took too long");
	}
	release(c);
}

static struct s2s_conn *
new_conn(bool out, int fd)
{
	struct s2s_conn *c = calloc(1, sizeof(*c));
	struct xml_limits lim = {
		.max_stanza = s2s_cfg()->max_stanza,
		.max_depth = srv.cfg->max_depth,
		.max_attrs = srv.cfg->max_attrs,
	};

	if (c == NULL)
		return NULL;
	if (conn_init(&c->conn, fd, &ops, c, &lim, &stream_cb) == -1) {
		free(c);
		return NULL;
	}
	c->id = ++srv.next_conn_id;
	c->out = out;
	c->refs = 1;
	c->last_active = ev_now(srv.loop);
	ev_timer_init(&c->timer, timer_cb, c);
	LIST_INSERT_HEAD(&conns, c, entry);
	nconns++;
	return c;
}

struct s2s_conn *
s2s_conn_connect(struct s2s_link *l)
{
	const struct s2s_config *cfg = s2s_cfg();
	const struct s2s_route *r = s2s_config_route(cfg, l->remote);
	struct s2s_conn *c;

	if ((c = new_conn(true, -1)) == NULL)
		return NULL;
	c->link = l;
	c->state = S2S_RESOLVING;
	c->rq = resolve_query(l->remote, r ? r->host : NULL, r ? r->port : 0,
	    r && r->direct_tls, cfg->resolve_cache_ms, resolved, c);
	if (c->rq == NULL) {
		c->link = NULL;
		c->dead = true;
		LIST_REMOVE(c, entry);
		nconns--;
		release(c);
		return NULL;
	}
	log_debug("s2s %llu out: %s -> %s: resolving%s", (unsigned long long)c->id,
	    l->local, l->remote, r ? " (static route)" : "");
	return c;
}

int
s2s_conn_accept(int fd, const struct sockaddr_storage *ss, socklen_t sl,
    const char *ip, bool direct_tls)
{
	struct s2s_conn *c;

	if (s2s_conn_per_ip(ip) >= s2s_cfg()->max_conn_per_ip) {
		log_notice("s2s in: %s: over max_connections_per_ip, refused", ip);
		return -1;
	}
	if ((c = new_conn(false, fd)) == NULL)
		return -1;
	addr_format_sa((const struct sockaddr *)ss, sl, c->peer, sizeof(c->peer));
	snprintf(c->ip, sizeof(c->ip), "%s", ip);
	c->state = S2S_STREAM;
	ev_timer_start(srv.loop, &c->timer, s2s_cfg()->auth_timeout_ms);
	log_debug("s2s %llu in: connection from %s%s", (unsigned long long)c->id, c->peer,
	    direct_tls ? " (direct TLS)" : "");
	/* XEP-0368: TLS from the first byte, no STARTTLS */
	if (direct_tls ? conn_tls_server(&c->conn, s2stls_server()) == -1 :
	    ev_io_start(srv.loop, &c->conn.io, EPOLLIN) == -1) {
		snprintf(c->fail_why, sizeof(c->fail_why), "set-up failed");
		finish(c);	/* closes fd */
	}
	return 0;
}

void
s2s_conn_close_all(void)
{
	struct s2s_conn *c, *next;

	for (c = LIST_FIRST(&conns); c; c = next) {
		next = LIST_NEXT(c, entry);
		hold(c);
		if (c->state == S2S_OPEN || c->state == S2S_STREAM)
			s2s_conn_stream_error(c, "system-shutdown", NULL);
		else
			finish(c);
		release(c);
	}
}

/* After the loop: what is left is closed and freed, nothing reported. */
void
s2s_conn_free_all(void)
{
	struct s2s_conn *c;

	while ((c = LIST_FIRST(&conns)) != NULL) {
		c->link = NULL;
		c->fail_why[0] = '\0';
		finish(c);
	}
}

void
s2s_conn_close(struct s2s_conn *c)
{
	snprintf(c->fail_why, sizeof(c->fail_why), "closed by the administrator");
	s2s_conn_stream_error(c, "policy-violation", "closed by the administrator");
}
