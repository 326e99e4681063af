/*
 * mamwrite — archive rows to PostgreSQL in batches, the durable mark and
 * the backpressure on senders.  See mamwrite.h.
 */
#include "mamwrite.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "c2s.h"
#include "db.h"
#include "evloop.h"
#include "hmap.h"
#include "jid.h"
#include "log.h"
#include "mam.h"
#include "server.h"

/* a batch also goes at once when its stanzas reach this */
#define BATCH_BYTES (1024 * 1024)
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000
#define NCOLS 7		/* a row's values */
#define COL_H NCOLS		/* the batch's accounts: hosts, */
#define COL_L (NCOLS + 1)	/* local parts, */
#define COL_K (NCOLS + 2)	/* and per row its account's place in them */
#define NPARAMS (COL_K + 1)
/* how long after a commit the counters take in the rows it added */
#define FOLD_MS 1000
/* accounts whose users.uid is kept (then all are forgotten), and how long */
#define UIDS_MAX 65536
#define UIDS_MS (5 * 60 * 1000)

/*
 * One statement for the rows of several accounts (all pinned to one
 * connection); rows of accounts that are gone are left out (022: no
 * foreign key checks every row).  The first attempt only inserts: the
 * counters (mam_stats, mam_with_stats) take in rows above an account's
 * counted_to later, in a fold (MAM_SQL_FOLD), and a query counts those
 * rows itself until then.  Each row names its account by its place k in
 * the batch's account list ($8, $9), whose keys (users.uid, 0 for an
 * account that is gone) are looked up once per account, not per row,
 * and taken by subscript: no join of the rows with users.
 *
 * An attempt after a failure, or of a batch that a fold of its
 * connection may have overtaken, skips ids already stored (its commit's
 * answer may have been lost) and adds the rows it really inserted below
 * their account's counted_to to the counters, which the fold did not
 * see.
 */
#define INSERT_ROWS							\
	"INSERT INTO mam_archive (id, host, username, with_bare, with_res, outgoing, " \
	"stanza, owner) SELECT u.*, x.uid FROM unnest($1::bigint[], $2::text[], " \
	"$3::text[], $4::text[], $5::text[], $6::boolean[], $7::text[]) AS " \
	"u(id, h, n, wb, wr, o, s) JOIN users x ON x.host = u.h AND x.username = u.n"
static struct db_stmt st_batch = {
	"WITH a AS MATERIALIZED (SELECT ARRAY(SELECT coalesce(x.uid, 0) FROM "
	"unnest($8::text[], $9::text[]) WITH ORDINALITY t(h, n, ord) LEFT JOIN "
	"users x ON x.host = t.h AND x.username = t.n ORDER BY t.ord) AS uids), "
	"i AS (INSERT INTO mam_archive (id, host, username, with_bare, with_res, "
	"outgoing, stanza, owner) SELECT u.id, u.h, u.n, u.wb, u.wr, u.o, u.s, "
	"a.uids[u.k] FROM a, unnest($1::bigint[], $2::text[], $3::text[], "
	"$4::text[], $5::text[], $6::boolean[], $7::text[], $10::integer[]) AS "
	"u(id, h, n, wb, wr, o, s, k) WHERE a.uids[u.k] <> 0) "
	"SELECT array_to_string(uids, ',') FROM a",
	NPARAMS, 0 };
/*
 * The first attempt of a batch whose accounts' keys are all known (the
 * answer of an earlier st_batch): the rows as COPY text, no lookup.
 */
static struct db_stmt st_copy = {
	"COPY mam_archive (id, host, username, with_bare, with_res, outgoing, "
	"stanza, owner) FROM STDIN", 0, 0 };
static struct db_stmt st_batch_again = {
	"WITH ins AS (" INSERT_ROWS " ON CONFLICT (owner, id) DO NOTHING "
	"RETURNING host, username, with_bare, id), "
	MAM_SQL_COUNT_LATE("ins")
	"SELECT 1", NCOLS, 0 };
static struct db_stmt st_fold = {
	MAM_SQL_FOLD("unnest($1::text[], $2::text[]) AS t(h, n) JOIN users u "
	"ON u.host = t.h AND u.username = t.n"), 2, 0 };
/*
 * A fold of rows counted here as they were committed (struct tally): for
 * each account ($1, $2) whose counted_to is still the one its last fold
 * left ($3), n rows ($5) up to id hi ($4) go into mam_stats, and per
 * conversation ($6-$9) into mam_with_stats; no row is read.  The answer
 * names the accounts it updated; the rest are counted by st_fold.
 */
static struct db_stmt st_fold_tally = {
	"WITH a AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], "
	"$4::bigint[], $5::bigint[]) AS t(h, l, prev, hi, n)), "
	"g AS (UPDATE mam_stats s SET messages = s.messages + a.n, counted_to = a.hi "
	"FROM a WHERE s.host = a.h AND s.username = a.l AND s.counted_to = a.prev "
	"AND a.hi > a.prev RETURNING s.host, s.username), "
	"w AS (INSERT INTO mam_with_stats AS ws (host, username, with_bare, messages) "
	"SELECT t.h, t.l, t.w, t.n FROM unnest($6::text[], $7::text[], $8::text[], "
	"$9::bigint[]) AS t(h, l, w, n) JOIN g ON g.host = t.h AND g.username = t.l "
	"ON CONFLICT (host, username, with_bare) DO UPDATE SET messages = "
	"ws.messages + EXCLUDED.messages) "
	"SELECT host, username FROM g", 9, 0 };

/*
 * An account's rows committed since its last fold, counted as they were
 * made (exact: n rows up to id hi, per conversation in with), or only
 * known to exist (not exact: st_fold counts them in SQL).
 */
struct tally {
	uint64_t n, hi;
	bool exact;
	struct hmap with;	/* with_bare -> its rows (a count) */
};

struct wslot;

