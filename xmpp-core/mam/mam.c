/*
 * mam — archiving, stanza-ids, preferences in memory and expiry of
 * XEP-0313; the queries are in mamquery.c, the preferences protocol in
 * mamprefs.c.  See mam.h.
 */
#include "mam.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "c2s.h"
#include "conf.h"
#include "db.h"
#include "evloop.h"
#include "iq.h"
#include "log.h"
#include "mamprefs.h"
#include "mamquery.h"
#include "mamwrite.h"
#include "roster.h"
#include "router.h"
#include "server.h"
#include "sm.h"
#include "stanza.h"
#include "xml.h"

#define NS_HINTS "urn:xmpp:hints"
/* expiry runs every max_age / 4, between 1 s and 1 min */
#define EXPIRE_MIN_MS 1000
#define EXPIRE_MAX_MS (60 * 1000)
/* a decided insert that failed is sent again after this (doubling) */
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000

/* Preferences of an account with sessions, or with messages waiting for
 * the database's decision (inflight keeps their order). */
struct mprefs {
	char *bare;
	unsigned refs;		/* sessions, loads, waiting messages */
	unsigned inflight;	/* incoming messages waiting for the database */
	bool loaded, loading;
	struct mam_prefs p;
};

static struct hmap accounts;	/* bare JID -> struct mprefs */
static int64_t last_id;
static bool stopping;
static struct ev_timer expire_timer;
static bool expire_running;

static struct db_stmt st_max = {
	"SELECT coalesce(max(x.id), 0) FROM users u CROSS JOIN LATERAL "
	"(SELECT id FROM mam_archive a WHERE a.owner = u.uid ORDER BY id DESC LIMIT 1) x",
	0, 0 };
/* Every account's rows above counted_to into the counters, at start. */
static struct db_stmt st_fold_all = { MAM_SQL_FOLD("users u"), 0, 0 };
/*
 * A row whose archiving the stored preferences decide (XEP-0441 §3: a JID
 * on the never list wins over the always list, which wins over the
 * default); an id already stored (sent again after a lost answer) is
 * skipped; the answer has one row when it was stored.  Counted like a
 * batch's rows: by a later fold, or at once if a fold went past its id
 * (a retry).
 */
static struct db_stmt st_insert_if = {
	"WITH ins AS (INSERT INTO mam_archive (id, host, username, with_bare, with_res, "
	"outgoing, stanza, owner) SELECT $1, u.host, u.username, $4, $5, $6, $7, u.uid "
	"FROM users u "
	"LEFT JOIN mam_prefs p ON p.host = u.host AND p.username = u.username "
	"WHERE u.host = $2 AND u.username = $3 AND CASE "
	"WHEN p.mode IS NULL THEN true "
	"WHEN p.never && ARRAY[$4, $8]::text[] THEN false "
	"WHEN p.always && ARRAY[$4, $8]::text[] THEN true "
	"WHEN p.mode = 'always' THEN true "
	"WHEN p.mode = 'roster' THEN EXISTS (SELECT 1 FROM roster r WHERE r.host = $2 "
	"AND r.username = $3 AND r.jid = $4 AND r.visible) "
	"ELSE false END ON CONFLICT (owner, id) DO NOTHING "
	"RETURNING host, username, with_bare, id), "
	MAM_SQL_COUNT_LATE("ins")
	"SELECT 1 FROM ins", 8, 0 };

/*
 * Only rows the counters hold (at or below counted_to: every row but the
 * last seconds' once folded) go, so a fold running meanwhile on another
 * connection never counts a row this removes.  An account's old rows are
 * the start of its (owner, id) index: one probe per account with
 * archived messages (migration 025), until $2 rows are found.
 */
static struct db_stmt st_expire = {
	"WITH d AS (DELETE FROM mam_archive WHERE ctid = ANY(ARRAY(SELECT x.ctid FROM "
	"mam_stats s JOIN users u ON u.host = s.host AND u.username = s.username "
	"CROSS JOIN LATERAL (SELECT a.ctid FROM mam_archive a WHERE a.owner = u.uid "
	"AND a.id < $1 AND a.id <= s.counted_to ORDER BY a.id LIMIT $2::integer) x "
	"WHERE s.messages > 0 LIMIT $2::integer)) RETURNING host, username, with_bare), "
	"g AS (SELECT host, username, count(*) AS n FROM d GROUP BY host, username), "
	"gw AS (SELECT host, username, with_bare, count(*) AS n FROM d "
	"GROUP BY host, username, with_bare), "
	"u AS (UPDATE mam_stats s SET messages = greatest(s.messages - g.n, 0) FROM g "
	"WHERE s.host = g.host AND s.username = g.username), "
	"uw AS (UPDATE mam_with_stats s SET messages = greatest(s.messages - gw.n, 0) FROM gw "
	"WHERE s.host = gw.host AND s.username = gw.username AND s.with_bare = gw.with_bare) "
	"SELECT coalesce(sum(n), 0) FROM g", 2, 0 };

