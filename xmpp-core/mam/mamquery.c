/*
 * mamquery — XEP-0313 archive queries.  See mamquery.h.
 */
#include "mamquery.h"

#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "c2s.h"
#include "db.h"
#include "form.h"
#include "iq.h"
#include "log.h"
#include "mam.h"
#include "router.h"
#include "sasl2.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define NS_XDATA_VALIDATE "http://jabber.org/protocol/xdata-validate"
/* Bytes a result adds around the stored message (addresses, ids, delay). */
#define RESULT_OVERHEAD 512

/*
 * One page: the page itself, the size of the result set and how many of
 * the named ids exist.  $3/$4 bound the page, $7/$8 the result set, $9 the
 * ids to check; the outer join gives one row even for an empty page.  The
 * size of a whole archive comes from mam_stats, of a whole conversation
 * from mam_with_stats, each plus the rows above counted_to that no fold
 * has taken in yet (mam.h); another filtered set is counted on its index.
 */
#define OWNER MAM_SQL_OWNER
#define PAGE_SQL(cond, order, total)					\
	"WITH page AS (SELECT id, stanza FROM mam_archive WHERE " OWNER	\
	" AND id > $3 AND id < $4 " cond " ORDER BY id "	\
	order " LIMIT $5 OFFSET $6), "					\
	"c AS (SELECT (" total ") AS total, "				\
	"(SELECT count(*) FROM mam_archive WHERE " OWNER " " \
	"AND id = ANY($9::bigint[])) AS refs) "				\
	"SELECT c.total, c.refs, p.id, p.stanza FROM c LEFT JOIN page p ON true " \
	"ORDER BY p.id"
#define COUNT(cond) "SELECT count(*) FROM mam_archive WHERE " OWNER	\
	" AND id > $7 AND id < $8 " cond
/* $7/$8 are not used then, but stay typed the same way */
#define COUNTED_TO "coalesce((SELECT counted_to FROM mam_stats WHERE host = $1 " \
	"AND username = $2), 0)"
#define COUNT_ALL "SELECT coalesce((SELECT messages FROM mam_stats WHERE host = $1 " \
	"AND username = $2), 0) + (SELECT count(*) FROM mam_archive WHERE " OWNER \
	" AND id > " COUNTED_TO ") + 0 * ($7::bigint + $8::bigint)"
/* a whole conversation: its size from mam_with_stats ($11 is '') */
#define COUNT_WITH_ALL "SELECT coalesce((SELECT messages FROM mam_with_stats " \
	"WHERE host = $1 AND username = $2 AND with_bare = $10), 0) " \
	"+ (SELECT count(*) FROM mam_archive WHERE " OWNER " AND with_bare = $10 " \
	"AND id > " COUNTED_TO ") + 0 * ($7::bigint + $8::bigint + length($11))"
#define WITH_COND "AND with_bare = $10 AND ($11 = '' OR with_res = $11)"
#define IDS_COND "AND id = ANY($10::bigint[]) AND ($11 = '' OR with_bare = $11) " \
	"AND ($12 = '' OR with_res = $12)"

static struct db_stmt st_all_fwd = { PAGE_SQL("", "ASC", COUNT_ALL), 9, 0 };
static struct db_stmt st_all_back = { PAGE_SQL("", "DESC", COUNT_ALL), 9, 0 };
static struct db_stmt st_fwd = { PAGE_SQL("", "ASC", COUNT("")), 9, 0 };
static struct db_stmt st_back = { PAGE_SQL("", "DESC", COUNT("")), 9, 0 };
static struct db_stmt st_with_fwd = { PAGE_SQL(WITH_COND, "ASC", COUNT(WITH_COND)), 11, 0 };
static struct db_stmt st_with_back = { PAGE_SQL(WITH_COND, "DESC", COUNT(WITH_COND)), 11, 0 };
static struct db_stmt st_with_all_fwd = { PAGE_SQL(WITH_COND, "ASC", COUNT_WITH_ALL), 11, 0 };
static struct db_stmt st_with_all_back = { PAGE_SQL(WITH_COND, "DESC", COUNT_WITH_ALL), 11, 0 };
static struct db_stmt st_ids = { PAGE_SQL(IDS_COND, "ASC", COUNT(IDS_COND)), 12, 0 };
static struct db_stmt st_meta = {
	"SELECT min(id), max(id) FROM mam_archive WHERE " OWNER,
	2, 0 };

