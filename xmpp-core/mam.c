/*
 * mam — archiving, stanza-ids, preferences and expiry of XEP-0313.  The
 * queries themselves are in mamquery.c.  See mam.h.
 */
#include "mam.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "c2s.h"
#include "carbons.h"
#include "conf.h"
#include "db.h"
#include "evloop.h"
#include "iq.h"
#include "log.h"
#include "mamquery.h"
#include "message.h"
#include "roster.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define NS_HINTS "urn:xmpp:hints"
/* While an account's insert runs, its next rows are collected and go in
 * one statement when it returns (at most this many / this big). */
#define BATCH_ROWS 200
#define BATCH_BYTES (1024 * 1024)
/* expiry runs every max_age / 4, between 1 s and 1 min */
#define EXPIRE_MIN_MS 1000
#define EXPIRE_MAX_MS (60 * 1000)

/* Preferences of an account with sessions, or with messages waiting for
 * the database's decision (inflight keeps their order). */
struct batch {
	struct buf id, with_bare, with_res, outgoing, stanza;	/* array literals */
	unsigned n;
};

struct mprefs {
	char *bare;
	unsigned refs;		/* sessions, loads, writes, a pending batch */
	unsigned inflight;	/* incoming messages waiting for the database */
	unsigned writes;	/* archive inserts in flight */
	bool loaded, loading;
	struct mam_prefs p;
	struct batch batch;	/* rows waiting for the insert in flight */
};

static struct hmap accounts;	/* bare JID -> struct mprefs */
static int64_t last_id;
static bool stopping;
static struct ev_timer expire_timer;
static bool expire_running;

static struct db_stmt st_max = {
	"SELECT coalesce(max(id), 0) FROM mam_archive", 0, 0 };
/* Every insert also counts the row in mam_stats (the same statement). */
#define COUNT_INSERTED							\
	"INSERT INTO mam_stats AS s (host, username, messages) "		\
	"SELECT $2, $3, count(*) FROM ins HAVING count(*) > 0 "		\
	"ON CONFLICT (host, username) DO UPDATE SET messages = s.messages + EXCLUDED.messages " \
	"RETURNING s.messages"
static struct db_stmt st_insert = {
	"WITH ins AS (INSERT INTO mam_archive (id, host, username, with_bare, with_res, "
	"outgoing, stanza) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING 1) "
	COUNT_INSERTED, 7, 0 };
/* The same, deciding by the stored preferences (XEP-0441 §3): a JID on the
 * never list wins over the always list, which wins over the default. */
static struct db_stmt st_insert_if = {
	"WITH ins AS (INSERT INTO mam_archive (id, host, username, with_bare, with_res, "
	"outgoing, stanza) SELECT $1, u.host, u.username, $4, $5, $6, $7 FROM users u "
	"LEFT JOIN mam_prefs p ON p.host = u.host AND p.username = u.username "
	"WHERE u.host = $2 AND u.username = $3 AND CASE "
	"WHEN p.mode IS NULL THEN true "
	"WHEN p.never && ARRAY[$4, $8]::text[] THEN false "
	"WHEN p.always && ARRAY[$4, $8]::text[] THEN true "
	"WHEN p.mode = 'always' THEN true "
	"WHEN p.mode = 'roster' THEN EXISTS (SELECT 1 FROM roster r WHERE r.host = $2 "
	"AND r.username = $3 AND r.jid = $4 AND r.visible) "
	"ELSE false END RETURNING 1) " COUNT_INSERTED, 8, 0 };
static struct db_stmt st_insert_batch = {
	"WITH ins AS (INSERT INTO mam_archive (id, host, username, with_bare, with_res, "
	"outgoing, stanza) SELECT u.id, $1, $2, u.wb, u.wr, u.o, u.s FROM "
	"unnest($3::bigint[], $4::text[], $5::text[], $6::boolean[], $7::text[]) "
	"AS u(id, wb, wr, o, s) RETURNING 1) "
	"INSERT INTO mam_stats AS s (host, username, messages) "
	"SELECT $1, $2, count(*) FROM ins HAVING count(*) > 0 "
	"ON CONFLICT (host, username) DO UPDATE SET messages = s.messages + EXCLUDED.messages",
	7, 0 };
