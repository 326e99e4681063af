/*
 * prosody — reads Prosody 0.12's SQL storage (mod_storage_sql on
 * PostgreSQL) and hands each account's rows to target.c.  Read only: the
 * source is never written.
 *
 * What Prosody keeps where (checked against Debian's 0.12.3 populated by
 * real clients, tests/integration/test_xmpp_import_prosody.py):
 *   prosody (host, user, store, key, type, value)   key-value stores;
 *     type 'json' values are JSON (json.c), 'string'/'number'/'boolean'
 *     the text itself
 *     accounts       stored_key, server_key (hex), salt (the text is the
 *                    salt's bytes), iteration_count: SCRAM-SHA-1 from
 *                    internal_hashed; or password (internal_plain)
 *     roster         one row per contact {name, groups {g: true},
 *                    subscription, ask}; key "" is the table's `false`
 *                    entry: {pending {jid: presence}, version}
 *     blocklist      one row per blocked JID (key ""  the list's dates)
 *     archive_prefs  key "": the default (true always, false never,
 *                    "roster"); JID keys: true always, false never
 *     private        key "name:namespace", the element as a stanza table
 *     vcard          mod_vcard's vcard-temp (a stanza table), where used
 *     pep            node name -> {config {...}, affiliations {jid: aff}}
 *     cloud_notify   "jid<node" -> {jid, node, options (a stanza table)}
 *     account_details registration time: not data a user misses
 *   prosodyarchive (sort_id, host, user, store, key, when, with, type,
 *                   value)   archive stores, key the item's id
 *     archive        MAM: key a UUID stanza-id, when seconds, with the
 *                    other party's bare JID, value the stanza
 *     offline        offline messages (with the archive's stanza-id)
 *     pep_<node>     the node's items (key the item id, with the publisher)
 *     muc_log        a room's archive (prosodyroom.c)
 * mod_vcard_legacy keeps no vcard-temp: a vCard set becomes the vcard4
 * and avatar PEP nodes, from which the vcard-temp is made (vcardpep.c).
 */
#include "import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "fragment.h"
#include "jid.h"
#include "json.h"
#include "prosody.h"
#include "pubsub.h"
#include "pubsubconf.h"
#include "server.h"
#include "xml.h"

#define ARCHIVE_FETCH "1000"
#define NS_SID "urn:xmpp:sid:0"
#define NODE_VCARD4 "urn:xmpp:vcard4"		/* XEP-0292's PEP node */
#define NS_AVATAR_DATA "urn:xmpp:avatar:data"
#define NS_AVATAR_META "urn:xmpp:avatar:metadata"
#define ROSTER_PENDING_MAX 10000

PGresult *
psrc_exec(struct imp *im, struct psrc *s, const char *sql, int n, const char *const *v)
{
	return imp_src_exec(im, s->c, "Prosody's", sql, n, v);
}

int
psrc_tx(struct imp *im, struct psrc *s, bool begin)
{
	return imp_src_tx(im, s->c, "Prosody's", begin);
}

int64_t
prosody_archive_id(long long when, long long sort_id, int64_t prev)
{
	int64_t id = (int64_t)when * 1000000 + (int64_t)(sort_id % 1000000);

	return id > prev ? id : prev + 1;
}

/* A 'json' row's value, or NULL (reported as what). */
static struct json *
row_json(struct imp *im, enum imp_kind k, PGresult *r, int i, int col, const char *what)
{
	char err[128];
	struct json *j;

	if (strcmp(PQgetvalue(r, i, col - 1), "json") != 0) {
		imp_skip(im, k, im->bare, "%s: a %s value where JSON was expected", what,
		    PQgetvalue(r, i, col - 1));
		return NULL;
	}
	if ((j = json_parse(PQgetvalue(r, i, col), (size_t)PQgetlength(r, i, col), err,
	    sizeof(err))) == NULL)
		imp_skip(im, k, im->bare, "%s: its JSON does not parse (%s)", what, err);
	return j;
}

/* ---- the account's key-value stores ---- */

struct acct {
	/* roster: the items, then the pending requests of the `false` entry */
	struct json *pending;		/* {jid: presence} */
	long long roster_version;
	bool have_roster;
	/* archive_prefs */
	const char *prefs_mode;
	const char *always[100], *never[100];
	char prefs_store[200][JID_STR_MAX + 1];
	size_t nalways, nnever;
	bool have_prefs;
	/* vcard-temp (mod_vcard) seen: none is made from PEP */
	bool have_vcard;
	/* PEP nodes imported: name -> target id */
	char **node_names;
	long long *node_ids;
	size_t nnodes;
	/* what the vcard-temp is made of (mod_vcard_legacy) */
	char *vcard4, *avatar_data, *avatar_id;
	char avatar_type[64];
	/* the archive's UUIDs -> our ids (offline messages name them) */
	struct idmap { char *key; int64_t id; } *ids;
	size_t nids, capids;
	bool ids_sorted;
	int64_t last_id;
};