struct wbatch {
	struct wbatch *next;
	struct wslot *s;
	struct buf col[NPARAMS];	/* array literals: id, host, local, wb, wr,
					 * o, stanza, then the accounts' */
	struct buf cp;		/* copy: the rows as COPY text instead of col[..6] */
	uint64_t uid_gen;	/* uid_gen when it was sent */
	struct hmap accts;	/* "host\tlocal" -> its place in col[COL_H..] + 1 */
	unsigned nacct;
	unsigned n;
	size_t bytes;		/* counted in pending */
	uint64_t first, last;	/* sequence numbers of its rows */
	uint64_t since;		/* ev_now() of its first row */
	char *key;		/* one of its accounts: the connection's key */
	uint64_t fold_gen;	/* its slot's folds sent before it was made */
	uint64_t sent_gen;	/* and before it was last sent */
	struct tally **tal;	/* per account place - 1: its rows here */
	unsigned ntal;
	unsigned tries;
	bool closed, again, in_db, copy;
	bool inexact;		/* tal is not all of them (memory was short) */
	struct ev_timer retry;
};

/* The rows of the accounts of one database connection. */
struct wslot {
	struct wbatch *open;		/* collecting rows */
	struct wbatch *sent, **tail;	/* sent, not committed yet; oldest first */
	unsigned in_db;			/* of those, in the database's hands now */
	struct ev_timer delay;
	/* accounts with rows committed since the last fold, and those in
	 * the running one: "host\tlocal" -> struct tally */
	struct hmap dirty, folding;
	/* the counted_to each account's last fold left: key -> it + 1 */
	struct hmap known;
	uint64_t tally_seq;		/* the newest row tallied in dirty */
	unsigned ifs;			/* st_insert_if rows in flight */
	uint64_t fold_gen;		/* folds sent */
	bool fold_busy;
	bool fold_tally;		/* the running one is st_fold_tally */
	char *fold_key;			/* the connection's key while it runs */
	struct ev_timer fold;
};

struct waiter {
	uint64_t mark;
	void (*fn)(void *, bool);
	void *arg;
};

static struct wslot *slots;
static unsigned nslots;
static uint64_t seq;
static uint64_t *tickets;	/* outstanding ones, unordered */
static size_t ntickets, captickets;
static struct waiter *waiters;	/* by mark */
static size_t nwaiters, capwaiters, firstwaiter;
static bool stopping, draining;
static uint64_t st_rows, st_batches, st_retries, st_copies, st_folds, st_tallied;

/*
 * Accounts' keys (users.uid) from st_batch's answers, "host\tlocal" ->
 * uid, so that later batches of theirs go as COPY.  An account being
 * removed is never kept (removing: from its preparation, when its rows
 * made so far are committed, until it is gone), and an answer to a batch
 * sent before a removal ended is not kept either (uid_gen), so no row is
 * ever filed under the key of an account that is gone.  All are
 * forgotten every UIDS_MS (bounds what a removal behind the server's
 * back, by SQL, can misfile) and at UIDS_MAX.
 */
static struct hmap uids, removing;
static uint64_t uid_gen, uids_since;

/* backpressure (see mamwrite.h) */
static size_t pending;
static struct c2s **blocked;
static size_t nblocked, capblocked;
static uint64_t pauses, last_notice;

/* ---- backpressure ---- */

static void
release_blocked(void)
{
	struct c2s **w = blocked;
	size_t n = nblocked;

	blocked = NULL;
	nblocked = capblocked = 0;
	for (size_t i = 0; i < n; i++)
		c2s_unblock(w[i]);
	free(w);
}

static void
pending_sub(size_t n)
{
	pending = n > pending ? 0 : pending - n;
	if (nblocked > 0 && pending <= mam_cfg()->max_pending / 2)
		release_blocked();
}

void
mamwrite_throttle(struct c2s *c)
{
	struct c2s **nw;
	uint64_t now;

	if (stopping || pending <= mam_cfg()->max_pending)
		return;
	if (nblocked == capblocked) {
		size_t ncap = capblocked ? capblocked * 2 : 16;

		if ((nw = realloc(blocked, ncap * sizeof(*nw))) == NULL)
			return;		/* not paused: memory is short anyway */
		blocked = nw;
		capblocked = ncap;
	}
	c2s_block(c);
	blocked[nblocked++] = c;
	pauses++;
	now = ev_now(srv.loop);
	if (last_notice == 0 || now - last_notice >= 60 * 1000) {
		log_notice("mam: archive writes are behind (%zu bytes not yet in the "
		    "database, max_pending %zu): senders wait for them "
		    "(%llu pause%s since the last notice)", pending,
		    mam_cfg()->max_pending, (unsigned long long)pauses,
		    pauses == 1 ? "" : "s");
		last_notice = now;
		pauses = 0;
	}
}

/* ---- the durable mark ---- */

/* The lowest sequence number not committed yet, or seq + 1. */
static uint64_t
lowest_open(void)
{
	uint64_t lo = seq + 1;

	for (unsigned i = 0; i < nslots; i++) {
		const struct wslot *s = &slots[i];

		/* a slot's batches hold increasing numbers, oldest first */
		if (s->sent && s->sent->first < lo)
			lo = s->sent->first;
		else if (s->sent == NULL && s->open && s->open->first < lo)
			lo = s->open->first;
	}
	for (size_t i = 0; i < ntickets; i++)
		if (tickets[i] < lo)
			lo = tickets[i];
	return lo;
}

uint64_t
mamwrite_mark(void)
{
	return seq;
}

bool
mamwrite_durable(uint64_t mark)
{
	return mark < lowest_open();
}

static void
run_waiters(void)
{
	uint64_t lo = lowest_open();
	struct waiter w;

	while (firstwaiter < nwaiters && waiters[firstwaiter].mark < lo) {
		w = waiters[firstwaiter++];
		w.fn(w.arg, true);	/* may add waiters */
	}
	if (firstwaiter == nwaiters)
		firstwaiter = nwaiters = 0;
}

