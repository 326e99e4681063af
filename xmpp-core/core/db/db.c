/*
 * db — the asynchronous PostgreSQL pool.  See db.h.
 *
 * Each connection runs one request at a time (prepare if needed, then the
 * prepared statement); the pool spreads requests over idle connections
 * and keeps the rest in a FIFO.  libpq is used in non-blocking mode, so a
 * slow or dead database only delays the clients whose requests wait for
 * it, never the loop.
 */
#include "db.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corestats.h"
#include "daemon.h"
#include "evloop.h"
#include "log.h"

#define DB_MAX_STMTS 256
#define DB_MAX_PARAMS 32
#define DB_BACKOFF_MIN 100
#define DB_BACKOFF_MAX 10000

enum conn_state { C_DOWN, C_CONNECTING, C_IDLE, C_PREPARE, C_QUERY, C_COPY };
/* a COPY request: waiting for the server, its rows to be queued, its
 * end to be queued, both queued */
enum copy_stage { CP_WAIT, CP_PUT, CP_END, CP_DONE };

struct db_req {
	struct db_req *next;
	struct db *db;
	struct db_stmt *stmt;
	char **values;
	const char *copy;	/* COPY FROM STDIN: its rows (NULL: a statement) */
	size_t copylen;
	db_cb *cb;
	void *arg;
	uint64_t deadline;
	uint64_t t0_us;		/* queued (corestats.h) */
	bool cancelled;
};

struct db_queue {
	struct db_req *head, **tail;
};

struct db_conn {
	struct db *db;
	struct db_queue own;	/* requests pinned to this connection */
	PGconn *pg;
	enum conn_state state;
	struct ev_io io;
	struct ev_timer retry;
	uint64_t backoff;
	struct db_req *req;
	enum copy_stage copy;	/* of req, in C_COPY */
	PGresult *res;		/* first result of the current command */
	uint8_t prepared[DB_MAX_STMTS / 8];
};

struct db {
	struct ev_loop *loop;
	char *conninfo;
	unsigned max_queue;
	uint64_t timeout;
	struct db_conn *conns;
	unsigned nconns;
	struct db_queue shared;
	size_t queued;
	struct ev_timer sweep;
};

static void
q_init(struct db_queue *q)
{
	q->head = NULL;
	q->tail = &q->head;
}

static void
q_push(struct db_queue *q, struct db_req *r)
{
	r->next = NULL;
	*q->tail = r;
	q->tail = &r->next;
}

static struct db_req *
q_pop(struct db_queue *q)
{
	struct db_req *r = q->head;

	if (r) {
		q->head = r->next;
		if (q->head == NULL)
			q->tail = &q->head;
	}
	return r;
}

static int next_stmt_id;

static void conn_start(struct db_conn *c);
static void conn_dispatch(struct db_conn *c);
static void conn_copy_put(struct db_conn *c);
static void pool_kick(struct db *db);

static void
req_free(struct db_req *r)
{
	free(r);	/* the values are in the same block */
}

static void
req_finish(struct db_req *r, PGresult *res, const char *err)
{
	corestats_db_done(r->t0_us);
	if (r->cb)
		r->cb(r->arg, res, err);
	req_free(r);
}

static void
conn_watch(struct db_conn *c, uint32_t events)
{
	int fd = PQsocket(c->pg);

	if (c->io.active && c->io.fd != fd)
		ev_io_stop(c->db->loop, &c->io);
	c->io.fd = fd;
	if (fd >= 0 && ev_io_start(c->db->loop, &c->io, events) == -1)
		log_err("db: epoll: %s", strerror(errno));
}

static void
conn_down(struct db_conn *c, const char *why)
{
	struct db_req *r = c->req;

	if (c->state != C_CONNECTING || c->backoff <= DB_BACKOFF_MIN)
		log_warn("db: connection lost: %s", why);
	if (c->io.active)
		ev_io_stop(c->db->loop, &c->io);
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
	PQclear(c->res);
	c->res = NULL;
	c->req = NULL;
	c->state = C_DOWN;
	memset(c->prepared, 0, sizeof(c->prepared));
	if (r)
		req_finish(r, NULL, "database connection lost");
	ev_timer_start(c->db->loop, &c->retry, c->backoff);
	c->backoff = c->backoff * 2 > DB_BACKOFF_MAX ? DB_BACKOFF_MAX : c->backoff * 2;
}