static void
acct_free(struct acct *a)
{
	json_free(a->pending);
	for (size_t i = 0; i < a->nnodes; i++)
		free(a->node_names[i]);
	free(a->node_names);
	free(a->node_ids);
	free(a->vcard4);
	free(a->avatar_data);
	free(a->avatar_id);
	for (size_t i = 0; i < a->nids; i++)
		free(a->ids[i].key);
	free(a->ids);
}

/* The pending request from jid, taken (an item gets it): true if there. */
static bool
pending_take(struct acct *a, const char *jid)
{
	struct json *p = (struct json *)json_get(json_hash_false(a->pending), "pending");

	for (size_t k = 0; p && k < p->n; k++)
		if (p->v[k]->type != JSON_NULL && strcmp(p->k[k], jid) == 0) {
			p->v[k]->type = JSON_NULL;
			return true;
		}
	return false;
}

static void
roster_row(struct imp *im, struct acct *a, PGresult *r, int i)
{
	const char *key = PQgetvalue(r, i, 1);
	struct json *j = row_json(im, IK_ROSTER, r, i, 3, key[0] ? key : "roster metadata");
	const struct json *g, *meta, *v;
	const char *groups[256], *sub, *ask;
	struct imp_roster_item it = { 0 };

	if (j == NULL)
		return;
	a->have_roster = true;
	if (key[0] == '\0') {
		/* the `false` entry: {pending = {jid = presence}, version = n};
		 * key "" sorts first, so the items below know their requests */
		if ((meta = json_hash_false(j)) != NULL) {
			v = json_get(meta, "version");
			if (v && v->type == JSON_NUM && v->num > 0 && v->num < 9e15)
				a->roster_version = (long long)v->num;
			if ((v = json_get(meta, "pending")) != NULL && v->type == JSON_OBJ) {
				if (v->n > ROSTER_PENDING_MAX) {
					imp_skip(im, IK_ROSTER, im->bare, "%zu pending requests: "
					    "more than %d, none kept", v->n, ROSTER_PENDING_MAX);
				} else {
					json_free(a->pending);
					a->pending = j;	/* pending points into it */
					return;
				}
			}
		}
		json_free(j);
		return;
	}
	sub = json_str(j, "subscription");
	ask = json_str(j, "ask");
	it.jid = key;
	it.name = json_str(j, "name");
	g = json_get(j, "groups");
	for (size_t k = 0; g && g->type == JSON_OBJ && k < g->n; k++) {
		if (it.ngroups == sizeof(groups) / sizeof(groups[0])) {
			imp_skip(im, IK_ROSTER, im->bare, "group \"%s\" of %s: more than "
			    "256 groups", g->k[k], key);
			continue;
		}
		groups[it.ngroups++] = g->k[k];
	}
	it.groups = groups;
	if (sub == NULL || (strcmp(sub, "none") != 0 && strcmp(sub, "to") != 0 &&
	    strcmp(sub, "from") != 0 && strcmp(sub, "both") != 0)) {
		imp_skip(im, IK_ROSTER, im->bare, "roster item %s: subscription \"%s\" is "
		    "not none, to, from or both", key, sub ? sub : "");
		json_free(j);
		return;
	}
	it.to = strcmp(sub, "to") == 0 || strcmp(sub, "both") == 0;
	it.from = strcmp(sub, "from") == 0 || strcmp(sub, "both") == 0;
	it.ask_out = ask && strcmp(ask, "subscribe") == 0;
	it.approved = json_bool(json_get(j, "approved")) == 1;
	it.ask_in = pending_take(a, key);
	it.visible = true;
	tgt_roster(im, &it);
	json_free(j);
}

/* Requests from who is not in the roster: an item holding only the
 * request, not shown in the roster (as ejabberd's and ours). */
static void
roster_end(struct imp *im, struct acct *a)
{
	const struct json *p = json_get(json_hash_false(a->pending), "pending");

	for (size_t k = 0; p && k < p->n && !im->failed; k++) {
		struct imp_roster_item it = { 0 };

		if (p->v[k]->type == JSON_NULL)
			continue;	/* an item's */
		it.jid = p->k[k];
		it.ask_in = true;
		it.visible = false;
		tgt_roster(im, &it);
	}
	if (a->have_roster)
		tgt_roster_version(im, a->roster_version > 0 ? a->roster_version : 1);
}

