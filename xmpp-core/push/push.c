/*
 * push — XEP-0357 registrations, notifications and the app servers'
 * answers (pushkeep.c: push sessions and the keepalive).  See push.h.
 *
 * State in memory, all of it rebuilt from the database when needed:
 *
 * - accounts (struct push_acct, by bare JID) with their registrations as last
 *   loaded, loaded when something needs them (an offline message, an
 *   enable) and kept while a push session of the account lives, while a
 *   notification is due or in flight, and for a while after (so a burst
 *   costs one query); every write (enable, disable, removal after an
 *   error) goes to the account's pinned connection and changes the
 *   cached list when it is done, so loads and writes apply in order;
 * - push sessions (pushkeep.c, by session key "<boot id>-<c2s id>"): the
 *   live sessions that enabled push.  A registration's session is
 *   "online" while its key is there and not detached; keys of earlier
 *   runs never are, so after a restart every registration is offline;
 * - notifications in flight (struct push_flight, by IQ id), each waiting for
 *   the app server's answer or [push] timeout.
 *
 * Per registration a notification is sent at once for the first event
 * (on the next loop turn, never from inside a routing call), and further
 * events within [push] min_interval of it, or while it is in flight,
 * coalesce into one more; message-count counts the messages since the
 * registration's session was last online, as far as this process knows.
 */
#include "pushint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "crypto.h"
#include "db.h"
#include "evloop.h"
#include "fragment.h"
#include "hmap.h"
#include "iq.h"
#include "log.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define NS_XDATA "jabber:x:data"
#define NODE_MAX 1023			/* bytes of a node name */
#define REGS_MAX "100"			/* rows loaded (max_registrations <= 100) */
#define SWEEP_MS (60 * 1000)
#define IDLE_MS (60 * 60 * 1000)	/* keep an idle account with registrations */
#define IDLE_EMPTY_MS (5 * 60 * 1000)	/* ... and one without */
#define RETRY_MS 1000			/* in-flight bound reached: try again */
#define FRESH_MS (60 * 1000)		/* trust a load that long without a session */
#define ID_PREFIX "push-"

struct push_flight {
	char id[48];
	struct push_reg *reg;		/* NULL once the registration is gone */
	char *to;			/* the app server, as addressed */
	char *bare;			/* the account */
	struct ev_timer timer;
};

static struct hmap accts, flights;
static unsigned nflight;
static char boot[17];
static struct ev_timer sweep;

static struct db_stmt st_enable = {
	"INSERT INTO push_registrations (host, username, jid, node, form, session) "
	"SELECT $1, $2, $3, $4, $5, $6 WHERE (SELECT count(*) FROM push_registrations "
	"WHERE host = $1 AND username = $2 AND NOT (jid = $3 AND node = $4)) < $7::integer "
	"ON CONFLICT (host, username, jid, node) DO UPDATE SET form = $5, session = $6 "
	"RETURNING 1", 7, 0 };
static struct db_stmt st_disable = {
	"DELETE FROM push_registrations WHERE host = $1 AND username = $2 AND jid = $3 "
	"AND ($4::text IS NULL OR node = $4) RETURNING 1", 4, 0 };
static struct db_stmt st_drop = {
	"DELETE FROM push_registrations WHERE host = $1 AND username = $2 AND jid = $3 "
	"AND node = $4 AND session = $5", 5, 0 };
static struct db_stmt st_load = {
	"SELECT jid, node, form, session FROM push_registrations WHERE host = $1 "
	"AND username = $2 ORDER BY created_at, jid, node LIMIT " REGS_MAX, 2, 0 };

static void acct_load(struct push_acct *a);

const struct push_config *
push_conf(void)
{
	return module_cfg(&push_module);
}

void
push_session_key(const struct c2s *c, char *buf, size_t len)
{
	if (boot[0] == '\0' && random_hex(boot, 8) == -1)
		memcpy(boot, "0000000000000000", 16);
	snprintf(buf, len, "%s-%llu", boot, (unsigned long long)c->id);
}

void
push_set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
}

/* ---- accounts and registrations ---- */

static void reg_free(struct push_reg *r);