/* ---- ids and times ---- */

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

/* ---- parsing ---- */

static int
fail(const char **type, const char **cond, const char *t, const char *c)
{
	*type = t;
	*cond = c;
	return -1;
}

static int
add_ref(struct mam_query *q, int64_t id)
{
	int64_t *r;

	for (size_t i = 0; i < q->nrefs; i++)
		if (q->refs[i] == id)
			return 0;
	if ((r = realloc(q->refs, (q->nrefs + 1) * sizeof(*r))) == NULL)
		return -1;
	q->refs = r;
	q->refs[q->nrefs++] = id;
	return 0;
}

/* Non-negative decimal integer, at most 10^12. */
static int
parse_count(const char *s, long long *out)
{
	long long v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 1000000000000LL)
			return -1;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return 0;
}

/* The values of a form field: count and the first. */
static size_t
field_values(const struct xml_node *f, char **first)
{
	size_t n = 0;

	*first = NULL;
	for (const struct xml_node *v = xml_first_elem(f); v; v = xml_next_elem(v)) {
		if (strcmp(v->name, "value") != 0)
			continue;
		if (n++ == 0)
			*first = xml_text(v);
	}
	return n;
}

static int
parse_ids(const struct xml_node *f, const struct mam_config *cfg,
    struct mam_query *q, const char **type, const char **cond)
{
	int64_t id;
	char *t;
	int rc = 0;

	for (const struct xml_node *v = xml_first_elem(f); v && rc == 0; v = xml_next_elem(v)) {
		if (strcmp(v->name, "value") != 0)
			continue;
		if (q->nids >= cfg->max_page)
			return fail(type, cond, "modify", "not-acceptable");
		if ((t = xml_text(v)) == NULL)
			return fail(type, cond, "wait", "resource-constraint");
		/* XEP-0313 §4.1.3: an id not in the archive is item-not-found */
		if (mam_id_parse(t, &id) == -1)
			rc = fail(type, cond, "cancel", "item-not-found");
		else if (add_ref(q, id) == -1)
			rc = fail(type, cond, "wait", "resource-constraint");
		free(t);
		if (rc == 0) {
			int64_t *a = realloc(q->ids, (q->nids + 1) * sizeof(*a));

			if (a == NULL)
				return fail(type, cond, "wait", "resource-constraint");
			q->ids = a;
			q->ids[q->nids++] = id;
		}
	}
	if (rc == 0 && q->nids == 0)
		return fail(type, cond, "modify", "bad-request");
	return rc;
}

static int
parse_field(const struct xml_node *f, const struct mam_config *cfg,
    struct mam_query *q, const char **type, const char **cond)
{
	const char *var = xml_attr(f, "var");
	char *val;
	size_t n;
	int64_t t;
	struct jid j;
	int rc = 0;