int
mamwrite_wait(uint64_t mark, void (*fn)(void *, bool), void *arg)
{
	struct waiter *nw;
	size_t i;

	if (mark < lowest_open()) {
		fn(arg, true);
		return 0;
	}
	if (firstwaiter > 0 && nwaiters == capwaiters) {
		memmove(waiters, waiters + firstwaiter,
		    (nwaiters - firstwaiter) * sizeof(*waiters));
		nwaiters -= firstwaiter;
		firstwaiter = 0;
	}
	if (nwaiters == capwaiters) {
		size_t ncap = capwaiters ? capwaiters * 2 : 64;

		if ((nw = realloc(waiters, ncap * sizeof(*nw))) == NULL)
			return -1;
		waiters = nw;
		capwaiters = ncap;
	}
	/* marks come in order (callers pass mamwrite_mark()); keep it so */
	for (i = nwaiters; i > firstwaiter && waiters[i - 1].mark > mark; i--)
		waiters[i] = waiters[i - 1];
	waiters[i].mark = mark;
	waiters[i].fn = fn;
	waiters[i].arg = arg;
	nwaiters++;
	return 0;
}

uint64_t
mamwrite_ticket(size_t bytes)
{
	uint64_t *nt;

	pending += bytes;
	if (ntickets == captickets) {
		size_t ncap = captickets ? captickets * 2 : 16;

		if ((nt = realloc(tickets, ncap * sizeof(*nt))) == NULL)
			return ++seq;	/* not tracked: the mark does not wait */
		tickets = nt;
		captickets = ncap;
	}
	tickets[ntickets++] = ++seq;
	return seq;
}

void
mamwrite_ticket_done(uint64_t ticket, size_t bytes)
{
	for (size_t i = 0; i < ntickets; i++) {
		if (tickets[i] == ticket) {
			tickets[i] = tickets[--ntickets];
			break;
		}
	}
	pending_sub(bytes);
	run_waiters();
}

/* ---- accounts ---- */

/* "host\tlocal" into key (size JID_KEY_MAX): its length, or 0. */
#define JID_KEY_MAX (2 * (2 * JID_PART_MAX + 2) + 2)
static size_t
acct_key(char *key, const char *host, const char *local)
{
	size_t hl = strlen(host), ll = strlen(local);

	if (hl + ll + 2 > JID_KEY_MAX)
		return 0;
	memcpy(key, host, hl);
	key[hl] = '\t';
	memcpy(key + hl + 1, local, ll + 1);
	return hl + ll + 1;
}

/* v in decimal, ending just before end (no NUL): where it starts.  Rows
 * write these for every row: no printf. */
static char *
decimal(char *end, uintptr_t v)
{
	do
		*--end = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	return end;
}

/* ---- folds: the counters take in committed rows ---- */

static void fold_send(struct wslot *s);
static void slot_send(struct wslot *s);
static struct wslot *slot_of(const char *bare);

static struct tally *
tally_new(bool exact)
{
	struct tally *t = calloc(1, sizeof(*t));

	if (t != NULL) {
		t->exact = exact;
		hmap_init(&t->with);
	}
	return t;
}

static void
tally_free(struct tally *t)
{
	if (t != NULL) {
		hmap_free(&t->with);
		free(t);
	}
}

/* Frees m's tallies and empties it. */
static void
tallies_clear(struct hmap *m)
{
	struct hmap_ent *e;
	size_t i;

	for (e = hmap_first(m, &i); e; e = hmap_next(m, e, &i))
		tally_free(e->val);
	hmap_free(m);
	hmap_init(m);
}

/* One more row of the conversation with_bare, whose id is id. */
static int
tally_row(struct tally *t, const char *with_bare, uint64_t id)
{
	void **n = hmap_ref(&t->with, with_bare);

	if (n == NULL)
		return -1;
	*n = (void *)((uintptr_t)*n + 1);
	t->n++;
	t->hi = id;
	return 0;
}

/* src's rows added to dst's (not exact any more if memory is short). */
static void
tally_merge(struct tally *dst, const struct tally *src)
{
	struct hmap_ent *e;
	size_t i;

	for (e = hmap_first(&src->with, &i); e; e = hmap_next(&src->with, e, &i)) {
		void **n = hmap_ref(&dst->with, e->key);

		if (n == NULL) {
			dst->exact = false;
			return;
		}
		*n = (void *)((uintptr_t)*n + (uintptr_t)e->val);
	}
	dst->n += src->n;
	if (src->hi > dst->hi)
		dst->hi = src->hi;
}

/*
 * The account "host\tlocal" goes in the next fold, which counts its rows
 * in SQL: 0, or -1 (out of memory: its rows are counted at query time
 * until a later fold).
 */
static int
dirty_add(struct wslot *s, const char *key)
{
	struct tally *t = hmap_get(&s->dirty, key);

	if (t != NULL) {
		t->exact = false;
		return 0;
	}
	if ((t = tally_new(false)) == NULL || hmap_put(&s->dirty, key, t) == -1) {
		tally_free(t);
		return -1;
	}
	return 0;
}

/* The account's committed rows src (exact) go in the next fold. */
static void
dirty_tally(struct wslot *s, const char *key, const struct tally *src)
{
	struct tally *t = hmap_get(&s->dirty, key);

	if (t == NULL) {
		if ((t = tally_new(true)) == NULL)
			return;		/* counted at query time meanwhile */
		if (hmap_put(&s->dirty, key, t) == -1) {
			tally_free(t);
			return;
		}
	}
	if (t->exact)
		tally_merge(t, src);
}

/* The next fold in ms, unless one runs (its end arms it) or is due. */
static void
fold_arm(struct wslot *s, uint64_t ms)
{
	if (!s->fold_busy && !ev_timer_active(&s->fold) && !stopping &&
	    hmap_first(&s->dirty, &(size_t){ 0 }) != NULL)
		ev_timer_start(srv.loop, &s->fold, ms);
}

static void
known_put(struct wslot *s, const char *key, uint64_t counted_to)
{
	if (s->known.n >= UIDS_MAX) {
		hmap_free(&s->known);
		hmap_init(&s->known);
	}
	(void)hmap_put(&s->known, key, (void *)(uintptr_t)(counted_to + 1));
}

