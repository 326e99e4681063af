/*
 * ejabberd — reads an ejabberd database (PostgreSQL, ejabberd 21.x-24.x)
 * and hands each account's rows to target.c.  Both of ejabberd's
 * schemas: pg.new.sql (new_sql_schema: true, a server_host column in
 * every table, several hosts in one database) and the older pg.sql (one
 * host per database: the host comes from --host or the only host of
 * xmpp-core.toml).  Read only: the source is never written.
 *
 * What ejabberd keeps where (its sql/pg.new.sql):
 *   users            password, serverkey, salt, iterationcount: SCRAM keys
 *                    (StoredKey in password, "sha256:"/"sha512:" prefixed
 *                    for those hashes; one row per hash where 24.x keeps
 *                    several), or a plain password (serverkey '', count 0)
 *   rosterusers      subscription N/T/F/B, ask N/O/I/B/S/U; rostergroups
 *   roster_version   the version string clients cached
 *   vcard, private_storage, last, push_session  as their names say
 *   spool            offline messages (with ejabberd's own delay)
 *   archive          MAM: timestamp (microseconds) is the stanza-id;
 *                    username is the room JID and kind 'groupchat' for
 *                    room archives
 *   archive_prefs    def, and always/never as Erlang lists of {U,S,R}
 *   privacy_*        privacy lists; mod_blocking keeps XEP-0191 blocks as
 *                    deny items of the default list
 *   pubsub_node ...  PEP nodes have the account's bare JID as host
 *   muc_room         opts: an Erlang proplist (erlterm.c)
 */
#include "import.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "config.h"
#include "crypto.h"
#include "db.h"
#include "ejabberd.h"
#include "erlterm.h"
#include "jid.h"
#include "pubsub.h"
#include "pubsubconf.h"
#include "server.h"

#define ARCHIVE_FETCH "1000"

static const char *const optional_tables[T_NTABLES] = {
	"push_session", "roster_version", "archive_prefs", "last", "pubsub_node",
	"muc_room", "privacy_list",
};

/* One query in both schemas: $1 the host, $2 the user. */
struct q {
	const char *multi, *single;
};

#define HOST_USER(t) " WHERE " t "server_host = $1 AND " t "username = $2"
#define USER_ONLY(t) " WHERE $1::text IS NOT NULL AND " t "username = $2"
#define Q(sel, from, tail) { sel " FROM " from HOST_USER("") tail, \
	sel " FROM " from USER_ONLY("") tail }

static const struct q q_roster = Q("SELECT jid, nick, subscription, ask",
    "rosterusers", " ORDER BY jid COLLATE \"C\"");
static const struct q q_groups = Q("SELECT jid, grp", "rostergroups",
    " ORDER BY jid COLLATE \"C\", grp");
static const struct q q_rver = Q("SELECT version", "roster_version", "");
static const struct q q_vcard = Q("SELECT vcard", "vcard", "");
static const struct q q_private = Q("SELECT namespace, data", "private_storage",
    " ORDER BY namespace");
static const struct q q_spool = Q("SELECT xml, extract(epoch FROM created_at)::bigint",
    "spool", " ORDER BY seq");
static const struct q q_archive = Q("SELECT timestamp, peer, xml, coalesce(kind, '')",
    "archive", " ORDER BY timestamp, id");
static const struct q q_prefs = Q("SELECT def, always, never", "archive_prefs", "");
static const struct q q_push = Q("SELECT service, node, xml", "push_session",
    " ORDER BY timestamp");
static const struct q q_last = Q("SELECT seconds, state", "last", "");
static const struct q q_privacy = {
	"SELECT l.name, d.t, d.value, d.action, d.match_all, d.match_iq, "
	"d.match_message, d.match_presence_in, d.match_presence_out, "
	"l.name = coalesce((SELECT dl.name FROM privacy_default_list dl WHERE "
	"dl.server_host = $1 AND dl.username = $2), '') FROM privacy_list l JOIN "
	"privacy_list_data d ON d.id = l.id" HOST_USER("l.") " ORDER BY l.name, d.ord",
	"SELECT l.name, d.t, d.value, d.action, d.match_all, d.match_iq, "
	"d.match_message, d.match_presence_in, d.match_presence_out, "
	"l.name = coalesce((SELECT dl.name FROM privacy_default_list dl WHERE "
	"dl.username = $2), '') FROM privacy_list l JOIN "
	"privacy_list_data d ON d.id = l.id" USER_ONLY("l.") " ORDER BY l.name, d.ord",
};