static void
prefs_row(struct imp *im, struct acct *a, PGresult *r, int i)
{
	const char *key = PQgetvalue(r, i, 1), *type = PQgetvalue(r, i, 2);
	const char *val = PQgetvalue(r, i, 3);

	a->have_prefs = true;
	if (key[0] == '\0') {
		struct json *j = row_json(im, IK_MAMPREFS, r, i, 3, "archive default");
		const struct json *d = json_hash_false(j);

		if (d && d->type == JSON_TRUE)
			a->prefs_mode = "always";
		else if (d && d->type == JSON_FALSE)
			a->prefs_mode = "never";
		else if (d && d->type == JSON_STR && strcmp(d->s, "roster") == 0)
			a->prefs_mode = "roster";
		else if (j)
			imp_skip(im, IK_MAMPREFS, im->bare, "archive default: not true, "
			    "false or \"roster\"");
		json_free(j);
		return;
	}
	if (strcmp(type, "boolean") != 0 || (strcmp(val, "true") != 0 &&
	    strcmp(val, "false") != 0)) {
		imp_skip(im, IK_MAMPREFS, im->bare, "archive preference for %s: not a "
		    "boolean", key);
		return;
	}
	if (a->nalways + a->nnever == 200 || (val[0] == 't' ? a->nalways : a->nnever) == 100) {
		imp_skip(im, IK_MAMPREFS, im->bare, "archive preference for %s: more "
		    "than 100 in its list", key);
		return;
	}
	{
		char *slot = a->prefs_store[a->nalways + a->nnever];

		snprintf(slot, JID_STR_MAX + 1, "%s", key);
		if (val[0] == 't')
			a->always[a->nalways++] = slot;
		else
			a->never[a->nnever++] = slot;
	}
}

static void
private_row(struct imp *im, PGresult *r, int i)
{
	const char *key = PQgetvalue(r, i, 1);
	struct json *j = row_json(im, IK_PRIVATE, r, i, 3, key);
	const struct json *attr = json_get(j, "attr");
	const char *ns = json_str(attr, "xmlns");
	struct buf b;

	if (j == NULL)
		return;
	buf_init(&b);
	if (ns == NULL || json_stanza_xml(j, &b) == -1)
		imp_skip(im, IK_PRIVATE, im->bare, "private XML \"%.80s\": not a stored "
		    "element", key);
	else
		tgt_private(im, ns, b.p, b.len);
	buf_free(&b);
	json_free(j);
}

static void
vcard_row(struct imp *im, struct acct *a, PGresult *r, int i)
{
	struct json *j = row_json(im, IK_VCARD, r, i, 3, "vCard");
	struct buf b;

	if (j == NULL)
		return;
	buf_init(&b);
	if (json_stanza_xml(j, &b) == -1)
		imp_skip(im, IK_VCARD, im->bare, "vCard: not a stored element");
	else
		tgt_vcard(im, b.p, b.len);
	a->have_vcard = true;
	buf_free(&b);
	json_free(j);
}

static void
push_row(struct imp *im, PGresult *r, int i)
{
	const char *key = PQgetvalue(r, i, 1);
	struct json *j = row_json(im, IK_PUSH, r, i, 3, key);
	const char *jid = json_str(j, "jid"), *node = json_str(j, "node");
	const struct json *opt = json_get(j, "options");
	struct buf b;

	if (j == NULL)
		return;
	buf_init(&b);
	if (jid == NULL || node == NULL) {
		imp_skip(im, IK_PUSH, im->bare, "push registration %s: no jid or node", key);
	} else if (opt && opt->type == JSON_OBJ && json_stanza_xml(opt, &b) == -1) {
		imp_skip(im, IK_PUSH, im->bare, "push registration to %s: its "
		    "publish-options are not a stored form", jid);
	} else {
		tgt_push(im, jid, node, b.p);
	}
	buf_free(&b);
	json_free(j);
}

static bool
opt_true(const struct json *c, const char *key, bool dflt)
{
	int b = json_bool(json_get(c, key));

	return b < 0 ? dflt : b == 1;
}

/* A PEP node's Prosody config over our defaults; the options the
 * reference host forces stay forced. */
