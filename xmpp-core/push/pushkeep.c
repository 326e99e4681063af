/*
 * pushkeep — push sessions: the live sessions that enabled push, what
 * stream management tells about them (detached, a stanza while detached,
 * resumed) and mod_push_keepalive's longer resume timeout with its
 * wake-up.  See push.h.
 */
#include "pushint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "hmap.h"
#include "log.h"
#include "server.h"
#include "sm.h"

struct sess {
	char key[64];
	struct c2s *c;			/* the connection, or the detached session */
	struct push_acct *a;
	bool kept;			/* resume timeout extended (keepalive) */
	struct ev_timer wake;
};

static struct hmap sessions;	/* session key -> struct sess */

static struct sess *
sess_find(const struct c2s *c)
{
	char key[64];

	if (sessions.n == 0)
		return NULL;
	push_session_key(c, key, sizeof(key));
	return hmap_get(&sessions, key);
}

bool
push_session_online(const char *key)
{
	const struct sess *s = sessions.n ? hmap_get(&sessions, key) : NULL;

	return s != NULL && !s->c->detached;
}

static void
wake_cb(struct ev_loop *loop, struct ev_timer *t);

void
push_session_enabled(struct c2s *c)
{
	struct sess *s;
	struct push_acct *a;

	if (sess_find(c) != NULL || (a = push_acct_get(c->host, c->local)) == NULL ||
	    (s = calloc(1, sizeof(*s))) == NULL)
		return;
	push_session_key(c, s->key, sizeof(s->key));
	s->c = c;
	s->a = a;
	ev_timer_init(&s->wake, wake_cb, s);
	if (hmap_put(&sessions, s->key, s) == -1) {
		free(s);
		return;
	}
	a->pins++;
}

/* Events for the registrations a push session enabled. */
static void
sess_event(struct sess *s, enum push_kind kind, const char *sender, const char *body)
{
	s->a->used = ev_now(srv.loop);
	for (struct push_reg *r = s->a->regs; r; r = r->next)
		if (strcmp(r->session, s->key) == 0)
			push_reg_event(r, kind, sender, body);
}

static bool
sess_has_regs(const struct sess *s)
{
	for (const struct push_reg *r = s->a->regs; r; r = r->next)
		if (strcmp(r->session, s->key) == 0)
			return true;
	return false;
}

struct scan {
	unsigned msgs, subs;
	char sender[JID_STR_MAX + 1];
	char *body;
};

static void
scan_one(void *arg, const char *p, size_t len)
{
	struct scan *sc = arg;
	char sender[JID_STR_MAX + 1], *body;
	enum push_kind k = push_classify_raw(p, len, sender, &body);

	if (k == PUSH_MESSAGE) {
		sc->msgs++;
		snprintf(sc->sender, sizeof(sc->sender), "%s", sender);
		free(sc->body);
		sc->body = body;
		return;
	}
	if (k == PUSH_SUBSCRIBE)
		sc->subs++;
	free(body);
}

void
push_detached(struct c2s *c)
{
	const struct push_config *pc = push_conf();
	struct sess *s = sess_find(c);
	struct scan sc = { 0 };

	if (s == NULL)
		return;
	s->c = c;
	if (!pc->enabled || !sess_has_regs(s))
		return;
	/* as ejabberd: what the client may have missed is notified at once;
	 * a session that missed no message is kept for longer instead */
	sm_unacked_each(c, scan_one, &sc);
	for (struct push_reg *r = s->a->regs; r; r = r->next) {
		if (strcmp(r->session, s->key) != 0)
			continue;
		r->msgs += sc.msgs;
		r->subs += sc.subs;
		if (sc.msgs) {
			push_set_str(&r->sender, sc.sender[0] ? sc.sender : NULL);
			push_set_str(&r->body, sc.body);
		}
		if (sc.msgs || sc.subs)
			push_reg_schedule(r);
	}
	free(sc.body);
	if (sc.msgs == 0 && pc->keep_ms > sm_resume_timeout()) {
		sm_set_timeout(c, pc->keep_ms);
		s->kept = true;
		if (pc->wake && pc->keep_ms > pc->wake_before_ms)
			ev_timer_start(srv.loop, &s->wake, pc->keep_ms - pc->wake_before_ms);
		log_info("c2s %llu: %s: push enabled: resumable for %llu s",
		    (unsigned long long)c->id, c->full,
		    (unsigned long long)(pc->keep_ms / 1000));
	}
}

void
push_detached_stanza(struct c2s *c, const char *p, size_t len)
{
	char sender[JID_STR_MAX + 1], *body;
	enum push_kind k;
	struct sess *s;

	if (!push_conf()->enabled || (s = sess_find(c)) == NULL)
		return;
	if ((k = push_classify_raw(p, len, sender, &body)) == PUSH_NONE)
		return;
	sess_event(s, k, sender, body);
	free(body);
	/* mod_push_keepalive: once a message was notified, the normal timeout
	 * runs, so a client that does not come back ends as usual */
	if (k == PUSH_MESSAGE && s->kept) {
		s->kept = false;
		ev_timer_stop(srv.loop, &s->wake);
		sm_set_timeout(c, sm_resume_timeout());
		log_info("c2s %llu: %s: message while detached: resumable for %llu s",
		    (unsigned long long)c->id, c->full,
		    (unsigned long long)(sm_resume_timeout() / 1000));
	}
}

static void
wake_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct sess *s = t->data;

	(void)loop;
	if (!s->c->detached)
		return;
	log_info("c2s %llu: %s: waking it before its session times out",
	    (unsigned long long)s->c->id, s->c->full);
	for (struct push_reg *r = s->a->regs; r; r = r->next)
		if (strcmp(r->session, s->key) == 0)
			push_reg_schedule(r);
}

void
push_resumed(struct c2s *c)
{
	struct sess *s = sess_find(c);

	if (s == NULL)
		return;
	s->c = c;
	s->kept = false;
	ev_timer_stop(srv.loop, &s->wake);
	/* the device is back: nothing is pending for it any more */
	for (struct push_reg *r = s->a->regs; r; r = r->next)
		if (strcmp(r->session, s->key) == 0)
			push_reg_reset(r);
}

void
push_session_end(struct c2s *c)
{
	struct sess *s = sess_find(c);

	if (s == NULL)
		return;
	ev_timer_stop(srv.loop, &s->wake);
	hmap_del(&sessions, s->key);
	s->a->pins--;
	s->a->used = ev_now(srv.loop);
	free(s);
}

void
push_sessions_cleanup(void)
{
	struct hmap_ent *e;
	size_t i;

	for (e = hmap_first(&sessions, &i); e; e = hmap_next(&sessions, e, &i)) {
		ev_timer_stop(srv.loop, &((struct sess *)e->val)->wake);
		free(e->val);
	}
	hmap_free(&sessions);
}