PGresult *
src_exec(struct imp *im, struct src *s, const char *sql, int n, const char *const *v)
{
	return imp_src_exec(im, s->c, "ejabberd's", sql, n, v);
}

static PGresult *
src_q(struct imp *im, struct src *s, const struct q *q)
{
	const char *v[2] = { im->host, im->user };

	return src_exec(im, s, s->multi ? q->multi : q->single, 2, v);
}

static int
src_probe(struct src *s, char *err, size_t errlen)
{
	PGresult *r;

	r = PQexec(s->c, "SELECT count(*) FROM information_schema.columns WHERE "
	    "table_name = 'users' AND column_name = 'server_host' AND "
	    "table_schema = current_schema()");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "%s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	s->multi = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
	PQclear(r);
	r = PQexec(s->c, "SELECT to_regclass('users') IS NOT NULL");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		snprintf(err, errlen, "no ejabberd users table in this database");
		PQclear(r);
		return -1;
	}
	PQclear(r);
	for (int t = 0; t < T_NTABLES; t++) {
		const char *v[1] = { optional_tables[t] };

		r = PQexecParams(s->c, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, v,
		    NULL, NULL, 0);
		s->has[t] = PQresultStatus(r) == PGRES_TUPLES_OK &&
		    strcmp(PQgetvalue(r, 0, 0), "t") == 0;
		PQclear(r);
	}
	return 0;
}

/* ---- accounts ---- */

static int
b64(const char *in, uint8_t *out, size_t cap)
{
	ssize_t n = base64_decode(in, strlen(in), out, cap);

	return n < 0 ? -1 : (int)n;
}

/* One users row into the credential: 0, or -1 (reason in why). */
static int
cred_row(PGresult *r, int i, struct imp_cred *c, const char **why)
{
	const char *pw = PQgetvalue(r, i, 2), *sk = PQgetvalue(r, i, 3);
	const char *salt = PQgetvalue(r, i, 4);
	unsigned long iter = strtoul(PQgetvalue(r, i, 5), NULL, 10);
	enum scram_hash h = SCRAM_SHA1;
	struct scram_keys k;
	int n;

	if (sk[0] == '\0' && iter == 0) {
		if (pw[0] == '\0') {
			*why = "empty password";
			return -1;
		}
		free(c->plain);
		c->plain = strdup(pw);
		return c->plain ? 0 : -1;
	}
	if (strncmp(pw, "sha512:", 7) == 0) {
		c->sha512_only_seen = true;
		return 0;
	}
	if (strncmp(pw, "sha256:", 7) == 0) {
		h = SCRAM_SHA256;
		pw += 7;
	}
	memset(&k, 0, sizeof(k));
	n = b64(salt, k.salt, sizeof(k.salt));
	k.saltlen = n > 0 ? (size_t)n : 0;
	k.iter = (unsigned)iter;
	if (n <= 0 || iter == 0 || iter > 10000000 ||
	    b64(pw, k.stored, sizeof(k.stored)) != (int)scram_hash_len(h) ||
	    b64(sk, k.server, sizeof(k.server)) != (int)scram_hash_len(h)) {
		*why = "its SCRAM keys do not decode (salt, StoredKey, ServerKey, count)";
		return -1;
	}
	c->k[h] = k;
	c->have[h] = true;
	OPENSSL_cleanse(&k, sizeof(k));
	return 0;
}