/* Frees a (already out of accts). */
static void
acct_free(struct push_acct *a)
{
	struct push_reg *r;

	if (a->load)
		db_cancel(a->load);
	while ((r = a->regs) != NULL) {
		a->regs = r->next;
		reg_free(r);
	}
	free(a->bare);
	free(a->local);
	free(a->ev_sender);
	free(a->ev_body);
	free(a);
}

static void
sweep_cb(struct ev_loop *loop, struct ev_timer *t)
{
	uint64_t now = ev_now(loop);
	struct hmap_ent *e;
	struct push_acct **gone;
	size_t i, n = 0;

	if ((gone = calloc(accts.n ? accts.n : 1, sizeof(*gone))) == NULL) {
		ev_timer_start(loop, t, SWEEP_MS);
		return;
	}
	for (e = hmap_first(&accts, &i); e; e = hmap_next(&accts, e, &i)) {
		struct push_acct *a = e->val;
		bool busy = a->pins || a->load;

		for (struct push_reg *r = a->regs; r && !busy; r = r->next)
			busy = r->fl || r->due || ev_timer_active(&r->timer);
		if (!busy && now - a->used > (a->regs ? IDLE_MS : IDLE_EMPTY_MS))
			gone[n++] = a;
	}
	for (i = 0; i < n; i++) {
		hmap_del(&accts, gone[i]->bare);
		acct_free(gone[i]);
	}
	free(gone);
	if (accts.n)
		ev_timer_start(loop, t, SWEEP_MS);
}

static struct push_acct *
acct_find(const char *bare)
{
	return accts.n ? hmap_get(&accts, bare) : NULL;
}

struct push_acct *
push_acct_get(int host, const char *local)
{
	char bare[2 * JID_PART_MAX + 2];
	struct push_acct *a;

	snprintf(bare, sizeof(bare), "%s@%s", local, srv.cfg->hosts[host]);
	if ((a = acct_find(bare)) != NULL)
		return a;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	a->bare = strdup(bare);
	a->local = strdup(local);
	a->host = host;
	a->used = ev_now(srv.loop);
	if (a->bare == NULL || a->local == NULL || hmap_put(&accts, bare, a) == -1) {
		free(a->bare);
		free(a->local);
		free(a);
		return NULL;
	}
	if (!ev_timer_active(&sweep)) {
		ev_timer_init(&sweep, sweep_cb, NULL);
		ev_timer_start(srv.loop, &sweep, SWEEP_MS);
	}
	return a;
}

static void
reg_timer_cb(struct ev_loop *loop, struct ev_timer *t);

static struct push_reg *
reg_new(struct push_acct *a, const char *jid, const char *node)
{
	struct push_reg *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->a = a;
	r->jid = strdup(jid);
	r->node = strdup(node);
	ev_timer_init(&r->timer, reg_timer_cb, r);
	if (r->jid == NULL || r->node == NULL) {
		free(r->jid);
		free(r->node);
		free(r);
		return NULL;
	}
	return r;
}

void
push_reg_reset(struct push_reg *r)
{
	r->msgs = r->subs = 0;
	push_set_str(&r->sender, NULL);
	push_set_str(&r->body, NULL);
	r->due = false;
	ev_timer_stop(srv.loop, &r->timer);
}

static void
reg_free(struct push_reg *r)
{
	ev_timer_stop(srv.loop, &r->timer);
	if (r->fl)
		r->fl->reg = NULL;
	free(r->jid);
	free(r->node);
	free(r->form);
	free(r->session);
	free(r->sender);
	free(r->body);
	free(r);
}

static void
reg_remove(struct push_reg *r)
{
	struct push_reg **pp;

	for (pp = &r->a->regs; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	reg_free(r);
}

/* New rows replace the list; registrations that stay keep their state
 * (counters, timers, what is in flight) unless another session enabled
 * them since (that device is online now). */
static void
merge(struct push_acct *a, PGresult *res)
{
	struct push_reg *old = a->regs, *list = NULL, **tail = &list, **pp, *r;
	int n = PQntuples(res);

	for (int i = 0; i < n; i++) {
		const char *jid = PQgetvalue(res, i, 0), *node = PQgetvalue(res, i, 1);
		const char *form = PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2);
		const char *session = PQgetvalue(res, i, 3);

		for (pp = &old; *pp; pp = &(*pp)->next)
			if (strcmp((*pp)->jid, jid) == 0 && strcmp((*pp)->node, node) == 0)
				break;
		if ((r = *pp) != NULL)
			*pp = r->next;
		else if ((r = reg_new(a, jid, node)) == NULL)
			continue;
		r->next = NULL;
		if (r->session == NULL || strcmp(r->session, session) != 0) {
			push_reg_reset(r);
			push_set_str(&r->session, session);
		}
		push_set_str(&r->form, form);
		if (r->session == NULL) {
			reg_free(r);
			continue;
		}
		*tail = r;
		tail = &r->next;
	}
	while ((r = old) != NULL) {
		old = r->next;
		reg_free(r);
	}
	a->regs = list;
}