static void
pep_config(struct imp *im, const struct json *c, const char *node, struct ps_config *pc)
{
	const char *v;
	const struct json *m;

	ps_config_default(pc, true, node);
	if ((v = json_str(c, "access_model")) != NULL) {
		if (strcmp(v, "open") == 0)
			pc->access = PS_ACCESS_OPEN;
		else if (strcmp(v, "presence") == 0 || strcmp(v, "roster") == 0)
			pc->access = PS_ACCESS_PRESENCE;
		else
			pc->access = PS_ACCESS_WHITELIST;
		if (strcmp(v, "roster") == 0)
			imp_skip(im, IK_OTHER, im->bare, "node %s: access model roster "
			    "(roster groups) becomes presence", node);
		else if (strcmp(v, "authorize") == 0)
			imp_skip(im, IK_OTHER, im->bare, "node %s: access model authorize "
			    "becomes whitelist", node);
	}
	if ((v = json_str(c, "publish_model")) != NULL)
		pc->publish = strcmp(v, "open") == 0 ? PS_PUBLISH_OPEN :
		    strcmp(v, "subscribers") == 0 ? PS_PUBLISH_SUBSCRIBERS :
		    PS_PUBLISH_PUBLISHERS;
	if ((v = json_str(c, "send_last_published_item")) != NULL)
		pc->send_last = strcmp(v, "never") == 0 ? PS_SENDLAST_NEVER :
		    strcmp(v, "on_sub") == 0 ? PS_SENDLAST_ON_SUB :
		    PS_SENDLAST_ON_SUB_AND_PRESENCE;
	if ((m = json_get(c, "max_items")) != NULL) {
		unsigned max = pubsub_cfg()->max_items;

		pc->max_items = m->type == JSON_NUM && m->num >= 1 && m->num <= max ?
		    (unsigned)m->num : max;
	}
	pc->persist = opt_true(c, "persist_items", pc->persist);
	pc->deliver_notifications = opt_true(c, "deliver_notifications",
	    pc->deliver_notifications);
	pc->deliver_payloads = opt_true(c, "deliver_payloads", pc->deliver_payloads);
	pc->notify_retract = opt_true(c, "notify_retract", pc->notify_retract);
	pc->notify_delete = opt_true(c, "notify_delete", pc->notify_delete);
	if ((v = json_str(c, "title")) != NULL)
		snprintf(pc->title, sizeof(pc->title), "%s", v);
	if ((v = json_str(c, "type")) != NULL)
		snprintf(pc->type, sizeof(pc->type), "%s", v);
	ps_config_force(pc, true, node);
}

static void
pep_row(struct imp *im, struct acct *a, PGresult *r, int i)
{
	const char *node = PQgetvalue(r, i, 1);
	struct json *j = row_json(im, IK_PEPNODE, r, i, 3, node);
	const struct json *affs;
	struct ps_config pc;
	long long id;
	char **nn;
	long long *ni;

	if (j == NULL)
		return;
	pep_config(im, json_get(j, "config"), node, &pc);
	if ((id = tgt_pep_node(im, node, &pc)) == 0) {
		json_free(j);
		return;
	}
	affs = json_get(j, "affiliations");
	for (size_t k = 0; affs && affs->type == JSON_OBJ && k < affs->n; k++) {
		const char *aff = affs->v[k]->type == JSON_STR ? affs->v[k]->s : "";

		if (strcmp(aff, "owner") == 0 && strcmp(affs->k[k], im->bare) == 0)
			continue;	/* the account owns its PEP */
		if (strcmp(aff, "member") == 0 || strcmp(aff, "publisher") == 0 ||
		    strcmp(aff, "outcast") == 0)
			tgt_pep_aff(im, id, affs->k[k], aff);
		else
			imp_skip(im, IK_PEPNODE, im->bare, "node %s: affiliation \"%s\" of "
			    "%s has no PEP form", node, aff, affs->k[k]);
	}
	json_free(j);
	nn = realloc(a->node_names, (a->nnodes + 1) * sizeof(*nn));
	if (nn)
		a->node_names = nn;
	ni = realloc(a->node_ids, (a->nnodes + 1) * sizeof(*ni));
	if (ni)
		a->node_ids = ni;
	if (nn == NULL || ni == NULL || (nn[a->nnodes] = strdup(node)) == NULL) {
		im->failed = true;
		snprintf(im->err, sizeof(im->err), "out of memory");
		return;
	}
	ni[a->nnodes++] = id;
}

static const char *const quiet_stores[] = {
	"accounts", "account_details", "roster", "blocklist", "archive_prefs",
	"private", "vcard", "pep", "cloud_notify", NULL
};

