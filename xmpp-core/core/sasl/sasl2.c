/*
 * sasl2 — SASL2, Bind2 and FAST on c2s.  See sasl2.h.
 */
#include "sasl2.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "auth.h"
#include "c2s.h"
#include "config.h"
#include "crypto.h"
#include "fast.h"
#include "log.h"
#include "registry.h"
#include "server.h"
#include "token.h"
#include "xml.h"

#define NS_UPGRADE "urn:xmpp:sasl:upgrade:0"

struct sasl2 {
	/* the connection's user agent (XEP-0388 §2.5.1), kept for xmppctl */
	char *agent, *software, *device;
	/* the <authenticate/> in progress */
	struct xml_node *req;
	struct xml_node *bind;			/* its Bind2 request, in req */
	char tag[SASL2_TAG_MAX + 1];
	char request[FAST_MECH_MAX];		/* <request-token mechanism=/> */
	bool fast;				/* <fast/> came with it */
	bool invalidate;			/* <fast invalidate='true'/> */
	bool upgrade;				/* XEP-0480 UPGR-SCRAM-SHA-256 */
	/* between the exchange and <success/> */
	struct auth_outcome o;
	uint8_t extra[128];
	char token[FAST_TOKEN_LEN + 1];		/* issued, for <success/> */
	char expiry[32];
	/* what goes into the <success/> (cap: SASL2-level results, bnd:
	 * <bound/>'s) and after it; late: modules still adding to bnd */
	struct buf cap, bnd, after;
	bool bound;
	unsigned late;
};

bool
sasl2_fast_enabled(void)
{
	return srv.cfg->sasl2_enabled && srv.cfg->fast_enabled;
}

bool
sasl2_upgrade_requested(const struct c2s *c)
{
	return c->sasl2 && c->sasl2->upgrade;
}

const char *
sasl2_agent(const struct c2s *c)
{
	return c->sasl2 ? c->sasl2->agent : NULL;
}

void
sasl2_user_agent(const struct c2s *c, const char **software, const char **device)
{
	*software = c->sasl2 && c->sasl2->software ? c->sasl2->software : "";
	*device = c->sasl2 && c->sasl2->device ? c->sasl2->device : "";
}

static void
request_clear(struct sasl2 *s)
{
	xml_free(s->req);
	s->req = s->bind = NULL;
	s->tag[0] = s->request[0] = '\0';
	s->fast = s->invalidate = s->upgrade = false;
	OPENSSL_cleanse(&s->o, sizeof(s->o));
	OPENSSL_cleanse(s->token, sizeof(s->token));
	s->expiry[0] = '\0';
	buf_free(&s->cap);
	buf_free(&s->bnd);
	buf_free(&s->after);
	s->bound = false;
	s->late = 0;
}

void
sasl2_free(struct sasl2 *s)
{
	if (s == NULL)
		return;
	request_clear(s);
	free(s->agent);
	free(s->software);
	free(s->device);
	free(s);
}

void
sasl2_failed(struct c2s *c)
{
	if (c->sasl2)
		request_clear(c->sasl2);
}

void
sasl2_features(struct c2s *c, struct buf *b)
{
	if (!srv.cfg->sasl2_enabled)
		return;
	buf_printf(b, "<authentication xmlns='%s'>", NS_SASL2);
	auth_sasl2_mechanisms(c, b);
	buf_printf(b, "<inline><bind xmlns='%s'><inline>", NS_BIND2);
	registry_inline_features(b, ELEM_BIND2);
	buf_puts(b, "</inline></bind>");
	registry_inline_features(b, ELEM_SASL2);
	if (srv.cfg->fast_enabled) {
		/* channel-bound ones first: XEP-0484 §7 has clients prefer
		 * them; 0-RTT stays off (no tls-0rtt attribute) */
		static const enum fast_cb order[] = { FAST_EXPR, FAST_ENDP, FAST_UNIQ,
		    FAST_NONE };

		buf_printf(b, "<fast xmlns='%s'>", NS_FAST);
		for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
			if (auth_fast_available(c, order[i]))
				buf_printf(b, "<mechanism>%s</mechanism>",
				    fast_mech_name(order[i]));
		buf_puts(b, "</fast>");
	}
	buf_printf(b, "</inline><upgrade xmlns='%s'>UPGR-SCRAM-SHA-256</upgrade>"
	    "</authentication>", NS_UPGRADE);
}