/* ---- configuration ---- */

static int
mam_module_config(struct conf_table *root, void **cfg, struct conf_err *e)
{
	if ((*cfg = calloc(1, sizeof(struct mam_config))) == NULL)
		return -1;
	return mam_config_load(*cfg, root, e);
}

static void
mam_module_config_free(void *cfg)
{
	free(cfg);
}

int
mam_config_load(struct mam_config *m, struct conf_table *root, struct conf_err *e)
{
	struct conf_table *t;
	long long dp = 50, mp = 250, pr = 1000, eb = 1000, br = 500, bd = 10;
	uint64_t age = 0, pend = 4 * 1024 * 1024;
	bool on = true;
	int rc;

	t = conf_table(root, "mam", e, &rc);
	if (rc == -1)
		return -1;
	if (rc == 1 && (conf_bool(t, "enabled", &on, e) == -1 ||
	    conf_int(t, "max_page", 1, 10000, &mp, e) == -1 ||
	    conf_int(t, "default_page", 1, 10000, &dp, e) == -1 ||
	    conf_int(t, "max_prefs", 0, 100000, &pr, e) == -1 ||
	    conf_int(t, "expire_batch", 1, 1000000, &eb, e) == -1 ||
	    conf_duration_range(t, "max_age", 0, 100ULL * 365 * 86400, &age, e) == -1 ||
	    conf_int(t, "batch_rows", 1, 10000, &br, e) == -1 ||
	    conf_int(t, "batch_delay_ms", 0, 1000, &bd, e) == -1 ||
	    conf_size(t, "max_pending", &pend, e) == -1))
		return -1;
	if (pend < 64 * 1024 || pend > 1024ULL * 1024 * 1024) {
		conf_errf(e, t, "max_pending", "must be between 64K and 1G");
		return -1;
	}
	if (dp > mp) {
		conf_errf(e, t, "default_page", "must not exceed max_page (%lld)", mp);
		return -1;
	}
	m->enabled = on;
	m->default_page = (unsigned)dp;
	m->max_page = (unsigned)mp;
	m->max_prefs = (unsigned)pr;
	m->expire_batch = (unsigned)eb;
	m->max_age = age;
	m->max_pending = (size_t)pend;
	m->batch_rows = (unsigned)br;
	m->batch_delay_ms = (unsigned)bd;
	return 0;
}

/* ---- pure helpers ---- */

int64_t
mam_id_after(int64_t last, int64_t now_us)
{
	return now_us > last ? now_us : last + 1;
}

