/*
 * mucmam — room archives and their queries.  See mucmam.h.
 *
 * Who may query (XEP-0313 §5.1.1 leaves it to the service; as Prosody):
 * an occupant; a member, admin or owner; anyone when the room is public,
 * open and without a password.  Outcasts never.  Real JIDs (§5.1.2, the
 * muc#user item) go to whoever may see them in the room: anyone in a
 * non-anonymous room, moderators (and admins and owners) in a
 * semi-anonymous one; filtering by a real JID ('with' a bare JID other
 * than the room's) finds nothing for others, so it reveals nothing.
 */
#include "mucmam.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "c2s.h"
#include "db.h"
#include "evloop.h"
#include "fragment.h"
#include "iq.h"
#include "log.h"
#include "mamquery.h"
#include "mucconf.h"
#include "mucroom.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define NS_FORWARD	"urn:xmpp:forward:0"
#define NS_RSM		"http://jabber.org/protocol/rsm"
/* Bytes a result adds around the stored message (addresses, ids, delay). */
#define RESULT_OVERHEAD	512

static int64_t last_id;

static struct db_stmt st_max = {
	"SELECT coalesce(max(id), 0) FROM muc_archive", 0, 0 };
/*
 * The row in, the room's size up by one, and beyond the room's cap
 * ($7) its oldest rows out: the DELETE sees the archive and its size
 * before this statement, so it drops size + 1 - cap of the old rows.
 */
static struct db_stmt st_store = {
	"WITH i AS (INSERT INTO muc_archive (room, id, nick, occupant_id, jid, "
	"stanza) SELECT $1, $2::bigint, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 "
	"FROM muc_room WHERE jid = $1) RETURNING room), "
	"s AS (INSERT INTO muc_archive_stats (room, messages) SELECT room, 1 "
	"FROM i ON CONFLICT (room) DO UPDATE SET messages = "
	"LEAST(muc_archive_stats.messages + 1, $7::bigint)), "
	"d AS (DELETE FROM muc_archive WHERE room = $1 AND EXISTS (SELECT 1 "
	"FROM i) AND id IN (SELECT id FROM muc_archive WHERE room = $1 ORDER BY "
	"id LIMIT GREATEST(0, coalesce((SELECT messages FROM muc_archive_stats "
	"WHERE room = $1), 0) + 1 - $7::bigint))) SELECT 1", 7, 0 };

/*
 * One page: the page, the size of the result set and how many of the
 * named ids exist ($8), one row even for an empty page.  $2/$3 bound the
 * page, $6/$7 the result set; $9 a nick, $10 a real JID ($12: the
 * querier may filter by it), $11 the #extended ids ('{}': any).  The
 * size of a whole archive comes from muc_archive_stats.
 */
#define COND "AND ($9 = '' OR nick = $9) AND ($10 = '' OR ($12::boolean " \
	"AND jid = $10)) AND (cardinality($11::bigint[]) = 0 OR " \
	"id = ANY($11::bigint[]))"
#define PAGE_SQL(order, total)						\
	"WITH page AS (SELECT id, stanza, jid FROM muc_archive WHERE room = $1 " \
	"AND id > $2 AND id < $3 " COND " ORDER BY id " order " LIMIT $4 "	\
	"OFFSET $5), c AS (SELECT (" total ") AS total, (SELECT count(*) FROM " \
	"muc_archive WHERE room = $1 AND id = ANY($8::bigint[])) AS refs) "	\
	"SELECT c.total, c.refs, p.id, p.stanza, p.jid FROM c LEFT JOIN page p " \
	"ON true ORDER BY p.id"
#define COUNT_SET "SELECT count(*) FROM muc_archive WHERE room = $1 AND " \
	"id > $6 AND id < $7 " COND
#define COUNT_ALL "SELECT coalesce((SELECT messages FROM muc_archive_stats " \
	"WHERE room = $1), 0) + 0 * ($6::bigint + $7::bigint)"