static void
conn_flush(struct db_conn *c)
{
	int rc = PQflush(c->pg);

	if (rc == -1)
		conn_down(c, PQerrorMessage(c->pg));
	else
		conn_watch(c, rc == 1 ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static void
conn_send(struct db_conn *c)
{
	struct db_req *r = c->req;
	int id = r->stmt->id;
	char name[16];
	int ok;

	if (r->copy) {
		/* COPY is a simple-protocol command: its rows follow its answer */
		c->state = C_COPY;
		c->copy = CP_WAIT;
		ok = PQsendQuery(c->pg, r->stmt->sql);
		goto sent;
	}
	snprintf(name, sizeof(name), "s%d", id);
	if (!(c->prepared[id / 8] & (1u << (id % 8)))) {
		c->state = C_PREPARE;
		ok = PQsendPrepare(c->pg, name, r->stmt->sql, r->stmt->nparams, NULL);
	} else {
		c->state = C_QUERY;
		ok = PQsendQueryPrepared(c->pg, name, r->stmt->nparams,
		    (const char *const *)r->values, NULL, NULL, 0);
	}
sent:
	if (!ok) {
		conn_down(c, PQerrorMessage(c->pg));
		return;
	}
	conn_flush(c);
}

/* A command finished (PQgetResult returned NULL); res is its first result. */
static void
conn_command_done(struct db_conn *c)
{
	PGresult *res = c->res;
	struct db_req *r = c->req;
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	const char *err;

	c->res = NULL;
	if (c->state == C_PREPARE) {
		if (st == PGRES_COMMAND_OK) {
			c->prepared[r->stmt->id / 8] |= (uint8_t)(1u << (r->stmt->id % 8));
			PQclear(res);
			conn_send(c);
			return;
		}
	}
	c->req = NULL;
	c->state = C_IDLE;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		req_finish(r, res, NULL);
	} else {
		err = res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg);
		log_warn("db: query failed: %s", err);
		req_finish(r, NULL, err);
	}
	PQclear(res);
	conn_dispatch(c);
}

/* A COPY whose rows or end libpq has not taken yet. */
static bool
copy_unsent(const struct db_conn *c)
{
	return c->state == C_COPY && (c->copy == CP_PUT || c->copy == CP_END);
}

/* The COPY's rows and its end, once libpq has room for them. */
static void
conn_copy_put(struct db_conn *c)
{
	struct db_req *r = c->req;
	int rc = 1;

	if (c->copy == CP_PUT &&
	    (rc = PQputCopyData(c->pg, r->copy, (int)r->copylen)) == 1)
		c->copy = CP_END;
	if (c->copy == CP_END && (rc = PQputCopyEnd(c->pg, NULL)) == 1)
		c->copy = CP_DONE;
	if (rc == -1) {
		conn_down(c, PQerrorMessage(c->pg));
		return;
	}
	/* 0: libpq's buffer is full; once writable, this runs again */
	conn_flush(c);
	if (copy_unsent(c))
		conn_watch(c, EPOLLIN | EPOLLOUT);
}

static void
conn_read(struct db_conn *c)
{
	PGresult *res;

	if (!PQconsumeInput(c->pg)) {
		conn_down(c, PQerrorMessage(c->pg));
		return;
	}
	while (c->state == C_PREPARE || c->state == C_QUERY || c->state == C_COPY) {
		if (copy_unsent(c))
			return;		/* the rows wait for room to be queued */
		if (PQisBusy(c->pg))
			return;
		res = PQgetResult(c->pg);
		if (res == NULL) {
			conn_command_done(c);
			continue;
		}
		if (c->state == C_COPY && c->copy == CP_WAIT &&
		    PQresultStatus(res) == PGRES_COPY_IN) {
			PQclear(res);
			c->copy = CP_PUT;
			conn_copy_put(c);
			continue;
		}
		if (c->res == NULL)
			c->res = res;
		else
			PQclear(res);
	}
	/* idle: drain notices; a closed socket shows up as an error */
	if (c->pg && PQstatus(c->pg) == CONNECTION_BAD)
		conn_down(c, PQerrorMessage(c->pg));
}