	if (var == NULL)
		return fail(type, cond, "modify", "bad-request");
	if (strcmp(var, "ids") == 0)
		return parse_ids(f, cfg, q, type, cond);
	if (strcmp(var, "FORM_TYPE") != 0 && strcmp(var, "with") != 0 &&
	    strcmp(var, "start") != 0 && strcmp(var, "end") != 0 &&
	    strcmp(var, "after-id") != 0 && strcmp(var, "before-id") != 0)
		return fail(type, cond, "cancel", "feature-not-implemented");
	n = field_values(f, &val);
	if (n > 1) {
		rc = fail(type, cond, "modify", "bad-request");
	} else if (n == 0 || (val && val[0] == '\0')) {
		/* an empty field filters nothing */
		if (strcmp(var, "FORM_TYPE") == 0)
			rc = fail(type, cond, "modify", "bad-request");
	} else if (val == NULL) {
		rc = fail(type, cond, "wait", "resource-constraint");
	} else if (strcmp(var, "FORM_TYPE") == 0) {
		if (strcmp(val, q->ns) != 0)
			rc = fail(type, cond, "modify", "bad-request");
	} else if (strcmp(var, "with") == 0) {
		if (jid_parse(val, &j) == -1) {
			rc = fail(type, cond, "modify", "jid-malformed");
		} else {
			q->with = true;
			jid_bare(&j, q->with_bare, sizeof(q->with_bare));
			snprintf(q->with_res, sizeof(q->with_res), "%s", j.resource);
		}
	} else if (strcmp(var, "start") == 0 || strcmp(var, "end") == 0) {
		if (mam_time_parse(val, &t) == -1)
			rc = fail(type, cond, "modify", "bad-request");
		else if (var[0] == 's' && t - 1 > q->lo)
			q->lo = t - 1;		/* at or after start */
		else if (var[0] == 'e' && t < INT64_MAX && t + 1 < q->hi)
			q->hi = t + 1;		/* at or before end */
	} else {
		if (mam_id_parse(val, &t) == -1)
			rc = fail(type, cond, "cancel", "item-not-found");
		else if (add_ref(q, t) == -1)
			rc = fail(type, cond, "wait", "resource-constraint");
		else if (var[0] == 'a' && t > q->lo)
			q->lo = t;
		else if (var[0] == 'b' && t < q->hi)
			q->hi = t;
	}
	free(val);
	return rc;
}

static int
parse_form(const struct xml_node *x, const struct mam_config *cfg,
    struct mam_query *q, const char **type, const char **cond)
{
	const char *t = xml_attr(x, "type");

	if (t && strcmp(t, "submit") != 0)
		return fail(type, cond, "modify", "bad-request");
	for (const struct xml_node *f = xml_first_elem(x); f; f = xml_next_elem(f))
		if (xml_is(f, "field", NS_XDATA) && parse_field(f, cfg, q, type, cond) == -1)
			return -1;
	return 0;
}

/* XEP-0059 §2: max, after, before (empty: the last page), index. */
static int
parse_rsm(const struct xml_node *set, const struct mam_config *cfg,
    struct mam_query *q, const char **type, const char **cond)
{
	const struct xml_node *e;
	long long v;
	int64_t id;
	char *s;
	int rc = 0;

	for (e = xml_first_elem(set); e && rc == 0; e = xml_next_elem(e)) {
		if (strcmp(e->ns, NS_RSM) != 0)
			continue;
		if ((s = xml_text(e)) == NULL)
			return fail(type, cond, "wait", "resource-constraint");
		if (strcmp(e->name, "max") == 0) {
			if (parse_count(s, &v) == -1)
				rc = fail(type, cond, "modify", "bad-request");
			else
				q->max = v > cfg->max_page ? cfg->max_page : (unsigned)v;
		} else if (strcmp(e->name, "index") == 0) {
			if (parse_count(s, &v) == -1)
				rc = fail(type, cond, "modify", "bad-request");
			else
				q->index = v;
		} else if (strcmp(e->name, "after") == 0 || strcmp(e->name, "before") == 0) {
			bool after = e->name[0] == 'a';

			if (after)
				q->after = true;
			else
				q->before = q->backward = true;
			if (s[0] == '\0' && !after) {
				/* empty <before/>: the last page */
			} else if (mam_id_parse(s, &id) == -1) {
				rc = fail(type, cond, "cancel", "item-not-found");
			} else if (add_ref(q, id) == -1) {
				rc = fail(type, cond, "wait", "resource-constraint");
			} else if (after && id > q->plo) {
				q->plo = id;
			} else if (!after && id < q->phi) {
				q->phi = id;
			}
		}
		free(s);
	}
	if (rc == 0 && q->index >= 0 && (q->after || q->before))
		rc = fail(type, cond, "modify", "bad-request");
	return rc;
}

int
mam_query_parse(const struct xml_node *qn, const struct mam_config *cfg,
    struct mam_query *q, const char **type, const char **cond)
{
	const struct xml_node *x, *set;