/* One message for every registration whose session is not online. */
void
push_reg_event(struct push_reg *r, enum push_kind kind, const char *sender, const char *body)
{
	if (kind == PUSH_MESSAGE) {
		r->msgs++;
		push_set_str(&r->sender, sender && sender[0] ? sender : NULL);
		push_set_str(&r->body, body);
	} else if (kind == PUSH_SUBSCRIBE) {
		r->subs++;
	}
	push_reg_schedule(r);
}

static void
acct_offline_event(struct push_acct *a, const char *sender, const char *body)
{
	for (struct push_reg *r = a->regs; r; r = r->next)
		if (!push_session_online(r->session))
			push_reg_event(r, PUSH_MESSAGE, sender, body);
}

static void
loaded(void *arg, PGresult *res, const char *err)
{
	struct push_acct *a = arg;

	a->load = NULL;
	a->used = ev_now(srv.loop);
	if (res == NULL) {
		/* never query from here: this may be the pool shutting down */
		log_warn("push: loading the registrations of %s failed: %s", a->bare, err);
		a->reload = false;
		return;
	}
	merge(a, res);
	a->loaded = true;
	a->loaded_at = ev_now(srv.loop);
	while (a->ev_msgs > 0) {
		a->ev_msgs--;
		acct_offline_event(a, a->ev_sender, a->ev_body);
	}
	push_set_str(&a->ev_sender, NULL);
	push_set_str(&a->ev_body, NULL);
	if (a->reload) {
		a->reload = false;
		acct_load(a);
	}
}

static void
acct_load(struct push_acct *a)
{
	const char *v[2];

	if (a->load) {
		a->reload = true;
		return;
	}
	v[0] = srv.cfg->hosts[a->host];
	v[1] = a->local;
	if ((a->load = db_query_key(srv.db, a->bare, &st_load, v, loaded, a)) == NULL)
		log_warn("push: cannot load the registrations of %s (database busy)", a->bare);
}

/* ---- sending ---- */

static void
flight_done(struct push_flight *fl)
{
	struct push_reg *r = fl->reg;

	ev_timer_stop(srv.loop, &fl->timer);
	hmap_del(&flights, fl->id);
	nflight--;
	if (r) {
		r->fl = NULL;
		if (r->due)
			push_reg_schedule(r);
	}
	free(fl->to);
	free(fl->bare);
	free(fl);
}

static void
flight_timeout(struct ev_loop *loop, struct ev_timer *t)
{
	struct push_flight *fl = t->data;

	(void)loop;
	log_info("push: %s: no answer from %s in time", fl->bare, fl->to);
	flight_done(fl);
}