static struct db_stmt st_fwd = { PAGE_SQL("ASC", COUNT_SET), 12, 0 };
static struct db_stmt st_back = { PAGE_SQL("DESC", COUNT_SET), 12, 0 };
static struct db_stmt st_all_fwd = { PAGE_SQL("ASC", COUNT_ALL), 12, 0 };
static struct db_stmt st_all_back = { PAGE_SQL("DESC", COUNT_ALL), 12, 0 };

/* ---- ids ---- */

int64_t
mucmam_id_after(int64_t last, int64_t now_us)
{
	return now_us > last ? now_us : last + 1;
}

int64_t
mucmam_next_id(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	last_id = mucmam_id_after(last_id,
	    (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	return last_id;
}

int
mucmam_start(PGconn *pg, char *err, size_t errlen)
{
	PGresult *r = db_exec_sync(pg, &st_max, NULL, err, errlen);

	if (r == NULL)
		return -1;
	last_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

/* ---- archiving ---- */

bool
mucmam_on(const struct muc_room *r)
{
	return r->stored && r->cfg.persistent && r->cfg.archive;
}

/*
 * What a reader misses when it is not there (ejabberd's and Prosody's
 * choice): a body, an end-to-end encrypted payload, a retraction, a
 * reaction, or the XEP-0334 <store/> hint; never with <no-store/> or
 * <no-permanent-store/>.
 */
bool
mucmam_archivable(const struct xml_node *m)
{
	static const struct { const char *name, *ns; } payloads[] = {
		{ "body", NS_CLIENT },
		{ "encrypted", "eu.siacs.conversations.axolotl" },
		{ "encrypted", "urn:xmpp:omemo:2" },
		{ "openpgp", "urn:xmpp:openpgp:0" },
		{ "retract", NS_RETRACT1 },
		{ "apply-to", NS_FASTEN },
		{ "reactions", "urn:xmpp:reactions:0" },
		{ "store", "urn:xmpp:hints" },
	};

	if (xml_child(m, "no-store", "urn:xmpp:hints") ||
	    xml_child(m, "no-permanent-store", "urn:xmpp:hints"))
		return false;
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++)
		if (xml_child(m, payloads[i].name, payloads[i].ns))
			return true;
	return false;
}

/*
 * Expiry ([muc] archive_max_age): the oldest messages of every room go
 * in batches, the rooms' sizes with them, every max_age / 4 (between 1 s
 * and 1 min).  The history rings of rooms in memory keep what they hold.
 */
#define EXPIRE_BATCH	1000
#define EXPIRE_MIN_MS	1000
#define EXPIRE_MAX_MS	60000

static struct db_stmt st_expire = {
	"WITH d AS (DELETE FROM muc_archive WHERE (room, id) IN (SELECT room, id "
	"FROM muc_archive WHERE id < $1 ORDER BY id LIMIT $2::integer) "
	"RETURNING room), g AS (SELECT room, count(*) AS n FROM d GROUP BY room), "
	"u AS (UPDATE muc_archive_stats s SET messages = greatest(s.messages - g.n, 0) "
	"FROM g WHERE s.room = g.room) SELECT coalesce(sum(n), 0) FROM g", 2, 0 };

static struct ev_timer expire_timer;
static bool expire_running, expire_stopping;

static void expire_run(void);

static void
expired(void *arg, PGresult *res, const char *err)
{
	long n;

	(void)arg;
	expire_running = false;
	if (expire_stopping)
		return;
	if (res == NULL) {
		log_warn("muc: expiring old room messages failed: %s", err);
		return;
	}
	n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	if (n > 0)
		log_debug("muc: %ld expired room message%s deleted", n, n == 1 ? "" : "s");
	if (n >= EXPIRE_BATCH)
		expire_run();	/* a full batch: there is more */
}

static void
expire_run(void)
{
	uint64_t age = muc_cfg()->archive_max_age;
	char cut[24], batch[16];
	const char *v[2] = { cut, batch };
	struct timespec ts;

	if (age == 0 || expire_running)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(cut, sizeof(cut), "%lld",
	    (long long)(((int64_t)ts.tv_sec - (int64_t)age) * 1000000));
	snprintf(batch, sizeof(batch), "%d", EXPIRE_BATCH);
	/* unkeyed: expiry never waits behind a room's own work */
	if (db_query(srv.db, &st_expire, v, expired, NULL) != NULL)
		expire_running = true;
}

static void
expire_tick(struct ev_loop *loop, struct ev_timer *t)
{
	uint64_t every = muc_cfg()->archive_max_age * 1000 / 4;

	expire_run();
	if (every < EXPIRE_MIN_MS)
		every = EXPIRE_MIN_MS;
	if (every > EXPIRE_MAX_MS)
		every = EXPIRE_MAX_MS;
	ev_timer_start(loop, t, every);
}

void
mucmam_init(void)
{
	expire_stopping = false;
	ev_timer_init(&expire_timer, expire_tick, NULL);
	ev_timer_start(srv.loop, &expire_timer, EXPIRE_MIN_MS);
}

void
mucmam_shutdown(void)
{
	expire_stopping = true;
	ev_timer_stop(srv.loop, &expire_timer);
}

static void
stored(void *arg, PGresult *res, const char *err)
{
	(void)arg;
	if (res == NULL)
		log_warn("muc: archiving a room's message: %s", err);
}

void
mucmam_store(const char *room, const struct muc_occ *o, int64_t id,
    const char *stanza)
{
	unsigned long long cap = muc_cfg()->archive_max_messages;
	char ids[24], caps[24];
	const char *v[7] = { room, ids, o ? o->nick : "", o ? o->occ_id : "",
	    o ? o->bare : "", stanza, caps };

	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	snprintf(caps, sizeof(caps), "%llu", cap ? cap : (unsigned long long)INT64_MAX);
	if (db_query_key(srv.db, room, &st_store, v, stored, NULL) == NULL)
		log_warn("muc: archiving a message of %s: not queued", room);
}

/* ---- queries ---- */

/* Whether the sender f may read r's archive, and whether it sees real
 * JIDs there. */
static bool
may_read(const struct muc_room *r, const struct muc_from *f, bool *sees_jids)
{
	enum muc_aff a = mucroom_aff(r, f->bare);
	const struct muc_sess *s = mucroom_sess_of(r, f);

	if (a == MUC_AFF_OUTCAST)
		return false;
	*sees_jids = r->cfg.whois_anyone || a >= MUC_AFF_ADMIN ||
	    (s && s->occ->role == MUC_ROLE_MODERATOR);
	if (s || a >= MUC_AFF_MEMBER)
		return true;
	return r->cfg.public_ && !r->cfg.members_only &&
	    !r->cfg.password_protected;
}

struct qop {
	struct c2s *c;		/* the local session asking, or NULL: */
	const char *to;		/* an account of another server (over s2s) */
	struct xml_node *iq;
	struct mam_query q;
	bool sees_jids;
	char room[];
};

static void
qop_end(struct qop *o)
{
	mam_query_free(&o->q);
	xml_free(o->iq);
	if (o->c)
		c2s_unblock(o->c);
	free(o);
}

/* An answer (taken) to whoever asked: a local session's output, or the
 * router for a remote requester (iq_reply). */
static void
reply(struct qop *o, struct xml_node *n)
{
	iq_reply(o->c, n);
}

static int
put_attr(struct buf *b, const char *name, const char *v)
{
	return buf_printf(b, " %s='", name) == -1 ||
	    xml_escape(b, v, strlen(v), true) == -1 ||
	    buf_append(b, "'", 1) == -1 ? -1 : 0;
}

int
mucmam_with_jid(struct buf *out, const char *rest, size_t len, const char *jid)
{
	/* rest: what follows "<message", "...>...</message>" or ".../>" */
	if (len >= 10 && memcmp(rest + len - 10, "</message>", 10) == 0) {
		if (buf_append(out, rest, len - 10) == -1)
			return -1;
	} else if (len >= 2 && memcmp(rest + len - 2, "/>", 2) == 0) {
		if (buf_append(out, rest, len - 2) == -1 ||
		    buf_append(out, ">", 1) == -1)
			return -1;
	} else {
		return -1;
	}
	if (buf_puts(out, "<x xmlns='" NS_MUC_USER "'><item") == -1 ||
	    put_attr(out, "jid", jid) == -1 ||
	    buf_puts(out, "/></x></message>") == -1)
		return -1;
	return 0;
}

/* Whether a start tag's attributes (n bytes) declare a namespace. */
static bool
has_xmlns(const char *attrs, size_t n)
{
	for (size_t i = 0; i + 7 <= n; i++)
		if (memcmp(attrs + i, " xmlns=", 7) == 0)
			return true;
	return false;
}

static void
send_result(struct qop *o, PGresult *res, int row)
{
	struct c2s *c = o->c;
	const char *id = PQgetvalue(res, row, 2), *jid = PQgetvalue(res, row, 4);
	struct xml_node *m;
	const char *st = PQgetvalue(res, row, 3);
	size_t len = (size_t)PQgetlength(res, row, 3);
	const char *gt = NULL;
	char stamp[40];
	int64_t us = 0;
	struct buf b;
	int rc;

	(void)mam_id_parse(id, &us);
	mam_time_format(us, stamp, sizeof(stamp));
	buf_init(&b);
	rc = buf_puts(&b, "<message") == -1 || put_attr(&b, "from", o->room) == -1 ||
	    put_attr(&b, "to", c ? c->full : o->to) == -1 || put_attr(&b, "id", id) == -1 ||
	    buf_puts(&b, "><result") == -1 || put_attr(&b, "xmlns", o->q.ns) == -1 ||
	    (o->q.queryid && put_attr(&b, "queryid", o->q.queryid) == -1) ||
	    put_attr(&b, "id", id) == -1 ||
	    buf_puts(&b, "><forwarded xmlns='" NS_FORWARD "'><delay xmlns='"
	    NS_DELAY "'") == -1 || put_attr(&b, "stamp", stamp) == -1 ||
	    buf_puts(&b, "/>") == -1 ? -1 : 0;
	/* stored as occupants got it, usually without the xmlns the
	 * forwarded copy needs (XEP-0297: its parent's namespace is not
	 * jabber:client); '>' is escaped in attributes, so the first one
	 * ends the start tag */
	if (rc == 0 && (len < 9 || strncmp(st, "<message", 8) != 0 ||
	    (gt = memchr(st, '>', len)) == NULL))
		rc = -1;
	if (rc == 0) {
		rc = buf_puts(&b, "<message");
		if (rc == 0 && !has_xmlns(st + 8, (size_t)(gt - st) - 8))
			rc = buf_puts(&b, " xmlns='" NS_CLIENT "'");
		if (rc == 0 && o->sees_jids && jid[0])
			rc = mucmam_with_jid(&b, st + 8, len - 8, jid);
		else if (rc == 0)
			rc = buf_append(&b, st + 8, len - 8);
	}
	if (rc == 0 && buf_puts(&b, "</forwarded></result></message>") == 0) {
		/* a remote requester's copy goes through the router as a
		 * tree, parsed back as any stored stanza is */
		if (c)
			c2s_send_stanza_raw(c, b.p, b.len);
		else if ((m = fragment_parse(b.p, b.len, NS_CLIENT)) != NULL)
			router_route(m);
		else
			log_warn("muc: archive row %s of %s does not parse", id, o->room);
	}
	buf_free(&b);
}

static void
send_fin(struct qop *o, PGresult *res, int first, int last, bool complete,
    int64_t index)
{
	struct xml_node *r = stanza_iq_result(o->iq), *fin, *set, *f;
	char num[24];

	if (r == NULL || (fin = xml_add(r, "fin", o->q.ns)) == NULL ||
	    (set = xml_add(fin, "set", NS_RSM)) == NULL) {
		xml_free(r);
		return;
	}
	xml_set_attr(fin, "complete", complete ? "true" : "false");
	if (o->q.queryid)
		xml_set_attr(fin, "queryid", o->q.queryid);
	if (first <= last) {
		f = xml_add_with_text(set, "first", NULL, PQgetvalue(res, first, 2));
		if (f && index >= 0) {
			snprintf(num, sizeof(num), "%lld", (long long)index);
			xml_set_attr(f, "index", num);
		}
		xml_add_with_text(set, "last", NULL, PQgetvalue(res, last, 2));
	}
	xml_add_with_text(set, "count", NULL, PQgetvalue(res, 0, 0));
	reply(o, r);
}

static void
queried(void *arg, PGresult *res, const char *err)
{
	struct qop *o = arg;
	struct mam_query *q = &o->q;
	struct c2s *c = o->c;
	struct mam_page pg;
	struct xml_node *e;

	if (c && (c->dead || c->full == NULL)) {
		qop_end(o);
		return;
	}
	if (res == NULL || strtoul(PQgetvalue(res, 0, 1), NULL, 10) != q->nrefs) {
		if (res == NULL)
			log_warn("muc: archive query of %s by %s: %s", o->room,
			    c ? c->full : o->to, err);
		e = stanza_error(o->iq, res ? "cancel" : "wait", res ?
		    "item-not-found" : "internal-server-error", NULL);
		if (e)
			reply(o, e);
		qop_end(o);
		return;
	}
	/* a local session's page stops at what its output can take; a
	 * remote one's is bounded by the page size alone (the s2s link's
	 * own output limit stands behind it) */
	mam_page_cut(q, res, c ? buf_pending(&c->conn.out) : 0, RESULT_OVERHEAD, &pg);
	for (int i = 0; i <= pg.last - pg.first; i++)
		send_result(o, res, q->flip ? pg.last - i : pg.first + i);
	send_fin(o, res, pg.first, pg.last, !pg.more && (q->max > 0 || pg.total == 0),
	    pg.index);
	qop_end(o);
}

static void
query(struct muc_room *r, struct xml_node *n, const struct xml_node *qn,
    struct c2s *c, const char *to, bool sees_jids)
{
	const struct muc_config *mc = muc_cfg();
	char plo[24], phi[24], lo[24], hi[24], lim[24], off[24];
	const char *type, *cond, *v[12], *nick = "", *jid = "";
	size_t len = strlen(r->jid) + 1, tolen = c ? 0 : strlen(to) + 1;
	struct qop *o = calloc(1, sizeof(*o) + len + tolen);
	struct db_stmt *st;
	struct buf refs, ids;
	bool whole;

	if (o == NULL) {
		stanza_bounce(n, "wait", "resource-constraint");
		xml_free(n);
		return;
	}
	memcpy(o->room, r->jid, len);
	o->c = c;
	if (c == NULL)
		o->to = memcpy(o->room + len, to, tolen);
	o->iq = n;
	o->sees_jids = sees_jids;
	if (c)
		c2s_block(c);
	if (mam_query_parse_page(qn, mc->archive_page, mc->archive_max_page,
	    &o->q, &type, &cond) == -1) {
		stanza_bounce(n, type, cond);
		qop_end(o);
		return;
	}
	/* 'with' the room's JID: an occupant's nick ("" the room itself:
	 * everything); another JID: a real JID */
	if (o->q.with && strcmp(o->q.with_bare, r->jid) == 0)
		nick = o->q.with_res;
	else if (o->q.with)
		jid = o->q.with_bare;
	if (o->q.ids)
		o->q.backward = false;
	snprintf(plo, sizeof(plo), "%lld", (long long)o->q.plo);
	snprintf(phi, sizeof(phi), "%lld", (long long)o->q.phi);
	snprintf(lo, sizeof(lo), "%lld", (long long)o->q.lo);
	snprintf(hi, sizeof(hi), "%lld", (long long)o->q.hi);
	snprintf(lim, sizeof(lim), "%u", o->q.max + 1);
	snprintf(off, sizeof(off), "%lld", o->q.index > 0 ? o->q.index : 0LL);
	buf_init(&refs);
	buf_init(&ids);
	mam_id_array(&refs, o->q.refs, o->q.nrefs);
	mam_id_array(&ids, o->q.ids, o->q.nids);
	v[0] = r->jid;
	v[1] = plo;
	v[2] = phi;
	v[3] = lim;
	v[4] = off;
	v[5] = lo;
	v[6] = hi;
	v[7] = refs.p;
	v[8] = nick;
	v[9] = jid;
	v[10] = ids.p;
	v[11] = sees_jids ? "t" : "f";
	whole = o->q.lo == 0 && o->q.hi == INT64_MAX && !nick[0] && !jid[0] &&
	    o->q.nids == 0;
	if (whole)
		st = o->q.backward ? &st_all_back : &st_all_fwd;
	else
		st = o->q.backward ? &st_back : &st_fwd;
	if (refs.p == NULL || ids.p == NULL ||
	    db_query_key(srv.db, r->jid, st, v, queried, o) == NULL) {
		stanza_bounce(n, "wait", "resource-constraint");
		qop_end(o);
	}
	buf_free(&refs);
	buf_free(&ids);
}

/* ---- metadata (XEP-0313 §7.1: the first and last message) ---- */

static struct db_stmt st_meta = {
	"SELECT min(id), max(id) FROM muc_archive WHERE room = $1", 1, 0 };

static void
meta_got(void *arg, PGresult *res, const char *err)
{
	struct xml_node *n = arg, *r, *m;

	if (res == NULL) {
		log_warn("muc: archive metadata: %s", err);
		stanza_bounce(n, "wait", "internal-server-error");
	} else if ((r = stanza_iq_result(n)) == NULL ||
	    (m = xml_add(r, "metadata", NS_MAM2)) == NULL) {
		xml_free(r);
		stanza_bounce(n, "wait", "resource-constraint");
	} else {
		mam_metadata_fill(m, res);
		router_route(r);
	}
	xml_free(n);
}

static void
metadata(struct muc_room *r, struct xml_node *n)
{
	const char *v[1] = { r->jid };

	/* keyed by the room: the rows it wrote before are counted */
	if (db_query_key(srv.db, r->jid, &st_meta, v, meta_got, n) == NULL) {
		stanza_bounce(n, "wait", "resource-constraint");
		xml_free(n);
	}
}

bool
mucmam_iq(struct muc_room *r, struct xml_node *n, const struct xml_node *q)
{
	const char *from = xml_attr(n, "from"), *type = stanza_type(n);
	bool get = strcmp(type, "get") == 0, sees_jids = false;
	struct muc_from f;

	if (!xml_is(q, "query", NS_MAM2) && !xml_is(q, "query", NS_MAM1) &&
	    !xml_is(q, "metadata", NS_MAM2))
		return false;
	/* local sessions and accounts of other servers alike (a remote
	 * occupant's client catches up on the room through its archive) */
	if (muc_from(from, &f) == -1 || !may_read(r, &f, &sees_jids)) {
		stanza_bounce(n, "auth", "forbidden");
		xml_free(n);
	} else if (!mucmam_on(r)) {
		stanza_bounce(n, "cancel", "feature-not-implemented");
		xml_free(n);
	} else if (strcmp(q->name, "metadata") == 0) {
		if (get) {
			metadata(r, n);
		} else {
			stanza_bounce(n, "modify", "bad-request");
			xml_free(n);
		}
	} else if (get) {
		/* §4.1.5: the query form */
		mamquery_form(f.c, n, q->ns);
		xml_free(n);
	} else {
		query(r, n, q, f.c, f.full, sees_jids);
	}
	return true;
}

void
mucmam_features(const struct muc_room *r, struct xml_node *query)
{
	static const char *const feat[] = { NS_MAM2, NS_MAM2_EXT, NS_MAM1,
	    NS_MODERATE1, NS_MODERATE0 };

	if (!mucmam_on(r))
		return;
	for (size_t i = 0; i < sizeof(feat) / sizeof(feat[0]); i++)
		xml_set_attr(xml_add(query, "feature", NULL), "var", feat[i]);
}
