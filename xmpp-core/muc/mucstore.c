/*
 * mucstore — persistent rooms.  See mucstore.h.
 */
#include "mucstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "fragment.h"
#include "log.h"
#include "mucconf.h"
#include "mucint.h"
#include "mucroom.h"
#include "server.h"
#include "xml.h"

static struct db_stmt st_load = {
	"SELECT created_by, name, description, password, public, members_only, "
	"moderated, password_protected, whois_anyone, change_subject, "
	"allow_invites, allow_pm, max_users, subject, subject_by, occupant_salt, "
	"vcard, "
	"(SELECT string_agg(a.jid || ' ' || a.affiliation, E'\\n') FROM "
	"(SELECT jid, affiliation FROM muc_affiliation WHERE room = $1 "
	"ORDER BY jid LIMIT $2::integer) a), archive, lang, presence_broadcast "
	"FROM muc_room WHERE jid = $1", 2, 0 };
static struct db_stmt st_history = {
	"SELECT extract(epoch FROM h.at)::bigint, h.stanza FROM (SELECT at, seq, "
	"stanza FROM muc_history WHERE room = $1 ORDER BY seq DESC "
	"LIMIT $2::integer) h ORDER BY h.seq", 2, 0 };
/* An archived room's history is the newest of its archive (mucmam.c). */
static struct db_stmt st_archive_tail = {
	"SELECT a.id / 1000000, a.stanza, a.id FROM (SELECT id, stanza FROM "
	"muc_archive WHERE room = $1 ORDER BY id DESC LIMIT $2::integer) a "
	"ORDER BY a.id", 2, 0 };
/* A new room only while its creator is under the limit; the creator is
 * its first owner. */
static struct db_stmt st_save = {
	"WITH r AS (INSERT INTO muc_room (jid, service, created_by, name, "
	"description, password, public, members_only, moderated, "
	"password_protected, whois_anyone, change_subject, allow_invites, "
	"allow_pm, max_users, subject, subject_by, occupant_salt, archive, "
	"lang, presence_broadcast) "
	"SELECT $1, split_part($1, '@', 2), "
	"$2, $3, $4, $5, $6::boolean, $7::boolean, "
	"$8::boolean, $9::boolean, $10::boolean, $11::boolean, $12::boolean, "
	"$13::smallint, $14::integer, $15, $16, $18, $19::boolean, $20, "
	"$21::smallint WHERE EXISTS (SELECT 1 FROM muc_room "
	"WHERE jid = $1) OR (SELECT count(*) FROM muc_room WHERE created_by = $2) "
	"< $17::integer ON CONFLICT (jid) DO UPDATE SET name = EXCLUDED.name, "
	"description = EXCLUDED.description, password = EXCLUDED.password, "
	"public = EXCLUDED.public, members_only = EXCLUDED.members_only, "
	"moderated = EXCLUDED.moderated, "
	"password_protected = EXCLUDED.password_protected, "
	"whois_anyone = EXCLUDED.whois_anyone, "
	"change_subject = EXCLUDED.change_subject, "
	"allow_invites = EXCLUDED.allow_invites, allow_pm = EXCLUDED.allow_pm, "
	"max_users = EXCLUDED.max_users, archive = EXCLUDED.archive, "
	"lang = EXCLUDED.lang, presence_broadcast = EXCLUDED.presence_broadcast "
	"RETURNING jid), "
	"a AS (INSERT INTO muc_affiliation (room, jid, affiliation) "
	"SELECT jid, $2, 4 FROM r ON CONFLICT DO NOTHING) SELECT 1 FROM r", 21, 0 };
static struct db_stmt st_aff_set = {
	"INSERT INTO muc_affiliation (room, jid, affiliation) "
	"SELECT $1, $2, $3::smallint WHERE EXISTS (SELECT 1 FROM muc_room "
	"WHERE jid = $1) ON CONFLICT (room, jid) DO UPDATE "
	"SET affiliation = EXCLUDED.affiliation", 3, 0 };
static struct db_stmt st_aff_del = {
	"DELETE FROM muc_affiliation WHERE room = $1 AND jid = $2", 2, 0 };
static struct db_stmt st_vcard = {
	"UPDATE muc_room SET vcard = $2 WHERE jid = $1", 2, 0 };
static struct db_stmt st_subject = {
	"UPDATE muc_room SET subject = $2, subject_by = $3 WHERE jid = $1", 3, 0 };
