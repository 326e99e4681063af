/*
 * private — XEP-0049.  See private.h.
 *
 * A set may carry several elements; each is one upsert on the account's
 * pinned database connection (db_query_key), so they apply in order and
 * the reply goes out when the last one is done.  The number of stored
 * namespaces and the size of each are bounded ([private] in the config).
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "c2s.h"
#include "db.h"
#include "fragment.h"
#include "imconf.h"
#include "iq.h"
#include "registry.h"
#include "log.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define MAX_PER_SET 32

static struct db_stmt st_get = {
	"SELECT data FROM private_storage WHERE host = $1 AND username = $2 "
	"AND namespace = $3", 3, 0 };
/* no row back: the account is at its limit of namespaces */
static struct db_stmt st_set = {
	"INSERT INTO private_storage (host, username, namespace, data) "
	"SELECT $1, $2, $3, $4 WHERE (SELECT count(*) FROM private_storage "
	"WHERE host = $1 AND username = $2 AND namespace <> $3) < $5::integer "
	"ON CONFLICT (host, username, namespace) DO UPDATE SET data = $4 "
	"RETURNING 1", 5, 0 };

struct op {
	struct c2s *c;
	struct xml_node *iq;
	unsigned pending;
	const char *cond;	/* first failure */
};

static void
op_end(struct op *o)
{
	xml_free(o->iq);
	c2s_unblock(o->c);
	free(o);
}

static void
got(void *arg, PGresult *res, const char *err)
{
	struct op *o = arg;
	struct xml_node *want = xml_first_elem(xml_first_elem(o->iq)), *r, *q, *x;

	if (o->c->dead) {
		op_end(o);
		return;
	}
	if (res == NULL) {
		log_warn("private: fetching for %s failed: %s", o->c->full, err);
		iq_error(o->c, o->iq, "wait", "internal-server-error");
		op_end(o);
		return;
	}
	r = stanza_iq_result(o->iq);
	q = xml_add(r, "query", NS_PRIVATE);
	x = NULL;
	if (PQntuples(res) > 0) {
		const char *d = PQgetvalue(res, 0, 0);

		x = fragment_parse(d, strlen(d), NS_PRIVATE);
		if (x == NULL)
			log_warn("private: stored %s of %s does not parse", want->ns,
			    o->c->full);
	}
	/* XEP-0049 §3.2: nothing stored yet is the empty element asked for */
	if (x == NULL && (x = xml_new(want->name, want->ns)) == NULL) {
		xml_free(r);
		iq_error(o->c, o->iq, "wait", "resource-constraint");
		op_end(o);
		return;
	}
	xml_append_child(q, x);
	iq_reply(o->c, r);
	op_end(o);
}

static void
set_release(struct op *o)
{
	if (--o->pending > 0)
		return;
	if (!o->c->dead) {
		if (o->cond)
			iq_error(o->c, o->iq, "wait", o->cond);
		else
			iq_reply(o->c, stanza_iq_result(o->iq));
	}
	if (o->cond == NULL) {
		struct hook_args a = { .c = o->c, .n = o->iq };

		(void)hooks_run(EV_PRIVATE_STORED, &a);
	}
	op_end(o);
}

static void
set_done(void *arg, PGresult *res, const char *err)
{
	struct op *o = arg;

	if (res == NULL) {
		log_warn("private: storing failed: %s", err);
		if (o->cond == NULL)
			o->cond = "internal-server-error";
	} else if (PQntuples(res) == 0 && o->cond == NULL) {
		o->cond = "resource-constraint";
	}
	set_release(o);
}

/* Elements in no namespace or in jabber:iq:private itself cannot be stored. */
static const char *
check_child(const struct xml_node *x)
{
	if (x->ns[0] == '\0')
		return "bad-request";
	if (strcmp(x->ns, NS_PRIVATE) == 0)
		return "not-acceptable";	/* XEP-0049 §3.3 */
	return NULL;
}

static void
do_set(struct c2s *c, struct xml_node *n, struct xml_node *q)
{
	const struct private_config *sc = private_cfg();
	struct buf b[MAX_PER_SET];
	struct xml_node *x;
	char max[16];
	const char *v[5], *cond = NULL;
	unsigned cnt = 0;
	struct op *o;

	for (x = xml_first_elem(q); x && cond == NULL; x = xml_next_elem(x)) {
		if (cnt == MAX_PER_SET) {
			cond = "not-acceptable";
			break;
		}
		if ((cond = check_child(x)) != NULL)
			break;
		buf_init(&b[cnt]);
		if (xml_serialize(&b[cnt], x, NS_PRIVATE) == -1)
			cond = "resource-constraint";
		else if (b[cnt].len > sc->max_size)
			cond = "not-acceptable";
		cnt++;
	}
	if (cond == NULL && cnt == 0)
		cond = "bad-request";
	if (cond || (o = calloc(1, sizeof(*o))) == NULL) {
		iq_error(c, n, cond && strcmp(cond, "resource-constraint") != 0 ?
		    "modify" : "wait", cond ? cond : "resource-constraint");
		xml_free(n);
		goto out;
	}
	o->c = c;
	o->iq = n;
	c2s_block(c);
	snprintf(max, sizeof(max), "%u", sc->max_items);
	v[0] = srv.cfg->hosts[c->host];
	v[1] = c->local;
	v[4] = max;
	x = xml_first_elem(q);
	o->pending = 1;		/* held until every query is queued */
	for (unsigned i = 0; i < cnt; i++, x = xml_next_elem(x)) {
		v[2] = x->ns;
		v[3] = b[i].p;
		o->pending++;
		if (db_query_key(srv.db, c->user->bare, &st_set, v, set_done, o) == NULL) {
			o->pending--;
			o->cond = "resource-constraint";
			break;
		}
	}
	set_release(o);
out:
	for (unsigned i = 0; i < cnt; i++)
		buf_free(&b[i]);
}

static bool
private_iq(struct iq_req *r)
{
	struct c2s *c = r->c;
	struct xml_node *n = r->iq, *q = r->q, *x;
	const char *cond, *v[3];
	struct op *o;

	if (strcmp(stanza_type(n), "set") == 0) {
		do_set(c, n, q);
		return true;
	}
	/* get: exactly one element, named by its namespace */
	x = xml_first_elem(q);
	if (x == NULL || xml_next_elem(x) != NULL)
		cond = "bad-request";
	else
		cond = check_child(x);
	if (cond) {
		iq_error(c, n, "modify", cond);
		xml_free(n);
		return true;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		iq_error(c, n, "wait", "resource-constraint");
		xml_free(n);
		return true;
	}
	o->c = c;
	o->iq = n;
	c2s_block(c);
	v[0] = srv.cfg->hosts[c->host];
	v[1] = c->local;
	v[2] = x->ns;
	if (db_query_key(srv.db, c->user->bare, &st_get, v, got, o) == NULL) {
		iq_error(c, n, "wait", "resource-constraint");
		op_end(o);
	}
	return true;
}

static const struct iq_handler iqs[] = {
	{ "query", NS_PRIVATE, IQ_CLIENT, private_iq },
	{ NULL, NULL, 0, NULL },
};

static const char *const features[] = { NS_PRIVATE, NULL };
/* the vCard table came with it */
static const char *const migrations[] = { "010_private_vcard", NULL };

struct module private_module = {
	.name = "private",
	.folder = "im",
	.config_load = private_config_load,
	.config_free = im_config_free,
	.migrations = migrations,
	.iqs = iqs,
	.server_features = features,
};