static void
roster(struct imp *im, struct src *s)
{
	PGresult *r = src_q(im, s, &q_roster), *g = r ? src_q(im, s, &q_groups) : NULL;
	const char *groups[256];
	int gi = 0, gn = g ? PQntuples(g) : 0;

	if (r == NULL || g == NULL)
		goto out;
	for (int i = 0; i < PQntuples(r); i++) {
		struct imp_roster_item it = { 0 };
		const char *jid = PQgetvalue(r, i, 0);
		char sub = PQgetvalue(r, i, 2)[0], ask = PQgetvalue(r, i, 3)[0];

		while (gi < gn && strcmp(PQgetvalue(g, gi, 0), jid) < 0) {
			imp_skip(im, IK_ROSTER, im->bare, "group \"%s\" of %s: no such "
			    "roster item", PQgetvalue(g, gi, 1), PQgetvalue(g, gi, 0));
			gi++;
		}
		while (gi < gn && strcmp(PQgetvalue(g, gi, 0), jid) == 0) {
			if (it.ngroups < sizeof(groups) / sizeof(groups[0]))
				groups[it.ngroups++] = PQgetvalue(g, gi, 1);
			else
				imp_skip(im, IK_ROSTER, im->bare, "group \"%s\" of %s: more "
				    "than 256 groups", PQgetvalue(g, gi, 1), jid);
			gi++;
		}
		it.jid = jid;
		it.name = PQgetvalue(r, i, 1);
		it.groups = groups;
		/* subscription: Both, To, From, None; ask: Out, In, Both (and
		 * S/U: a subscribe/unsubscribe being sent) */
		it.to = sub == 'B' || sub == 'T';
		it.from = sub == 'B' || sub == 'F';
		it.ask_out = ask == 'O' || ask == 'B' || ask == 'S';
		it.ask_in = ask == 'I' || ask == 'B';
		/* ejabberd hides an item that only holds an inbound request */
		it.visible = !(sub == 'N' && ask == 'I');
		tgt_roster(im, &it);
	}
	for (; gi < gn; gi++)
		imp_skip(im, IK_ROSTER, im->bare, "group \"%s\" of %s: no such roster item",
		    PQgetvalue(g, gi, 1), PQgetvalue(g, gi, 0));
	if (PQntuples(r) > 0) {
		long long ver = 1;
		PGresult *v = s->has[T_RVER] ? src_q(im, s, &q_rver) : NULL;

		/* a decimal version clients cached stays valid (the roster is the
		 * same); any other (ejabberd's hashes) makes them fetch it once */
		if (v && PQntuples(v) == 1) {
			char *e;
			long long n = strtoll(PQgetvalue(v, 0, 0), &e, 10);
			char back[24];

			snprintf(back, sizeof(back), "%lld", n);
			if (*e == '\0' && n > 0 && strcmp(back, PQgetvalue(v, 0, 0)) == 0)
				ver = n;
		}
		PQclear(v);
		tgt_roster_version(im, ver);
	}
out:
	PQclear(r);
	PQclear(g);
}

static void
simple_rows(struct imp *im, struct src *s)
{
	PGresult *r;

	if ((r = src_q(im, s, &q_vcard)) != NULL) {
		for (int i = 0; i < PQntuples(r); i++)
			tgt_vcard(im, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
		PQclear(r);
	}
	if ((r = src_q(im, s, &q_private)) != NULL) {
		for (int i = 0; i < PQntuples(r); i++)
			tgt_private(im, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
			    (size_t)PQgetlength(r, i, 1));
		PQclear(r);
	}
	if ((r = src_q(im, s, &q_spool)) != NULL) {
		for (int i = 0; i < PQntuples(r); i++)
			tgt_offline(im, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0),
			    (time_t)strtoll(PQgetvalue(r, i, 1), NULL, 10));
		PQclear(r);
	}
	if (s->has[T_PUSH] && (r = src_q(im, s, &q_push)) != NULL) {
		for (int i = 0; i < PQntuples(r); i++)
			tgt_push(im, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
			    PQgetvalue(r, i, 2));
		PQclear(r);
	}
	if (s->has[T_LAST] && (r = src_q(im, s, &q_last)) != NULL) {
		for (int i = 0; i < PQntuples(r); i++)
			tgt_last(im, (time_t)strtoll(PQgetvalue(r, i, 0), NULL, 10),
			    PQgetvalue(r, i, 1));
		PQclear(r);
	}
}

/*
 * The id a row of the account's archive gets: ejabberd's time, except
 * that ejabberd can give two messages of one archive the same time (the
 * sender's and the recipient's processes each take one) and ids are
 * unique per archive here.  Another message at an id already given goes
 * a microsecond on; the same row again keeps the id and is left out as a
 * copy (tgt_archive).  Rows come in (time, row) order, so every run of
 * an import gives the same ids.  last and prev: the previous row's id
 * and XML.
 */