static int64_t
next_id(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	last_id = mam_id_after(last_id, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	return last_id;
}

/* Appends one quoted element to an array literal being built ("{" first). */
int
mam_pg_elem(struct buf *out, const char *s)
{
	size_t run;

	if (buf_append(out, out->len ? ",\"" : "{\"", 2) == -1)
		return -1;
	for (;;) {
		run = strcspn(s, "\"\\");
		if (buf_append(out, s, run) == -1)
			return -1;
		if (s[run] == '\0')
			break;
		if (buf_append(out, "\\", 1) == -1 || buf_append(out, s + run, 1) == -1)
			return -1;
		s += run + 1;
	}
	return buf_append(out, "\"", 1);
}

int
mam_pg_close(struct buf *out)
{
	return buf_puts(out, out->len ? "}" : "{}");
}

int
mam_copy_field(struct buf *out, const char *s, char sep)
{
	size_t run;

	for (;;) {
		run = strcspn(s, "\\\t\n\r");
		if (buf_append(out, s, run) == -1)
			return -1;
		s += run;
		if (*s == '\0')
			break;
		if (buf_append(out, *s == '\\' ? "\\\\" : *s == '\t' ? "\\t" :
		    *s == '\n' ? "\\n" : "\\r", 2) == -1)
			return -1;
		s++;
	}
	return buf_append(out, &sep, 1);
}

int
mam_copy_read(const char **pp, const char *end, struct buf *f)
{
	const char *p = *pp;

	f->len = 0;
	for (; p < end && *p != '\t' && *p != '\n'; p++) {
		char ch = *p;

		if (ch == '\\' && p + 1 < end) {
			ch = *++p;
			ch = ch == 't' ? '\t' : ch == 'n' ? '\n' : ch == 'r' ? '\r' : ch;
		}
		if (buf_append(f, &ch, 1) == -1)
			return -1;
	}
	*pp = p;
	return p == end || buf_append(f, "", 1) == -1 ? -1 : 0;
}

/* Payloads worth keeping besides <body/> (ejabberd's mod_mam stores the
 * same kinds: end-to-end encrypted messages have no body). */
static const struct {
	const char *name, *ns;
} payloads[] = {
	{ "encrypted", "eu.siacs.conversations.axolotl" },	/* OMEMO (legacy) */
	{ "encrypted", "urn:xmpp:omemo:2" },
	{ "openpgp", "urn:xmpp:openpgp:0" },			/* XEP-0373 */
	{ "x", "jabber:x:encrypted" },				/* XEP-0027 */
	{ "x", "jabber:x:conference" },				/* XEP-0249 */
	{ "retract", "urn:xmpp:message-retract:1" },		/* XEP-0424 */
	{ "retract", "urn:xmpp:message-retract:0" },
	{ "reactions", "urn:xmpp:reactions:0" },		/* XEP-0444 */
};

bool
mam_archivable(const struct xml_node *n)
{
	const char *type = stanza_type(n);
	bool store = false;

	if (type[0] != '\0' && strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0)
		return false;
	for (const struct xml_node *c = xml_first_elem(n); c; c = xml_next_elem(c)) {
		if (strcmp(c->ns, NS_HINTS) == 0) {
			if (strcmp(c->name, "no-store") == 0 ||
			    strcmp(c->name, "no-permanent-store") == 0)
				return false;
			store = store || strcmp(c->name, "store") == 0;
		}
		if (strcmp(c->ns, MAM_NS_CARBONS) == 0 &&
		    (strcmp(c->name, "sent") == 0 || strcmp(c->name, "received") == 0))
			return false;
		if (strcmp(c->name, "result") == 0 && (strcmp(c->ns, NS_MAM2) == 0 ||
		    strcmp(c->ns, NS_MAM1) == 0 || strcmp(c->ns, NS_MAM0) == 0))
			return false;
	}
	if (store || xml_child(n, "body", NS_CLIENT))
		return true;
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++)
		if (xml_child(n, payloads[i].name, payloads[i].ns))
			return true;
	return false;
}

/* ---- ids ---- */

static int
mam_start(struct pg_conn *pg, char *err, size_t errlen)
{
	PGresult *r = db_exec_sync(pg, &st_max, NULL, err, errlen);

	if (r == NULL)
		return -1;
	last_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	/* what a server before this one left uncounted (it stopped early) */
	if ((r = db_exec_sync(pg, &st_fold_all, NULL, err, errlen)) == NULL)
		return -1;
	PQclear(r);
	return 0;
}

/* stanza-ids by one of our accounts or hosts that did not come from us
 * (XEP-0359 §4: the receiving entity must not trust them). */
static void
strip_forged(struct xml_node *n)
{
	struct xml_node *c, *next;
	struct jid by;

	for (c = xml_first_elem(n); c; c = next) {
		next = xml_next_elem(c);
		if (!xml_is(c, "stanza-id", NS_SID))
			continue;
		if (jid_parse(xml_attr(c, "by") ? xml_attr(c, "by") : "", &by) == 0 &&
		    router_host_index(by.domain) < 0)
			continue;
		xml_detach(c);
		xml_free(c);
	}
}

/* Ours carry exactly the bare JID we wrote (forged ones were removed where
 * clients send: mam_outgoing). */
static bool
has_own_sid(const struct xml_node *n, const char *bare)
{
	const char *by;

	for (const struct xml_node *c = xml_first_elem(n); c; c = xml_next_elem(c))
		if (xml_is(c, "stanza-id", NS_SID) && (by = xml_attr(c, "by")) != NULL &&
		    strcmp(by, bare) == 0)
			return true;
	return false;
}

static void
add_sid(struct xml_node *n, const char *bare, const char *id)
{
	struct xml_node *s = xml_add(n, "stanza-id", NS_SID);

	if (s) {
		xml_set_attr(s, "by", bare);
		xml_set_attr(s, "id", id);
	}
}

/* ---- preferences in memory ---- */

static struct mprefs *
prefs_get(const char *bare)
{
	struct mprefs *p = hmap_get(&accounts, bare);

	if (p)
		return p;
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->bare = strdup(bare)) == NULL ||
	    hmap_put(&accounts, bare, p) == -1) {
		if (p)
			free(p->bare);
		free(p);
		return NULL;
	}
	return p;
}

