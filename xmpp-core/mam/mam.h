/*
 * mam — the message archive of each account (XEP-0313) with its
 * preferences (XEP-0441, in the urn:xmpp:mam:N namespaces) and the
 * archive ids handed out as XEP-0359 stanza-ids.
 *
 * What is archived: chat and normal messages that carry a conversation
 * payload (a body, an end-to-end encrypted payload, a retraction, a
 * reaction, a direct MUC invitation, or anything with the XEP-0334 <store/>
 * hint), both when an account sends them (message_from_client) and when
 * one receives them (message_deliver, before online delivery or offline
 * storage).  Never groupchat, headlines, errors, carbon copies, archive
 * results, messages with <no-store/> or <no-permanent-store/>, chat states,
 * receipts or markers alone (as ejabberd's mod_mam).
 *
 * Ids are microseconds since the epoch, strictly increasing in the process
 * and continued from the highest stored id at start, so every archive is
 * ordered by id, time filters are id ranges, and an id is known before the
 * database has stored the row: an incoming message gets its
 * <stanza-id by='account' id='…'/> at once and is delivered without waiting.
 * The row is written in the background (mamwrite.c: batches per database
 * connection, on the one the account is pinned to, so a later query of
 * the account sees it once mam_flush has sent them); stream-management
 * acks and offline storage wait until the rows they cover are committed.
 *
 * Preferences are read at resource binding and kept in memory while the
 * account has sessions.  When they (or, for default='roster', the roster)
 * are not in memory, the database decides with the insert itself and the
 * message waits for that answer before it is delivered or stored offline,
 * as do later messages to the same account meanwhile (order is kept).
 */
#ifndef XMPP_MAM_H
#define XMPP_MAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "buf.h"
#include "jid.h"
#include "registry.h"

#define NS_MAM0 "urn:xmpp:mam:0"
#define NS_MAM1 "urn:xmpp:mam:1"
#define NS_MAM2 "urn:xmpp:mam:2"
#define NS_MAM2_EXT "urn:xmpp:mam:2#extended"
/* An account's archive rows in SQL, $1 its host and $2 its username: its
 * integer key, looked up once per statement (migration 023). */
#define MAM_SQL_OWNER "owner = (SELECT uid FROM users WHERE host = $1 AND username = $2)"
/*
 * The counters: mam_stats.messages and mam_with_stats.messages count an
 * account's rows up to its mam_stats.counted_to (every account has a
 * mam_stats row: 024's trigger); rows above it are counted by the query
 * that needs the number (a second's worth), so archiving a message
 * writes no counter.  A fold takes them in: for the accounts src names
 * (as u: host, username, uid), the rows between counted_to and the
 * account's last id.  It runs on the connection the accounts are pinned
 * to, behind every row sent before it; a row inserted later below
 * counted_to (a retry) is counted by the statement that inserts it
 * (MAM_SQL_COUNT_LATE).  An account whose counted_to another fold moved
 * meanwhile (a server killed mid-fold and its successor's start) is left
 * alone: its counters change only if counted_to is still the one this
 * fold counted from.  The answer: each account's counted_to after it
 * (mamwrite.c's later folds add what it tallied from there).
 */
#define MAM_SQL_FOLD(src)						\
	"WITH a AS MATERIALIZED (SELECT s.host, s.username, u.uid, "	\
	"s.counted_to AS c, (SELECT x.id FROM mam_archive x WHERE "	\
	"x.owner = u.uid ORDER BY x.id DESC LIMIT 1) AS m FROM " src	\
	" JOIN mam_stats s ON s.host = u.host AND s.username = u.username), " \
	"r AS (SELECT a.host, a.username, x.with_bare, count(*) AS n FROM a " \
	"JOIN mam_archive x ON x.owner = a.uid AND x.id > a.c AND x.id <= a.m " \
	"GROUP BY 1, 2, 3), "						\
	"g AS (UPDATE mam_stats s SET messages = s.messages + coalesce((SELECT " \
	"sum(r.n) FROM r WHERE r.host = a.host AND r.username = a.username), " \
	"0), counted_to = a.m FROM a WHERE s.host = a.host AND "	\
	"s.username = a.username AND s.counted_to = a.c AND a.m > a.c "	\
	"RETURNING s.host, s.username, s.counted_to), "			\
	"w AS (INSERT INTO mam_with_stats AS ws (host, username, with_bare, messages) " \
	"SELECT r.host, r.username, r.with_bare, r.n FROM r JOIN g ON "	\
	"g.host = r.host AND g.username = r.username ON CONFLICT (host, " \
	"username, with_bare) DO UPDATE SET messages = ws.messages + EXCLUDED.messages) " \
	"SELECT a.host, a.username, coalesce(g.counted_to, a.c) FROM a LEFT JOIN g " \
	"ON g.host = a.host AND g.username = a.username"