static void
conn_poll_connect(struct db_conn *c)
{
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		conn_watch(c, EPOLLIN);
		break;
	case PGRES_POLLING_WRITING:
		conn_watch(c, EPOLLOUT);
		break;
	case PGRES_POLLING_OK:
		if (PQsetnonblocking(c->pg, 1) == -1) {
			conn_down(c, PQerrorMessage(c->pg));
			return;
		}
		if (c->backoff > DB_BACKOFF_MIN * 2)
			log_notice("db: connected");
		c->backoff = DB_BACKOFF_MIN;
		c->state = C_IDLE;
		conn_watch(c, EPOLLIN);
		conn_dispatch(c);
		break;
	default:
		conn_down(c, PQerrorMessage(c->pg));
		break;
	}
}

static void
conn_io(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	struct db_conn *c = io->data;

	(void)loop;
	if (c->state == C_CONNECTING) {
		conn_poll_connect(c);
		return;
	}
	if (revents & EPOLLOUT) {
		conn_flush(c);
		if (c->state == C_DOWN)
			return;
		if (copy_unsent(c)) {
			conn_copy_put(c);
			if (c->state == C_DOWN)
				return;
		}
	}
	if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_read(c);
}

static void
conn_start(struct db_conn *c)
{
	c->pg = PQconnectStart(c->db->conninfo);
	if (c->pg == NULL) {
		conn_down(c, "out of memory");
		return;
	}
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		conn_down(c, PQerrorMessage(c->pg));
		return;
	}
	c->state = C_CONNECTING;
	conn_watch(c, EPOLLOUT);
}

static void
conn_retry(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	conn_start(t->data);
}

static void
conn_dispatch(struct db_conn *c)
{
	struct db *db = c->db;
	struct db_req *r;

	while (c->state == C_IDLE) {
		if ((r = q_pop(&c->own)) == NULL && (r = q_pop(&db->shared)) == NULL)
			break;
		db->queued--;
		if (r->cancelled) {	/* cancelled while queued */
			req_free(r);
			continue;
		}
		c->req = r;
		conn_send(c);
	}
}

static void
pool_kick(struct db *db)
{
	for (unsigned i = 0; i < db->nconns && db->shared.head; i++)
		if (db->conns[i].state == C_IDLE)
			conn_dispatch(&db->conns[i]);
}

static void
sweep_queue(struct db *db, struct db_queue *q, uint64_t now)
{
	struct db_req **pp = &q->head, *r;

	while ((r = *pp) != NULL) {
		if (r->deadline > now) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		db->queued--;
		req_finish(r, NULL, "database not available");
	}
	q->tail = pp;
}

/* Fails queued requests that waited longer than the request timeout. */
static void
pool_sweep(struct ev_loop *loop, struct ev_timer *t)
{
	struct db *db = t->data;
	uint64_t now = ev_now(loop);

	sweep_queue(db, &db->shared, now);
	for (unsigned i = 0; i < db->nconns; i++)
		sweep_queue(db, &db->conns[i].own, now);
	ev_timer_start(loop, &db->sweep, 500);
}

struct db *
db_new(struct ev_loop *loop, const struct db_conf *conf)
{
	struct db *db = calloc(1, sizeof(*db));

	if (db == NULL)
		return NULL;
	db->loop = loop;
	db->conninfo = strdup(conf->conninfo);
	db->max_queue = conf->max_queue ? conf->max_queue : 10000;
	db->timeout = conf->request_timeout_ms ? conf->request_timeout_ms : 10000;
	db->nconns = conf->pool_size ? conf->pool_size : 4;
	db->conns = calloc(db->nconns, sizeof(*db->conns));
	q_init(&db->shared);
	if (db->conninfo == NULL || db->conns == NULL) {
		free(db->conninfo);
		free(db->conns);
		free(db);
		return NULL;
	}
	for (unsigned i = 0; i < db->nconns; i++) {
		struct db_conn *c = &db->conns[i];

		c->db = db;
		q_init(&c->own);
		c->backoff = DB_BACKOFF_MIN;
		ev_io_init(&c->io, -1, conn_io, c);
		ev_timer_init(&c->retry, conn_retry, c);
		conn_start(c);
	}
	ev_timer_init(&db->sweep, pool_sweep, db);
	ev_timer_start(loop, &db->sweep, 500);
	return db;
}