	memset(q, 0, sizeof(*q));
	q->ns = qn->ns;
	q->queryid = xml_attr(qn, "queryid");
	q->lo = 0;
	q->hi = INT64_MAX;
	q->max = cfg->default_page;
	q->index = -1;
	/* the node attribute names a pubsub archive (XEP-0442): none here */
	if (xml_attr(qn, "node"))
		return fail(type, cond, "cancel", "item-not-found");
	if ((x = xml_child(qn, "x", NS_XDATA)) != NULL &&
	    parse_form(x, cfg, q, type, cond) == -1)
		return -1;
	q->plo = q->lo;
	q->phi = q->hi;
	if ((set = xml_child(qn, "set", NS_RSM)) != NULL &&
	    parse_rsm(set, cfg, q, type, cond) == -1)
		return -1;
	q->flip = xml_child(qn, "flip-page", qn->ns) != NULL;
	return 0;
}

int
mam_query_parse_page(const struct xml_node *qn, unsigned default_page,
    unsigned max_page, struct mam_query *q, const char **type,
    const char **cond)
{
	struct mam_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.default_page = default_page;
	cfg.max_page = max_page;
	return mam_query_parse(qn, &cfg, q, type, cond);
}

void
mam_query_free(struct mam_query *q)
{
	free(q->ids);
	free(q->refs);
	q->ids = q->refs = NULL;
}

/* ---- running ---- */

struct qop {
	struct c2s *c;
	struct xml_node *iq;
	struct mam_query q;
};

static void
qop_end(struct qop *o)
{
	mam_query_free(&o->q);
	xml_free(o->iq);
	c2s_unblock(o->c);
	free(o);
}

static int
put_attr(struct buf *b, const char *name, const char *v)
{
	return buf_printf(b, " %s='", name) == -1 || xml_escape(b, v, strlen(v), true) == -1 ||
	    buf_append(b, "'", 1) == -1 ? -1 : 0;
}

static void
send_result(struct qop *o, PGresult *res, int row)
{
	struct c2s *c = o->c;
	const char *id = PQgetvalue(res, row, 2);
	char stamp[40];
	int64_t us = 0;
	struct buf b;

	mam_id_parse(id, &us);
	mam_time_format(us, stamp, sizeof(stamp));
	buf_init(&b);
	if (buf_puts(&b, "<message") == -1 || put_attr(&b, "from", c->user->bare) == -1 ||
	    put_attr(&b, "to", c->full) == -1 || put_attr(&b, "id", id) == -1 ||
	    buf_puts(&b, "><result") == -1 || put_attr(&b, "xmlns", o->q.ns) == -1 ||
	    (o->q.queryid && put_attr(&b, "queryid", o->q.queryid) == -1) ||
	    put_attr(&b, "id", id) == -1 ||
	    buf_puts(&b, "><forwarded xmlns='" MAM_NS_FORWARD "'><delay xmlns='" NS_DELAY "'") == -1 ||
	    put_attr(&b, "stamp", stamp) == -1 || buf_puts(&b, "/>") == -1 ||
	    buf_append(&b, PQgetvalue(res, row, 3), (size_t)PQgetlength(res, row, 3)) == -1 ||
	    buf_puts(&b, "</forwarded></result></message>") == -1) {
		buf_free(&b);
		return;
	}
	c2s_send_stanza_raw(c, b.p, b.len);
	buf_free(&b);
}