static struct db_stmt st_prefs = {
	"SELECT p.mode, l.always, l.jid FROM mam_prefs p LEFT JOIN LATERAL "
	"(SELECT true AS always, j AS jid FROM unnest(p.always) j UNION ALL "
	"SELECT false, j FROM unnest(p.never) j) l ON true "
	"WHERE p.host = $1 AND p.username = $2", 2, 0 };
static struct db_stmt st_prefs_set = {
	"INSERT INTO mam_prefs (host, username, mode, always, never) "
	"VALUES ($1, $2, $3, $4::text[], $5::text[]) ON CONFLICT (host, username) "
	"DO UPDATE SET mode = EXCLUDED.mode, always = EXCLUDED.always, "
	"never = EXCLUDED.never", 5, 0 };
static struct db_stmt st_expire = {
	"WITH d AS (DELETE FROM mam_archive WHERE id IN (SELECT id FROM mam_archive "
	"WHERE id < $1 ORDER BY id LIMIT $2::integer) RETURNING host, username), "
	"g AS (SELECT host, username, count(*) AS n FROM d GROUP BY host, username), "
	"u AS (UPDATE mam_stats s SET messages = greatest(s.messages - g.n, 0) FROM g "
	"WHERE s.host = g.host AND s.username = g.username) "
	"SELECT coalesce(sum(n), 0) FROM g", 2, 0 };

/* ---- configuration ---- */

int
mam_config_load(struct mam_config *m, struct conf_table *root, struct conf_err *e)
{
	struct conf_table *t;
	long long dp = 50, mp = 250, pr = 1000, eb = 1000;
	uint64_t age = 0;
	int rc;

	t = conf_table(root, "mam", e, &rc);
	if (rc == -1)
		return -1;
	if (rc == 1 && (conf_int(t, "max_page", 1, 10000, &mp, e) == -1 ||
	    conf_int(t, "default_page", 1, 10000, &dp, e) == -1 ||
	    conf_int(t, "max_prefs", 0, 100000, &pr, e) == -1 ||
	    conf_int(t, "expire_batch", 1, 1000000, &eb, e) == -1 ||
	    conf_duration_range(t, "max_age", 0, 100ULL * 365 * 86400, &age, e) == -1))
		return -1;
	if (dp > mp) {
		conf_errf(e, t, "default_page", "must not exceed max_page (%lld)", mp);
		return -1;
	}
	m->default_page = (unsigned)dp;
	m->max_page = (unsigned)mp;
	m->max_prefs = (unsigned)pr;
	m->expire_batch = (unsigned)eb;
	m->max_age = age;
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

int
mam_id_parse(const char *s, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (s == NULL || s[0] < '1' || s[0] > '9')
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 19)
			return -1;
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* XEP-0082 §3.2: CCYY-MM-DDThh:mm:ss[.sss]TZD, TZD = Z | (+|-)hh:mm */
int
mam_time_parse(const char *s, int64_t *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, th = 0, tm = 0, sign = 0;
	int64_t frac = 0, scale = 100000;
	struct tm t;
	time_t secs;
	const char *p;

	if (s == NULL || strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' ||
	    digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
	    s[10] != 'T' || digits(s + 11, 2, &h) || s[13] != ':' ||
	    digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec))
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	p = s + 19;
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return -1;
		for (p++; *p >= '0' && *p <= '9'; p++) {
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (digits(p + 1, 2, &th) || p[3] != ':' || digits(p + 4, 2, &tm) ||
		    th > 23 || tm > 59)
			return -1;
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	memset(&t, 0, sizeof(t));
	t.tm_year = y - 1900;
	t.tm_mon = mo - 1;
	t.tm_mday = d;
	t.tm_hour = h;
	t.tm_min = mi;
	t.tm_sec = sec;
	if ((secs = timegm(&t)) == (time_t)-1)
		return -1;
	secs -= sign * (th * 3600 + tm * 60);
	if (secs < 0)
		return -1;
	*out = (int64_t)secs * 1000000 + frac;
	return 0;
}

char *
mam_time_format(int64_t us, char *buf, size_t len)
{
	time_t secs = (time_t)(us / 1000000);
	struct tm t;
	char base[24];

	gmtime_r(&secs, &t);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &t);
	snprintf(buf, len, "%s.%06dZ", base, (int)(us % 1000000));
	return buf;
}