/* The new message in, the oldest beyond the room's history out (the
 * DELETE does not see the row its sibling inserts, so it keeps one
 * fewer). */
static struct db_stmt st_hist_add = {
	"WITH i AS (INSERT INTO muc_history (room, stanza) SELECT $1, $2 WHERE "
	"EXISTS (SELECT 1 FROM muc_room WHERE jid = $1)) DELETE FROM muc_history "
	"WHERE room = $1 AND seq < COALESCE((SELECT min(s.seq) FROM (SELECT seq "
	"FROM muc_history WHERE room = $1 ORDER BY seq DESC "
	"LIMIT $3::integer - 1) s), 9223372036854775807)", 3, 0 };
/* The page of public rooms nearest after ($2, "": none) or before ($3)
 * in the asked direction, and a row with a NULL jid counting them all. */
#define PUBLIC_PAGE(dir) \
	"SELECT NULL::text, NULL::text, count(*) FROM muc_room WHERE " \
	"service = $1 AND public UNION ALL (SELECT jid, name, 0 FROM muc_room " \
	"WHERE service = $1 AND public AND jid > $2 AND ($3 = '' OR jid < $3) " \
	"ORDER BY jid " dir " LIMIT $4::integer)"
static struct db_stmt st_public = { PUBLIC_PAGE("ASC"), 4, 0 };
static struct db_stmt st_public_back = { PUBLIC_PAGE("DESC"), 4, 0 };
static struct db_stmt st_list = {
	"SELECT jid, public, members_only, password_protected FROM muc_room "
	"WHERE $1 = '' OR service = $1 ORDER BY jid", 1, 0 };
static struct db_stmt st_delete = {
	"DELETE FROM muc_room WHERE jid = $1", 1, 0 };


struct load {
	void (*done)(void *arg, struct muc_room *r, const char *err);
	void *arg;
	int host;
	struct muc_room *r;
	char jid[];
};

static bool
tf(PGresult *res, int col)
{
	return PQgetvalue(res, 0, col)[0] == 't';
}

static char *
opt(PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? NULL : strdup(PQgetvalue(res, 0, col));
}

static void
load_affs(struct muc_room *r, const char *s)
{
	char bare[2 * JID_PART_MAX + 2];

	while (s && *s) {
		const char *sp = strchr(s, ' '), *nl;
		long a;

		if (sp == NULL || (size_t)(sp - s) >= sizeof(bare))
			return;
		memcpy(bare, s, (size_t)(sp - s));
		bare[sp - s] = '\0';
		a = strtol(sp + 1, NULL, 10);
		if (a >= MUC_AFF_OUTCAST && a <= MUC_AFF_OWNER)
			(void)mucroom_set_aff(r, bare, (enum muc_aff)a);
		nl = strchr(sp, '\n');
		s = nl ? nl + 1 : NULL;
	}
}

static struct muc_room *
room_from_row(const struct load *l, PGresult *res)
{
	const char *at = strchr(l->jid, '@');
	char local[JID_PART_MAX + 1];
	struct muc_room *r;
	struct muc_roomcfg *c;
	unsigned long mu;

	if (at == NULL || (size_t)(at - l->jid) >= sizeof(local))
		return NULL;
	memcpy(local, l->jid, (size_t)(at - l->jid));
	local[at - l->jid] = '\0';
	if ((r = mucroom_create(l->jid, local, l->host, PQgetvalue(res, 0, 0))) == NULL)
		return NULL;
	c = &r->cfg;
	c->name = opt(res, 1);
	c->desc = opt(res, 2);
	c->password = opt(res, 3);
	c->public_ = tf(res, 4);
	c->members_only = tf(res, 5);
	c->moderated = tf(res, 6);
	c->password_protected = tf(res, 7);
	c->whois_anyone = tf(res, 8);
	c->change_subject = tf(res, 9);
	c->allow_invites = tf(res, 10);
	c->allow_pm = (enum muc_pm)(strtol(PQgetvalue(res, 0, 11), NULL, 10) & 3);
	mu = strtoul(PQgetvalue(res, 0, 12), NULL, 10);
	c->max_users = mu < 1 ? 1 : mu > muc_cfg()->max_occupants ?
	    muc_cfg()->max_occupants : (unsigned)mu;
	c->persistent = true;
	r->subject = opt(res, 13);
	r->subject_by = opt(res, 14);
	/* the creator's ownership comes from the table like everyone's */
	mucroom_set_aff(r, r->creator, MUC_AFF_NONE);
	snprintf(r->salt, sizeof(r->salt), "%s", PQgetvalue(res, 0, 15));
	if ((r->vcard = opt(res, 16)) != NULL) {
		struct xml_node *vc = fragment_parse(r->vcard, strlen(r->vcard),
		    NS_CLIENT);

		mucvcard_hash(vc, r->avatar);
		xml_free(vc);
	}
	load_affs(r, PQgetisnull(res, 0, 17) ? NULL : PQgetvalue(res, 0, 17));
	c->archive = tf(res, 18);
	if (!PQgetisnull(res, 0, 19))
		snprintf(c->lang, sizeof(c->lang), "%s", PQgetvalue(res, 0, 19));
	c->presence_broadcast = (unsigned)strtoul(PQgetvalue(res, 0, 20), NULL, 10) &
	    MUC_PB_ALL;
	r->locked = false;
	r->stored = true;
	return r;
}