static long long
archive_id(const char *ts, const char *xml, size_t len, long long *last,
    struct buf *prev)
{
	long long id = strtoll(ts, NULL, 10);

	if (id <= *last && *last > 0 && *last < LLONG_MAX)
		id = prev->len == len && memcmp(prev->p, xml, len) == 0 ?
		    *last : *last + 1;
	if (id > *last)
		*last = id;
	prev->len = 0;
	if (buf_append(prev, xml, len) == -1)
		prev->len = 0;	/* compared with nothing: never a copy */
	return id;
}

/* The account's archive through a cursor (archives can be large). */
static void
archive(struct imp *im, struct src *s)
{
	const char *v[2] = { im->host, im->user };
	const struct q *q = &q_archive;
	char sql[512];
	PGresult *r;
	long long last = 0;	/* the id given to the previous row */
	struct buf prev;	/* that row's XML */

	snprintf(sql, sizeof(sql), "DECLARE arch NO SCROLL CURSOR FOR %s",
	    s->multi ? q->multi : q->single);
	if ((r = src_exec(im, s, sql, 2, v)) == NULL)
		return;
	PQclear(r);
	buf_init(&prev);
	for (;;) {
		int n;

		if ((r = src_exec(im, s, "FETCH " ARCHIVE_FETCH " FROM arch", 0, NULL)) == NULL) {
			buf_free(&prev);
			return;
		}
		if ((n = PQntuples(r)) == 0) {
			PQclear(r);
			break;
		}
		for (int i = 0; i < n && !im->failed; i++) {
			if (strcmp(PQgetvalue(r, i, 3), "groupchat") == 0) {
				imp_skip(im, IK_ARCHIVE, im->bare, "archive id %s: a groupchat "
				    "message in an account's archive (rooms keep their own)",
				    PQgetvalue(r, i, 0));
				continue;
			}
			tgt_archive(im, archive_id(PQgetvalue(r, i, 0), PQgetvalue(r, i, 2),
			    (size_t)PQgetlength(r, i, 2), &last, &prev), PQgetvalue(r, i, 1),
			    PQgetvalue(r, i, 2), (size_t)PQgetlength(r, i, 2));
		}
		PQclear(r);
	}
	buf_free(&prev);
	if ((r = src_exec(im, s, "CLOSE arch", 0, NULL)) != NULL)
		PQclear(r);
}

/* An Erlang list of {U,S,R} as JIDs (pointers into store, at most max). */
static size_t
erl_jids(struct imp *im, const char *text, char store[][JID_STR_MAX + 1], size_t max,
    const char *what)
{
	char err[128];
	struct erl_term *t = erl_parse(text, strlen(text), err, sizeof(err));
	size_t n = 0;

	if (t == NULL || t->type != ERL_LIST) {
		imp_skip(im, IK_MAMPREFS, im->bare, "the %s list \"%.60s\": %s", what, text,
		    t ? "not a list" : err);
		erl_free(t);
		return 0;
	}
	for (size_t i = 0; i < t->n; i++) {
		if (n == max || erl_jid(t->v[i], store[n], sizeof(store[n])) == -1) {
			imp_skip(im, IK_MAMPREFS, im->bare, "an entry of the %s list: %s",
			    what, n == max ? "more than 100" : "not a {User, Server, "
			    "Resource} JID");
			continue;
		}
		n++;
	}
	erl_free(t);
	return n;
}

static void
prefs(struct imp *im, struct src *s)
{
	static char a[100][JID_STR_MAX + 1], nv[100][JID_STR_MAX + 1];
	const char *ap[100], *np[100];
	PGresult *r;
	size_t na, nn;

	if (!s->has[T_PREFS] || (r = src_q(im, s, &q_prefs)) == NULL)
		return;
	if (PQntuples(r) == 1) {
		na = erl_jids(im, PQgetvalue(r, 0, 1), a, 100, "always");
		nn = erl_jids(im, PQgetvalue(r, 0, 2), nv, 100, "never");
		for (size_t i = 0; i < 100; i++) {
			ap[i] = a[i];
			np[i] = nv[i];
		}
		tgt_mamprefs(im, PQgetvalue(r, 0, 0), ap, na, np, nn);
	}
	PQclear(r);
}

