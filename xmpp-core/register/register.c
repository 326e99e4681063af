/*
 * register — XEP-0077 with XEP-0158 captchas.  See register.h.
 *
 * Before authentication (where [registration] allows it): the form
 * (legacy fields on trusted networks; on a public host a data form with
 * FORM_TYPE urn:xmpp:captcha, the picture as XEP-0231 bits of binary in
 * the same answer, or a question), then the submission, checked in the
 * order that costs the user least: fields present and well-formed,
 * reserved names, password strength, the throttle, then the captcha
 * (used up, right or wrong), then the account.  A name that is taken
 * is only told after the captcha (no free probing of who exists).
 * After authentication: password change and account removal (core/db).
 */
#include "register.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "account.h"
#include "accountrm.h"
#include "addr.h"
#include "buf.h"
#include "c2s.h"
#include "captcha.h"
#include "conf.h"
#include "crypto.h"
#include "form.h"
#include "invite.h"
#include "iq.h"
#include "log.h"
#include "regconf.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "throttle.h"
#include "xml.h"

#define NS_XDATA	"jabber:x:data"
#define NS_CAPTCHA	"urn:xmpp:captcha"
#define NS_BOB		"urn:xmpp:bob"
#define NS_MEDIA	"urn:xmpp:media-element"

extern struct module register_module;

bool
reg_open_to(const struct sockaddr *sa)
{
	const struct reg_config *cfg = reg_cfg();

	if (!cfg->enabled)
		return false;
	if (cfg->nallow == 0)
		return true;
	return addr_cidr_match_any(cfg->allow, cfg->nallow, sa);
}

static bool
register_allowed(const struct c2s *c)
{

	if (invite_session((struct c2s *)c)->invited)
		return true;	/* an invitation opens a closed host */
	return reg_open_to((const struct sockaddr *)&c->addr);
}

/* Replies go to a client that may not have a JID yet: no to/from. */
static void
reply(struct c2s *c, struct xml_node *r)
{
	if (r == NULL)
		return;
	if (!c->full) {
		xml_del_attr(r, "to");
		xml_del_attr(r, "from");
	}
	c2s_send(c, r);
	xml_free(r);
}

static void
error(struct c2s *c, const struct xml_node *iq, const char *type, const char *cond,
    const char *text)
{
	reply(c, stanza_error(iq, type, cond, text));
}

static void
free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* The values a submission carries: legacy elements or data form fields. */
struct submit {
	char *user, *password, *answer, *challenge;
};

static void
submit_free(struct submit *s)
{
	free(s->user);
	free_secret(s->password);
	free(s->answer);
	free(s->challenge);
}

/* The first <value/> of field var in form x, NULL when absent. */
static char *
form_value(const struct xml_node *x, const char *var)
{
	for (struct xml_node *f = xml_first_elem(x); f; f = xml_next_elem(f)) {
		const char *v = xml_attr(f, "var");

		if (xml_is(f, "field", NS_XDATA) && v && strcmp(v, var) == 0) {
			struct xml_node *val = xml_child(f, "value", NS_XDATA);

			return val ? xml_text(val) : NULL;
		}
	}
	return NULL;
}

static char *
legacy_value(const struct xml_node *q, const char *name)
{
	struct xml_node *f = xml_child(q, name, NS_REGISTER);

	return f ? xml_text(f) : NULL;
}

static void
submit_read(const struct xml_node *q, struct submit *s)
{
	struct xml_node *x = xml_child(q, "x", NS_XDATA);

	memset(s, 0, sizeof(*s));
	if (x) {
		s->user = form_value(x, "username");
		s->password = form_value(x, "password");
		s->challenge = form_value(x, "challenge");
		if ((s->answer = form_value(x, "ocr")) == NULL)
			s->answer = form_value(x, "qa");
	}
	if (s->user == NULL)
		s->user = legacy_value(q, "username");
	if (s->password == NULL)
		s->password = legacy_value(q, "password");
}

/* ---- completion ---- */

struct reg_ctx {
	struct c2s *c;
	struct xml_node *iq;
	char local[JID_PART_MAX + 1];
	bool remove;
	bool invited;			/* the session's invitation is marked used */
	bool counted;			/* by the throttle */
	char inviter[JID_PART_MAX + 1];
	char *password;			/* kept while the invitation is marked */
};