static void
history_got(void *arg, PGresult *res, const char *err)
{
	struct load *l = arg;
	struct muc_room *r = mucroom_find(l->jid);

	if (res == NULL)
		log_warn("muc: history of %s: %s", l->jid, err);
	else if (r == l->r) {
		for (int i = 0; i < PQntuples(res); i++) {
			const char *s = PQgetvalue(res, i, 1);
			struct xml_node *m = fragment_parse(s, strlen(s), NS_CLIENT);

			if (m == NULL)
				continue;
			mucroom_hist_add_id(r, m, strtoll(PQgetvalue(res, i, 0), NULL, 10),
			    PQnfields(res) > 2 ? strtoll(PQgetvalue(res, i, 2), NULL, 10) : 0,
			    NULL);
			xml_free(m);
		}
	}
	l->done(l->arg, r == l->r ? r : NULL, NULL);
	free(l);
}

static void
room_got(void *arg, PGresult *res, const char *err)
{
	struct load *l = arg;
	char lim[16];
	const char *v[2] = { l->jid, lim };

	if (res == NULL) {
		log_warn("muc: loading %s: %s", l->jid, err);
		l->done(l->arg, NULL, err);
		free(l);
		return;
	}
	if (PQntuples(res) == 0 || mucroom_find(l->jid) != NULL) {
		l->done(l->arg, mucroom_find(l->jid), NULL);
		free(l);
		return;
	}
	if ((l->r = room_from_row(l, res)) == NULL) {
		l->done(l->arg, NULL, "out of memory");
		free(l);
		return;
	}
	if (l->r->hist_cap == 0) {
		l->done(l->arg, l->r, NULL);
		free(l);
		return;
	}
	snprintf(lim, sizeof(lim), "%u", l->r->hist_cap);
	if (db_query_key(srv.db, l->jid, l->r->cfg.archive ? &st_archive_tail :
	    &st_history, v, history_got, l) == NULL) {
		l->done(l->arg, l->r, NULL);
		free(l);
	}
}

int
mucstore_load(const char *jid, int host,
    void (*done)(void *arg, struct muc_room *r, const char *err), void *arg)
{
	size_t n = strlen(jid) + 1;
	struct load *l = malloc(sizeof(*l) + n);
	char lim[16];
	const char *v[2] = { jid, lim };

	if (l == NULL)
		return -1;
	l->done = done;
	l->arg = arg;
	l->host = host;
	l->r = NULL;
	memcpy(l->jid, jid, n);
	snprintf(lim, sizeof(lim), "%d", MUC_MAX_AFFS);
	if (db_query_key(srv.db, jid, &st_load, v, room_got, l) == NULL) {
		free(l);
		return -1;
	}
	return 0;
}

struct save {
	void (*done)(void *arg, int rc);
	void *arg;
	const char *what;	/* for the log */
};

static void
saved(void *arg, PGresult *res, const char *err)
{
	struct save *s = arg;

	if (res == NULL)
		log_warn("muc: saving a room: %s", err);
	s->done(s->arg, res == NULL ? -1 : PQntuples(res) == 0 ? 1 : 0);
	free(s);
}

static void
aff_written(void *arg, PGresult *res, const char *err)
{
	struct save *s = arg;

	if (res == NULL)
		log_warn("muc: %s: %s", s->what, err);
	s->done(s->arg, res == NULL ? -1 : 0);
	free(s);
}

