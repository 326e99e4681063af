/*
 * mamprefs — archiving preferences (XEP-0441, in the urn:xmpp:mam:N
 * namespaces of XEP-0313): their storage, the get/set protocol and how a
 * contact is matched against them.  See mamprefs.h.
 */
#include "mamprefs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "db.h"
#include "iq.h"
#include "log.h"
#include "mam.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

struct db_stmt mamprefs_st_load = {
	"SELECT p.mode, l.always, l.jid FROM mam_prefs p LEFT JOIN LATERAL "
	"(SELECT true AS always, j AS jid FROM unnest(p.always) j UNION ALL "
	"SELECT false, j FROM unnest(p.never) j) l ON true "
	"WHERE p.host = $1 AND p.username = $2", 2, 0 };
static struct db_stmt st_set = {
	"INSERT INTO mam_prefs (host, username, mode, always, never) "
	"VALUES ($1, $2, $3, $4::text[], $5::text[]) ON CONFLICT (host, username) "
	"DO UPDATE SET mode = EXCLUDED.mode, always = EXCLUDED.always, "
	"never = EXCLUDED.never", 5, 0 };

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

	if (p->never.n == 0 && p->always.n == 0)	/* most accounts */
		return p->mode == MAM_ALWAYS ? 1 : p->mode == MAM_NEVER ? 0 : 2;
	jid_bare(j, bare, sizeof(bare));
	jid_full(j, full, sizeof(full));
	/* a bare JID on a list covers all its resources, a full one just itself */
	if (hmap_get(&p->never, bare) || (j->resource[0] && hmap_get(&p->never, full)))
		return 0;
	if (hmap_get(&p->always, bare) || (j->resource[0] && hmap_get(&p->always, full)))
		return 1;
	return p->mode == MAM_ALWAYS ? 1 : p->mode == MAM_NEVER ? 0 : 2;
}

void
mam_prefs_clear(struct mam_prefs *p)
{
	hmap_free(&p->always);
	hmap_free(&p->never);
	p->mode = MAM_ALWAYS;
}

/* Fills p from st_prefs rows (no rows: the defaults). */
void
mam_prefs_from_rows(struct mam_prefs *p, PGresult *res)
{
	mam_prefs_clear(p);
	for (int i = 0; i < PQntuples(res); i++) {
		if (i == 0)
			mam_mode_parse(PQgetvalue(res, 0, 0), &p->mode);
		if (PQgetisnull(res, i, 1))
			continue;
		hmap_put(PQgetvalue(res, i, 1)[0] == 't' ? &p->always : &p->never,
		    PQgetvalue(res, i, 2), (void *)1);
	}
}

int
mam_pg_array(struct buf *out, char *const *v, size_t n)
{
	struct buf b;
	int rc = 0;

	buf_init(&b);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = mam_pg_elem(&b, v[i]);
	if (rc == 0 && mam_pg_close(&b) == 0)
		rc = buf_append(out, b.p, b.len);
	else
		rc = -1;
	buf_free(&b);
	return rc;
}

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
	mam_prefs_clear(&o->p);
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
		mam_prefs_stored(o->c->user->bare, &o->p);
	} else {
		memset(&got, 0, sizeof(got));
		mam_prefs_from_rows(&got, res);
		prefs_reply(o, &got);
		mam_prefs_clear(&got);
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
		if (++*total > mam_cfg()->max_prefs) {
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

void
mamprefs_iq(struct c2s *c, struct xml_node *iq, const struct xml_node *q)
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
		if (db_query_key(srv.db, c->user->bare, &mamprefs_st_load, v, prefs_done, o) == NULL) {
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
		r = db_query_key(srv.db, c->user->bare, &st_set, v, prefs_done, o);
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