static void
prefs_unref(struct mprefs *p)
{
	if (--p->refs > 0)
		return;
	hmap_del(&accounts, p->bare);
	mam_prefs_clear(&p->p);
	free(p->bare);
	free(p);
}

static void
prefs_loaded(void *arg, PGresult *res, const char *err)
{
	struct mprefs *p = arg;

	p->loading = false;
	if (res == NULL) {
		if (!stopping)
			log_warn("mam: loading the preferences of %s failed: %s", p->bare, err);
	} else if (!p->loaded) {
		mam_prefs_from_rows(&p->p, res);
		p->loaded = true;
	}
	prefs_unref(p);
}

static void
mam_session_start(struct c2s *c)
{
	struct mprefs *p = prefs_get(c->user->bare);
	const char *v[2];

	if (p == NULL)
		return;
	p->refs++;		/* the session's */
	if (p->loaded || p->loading)
		return;
	/* until they are here the database decides (st_insert_if) */
	v[0] = srv.cfg->hosts[c->host];
	v[1] = c->local;
	p->refs++;
	p->loading = true;
	if (db_query_key(srv.db, c->user->bare, &mamprefs_st_load, v, prefs_loaded, p) == NULL) {
		p->loading = false;
		p->refs--;
	}
}

static void
mam_session_end(struct c2s *c)
{
	struct mprefs *p = c->user ? hmap_get(&accounts, c->user->bare) : NULL;

	if (p)
		prefs_unref(p);
}

/* The stored (now authoritative) preferences go to memory as well. */
void
mam_prefs_stored(const char *bare, struct mam_prefs *src)
{
	struct mprefs *p = hmap_get(&accounts, bare);

	if (p == NULL)
		return;
	mam_prefs_clear(&p->p);
	p->p = *src;
	memset(src, 0, sizeof(*src));
	p->loaded = true;
}

/* ---- archiving ---- */

/* The serialised stanza of the row being made (row_make to its use). */
static struct buf scratch;
#define SCRATCH_KEEP (64 * 1024)

struct row {
	char id[24];
	int64_t idn;
	const char *v[8];
	char full[JID_STR_MAX + 1];
	char with_bare[2 * JID_PART_MAX + 2];
	size_t cost;		/* counted in pending */
};

/* Decimal without printf: this runs twice per message. */
static void
id_text(int64_t id, char out[24])
{
	char tmp[24];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + id % 10);
		id /= 10;
	} while (id > 0);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
}

static void
scratch_done(void)
{
	buf_recycle(&scratch, SCRATCH_KEEP);
}

/* The values of one archive row; stanza serialised (into scratch, valid
 * until scratch_done) without the carbons <private/> hint (only for
 * routing) and with its own xmlns. */
static int
row_make(struct row *r, int host, const char *local, const struct jid *with,
    bool outgoing, const struct xml_node *n)
{
	struct xml_node *copy = NULL, *pv;
	int rc;

	r->idn = next_id();
	id_text(r->idn, r->id);
	buf_reset(&scratch);
	if (xml_child(n, "private", MAM_NS_CARBONS)) {
		if ((copy = xml_copy(n)) == NULL)
			return -1;
		while ((pv = xml_child(copy, "private", MAM_NS_CARBONS)) != NULL) {
			xml_detach(pv);
			xml_free(pv);
		}
	}
	rc = xml_serialize(&scratch, copy ? copy : n, NULL);
	xml_free(copy);
	if (rc == -1) {
		scratch_done();
		return -1;
	}
	jid_bare(with, r->with_bare, sizeof(r->with_bare));
	/* the full JID only for st_insert_if ($8), which formats it there */
	r->full[0] = '\0';
	r->v[0] = r->id;
	r->v[1] = srv.cfg->hosts[host];
	r->v[2] = local;
	r->v[3] = r->with_bare;
	r->v[4] = with->resource;
	r->v[5] = outgoing ? "t" : "f";
	r->v[6] = scratch.p;
	r->v[7] = r->full;
	r->cost = scratch.len + strlen(r->with_bare) + strlen(with->resource) + 64;
	return 0;
}

/*
 * A decided insert (st_insert_if) in flight: its values kept, because a
 * failed one is sent again until it is committed (the durable mark waits
 * for its ticket); then cb, if any, learns whether the row was stored.
 */
struct ifwrite {
	struct ifwrite *next;	/* in retrying */
	char *key;
	const char *v[8];
	uint64_t ticket;
	size_t cost;
	unsigned tries;
	db_cb *cb;
	void *arg;
	struct ev_timer retry;
	char data[];		/* key, then the values */
};