/* Privacy lists: what XEP-0191 can say (deny everything from a JID, in
 * the default list, as mod_blocking writes it) becomes a block; the rest
 * is reported. */
static void
privacy(struct imp *im, struct src *s)
{
	PGresult *r;

	if (!s->has[T_PRIVACY] || (r = src_q(im, s, &q_privacy)) == NULL)
		return;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *list = PQgetvalue(r, i, 0), *value = PQgetvalue(r, i, 2);
		bool all = strcmp(PQgetvalue(r, i, 4), "t") == 0;
		bool every = all || (strcmp(PQgetvalue(r, i, 5), "t") == 0 &&
		    strcmp(PQgetvalue(r, i, 6), "t") == 0 &&
		    strcmp(PQgetvalue(r, i, 7), "t") == 0 &&
		    strcmp(PQgetvalue(r, i, 8), "t") == 0);

		if (strcmp(PQgetvalue(r, i, 9), "t") != 0) {
			imp_skip(im, IK_PRIVACY, im->bare, "list \"%s\" item %s: not the "
			    "default list (only the default list's denials become blocks)",
			    list, value);
		} else if (PQgetvalue(r, i, 1)[0] != 'j' || PQgetvalue(r, i, 3)[0] != 'd' ||
		    !every) {
			imp_skip(im, IK_PRIVACY, im->bare, "list \"%s\" item \"%s\": a %s %s "
			    "rule%s has no XEP-0191 form", list, value,
			    PQgetvalue(r, i, 1)[0] == 'j' ? "JID" : PQgetvalue(r, i, 1)[0] ==
			    'g' ? "group" : PQgetvalue(r, i, 1)[0] == 's' ? "subscription" :
			    "catch-all", PQgetvalue(r, i, 3)[0] == 'd' ? "deny" : "allow",
			    every ? "" : " for some stanza kinds");
		} else {
			tgt_block(im, value);
		}
	}
	PQclear(r);
}

/* ejabberd's item times: "MMMMMM:SSSSSS:UUUUUU" (erlang:timestamp()). */
static time_t
item_time(const char *s)
{
	long long mega, sec, us;

	if (sscanf(s, "%lld:%lld:%lld", &mega, &sec, &us) == 3)
		return (time_t)(mega * 1000000 + sec);
	return (time_t)(strtoll(s, NULL, 10) / 1000000);
}