static void
send_fin(struct qop *o, PGresult *res, int first, int last, bool complete, int64_t index)
{
	struct c2s *c = o->c;
	struct xml_node *r, *fin, *set, *f, *m = NULL;
	bool legacy = strcmp(o->q.ns, NS_MAM0) == 0;
	char num[24];

	/* urn:xmpp:mam:0 ends with a <fin/> message and an empty result */
	r = stanza_iq_result(o->iq);
	if (legacy) {
		if ((m = xml_new("message", NS_CLIENT)) == NULL) {
			xml_free(r);
			return;
		}
		xml_set_attr(m, "from", c->user->bare);
		xml_set_attr(m, "to", c->full);
		fin = xml_add(m, "fin", o->q.ns);
		if (fin && o->q.queryid)
			xml_set_attr(fin, "queryid", o->q.queryid);
	} else {
		fin = r ? xml_add(r, "fin", o->q.ns) : NULL;
	}
	if (fin == NULL || (set = xml_add(fin, "set", NS_RSM)) == NULL) {
		xml_free(m);
		xml_free(r);
		return;
	}
	xml_set_attr(fin, "complete", complete ? "true" : "false");
	if (first <= last) {
		f = xml_add_with_text(set, "first", NULL, PQgetvalue(res, first, 2));
		if (f && index >= 0) {
			snprintf(num, sizeof(num), "%lld", (long long)index);
			xml_set_attr(f, "index", num);
		}
		xml_add_with_text(set, "last", NULL, PQgetvalue(res, last, 2));
	}
	xml_add_with_text(set, "count", NULL, PQgetvalue(res, 0, 0));
	if (m) {
		c2s_send(c, m);
		xml_free(m);
	}
	iq_reply(c, r);
}

static void
queried(void *arg, PGresult *res, const char *err)
{
	struct qop *o = arg;
	struct mam_query *q = &o->q;
	struct c2s *c = o->c;
	struct mam_page pg;

	if (c->dead || c->user == NULL) {
		qop_end(o);
		return;
	}
	if (res == NULL) {
		log_warn("mam: query of %s failed: %s", c->full, err);
		iq_error(c, o->iq, "wait", "internal-server-error");
		qop_end(o);
		return;
	}
	if (strtoul(PQgetvalue(res, 0, 1), NULL, 10) != q->nrefs) {
		iq_error(c, o->iq, "cancel", "item-not-found");
		qop_end(o);
		return;
	}
	mam_page_cut(q, res, buf_pending(&c->conn.out), RESULT_OVERHEAD, &pg);
	for (int i = 0; i <= pg.last - pg.first; i++)
		send_result(o, res, q->flip ? pg.last - i : pg.first + i);
	send_fin(o, res, pg.first, pg.last, !pg.more && (q->max > 0 || pg.total == 0),
	    pg.index);
	qop_end(o);
}

void
mam_page_cut(const struct mam_query *q, PGresult *res, size_t out_pending,
    size_t overhead, struct mam_page *pg)
{
	size_t budget, used = 0;
	int n;

	pg->total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	n = PQgetisnull(res, 0, 2) ? 0 : PQntuples(res);
	pg->first = 0;
	pg->last = n - 1;
	pg->more = false;
	pg->index = -1;
	/* one row more than asked says there is more */
	if (n > (int)q->max) {
		pg->more = true;
		if (q->backward)
			pg->first++;
		else
			pg->last--;
	}
	/* never more than half the output buffer at once (at least one) */
	budget = srv.cfg->max_out_buffer / 2;
	budget = out_pending < budget ? budget - out_pending : 0;
	for (int i = 0; i <= pg->last - pg->first; i++) {
		int row = q->backward ? pg->last - i : pg->first + i;

		used += (size_t)PQgetlength(res, row, 3) + overhead;
		if (i > 0 && used > budget) {
			pg->more = true;
			if (q->backward)
				pg->first = row + 1;
			else
				pg->last = row - 1;
			break;
		}
	}
	/* the position is known where the page starts or ends the set */
	if (pg->first <= pg->last && !q->after && !q->backward)
		pg->index = q->index >= 0 ? q->index : 0;
	else if (pg->first <= pg->last && q->backward && q->phi == q->hi)
		pg->index = pg->total - (pg->last - pg->first + 1);
}

void
mam_id_array(struct buf *b, const int64_t *v, size_t n)
{
	buf_append(b, "{", 1);
	for (size_t i = 0; i < n; i++)
		buf_printf(b, "%s%lld", i ? "," : "", (long long)v[i]);
	buf_append(b, "}", 1);
}