static void
send_message(const char *from, const char *to, const char *subject, const char *body)
{
	struct xml_node *m = xml_new("message", NS_CLIENT);

	if (m == NULL)
		return;
	if (xml_set_attr(m, "from", from) == -1 || xml_set_attr(m, "to", to) == -1 ||
	    xml_set_attr(m, "type", "normal") == -1 ||
	    (subject && xml_add_with_text(m, "subject", NULL, subject) == NULL) ||
	    (body && xml_add_with_text(m, "body", NULL, body) == NULL)) {
		xml_free(m);
		return;
	}
	router_route(m);	/* offline storage keeps it for the new account */
}

/* The welcome message to the new account, the watchers' notices. */
void
reg_announce(const char *host, const char *local, const char *ip)
{
	const struct reg_config *cfg = reg_cfg();
	char jid[2 * JID_PART_MAX + 2];
	struct buf b;

	snprintf(jid, sizeof(jid), "%s@%s", local, host);
	if (cfg->welcome_subject || cfg->welcome_body)
		send_message(host, jid, cfg->welcome_subject, cfg->welcome_body);
	if (cfg->nwatchers == 0)
		return;
	buf_init(&b);
	buf_printf(&b, "New account %s registered from %s", jid, ip);
	for (size_t i = 0; i < cfg->nwatchers; i++)
		send_message(host, cfg->watchers[i], "New account", b.p);
	buf_free(&b);
}

static void
reg_done(void *arg, bool ok, const char *err)
{
	struct reg_ctx *x = arg;
	struct c2s *c = x->c;

	bool created = !err && ok && !c->authed && !x->remove;

	if (x->invited && (err || !ok))
		invite_release(c, x->local);	/* nothing half-made */
	/* a new account gets its welcome, subscription and count even when
	 * its client left before the answer */
	if (created) {
		if (x->invited && x->inviter[0])
			invite_subscribe(c->host, x->local, x->inviter);
		reg_announce(c2s_host(c), x->local, c->ip);
	} else if (x->counted) {
		throttle_uncount((const struct sockaddr *)&c->addr);
	}
	if (c->dead)
		goto out;
	if (err) {
		error(c, x->iq, "wait", "internal-server-error", NULL);
	} else if (!ok && !c->authed) {
		error(c, x->iq, "cancel", "conflict", "the username is taken");
	} else if (!ok) {
		error(c, x->iq, "cancel", "item-not-found", NULL);
	} else {
		reply(c, stanza_iq_result(x->iq));
		log_info("c2s %llu: %s: account %s@%s %s", (unsigned long long)c->id,
		    c->peer, x->local, c2s_host(c), x->remove ? "removed" :
		    c->authed ? "changed its password" : "registered");
		/* the other sessions end with not-authorized (accountrm.c) */
		if (x->remove)
			c2s_stream_error(c, NULL, NULL);
	}
out:
	xml_free(x->iq);
	free_secret(x->password);
	free(x);
	c2s_unblock(c);
}

static struct reg_ctx *
ctx_new(struct c2s *c, struct xml_node *iq, const char *local)
{
	struct reg_ctx *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->c = c;
	x->iq = iq;
	snprintf(x->local, sizeof(x->local), "%s", local);
	c2s_block(c);
	return x;
}

static void
ctx_failed(struct reg_ctx *x)
{
	error(x->c, x->iq, "wait", "resource-constraint", NULL);
	xml_free(x->iq);
	c2s_unblock(x->c);
	free(x);
}

/* ---- the form ---- */

static void
form_legacy(struct c2s *c, struct xml_node *iq, bool registered)
{
	struct xml_node *r = stanza_iq_result(iq), *q;

	q = xml_add(r, "query", NS_REGISTER);
	if (registered) {
		xml_add(q, "registered", NULL);
		xml_add_with_text(q, "username", NULL, c->local);
	} else {
		xml_add_with_text(q, "instructions", NULL,
		    "Choose a username and password for use with this service.");
		xml_add(q, "username", NULL);
	}
	xml_add(q, "password", NULL);
	reply(c, r);
	xml_free(iq);
}

static struct xml_node *
required(struct xml_node *f)
{
	if (f)
		xml_add(f, "required", NULL);
	return f;
}

