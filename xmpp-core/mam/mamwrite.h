/*
 * mamwrite — the archive's writer: rows go to PostgreSQL in the
 * background, in batches, and whoever promised something on the strength
 * of a row (a stream-management ack, offline storage) waits until it is
 * committed.  Private to mam/.
 *
 * Each row joins the batch of the database connection its account is
 * pinned to (db_key_conn), so a later query of the account on that
 * connection runs after it, and one batch only ever touches the stats
 * rows of its own accounts (no lock order between connections).  A batch
 * is one COPY (when every account's users.uid is known from an earlier
 * batch's answer) or one multi-row statement (unnest of arrays: one
 * round trip, one commit, uids looked up): sent when [mam] batch_delay_ms has passed since its first row
 * and the previous batch of its connection is back, at once when it holds
 * [mam] batch_rows rows or BATCH_BYTES.  A batch that fails (connection
 * lost, PostgreSQL restarting, a statement error) is sent again after a
 * back-off until it is committed; ids make that idempotent (ON CONFLICT
 * DO NOTHING).
 *
 * Every row has a sequence number.  The durable mark is the highest n
 * such that every row numbered n or lower is committed; mamwrite_wait()
 * calls back once the mark reaches a given number.  Rows not yet committed
 * count in bytes against [mam] max_pending: above it, a client whose
 * message made rows is not read any further until they are down to half.
 */
#ifndef XMPP_MAMWRITE_H
#define XMPP_MAMWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct c2s;

/* One row's values (text, as PostgreSQL reads them). */
struct mamwrite_row {
	const char *id, *host, *local, *with_bare, *with_res, *stanza;
	uint64_t idn;		/* id as a number */
	bool outgoing;
};

/* Adds a row of account bare: 0, or -1 (out of memory; not archived). */
int mamwrite_add(const char *bare, const struct mamwrite_row *r);
/* Sends bare's collected rows now (a query of the account follows). */
void mamwrite_flush(const char *bare);

/* The number of the last row handed out so far (written or not). */
uint64_t mamwrite_mark(void);
/* Whether every row up to mark is committed. */
bool mamwrite_durable(uint64_t mark);
/* fn(arg) once mark is durable (at once, inside the call, if it is):
 * 0, or -1 (out of memory: not called).  durable is false only when the
 * server stops first. */
int mamwrite_wait(uint64_t mark, void (*fn)(void *arg, bool durable), void *arg);

/* A row written elsewhere (mam's decided inserts) that the mark must wait
 * for: a ticket, and its end once committed. */
uint64_t mamwrite_ticket(size_t bytes);
void mamwrite_ticket_done(uint64_t ticket, size_t bytes);

/* A row of host/local stored elsewhere (st_insert_if): the counters
 * take it in with the account's next fold (mam.h MAM_SQL_FOLD). */
void mamwrite_fold_later(const char *bare, const char *host, const char *local);
/* Such a row on its way (begin) and answered (end): while any is, the
 * account's connection folds in SQL only (a tallied fold could move
 * counted_to past it). */
void mamwrite_if_begin(const char *bare);
void mamwrite_if_end(const char *bare);
/*
 * Account removal (accountrm): host/local's key is not used for COPY
 * batches from now on, and done(arg, NULL) once every row made so far is
 * committed (its rows then go with its account); mamwrite_removed once
 * it is gone or its removal failed (registry account_kept).
 */
void mamwrite_removing(const char *host, const char *local,
    void (*done)(void *arg, const char *err), void *arg);
void mamwrite_removed(const char *host, const char *local);
/* Above max_pending, c is not read until the writes catch up. */
void mamwrite_throttle(struct c2s *c);

/* SIGTERM: every collected row is sent now. */
void mamwrite_drain(void);
/* The loop has ended: nothing is sent again; waiters are told. */
void mamwrite_stop(void);
void mamwrite_cleanup(void);
/* Statistics for tests and xmppctl: rows written, batches, retries, of
 * those batches the ones that went as COPY, and the folds that counted
 * rows in SQL and that added tallies (st_fold_tally). */
void mamwrite_stats(uint64_t *rows, uint64_t *batches, uint64_t *retries,
    uint64_t *copies, uint64_t *folds, uint64_t *tallied);

#endif