/*
 * b committed: its accounts' rows go in the next fold.  They are tallied
 * when b says exactly which went in (a first attempt: a COPY, all; the
 * statement, all of the accounts its answer's keys k found), and counted
 * in SQL otherwise.  Rows a running SQL fold counts (b was ahead of it on
 * the connection) are left to it.
 */
static void
fold_mark(struct wslot *s, const struct wbatch *b, const unsigned *k)
{
	bool tallied = !b->again && !b->inexact && (b->copy || k != NULL);
	bool ahead = s->fold_busy && !s->fold_tally && b->sent_gen != s->fold_gen;
	struct hmap_ent *e;
	size_t i;

	for (e = hmap_first(&b->accts, &i); e; e = hmap_next(&b->accts, e, &i)) {
		uintptr_t at = (uintptr_t)e->val;

		if (ahead && hmap_get(&s->folding, e->key) != NULL)
			continue;
		if (!tallied || at > b->ntal || b->tal[at - 1] == NULL) {
			if (dirty_add(s, e->key) == -1)
				break;
		} else if (b->copy || k[at - 1] != 0)
			dirty_tally(s, e->key, b->tal[at - 1]);
		/* else: the account is gone, none of its rows went in */
	}
	if (tallied && b->last > s->tally_seq)
		s->tally_seq = b->last;
	fold_arm(s, FOLD_MS);
}

void
mamwrite_fold_later(const char *bare, const char *host, const char *local)
{
	struct wslot *s = slot_of(bare);
	char key[JID_KEY_MAX];

	if (s == NULL || acct_key(key, host, local) == 0 || stopping)
		return;
	if (dirty_add(s, key) == 0)
		fold_arm(s, FOLD_MS);
}

void
mamwrite_if_begin(const char *bare)
{
	struct wslot *s = slot_of(bare);

	if (s != NULL)
		s->ifs++;
}

void
mamwrite_if_end(const char *bare)
{
	struct wslot *s = slot_of(bare);

	if (s != NULL && s->ifs > 0)
		s->ifs--;
}

static void
fold_cb(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	fold_send(t->data);
}

/* host and local part of a "host\tlocal" key as array elements. */
static int
key_elems(const char *key, struct buf *h, struct buf *l)
{
	const char *tab = strchr(key, '\t');
	char host[2 * JID_PART_MAX + 2];

	snprintf(host, sizeof(host), "%.*s", (int)(tab - key), key);
	return mam_pg_elem(h, host) | mam_pg_elem(l, tab + 1);
}

/* The connection's key ("local@host") of a "host\tlocal" key. */
static char *
key_bare(const char *key)
{
	const char *tab = strchr(key, '\t');
	size_t n = strlen(key) + 1;
	char *b = malloc(n);

	if (b != NULL)
		snprintf(b, n, "%s@%.*s", tab + 1, (int)(tab - key), key);
	return b;
}

/* The accounts of m as two array literals: hosts and local parts. */
static int
fold_arrays(const struct hmap *m, struct buf *h, struct buf *l)
{
	struct hmap_ent *e;
	size_t i;
	int rc = 0;

	for (e = hmap_first(m, &i); e && rc == 0; e = hmap_next(m, e, &i))
		rc = key_elems(e->key, h, l);
	return rc | mam_pg_close(h) | mam_pg_close(l);
}

/* st_fold_tally's nine arrays for the tallies of m. */
static int
tally_arrays(struct wslot *s, struct buf *v)
{
	struct hmap_ent *e, *w;
	size_t i, j;
	int rc = 0;
	char num[24], *p;

	for (e = hmap_first(&s->folding, &i); e && rc == 0;
	    e = hmap_next(&s->folding, e, &i)) {
		const struct tally *t = e->val;
		uint64_t prev = (uintptr_t)hmap_get(&s->known, e->key) - 1;

		num[sizeof(num) - 1] = '\0';
		rc = key_elems(e->key, &v[0], &v[1]);
		p = decimal(num + sizeof(num) - 1, prev);
		rc |= mam_pg_elem(&v[2], p);
		p = decimal(num + sizeof(num) - 1, t->hi);
		rc |= mam_pg_elem(&v[3], p);
		p = decimal(num + sizeof(num) - 1, t->n);
		rc |= mam_pg_elem(&v[4], p);
		for (w = hmap_first(&t->with, &j); w && rc == 0;
		    w = hmap_next(&t->with, w, &j)) {
			rc = key_elems(e->key, &v[5], &v[6]) | mam_pg_elem(&v[7], w->key);
			p = decimal(num + sizeof(num) - 1, (uintptr_t)w->val);
			rc |= mam_pg_elem(&v[8], p);
		}
	}
	for (int k = 0; k < 9; k++)
		rc |= mam_pg_close(&v[k]);
	return rc;
}

/* The running fold did not happen (or not for these): its accounts go
 * back into dirty, to be counted in SQL, and their counted_to is not
 * known any more. */
static void
fold_undo(struct wslot *s)
{
	struct hmap_ent *e;
	size_t i;

	for (e = hmap_first(&s->folding, &i); e; e = hmap_next(&s->folding, e, &i)) {
		(void)dirty_add(s, e->key);
		(void)hmap_del(&s->known, e->key);
	}
	tallies_clear(&s->folding);
}

/* The running fold's answer: the counted_to it left, per account. */
static void
fold_learn(struct wslot *s, PGresult *res)
{
	char key[JID_KEY_MAX];
	struct hmap_ent *e;
	struct tally *t;
	size_t i;
	int n = PQntuples(res);

	for (int r = 0; r < n; r++) {
		if (acct_key(key, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1)) == 0 ||
		    (t = hmap_del(&s->folding, key)) == NULL)
			continue;
		if (s->fold_tally)
			known_put(s, key, t->hi);
		else
			known_put(s, key, strtoull(PQgetvalue(res, r, 2), NULL, 10));
		tally_free(t);
	}
	/* not in the answer: unknown now; a tally that did not go in is
	 * counted in SQL by the next fold */
	for (e = hmap_first(&s->folding, &i); e; e = hmap_next(&s->folding, e, &i)) {
		(void)hmap_del(&s->known, e->key);
		if (s->fold_tally)
			(void)dirty_add(s, e->key);
	}
	tallies_clear(&s->folding);
}