/* CTEs (each followed by ", ") counting the rows of ins (host, username,
 * with_bare, id) that are at or below their account's counted_to. */
#define MAM_SQL_COUNT_LATE(ins)						\
	"late AS (SELECT i.host, i.username, i.with_bare FROM " ins " i JOIN " \
	"mam_stats s ON s.host = i.host AND s.username = i.username "	\
	"WHERE i.id <= s.counted_to), "					\
	"late_w AS (INSERT INTO mam_with_stats AS ws (host, username, with_bare, " \
	"messages) SELECT host, username, with_bare, count(*) FROM late " \
	"GROUP BY 1, 2, 3 ON CONFLICT (host, username, with_bare) DO UPDATE " \
	"SET messages = ws.messages + EXCLUDED.messages), "		\
	"late_s AS (UPDATE mam_stats s SET messages = s.messages + g.n FROM " \
	"(SELECT host, username, count(*) AS n FROM late GROUP BY 1, 2) g " \
	"WHERE s.host = g.host AND s.username = g.username) "
#define NS_SID "urn:xmpp:sid:0"
#define NS_RSM "http://jabber.org/protocol/rsm"
#define NS_XDATA "jabber:x:data"

struct c2s;
struct conf_table;
struct conf_err;
struct xml_node;

/* [mam] */
struct mam_config {
	bool enabled;		/* false: no archiving, no stanza-ids, no queries */
	unsigned default_page;	/* results per page without <max/> */
	unsigned max_page;	/* <max/> above this is capped; also max ids */
	unsigned max_prefs;	/* JIDs in the always + never lists */
	uint64_t max_age;	/* seconds; 0: keep forever */
	unsigned expire_batch;	/* rows deleted per expiry statement */
	size_t max_pending;	/* archive bytes not yet written before senders wait */
	unsigned batch_rows;	/* rows per archive statement at most */
	unsigned batch_delay_ms;	/* a batch collects rows this long at most */
};

int mam_config_load(struct mam_config *m, struct conf_table *root,
    struct conf_err *e);

extern struct module mam_module;
#define mam_cfg() ((const struct mam_config *)module_cfg(&mam_module))

/* carbons' namespaces (XEP-0280), which the archive looks into */
#define MAM_NS_CARBONS "urn:xmpp:carbons:2"
#define MAM_NS_FORWARD "urn:xmpp:forward:0"

/* Sends the account's collected archive rows now (before a query of it). */
void mam_flush(const char *bare);

/* The preferences an account just stored (mamprefs.c) replace the ones in
 * memory; src is emptied. */
struct mam_prefs;
void mam_prefs_stored(const char *bare, struct mam_prefs *src);

/* ---- pure parts (unit tests) ---- */

/* Whether n is worth archiving (type and payload, hints). */
bool mam_archivable(const struct xml_node *n);
/* The next archive id after `last` for the time `now_us`. */
int64_t mam_id_after(int64_t last, int64_t now_us);
/* PostgreSQL array literals: elements appended quoted ("{" before the
 * first), then closed ("{}" when empty). */
int mam_pg_elem(struct buf *out, const char *s);
int mam_pg_close(struct buf *out);
/* One field of a row in COPY's text format (backslash, tab, newline and
 * carriage return escaped), then sep: 0, or -1 (out of memory). */
int mam_copy_field(struct buf *out, const char *s, char sep);
/* The field at *p (before end) unescaped into f, NUL-terminated; *p is
 * left at the tab or newline after it: 0, or -1 (out of memory, or the
 * text ends before a separator). */
int mam_copy_read(const char **p, const char *end, struct buf *f);

#endif