/* The picture as bits of binary (XEP-0231) next to the form. */
static int
add_bob(struct xml_node *q, const char *id, const char *cid)
{
	struct buf png;
	char *b64 = NULL;
	struct xml_node *d;
	int rc = -1;

	buf_init(&png);
	if (captcha_png(id, &png) == -1 ||
	    (b64 = malloc(base64_encoded_len(png.len))) == NULL)
		goto out;
	base64_encode(png.p, png.len, b64);
	/* max-age 0: a challenge is not worth caching (XEP-0231 §3) */
	if ((d = xml_add_with_text(q, "data", NS_BOB, b64)) == NULL ||
	    xml_set_attr(d, "cid", cid) == -1 || xml_set_attr(d, "type", "image/png") == -1 ||
	    xml_set_attr(d, "max-age", "0") == -1)
		goto out;
	rc = 0;
out:
	free(b64);
	buf_free(&png);
	return rc;
}

static int
captcha_form(struct c2s *c, struct xml_node *q, const struct xml_node *iq,
    const char *id, const char *cid, unsigned question)
{
	const struct reg_config *cfg = reg_cfg();
	const char *sid = xml_attr(iq, "id");
	struct xml_node *x, *f, *m, *u;
	char title[JID_PART_MAX + 40], w[16], h[16], uri[CAPTCHA_CID_LEN + 8];
	bool picture = cfg->captcha == CAPTCHA_IMAGE;

	snprintf(title, sizeof(title), "Registration on %s", c2s_host(c));
	if (xml_add_with_text(q, "instructions", NULL, picture ?
	    "Choose a username and password, and enter the text you see in the picture." :
	    "Choose a username and password, and answer the question.") == NULL ||
	    (x = xml_add(q, "x", NS_XDATA)) == NULL || xml_set_attr(x, "type", "form") == -1 ||
	    xml_add_with_text(x, "title", NULL, title) == NULL ||
	    form_field(x, "FORM_TYPE", "hidden", NULL, NS_CAPTCHA) == NULL ||
	    form_field(x, "from", "hidden", NULL, c2s_host(c)) == NULL ||
	    form_field(x, "challenge", "hidden", NULL, id) == NULL ||
	    form_field(x, "sid", "hidden", NULL, sid ? sid : "") == NULL ||
	    required(form_field(x, "username", "text-single", "Username", NULL)) == NULL ||
	    required(form_field(x, "password", "text-private", "Password", NULL)) == NULL)
		return -1;
	if (!picture) {
		const char *text = question < cfg->nquestions ?
		    cfg->questions[question].text : "?";

		return required(form_field(x, "qa", "text-single", text, NULL)) ? 0 : -1;
	}
	if ((f = form_field(x, "ocr", "text-single", "Enter the text you see", NULL)) == NULL ||
	    (m = xml_add(f, "media", NS_MEDIA)) == NULL)
		return -1;
	snprintf(w, sizeof(w), "%d", CAPTCHA_W);
	snprintf(h, sizeof(h), "%d", CAPTCHA_H);
	snprintf(uri, sizeof(uri), "cid:%s", cid);
	if (xml_set_attr(m, "width", w) == -1 || xml_set_attr(m, "height", h) == -1 ||
	    (u = xml_add_with_text(m, "uri", NULL, uri)) == NULL ||
	    xml_set_attr(u, "type", "image/png") == -1)
		return -1;
	/* the same picture over http (XEP-0221), for clients without BoB */
	if (cfg->captcha_url) {
		char url[512 + CAPTCHA_ID_LEN + 8];	/* regconf: at most 500 */

		snprintf(url, sizeof(url), "%s%s.png", cfg->captcha_url, id);
		if ((u = xml_add_with_text(m, "uri", NULL, url)) == NULL ||
		    xml_set_attr(u, "type", "image/png") == -1)
			return -1;
	}
	if (required(f) == NULL)
		return -1;
	return add_bob(q, id, cid);
}