void
db_free(struct db *db)
{
	struct db_req *r;

	if (db == NULL)
		return;
	for (unsigned i = 0; i < db->nconns; i++) {
		struct db_conn *c = &db->conns[i];

		if (c->io.active)
			ev_io_stop(db->loop, &c->io);
		ev_timer_stop(db->loop, &c->retry);
		if (c->req)
			req_finish(c->req, NULL, "shutting down");
		PQclear(c->res);
		if (c->pg)
			PQfinish(c->pg);
	}
	while ((r = q_pop(&db->shared)) != NULL)
		req_finish(r, NULL, "shutting down");
	for (unsigned i = 0; i < db->nconns; i++)
		while ((r = q_pop(&db->conns[i].own)) != NULL)
			req_finish(r, NULL, "shutting down");
	ev_timer_stop(db->loop, &db->sweep);
	free(db->conns);
	free(db->conninfo);
	free(db);
}

static unsigned
key_hash(const char *key)
{
	unsigned h = 2166136261u;

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h;
}

unsigned
db_key_conn(const struct db *db, const char *key)
{
	return key_hash(key) % db->nconns;
}

unsigned
db_pool_size(const struct db *db)
{
	return db->nconns;
}

static void
req_init(struct db_req *r, struct db *db, struct db_stmt *stmt, db_cb *cb,
    void *arg)
{
	memset(r, 0, sizeof(*r));
	r->db = db;
	r->stmt = stmt;
	r->cb = cb;
	r->arg = arg;
	r->deadline = ev_now(db->loop) + db->timeout;
	r->t0_us = corestats_now_us();
}

/* r goes to key's connection (NULL: any). */
static void
req_queue(struct db *db, const char *key, struct db_req *r)
{
	struct db_conn *c;

	db->queued++;
	if (key) {
		c = &db->conns[db_key_conn(db, key)];
		q_push(&c->own, r);
		if (c->state == C_IDLE)
			conn_dispatch(c);
	} else {
		q_push(&db->shared, r);
		pool_kick(db);
	}
}

struct db_req *
db_copy_key(struct db *db, const char *key, struct db_stmt *stmt,
    const char *data, size_t len, db_cb *cb, void *arg)
{
	struct db_req *r;

	if (db->queued >= db->max_queue || len > INT_MAX)
		return NULL;
	if ((r = malloc(sizeof(*r) + len)) == NULL)
		return NULL;
	req_init(r, db, stmt, cb, arg);
	r->copy = memcpy(r + 1, data, len);
	r->copylen = len;
	req_queue(db, key, r);
	return r;
}

struct db_req *
db_query_key(struct db *db, const char *key, struct db_stmt *stmt,
    const char *const *values, db_cb *cb, void *arg)
{
	struct db_req *r;
	size_t len[DB_MAX_PARAMS], total;
	char *p;

	if (db->queued >= db->max_queue)
		return NULL;
	if (stmt->id == 0) {	/* first use: checked once per statement */
		if (stmt->nparams > DB_MAX_PARAMS) {
			log_err("db: a statement has %d parameters, at most %d are supported",
			    stmt->nparams, DB_MAX_PARAMS);
			return NULL;
		}
		if (next_stmt_id + 1 >= DB_MAX_STMTS)
			return NULL;
		stmt->id = ++next_stmt_id;
	}
	/* the request, its value pointers and copies in one block */
	total = sizeof(*r) + (size_t)stmt->nparams * sizeof(char *);
	for (int i = 0; i < stmt->nparams; i++)
		total += len[i] = values[i] ? strlen(values[i]) + 1 : 0;
	if ((r = malloc(total)) == NULL)
		return NULL;
	req_init(r, db, stmt, cb, arg);
	if (stmt->nparams > 0) {
		r->values = (char **)(r + 1);
		p = (char *)(r->values + stmt->nparams);
		for (int i = 0; i < stmt->nparams; i++) {
			if (values[i] == NULL) {
				r->values[i] = NULL;
				continue;
			}
			r->values[i] = memcpy(p, values[i], len[i]);
			p += len[i];
		}
	}
	req_queue(db, key, r);
	return r;
}

