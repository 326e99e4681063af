/*
 * last — XEP-0012 for accounts.  See last.h.
 */
#include "last.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "c2s.h"
#include "db.h"
#include "iq.h"
#include "log.h"
#include "presence.h"
#include "roster.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define NS_LAST "jabber:iq:last"

static struct db_stmt st_set = {
	"INSERT INTO last_activity (host, username, seen, status) "
	"SELECT $1, $2, now(), $3 WHERE EXISTS (SELECT 1 FROM users "
	"WHERE host = $1 AND username = $2) "
	"ON CONFLICT (host, username) DO UPDATE SET seen = now(), status = $3", 3, 0 };
static struct db_stmt st_get = {
	"SELECT extract(epoch FROM now() - seen)::bigint, status FROM last_activity "
	"WHERE host = $1 AND username = $2", 2, 0 };

static void
set_done(void *arg, PGresult *res, const char *err)
{
	(void)arg;
	(void)res;
	if (err)
		log_warn("last: store failed: %s", err);
}

static void
last_session_end(struct user *u, const char *status)
{
	const char *v[3] = { srv.cfg->hosts[u->host], u->local, status ? status : "" };

	db_query_key(srv.db, u->bare, &st_set, v, set_done, NULL);
}

struct query {
	struct xml_node *iq;
	struct user *u;
};

static void
answer(struct query *q, const char *seconds, const char *status)
{
	struct xml_node *r = stanza_iq_result(q->iq), *x;

	x = xml_add(r, "query", NS_LAST);
	xml_set_attr(x, "seconds", seconds);
	if (status && status[0])
		xml_add_text(x, status, strlen(status));
	router_route(r);
}

static void
got_last(void *arg, PGresult *res, const char *err)
{
	struct query *q = arg;

	if (res == NULL) {
		(void)err;
		stanza_bounce(q->iq, "wait", "internal-server-error");
	} else if (PQntuples(res) == 0) {
		stanza_bounce(q->iq, "cancel", "service-unavailable");
	} else {
		answer(q, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	}
	router_user_unref(q->u);
	xml_free(q->iq);
	free(q);
}

static void
roster_ready(void *arg, struct user *u)
{
	struct query *q = arg;
	struct roster_item *it;
	struct jid from;
	char bare[2 * JID_PART_MAX + 2];
	const char *v[2];

	/* XEP-0012 §4: only for those allowed to see the account's presence */
	if (stanza_jid(q->iq, "from", &from) != 1 || USER_ROSTER(u) == NULL ||
	    !USER_ROSTER(u)->loaded || !USER_ROSTER(u)->exists) {
		stanza_bounce(q->iq, "cancel", "service-unavailable");
		goto out;
	}
	jid_bare(&from, bare, sizeof(bare));
	it = roster_find(USER_ROSTER(u), bare);
	if (strcmp(bare, u->bare) != 0 && (it == NULL || !it->sub_from)) {
		stanza_bounce(q->iq, "auth", "forbidden");
		goto out;
	}
	if (u->nsessions > 0) {
		answer(q, "0", NULL);
		goto out;
	}
	v[0] = srv.cfg->hosts[u->host];
	v[1] = u->local;
	if (db_query_key(srv.db, u->bare, &st_get, v, got_last, q) != NULL)
		return;
	stanza_bounce(q->iq, "wait", "resource-constraint");
out:
	router_user_unref(q->u);
	xml_free(q->iq);
	free(q);
}

static void
last_query(struct xml_node *iq, const struct jid *to, int host)
{
	struct query *q = calloc(1, sizeof(*q));

	if (q == NULL || (q->u = router_user_get(host, to->local)) == NULL) {
		stanza_bounce(iq, "wait", "resource-constraint");
		xml_free(iq);
		free(q);
		return;
	}
	q->iq = iq;
	roster_load(q->u, roster_ready, q);
}

/* XEP-0012 §4: a contact's last activity (subscription needed). */
static bool
account_iq(struct iq_req *r)
{
	if (strcmp(stanza_type(r->iq), "get") != 0)
		return false;
	last_query(r->iq, r->to, r->host);
	return true;
}

/* XEP-0012 §5: the server's uptime. */
static bool
server_iq(struct iq_req *r)
{
	struct xml_node *res, *rq;
	char buf[32];

	if (strcmp(stanza_type(r->iq), "get") != 0)
		return false;
	snprintf(buf, sizeof(buf), "%lld", (long long)(time(NULL) - srv.started));
	res = stanza_iq_result(r->iq);
	rq = xml_add(res, "query", "jabber:iq:last");
	xml_set_attr(rq, "seconds", buf);
	iq_reply(r->c, res);
	xml_free(r->iq);
	return true;
}

static void
last_user_offline(struct user *u, struct c2s *last)
{
	last_session_end(u, PSESS(last)->last_status);
}

static const struct iq_handler iqs[] = {
	{ "query", "jabber:iq:last", IQ_ACCOUNT, account_iq },
	{ "query", "jabber:iq:last", IQ_NOTO | IQ_HOST, server_iq },
	{ NULL, NULL, 0, NULL },
};

static const char *const features[] = { "jabber:iq:last", NULL };

struct module last_module = {
	.name = "last",
	.folder = "im",
	.iqs = iqs,
	.server_features = features,
	.user_offline = last_user_offline,
};