static void
form_captcha(struct c2s *c, struct xml_node *iq)
{
	const struct reg_config *cfg = reg_cfg();
	char id[CAPTCHA_ID_LEN + 1], cid[CAPTCHA_CID_LEN + 1];
	unsigned question = 0;
	struct xml_node *r, *q;

	switch (captcha_new((const struct sockaddr *)&c->addr, &cfg->limits, id, cid,
	    &question)) {
	case CAPTCHA_OK:
		break;
	case CAPTCHA_LIMITED:
		log_info("c2s %llu: %s: registration: captcha limit (%u a minute)",
		    (unsigned long long)c->id, c->peer, cfg->limits.per_minute);
		error(c, iq, "wait", "resource-constraint",
		    "Too many registration attempts; try again in a minute");
		xml_free(iq);
		return;
	default:
		error(c, iq, "wait", "resource-constraint", NULL);
		xml_free(iq);
		return;
	}
	r = stanza_iq_result(iq);
	if (r == NULL || (q = xml_add(r, "query", NS_REGISTER)) == NULL ||
	    captcha_form(c, q, iq, id, cid, question) == -1) {
		xml_free(r);
		error(c, iq, "wait", "resource-constraint", NULL);
	} else {
		reply(c, r);
	}
	xml_free(iq);
}

/* ---- the submission ---- */

bool
reg_question_match(const char *answer, unsigned question)
{
	const struct reg_config *cfg = reg_cfg();
	char got[256];
	size_t n = 0;

	if (question >= cfg->nquestions)
		return false;
	while (isspace((unsigned char)*answer))
		answer++;
	n = strlen(answer);
	while (n > 0 && isspace((unsigned char)answer[n - 1]))
		n--;
	if (n >= sizeof(got))
		return false;
	memcpy(got, answer, n);
	got[n] = '\0';
	for (size_t i = 0; i < cfg->questions[question].nanswers; i++)
		if (strcasecmp(got, cfg->questions[question].answers[i]) == 0)
			return true;
	return false;
}

enum reg_check
reg_check_fields(const char *user, const char *password, char local[JID_PART_MAX + 1],
    bool is_new)
{
	const struct reg_config *cfg = reg_cfg();

	if (user == NULL || password == NULL || password[0] == '\0' ||
	    strlen(password) > REG_PASSWORD_MAX)
		return REG_MISSING;
	/* RFC 7622 §3.3 */
	if (strlen(user) > JID_PART_MAX || jid_local_prep(user, local) == -1)
		return REG_BAD_USER;
	if (is_new && regconf_reserved(cfg, local))
		return REG_RESERVED;
	if (account_password_entropy(password) < cfg->min_password_entropy)
		return REG_WEAK;
	return REG_FIELDS_OK;
}

/* Validates username and password; on failure replies and returns -1. */
static int
check_fields(struct c2s *c, struct xml_node *iq, struct submit *s, char *local,
    bool is_new)
{
	switch (reg_check_fields(s->user, s->password, local, is_new)) {
	case REG_FIELDS_OK:
		return 0;
	case REG_MISSING:
		error(c, iq, "modify", is_new ? "not-acceptable" : "bad-request",
		    "A username and a password are required");
		break;
	case REG_BAD_USER:
		error(c, iq, "modify", "jid-malformed", "The username is not a valid localpart");
		break;
	case REG_RESERVED:
		/* as taken, which it is: by the host's operators */
		error(c, iq, "cancel", "conflict", "This username is reserved");
		break;
	case REG_WEAK:
		error(c, iq, "modify", "not-acceptable", "The password is too weak");
		break;
	}
	return -1;
}

/* The captcha of a submission (XEP-0158 §3.5); replies and returns -1
 * when it does not pass. */
static int
check_captcha(struct c2s *c, struct xml_node *iq, const struct submit *s)
{
	if (s->challenge == NULL || s->answer == NULL || s->answer[0] == '\0') {
		error(c, iq, "modify", "not-acceptable", "The captcha answer is missing");
		return -1;
	}
	switch (captcha_check(s->challenge, s->answer, reg_question_match)) {
	case CAPTCHA_OK:
		return 0;
	case CAPTCHA_WRONG:
		log_info("c2s %llu: %s: registration: wrong captcha answer",
		    (unsigned long long)c->id, c->peer);
		error(c, iq, "cancel", "not-acceptable", "The captcha answer is wrong");
		return -1;
	default:
		/* not issued, answered before, or too late */
		error(c, iq, "cancel", "service-unavailable",
		    "The captcha has expired or was answered already");
		return -1;
	}
}

