/*
 * offline — offline message storage.  See offline.h.
 */
#include "offline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "c2s.h"
#include "db.h"
#include "evloop.h"
#include "log.h"
#include "imconf.h"
#include "registry.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"

/*
 * Delivery goes in batches, each taken (deleted) only when the client's
 * output buffer has room, so a full queue of big messages never pushes a
 * session over max_output_buffer and nothing is taken that cannot be sent.
 */
#define BATCH 50
#define BATCH_STR "50"
#define DRAIN_WAIT_MS 100
#define DRAIN_TRIES 100

struct fetch {
	struct c2s *c;
	struct ev_timer wait;
	unsigned tries;
	unsigned total;
};

static void fetch_next(struct fetch *f);

static struct db_stmt st_store = {
	"WITH u AS (SELECT 1 FROM users WHERE host = $1 AND username = $2), "
	"ins AS (INSERT INTO offline (host, username, stanza) "
	"SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM u) AND "
	"(SELECT count(*) FROM offline WHERE host = $1 AND username = $2) < $4::integer "
	"RETURNING 1) "
	"SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM ins)", 4, 0 };
static struct db_stmt st_take = {
	"DELETE FROM offline WHERE id IN (SELECT id FROM offline WHERE host = $1 "
	"AND username = $2 ORDER BY id LIMIT " BATCH_STR ") RETURNING id, stanza", 2, 0 };

/* Worth storing: anything beyond chat-state notifications. */
static int
storable(const struct xml_node *n)
{
	for (struct xml_node *c = xml_first_elem(n); c; c = xml_next_elem(c))
		if (strcmp(c->ns, NS_CHATSTATES) != 0)
			return 1;
	return 0;
}

static void
stored(void *arg, PGresult *res, const char *err)
{
	struct xml_node *n = arg;

	if (res == NULL) {
		log_warn("offline: storing failed: %s", err);
		stanza_bounce(n, "wait", "internal-server-error");
	} else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		/* RFC 6121 §8.5.2.2.1: no such account */
		stanza_bounce(n, "cancel", "service-unavailable");
	} else if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
		/* XEP-0160 §3: storage full */
		stanza_bounce(n, "cancel", "service-unavailable");
	} else if (hooks_any(EV_OFFLINE_STORED)) {
		struct hook_args a = { .n = n };

		(void)hooks_run(EV_OFFLINE_STORED, &a);
	}
	xml_free(n);
}

void
offline_store(struct xml_node *n, int host, const char *local)
{
	char stamp[32], max[16], key[2 * JID_PART_MAX + 2];
	struct xml_node *d;
	struct buf b;
	time_t now = time(NULL);
	struct tm tm;
	const char *v[4];

	if (!storable(n)) {
		xml_free(n);
		return;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if ((d = xml_add_with_text(n, "delay", NS_DELAY, "Offline Storage")) != NULL) {
		xml_set_attr(d, "from", srv.cfg->hosts[host]);
		xml_set_attr(d, "stamp", stamp);
	}
	buf_init(&b);
	if (d == NULL || xml_serialize(&b, n, NS_CLIENT) == -1) {
		buf_free(&b);
		stanza_bounce(n, "wait", "resource-constraint");
		xml_free(n);
		return;
	}
	/* the bounce, if any, must not carry our delay element */
	xml_detach(d);
	xml_free(d);
	snprintf(max, sizeof(max), "%u", offline_cfg()->max_messages);
	v[0] = srv.cfg->hosts[host];
	v[1] = local;
	v[2] = b.p;
	v[3] = max;
	/* one connection per account keeps the messages in sending order */
	snprintf(key, sizeof(key), "%s@%s", local, srv.cfg->hosts[host]);
	if (db_query_key(srv.db, key, &st_store, v, stored, n) == NULL) {
		stanza_bounce(n, "wait", "resource-constraint");
		xml_free(n);
	}
	buf_free(&b);
}

struct row {
	long long id;
	int idx;
};

static int
row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void
fetch_end(struct fetch *f)
{
	struct c2s *c = f->c;

	if (f->total && !c->dead)
		log_info("c2s %llu: delivered %u offline message%s to %s",
		    (unsigned long long)c->id, f->total, f->total == 1 ? "" : "s", c->full);
	ev_timer_stop(srv.loop, &f->wait);
	free(f);
	c2s_unref(c);
}

static void
put_back(struct c2s *c, PGresult *res, const struct row *rows, int n)
{
	char max[16];
	const char *v[4];

	/* the session went away meanwhile: store them again, in order */
	snprintf(max, sizeof(max), "%u", offline_cfg()->max_messages + (unsigned)n);
	v[0] = srv.cfg->hosts[c->host];
	v[1] = c->local;
	v[3] = max;
	for (int i = 0; i < n; i++) {
		v[2] = PQgetvalue(res, rows[i].idx, 1);
		db_query_key(srv.db, c->user ? c->user->bare : c->local, &st_store, v,
		    NULL, NULL);
	}
}

static void
taken(void *arg, PGresult *res, const char *err)
{
	struct fetch *f = arg;
	struct c2s *c = f->c;
	struct row *rows;
	int n;

	if (res == NULL) {
		log_warn("offline: fetching for %s failed: %s", c->local ? c->local : "?", err);
		fetch_end(f);
		return;
	}
	n = PQntuples(res);
	if (n == 0 || (rows = calloc((size_t)n, sizeof(*rows))) == NULL) {
		fetch_end(f);
		return;
	}
	for (int i = 0; i < n; i++) {
		rows[i].id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		rows[i].idx = i;
	}
	qsort(rows, (size_t)n, sizeof(*rows), row_cmp);
	if (c->dead || c->user == NULL) {
		put_back(c, res, rows, n);
		free(rows);
		fetch_end(f);
		return;
	}
	for (int i = 0; i < n; i++)
		c2s_send_stanza_raw(c, PQgetvalue(res, rows[i].idx, 1),
		    (size_t)PQgetlength(res, rows[i].idx, 1));
	free(rows);
	f->total += (unsigned)n;
	if (n < BATCH) {
		fetch_end(f);
		return;
	}
	fetch_next(f);
}

static void
wait_cb(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	fetch_next(t->data);
}

static void
fetch_next(struct fetch *f)
{
	struct c2s *c = f->c;
	const char *v[2];

	if (c->dead || c->user == NULL) {
		fetch_end(f);
		return;
	}
	if (buf_pending(&c->conn.out) > srv.cfg->max_out_buffer / 2) {
		/* the client reads slowly: the rest waits for room (or a later login) */
		if (++f->tries > DRAIN_TRIES) {
			fetch_end(f);
			return;
		}
		ev_timer_start(srv.loop, &f->wait, DRAIN_WAIT_MS);
		return;
	}
	v[0] = srv.cfg->hosts[c->host];
	v[1] = c->local;
	if (db_query_key(srv.db, c->user->bare, &st_take, v, taken, f) == NULL)
		fetch_end(f);
}

void
offline_deliver(struct c2s *c)
{
	struct fetch *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return;
	f->c = c;
	c2s_ref(c);
	ev_timer_init(&f->wait, wait_cb, f);
	fetch_next(f);
}

static const char *const features[] = { "msgoffline", NULL };

struct module offline_module = {
	.name = "offline",
	.folder = "im",
	.config_load = offline_config_load,
	.config_free = im_config_free,
	.server_features = features,
};