/* Every key-value row of the account, store by store. */
static void
kv_rows(struct imp *im, struct psrc *s, struct acct *a)
{
	const char *v[2] = { im->host, im->user };
	PGresult *r = psrc_exec(im, s, "SELECT store, key, type, value FROM prosody "
	    "WHERE host = $1 AND \"user\" = $2 ORDER BY store COLLATE \"C\", "
	    "key COLLATE \"C\"", 2, v);
	const char *last_other = "";

	for (int i = 0; r && i < PQntuples(r) && !im->failed; i++) {
		const char *store = PQgetvalue(r, i, 0), *key = PQgetvalue(r, i, 1);
		bool known = false;

		if (strcmp(store, "roster") == 0)
			roster_row(im, a, r, i);
		else if (strcmp(store, "blocklist") == 0 && key[0])
			tgt_block(im, key);
		else if (strcmp(store, "archive_prefs") == 0)
			prefs_row(im, a, r, i);
		else if (strcmp(store, "private") == 0)
			private_row(im, r, i);
		else if (strcmp(store, "vcard") == 0)
			vcard_row(im, a, r, i);
		else if (strcmp(store, "pep") == 0)
			pep_row(im, a, r, i);
		else if (strcmp(store, "cloud_notify") == 0)
			push_row(im, r, i);
		for (int k = 0; quiet_stores[k]; k++)
			known = known || strcmp(store, quiet_stores[k]) == 0;
		if (!known && strcmp(store, last_other) != 0) {
			imp_skip(im, IK_OTHER, im->bare, "Prosody store \"%s\": xmpp-core "
			    "keeps nothing of it", store);
			last_other = store;
		}
	}
	PQclear(r);
	if (a->have_prefs)
		tgt_mamprefs(im, a->prefs_mode ? a->prefs_mode : "always", a->always,
		    a->nalways, a->never, a->nnever);
	roster_end(im, a);
}

/* ---- the account's archive stores ---- */

/* The account's own stanza-id (Prosody's UUID) dropped from an archived
 * message: the server adds its own to what it serves.  out holds the
 * text to store; 0, or -1 (out of memory). */
static int
strip_own_sid(struct imp *im, const char *xml, size_t len, struct buf *out)
{
	struct xml_node *m, *e, *next;
	int rc = 0;

	buf_init(out);
	if (memmem(xml, len, NS_SID, strlen(NS_SID)) == NULL ||
	    (m = fragment_parse(xml, len, NS_CLIENT)) == NULL)
		return buf_append(out, xml, len);	/* the writer reports it */
	for (e = xml_first_elem(m); e; e = next) {
		const char *by = xml_attr(e, "by");

		next = xml_next_elem(e);
		if (xml_is(e, "stanza-id", NS_SID) && by && strcmp(by, im->bare) == 0) {
			xml_detach(e);
			xml_free(e);
		}
	}
	if (xml_serialize(out, m, NS_CLIENT) == -1)
		rc = -1;
	xml_free(m);
	return rc;
}

static int
idmap_cmp(const void *x, const void *y)
{
	return strcmp(((const struct idmap *)x)->key, ((const struct idmap *)y)->key);
}

static void
idmap_add(struct acct *a, const char *key, int64_t id)
{
	if (a->nids == a->capids) {
		size_t cap = a->capids ? 2 * a->capids : 256;
		struct idmap *n = realloc(a->ids, cap * sizeof(*n));

		if (n == NULL)
			return;		/* the offline copy loses its id: harmless */
		a->ids = n;
		a->capids = cap;
	}
	if ((a->ids[a->nids].key = strdup(key)) != NULL)
		a->ids[a->nids++].id = id;
	a->ids_sorted = false;
}

static int64_t
idmap_find(struct acct *a, const char *key)
{
	struct idmap k = { (char *)key, 0 }, *f;

	if (!a->ids_sorted) {
		qsort(a->ids, a->nids, sizeof(*a->ids), idmap_cmp);
		a->ids_sorted = true;
	}
	f = a->nids ? bsearch(&k, a->ids, a->nids, sizeof(*a->ids), idmap_cmp) : NULL;
	return f ? f->id : 0;
}

static void
archive_row(struct imp *im, struct acct *a, PGresult *r, int i)
{
	const char *key = PQgetvalue(r, i, 2), *with = PQgetvalue(r, i, 4);
	int64_t id = prosody_archive_id(strtoll(PQgetvalue(r, i, 3), NULL, 10),
	    strtoll(PQgetvalue(r, i, 0), NULL, 10), a->last_id);
	struct buf b;

	if (strcmp(PQgetvalue(r, i, 5), "xml") != 0) {
		imp_skip(im, IK_ARCHIVE, im->bare, "archive id %s: not a stanza", key);
		return;
	}
	if (strip_own_sid(im, PQgetvalue(r, i, 6), (size_t)PQgetlength(r, i, 6), &b) == -1) {
		im->failed = true;
		buf_free(&b);
		return;
	}
	a->last_id = id;
	idmap_add(a, key, id);
	tgt_archive(im, id, with, b.p ? b.p : "", b.len);
	buf_free(&b);
}