static void
reg_send(struct push_reg *r)
{
	const struct push_config *pc = push_conf();
	struct push_summary s = { r->msgs, r->subs, NULL, NULL };
	struct xml_node *form = NULL, *iq;
	struct push_flight *fl;
	char hex[33];

	r->due = false;		/* a failure below drops this one */
	if ((fl = calloc(1, sizeof(*fl))) == NULL || random_hex(hex, 16) == -1) {
		free(fl);
		return;
	}
	snprintf(fl->id, sizeof(fl->id), ID_PREFIX "%s", hex);
	if (pc->include_sender)
		s.sender = r->sender;
	if (pc->include_body)
		s.body = r->body;
	else if (pc->body_text && r->msgs)
		s.body = pc->body_text;
	if (r->form && (form = fragment_parse(r->form, strlen(r->form), NS_CLIENT)) == NULL)
		log_warn("push: %s: a stored publish-options form does not parse", r->a->bare);
	iq = push_notification(r->a->bare, r->jid, fl->id, r->node, &s, form);
	xml_free(form);
	fl->reg = r;
	fl->to = strdup(r->jid);
	fl->bare = strdup(r->a->bare);
	ev_timer_init(&fl->timer, flight_timeout, fl);
	if (iq == NULL || fl->to == NULL || fl->bare == NULL ||
	    hmap_put(&flights, fl->id, fl) == -1) {
		xml_free(iq);
		free(fl->to);
		free(fl->bare);
		free(fl);
		return;
	}
	nflight++;
	ev_timer_start(srv.loop, &fl->timer, pc->timeout_ms);
	r->fl = fl;
	r->sent_once = true;
	r->last_sent = ev_now(srv.loop);
	log_debug("push: %s: notifying %s (%u messages, %u subscriptions)",
	    r->a->bare, r->jid, r->msgs, r->subs);
	/* an answer may come back inside (a bounce): r and fl are not ours now */
	router_route(iq);
}

static void
reg_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct push_reg *r = t->data;

	if (!push_conf()->enabled)
		r->due = false;		/* switched off by a reload */
	if (!r->due || r->fl)
		return;
	if (nflight >= push_conf()->max_in_flight) {
		ev_timer_start(loop, t, push_conf()->interval_ms > RETRY_MS ?
		    push_conf()->interval_ms : RETRY_MS);
		return;
	}
	reg_send(r);
}

/* Wants a notification: now (next loop turn), or when min_interval since
 * the last one has passed, or after the answer to the one in flight. */
void
push_reg_schedule(struct push_reg *r)
{
	uint64_t now = ev_now(srv.loop), wait = 0;

	r->due = true;
	if (r->fl || ev_timer_active(&r->timer))
		return;
	if (r->sent_once && now < r->last_sent + push_conf()->interval_ms)
		wait = r->last_sent + push_conf()->interval_ms - now;
	ev_timer_start(srv.loop, &r->timer, wait);
}

/* ---- answers from app servers ---- */

static void
dropped(void *arg, PGresult *res, const char *err)
{
	char *bare = arg;

	if (res == NULL)
		log_warn("push: removing a registration of %s failed: %s", bare, err);
	free(bare);
}

static void
answer_error(struct push_flight *fl, const struct xml_node *n)
{
	const struct xml_node *e = xml_child(n, "error", NULL), *c;
	const char *type = e ? xml_attr(e, "type") : NULL, *cond = "?";
	struct push_reg *r = fl->reg;
	const char *v[5];
	char *bare;

	for (c = e ? xml_first_elem(e) : NULL; c; c = xml_next_elem(c)) {
		if (strcmp(c->ns, NS_STANZAS) == 0 && strcmp(c->name, "text") != 0) {
			cond = c->name;
			break;
		}
	}
	/* XEP-0357 §7.1: an error disables the registration, unless it is
	 * transient: type wait, or the app server's domain not reachable now */
	if ((type && strcmp(type, "wait") == 0) ||
	    strcmp(cond, "remote-server-not-found") == 0 ||
	    strcmp(cond, "remote-server-timeout") == 0) {
		log_info("push: %s: %s refused a notification for now (%s, %s)",
		    fl->bare, fl->to, type ? type : "?", cond);
		return;
	}
	log_info("push: %s: %s refused a notification (%s, %s): registration removed",
	    fl->bare, fl->to, type ? type : "?", cond);
	if (r == NULL)
		return;
	v[0] = srv.cfg->hosts[r->a->host];
	v[1] = r->a->local;
	v[2] = r->jid;
	v[3] = r->node;
	v[4] = r->session;
	if ((bare = strdup(r->a->bare)) != NULL &&
	    db_query_key(srv.db, bare, &st_drop, v, dropped, bare) == NULL)
		free(bare);
	reg_remove(r);
}

/* The answer comes from the JID we addressed (from a resource of it when
 * that was a bare JID). */
static bool
answer_from_ok(const struct push_flight *fl, const struct xml_node *n)
{
	struct jid want, got;

	if (jid_parse(fl->to, &want) == -1 || stanza_jid(n, "from", &got) != 1)
		return false;
	return jid_eq(&want, &got) || (want.resource[0] == '\0' && jid_bare_eq(&want, &got));
}

