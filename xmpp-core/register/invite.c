/*
 * invite — invitations.  See invite.h.
 *
 * Tokens are 128 random bits in hex; the table keeps their SHA-256 only
 * (sql/060_invites.sql), so a copy of the database lets nobody in.  As
 * XEP-0445 §4 asks, a token's expiry is checked when the client
 * presents it, and it counts as used only once an account was
 * registered with it: the registration marks it (one UPDATE, so two
 * sessions racing with one token cannot both win), creates the account,
 * and frees the invitation again if that failed (the name was taken).
 */
#include "invite.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "buf.h"
#include "c2s.h"
#include "control.h"
#include "crypto.h"
#include "db.h"
#include "iq.h"
#include "jid.h"
#include "log.h"
#include "regconf.h"
#include "registry.h"
#include "roster.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

extern struct module register_module;

static struct db_stmt st_add = {
	"INSERT INTO reg_invite (token_hash, host, inviter, expires) "
	"VALUES ($1, $2, $3, now() + $4::bigint * interval '1 second') "
	"RETURNING to_char(expires AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", 4, 0 };
static struct db_stmt st_check = {
	"SELECT 1 FROM reg_invite WHERE token_hash = $1 AND host = $2 "
	"AND used_by IS NULL AND expires > now()", 2, 0 };
static struct db_stmt st_use = {
	"UPDATE reg_invite SET used_by = $3, used_at = now() "
	"WHERE token_hash = $1 AND host = $2 AND used_by IS NULL "
	"RETURNING coalesce(inviter, '')", 3, 0 };
/* the landing page: by token alone, expiry checked when used too */
static struct db_stmt st_lookup = {
	"SELECT host, coalesce(inviter, '') FROM reg_invite WHERE token_hash = $1 "
	"AND used_by IS NULL AND expires > now()", 1, 0 };
static struct db_stmt st_take = {
	"UPDATE reg_invite SET used_by = $2, used_at = now() "
	"WHERE token_hash = $1 AND used_by IS NULL AND expires > now() "
	"RETURNING host, coalesce(inviter, '')", 2, 0 };
static struct db_stmt st_release = {
	"UPDATE reg_invite SET used_by = NULL, used_at = NULL "
	"WHERE token_hash = $1 AND host = $2 AND used_by = $3", 3, 0 };

struct reg_session *
invite_session(struct c2s *c)
{
	return c2s_priv(c, &register_module);
}

static void
token_hash(const char *token, char out[65])
{
	unsigned char md[32];

	EVP_Digest(token, strlen(token), md, NULL, EVP_sha256(), NULL);
	hex_encode(md, sizeof(md), out);
}

bool
invite_token_ok(const char *t)
{
	if (t == NULL || strlen(t) != INVITE_TOKEN_LEN)
		return false;
	for (; *t; t++)
		if (!isxdigit((unsigned char)*t))
			return false;
	return true;
}

/* ---- <preauth/> ---- */

struct check {
	struct c2s *c;
	struct xml_node *iq;
	char token[INVITE_TOKEN_LEN + 1];
};

static void
preauth_reply(struct c2s *c, struct xml_node *r)
{
	if (r == NULL)
		return;
	xml_del_attr(r, "to");
	xml_del_attr(r, "from");
	c2s_send(c, r);
	xml_free(r);
}

static void
checked(void *arg, PGresult *res, const char *err)
{
	struct check *k = arg;
	struct c2s *c = k->c;

	if (c->dead)
		goto out;
	if (res == NULL) {
		log_warn("c2s %llu: invitation check: %s", (unsigned long long)c->id, err);
		preauth_reply(c, stanza_error(k->iq, "wait", "internal-server-error", NULL));
	} else if (PQntuples(res) == 0) {
		log_info("c2s %llu: %s: unknown, used or expired invitation",
		    (unsigned long long)c->id, c->peer);
		preauth_reply(c, stanza_error(k->iq, "cancel", "item-not-found",
		    "The invitation is invalid, used or expired"));
	} else {
		struct reg_session *s = invite_session(c);

		s->invited = true;
		memcpy(s->token, k->token, sizeof(s->token));
		preauth_reply(c, stanza_iq_result(k->iq));
	}
out:
	xml_free(k->iq);
	OPENSSL_cleanse(k->token, sizeof(k->token));
	free(k);
	c2s_unblock(c);
}