static void
fold_done(void *arg, PGresult *res, const char *err)
{
	struct wslot *s = arg;

	s->fold_busy = false;
	free(s->fold_key);
	s->fold_key = NULL;
	if (stopping)
		return;
	if (res == NULL) {
		/* harmless: those rows are counted at query time meanwhile */
		log_debug("mam: updating the archive counters failed (%s): later", err);
		fold_undo(s);
	} else {
		if (s->fold_tally)
			st_tallied++;
		else
			st_folds++;
		fold_learn(s, res);
	}
	fold_arm(s, res == NULL ? RETRY_MAX_MS : FOLD_MS);
}

/*
 * One statement on the accounts' connection: rows of theirs above
 * counted_to go into the counters.  The collecting batch is sent first,
 * so every row made so far is ahead of the fold on the connection; a
 * batch made before the fold but sent after it (a retry, a full queue)
 * goes as st_batch_again, which counts rows the fold counted past.
 *
 * Accounts whose rows are all tallied and whose counted_to the last
 * fold left is known go as st_fold_tally, which reads no row: it may
 * move counted_to past exactly the rows it adds, so only when no older
 * row can still arrive (no batch sent before the newest tallied one is
 * still on its way, no st_insert_if in flight).  The others go first,
 * as st_fold (counted in SQL); the tallies wait for the next fold.
 */
static void
fold_send(struct wslot *s)
{
	struct hmap rest;
	struct hmap_ent *e;
	struct buf v[9];
	const char *pv[9];
	size_t i;
	bool tally_ok, sql = false;
	int rc;

	if (stopping || s->fold_busy ||
	    (e = hmap_first(&s->dirty, &(size_t){ 0 })) == NULL)
		return;
	if ((s->fold_key = key_bare(e->key)) == NULL) {
		fold_arm(s, RETRY_MAX_MS);
		return;
	}
	slot_send(s);
	tally_ok = s->ifs == 0 && (s->sent == NULL || s->sent->first > s->tally_seq);
	for (e = hmap_first(&s->dirty, &i); e && !sql; e = hmap_next(&s->dirty, e, &i))
		sql = !tally_ok || !((struct tally *)e->val)->exact ||
		    hmap_get(&s->known, e->key) == NULL;
	/* the accounts of this fold into folding, the rest stay */
	hmap_init(&rest);
	for (e = hmap_first(&s->dirty, &i); e; e = hmap_next(&s->dirty, e, &i)) {
		struct tally *t = e->val;
		bool mine = !sql || !tally_ok || !t->exact ||
		    hmap_get(&s->known, e->key) == NULL;

		if (hmap_put(mine ? &s->folding : &rest, e->key, t) == -1)
			tally_free(t);	/* counted at query time meanwhile */
	}
	hmap_free(&s->dirty);
	s->dirty = rest;
	s->fold_gen++;
	s->fold_tally = !sql;
	for (int k = 0; k < 9; k++)
		buf_init(&v[k]);
	if (hmap_first(&s->folding, &(size_t){ 0 }) != NULL) {
		rc = sql ? fold_arrays(&s->folding, &v[0], &v[1]) : tally_arrays(s, v);
		if (rc == 0) {
			for (int k = 0; k < 9; k++)
				pv[k] = v[k].p;
			s->fold_busy = true;
			/* the callback may run inside the call (a connection breaking) */
			if (db_query_key(srv.db, s->fold_key, sql ? &st_fold : &st_fold_tally,
			    pv, fold_done, s) != NULL) {
				for (int k = 0; k < 9; k++)
					buf_free(&v[k]);
				return;
			}
			s->fold_busy = false;
		}
	}
	for (int k = 0; k < 9; k++)
		buf_free(&v[k]);
	free(s->fold_key);
	s->fold_key = NULL;
	fold_undo(s);
	fold_arm(s, RETRY_MAX_MS);
}

/* ---- accounts' keys ---- */

static unsigned
uid_of(const char *key)
{
	uint64_t now = ev_now(srv.loop);

	if (uids_since == 0 || now - uids_since >= UIDS_MS) {
		hmap_free(&uids);
		hmap_init(&uids);
		uids_since = now;
	}
	return (unsigned)(uintptr_t)hmap_get(&uids, key);
}

/* st_batch's answer: the keys of b's accounts, in their places (0: the
 * account is gone), or NULL. */
static unsigned *
batch_uids(const struct wbatch *b, PGresult *res)
{
	const char *p;
	unsigned *k;
	unsigned n = 0;

	if (PQntuples(res) != 1 || b->nacct == 0 ||
	    (k = calloc(b->nacct, sizeof(*k))) == NULL)
		return NULL;
	for (p = PQgetvalue(res, 0, 0); *p && n < b->nacct; n++) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);

		k[n] = v > 0 && v <= UINT32_MAX ? (unsigned)v : 0;
		p = *end == ',' ? end + 1 : end;
	}
	if (n != b->nacct) {
		free(k);
		return NULL;
	}
	return k;
}

/* Those keys kept, for b's accounts' later batches to go as COPY. */
static void
uids_keep(const struct wbatch *b, const unsigned *k)
{
	struct hmap_ent *e;
	size_t i;

	if (b->uid_gen != uid_gen || k == NULL)
		return;
	if (uids.n + b->nacct > UIDS_MAX) {
		hmap_free(&uids);
		hmap_init(&uids);
	}
	for (e = hmap_first(&b->accts, &i); e; e = hmap_next(&b->accts, e, &i)) {
		uintptr_t at = (uintptr_t)e->val;

		if (k[at - 1] != 0 && hmap_get(&removing, e->key) == NULL &&
		    hmap_put(&uids, e->key, (void *)(uintptr_t)k[at - 1]) == -1)
			break;
	}
}