static bool
push_iq_response(struct c2s *c, struct xml_node *n, const struct jid *to)
{
	const char *id = xml_attr(n, "id"), *type = stanza_type(n);
	char bare[2 * JID_PART_MAX + 2];
	struct push_flight *fl;

	(void)c;
	if (to == NULL)
		return false;	/* app servers answer to the account's bare JID */
	if (nflight == 0 || id == NULL || strncmp(id, ID_PREFIX, sizeof(ID_PREFIX) - 1) != 0 ||
	    to->resource[0] || (fl = hmap_get(&flights, id)) == NULL ||
	    strcmp(jid_bare(to, bare, sizeof(bare)), fl->bare) != 0)
		return false;
	if (!answer_from_ok(fl, n)) {
		log_debug("push: %s: answer to %s from %s ignored", fl->bare, id,
		    xml_attr(n, "from") ? xml_attr(n, "from") : "nobody");
		return false;
	}
	if (strcmp(type, "error") == 0)
		answer_error(fl, n);
	else
		log_debug("push: %s: %s accepted a notification", fl->bare, fl->to);
	flight_done(fl);
	xml_free(n);
	return true;
}

/* ---- enable / disable ---- */

struct op {
	struct c2s *c;
	struct xml_node *iq;
	char *jid, *node, *form;	/* as stored (node, form: NULL when absent) */
};

static void
op_end(struct op *o)
{
	xml_free(o->iq);
	c2s_unblock(o->c);
	free(o->jid);
	free(o->node);
	free(o->form);
	free(o);
}

/* What was just written, in memory at once (the session may detach
 * before a reload would be back). */
static void
reg_put(struct push_acct *a, const struct op *o, const char *session)
{
	struct push_reg *r, **pp;

	for (pp = &a->regs; (r = *pp) != NULL; pp = &r->next)
		if (strcmp(r->jid, o->jid) == 0 && strcmp(r->node, o->node) == 0)
			break;
	if (r == NULL) {
		if ((r = reg_new(a, o->jid, o->node)) == NULL)
			return;
		*pp = r;
	}
	if (r->session == NULL || strcmp(r->session, session) != 0) {
		push_reg_reset(r);
		push_set_str(&r->session, session);
	}
	push_set_str(&r->form, o->form);
	if (r->session == NULL)
		reg_remove(r);
}

static void
enabled(void *arg, PGresult *res, const char *err)
{
	struct op *o = arg;
	struct c2s *c = o->c;
	struct push_acct *a;

	if (c->dead || c->user == NULL) {
		op_end(o);
		return;
	}
	if (res == NULL) {
		log_warn("push: enabling for %s failed: %s", c->full, err);
		iq_error(c, o->iq, "wait", "internal-server-error");
	} else if (PQntuples(res) == 0) {
		iq_error(c, o->iq, "wait", "resource-constraint");
	} else {
		push_session_enabled(c);
		if ((a = push_acct_get(c->host, c->local)) != NULL) {
			char session[64];

			push_session_key(c, session, sizeof(session));
			reg_put(a, o, session);
			if (!a->loaded)
				acct_load(a);
		}
		log_info("push: %s enabled notifications via %s", c->full,
		    xml_attr(xml_first_elem(o->iq), "jid"));
		iq_reply(c, stanza_iq_result(o->iq));
	}
	op_end(o);
}

static void
disabled(void *arg, PGresult *res, const char *err)
{
	struct op *o = arg;
	struct c2s *c = o->c;
	struct push_acct *a;

	if (c->dead || c->user == NULL) {
		op_end(o);
		return;
	}
	if (res == NULL) {
		log_warn("push: disabling for %s failed: %s", c->full, err);
		iq_error(c, o->iq, "wait", "internal-server-error");
	} else if (PQntuples(res) == 0) {
		iq_error(c, o->iq, "cancel", "item-not-found");
	} else {
		if ((a = acct_find(c->user->bare)) != NULL) {
			struct push_reg *r, *next;

			for (r = a->regs; r; r = next) {
				next = r->next;
				if (strcmp(r->jid, o->jid) == 0 &&
				    (o->node == NULL || strcmp(r->node, o->node) == 0))
					reg_remove(r);
			}
		}
		log_info("push: %s disabled %d registration%s", c->full, PQntuples(res),
		    PQntuples(res) == 1 ? "" : "s");
		iq_reply(c, stanza_iq_result(o->iq));
	}
	op_end(o);
}