void
mamquery_iq(struct c2s *c, struct xml_node *iq, const struct xml_node *qn)
{
	char plo[24], phi[24], lo[24], hi[24], lim[24], off[24];
	const char *type, *cond, *v[12];
	struct db_stmt *st;
	struct buf refs, ids;
	struct qop *o = calloc(1, sizeof(*o));

	if (o == NULL) {
		iq_error(c, iq, "wait", "resource-constraint");
		xml_free(iq);
		return;
	}
	o->c = c;
	o->iq = iq;
	c2s_block(c);
	if (mam_query_parse(qn, mam_cfg(), &o->q, &type, &cond) == -1) {
		iq_error(c, iq, type, cond);
		qop_end(o);
		return;
	}
	snprintf(plo, sizeof(plo), "%lld", (long long)o->q.plo);
	snprintf(phi, sizeof(phi), "%lld", (long long)o->q.phi);
	snprintf(lo, sizeof(lo), "%lld", (long long)o->q.lo);
	snprintf(hi, sizeof(hi), "%lld", (long long)o->q.hi);
	snprintf(lim, sizeof(lim), "%u", o->q.max + 1);
	snprintf(off, sizeof(off), "%lld", o->q.index > 0 ? o->q.index : 0LL);
	buf_init(&refs);
	buf_init(&ids);
	mam_id_array(&refs, o->q.refs, o->q.nrefs);
	v[0] = srv.cfg->hosts[c->host];
	v[1] = c->local;
	v[2] = plo;
	v[3] = phi;
	v[4] = lim;
	v[5] = off;
	v[6] = lo;
	v[7] = hi;
	v[8] = refs.p;
	if (o->q.ids) {
		mam_id_array(&ids, o->q.ids, o->q.nids);
		o->q.backward = false;
		v[9] = ids.p;
		v[10] = o->q.with ? o->q.with_bare : "";
		v[11] = o->q.with ? o->q.with_res : "";
		st = &st_ids;
	} else if (o->q.with) {
		v[9] = o->q.with_bare;
		v[10] = o->q.with_res;
		if (o->q.with_res[0] == '\0' && o->q.lo == 0 && o->q.hi == INT64_MAX)
			st = o->q.backward ? &st_with_all_back : &st_with_all_fwd;
		else
			st = o->q.backward ? &st_with_back : &st_with_fwd;
	} else if (o->q.lo == 0 && o->q.hi == INT64_MAX) {
		st = o->q.backward ? &st_all_back : &st_all_fwd;
	} else {
		st = o->q.backward ? &st_back : &st_fwd;
	}
	mam_flush(c->user->bare);	/* the query must see every archived row */
	if (refs.p == NULL || (o->q.ids && ids.p == NULL) ||
	    db_query_key(srv.db, c->user->bare, st, v, queried, o) == NULL) {
		iq_error(c, iq, "wait", "resource-constraint");
		qop_end(o);
	}
	buf_free(&refs);
	buf_free(&ids);
}

void
mamquery_form(struct c2s *c, const struct xml_node *iq, const char *ns)
{
	struct xml_node *r = stanza_iq_result(iq), *q, *x, *f, *val;

	if (r == NULL || (q = xml_add(r, "query", ns)) == NULL ||
	    (x = xml_add(q, "x", NS_XDATA)) == NULL) {
		xml_free(r);
		iq_error(c, iq, "wait", "resource-constraint");
		return;
	}
	xml_set_attr(x, "type", "form");
	form_field(x, "FORM_TYPE", "hidden", NULL, ns);
	form_field(x, "with", "jid-single", NULL, NULL);
	form_field(x, "start", "text-single", NULL, NULL);
	form_field(x, "end", "text-single", NULL, NULL);
	form_field(x, "before-id", "text-single", NULL, NULL);
	form_field(x, "after-id", "text-single", NULL, NULL);
	form_field(x, "ids", "list-multi", NULL, NULL);
	/* §4.1.5: the ids list is open, not enumerated */
	if ((f = x->last) != NULL && (val = xml_add(f, "validate", NS_XDATA_VALIDATE)) != NULL) {
		xml_set_attr(val, "datatype", "xs:string");
		xml_add(val, "open", NULL);
	}
	iq_reply(c, r);
}

struct mop {
	struct c2s *c;
	struct xml_node *iq;
};