/* failed ones waiting to be sent again (finished at stop) */
static struct ifwrite *retrying;

static void ifwrite_send(struct ifwrite *w);

static void
ifwrite_done(void *arg, PGresult *res, const char *err)
{
	struct ifwrite *w = arg;
	uint64_t after;

	if (res == NULL && !stopping) {
		if (w->tries == 0 || w->tries % 20 == 0)
			log_warn("mam: archiving for %s failed (%s): trying again", w->key, err);
		after = (uint64_t)RETRY_MIN_MS << (w->tries < 5 ? w->tries : 5);
		w->tries++;
		w->next = retrying;
		retrying = w;
		ev_timer_start(srv.loop, &w->retry, after > RETRY_MAX_MS ? RETRY_MAX_MS : after);
		return;
	}
	mamwrite_ticket_done(w->ticket, w->cost);
	if (res != NULL && PQntuples(res) == 1)
		mamwrite_fold_later(w->key, w->v[1], w->v[2]);
	mamwrite_if_end(w->key);
	if (w->cb)
		w->cb(w->arg, res, err);
	ev_timer_stop(srv.loop, &w->retry);
	free(w);
}

static void
ifwrite_retry(struct ev_loop *loop, struct ev_timer *t)
{
	struct ifwrite **pp;

	(void)loop;
	for (pp = &retrying; *pp && *pp != t->data; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = (*pp)->next;
	ifwrite_send(t->data);
}

static void
ifwrite_send(struct ifwrite *w)
{
	if (db_query_key(srv.db, w->key, &st_insert_if, w->v, ifwrite_done, w) == NULL)
		ifwrite_done(w, NULL, "database queue full");
}

/* A row whose decision the database makes with the insert (st_insert_if);
 * cb (or nothing) learns the outcome. */
static int
archive_if(const char *bare, int host, const char *local, const struct jid *with,
    bool outgoing, const struct xml_node *n, struct row *r, db_cb *cb, void *arg)
{
	size_t len[8], klen = strlen(bare) + 1, total;
	struct ifwrite *w;
	char *p;

	if (row_make(r, host, local, with, outgoing, n) == -1)
		return -1;
	jid_full(with, r->full, sizeof(r->full));
	total = sizeof(*w) + klen;
	for (int i = 0; i < 8; i++)
		total += len[i] = strlen(r->v[i]) + 1;
	if ((w = calloc(1, total)) == NULL) {
		scratch_done();
		return -1;
	}
	p = w->data;
	w->key = memcpy(p, bare, klen);
	p += klen;
	for (int i = 0; i < 8; i++) {
		w->v[i] = memcpy(p, r->v[i], len[i]);
		p += len[i];
	}
	scratch_done();
	w->cost = r->cost;
	w->cb = cb;
	w->arg = arg;
	ev_timer_init(&w->retry, ifwrite_retry, w);
	w->ticket = mamwrite_ticket(w->cost);
	mamwrite_if_begin(w->key);
	ifwrite_send(w);
	return 0;
}

/* A row of an account whose preferences said yes: to the batch of its
 * database connection (mamwrite.c).  Ids are fixed here, so the order in
 * the archive is the order of the calls. */
static int
archive_known(struct mprefs *p, const struct jid *with, bool outgoing,
    const struct xml_node *n, struct row *r)
{
	const char *at = strchr(p->bare, '@');
	char local[JID_PART_MAX + 1];
	struct mamwrite_row w;
	int host, rc;

	if (at == NULL || (host = router_host_index(at + 1)) < 0)
		return -1;
	snprintf(local, sizeof(local), "%.*s", (int)(at - p->bare), p->bare);
	if (row_make(r, host, local, with, outgoing, n) == -1)
		return -1;
	w.id = r->id;
	w.idn = (uint64_t)r->idn;
	w.host = r->v[1];
	w.local = local;
	w.with_bare = r->with_bare;
	w.with_res = with->resource;
	w.outgoing = outgoing;
	w.stanza = scratch.p;
	if ((rc = mamwrite_add(p->bare, &w)) == -1)
		log_warn("mam: archiving for %s failed: out of memory", p->bare);
	scratch_done();
	return rc;
}

void
mam_flush(const char *bare)
{
	mamwrite_flush(bare);
}

/* 1 archive, 0 not, 2 the database decides. */
static int
decide(const struct mprefs *p, struct user *u, const struct jid *contact)
{
	char bare[2 * JID_PART_MAX + 2];
	struct roster_item *it;
	int d;

	if (p == NULL || !p->loaded)
		return 2;
	if ((d = mam_prefs_match(&p->p, contact)) != 2)
		return d;
	if (u == NULL || USER_ROSTER(u) == NULL || !USER_ROSTER(u)->loaded)
		return 2;
	it = roster_find(USER_ROSTER(u), jid_bare(contact, bare, sizeof(bare)));
	return it && it->visible;
}

static void
mam_outgoing(struct c2s *c, struct xml_node *n)
{
	char bare[2 * JID_PART_MAX + 2];
	struct jid *to;
	struct row *r;
	int d;

	strip_forged(n);
	if (!mam_cfg()->enabled || c->user == NULL || !mam_archivable(n) ||
	    (to = malloc(sizeof(*to))) == NULL)
		return;
	/* to oneself: archived once, as it arrives */
	if (stanza_jid(n, "to", to) == 1 &&
	    strcmp(jid_bare(to, bare, sizeof(bare)), c->user->bare) != 0 &&
	    (d = decide(hmap_get(&accounts, c->user->bare), c->user, to)) != 0 &&
	    (r = malloc(sizeof(*r))) != NULL) {
		/* as ejabberd: the sender's own archive id travels with the
		 * message, so its <sent/> carbons carry it */
		if (d == 1 && archive_known(hmap_get(&accounts, c->user->bare), to, true, n, r) == 0)
			add_sid(n, c->user->bare, r->id);
		else if (d == 2)
			archive_if(c->user->bare, c->host, c->local, to, true, n, r, NULL, NULL);
		free(r);
	}
	free(to);
}

/* An incoming message waiting for the database's decision, or for its
 * row to be committed before it goes to offline storage. */
struct pending {
	struct xml_node *n;
	struct mprefs *p;
	int host;
	struct jid to;
	struct row r;
	struct hook_args a;	/* where delivery goes on */
};

static void
pending_resume(struct pending *x)
{
	if (stopping) {
		xml_free(x->n);
	} else {
		x->a.to = &x->to;
		router_resume(&x->a);
	}
	prefs_unref(x->p);
	free(x);
}

static void
decided(void *arg, PGresult *res, const char *err)
{
	struct pending *x = arg;

	x->p->inflight--;
	if (!stopping) {
		if (res == NULL)
			log_warn("mam: archiving for %s failed: %s", x->p->bare, err);
		else if (PQntuples(res) == 1)
			add_sid(x->n, x->p->bare, x->r.id);
	}
	pending_resume(x);
}

static void
committed(void *arg, bool durable)
{
	struct pending *x = arg;

	(void)durable;		/* false: stopping, the message is dropped */
	pending_resume(x);
}

/* No session of the account takes messages now: this one goes to offline
 * storage (message.c), and may do so only once its row is committed. */
static bool
offline_bound(const char *bare, const struct jid *to)
{
	struct user *u = router_user_find(bare);

	if (u == NULL)
		return true;
	for (const struct c2s *s = u->sessions; s; s = s->next_session)
		if (!s->detached && (s->available ||
		    (to->resource[0] && strcmp(s->resource, to->resource) == 0)))
			return false;
	return true;
}

static struct pending *
pending_new(struct hook_args *a, struct mprefs *p)
{
	struct pending *x;

	p->refs++;
	if ((x = calloc(1, sizeof(*x))) == NULL) {
		prefs_unref(p);
		return NULL;
	}
	x->n = a->n;
	x->p = p;
	x->host = a->host;
	x->to = *a->to;
	x->a = *a;
	return x;
}

static bool
mam_incoming(struct hook_args *a)
{
	struct xml_node *n = a->n;
	const struct jid *to = a->to;
	int host = a->host;
	char bare[2 * JID_PART_MAX + 2];
	struct mprefs *p;
	struct pending *x;
	struct jid *from;
	struct row *r;
	int d;

	if (!mam_cfg()->enabled || to->local[0] == '\0' || !mam_archivable(n))
		return false;
	jid_bare(to, bare, sizeof(bare));
	/* re-routed by stream management: archived when it first arrived */
	if (has_own_sid(n, bare) || (from = malloc(sizeof(*from))) == NULL)
		return false;
	if (stanza_jid(n, "from", from) != 1) {
		free(from);
		return false;
	}
	p = hmap_get(&accounts, bare);
	d = p && p->inflight ? 2 : decide(p, router_user_find(bare), from);
	if (d == 0) {
		free(from);
		return false;
	}
	if (d == 1) {
		x = NULL;
		if ((r = malloc(sizeof(*r))) != NULL && archive_known(p, from, false, n, r) == 0) {
			add_sid(n, bare, r->id);
			/* online: delivered at once; offline: stored once the row is */
			if (offline_bound(bare, to) && !mamwrite_durable(mamwrite_mark()) &&
			    (x = pending_new(a, p)) != NULL &&
			    mamwrite_wait(mamwrite_mark(), committed, x) == -1) {
				prefs_unref(p);
				free(x);
				x = NULL;
			}
		}
		free(r);
		free(from);
		return x != NULL;
	}
	/* the database decides; delivery waits for it, and so do later ones */
	if ((p = prefs_get(bare)) == NULL || (x = pending_new(a, p)) == NULL) {
		free(from);
		return false;
	}
	p->inflight++;
	if (archive_if(bare, host, to->local, from, false, n, &x->r, decided, x) == -1) {
		p->inflight--;
		prefs_unref(p);
		free(x);
		free(from);
		return false;
	}
	free(from);
	return true;
}

static const char *
mam_ns(const char *ns)
{
	if (strcmp(ns, NS_MAM2) == 0 || strcmp(ns, NS_MAM1) == 0 || strcmp(ns, NS_MAM0) == 0)
		return ns;
	return NULL;
}

static bool
mam_iq(struct iq_req *r)
{
	struct c2s *c = r->c;
	struct xml_node *iq = r->iq, *q = r->q;
	bool get = strcmp(stanza_type(iq), "get") == 0;

	if (mam_ns(q->ns) == NULL || !mam_cfg()->enabled)
		return false;	/* disabled: service-unavailable like any unknown */
	if (strcmp(q->name, "prefs") == 0) {
		mamprefs_iq(c, iq, q);
	} else if (strcmp(q->name, "query") == 0 && get) {
		mamquery_form(c, iq, q->ns);
		xml_free(iq);
	} else if (strcmp(q->name, "query") == 0) {
		mamquery_iq(c, iq, q);
	} else if (strcmp(q->name, "metadata") == 0 && get && strcmp(q->ns, NS_MAM2) == 0) {
		mamquery_metadata(c, iq);
	} else {
		iq_error(c, iq, "cancel", "feature-not-implemented");
		xml_free(iq);
	}
	return true;
}

/* ---- expiry ---- */

static void expire_run(void);

static void
expired(void *arg, PGresult *res, const char *err)
{
	long n;

	(void)arg;
	expire_running = false;
	if (stopping)
		return;
	if (res == NULL) {
		log_warn("mam: expiring old messages failed: %s", err);
		return;
	}
	n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	if (n > 0)
		log_debug("mam: %ld expired message%s deleted", n, n == 1 ? "" : "s");
	/* a full batch: more to do, in the next statement */
	if (n >= (long)mam_cfg()->expire_batch)
		expire_run();
}

static void
expire_run(void)
{
	char cut[24], batch[16];
	const char *v[2];
	struct timespec ts;
	int64_t now;

	if (mam_cfg()->max_age == 0 || expire_running)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000;
	snprintf(cut, sizeof(cut), "%lld",
	    (long long)(now - (int64_t)mam_cfg()->max_age * 1000000));
	snprintf(batch, sizeof(batch), "%u", mam_cfg()->expire_batch);
	v[0] = cut;
	v[1] = batch;
	/* unkeyed: expiry never waits behind an account's own work */
	if (db_query(srv.db, &st_expire, v, expired, NULL) != NULL)
		expire_running = true;
}

static void
expire_tick(struct ev_loop *loop, struct ev_timer *t)
{
	uint64_t every = mam_cfg()->max_age * 1000 / 4;

	expire_run();
	if (every < EXPIRE_MIN_MS)
		every = EXPIRE_MIN_MS;
	if (every > EXPIRE_MAX_MS)
		every = EXPIRE_MAX_MS;
	ev_timer_start(loop, t, every);
}

/* Stream-management acks wait for the archive rows they cover. */
static const struct sm_durability durability = {
	mamwrite_mark, mamwrite_durable, mamwrite_wait,
};

static void
mam_init(void)
{
	sm_set_durability(&durability);
	ev_timer_init(&expire_timer, expire_tick, NULL);
	ev_timer_start(srv.loop, &expire_timer, 1000);
}

/* SIGTERM: collected rows go now; the server waits for the database. */
static void
mam_drain(void)
{
	mamwrite_drain();
}

static void
mam_stop(void)
{
	struct ifwrite *w;

	stopping = true;
	ev_timer_stop(srv.loop, &expire_timer);
	mamwrite_stop();
	while ((w = retrying) != NULL) {
		retrying = w->next;
		ev_timer_stop(srv.loop, &w->retry);
		ifwrite_done(w, NULL, "shutting down");
	}
}

static void
mam_cleanup(void)
{
	mamwrite_cleanup();
	hmap_free(&accounts);
	buf_free(&scratch);
}

/*
 * Account removal: the rows made so far (COPY batches file them under the
 * account's key, mamwrite.c) are committed before its row goes, so the
 * deletion takes them with it, and its key is not kept until it is gone.
 */
static void
mam_account_prepare(struct user *u, void (*done)(void *, const char *),
    void *arg)
{
	mamwrite_removing(srv.cfg->hosts[u->host], u->local, done, arg);
}

/* gone, or its removal failed: its key may be kept again (the next
 * batch's answer gives it) */
static void
mam_account_removed(struct user *u)
{
	mamwrite_removed(srv.cfg->hosts[u->host], u->local);
}

static void
mam_stats(struct buf *b)
{
	uint64_t rows, batches, retries, copies, folds, tallied;
	char line[300];

	mamwrite_stats(&rows, &batches, &retries, &copies, &folds, &tallied);
	snprintf(line, sizeof(line), "mam_rows_written\t%llu\nmam_batches\t%llu\n"
	    "mam_batches_copy\t%llu\nmam_retries\t%llu\nmam_folds\t%llu\n"
	    "mam_folds_tallied\t%llu\nmam_durable\t%s\n",
	    (unsigned long long)rows, (unsigned long long)batches,
	    (unsigned long long)copies, (unsigned long long)retries,
	    (unsigned long long)folds, (unsigned long long)tallied,
	    mamwrite_durable(mamwrite_mark()) ? "yes" : "no");
	buf_puts(b, line);
}

static enum hook_rc
out_hook(struct hook_args *a)
{
	mam_outgoing(a->c, a->n);
	/* the archive rows this message makes may be more than the database
	 * keeps up with: later stanzas of the sender wait for it */
	mamwrite_throttle(a->c);
	return HOOK_NEXT;
}

static enum hook_rc
in_hook(struct hook_args *a)
{
	return mam_incoming(a) ? HOOK_TAKEN : HOOK_NEXT;
}

/* The archive's features, while it is on ([mam] enabled); stanza-ids
 * are archive ids. */
static void
mam_disco(enum disco_target t, int host, struct disco *d)
{
	(void)host;
	if (!mam_cfg()->enabled)
		return;
	disco_add_feature(d, "urn:xmpp:sid:0");
	if (t == DISCO_ACCOUNT) {
		disco_add_feature(d, NS_MAM0);
		disco_add_feature(d, NS_MAM1);
		disco_add_feature(d, NS_MAM2);
		disco_add_feature(d, NS_MAM2 "#extended");
	}
}

static const struct iq_handler iqs[] = {
	/* query, prefs, metadata (mam:2); others get mam_iq's errors */
	{ IQ_ANY, NS_MAM0, IQ_CLIENT, mam_iq },
	{ IQ_ANY, NS_MAM1, IQ_CLIENT, mam_iq },
	{ IQ_ANY, NS_MAM2, IQ_CLIENT, mam_iq },
	{ NULL, NULL, 0, NULL },
};

/* after blocking, before carbons (their copies carry the stanza-id) and
 * before delivery (which waits for the id when the database decides) */
static const struct hook hooks[] = {
	{ EV_MESSAGE_OUT, 50, out_hook },
	{ EV_MESSAGE_IN, 50, in_hook },
	{ EV_MAX, 0, NULL },
};

static const char *const migrations[] = { "020_mam", "021_mam_with_stats",
    "022_mam_archive_owner", "023_mam_owner_key", "024_mam_counted",
    "025_mam_expiry_by_owner", NULL };

struct module mam_module = {
	.name = "mam",
	.folder = "mam",
	.config_load = mam_module_config,
	.config_free = mam_module_config_free,
	.migrations = migrations,
	.iqs = iqs,
	.hooks = hooks,
	.disco_info = mam_disco,
	.start = mam_start,
	.init = mam_init,
	.shutdown = mam_drain,
	.stop = mam_stop,
	.cleanup = mam_cleanup,
	.stats = mam_stats,
	.session_bound = mam_session_start,
	.session_unbound = mam_session_end,
	.account_prepare = mam_account_prepare,
	.account_removed = mam_account_removed,
	.account_kept = mam_account_removed,
	.bind2_bound = mamquery_bind2_bound,
};