static void
push_set(struct c2s *c, struct xml_node *n, struct xml_node *q, bool enable)
{
	const char *jattr = xml_attr(q, "jid"), *node = xml_attr(q, "node");
	const char *type = "modify", *cond = NULL, *v[7];
	char jid[JID_STR_MAX + 1], session[64], max[16];
	struct xml_node *x = xml_child(q, "x", NS_XDATA);
	struct op *o = NULL;
	struct jid j;
	struct buf b;

	buf_init(&b);
	if (jattr == NULL) {
		cond = "bad-request";
	} else if (jid_parse(jattr, &j) == -1) {
		cond = "jid-malformed";
	} else if (enable && (node == NULL || node[0] == '\0')) {
		/* as ejabberd: a node is what the app server routes by */
		type = "cancel";
		cond = "feature-not-implemented";
	} else if (node && strlen(node) > NODE_MAX) {
		cond = "not-acceptable";
	} else if (enable && x && push_form_check(x) == -1) {
		cond = "bad-request";
	} else if (enable && x && push_form_text(x, &b) == -1) {
		type = "wait";
		cond = "resource-constraint";
	} else if (enable && x && b.len > push_conf()->max_form) {
		cond = "not-acceptable";
	}
	if (cond == NULL && (o = calloc(1, sizeof(*o))) == NULL) {
		type = "wait";
		cond = "resource-constraint";
	}
	if (cond) {
		iq_error(c, n, type, cond);
		xml_free(n);
		buf_free(&b);
		return;
	}
	jid_full(&j, jid, sizeof(jid));
	o->c = c;
	o->iq = n;
	o->jid = strdup(jid);
	o->node = node && node[0] ? strdup(node) : NULL;
	o->form = x ? buf_steal(&b) : NULL;
	c2s_block(c);
	if (o->jid == NULL || (node && node[0] && o->node == NULL) || (x && o->form == NULL)) {
		iq_error(c, n, "wait", "resource-constraint");
		op_end(o);
		return;
	}
	push_session_key(c, session, sizeof(session));
	snprintf(max, sizeof(max), "%u", push_conf()->max_regs);
	v[0] = srv.cfg->hosts[c->host];
	v[1] = c->local;
	v[2] = jid;
	v[3] = o->node;
	v[4] = o->form;
	v[5] = session;
	v[6] = max;
	if (db_query_key(srv.db, c->user->bare, enable ? &st_enable : &st_disable, v,
	    enable ? enabled : disabled, o) == NULL) {
		iq_error(c, n, "wait", "resource-constraint");
		op_end(o);
	}
}

static bool
push_iq(struct iq_req *r)
{
	struct c2s *c = r->c;
	struct xml_node *n = r->iq, *q = r->q;

	if (!push_conf()->enabled)
		return false;
	if (strcmp(stanza_type(n), "set") != 0) {
		iq_error(c, n, "cancel", "not-allowed");
		xml_free(n);
	} else if (strcmp(q->name, "enable") == 0 || strcmp(q->name, "disable") == 0) {
		push_set(c, n, q, strcmp(q->name, "enable") == 0);
	} else {
		iq_error(c, n, "modify", "bad-request");
		xml_free(n);
	}
	return true;
}

static void
push_disco(enum disco_target t, int host, struct disco *d)
{
	(void)host;
	if (t == DISCO_ACCOUNT && push_conf()->enabled)
		disco_add_feature(d, NS_PUSH);
}

/*
 * XEP-0077 removal: the rows went with the account (foreign key); what is
 * in memory goes now, so that an account registered again under the name
 * does not notify the old owner's devices.  A load in flight may have read
 * the old rows: it is repeated.
 */