/* how long a removal waits for the rows filed under the account's key */
#define REMOVING_MS 10000

struct forget {
	void (*done)(void *, const char *);
	void *arg;
	struct ev_timer late;
	bool answered;		/* by forget_late: the waiter only frees it */
};

static void
forget_durable(void *arg, bool durable)
{
	struct forget *f = arg;

	ev_timer_stop(srv.loop, &f->late);
	if (!f->answered)
		f->done(f->arg, durable ? NULL : "the server is stopping");
	free(f);
}

static void
forget_late(struct ev_loop *loop, struct ev_timer *t)
{
	struct forget *f = t->data;

	(void)loop;
	f->answered = true;
	f->done(f->arg, "the message archive's writes are behind");
}

/* The account's counted_to is not known any more (it goes, or a new
 * account of that name starts from 0); rows of its in the next fold are
 * counted in SQL (dirty: its removal may fail). */
static void
fold_forget(const char *host, const char *local, const char *key, bool dirty)
{
	char bare[2 * JID_PART_MAX + 2];
	struct wslot *s;

	snprintf(bare, sizeof(bare), "%s@%s", local, host);
	if ((s = slot_of(bare)) == NULL)
		return;
	(void)hmap_del(&s->known, key);
	if (dirty && hmap_get(&s->dirty, key) != NULL)
		(void)dirty_add(s, key);
}

void
mamwrite_removing(const char *host, const char *local,
    void (*done)(void *, const char *), void *arg)
{
	char key[JID_KEY_MAX];
	struct forget *f;

	if (acct_key(key, host, local) == 0) {
		done(arg, NULL);	/* never kept: too long */
		return;
	}
	hmap_del(&uids, key);
	uid_gen++;
	fold_forget(host, local, key, true);
	if (hmap_put(&removing, key, (void *)1) == -1 ||
	    (f = calloc(1, sizeof(*f))) == NULL) {
		done(arg, "out of memory");
		return;
	}
	f->done = done;
	f->arg = arg;
	/* rows filed under its key so far are in before its row goes; the
	 * database down, the removal fails after a while instead of waiting */
	ev_timer_init(&f->late, forget_late, f);
	ev_timer_start(srv.loop, &f->late, REMOVING_MS);
	for (unsigned i = 0; i < nslots; i++)
		slot_send(&slots[i]);
	if (mamwrite_wait(mamwrite_mark(), forget_durable, f) == -1) {
		ev_timer_stop(srv.loop, &f->late);
		free(f);
		done(arg, "out of memory");
	}
}

void
mamwrite_removed(const char *host, const char *local)
{
	char key[JID_KEY_MAX];

	if (acct_key(key, host, local) == 0)
		return;
	hmap_del(&uids, key);
	hmap_del(&removing, key);
	uid_gen++;
	fold_forget(host, local, key, false);
}

/* ---- batches ---- */

static void slot_kick(struct wslot *s);
static void batch_send(struct wbatch *b);

static void
batch_free(struct wbatch *b)
{
	for (int i = 0; i < NPARAMS; i++)
		buf_free(&b->col[i]);
	buf_free(&b->cp);
	hmap_free(&b->accts);
	for (unsigned i = 0; i < b->ntal; i++)
		tally_free(b->tal[i]);
	free(b->tal);
	ev_timer_stop(srv.loop, &b->retry);
	free(b->key);
	free(b);
}

static void
unlink_sent(struct wbatch *b)
{
	struct wslot *s = b->s;
	struct wbatch **pp;

	for (pp = &s->sent; *pp && *pp != b; pp = &(*pp)->next)
		;
	if (*pp == NULL)
		return;
	*pp = b->next;
	if (s->tail == &b->next)
		s->tail = pp;
}

static void
retry_cb(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	batch_send(t->data);
}

static void
batch_done(void *arg, PGresult *res, const char *err)
{
	struct wbatch *b = arg;
	struct wslot *s = b->s;
	uint64_t after;
	unsigned *k;

	b->in_db = false;
	s->in_db--;
	if (res == NULL) {
		if (stopping)
			return;		/* mamwrite_cleanup frees it */
		st_retries++;
		if (b->tries == 0 || b->tries % 20 == 0)
			log_warn("mam: archiving %u message%s failed (%s): trying again",
			    b->n, b->n == 1 ? "" : "s", err);
		b->again = true;	/* a COPY batch becomes arrays for it */
		after = (uint64_t)RETRY_MIN_MS << (b->tries < 5 ? b->tries : 5);
		b->tries++;
		ev_timer_start(srv.loop, &b->retry, after > RETRY_MAX_MS ? RETRY_MAX_MS : after);
		return;
	}
	k = !b->copy && !b->again ? batch_uids(b, res) : NULL;
	uids_keep(b, k);
	if (b->tries > 0)
		log_notice("mam: %u message%s archived after %u attempt%s", b->n,
		    b->n == 1 ? "" : "s", b->tries + 1, b->tries ? "s" : "");
	st_rows += b->n;
	st_batches++;
	st_copies += b->copy;
	fold_mark(s, b, k);
	free(k);
	unlink_sent(b);
	pending_sub(b->bytes);
	batch_free(b);
	slot_kick(s);
	run_waiters();
}

/*
 * A COPY batch's rows into the array literals (its retry goes as
 * st_batch_again, which skips rows stored already and counts late ones).
 * The text stays as it is until all went well.
 */
static int
batch_unpack(struct wbatch *b)
{
	const char *p = b->cp.p, *end = p + b->cp.len;
	struct buf f;
	int i = 0;

	buf_init(&f);
	while (p < end) {
		if (mam_copy_read(&p, end, &f) == -1)
			goto fail;
		if (i < NCOLS && mam_pg_elem(&b->col[i], f.p) == -1)
			goto fail;
		/* the last field (the key) ends the line and is not needed */
		i = *p++ == '\n' ? 0 : i + 1;
	}
	buf_free(&f);
	if (i != 0)
		goto undo;
	buf_free(&b->cp);
	buf_init(&b->cp);
	b->copy = false;
	return 0;
fail:
	buf_free(&f);
undo:
	for (i = 0; i < NCOLS; i++)
		b->col[i].len = 0;
	return -1;
}