/* An offline message: its copy in the archive is named by the archive's
 * new id (the server's offline copies carry their stanza-id). */
static void
offline_row(struct imp *im, struct acct *a, PGresult *r, int i)
{
	const char *xml = PQgetvalue(r, i, 6);
	size_t len = (size_t)PQgetlength(r, i, 6);
	time_t at = (time_t)strtoll(PQgetvalue(r, i, 3), NULL, 10);
	struct xml_node *m, *e;
	struct buf b;

	if ((m = fragment_parse(xml, len, NS_CLIENT)) == NULL) {
		tgt_offline(im, xml, len, at);	/* reported there */
		return;
	}
	for (e = xml_first_elem(m); e; e = xml_next_elem(e)) {
		const char *by = xml_attr(e, "by"), *id = xml_attr(e, "id");
		int64_t mapped;
		char ids[24];

		if (!xml_is(e, "stanza-id", NS_SID) || by == NULL || strcmp(by, im->bare) != 0)
			continue;
		if (id && (mapped = idmap_find(a, id)) != 0) {
			snprintf(ids, sizeof(ids), "%lld", (long long)mapped);
			if (xml_set_attr(e, "id", ids) == -1)
				im->failed = true;
		} else {
			xml_detach(e);
			xml_free(e);
		}
		break;
	}
	buf_init(&b);
	if (xml_serialize(&b, m, NS_CLIENT) == -1)
		im->failed = true;
	else
		tgt_offline(im, b.p, b.len, at);
	buf_free(&b);
	xml_free(m);
}

static long long
node_id(const struct acct *a, const char *node)
{
	for (size_t i = 0; i < a->nnodes; i++)
		if (strcmp(a->node_names[i], node) == 0)
			return a->node_ids[i];
	return 0;
}

static void
keep(char **dst, const char *s)
{
	free(*dst);
	*dst = strdup(s);
}

static void
pep_item_row(struct imp *im, struct acct *a, PGresult *r, int i, const char *node)
{
	const char *item = PQgetvalue(r, i, 2), *with = PQgetvalue(r, i, 4);
	const char *xml = PQgetvalue(r, i, 6);
	long long id = node_id(a, node);

	if (id == 0) {
		imp_skip(im, IK_PEPITEM, im->bare, "item \"%.80s\" of %s: the node has no "
		    "configuration (or was left out)", item, node);
		return;
	}
	tgt_pep_item(im, id, node, item, with[0] ? with : im->bare, xml,
	    (size_t)PQgetlength(r, i, 6), (time_t)strtoll(PQgetvalue(r, i, 3), NULL, 10));
	/* what mod_vcard_legacy made of a vcard-temp, to make it again */
	if (strcmp(node, NODE_VCARD4) == 0) {
		keep(&a->vcard4, xml);
	} else if (strcmp(node, NS_AVATAR_DATA) == 0) {
		keep(&a->avatar_data, xml);
		keep(&a->avatar_id, item);
	} else if (strcmp(node, NS_AVATAR_META) == 0) {
		struct xml_node *m = fragment_parse(xml, strlen(xml), "http://jabber.org/protocol/pubsub");
		struct xml_node *info = m ? xml_child(m, "info", NS_AVATAR_META) : NULL;
		const char *t = info ? xml_attr(info, "type") : NULL;

		if (t && strlen(t) < sizeof(a->avatar_type) && strchr(t, '<') == NULL)
			snprintf(a->avatar_type, sizeof(a->avatar_type), "%s", t);
		xml_free(m);
	}
}