int
mucstore_save(const struct muc_room *r, const struct muc_roomcfg *c,
    void (*done)(void *arg, int rc), void *arg)
{
	struct save *s = malloc(sizeof(*s));
	char pm[8], mu[16], lim[16], pb[8];
	const char *v[21] = {
		r->jid, r->creator, c->name, c->desc, c->password,
		c->public_ ? "t" : "f", c->members_only ? "t" : "f",
		c->moderated ? "t" : "f", c->password_protected ? "t" : "f",
		c->whois_anyone ? "t" : "f", c->change_subject ? "t" : "f",
		c->allow_invites ? "t" : "f", pm, mu, r->subject, r->subject_by, lim,
		r->salt, c->archive ? "t" : "f", c->lang[0] ? c->lang : NULL, pb,
	};

	if (s == NULL)
		return -1;
	s->done = done;
	s->arg = arg;
	snprintf(pm, sizeof(pm), "%d", (int)c->allow_pm);
	snprintf(mu, sizeof(mu), "%u", c->max_users);
	snprintf(pb, sizeof(pb), "%u", c->presence_broadcast);
	snprintf(lim, sizeof(lim), "%u", muc_cfg()->max_rooms_per_creator);
	if (db_query_key(srv.db, r->jid, &st_save, v, saved, s) == NULL) {
		free(s);
		return -1;
	}
	return 0;
}

int
mucstore_aff(const struct muc_room *r, const char *bare, int aff,
    void (*done)(void *arg, int rc), void *arg)
{
	struct save *s = malloc(sizeof(*s));
	char a[8];
	const char *v[3] = { r->jid, bare, a };

	if (s == NULL)
		return -1;
	s->done = done;
	s->arg = arg;
	s->what = "storing an affiliation";
	snprintf(a, sizeof(a), "%d", aff);
	if (db_query_key(srv.db, r->jid, aff == MUC_AFF_NONE ? &st_aff_del :
	    &st_aff_set, v, aff_written, s) == NULL) {
		free(s);
		return -1;
	}
	return 0;
}

int
mucstore_public(const char *service, const char *after, const char *before,
    bool backward, unsigned limit, db_cb *cb, void *arg)
{
	char lim[16];
	const char *v[4] = { service, after, before, lim };

	snprintf(lim, sizeof(lim), "%u", limit);
	return db_query(srv.db, backward ? &st_public_back : &st_public, v, cb,
	    arg) == NULL ? -1 : 0;
}

int
mucstore_list(const char *service, db_cb *cb, void *arg)
{
	const char *v[1] = { service ? service : "" };

	return db_query(srv.db, &st_list, v, cb, arg) == NULL ? -1 : 0;
}

int
mucstore_vcard(const struct muc_room *r, void (*done)(void *arg, int rc),
    void *arg)
{
	struct save *s = malloc(sizeof(*s));
	const char *v[2] = { r->jid, r->vcard };

	if (s == NULL)
		return -1;
	s->done = done;
	s->arg = arg;
	s->what = "storing a room's vCard";
	if (db_query_key(srv.db, r->jid, &st_vcard, v, aff_written, s) == NULL) {
		free(s);
		return -1;
	}
	return 0;
}

static const char what_subject[] = "storing a subject",
    what_history[] = "storing history", what_delete[] = "deleting a room";

static void
written(void *arg, PGresult *res, const char *err)
{
	if (res == NULL)
		log_warn("muc: %s: %s", (const char *)arg, err);
}

void
mucstore_subject(const struct muc_room *r)
{
	const char *v[3] = { r->jid, r->subject, r->subject_by };

	(void)db_query_key(srv.db, r->jid, &st_subject, v, written,
	    (void *)what_subject);
}

void
mucstore_history(const struct muc_room *r, const char *stanza)
{
	char lim[16];
	const char *v[3] = { r->jid, stanza, lim };

	if (r->hist_cap == 0)
		return;
	snprintf(lim, sizeof(lim), "%u", r->hist_cap);
	(void)db_query_key(srv.db, r->jid, &st_hist_add, v, written,
	    (void *)what_history);
}

void
mucstore_delete(const char *jid)
{
	const char *v[1] = { jid };

	(void)db_query_key(srv.db, jid, &st_delete, v, written,
	    (void *)what_delete);
}