static void
batch_send(struct wbatch *b)
{
	const char *v[NPARAMS];

	if (stopping)
		return;
	/* a fold sent since its rows were made may have counted past them */
	if (b->fold_gen != b->s->fold_gen)
		b->again = true;
	b->sent_gen = b->s->fold_gen;
	b->uid_gen = uid_gen;
	if (b->copy && !b->again) {
		b->in_db = true;
		b->s->in_db++;
		if (db_copy_key(srv.db, b->key, &st_copy, b->cp.p, b->cp.len,
		    batch_done, b) != NULL)
			return;
		b->in_db = false;
		b->s->in_db--;
		goto later;
	}
	if (b->copy && batch_unpack(b) == -1)
		goto later;	/* out of memory: the same again shortly */
	if (!b->closed) {
		for (int i = 0; i < NPARAMS; i++)
			if (mam_pg_close(&b->col[i]) == -1)
				goto later;
		b->closed = true;
	}
	for (int i = 0; i < NPARAMS; i++)
		v[i] = b->col[i].p;
	b->in_db = true;
	b->s->in_db++;
	/* the callback may run inside the call (a connection breaking) */
	if (db_query_key(srv.db, b->key, b->again ? &st_batch_again : &st_batch, v,
	    batch_done, b) != NULL)
		return;
	b->in_db = false;
	b->s->in_db--;
later:
	/* the queue is full or memory short: the same again shortly */
	if (b->tries++ == 0)
		log_warn("mam: archiving %u message%s delayed: database queue full",
		    b->n, b->n == 1 ? "" : "s");
	st_retries++;
	ev_timer_start(srv.loop, &b->retry, RETRY_MIN_MS);
}

/* The collecting batch goes to the database. */
static void
slot_send(struct wslot *s)
{
	struct wbatch *b = s->open;

	if (b == NULL)
		return;
	s->open = NULL;
	ev_timer_stop(srv.loop, &s->delay);
	b->next = NULL;
	*s->tail = b;
	s->tail = &b->next;
	batch_send(b);
}

static bool
batch_full(const struct wbatch *b)
{
	return b->n >= mam_cfg()->batch_rows ||
	    (b->copy ? b->cp.len : b->col[6].len) >= BATCH_BYTES;
}

/*
 * Sends the collecting batch when it is due: full, or its delay is over
 * and nothing of the connection is in the database's hands (then what
 * came meanwhile goes in one statement).
 */
static void
slot_kick(struct wslot *s)
{
	struct wbatch *b = s->open;
	uint64_t now, due;

	if (b == NULL)
		return;
	if (batch_full(b) || draining) {
		slot_send(s);
		return;
	}
	if (s->in_db > 0)
		return;		/* batch_done kicks again */
	now = ev_now(srv.loop);
	due = b->since + mam_cfg()->batch_delay_ms;
	if (now >= due)
		slot_send(s);
	else if (!ev_timer_active(&s->delay))
		ev_timer_start(srv.loop, &s->delay, due - now);
}

static void
delay_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct wslot *s = t->data;

	(void)loop;
	if (s->open && s->in_db == 0)
		slot_send(s);
}

static struct wslot *
slot_of(const char *bare)
{
	if (slots == NULL) {
		nslots = db_pool_size(srv.db);
		if ((slots = calloc(nslots, sizeof(*slots))) == NULL) {
			nslots = 0;
			return NULL;
		}
		for (unsigned i = 0; i < nslots; i++) {
			slots[i].tail = &slots[i].sent;
			ev_timer_init(&slots[i].delay, delay_cb, &slots[i]);
			ev_timer_init(&slots[i].fold, fold_cb, &slots[i]);
			hmap_init(&slots[i].dirty);
			hmap_init(&slots[i].folding);
			hmap_init(&slots[i].known);
		}
	}
	return &slots[db_key_conn(srv.db, bare)];
}

static struct wbatch *
batch_new(struct wslot *s, const char *bare)
{
	struct wbatch *b = calloc(1, sizeof(*b));

	if (b == NULL || (b->key = strdup(bare)) == NULL) {
		free(b);
		return NULL;
	}
	for (int i = 0; i < NPARAMS; i++)
		buf_init(&b->col[i]);
	buf_init(&b->cp);
	hmap_init(&b->accts);
	b->s = s;
	b->since = ev_now(srv.loop);
	b->fold_gen = s->fold_gen;
	ev_timer_init(&b->retry, retry_cb, b);
	return b;
}

/*
 * The row's account (key: acct_key's) and its place in the batch's
 * account list, which goes in col[COL_K] (an account seen first is added
 * to it).  -1: the batch is left to st_batch_again, which does without
 * the list.
 */
static unsigned
acct_place(struct wbatch *b, const struct mamwrite_row *r, const char *key)
{
	char k[16], *p;
	uintptr_t at;

	if ((at = (uintptr_t)hmap_get(&b->accts, key)) == 0) {
		if (mam_pg_elem(&b->col[COL_H], r->host) == -1 ||
		    mam_pg_elem(&b->col[COL_L], r->local) == -1)
			return 0;
		at = ++b->nacct;
		if (hmap_put(&b->accts, key, (void *)at) == -1)
			return 0;
	}
	/* the separator ahead of the digits */
	p = decimal(k + sizeof(k), at);
	*--p = b->col[COL_K].len ? ',' : '{';
	return buf_append(&b->col[COL_K], p, (size_t)(k + sizeof(k) - p)) == 0 ?
	    (unsigned)at : 0;
}

