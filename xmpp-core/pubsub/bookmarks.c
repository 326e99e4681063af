/*
 * bookmarks — XEP-0402 / XEP-0048 conversion.  See bookmarks.h.
 *
 * New-style items are rebuilt into one legacy <storage/> after every change
 * of urn:xmpp:bookmarks:1; a legacy <storage/> (private or PEP) is split
 * into items: rooms no longer listed are retracted, the others published
 * (their id is the room JID, XEP-0402 §3).  Writes of the conversion go
 * through pubsub_publish_internal, which stores and notifies but does not
 * call the conversions again, so nothing loops.  Everything runs on the
 * account's pinned connection, in the order of the changes.
 */
#include "bookmarks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "c2s.h"
#include "db.h"
#include "fragment.h"
#include "log.h"
#include "pubsubconf.h"
#include "private.h"
#include "pubsub.h"
#include "router.h"
#include "server.h"
#include "xml.h"

#define MAX_ROOMS 1000

static struct db_stmt st_items = {
	"SELECT i.item_id, i.payload FROM pubsub_item i JOIN pubsub_node n "
	"ON n.id = i.node_id WHERE n.service = $1 AND n.node = $2 "
	"ORDER BY i.seq LIMIT 1000", 2, 0 };
static struct db_stmt st_private = {
	"INSERT INTO private_storage (host, username, namespace, data) "
	"VALUES ($1, $2, $3, $4) ON CONFLICT (host, username, namespace) "
	"DO UPDATE SET data = $4", 4, 0 };

enum source { FROM_NEW, FROM_PEP_LEGACY, FROM_PRIVATE };

struct job {
	struct ps_svc svc;
	enum source src;
	struct xml_node *legacy;	/* FROM_PEP_LEGACY / FROM_PRIVATE */
};

static bool
truthy(const char *v)
{
	return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static void
node_config(struct ps_config *cfg, const char *node)
{
	/* XEP-0402 §3 / XEP-0223: private, all items, nothing sent on presence */
	ps_config_default(cfg, true, node);
	cfg->access = PS_ACCESS_WHITELIST;
	cfg->send_last = strcmp(node, NS_BOOKMARKS2) == 0 ? PS_SENDLAST_NEVER :
	    PS_SENDLAST_ON_SUB_AND_PRESENCE;
	cfg->max_items = strcmp(node, NS_BOOKMARKS2) == 0 ? pubsub_cfg()->max_items : 1;
}

static void
write_private(const struct ps_svc *svc, const struct xml_node *storage)
{
	struct buf b;
	const char *v[4];

	buf_init(&b);
	if (xml_serialize(&b, storage, NS_PRIVATE) == 0) {
		v[0] = srv.cfg->hosts[svc->host];
		v[1] = svc->local;
		v[2] = NS_BOOKMARKS_LEGACY;
		v[3] = b.p;
		if (db_query_key(srv.db, svc->jid, &st_private, v, NULL, NULL) == NULL)
			log_warn("bookmarks: private storage of %s not updated", svc->jid);
	}
	buf_free(&b);
}

static void
write_pep_legacy(const struct ps_svc *svc, const struct xml_node *storage)
{
	struct ps_config cfg;
	struct xml_node *copy = xml_copy(storage);

	if (copy == NULL)
		return;
	node_config(&cfg, NS_BOOKMARKS_LEGACY);
	pubsub_publish_internal(svc, NS_BOOKMARKS_LEGACY, &cfg, "current", copy, NULL, NULL);
}

/* <conference xmlns=bookmarks:1> of a legacy <conference jid=...>. */
static struct xml_node *
to_new(const struct xml_node *lc)
{
	struct xml_node *c = xml_new("conference", NS_BOOKMARKS2), *e;
	const char *name = xml_attr(lc, "name");
	char *t;

	if (c == NULL)
		return NULL;
	if (name)
		xml_set_attr(c, "name", name);
	xml_set_attr(c, "autojoin", truthy(xml_attr(lc, "autojoin")) ? "true" : "false");
	if ((e = xml_child(lc, "nick", NS_BOOKMARKS_LEGACY)) && (t = xml_text(e))) {
		xml_add_with_text(c, "nick", NULL, t);
		free(t);
	}
	if ((e = xml_child(lc, "password", NS_BOOKMARKS_LEGACY)) && (t = xml_text(e))) {
		xml_add_with_text(c, "password", NULL, t);
		free(t);
	}
	return c;
}

static void
add_legacy(struct xml_node *storage, const char *jid, const struct xml_node *nc)
{
	struct xml_node *c = xml_add(storage, "conference", NULL), *e;
	const char *name = xml_attr(nc, "name");
	char *t;

	if (c == NULL)
		return;
	xml_set_attr(c, "jid", jid);
	if (name)
		xml_set_attr(c, "name", name);
	xml_set_attr(c, "autojoin", truthy(xml_attr(nc, "autojoin")) ? "true" : "false");
	if ((e = xml_child(nc, "nick", NS_BOOKMARKS2)) && (t = xml_text(e))) {
		xml_add_with_text(c, "nick", NULL, t);
		free(t);
	}
	if ((e = xml_child(nc, "password", NS_BOOKMARKS2)) && (t = xml_text(e))) {
		xml_add_with_text(c, "password", NULL, t);
		free(t);
	}
}

static bool
valid_room(const char *jid)
{
	struct jid j;

	return jid && jid_parse(jid, &j) == 0 && j.resource[0] == '\0' &&
	    strlen(jid) <= PS_ID_MAX && ps_name_valid(jid, PS_ID_MAX);
}

/* Legacy -> new: retract what is gone, publish what is listed. */
static void
split(struct job *j, PGresult *res)
{
	struct ps_config cfg;
	struct xml_node *lc, *nc;
	unsigned n = 0;

	node_config(&cfg, NS_BOOKMARKS2);
	for (int i = 0; i < PQntuples(res); i++) {
		const char *id = PQgetvalue(res, i, 0);
		bool listed = false;

		for (lc = xml_first_elem(j->legacy); lc && !listed; lc = xml_next_elem(lc))
			listed = xml_is(lc, "conference", NS_BOOKMARKS_LEGACY) &&
			    xml_attr(lc, "jid") && strcmp(xml_attr(lc, "jid"), id) == 0;
		if (!listed)
			pubsub_retract_internal(&j->svc, NS_BOOKMARKS2, id);
	}
	for (lc = xml_first_elem(j->legacy); lc && n < MAX_ROOMS; lc = xml_next_elem(lc)) {
		const char *jid = xml_attr(lc, "jid");

		if (!xml_is(lc, "conference", NS_BOOKMARKS_LEGACY) || !valid_room(jid) ||
		    (nc = to_new(lc)) == NULL)
			continue;
		n++;
		pubsub_publish_internal(&j->svc, NS_BOOKMARKS2, &cfg, jid, nc, NULL, NULL);
	}
	if (j->src == FROM_PRIVATE)
		write_pep_legacy(&j->svc, j->legacy);
	else
		write_private(&j->svc, j->legacy);
}

/* New -> legacy: one <storage/> of all items. */
static void
join(struct job *j, PGresult *res)
{
	struct xml_node *storage = xml_new("storage", NS_BOOKMARKS_LEGACY), *nc;

	if (storage == NULL)
		return;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *d = PQgetvalue(res, i, 1);

		if ((nc = fragment_parse(d, strlen(d), NS_PUBSUB)) == NULL)
			continue;
		if (xml_is(nc, "conference", NS_BOOKMARKS2))
			add_legacy(storage, PQgetvalue(res, i, 0), nc);
		xml_free(nc);
	}
	write_private(&j->svc, storage);
	write_pep_legacy(&j->svc, storage);
	xml_free(storage);
}