/* The invitation is marked used, or it was gone: then the account. */
static void
invite_marked(void *arg, int ok, const char *inviter)
{
	struct reg_ctx *x = arg;
	struct c2s *c = x->c;

	if (ok != 1 || c->dead) {
		if (ok == 1)
			invite_release(c, x->local);
		if (!c->dead && ok == 0)
			error(c, x->iq, "cancel", "item-not-found",
			    "The invitation was used already");
		else if (!c->dead)
			error(c, x->iq, "wait", "internal-server-error", NULL);
		xml_free(x->iq);
		free_secret(x->password);
		free(x);
		c2s_unblock(c);
		return;
	}
	x->invited = true;
	snprintf(x->inviter, sizeof(x->inviter), "%s", inviter);
	if (account_create(c2s_host(c), x->local, x->password, srv.cfg->scram_iterations,
	    reg_done, x) == -1) {
		invite_release(c, x->local);
		free_secret(x->password);
		x->password = NULL;
		ctx_failed(x);
	}
}

/* An invited registration: no captcha, no throttle (the invitation
 * vouches), the invitation used up with the account. */
static void
register_invited(struct c2s *c, struct xml_node *iq, const char *local, struct submit *s)
{
	struct reg_ctx *x = ctx_new(c, iq, local);

	if (x == NULL) {
		error(c, iq, "wait", "resource-constraint", NULL);
		xml_free(iq);
		return;
	}
	x->password = s->password;
	s->password = NULL;
	if (invite_consume(c, local, invite_marked, x) == -1) {
		free_secret(x->password);
		x->password = NULL;
		ctx_failed(x);
	}
}

static void
register_preauth(struct c2s *c, struct xml_node *iq)
{
	const struct reg_config *cfg = reg_cfg();
	struct xml_node *q = xml_child(iq, "query", NS_REGISTER);
	const char *type = stanza_type(iq);
	char local[JID_PART_MAX + 1];
	struct submit s;
	struct reg_ctx *x;

	if (strcmp(type, "get") == 0) {
		if (cfg->captcha == CAPTCHA_OFF || invite_session(c)->invited)
			form_legacy(c, iq, false);
		else
			form_captcha(c, iq);
		return;
	}
	if (strcmp(type, "set") != 0 || xml_child(q, "remove", NS_REGISTER)) {
		error(c, iq, "modify", "bad-request", NULL);
		xml_free(iq);
		return;
	}
	submit_read(q, &s);
	if (check_fields(c, iq, &s, local, true) == -1)
		goto fail;
	if (invite_session(c)->invited) {
		register_invited(c, iq, local, &s);
		submit_free(&s);
		return;
	}
	if (!throttle_allows(cfg, (const struct sockaddr *)&c->addr)) {
		log_info("c2s %llu: %s: registration throttled", (unsigned long long)c->id,
		    c->peer);
		error(c, iq, "wait", "resource-constraint",
		    "Too many accounts registered from your address; try again later");
		goto fail;
	}
	if (cfg->captcha != CAPTCHA_OFF && check_captcha(c, iq, &s) == -1)
		goto fail;
	if ((x = ctx_new(c, iq, local)) == NULL) {
		error(c, iq, "wait", "resource-constraint", NULL);
		goto fail;
	}
	throttle_count((const struct sockaddr *)&c->addr);
	x->counted = true;
	if (account_create(c2s_host(c), local, s.password, srv.cfg->scram_iterations,
	    reg_done, x) == -1) {
		throttle_uncount((const struct sockaddr *)&c->addr);
		ctx_failed(x);
	}
	submit_free(&s);
	return;
fail:
	submit_free(&s);
	xml_free(iq);
}

static void
remove_done(void *arg, int result, const char *err)
{
	reg_done(arg, result == 1, result == -1 ? (err ? err : "failed") : NULL);
}

static void
register_iq(struct c2s *c, struct xml_node *iq)
{
	struct xml_node *q = xml_child(iq, "query", NS_REGISTER);
	const char *type = stanza_type(iq);
	char local[JID_PART_MAX + 1];
	struct submit s;
	struct reg_ctx *x;

	if (strcmp(type, "get") == 0) {
		form_legacy(c, iq, true);
		return;
	}
	if (xml_child(q, "remove", NS_REGISTER)) {
		if ((x = ctx_new(c, iq, c->local)) == NULL) {
			error(c, iq, "wait", "resource-constraint", NULL);
			xml_free(iq);
			return;
		}
		x->remove = true;
		if (accountrm_start(c->user, remove_done, x) == -1)
			ctx_failed(x);
		return;
	}
	submit_read(q, &s);
	if (check_fields(c, iq, &s, local, false) == -1)
		goto fail;
	if (strcmp(local, c->local) != 0) {
		error(c, iq, "modify", "bad-request", "username differs");
		goto fail;
	}
	if ((x = ctx_new(c, iq, local)) == NULL) {
		error(c, iq, "wait", "resource-constraint", NULL);
		goto fail;
	}
	if (account_set_password(c2s_host(c), local, s.password, srv.cfg->scram_iterations,
	    reg_done, x) == -1)
		ctx_failed(x);
	submit_free(&s);
	return;
fail:
	submit_free(&s);
	xml_free(iq);
}