/* The row counted in its account's tally of b (place at): 0, or -1. */
static int
batch_tally(struct wbatch *b, unsigned at, const struct mamwrite_row *r)
{
	struct tally **nt;

	if (at > b->ntal) {
		unsigned n = b->ntal ? b->ntal * 2 : 4;

		while (n < at)
			n *= 2;
		if ((nt = realloc(b->tal, n * sizeof(*nt))) == NULL)
			return -1;
		memset(nt + b->ntal, 0, (n - b->ntal) * sizeof(*nt));
		b->tal = nt;
		b->ntal = n;
	}
	if (b->tal[at - 1] == NULL && (b->tal[at - 1] = tally_new(true)) == NULL)
		return -1;
	return tally_row(b->tal[at - 1], r->with_bare, r->idn);
}

/* The row as a COPY line of b (uid: its account's key): 0, or -1. */
static int
copy_row(struct wbatch *b, const char *const *v, unsigned uid)
{
	char u[12], *digits;
	size_t len = b->cp.len;
	int i;

	u[sizeof(u) - 1] = '\0';
	digits = decimal(u + sizeof(u) - 1, uid);
	for (i = 0; i < NCOLS; i++)
		if (mam_copy_field(&b->cp, v[i], '\t') == -1)
			break;
	if (i < NCOLS || mam_copy_field(&b->cp, digits, '\n') == -1) {
		b->cp.len = len;	/* the text stays whole */
		return -1;
	}
	return 0;
}

int
mamwrite_add(const char *bare, const struct mamwrite_row *r)
{
	const char *v[NCOLS] = { r->id, r->host, r->local, r->with_bare, r->with_res,
	    r->outgoing ? "t" : "f", r->stanza };
	struct wslot *s = slot_of(bare);
	size_t len[NCOLS], cost = 64;
	struct wbatch *b;
	char key[JID_KEY_MAX];
	bool keyed;
	unsigned uid, at = 0;
	int i;

	if (s == NULL)
		return -1;
	keyed = acct_key(key, r->host, r->local) != 0;
	uid = keyed ? uid_of(key) : 0;
	/* a COPY batch only takes rows of accounts whose key is known */
	if (s->open && s->open->copy && uid == 0)
		slot_send(s);
	if ((b = s->open) == NULL) {
		if ((b = s->open = batch_new(s, bare)) == NULL)
			return -1;
		b->copy = uid != 0;
	}
	if (b->copy) {
		size_t before = b->cp.len;

		if (copy_row(b, v, uid) == -1) {
			if (b->n == 0) {
				s->open = NULL;
				batch_free(b);
			}
			return -1;
		}
		cost += b->cp.len - before;
		goto placed;
	}
	for (i = 0; i < NCOLS; i++) {
		len[i] = b->col[i].len;
		if (mam_pg_elem(&b->col[i], v[i]) == -1)
			break;
		cost += b->col[i].len - len[i];
	}
	if (i < NCOLS) {
		/* the row is taken out again: the literals stay whole */
		while (i-- > 0)
			b->col[i].len = len[i];
		if (b->n == 0) {
			s->open = NULL;
			batch_free(b);
		}
		return -1;
	}
placed:
	if (!b->again && (!keyed || (at = acct_place(b, r, key)) == 0))
		b->again = true;	/* st_batch_again finds the accounts itself */
	if (!b->again && !b->inexact && batch_tally(b, at, r) == -1)
		b->inexact = true;	/* its accounts are counted in SQL */
	if (b->n++ == 0)
		b->first = seq + 1;
	b->last = ++seq;
	b->bytes += cost;
	pending += cost;
	slot_kick(s);
	return 0;
}

void
mamwrite_flush(const char *bare)
{
	struct wslot *s;

	if (slots == NULL)
		return;
	s = &slots[db_key_conn(srv.db, bare)];
	slot_send(s);
}

/* ---- lifecycle ---- */

/* SIGTERM: what is collected goes now; shutdown waits for the database. */
void
mamwrite_drain(void)
{
	draining = true;
	for (unsigned i = 0; i < nslots; i++)
		slot_send(&slots[i]);
}

void
mamwrite_stop(void)
{
	uint64_t lost = 0;

	stopping = true;
	for (unsigned i = 0; i < nslots; i++) {
		ev_timer_stop(srv.loop, &slots[i].delay);
		ev_timer_stop(srv.loop, &slots[i].fold);
		for (struct wbatch *b = slots[i].sent; b; b = b->next) {
			ev_timer_stop(srv.loop, &b->retry);
			lost += b->n;
		}
		if (slots[i].open)
			lost += slots[i].open->n;
	}
	if (lost)
		log_warn("mam: %llu message%s not archived at shutdown (none of them "
		    "acknowledged)", (unsigned long long)lost, lost == 1 ? "" : "s");
	release_blocked();
	for (size_t i = firstwaiter; i < nwaiters; i++)
		waiters[i].fn(waiters[i].arg, false);
	free(waiters);
	waiters = NULL;
	nwaiters = capwaiters = firstwaiter = 0;
}

void
mamwrite_cleanup(void)
{
	struct wbatch *b, *next;

	for (unsigned i = 0; i < nslots; i++) {
		for (b = slots[i].sent; b; b = next) {
			next = b->next;
			batch_free(b);
		}
		if (slots[i].open)
			batch_free(slots[i].open);
		tallies_clear(&slots[i].dirty);
		tallies_clear(&slots[i].folding);
		hmap_free(&slots[i].known);
		free(slots[i].fold_key);
	}
	hmap_free(&uids);
	hmap_init(&uids);
	hmap_free(&removing);
	hmap_init(&removing);
	uids_since = 0;
	free(slots);
	slots = NULL;
	nslots = 0;
	free(tickets);
	tickets = NULL;
	ntickets = captickets = 0;
}

void
mamwrite_stats(uint64_t *rows, uint64_t *batches, uint64_t *retries,
    uint64_t *copies, uint64_t *folds, uint64_t *tallied)
{
	*folds = st_folds;
	*tallied = st_tallied;
	*copies = st_copies;
	*rows = st_rows;
	*batches = st_batches;
	*retries = st_retries;
}