/* ---- <authenticate/> ---- */

/* Text of a short element: 0, or -1 when longer than max or holding
 * control characters (they would break xmppctl's lines). */
static int
short_text(const struct xml_node *e, size_t max, char **out)
{
	char *t = xml_text(e);

	if (t == NULL)
		return -1;
	if (strlen(t) > max)
		goto bad;
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			goto bad;
	*out = t;
	return 0;
bad:
	free(t);
	return -1;
}

static int
parse_user_agent(struct sasl2 *s, const struct xml_node *ua)
{
	const char *id = xml_attr(ua, "id");
	char *sw = NULL, *dev = NULL, *idc = NULL;
	const struct xml_node *e;
	int rc = -1;

	if (id && (id[0] == '\0' || strlen(id) > SASL2_AGENT_MAX))
		return -1;
	for (const char *p = id; p && *p; p++)
		if ((unsigned char)*p < 0x21 || *p == 0x7f)
			return -1;
	for (e = xml_first_elem(ua); e; e = xml_next_elem(e)) {
		if (xml_is(e, "software", NS_SASL2) && sw == NULL) {
			if (short_text(e, SASL2_TEXT_MAX, &sw) == -1)
				goto out;
		} else if (xml_is(e, "device", NS_SASL2) && dev == NULL) {
			if (short_text(e, SASL2_TEXT_MAX, &dev) == -1)
				goto out;
		} else if (strcmp(e->ns, NS_SASL2) == 0) {
			goto out;	/* a repeated or unknown child of ours */
		}
	}
	if (id && (idc = strdup(id)) == NULL)
		goto out;
	free(s->agent);
	free(s->software);
	free(s->device);
	s->agent = idc;
	s->software = sw;
	s->device = dev;
	sw = dev = NULL;
	rc = 0;
out:
	free(sw);
	free(dev);
	return rc;
}