static void
add_edge(struct xml_node *m, const char *name, const char *id)
{
	struct xml_node *e = xml_add(m, name, NULL);
	char stamp[40];
	int64_t us = 0;

	mam_id_parse(id, &us);
	if (e) {
		xml_set_attr(e, "id", id);
		xml_set_attr(e, "timestamp", mam_time_format(us, stamp, sizeof(stamp)));
	}
}

void
mam_metadata_fill(struct xml_node *m, PGresult *res)
{
	/* an empty archive has neither start nor end */
	if (PQgetisnull(res, 0, 0))
		return;
	add_edge(m, "start", PQgetvalue(res, 0, 0));
	add_edge(m, "end", PQgetvalue(res, 0, 1));
}

static void
meta_done(void *arg, PGresult *res, const char *err)
{
	struct mop *o = arg;
	struct xml_node *r, *m;

	if (!o->c->dead && o->c->user) {
		if (res == NULL) {
			log_warn("mam: metadata of %s failed: %s", o->c->full, err);
			iq_error(o->c, o->iq, "wait", "internal-server-error");
		} else if ((r = stanza_iq_result(o->iq)) != NULL) {
			if ((m = xml_add(r, "metadata", NS_MAM2)) != NULL)
				mam_metadata_fill(m, res);
			iq_reply(o->c, r);
		}
	}
	xml_free(o->iq);
	c2s_unblock(o->c);
	free(o);
}

void
mamquery_metadata(struct c2s *c, struct xml_node *iq)
{
	struct mop *o = calloc(1, sizeof(*o));
	const char *v[2];

	if (o == NULL) {
		iq_error(c, iq, "wait", "resource-constraint");
		xml_free(iq);
		return;
	}
	o->c = c;
	o->iq = iq;
	c2s_block(c);
	v[0] = srv.cfg->hosts[c->host];
	v[1] = c->local;
	mam_flush(c->user->bare);
	if (db_query_key(srv.db, c->user->bare, &st_meta, v, meta_done, o) == NULL) {
		iq_error(c, iq, "wait", "resource-constraint");
		xml_free(iq);
		c2s_unblock(c);
		free(o);
	}
}

/* ---- Bind2: the archive's edges in <bound/> ---- */

struct bop {
	struct c2s *c;
	struct buf *b;
};

static void
buf_edge(struct buf *b, const char *name, const char *id)
{
	char stamp[40];
	int64_t us = 0;

	mam_id_parse(id, &us);
	buf_printf(b, "<%s id='", name);
	xml_escape(b, id, strlen(id), true);
	buf_printf(b, "' timestamp='%s'/>", mam_time_format(us, stamp, sizeof(stamp)));
}

static void
bound_meta_done(void *arg, PGresult *res, const char *err)
{
	struct bop *o = arg;

	if (!o->c->dead) {
		if (res == NULL) {
			/* the client queries as after a legacy bind */
			log_warn("mam: metadata of %s failed: %s", o->c->full, err);
		} else {
			buf_printf(o->b, "<metadata xmlns='%s'>", NS_MAM2);
			if (!PQgetisnull(res, 0, 0)) {
				buf_edge(o->b, "start", PQgetvalue(res, 0, 0));
				buf_edge(o->b, "end", PQgetvalue(res, 0, 1));
			}
			buf_puts(o->b, "</metadata>");
		}
	}
	sasl2_bound_done(o->c);
	c2s_unref(o->c);
	free(o);
}

int
mamquery_bind2_bound(struct c2s *c, struct buf *b)
{
	struct bop *o = calloc(1, sizeof(*o));
	const char *v[2] = { srv.cfg->hosts[c->host], c->local };

	if (o == NULL || c->user == NULL) {
		free(o);
		return 0;
	}
	o->c = c;
	o->b = b;
	c2s_ref(c);
	mam_flush(c->user->bare);
	if (db_query_key(srv.db, c->user->bare, &st_meta, v, bound_meta_done, o) == NULL) {
		c2s_unref(c);
		free(o);
		return 0;
	}
	return 1;
}