static void
archive_rows(struct imp *im, struct psrc *s, struct acct *a)
{
	const char *v[2] = { im->host, im->user };
	char last_other[128] = "";
	PGresult *r;

	if (!s->has_archive)
		return;
	if ((r = psrc_exec(im, s, "DECLARE parch NO SCROLL CURSOR FOR SELECT sort_id, "
	    "store, key, \"when\", \"with\", type, value FROM prosodyarchive WHERE "
	    "host = $1 AND \"user\" = $2 ORDER BY store COLLATE \"C\", sort_id", 2, v)) == NULL)
		return;
	PQclear(r);
	while ((r = psrc_exec(im, s, "FETCH " ARCHIVE_FETCH " FROM parch", 0, NULL)) != NULL) {
		int n = PQntuples(r);

		for (int i = 0; i < n && !im->failed; i++) {
			const char *store = PQgetvalue(r, i, 1);

			if (strcmp(store, "archive") == 0) {
				archive_row(im, a, r, i);
			} else if (strcmp(store, "offline") == 0) {
				offline_row(im, a, r, i);
			} else if (strncmp(store, "pep_", 4) == 0) {
				pep_item_row(im, a, r, i, store + 4);
			} else if (strncmp(store, last_other, sizeof(last_other) - 1) != 0) {
				imp_skip(im, IK_OTHER, im->bare, "Prosody archive store "
				    "\"%.80s\": xmpp-core keeps nothing of it", store);
				snprintf(last_other, sizeof(last_other), "%s", store);
			}
		}
		PQclear(r);
		if (n == 0)
			break;
	}
	if ((r = psrc_exec(im, s, "CLOSE parch", 0, NULL)) != NULL)
		PQclear(r);
}

/* ---- accounts ---- */

static void
account(struct imp *im, struct psrc *s, const char *host, const char *user,
    struct imp_cred *c)
{
	char who[2 * JID_PART_MAX + 2], local[JID_PART_MAX + 1];
	struct acct a = { 0 };
	int rc;

	snprintf(who, sizeof(who), "%s@%s", user, host);
	if (jid_local_prep(user, local) == -1 || strcmp(local, user) != 0) {
		imp_skip(im, IK_ACCOUNT, who, "\"%s\" is not a valid (normalised) JID "
		    "localpart", user);
		return;
	}
	if (!imp_host_served(im, host)) {
		imp_skip(im, IK_ACCOUNT, who, "%s is not a host of this server (hosts in "
		    "xmpp-core.toml; --host picks one)", host);
		return;
	}
	if ((rc = tgt_account_begin(im, host, user, c)) <= 0) {
		if (rc < 0)
			imp_skip(im, IK_ACCOUNT, who, "not imported: %s", im->err);
		return;
	}
	if (psrc_tx(im, s, true) == 0) {
		kv_rows(im, s, &a);
		archive_rows(im, s, &a);
		if (!a.have_vcard)
			imp_vcard_from_pep(im, a.vcard4, a.avatar_data, a.avatar_type);
		psrc_tx(im, s, false);
	}
	acct_free(&a);
	tgt_account_end(im);
}

/* The accounts store's keys of one account into c: 0, or -1 (why). */
static int
cred_rows(PGresult *r, int from, int to, struct imp_cred *c, const char **why)
{
	const char *stored = NULL, *server = NULL, *salt = NULL, *iter = NULL, *pw = NULL;
	struct scram_keys k;
	enum scram_hash h;
	ssize_t sl, sv;
	unsigned long it;

	for (int i = from; i < to; i++) {
		const char *key = PQgetvalue(r, i, 2), *val = PQgetvalue(r, i, 3);

		if (strcmp(key, "stored_key") == 0)
			stored = val;
		else if (strcmp(key, "server_key") == 0)
			server = val;
		else if (strcmp(key, "salt") == 0)
			salt = val;
		else if (strcmp(key, "iteration_count") == 0)
			iter = val;
		else if (strcmp(key, "password") == 0)
			pw = val;
	}
	if (stored == NULL && pw) {
		if (pw[0] == '\0') {
			*why = "empty password";
			return -1;
		}
		return (c->plain = strdup(pw)) ? 0 : -1;
	}
	if (stored == NULL || server == NULL || salt == NULL || iter == NULL) {
		*why = "no credentials (neither SCRAM keys nor a password)";
		return -1;
	}
	memset(&k, 0, sizeof(k));
	it = strtoul(iter, NULL, 10);
	/* internal_hashed: SHA-1 keys (20 bytes); a later Prosody's SHA-256 */
	h = strlen(stored) == 64 ? SCRAM_SHA256 : SCRAM_SHA1;
	sl = hex_decode(stored, strlen(stored), k.stored, sizeof(k.stored));
	sv = hex_decode(server, strlen(server), k.server, sizeof(k.server));
	if (sl != (ssize_t)scram_hash_len(h) || sv != sl || it == 0 || it > 10000000 ||
	    salt[0] == '\0' || strlen(salt) > sizeof(k.salt)) {
		*why = "its SCRAM keys do not decode (stored_key, server_key, salt, "
		    "iteration_count)";
		OPENSSL_cleanse(&k, sizeof(k));
		return -1;
	}
	/* the salt is the text's bytes (a UUID Prosody made), not base64 */
	memcpy(k.salt, salt, strlen(salt));
	k.saltlen = strlen(salt);
	k.iter = (unsigned)it;
	c->k[h] = k;
	c->have[h] = true;
	OPENSSL_cleanse(&k, sizeof(k));
	return 0;
}