const char *
mam_mode_name(enum mam_mode m)
{
	return m == MAM_NEVER ? "never" : m == MAM_ROSTER ? "roster" : "always";
}

int
mam_mode_parse(const char *s, enum mam_mode *out)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "always") == 0)
		*out = MAM_ALWAYS;
	else if (strcmp(s, "never") == 0)
		*out = MAM_NEVER;
	else if (strcmp(s, "roster") == 0)
		*out = MAM_ROSTER;
	else
		return -1;
	return 0;
}

int
mam_prefs_match(const struct mam_prefs *p, const struct jid *j)
{
	char bare[2 * JID_PART_MAX + 2], full[JID_STR_MAX + 1];

	jid_bare(j, bare, sizeof(bare));
	jid_full(j, full, sizeof(full));
	/* a bare JID on a list covers all its resources, a full one just itself */
	if (hmap_get(&p->never, bare) || (j->resource[0] && hmap_get(&p->never, full)))
		return 0;
	if (hmap_get(&p->always, bare) || (j->resource[0] && hmap_get(&p->always, full)))
		return 1;
	return p->mode == MAM_ALWAYS ? 1 : p->mode == MAM_NEVER ? 0 : 2;
}

/* Appends one quoted element to an array literal being built ("{" first). */
static int
pg_elem(struct buf *out, const char *s)
{
	const char *run = s;

	if (buf_append(out, out->len ? ",\"" : "{\"", 2) == -1)
		return -1;
	for (; *s; s++) {
		if (*s != '"' && *s != '\\')
			continue;
		if (buf_append(out, run, (size_t)(s - run)) == -1 ||
		    buf_append(out, "\\", 1) == -1)
			return -1;
		run = s;
	}
	if (buf_append(out, run, (size_t)(s - run)) == -1)
		return -1;
	return buf_append(out, "\"", 1);
}

static int
pg_close(struct buf *out)
{
	return buf_puts(out, out->len ? "}" : "{}");
}

