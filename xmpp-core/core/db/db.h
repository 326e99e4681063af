/*
 * db — PostgreSQL through libpq, never blocking the event loop.
 *
 * A small pool of connections driven by the loop (non-blocking libpq:
 * PQconnectStart/PQconnectPoll, PQsendQueryPrepared, PQconsumeInput,
 * PQflush).  Statements are constant SQL declared as struct db_stmt by
 * the module that owns them and prepared lazily on each connection; user
 * data only ever travels as parameters.  Requests wait in a bounded FIFO
 * when every connection is busy and fail (callback with an error) when the
 * queue is full, when they waited longer than the request timeout, or when
 * their connection breaks.  Broken connections reconnect with exponential
 * backoff.  A caller whose context dies first cancels its request.
 *
 * Migrations (xmpp-core/sql/NNN_name.sql, compiled in) are applied at start
 * by db_migrate() on a blocking connection, before the loop runs.
 */
#ifndef XMPP_DB_H
#define XMPP_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct ev_loop;
struct db;
struct db_req;

struct db_stmt {
	const char *sql;	/* constant text, $1.. parameters */
	int nparams;
	int id;			/* assigned on first use */
};

/* Result callback: res is NULL on failure (err says why); db frees res after. */
typedef void db_cb(void *arg, PGresult *res, const char *err);

struct db_conf {
	const char *conninfo;
	unsigned pool_size;
	unsigned max_queue;
	uint64_t request_timeout_ms;
};

struct db *db_new(struct ev_loop *loop, const struct db_conf *conf);
void db_free(struct db *db);

/*
 * Queues stmt with values (text format, NULL means SQL NULL).  The values
 * are copied.  Returns a handle for db_cancel, or NULL when the request
 * failed at once (cb has NOT been called then).
 */
struct db_req *db_query(struct db *db, struct db_stmt *stmt,
    const char *const *values, db_cb *cb, void *arg);
/*
 * The same, pinned to one connection chosen by key: requests with the same
 * key (an account) run in the order they were queued.
 */
struct db_req *db_query_key(struct db *db, const char *key,
    struct db_stmt *stmt, const char *const *values, db_cb *cb, void *arg);
/*
 * The connection a key is pinned to (0 .. db_pool_size() - 1): keys that
 * share one may go in one request (mam's archive batches), which then
 * stays in order with every other request of those keys.
 */
unsigned db_key_conn(const struct db *db, const char *key);
unsigned db_pool_size(const struct db *db);
/*
 * COPY ... FROM STDIN (stmt->sql, without parameters; sent as a simple
 * query, never prepared) with len bytes of rows in COPY's text format
 * (copied), pinned to key's connection like db_query_key.  The callback
 * gets the command's result (PQcmdTuples: the rows); the rows go in
 * whole or not at all.
 */
struct db_req *db_copy_key(struct db *db, const char *key, struct db_stmt *stmt,
    const char *data, size_t len, db_cb *cb, void *arg);
/* The callback will not be called; the query may still run. */
void db_cancel(struct db_req *r);

unsigned db_connected(const struct db *db);
size_t db_queued(const struct db *db);
/* Nothing queued and no request running (shutdown waits for this). */
bool db_idle(const struct db *db);

/* Blocking helpers for start-up and xmppctl only (never on the loop). */
PGconn *db_connect_sync(const char *conninfo, char *err, size_t errlen);
PGresult *db_exec_sync(PGconn *c, const struct db_stmt *stmt,
    const char *const *values, char *err, size_t errlen);
/* Applies pending migrations; 0, or -1 with message. */
int db_migrate(PGconn *c, char *err, size_t errlen);

/* Compiled-in migrations (generated from sql/). */
struct db_migration {
	int version;
	const char *name;
	const char *owner;	/* "core" or the module folder it came from */
	const char *sql;
};
extern const struct db_migration db_migrations[];
extern const size_t db_nmigrations;

#endif