bool
invite_preauth_iq(struct iq_req *r)
{
	struct c2s *c = r->c;
	const char *token = xml_attr(r->q, "token");
	char hash[65];
	const char *v[2] = { hash, c2s_host(c) };
	struct check *k;

	if (strcmp(stanza_type(r->iq), "set") != 0) {
		preauth_reply(c, stanza_error(r->iq, "cancel", "bad-request", NULL));
		xml_free(r->iq);
		return true;
	}
	if (!invite_token_ok(token)) {
		preauth_reply(c, stanza_error(r->iq, "cancel", "item-not-found",
		    "The invitation is invalid, used or expired"));
		xml_free(r->iq);
		return true;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		preauth_reply(c, stanza_error(r->iq, "wait", "resource-constraint", NULL));
		xml_free(r->iq);
		return true;
	}
	k->c = c;
	k->iq = r->iq;
	snprintf(k->token, sizeof(k->token), "%s", token);
	for (char *p = k->token; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	token_hash(k->token, hash);
	c2s_block(c);
	if (db_query(srv.db, &st_check, v, checked, k) == NULL)
		checked(k, NULL, "the database queue is full");
	return true;
}

/* ---- using it up ---- */

struct use {
	void (*done)(void *arg, int ok, const char *inviter);
	void *arg;
};

static void
used(void *arg, PGresult *res, const char *err)
{
	struct use *u = arg;

	if (res == NULL) {
		log_warn("invitation: %s", err);
		u->done(u->arg, -1, NULL);
	} else if (PQntuples(res) == 0) {
		u->done(u->arg, 0, NULL);
	} else {
		u->done(u->arg, 1, PQgetvalue(res, 0, 0));
	}
	free(u);
}

int
invite_consume(struct c2s *c, const char *local,
    void (*done)(void *arg, int ok, const char *inviter), void *arg)
{
	struct reg_session *s = invite_session(c);
	char hash[65];
	const char *v[3] = { hash, c2s_host(c), local };
	struct use *u;

	if (!s->invited || (u = calloc(1, sizeof(*u))) == NULL)
		return -1;
	u->done = done;
	u->arg = arg;
	token_hash(s->token, hash);
	if (db_query(srv.db, &st_use, v, used, u) == NULL) {
		free(u);
		return -1;
	}
	return 0;
}

static void
released(void *arg, PGresult *res, const char *err)
{
	(void)arg;
	if (res == NULL)
		log_warn("invitation: not freed after a failed registration: %s", err);
}

void
invite_release(struct c2s *c, const char *local)
{
	struct reg_session *s = invite_session(c);
	char hash[65];
	const char *v[3] = { hash, c2s_host(c), local };

	if (!s->invited)
		return;
	token_hash(s->token, hash);
	if (db_query(srv.db, &st_release, v, released, NULL) == NULL)
		log_warn("invitation: not freed after a failed registration: queue full");
}

/* ---- the web's landing page ---- */

struct found {
	invite_found_cb *done;
	void *arg;
};

static void
found(void *arg, PGresult *res, const char *err)
{
	struct found *f = arg;
	int host;

	if (res == NULL) {
		log_warn("invitation: %s", err);
		f->done(f->arg, -1, -1, NULL);
	} else if (PQntuples(res) != 1 ||
	    (host = router_host_index(PQgetvalue(res, 0, 0))) < 0) {
		f->done(f->arg, 0, -1, NULL);	/* a host no longer served: gone */
	} else {
		f->done(f->arg, 1, host, PQgetvalue(res, 0, 1));
	}
	free(f);
}

static int
by_token(struct db_stmt *st, const char *token, const char *local,
    invite_found_cb *done, void *arg)
{
	char t[INVITE_TOKEN_LEN + 1], hash[65];
	const char *v[2] = { hash, local };
	struct found *f;

	if (!invite_token_ok(token) || (f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	f->done = done;
	f->arg = arg;
	snprintf(t, sizeof(t), "%s", token);
	for (char *p = t; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	token_hash(t, hash);
	OPENSSL_cleanse(t, sizeof(t));
	if (db_query(srv.db, st, v, found, f) == NULL) {
		free(f);
		return -1;
	}
	return 0;
}

int
invite_lookup(const char *token, invite_found_cb *done, void *arg)
{
	return by_token(&st_lookup, token, NULL, done, arg);
}

int
invite_take(const char *token, const char *local, invite_found_cb *done, void *arg)
{
	return by_token(&st_take, token, local, done, arg);
}

void
invite_give_back(const char *token, int host, const char *local)
{
	char t[INVITE_TOKEN_LEN + 1], hash[65];
	const char *v[3] = { hash, srv.cfg->hosts[host], local };

	snprintf(t, sizeof(t), "%s", token);
	for (char *p = t; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	token_hash(t, hash);
	OPENSSL_cleanse(t, sizeof(t));
	if (db_query(srv.db, &st_release, v, released, NULL) == NULL)
		log_warn("invitation: not freed after a failed registration: queue full");
}

/* ---- the subscription (XEP-0379 §3: both ways) ---- */

struct sub {
	char other[2 * JID_PART_MAX + 2];
};

static void
roster_ready(void *arg, struct user *u)
{
	struct sub *s = arg;
	struct roster *r = USER_ROSTER(u);
	struct roster_item *it;

	if (r && r->loaded && r->exists &&
	    ((it = roster_find(r, s->other)) != NULL || (it = roster_add(r, s->other)) != NULL)) {
		it->sub_to = it->sub_from = true;
		it->ask_out = it->ask_in = false;
		it->visible = true;
		roster_commit(u, it);
	} else {
		log_warn("invitation: %s not subscribed to %s", u->bare, s->other);
	}
	free(s);
	router_user_unref(u);
}

static void
subscribe_one(int host, const char *local, const char *other)
{
	struct user *u = router_user_get(host, local);
	struct sub *s = calloc(1, sizeof(*s));

	if (u == NULL || s == NULL) {
		free(s);
		if (u)
			router_user_unref(u);
		log_warn("invitation: out of memory subscribing %s", local);
		return;
	}
	snprintf(s->other, sizeof(s->other), "%s@%s", other, srv.cfg->hosts[host]);
	roster_load(u, roster_ready, s);
}

void
invite_subscribe(int host, const char *a, const char *b)
{
	subscribe_one(host, a, b);
	subscribe_one(host, b, a);
}

/* ---- xmppctl invite ---- */

struct made {
	struct ctl_req *req;
	char uri[3 * JID_PART_MAX + 128];
	char token[INVITE_TOKEN_LEN + 1];
};

static void
added(void *arg, PGresult *res, const char *err)
{
	struct made *m = arg;
	struct buf *o = ctl_out(m->req);
	const struct reg_config *cfg = reg_cfg();

	if (res == NULL || PQntuples(res) != 1) {
		buf_printf(o, "error: the invitation was not stored: %s\n",
		    err ? err : "database");
	} else {
		buf_printf(o, "uri\t%s\nexpires\t%s\n", m->uri, PQgetvalue(res, 0, 0));
		if (cfg->invite_url)
			buf_printf(o, "url\t%s%s\n", cfg->invite_url, m->token);
	}
	ctl_done(m->req);
	OPENSSL_cleanse(m, sizeof(*m));
	free(m);
}

/* "90", "90s", "10m", "12h", "7d": seconds, 0 when invalid. */
static long long
parse_ttl(const char *s)
{
	char *end;
	long long n = strtoll(s, &end, 10), mul = 1;

	if (end == s || n <= 0)
		return 0;
	if (*end == 'm')
		mul = 60;
	else if (*end == 'h')
		mul = 3600;
	else if (*end == 'd')
		mul = 86400;
	else if (*end != 's' && *end != '\0')
		return 0;
	if (*end && end[1])
		return 0;
	if (n > 366LL * 86400 / mul)
		return 0;
	return n * mul;
}

static int
cmd_invite(struct ctl_req *req, const char *args)
{
	struct buf *o = ctl_out(req);
	char a[1100], *who, *ttl_s, *rest, hash[65], ttl[24];
	const char *v[4];
	struct jid j;
	long long ttl_n = reg_cfg()->invite_ttl_s;
	struct made *m;
	int host;

	snprintf(a, sizeof(a), "%s", args ? args : "");
	who = strtok_r(a, " ", &rest);
	ttl_s = strtok_r(NULL, " ", &rest);
	if (who == NULL || strtok_r(NULL, " ", &rest) != NULL) {
		buf_printf(o, "error: usage: invite [USER@]HOST [TTL]\n");
		return 0;
	}
	if (jid_parse(who, &j) == -1 || j.resource[0] ||
	    (host = router_host_index(j.domain)) < 0) {
		buf_printf(o, "error: %s is not an account or host of this server\n", who);
		return 0;
	}
	if (ttl_s && (ttl_n = parse_ttl(ttl_s)) == 0) {
		buf_printf(o, "error: TTL: seconds, or a number with s, m, h or d (up to 366 days)\n");
		return 0;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		buf_printf(o, "error: out of memory\n");
		return 0;
	}
	m->req = req;
	if (random_hex(m->token, INVITE_TOKEN_LEN / 2) == -1) {
		free(m);
		buf_printf(o, "error: no randomness\n");
		return 0;
	}
	/* XEP-0401 §5.1 / XEP-0445 §3: a contact invitation that also
	 * registers, or one to the host alone */
	if (j.local[0])
		snprintf(m->uri, sizeof(m->uri), "xmpp:%s@%s?roster;preauth=%s;ibr=y",
		    j.local, srv.cfg->hosts[host], m->token);
	else
		snprintf(m->uri, sizeof(m->uri), "xmpp:%s?register;preauth=%s",
		    srv.cfg->hosts[host], m->token);
	token_hash(m->token, hash);
	snprintf(ttl, sizeof(ttl), "%lld", ttl_n);
	v[0] = hash;
	v[1] = srv.cfg->hosts[host];
	v[2] = j.local[0] ? j.local : NULL;
	v[3] = ttl;
	if (db_query(srv.db, &st_add, v, added, m) == NULL) {
		free(m);
		buf_printf(o, "error: the database queue is full\n");
		return 0;
	}
	log_info("control: invitation to %s%s%s for %s s", j.local, j.local[0] ? "@" : "",
	    srv.cfg->hosts[host], ttl);
	return 1;
}

const struct ctl_command invite_commands[] = {
	{ "invite", "invite [USER@]HOST [TTL]",
	    "an invitation to register (USER: subscribed to the new account), "
	    "single use, expiring after TTL (default [registration] invite_ttl)", cmd_invite },
	{ NULL, NULL, NULL, NULL },
};

/* ---- an existing account accepts a contact invitation (XEP-0379 §3) ---- */

/*
 * <presence type='subscribe' to='inviter'><preauth token=.../></presence>
 * from a local account: a valid token of that inviter is used up by the
 * subscriber and the two are subscribed both ways: the inviter's item
 * pre-approves the request (RFC 6121 §3.4) and is subscribed to the
 * subscriber, whose item is marked 'from'; then the request goes on to
 * im/presence, which completes it as a pre-approved one.  Any other
 * token is dropped and the request goes on as an ordinary one (§3.2).
 * The token never travels further.
 */

#define NS_PARS "urn:xmpp:pars:0"

static struct db_stmt st_use_sub = {
	"UPDATE reg_invite SET used_by = $4, used_at = now() "
	"WHERE token_hash = $1 AND host = $2 AND inviter = $3 AND used_by IS NULL "
	"AND expires > now() RETURNING 1", 4, 0 };

struct accept {
	struct hook_args a;	/* where routing goes on */
	int host;
	char inviter[JID_PART_MAX + 1];
	char inviter_bare[2 * JID_PART_MAX + 2];
};

static void
accept_resume(struct accept *k)
{
	struct c2s *c = k->a.c;

	if (c->dead)
		xml_free(k->a.n);
	else
		router_resume(&k->a);
	free(k);
	c2s_unblock(c);
}

static void
subscriber_ready(void *arg, struct user *u)
{
	struct accept *k = arg;
	struct roster *r = USER_ROSTER(u);
	struct roster_item *it;

	if (r && r->loaded && ((it = roster_find(r, k->inviter_bare)) != NULL ||
	    (it = roster_add(r, k->inviter_bare)) != NULL)) {
		it->sub_from = true;
		it->ask_in = false;
		it->visible = true;
		roster_commit(u, it);
	}
	router_user_unref(u);
	accept_resume(k);
}

static void
inviter_ready(void *arg, struct user *u)
{
	struct accept *k = arg;
	struct roster *r = USER_ROSTER(u);
	struct roster_item *it;
	struct user *s = k->a.c->user;

	if (r && r->loaded && r->exists && ((it = roster_find(r, s->bare)) != NULL ||
	    (it = roster_add(r, s->bare)) != NULL)) {
		it->sub_to = true;
		it->approved = true;
		it->visible = true;
		roster_commit(u, it);
		router_user_unref(u);
		router_user_ref(s);
		roster_load(s, subscriber_ready, k);
		return;
	}
	router_user_unref(u);
	accept_resume(k);
}

static void
sub_used(void *arg, PGresult *res, const char *err)
{
	struct accept *k = arg;
	struct user *u;

	if (res == NULL)
		log_warn("invitation: %s", err);
	if (res == NULL || PQntuples(res) != 1 || k->a.c->dead ||
	    (u = router_user_get(k->host, k->inviter)) == NULL) {
		accept_resume(k);	/* an ordinary request */
		return;
	}
	log_info("invitation: %s accepted the invitation of %s", k->a.c->user->bare,
	    k->inviter_bare);
	roster_load(u, inviter_ready, k);
}

static enum hook_rc
subscribe_hook(struct hook_args *a)
{
	struct xml_node *n = a->n, *p;
	char token[INVITE_TOKEN_LEN + 1], hash[65];
	const char *t, *v[4];
	struct accept *k;
	struct jid to;
	int host;

	if (strcmp(stanza_type(n), "subscribe") != 0 ||
	    (p = xml_child(n, "preauth", NS_PARS)) == NULL)
		return HOOK_NEXT;
	t = xml_attr(p, "token");
	snprintf(token, sizeof(token), "%s", invite_token_ok(t) ? t : "");
	xml_detach(p);
	xml_free(p);
	if (token[0] == '\0' || stanza_jid(n, "to", &to) != 1 || to.local[0] == '\0' ||
	    (host = router_host_index(to.domain)) < 0 || host != a->c->host ||
	    (k = calloc(1, sizeof(*k))) == NULL)
		return HOOK_NEXT;
	k->a = *a;
	k->host = host;
	snprintf(k->inviter, sizeof(k->inviter), "%s", to.local);
	snprintf(k->inviter_bare, sizeof(k->inviter_bare), "%s@%s", to.local,
	    srv.cfg->hosts[host]);
	for (char *q = token; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	token_hash(token, hash);
	OPENSSL_cleanse(token, sizeof(token));
	v[0] = hash;
	v[1] = srv.cfg->hosts[host];
	v[2] = k->inviter;
	v[3] = a->c->user->bare;
	c2s_block(a->c);
	if (db_query(srv.db, &st_use_sub, v, sub_used, k) == NULL)
		sub_used(k, NULL, "the database queue is full");
	return HOOK_TAKEN;
}

const struct hook invite_hooks[] = {
	{ EV_PRESENCE_OUT, 10, subscribe_hook },
	{ EV_MAX, 0, NULL },
};