int
mam_pg_array(struct buf *out, char *const *v, size_t n)
{
	struct buf b;
	int rc = 0;

	buf_init(&b);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = pg_elem(&b, v[i]);
	if (rc == 0 && pg_close(&b) == 0)
		rc = buf_append(out, b.p, b.len);
	else
		rc = -1;
	buf_free(&b);
	return rc;
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
		if (strcmp(c->ns, NS_CARBONS) == 0 &&
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

int
mam_start(PGconn *pg, char *err, size_t errlen)
{
	PGresult *r = db_exec_sync(pg, &st_max, NULL, err, errlen);

	if (r == NULL)
		return -1;
	last_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
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

static bool
has_own_sid(const struct xml_node *n, const char *bare)
{
	struct jid by;
	char b[2 * JID_PART_MAX + 2];

	for (const struct xml_node *c = xml_first_elem(n); c; c = xml_next_elem(c))
		if (xml_is(c, "stanza-id", NS_SID) && xml_attr(c, "by") &&
		    jid_parse(xml_attr(c, "by"), &by) == 0 &&
		    strcmp(jid_bare(&by, b, sizeof(b)), bare) == 0)
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
prefs_clear(struct mam_prefs *p)
{
	hmap_free(&p->always);
	hmap_free(&p->never);
	p->mode = MAM_ALWAYS;
}

static void
batch_reset(struct batch *b)
{
	buf_free(&b->id);
	buf_free(&b->with_bare);
	buf_free(&b->with_res);
	buf_free(&b->outgoing);
	buf_free(&b->stanza);
	b->n = 0;
}

static void
prefs_unref(struct mprefs *p)
{
	if (--p->refs > 0)
		return;
	hmap_del(&accounts, p->bare);
	prefs_clear(&p->p);
	batch_reset(&p->batch);
	free(p->bare);
	free(p);
}

/* Fills p from st_prefs rows (no rows: the defaults). */
static void
prefs_from_rows(struct mam_prefs *p, PGresult *res)
{
	prefs_clear(p);
	for (int i = 0; i < PQntuples(res); i++) {
		if (i == 0)
			mam_mode_parse(PQgetvalue(res, 0, 0), &p->mode);
		if (PQgetisnull(res, i, 1))
			continue;
		hmap_put(PQgetvalue(res, i, 1)[0] == 't' ? &p->always : &p->never,
		    PQgetvalue(res, i, 2), (void *)1);
	}
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
		prefs_from_rows(&p->p, res);
		p->loaded = true;
	}
	prefs_unref(p);
}

void
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
	if (db_query_key(srv.db, c->user->bare, &st_prefs, v, prefs_loaded, p) == NULL) {
		p->loading = false;
		p->refs--;
	}
}

void
mam_session_end(struct c2s *c)
{
	struct mprefs *p = c->user ? hmap_get(&accounts, c->user->bare) : NULL;

	if (p)
		prefs_unref(p);
}

/* ---- archiving ---- */

static void
inserted(void *arg, PGresult *res, const char *err)
{
	(void)arg;
	if (res == NULL && !stopping)
		log_warn("mam: archiving failed: %s", err);
}

struct row {
	char id[24];
	const char *v[8];
	char full[JID_STR_MAX + 1];
	char with_bare[2 * JID_PART_MAX + 2];
	struct buf stanza;
};

/* The values of one archive row; stanza serialised without the carbons
 * <private/> hint (only for routing) and with its own xmlns. */
static int
row_make(struct row *r, int host, const char *local, const struct jid *with,
    bool outgoing, const struct xml_node *n)
{
	struct xml_node *copy = NULL, *pv;
	int rc;

	snprintf(r->id, sizeof(r->id), "%lld", (long long)next_id());
	buf_init(&r->stanza);
	if (xml_child(n, "private", NS_CARBONS)) {
		if ((copy = xml_copy(n)) == NULL)
			return -1;
		while ((pv = xml_child(copy, "private", NS_CARBONS)) != NULL) {
			xml_detach(pv);
			xml_free(pv);
		}
	}
	rc = xml_serialize(&r->stanza, copy ? copy : n, NULL);
	xml_free(copy);
	if (rc == -1) {
		buf_free(&r->stanza);
		return -1;
	}
	jid_bare(with, r->with_bare, sizeof(r->with_bare));
	jid_full(with, r->full, sizeof(r->full));
	r->v[0] = r->id;
	r->v[1] = srv.cfg->hosts[host];
	r->v[2] = local;
	r->v[3] = r->with_bare;
	r->v[4] = with->resource;
	r->v[5] = outgoing ? "t" : "f";
	r->v[6] = r->stanza.p;
	r->v[7] = r->full;
	return 0;
}

/* A row whose decision the database makes with the insert (st_insert_if). */
static int
archive_if(const char *bare, int host, const char *local, const struct jid *with,
    bool outgoing, const struct xml_node *n, struct row *r, db_cb *cb, void *arg)
{
	struct db_req *q;

	if (row_make(r, host, local, with, outgoing, n) == -1)
		return -1;
	q = db_query_key(srv.db, bare, &st_insert_if, r->v, cb ? cb : inserted, arg);
	buf_free(&r->stanza);
	if (q == NULL) {
		log_warn("mam: archiving for %s failed: database queue full", bare);
		return -1;
	}
	return 0;
}

static void batch_flush(struct mprefs *p);

static void
written(void *arg, PGresult *res, const char *err)
{
	struct mprefs *p = arg;

	if (res == NULL && !stopping)
		log_warn("mam: archiving for %s failed: %s", p->bare, err);
	p->writes--;
	if (p->writes == 0 && p->batch.n > 0) {
		if (!stopping) {
			batch_flush(p);
		} else {
			batch_reset(&p->batch);
			prefs_unref(p);		/* the batch's */
		}
	}
	prefs_unref(p);
}

/* The collected rows in one statement; the batch's reference passes to it. */
static void
batch_flush(struct mprefs *p)
{
	struct batch *b = &p->batch;
	char local[JID_PART_MAX + 1];
	const char *v[7], *at = strchr(p->bare, '@');
	unsigned n = b->n;

	if (n == 0 || at == NULL)
		return;
	snprintf(local, sizeof(local), "%.*s", (int)(at - p->bare), p->bare);
	if (pg_close(&b->id) == 0 && pg_close(&b->with_bare) == 0 &&
	    pg_close(&b->with_res) == 0 && pg_close(&b->outgoing) == 0 &&
	    pg_close(&b->stanza) == 0) {
		v[0] = at + 1;
		v[1] = local;
		v[2] = b->id.p;
		v[3] = b->with_bare.p;
		v[4] = b->with_res.p;
		v[5] = b->outgoing.p;
		v[6] = b->stanza.p;
		if (db_query_key(srv.db, p->bare, &st_insert_batch, v, written, p) != NULL) {
			p->writes++;
			batch_reset(b);
			return;
		}
	}
	log_warn("mam: archiving %u message%s for %s failed: database queue full",
	    n, n == 1 ? "" : "s", p->bare);
	batch_reset(b);
	prefs_unref(p);
}

static int
batch_add(struct mprefs *p, const struct row *r)
{
	struct batch *b = &p->batch;

	if (b->n == 0)
		p->refs++;		/* the batch's, until it is sent */
	if (pg_elem(&b->id, r->id) == -1 || pg_elem(&b->with_bare, r->with_bare) == -1 ||
	    pg_elem(&b->with_res, r->v[4]) == -1 || pg_elem(&b->outgoing, r->v[5]) == -1 ||
	    pg_elem(&b->stanza, r->stanza.p) == -1) {
		/* the array literals are broken now: send nothing of them */
		log_warn("mam: archiving for %s failed: out of memory", p->bare);
		batch_reset(b);
		prefs_unref(p);
		return -1;
	}
	if (++b->n >= BATCH_ROWS || b->stanza.len >= BATCH_BYTES)
		batch_flush(p);
	return 0;
}

/*
 * A row of an account whose preferences said yes: sent at once when no
 * insert of the account is running, else collected for the next one, so a
 * burst costs one statement per round trip.  The ids are already fixed,
 * so the order in the archive is the order of the calls either way.
 */
static int
archive_known(struct mprefs *p, const struct jid *with, bool outgoing,
    const struct xml_node *n, struct row *r)
{
	const char *at = strchr(p->bare, '@');
	char local[JID_PART_MAX + 1];
	int host, rc = 0;

	if (at == NULL || (host = router_host_index(at + 1)) < 0)
		return -1;
	snprintf(local, sizeof(local), "%.*s", (int)(at - p->bare), p->bare);
	if (row_make(r, host, local, with, outgoing, n) == -1)
		return -1;
	if (p->writes > 0) {
		rc = batch_add(p, r);
	} else if (db_query_key(srv.db, p->bare, &st_insert, r->v, written, p) == NULL) {
		log_warn("mam: archiving for %s failed: database queue full", p->bare);
		rc = -1;
	} else {
		p->writes++;
		p->refs++;
	}
	buf_free(&r->stanza);
	return rc;
}

void
mam_flush(const char *bare)
{
	struct mprefs *p = hmap_get(&accounts, bare);

	if (p && p->batch.n > 0)
		batch_flush(p);
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
	if (u == NULL || u->roster == NULL || !u->roster->loaded)
		return 2;
	it = roster_find(u->roster, jid_bare(contact, bare, sizeof(bare)));
	return it && it->visible;
}

void
mam_outgoing(struct c2s *c, struct xml_node *n)
{
	char bare[2 * JID_PART_MAX + 2];
	struct jid *to;
	struct row *r;
	int d;

	strip_forged(n);
	if (c->user == NULL || !mam_archivable(n) ||
	    (to = malloc(sizeof(*to))) == NULL)
		return;
	/* to oneself: archived once, as it arrives */
	if (stanza_jid(n, "to", to) == 1 &&
	    strcmp(jid_bare(to, bare, sizeof(bare)), c->user->bare) != 0 &&
	    (d = decide(hmap_get(&accounts, c->user->bare), c->user, to)) != 0 &&
	    (r = malloc(sizeof(*r))) != NULL) {
		if (d == 1)
			archive_known(hmap_get(&accounts, c->user->bare), to, true, n, r);
		else
			archive_if(c->user->bare, c->host, c->local, to, true, n, r, NULL, NULL);
		free(r);
	}
	free(to);
}

/* An incoming message waiting for the database's decision. */
struct pending {
	struct xml_node *n;
	struct mprefs *p;
	int host;
	struct jid to;
	struct row r;
};

static void
decided(void *arg, PGresult *res, const char *err)
{
	struct pending *x = arg;

	x->p->inflight--;
	if (stopping) {
		xml_free(x->n);
	} else {
		if (res == NULL)
			log_warn("mam: archiving for %s failed: %s", x->p->bare, err);
		else if (PQntuples(res) == 1)
			add_sid(x->n, x->p->bare, x->r.id);
		message_deliver_archived(x->n, &x->to, x->host);
	}
	prefs_unref(x->p);
	free(x);
}

bool
mam_incoming(struct xml_node *n, const struct jid *to, int host)
{
	char bare[2 * JID_PART_MAX + 2];
	struct mprefs *p;
	struct pending *x;
	struct jid *from;
	struct row *r;
	int d;

	if (to->local[0] == '\0' || !mam_archivable(n))
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
		if ((r = malloc(sizeof(*r))) != NULL && archive_known(p, from, false, n, r) == 0)
			add_sid(n, bare, r->id);
		free(r);
		free(from);
		return false;
	}
	/* the database decides; delivery waits for it, and so do later ones */
	if ((p = prefs_get(bare)) == NULL) {
		free(from);
		return false;
	}
	p->refs++;
	if ((x = calloc(1, sizeof(*x))) == NULL) {
		prefs_unref(p);
		free(from);
		return false;
	}
	x->n = n;
	x->p = p;
	x->host = host;
	x->to = *to;
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

/* ---- preferences protocol (XEP-0441 in the urn:xmpp:mam:N namespaces) ---- */

struct prefs_op {
	struct c2s *c;
	struct xml_node *iq;
	const char *ns;
	struct mam_prefs p;	/* what a set stores */
	bool set;
};

static void
prefs_op_end(struct prefs_op *o)
{
	prefs_clear(&o->p);
	xml_free(o->iq);
	c2s_unblock(o->c);
	free(o);
}

static void
add_list(struct xml_node *parent, const char *name, const struct hmap *m)
{
	struct xml_node *l = xml_add(parent, name, NULL);
	size_t i;

	for (struct hmap_ent *e = hmap_first(m, &i); l && e; e = hmap_next(m, e, &i))
		xml_add_with_text(l, "jid", NULL, e->key);
}

static void
prefs_reply(struct prefs_op *o, const struct mam_prefs *p)
{
	struct xml_node *r = stanza_iq_result(o->iq), *q;

	if (r && (q = xml_add(r, "prefs", o->ns)) != NULL) {
		xml_set_attr(q, "default", mam_mode_name(p->mode));
		add_list(q, "always", &p->always);
		add_list(q, "never", &p->never);
	}
	iq_reply(o->c, r);
}

/* The stored (now authoritative) preferences go to memory as well. */
static void
prefs_remember(const char *bare, struct mam_prefs *src)
{
	struct mprefs *p = hmap_get(&accounts, bare);

	if (p == NULL)
		return;
	prefs_clear(&p->p);
	p->p = *src;
	memset(src, 0, sizeof(*src));
	p->loaded = true;
}

static void
prefs_done(void *arg, PGresult *res, const char *err)
{
	struct prefs_op *o = arg;
	struct mam_prefs got;

	if (o->c->dead || o->c->user == NULL) {
		prefs_op_end(o);
		return;
	}
	if (res == NULL) {
		log_warn("mam: preferences of %s: %s", o->c->full, err);
		iq_error(o->c, o->iq, "wait", "internal-server-error");
	} else if (o->set) {
		prefs_reply(o, &o->p);
		prefs_remember(o->c->user->bare, &o->p);
	} else {
		memset(&got, 0, sizeof(got));
		prefs_from_rows(&got, res);
		prefs_reply(o, &got);
		prefs_clear(&got);
	}
	prefs_op_end(o);
}

/* Reads <always/> or <never/>: -1 with a condition on a bad JID or too many. */
static int
read_list(const struct xml_node *l, struct hmap *into, size_t *total, const char **cond)
{
	char norm[JID_STR_MAX + 1];
	struct jid j;
	char *t;

	for (const struct xml_node *e = xml_first_elem(l); e; e = xml_next_elem(e)) {
		if (strcmp(e->name, "jid") != 0)
			continue;
		if ((t = xml_text(e)) == NULL) {
			*cond = "resource-constraint";
			return -1;
		}
		if (jid_parse(t, &j) == -1) {
			free(t);
			*cond = "jid-malformed";
			return -1;
		}
		free(t);
		jid_full(&j, norm, sizeof(norm));
		if (hmap_get(into, norm))
			continue;
		if (++*total > srv.cfg->mam.max_prefs) {
			*cond = "not-acceptable";
			return -1;
		}
		if (hmap_put(into, norm, (void *)1) == -1) {
			*cond = "resource-constraint";
			return -1;
		}
	}
	return 0;
}

static int
keys(const struct hmap *m, char ***out)
{
	size_t i, k = 0;
	char **v = calloc(m->n + 1, sizeof(*v));

	if (v == NULL)
		return -1;
	for (struct hmap_ent *e = hmap_first(m, &i); e; e = hmap_next(m, e, &i))
		v[k++] = e->key;
	*out = v;
	return 0;
}

static int
prefs_parse(struct prefs_op *o, const struct xml_node *q, const char **cond)
{
	const struct xml_node *l;
	size_t total = 0;
	size_t i;

	if (mam_mode_parse(xml_attr(q, "default"), &o->p.mode) == -1) {
		*cond = "bad-request";
		return -1;
	}
	if ((l = xml_child(q, "always", o->ns)) != NULL &&
	    read_list(l, &o->p.always, &total, cond) == -1)
		return -1;
	if ((l = xml_child(q, "never", o->ns)) != NULL &&
	    read_list(l, &o->p.never, &total, cond) == -1)
		return -1;
	/* on both lists: never wins (the safer reading) */
	for (struct hmap_ent *e = hmap_first(&o->p.never, &i); e; e = hmap_next(&o->p.never, e, &i))
		hmap_del(&o->p.always, e->key);
	return 0;
}

static void
prefs_iq(struct c2s *c, struct xml_node *iq, const struct xml_node *q)
{
	struct prefs_op *o = calloc(1, sizeof(*o));
	const char *v[5], *cond = NULL;
	char **al = NULL, **nl = NULL;
	struct buf a, b;
	struct db_req *r;

	if (o == NULL) {
		iq_error(c, iq, "wait", "resource-constraint");
		xml_free(iq);
		return;
	}
	o->c = c;
	o->iq = iq;
	o->ns = q->ns;
	o->set = strcmp(stanza_type(iq), "set") == 0;
	c2s_block(c);
	v[0] = srv.cfg->hosts[c->host];
	v[1] = c->local;
	if (!o->set) {
		if (db_query_key(srv.db, c->user->bare, &st_prefs, v, prefs_done, o) == NULL) {
			iq_error(c, iq, "wait", "resource-constraint");
			prefs_op_end(o);
		}
		return;
	}
	if (prefs_parse(o, q, &cond) == -1) {
		iq_error(c, iq, strcmp(cond, "resource-constraint") == 0 ? "wait" : "modify", cond);
		prefs_op_end(o);
		return;
	}
	buf_init(&a);
	buf_init(&b);
	if (keys(&o->p.always, &al) == -1 || keys(&o->p.never, &nl) == -1 ||
	    mam_pg_array(&a, al, o->p.always.n) == -1 ||
	    mam_pg_array(&b, nl, o->p.never.n) == -1) {
		r = NULL;
	} else {
		v[2] = mam_mode_name(o->p.mode);
		v[3] = a.p;
		v[4] = b.p;
		r = db_query_key(srv.db, c->user->bare, &st_prefs_set, v, prefs_done, o);
	}
	free(al);
	free(nl);
	buf_free(&a);
	buf_free(&b);
	if (r == NULL) {
		iq_error(c, iq, "wait", "resource-constraint");
		prefs_op_end(o);
	}
}

static const char *
mam_ns(const char *ns)
{
	if (strcmp(ns, NS_MAM2) == 0 || strcmp(ns, NS_MAM1) == 0 || strcmp(ns, NS_MAM0) == 0)
		return ns;
	return NULL;
}

bool
mam_iq(struct c2s *c, struct xml_node *iq)
{
	struct xml_node *q = xml_first_elem(iq);
	bool get = strcmp(stanza_type(iq), "get") == 0;

	if (q == NULL || mam_ns(q->ns) == NULL)
		return false;
	if (strcmp(q->name, "prefs") == 0) {
		prefs_iq(c, iq, q);
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
	if (n >= (long)srv.cfg->mam.expire_batch)
		expire_run();
}

static void
expire_run(void)
{
	char cut[24], batch[16];
	const char *v[2];
	struct timespec ts;
	int64_t now;

	if (srv.cfg->mam.max_age == 0 || expire_running)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000000;
	snprintf(cut, sizeof(cut), "%lld",
	    (long long)(now - (int64_t)srv.cfg->mam.max_age * 1000000));
	snprintf(batch, sizeof(batch), "%u", srv.cfg->mam.expire_batch);
	v[0] = cut;
	v[1] = batch;
	/* unkeyed: expiry never waits behind an account's own work */
	if (db_query(srv.db, &st_expire, v, expired, NULL) != NULL)
		expire_running = true;
}

static void
expire_tick(struct ev_loop *loop, struct ev_timer *t)
{
	uint64_t every = srv.cfg->mam.max_age * 1000 / 4;

	expire_run();
	if (every < EXPIRE_MIN_MS)
		every = EXPIRE_MIN_MS;
	if (every > EXPIRE_MAX_MS)
		every = EXPIRE_MAX_MS;
	ev_timer_start(loop, t, every);
}

void
mam_init(void)
{
	ev_timer_init(&expire_timer, expire_tick, NULL);
	ev_timer_start(srv.loop, &expire_timer, 1000);
}

void
mam_shutdown(void)
{
	stopping = true;
	ev_timer_stop(srv.loop, &expire_timer);
}

void
mam_cleanup(void)
{
	hmap_free(&accounts);
}