struct db_req *
db_query(struct db *db, struct db_stmt *stmt, const char *const *values,
    db_cb *cb, void *arg)
{
	return db_query_key(db, NULL, stmt, values, cb, arg);
}

void
db_cancel(struct db_req *r)
{
	if (r) {
		r->cb = NULL;
		r->cancelled = true;
	}
}

unsigned
db_connected(const struct db *db)
{
	unsigned n = 0;

	for (unsigned i = 0; i < db->nconns; i++)
		if (db->conns[i].state >= C_IDLE)
			n++;
	return n;
}

size_t
db_queued(const struct db *db)
{
	return db->queued;
}

bool
db_idle(const struct db *db)
{
	if (db->queued)
		return false;
	for (unsigned i = 0; i < db->nconns; i++)
		if (db->conns[i].req != NULL)
			return false;
	return true;
}

/* ---- blocking helpers: start-up and xmppctl ---- */

PGconn *
db_connect_sync(const char *conninfo, char *err, size_t errlen)
{
	PGconn *c = PQconnectdb(conninfo);

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		snprintf(err, errlen, "%s", PQerrorMessage(c));
		err[strcspn(err, "\n")] = '\0';
		PQfinish(c);
		return NULL;
	}
	return c;
}

PGresult *
db_exec_sync(PGconn *c, const struct db_stmt *stmt, const char *const *values,
    char *err, size_t errlen)
{
	PGresult *res = PQexecParams(c, stmt->sql, stmt->nparams, NULL, values,
	    NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(c));
		err[strcspn(err, "\n")] = '\0';
		PQclear(res);
		return NULL;
	}
	return res;
}

static int
exec_simple(PGconn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(c));
		err[strcspn(err, "\n")] = '\0';
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

int
db_migrate(PGconn *c, char *err, size_t errlen)
{
	static const struct db_stmt has = {
		"SELECT 1 FROM schema_migrations WHERE version = $1", 1, 0 };
	static const struct db_stmt mark = {
		"INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, 0 };
	char ver[16], e2[256];
	PGresult *res;
	int done;

	if (exec_simple(c, "SET client_min_messages = warning;"
	    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
	    " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
	    err, errlen) == -1)
		return -1;
	for (size_t i = 0; i < db_nmigrations; i++) {
		const struct db_migration *m = &db_migrations[i];
		const char *v[2] = { ver, m->name };

		snprintf(ver, sizeof(ver), "%d", m->version);
		/* one transaction per migration; the lock serialises servers */
		if (exec_simple(c, "BEGIN; SELECT pg_advisory_xact_lock(5222)", err, errlen) == -1)
			return -1;
		if ((res = db_exec_sync(c, &has, v, err, errlen)) == NULL)
			goto fail;
		done = PQntuples(res) > 0;
		PQclear(res);
		if (!done) {
			/* a migration may rewrite a large table (023: the
			 * archive, ~9 s per million rows): systemd's start
			 * time-out is extended while it runs */
			log_info("db: applying migration %s", m->name);
			daemon_notify("EXTEND_TIMEOUT_USEC=%llu\nSTATUS=applying database "
			    "migration %s", 3600ULL * 1000000, m->name);
			if (exec_simple(c, m->sql, err, errlen) == -1)
				goto fail;
			if ((res = db_exec_sync(c, &mark, v, err, errlen)) == NULL)
				goto fail;
			PQclear(res);
			log_notice("db: applied migration %s", m->name);
		}
		if (exec_simple(c, "COMMIT", err, errlen) == -1)
			return -1;
	}
	return 0;
fail:
	exec_simple(c, "ROLLBACK", e2, sizeof(e2));
	return -1;
}