/* "true"/"1" / "false"/"0" / absent: 1, 0, or -1 when malformed. */
static int
xs_boolean(const char *v, bool *out)
{
	if (v == NULL || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*out = false;
	else if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*out = true;
	else
		return -1;
	return 0;
}

static int
parse_fast(struct sasl2 *s, const struct xml_node *f)
{
	const char *count = xml_attr(f, "count");
	unsigned long long v;
	char *end;

	/* the replay counter matters for 0-RTT only (off), but must be a
	 * positive integer when sent (XEP-0484 §4.4) */
	if (count) {
		errno = 0;
		v = strtoull(count, &end, 10);
		if (count[0] < '0' || count[0] > '9' || *end || errno || v == 0 ||
		    v > UINT32_MAX)
			return -1;
	}
	s->fast = true;
	return xs_boolean(xml_attr(f, "invalidate"), &s->invalidate);
}

static int
parse_bind(struct sasl2 *s, struct xml_node *b)
{
	char *t;
	bool tag = false;

	for (struct xml_node *e = xml_first_elem(b); e; e = xml_next_elem(e)) {
		if (!xml_is(e, "tag", NS_BIND2))
			continue;
		if (tag || short_text(e, SASL2_TAG_MAX, &t) == -1)
			return -1;
		snprintf(s->tag, sizeof(s->tag), "%s", t);
		free(t);
		tag = true;
	}
	s->bind = b;
	return 0;
}

/* The children of <authenticate/>: 0, or -1 with the condition. */
static int
parse_request(struct c2s *c, struct sasl2 *s, struct xml_node *n,
    struct xml_node **ir, const char **cond)
{
	bool ua = false, rt = false;
	const char *mech;
	enum fast_cb cb;

	*ir = NULL;
	*cond = "malformed-request";
	for (struct xml_node *e = xml_first_elem(n); e; e = xml_next_elem(e)) {
		if (xml_is(e, "initial-response", NS_SASL2)) {
			if (*ir)
				return -1;
			*ir = e;
		} else if (xml_is(e, "user-agent", NS_SASL2)) {
			if (ua || parse_user_agent(s, e) == -1)
				return -1;
			ua = true;
		} else if (xml_is(e, "bind", NS_BIND2)) {
			if (s->bind || parse_bind(s, e) == -1)
				return -1;
		} else if (xml_is(e, "request-token", NS_FAST)) {
			mech = xml_attr(e, "mechanism");
			/* XEP-0484 §4.2: one of the mechanisms we offered */
			if (rt || !srv.cfg->fast_enabled || mech == NULL ||
			    fast_mech_parse(mech, &cb) == -1 || !auth_fast_available(c, cb))
				return -1;
			snprintf(s->request, sizeof(s->request), "%s", mech);
			rt = true;
		} else if (xml_is(e, "fast", NS_FAST)) {
			if (s->fast || parse_fast(s, e) == -1)
				return -1;
		} else if (xml_is(e, "upgrade", NS_UPGRADE)) {
			/* XEP-0480 §2.2: tasks we do not know are not asked for */
			char *t = xml_text(e);

			if (t && strcmp(t, "UPGR-SCRAM-SHA-256") == 0)
				s->upgrade = true;
			free(t);
		} else if (strcmp(e->ns, NS_SASL2) == 0) {
			return -1;	/* <supported/> is in no schema we offer */
		}
		/* others: the modules' inline elements, or ignored */
	}
	mech = xml_attr(n, "mechanism");
	if (mech && fast_mech_parse(mech, &cb) == 0 && !s->fast)
		return -1;	/* §4.4: a token comes with <fast/> */
	return 0;
}

static void
authenticate(struct c2s *c, struct xml_node *n)
{
	struct sasl2 *s = c->sasl2;
	char msg[AUTH_MSG_MAX];
	struct xml_node *ir;
	const char *cond;
	long len = 0;

	if (s == NULL && (s = c->sasl2 = calloc(1, sizeof(*s))) == NULL) {
		xml_free(n);
		c2s_stream_error(c, "resource-constraint", NULL);
		return;
	}
	request_clear(s);
	auth_free(c->auth);
	c->auth = NULL;
	s->req = n;
	if (parse_request(c, s, n, &ir, &cond) == -1) {
		auth_fail(c, cond, "bad <authenticate/>");
		return;
	}
	if (ir && (len = auth_decode(ir, msg, sizeof(msg))) < 0) {
		auth_fail(c, "incorrect-encoding", "bad base64");
		return;
	}
	auth_start(c, xml_attr(n, "mechanism"), ir ? msg : NULL, (size_t)len);
	OPENSSL_cleanse(msg, sizeof(msg));
}

void
sasl2_handle(struct c2s *c, struct xml_node *n)
{
	if (!srv.cfg->sasl2_enabled) {
		xml_free(n);
		c2s_stream_error(c, "unsupported-stanza-type", NULL);
		return;
	}
	if (strcmp(n->name, "authenticate") == 0) {
		authenticate(c, n);
		return;
	}
	if (strcmp(n->name, "response") == 0)
		auth_response(c, n);
	else if (strcmp(n->name, "abort") == 0)
		auth_fail(c, "aborted", "client aborted");
	else if (strcmp(n->name, "next") == 0)
		auth_next(c, n);
	else if (strcmp(n->name, "task-data") == 0)
		auth_task_data(c, n);
	else
		c2s_stream_error(c, "unsupported-stanza-type", NULL);
	xml_free(n);
}

/* ---- after the exchange ---- */

int
sasl2_resource(const char *local, const char *agent, const char *tag,
    char *out, size_t outlen)
{
	uint8_t d[32];
	char id[9], in[JID_PART_MAX + 2 + SASL2_AGENT_MAX + 1], res[JID_PART_MAX + 1];
	unsigned dl = 0;
	int n;

	if (agent) {
		n = snprintf(in, sizeof(in), "%s", local);
		if (n < 0 || (size_t)n + 1 + strlen(agent) >= sizeof(in))
			return -1;
		memcpy(in + n + 1, agent, strlen(agent));	/* local NUL agent */
		if (EVP_Digest(in, (size_t)n + 1 + strlen(agent), d, &dl, EVP_sha256(),
		    NULL) != 1)
			return -1;
		hex_encode(d, 4, id);
	} else if (random_hex(id, 4) == -1) {
		return -1;
	}
	/* XEP-0386 §3.2.1: [tag]/[generated], the tag as far as it is valid */
	if (tag && tag[0]) {
		snprintf(in, sizeof(in), "%s/%s", tag, id);
		if (jid_resource_prep(in, res) == 0 && strlen(res) < outlen) {
			snprintf(out, outlen, "%s", res);
			return 0;
		}
	}
	if (strlen(id) >= outlen)
		return -1;
	snprintf(out, outlen, "%s", id);
	return 0;
}

/* The modules' inline elements under parent that are ELEM_* when;
 * false when c went away meanwhile. */
static bool
run_inline(struct c2s *c, struct xml_node *parent, unsigned when)
{
	const struct stream_element *el;
	struct xml_node *e, *next;

	for (e = xml_first_elem(parent); e; e = next) {
		next = xml_next_elem(e);
		if (strcmp(e->ns, NS_SASL2) == 0 || strcmp(e->ns, NS_BIND2) == 0 ||
		    strcmp(e->ns, NS_FAST) == 0 || (el = registry_element(e->ns, when)) == NULL)
			continue;
		xml_detach(e);
		el->fn(c, e);
		if (c->dead || c->state == C2S_CLOSING)
			return false;
	}
	return true;
}

static void
bind2(struct c2s *c, struct sasl2 *s, bool *bound)
{
	char res[JID_PART_MAX + 1];
	const char *cond = NULL;

	if (sasl2_resource(c->local, s->agent, s->tag, res, sizeof(res)) == -1) {
		log_warn("c2s %llu: %s: Bind2: no resource", (unsigned long long)c->id,
		    c->peer);
		return;
	}
	/* the same device's earlier session has this resource: replaced
	 * (RFC 6120 §7.7.2.2, XEP-0386 §3.2: "terminate earlier sessions") */
	if (c2s_bind(c, res, &cond) == -1) {
		/* success without <bound/>: the client binds the RFC 6120 way
		 * and gets the error there (too many sessions) */
		log_info("c2s %llu: %s: Bind2 failed: %s", (unsigned long long)c->id,
		    c->peer, cond);
		return;
	}
	*bound = true;
}

/* The <success/> with everything gathered, then the features. */
static void
emit(struct c2s *c, struct sasl2 *s)
{
	struct buf *b = &c->conn.out;
	char bare[2 * JID_PART_MAX + 2];
	char *b64;

	c->inline_out = NULL;
	c->inline_after = NULL;
	buf_printf(b, "<success xmlns='%s'>", NS_SASL2);
	if (s->o.extralen && (b64 = malloc(base64_encoded_len(s->o.extralen))) != NULL) {
		base64_encode(s->extra, s->o.extralen, b64);
		buf_printf(b, "<additional-data>%s</additional-data>", b64);
		free(b64);
	}
	snprintf(bare, sizeof(bare), "%s@%s", c->local, c2s_host(c));
	buf_puts(b, "<authorization-identifier>");
	xml_escape(b, c->full ? c->full : bare, strlen(c->full ? c->full : bare), false);
	buf_puts(b, "</authorization-identifier>");
	buf_append(b, buf_data(&s->cap), buf_pending(&s->cap));
	if (s->bound) {
		buf_printf(b, "<bound xmlns='%s'>", NS_BIND2);
		buf_append(b, buf_data(&s->bnd), buf_pending(&s->bnd));
		buf_puts(b, "</bound>");
	}
	if (s->token[0] && s->expiry[0])
		buf_printf(b, "<token xmlns='%s' expiry='%s' token='%s'/>", NS_FAST,
		    s->expiry, s->token);
	buf_puts(b, "</success>");
	/* §2.6.1: the features of the authenticated stream follow at once */
	c2s_send_features(c);
	buf_append(b, buf_data(&s->after), buf_pending(&s->after));
	c2s_send_raw(c, "", 0);
	request_clear(s);
}

static void
finish(struct c2s *c)
{
	struct sasl2 *s = c->sasl2;
	bool alive;

	buf_init(&s->cap);
	buf_init(&s->bnd);
	buf_init(&s->after);
	c->inline_after = &s->after;
	/* XEP-0198 §4 / XEP-0386 §3.2: a resumption first; if it worked
	 * there is nothing to bind */
	c->inline_out = &s->cap;
	alive = run_inline(c, s->req, ELEM_SASL2);
	if (alive && c->state != C2S_BOUND && s->bind) {
		bind2(c, s, &s->bound);
		c->inline_out = &s->bnd;
		if (s->bound)
			alive = run_inline(c, s->bind, ELEM_BIND2);
		if (alive && s->bound)
			s->late = registry_bind2_bound(c, &s->bnd);
	}
	if (!alive) {
		c->inline_out = NULL;
		c->inline_after = NULL;
		request_clear(s);
		return;
	}
	if (s->late == 0) {
		emit(c, s);
		return;
	}
	/* a module answers later: what reaches the session meanwhile waits
	 * behind the <success/>, and so does the client's input */
	c->inline_out = &s->after;
	c2s_block(c);
}

void
sasl2_bound_done(struct c2s *c)
{
	struct sasl2 *s = c->sasl2;

	if (s == NULL || s->late == 0)
		return;
	if (--s->late > 0)
		return;
	if (!c->dead && c->state != C2S_CLOSING)
		emit(c, s);
	else
		request_clear(s);
	c2s_unblock(c);
}

static void
token_stored(void *arg, bool ok, const char *expiry, const char *err)
{
	struct c2s *c = arg;
	struct sasl2 *s = c->sasl2;

	if (!c->dead && c->authed && s && s->req) {
		if (ok && expiry) {
			snprintf(s->expiry, sizeof(s->expiry), "%s", expiry);
		} else {
			/* authenticated all the same: no token this time */
			log_warn("c2s %llu: %s: FAST token not stored: %s",
			    (unsigned long long)c->id, c->peer, err ? err : "account gone");
			OPENSSL_cleanse(s->token, sizeof(s->token));
		}
		finish(c);
	}
	c2s_unblock(c);
}

/* A new token for the 'new' slot; false when none could be queued. */
static bool
issue(struct c2s *c, struct sasl2 *s, bool promote)
{
	const char *mech = s->request[0] ? s->request : s->o.mech;
	uint8_t key[FAST_KEY_LEN];

	if (fast_token_new(s->token, key) == -1)
		return false;
	c2s_block(c);
	if (token_issue(c2s_host(c), c->local, s->agent, s->software, s->device, key,
	    mech, srv.cfg->fast_lifetime_s, promote, srv.cfg->fast_max_tokens,
	    token_stored, c) == NULL) {
		OPENSSL_cleanse(key, sizeof(key));
		OPENSSL_cleanse(s->token, sizeof(s->token));
		c2s_unblock(c);
		return false;
	}
	OPENSSL_cleanse(key, sizeof(key));
	return true;
}

static void
token_revoked(void *arg, bool ok, const char *expiry, const char *err)
{
	struct c2s *c = arg;
	struct sasl2 *s = c->sasl2;

	(void)ok;
	(void)expiry;
	if (!c->dead && c->authed && s && s->req) {
		if (err)
			log_warn("c2s %llu: %s: FAST token not revoked: %s",
			    (unsigned long long)c->id, c->peer, err);
		/* §4.6: a new one only when asked for in the same request */
		if (!s->request[0] || !issue(c, s, false))
			finish(c);
	}
	c2s_unblock(c);
}

void
sasl2_authenticated(struct c2s *c, struct auth_outcome *o)
{
	struct sasl2 *s = c->sasl2;
	bool fast = s->agent != NULL && sasl2_fast_enabled();

	c2s_authenticated_inline(c, o->local);
	s->o = *o;
	s->o.local = NULL;
	if (s->o.extralen > sizeof(s->extra))
		s->o.extralen = 0;
	if (s->o.extralen)
		memcpy(s->extra, o->extra, s->o.extralen);
	s->o.extra = s->extra;
	if (fast && o->token && s->invalidate) {
		/* §4.6: the token ends now, before the client is told */
		c2s_block(c);
		if (token_revoke(c2s_host(c), c->local, s->agent, token_revoked, c) != NULL)
			return;
		c2s_unblock(c);
	} else if (fast && (s->request[0] || (o->token &&
	    o->token_age_s >= srv.cfg->fast_rotate_s))) {
		/* asked for, or rotation due (§4.5): the used token stays
		 * valid until the new one is used */
		if (issue(c, s, o->token && o->token_new))
			return;
	} else if (fast && o->token && o->token_new) {
		/* the 'new' token was used: it is 'cur' now, the old goes;
		 * nothing to wait for (both stay valid until it is done) */
		(void)token_promote(c2s_host(c), c->local, s->agent, o->token_key, NULL,
		    NULL);
	}
	finish(c);
}