static int
accounts(struct imp *im, struct psrc *s, char *err, size_t errlen)
{
	const char *v[1] = { im->only_host };
	PGresult *r;
	int n;

	r = PQexecParams(s->c, "SELECT host, \"user\", key, value FROM prosody WHERE "
	    "store = 'accounts' AND ($1::text IS NULL OR host = $1) "
	    "ORDER BY host COLLATE \"C\", \"user\" COLLATE \"C\", key", 1, NULL, v,
	    NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "reading accounts: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	n = PQntuples(r);
	for (int i = 0, j; i < n; i = j) {
		for (j = i; j < n && strcmp(PQgetvalue(r, j, 0), PQgetvalue(r, i, 0)) == 0 &&
		    strcmp(PQgetvalue(r, j, 1), PQgetvalue(r, i, 1)) == 0; j++)
			;
		im->units_total++;
	}
	for (int i = 0, j; i < n; i = j) {
		struct imp_cred c = { 0 };
		const char *host = PQgetvalue(r, i, 0), *user = PQgetvalue(r, i, 1);
		const char *why = NULL;

		for (j = i; j < n && strcmp(PQgetvalue(r, j, 0), host) == 0 &&
		    strcmp(PQgetvalue(r, j, 1), user) == 0; j++)
			;
		if (cred_rows(r, i, j, &c, &why) == -1) {
			char who[2 * JID_PART_MAX + 2];

			snprintf(who, sizeof(who), "%s@%s", user, host);
			imp_skip(im, IK_ACCOUNT, who, "%s", why ? why : "out of memory");
		} else {
			account(im, s, host, user, &c);
		}
		if (c.plain) {
			OPENSSL_cleanse(c.plain, strlen(c.plain));
			free(c.plain);
		}
		OPENSSL_cleanse(&c, sizeof(c));
		im->units++;
		imp_progress(im, false);
	}
	PQclear(r);
	return 0;
}

static int
probe(struct psrc *s, char *err, size_t errlen)
{
	PGresult *r = PQexec(s->c, "SELECT to_regclass('prosody') IS NOT NULL, "
	    "to_regclass('prosodyarchive') IS NOT NULL");

	if (PQresultStatus(r) != PGRES_TUPLES_OK || strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		snprintf(err, errlen, "%s", PQresultStatus(r) != PGRES_TUPLES_OK ?
		    PQresultErrorMessage(r) : "no Prosody table (prosody) in this database");
		err[strcspn(err, "\n")] = '\0';
		PQclear(r);
		return -1;
	}
	s->has_archive = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
	PQclear(r);
	return 0;
}

int
prosody_import(struct imp *im, int argc, char **argv)
{
	struct psrc s = { 0 };
	const char *from;
	char err[512];
	int rc = 0;

	if (imp_options(im, argc, argv, &from) == -1)
		return 2;
	if (strncmp(from, "sqlite:", 7) == 0) {
		/* xmpp-core links no SQLite: Prosody's own tool moves the file's
		 * rows into PostgreSQL first (deploy/MIGRATION.md) */
		fprintf(stderr, "xmppctl import: Prosody on SQLite: copy it into PostgreSQL "
		    "with prosody-migrator first (deploy/MIGRATION.md), then import from "
		    "there\n");
		return 1;
	}
	if ((s.c = db_connect_sync(from, err, sizeof(err))) == NULL) {
		fprintf(stderr, "xmppctl import: Prosody's database: %s\n", err);
		return 1;
	}
	if (probe(&s, err, sizeof(err)) == -1) {
		fprintf(stderr, "xmppctl import: Prosody's database: %s\n", err);
		PQfinish(s.c);
		return 1;
	}
	fprintf(stderr, "xmppctl import: Prosody database (mod_storage_sql)%s%s\n",
	    im->only_host ? ", host " : "", im->only_host ? im->only_host : "");
	if (accounts(im, &s, err, sizeof(err)) == -1) {
		fprintf(stderr, "xmppctl import: %s\n", err);
		rc = 1;
	} else {
		prosody_rooms(im, &s);
		prosody_orphans(im, &s);
	}
	PQfinish(s.c);
	return rc;
}