static bool
opt_bool(const char *v)
{
	return strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

/* A PEP node's ejabberd options over our defaults; the options the
 * reference host forces stay forced. */
static void
pep_config(struct imp *im, PGresult *o, const char *node, struct ps_config *c)
{
	ps_config_default(c, true, node);
	for (int i = 0; i < PQntuples(o); i++) {
		const char *k = PQgetvalue(o, i, 0), *v = PQgetvalue(o, i, 1);

		if (strcmp(k, "access_model") == 0) {
			if (strcmp(v, "open") == 0)
				c->access = PS_ACCESS_OPEN;
			else if (strcmp(v, "presence") == 0 || strcmp(v, "roster") == 0)
				c->access = PS_ACCESS_PRESENCE;
			else
				c->access = PS_ACCESS_WHITELIST;
			if (strcmp(v, "roster") == 0)
				imp_skip(im, IK_OTHER, im->bare, "node %s: access model roster "
				    "(roster groups) becomes presence", node);
			else if (strcmp(v, "authorize") == 0)
				imp_skip(im, IK_OTHER, im->bare, "node %s: access model authorize "
				    "becomes whitelist", node);
		} else if (strcmp(k, "publish_model") == 0) {
			c->publish = strcmp(v, "open") == 0 ? PS_PUBLISH_OPEN :
			    strcmp(v, "subscribers") == 0 ? PS_PUBLISH_SUBSCRIBERS :
			    PS_PUBLISH_PUBLISHERS;
		} else if (strcmp(k, "send_last_published_item") == 0) {
			c->send_last = strcmp(v, "never") == 0 ? PS_SENDLAST_NEVER :
			    strcmp(v, "on_sub") == 0 ? PS_SENDLAST_ON_SUB :
			    PS_SENDLAST_ON_SUB_AND_PRESENCE;
		} else if (strcmp(k, "max_items") == 0) {
			unsigned long n = strtoul(v, NULL, 10);
			unsigned max = pubsub_cfg()->max_items;

			c->max_items = strcmp(v, "max") == 0 || n == 0 || n > max ? max :
			    (unsigned)n;
		} else if (strcmp(k, "persist_items") == 0) {
			c->persist = opt_bool(v);
		} else if (strcmp(k, "deliver_notifications") == 0) {
			c->deliver_notifications = opt_bool(v);
		} else if (strcmp(k, "deliver_payloads") == 0) {
			c->deliver_payloads = opt_bool(v);
		} else if (strcmp(k, "notify_retract") == 0) {
			c->notify_retract = opt_bool(v);
		} else if (strcmp(k, "notify_delete") == 0) {
			c->notify_delete = opt_bool(v);
		} else if (strcmp(k, "title") == 0 || strcmp(k, "type") == 0) {
			char *dst = k[1] == 'i' ? c->title : c->type;

			/* Erlang binaries there: <<"text">> */
			if (strncmp(v, "<<\"", 3) == 0) {
				char err[64];
				struct erl_term *t = erl_parse(v, strlen(v), err, sizeof(err));

				snprintf(dst, PS_TEXT_MAX + 1, "%s", erl_str(t) ? erl_str(t) : "");
				erl_free(t);
			} else {
				snprintf(dst, PS_TEXT_MAX + 1, "%s", v);
			}
		}
	}
	ps_config_force(c, true, node);
}

static void
pep(struct imp *im, struct src *s)
{
	const char *v[1] = { im->bare };
	PGresult *nodes;

	if (!s->has[T_PUBSUB])
		return;
	nodes = src_exec(im, s, "SELECT nodeid, node FROM pubsub_node WHERE host = $1 "
	    "ORDER BY nodeid", 1, v);
	for (int i = 0; nodes && i < PQntuples(nodes) && !im->failed; i++) {
		const char *nv[1] = { PQgetvalue(nodes, i, 0) }, *node = PQgetvalue(nodes, i, 1);
		PGresult *o, *it, *st;
		struct ps_config c;
		long long id;

		if ((o = src_exec(im, s, "SELECT name, val FROM pubsub_node_option WHERE "
		    "nodeid = $1::bigint", 1, nv)) == NULL)
			break;
		pep_config(im, o, node, &c);
		PQclear(o);
		if ((id = tgt_pep_node(im, node, &c)) == 0)
			continue;
		it = src_exec(im, s, "SELECT itemid, publisher, creation, payload FROM "
		    "pubsub_item WHERE nodeid = $1::bigint ORDER BY modification", 1, nv);
		for (int j = 0; it && j < PQntuples(it); j++)
			tgt_pep_item(im, id, node, PQgetvalue(it, j, 0), PQgetvalue(it, j, 1),
			    PQgetvalue(it, j, 3), (size_t)PQgetlength(it, j, 3),
			    item_time(PQgetvalue(it, j, 2)));
		PQclear(it);
		/* who else may read or publish (the owner is the account) */
		st = src_exec(im, s, "SELECT jid, affiliation FROM pubsub_state WHERE "
		    "nodeid = $1::bigint AND affiliation IN ('p', 'm', 'c', 'u') ORDER BY jid",
		    1, nv);
		for (int j = 0; st && j < PQntuples(st); j++) {
			char a = PQgetvalue(st, j, 1)[0];

			tgt_pep_aff(im, id, PQgetvalue(st, j, 0), a == 'm' ? "member" :
			    a == 'c' ? "outcast" : "publisher");
		}
		PQclear(st);
	}
	PQclear(nodes);
}

static int
src_tx(struct imp *im, struct src *s, bool begin)
{
	return imp_src_tx(im, s->c, "ejabberd's", begin);
}

static void
account(struct imp *im, struct src *s, const char *host, const char *user,
    struct imp_cred *c)
{
	char who[2 * JID_PART_MAX + 2], local[JID_PART_MAX + 1];
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
	if (!c->have[SCRAM_SHA1] && !c->have[SCRAM_SHA256] && c->plain == NULL) {
		imp_skip(im, IK_ACCOUNT, who, "%s", c->sha512_only_seen ?
		    "only SCRAM-SHA-512 keys, which xmpp-core has no mechanism for (set "
		    "a password with xmppctl passwd after the import)" : "no credentials");
		return;
	}
	if ((rc = tgt_account_begin(im, host, user, c)) <= 0) {
		if (rc < 0)
			imp_skip(im, IK_ACCOUNT, who, "not imported: %s", im->err);
		return;
	}
	if (src_tx(im, s, true) == 0) {
		roster(im, s);
		simple_rows(im, s);
		prefs(im, s);
		privacy(im, s);
		pep(im, s);
		archive(im, s);
		src_tx(im, s, false);
	}
	tgt_account_end(im);
}

static int
accounts(struct imp *im, struct src *s, char *err, size_t errlen)
{
	const char *v[1] = { s->multi ? im->only_host : s->host };
	PGresult *r;
	int n;

	r = PQexecParams(s->c, s->multi ?
	    "SELECT username, server_host, password, serverkey, salt, iterationcount "
	    "FROM users WHERE $1::text IS NULL OR server_host = $1 "
	    "ORDER BY server_host, username" :
	    "SELECT username, $1::text, password, serverkey, salt, iterationcount "
	    "FROM users ORDER BY username", 1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(err, errlen, "reading users: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	n = PQntuples(r);
	im->units_total += (unsigned long)n;
	for (int i = 0; i < n;) {
		struct imp_cred c = { 0 };
		const char *user = PQgetvalue(r, i, 0), *host = PQgetvalue(r, i, 1);
		const char *why = NULL;
		int j;

		/* one row per stored hash (24.x) or one row */
		for (j = i; j < n && strcmp(PQgetvalue(r, j, 0), user) == 0 &&
		    strcmp(PQgetvalue(r, j, 1), host) == 0; j++)
			if (why == NULL && cred_row(r, j, &c, &why) == -1 && why == NULL)
				why = "out of memory";
		if (why) {
			char who[2 * JID_PART_MAX + 2];

			snprintf(who, sizeof(who), "%s@%s", user, host);
			imp_skip(im, IK_ACCOUNT, who, "%s", why);
		} else {
			account(im, s, host, user, &c);
		}
		if (c.plain) {
			OPENSSL_cleanse(c.plain, strlen(c.plain));
			free(c.plain);
		}
		OPENSSL_cleanse(&c, sizeof(c));
		im->units += (unsigned long)(j - i);
		imp_progress(im, false);
		i = j;
	}
	PQclear(r);
	return 0;
}

int
ejabberd_import(struct imp *im, int argc, char **argv)
{
	struct src s = { 0 };
	const char *from;
	char err[512];
	int rc = 0;

	if (imp_options(im, argc, argv, &from) == -1)
		return 2;
	if ((s.c = db_connect_sync(from, err, sizeof(err))) == NULL) {
		fprintf(stderr, "xmppctl import: ejabberd's database: %s\n", err);
		return 1;
	}
	if (src_probe(&s, err, sizeof(err)) == -1) {
		fprintf(stderr, "xmppctl import: ejabberd's database: %s\n", err);
		PQfinish(s.c);
		return 1;
	}
	if (!s.multi) {
		/* pg.sql holds one host and does not say which */
		s.host = im->only_host ? im->only_host :
		    im->cfg->nhosts == 1 ? im->cfg->hosts[0] : NULL;
		if (s.host == NULL) {
			fprintf(stderr, "xmppctl import: ejabberd's database has the "
			    "single-host schema (pg.sql): say which host it is with --host\n");
			PQfinish(s.c);
			return 1;
		}
	}
	fprintf(stderr, "xmppctl import: ejabberd database with the %s schema%s%s\n",
	    s.multi ? "multi-host (pg.new.sql)" : "single-host (pg.sql)",
	    s.host || im->only_host ? ", host " : "",
	    s.host ? s.host : im->only_host ? im->only_host : "");
	if (accounts(im, &s, err, sizeof(err)) == -1) {
		fprintf(stderr, "xmppctl import: %s\n", err);
		rc = 1;
	} else {
		if (s.has[T_MUC])
			ejabberd_rooms(im, &s);
		ejabberd_orphans(im, &s);
	}
	PQfinish(s.c);
	return rc;
}