static void
items_got(void *arg, PGresult *res, const char *err)
{
	struct job *j = arg;

	if (res == NULL)
		log_warn("bookmarks: %s not converted: %s", j->svc.jid, err);
	else if (j->src == FROM_NEW)
		join(j, res);
	else
		split(j, res);
	xml_free(j->legacy);
	free(j);
}

static void
start(const struct ps_svc *svc, enum source src, const struct xml_node *legacy)
{
	struct job *j = calloc(1, sizeof(*j));
	const char *v[2] = { svc->jid, NS_BOOKMARKS2 };

	if (j == NULL)
		return;
	j->svc = *svc;
	j->src = src;
	if (legacy && (j->legacy = xml_copy(legacy)) == NULL) {
		free(j);
		return;
	}
	if (db_query_key(srv.db, svc->jid, &st_items, v, items_got, j) == NULL) {
		log_warn("bookmarks: %s not converted: database queue full", svc->jid);
		xml_free(j->legacy);
		free(j);
	}
}

void
bookmarks_published(const struct ps_svc *svc, const char *node, const char *id,
    const struct xml_node *payload)
{
	(void)id;
	if (strcmp(node, NS_BOOKMARKS2) == 0)
		start(svc, FROM_NEW, NULL);
	else if (strcmp(node, NS_BOOKMARKS_LEGACY) == 0 &&
	    xml_is(payload, "storage", NS_BOOKMARKS_LEGACY))
		start(svc, FROM_PEP_LEGACY, payload);
}

void
bookmarks_retracted(const struct ps_svc *svc, const char *node, const char *id)
{
	(void)id;
	if (strcmp(node, NS_BOOKMARKS2) == 0)
		start(svc, FROM_NEW, NULL);
}

static void
bookmarks_private_stored(struct c2s *c, const struct xml_node *iq)
{
	struct xml_node *s = xml_child(xml_first_elem(iq), "storage", NS_BOOKMARKS_LEGACY);
	struct ps_svc svc;

	if (s == NULL || c->user == NULL)
		return;
	ps_svc_pep(&svc, c->host, c->local);
	start(&svc, FROM_PRIVATE, s);
}

static enum hook_rc
private_hook(struct hook_args *a)
{
	bookmarks_private_stored(a->c, a->n);
	return HOOK_NEXT;
}

static const struct hook hooks[] = {
	{ EV_PRIVATE_STORED, 0, private_hook },
	{ EV_MAX, 0, NULL },
};

struct module bookmarks_module = {
	.name = "bookmarks",
	.folder = "pubsub",
	.hooks = hooks,
};