static void
push_account_removed(int host, const char *local)
{
	char bare[2 * JID_PART_MAX + 2];
	struct push_acct *a;

	snprintf(bare, sizeof(bare), "%s@%s", local, srv.cfg->hosts[host]);
	if ((a = acct_find(bare)) == NULL)
		return;
	while (a->regs)
		reg_remove(a->regs);
	a->loaded = false;
	a->ev_msgs = 0;
	if (a->load)
		a->reload = true;
}

/* ---- events ---- */

static void
push_offline(const struct xml_node *n)
{
	char sender[JID_STR_MAX + 1], *body;
	struct push_acct *a;
	struct jid to;
	int host;

	if (!push_conf()->enabled || push_classify(n, sender, &body) != PUSH_MESSAGE)
		return;
	if (stanza_jid(n, "to", &to) == 1 && to.local[0] &&
	    (host = router_host_index(to.domain)) >= 0 &&
	    (a = push_acct_get(host, to.local)) != NULL) {
		a->used = ev_now(srv.loop);
		/* without a session of the account here, the rows may have
		 * changed under us (account removed and created again) */
		if (a->loaded && a->pins == 0 && a->load == NULL &&
		    a->used - a->loaded_at > FRESH_MS)
			a->loaded = false;
		if (a->loaded) {
			acct_offline_event(a, sender, body);
		} else {
			a->ev_msgs++;
			push_set_str(&a->ev_sender, sender[0] ? sender : NULL);
			push_set_str(&a->ev_body, body);
			if (a->load == NULL)
				acct_load(a);
		}
	}
	free(body);
}

static void
push_cleanup(void)
{
	struct hmap_ent *e;
	size_t i;

	/* registrations first: they unlink what they have in flight */
	for (e = hmap_first(&accts, &i); e; e = hmap_next(&accts, e, &i))
		acct_free(e->val);
	hmap_free(&accts);
	for (e = hmap_first(&flights, &i); e; e = hmap_next(&flights, e, &i)) {
		struct push_flight *fl = e->val;

		ev_timer_stop(srv.loop, &fl->timer);
		free(fl->to);
		free(fl->bare);
		free(fl);
	}
	hmap_free(&flights);
	nflight = 0;
	push_sessions_cleanup();
	ev_timer_stop(srv.loop, &sweep);
}

static enum hook_rc
offline_hook(struct hook_args *a)
{
	push_offline(a->n);
	return HOOK_NEXT;
}

static enum hook_rc
detached_hook(struct hook_args *a)
{
	push_detached(a->c);
	return HOOK_NEXT;
}

static enum hook_rc
stanza_hook(struct hook_args *a)
{
	push_detached_stanza(a->c, a->raw, a->rawlen);
	return HOOK_NEXT;
}

static enum hook_rc
resumed_hook(struct hook_args *a)
{
	push_resumed(a->c);
	return HOOK_NEXT;
}

static void
account_removed(struct user *u)
{
	push_account_removed(u->host, u->local);
}

static int
config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	if ((*cfg = calloc(1, sizeof(struct push_config))) == NULL)
		return -1;
	return push_config_load(*cfg, root, e);
}

static void
config_free(void *cfg)
{
	free(cfg);
}

static const struct iq_handler iqs[] = {
	/* enable, disable; a get is not-allowed, others bad-request */
	{ IQ_ANY, NS_PUSH, IQ_CLIENT, push_iq },
	{ NULL, NULL, 0, NULL },
};

/* answers of app servers to our notifications */
static const struct iq_result_handler results[] = {
	{ ID_PREFIX, push_iq_response },
	{ NULL, NULL },
};

static const struct hook hooks[] = {
	{ EV_OFFLINE_STORED, 0, offline_hook },
	{ EV_SESSION_DETACHED, 0, detached_hook },
	{ EV_DETACHED_STANZA, 0, stanza_hook },
	{ EV_SESSION_RESUMED, 0, resumed_hook },
	{ EV_MAX, 0, NULL },
};

static const char *const migrations[] = { "040_push", NULL };

struct module push_module = {
	.name = "push",
	.folder = "push",
	.config_load = config_load,
	.config_free = config_free,
	.migrations = migrations,
	.iqs = iqs,
	.iq_results = results,
	.hooks = hooks,
	.disco_info = push_disco,
	.session_unbound = push_session_end,
	.account_removed = account_removed,
	.cleanup = push_cleanup,
};