static bool
preauth_iq(struct iq_req *r)
{
	if (!register_allowed(r->c))
		return false;	/* c2s: not-authorized */
	register_preauth(r->c, r->iq);
	return true;
}

static bool
session_iq(struct iq_req *r)
{
	register_iq(r->c, r->iq);
	return true;
}

/* XEP-0231 §2.3: the picture of a pending captcha by its cid. */
static bool
bob_iq(struct iq_req *r)
{
	struct c2s *c = r->c;
	struct xml_node *iq = r->iq, *res, *d;
	const char *cid = xml_attr(r->q, "cid");
	struct buf png;
	char *b64;

	if (!register_allowed(c))
		return false;
	if (strcmp(stanza_type(iq), "get") != 0 || cid == NULL) {
		error(c, iq, "modify", "bad-request", NULL);
		xml_free(iq);
		return true;
	}
	buf_init(&png);
	if (captcha_png_cid(cid, &png) == -1) {
		buf_free(&png);
		error(c, iq, "cancel", "item-not-found", NULL);
		xml_free(iq);
		return true;
	}
	if ((b64 = malloc(base64_encoded_len(png.len))) == NULL ||
	    (res = stanza_iq_result(iq)) == NULL) {
		free(b64);
		buf_free(&png);
		error(c, iq, "wait", "resource-constraint", NULL);
		xml_free(iq);
		return true;
	}
	base64_encode(png.p, png.len, b64);
	buf_free(&png);
	if ((d = xml_add_with_text(res, "data", NS_BOB, b64)) == NULL ||
	    xml_set_attr(d, "cid", cid) == -1 || xml_set_attr(d, "type", "image/png") == -1 ||
	    xml_set_attr(d, "max-age", "0") == -1) {
		xml_free(res);
		error(c, iq, "wait", "resource-constraint", NULL);
	} else {
		reply(c, res);
	}
	free(b64);
	xml_free(iq);
	return true;
}

static void
features(struct c2s *c, struct buf *b)
{
	if (!c->secure || c->authed)
		return;
	/* XEP-0445 §3: invitations are accepted here */
	buf_puts(b, "<register xmlns='urn:xmpp:ibr-token:0'/>");
	if (register_allowed(c))
		buf_puts(b, "<register xmlns='http://jabber.org/features/iq-register'/>");
}

/* The configured captcha key (tests), else captcha.c's random one. */
static void
apply_key(void)
{
	const struct reg_config *cfg = reg_cfg();

	if (cfg && cfg->have_key)
		captcha_set_key(cfg->key);
}

static void
cleanup(void)
{
	captcha_clear();
	throttle_clear();
}

static const struct iq_handler iqs[] = {
	{ "query", NS_REGISTER, IQ_PREAUTH, preauth_iq },
	{ "query", NS_REGISTER, IQ_CLIENT | IQ_SERVER, session_iq },
	{ "data", NS_BOB, IQ_PREAUTH, bob_iq },
	{ "preauth", "urn:xmpp:pars:0", IQ_PREAUTH, invite_preauth_iq },
	{ NULL, NULL, 0, NULL },
};

static const char *const server_features[] = { NS_REGISTER, NULL };
static const char *const migrations[] = { "060_invites", NULL };

struct module register_module = {
	.name = "register",
	.folder = "register",
	.config_load = regconf_load,
	.config_free = regconf_free,
	.migrations = migrations,
	.iqs = iqs,
	.commands = invite_commands,
	.hooks = invite_hooks,
	.stream_features = features,
	.session_size = sizeof(struct reg_session),
	.server_features = server_features,
	.init = apply_key,
	.reload = apply_key,
	.cleanup = cleanup,
};
