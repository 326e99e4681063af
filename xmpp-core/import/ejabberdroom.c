/*
 * ejabberdroom — ejabberd's persistent rooms (muc_room: name, service and
 * an Erlang proplist of options) with their archives (archive rows whose
 * username is the room's JID, kind 'groupchat'), and the report of rows
 * that belong to no account or room.  See ejabberd.h.
 */
#include "import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ejabberd.h"
#include "erlterm.h"
#include "fragment.h"
#include "mucconf.h"
#include "server.h"
#include "xml.h"

#define ROOM_FETCH "1000"

static const char *
text_opt(const struct erl_term *opts, const char *key)
{
	const char *s = erl_str(erl_prop(opts, key));

	return s && s[0] ? s : NULL;
}

static bool
bool_opt(const struct erl_term *opts, const char *key, bool dflt)
{
	int b = erl_bool(erl_prop(opts, key));

	return b < 0 ? dflt : b == 1;
}

/* subject: a binary (older), or [{text, Lang, Text}] (23.x) */
static const char *
subject_text(const struct erl_term *opts)
{
	const struct erl_term *s = erl_prop(opts, "subject");

	if (s && s->type == ERL_LIST && s->n > 0 && s->v[0]->type == ERL_TUPLE &&
	    s->v[0]->n == 3 && erl_atom_is(s->v[0]->v[0], "text"))
		s = s->v[0]->v[2];
	return erl_str(s) && erl_str(s)[0] ? erl_str(s) : NULL;
}

/* allow_private_messages: true/false (23.x), or anyone/participants/
 * moderators/none (newer): muc_room.allow_pm 0..3. */
static int
pm_opt(const struct erl_term *opts)
{
	const struct erl_term *t = erl_prop(opts, "allow_private_messages");

	if (erl_atom_is(t, "false") || erl_atom_is(t, "none"))
		return 3;
	if (erl_atom_is(t, "moderators"))
		return 2;
	if (erl_atom_is(t, "participants"))
		return 1;
	return 0;
}

static unsigned
broadcast_opt(const struct erl_term *opts)
{
	const struct erl_term *t = erl_prop(opts, "presence_broadcast");
	unsigned bits = 0;

	if (t == NULL || t->type != ERL_LIST)
		return 14;
	for (size_t i = 0; i < t->n; i++)
		bits |= erl_atom_is(t->v[i], "moderator") ? 8 :
		    erl_atom_is(t->v[i], "participant") ? 4 :
		    erl_atom_is(t->v[i], "visitor") ? 2 : 0;
	return bits;
}

static int
aff_code(const struct erl_term *a)
{
	if (a && a->type == ERL_TUPLE && a->n >= 1)
		a = a->v[0];	/* {Affiliation, Reason} */
	return erl_atom_is(a, "owner") ? 4 : erl_atom_is(a, "admin") ? 3 :
	    erl_atom_is(a, "member") ? 2 : erl_atom_is(a, "outcast") ? 0 : -1;
}

static void
room_archive(struct imp *im, struct src *s, const char *server_host)
{
	const char *v[2] = { im->room, server_host };
	PGresult *r;

	r = src_exec(im, s, s->multi ?
	    "DECLARE rarch NO SCROLL CURSOR FOR SELECT timestamp, bare_peer, "
	    "coalesce(nick, ''), xml FROM archive WHERE server_host = $2 AND "
	    "username = $1 AND kind = 'groupchat' ORDER BY timestamp, id" :
	    "DECLARE rarch NO SCROLL CURSOR FOR SELECT timestamp, bare_peer, "
	    "coalesce(nick, ''), xml FROM archive WHERE $2::text IS NOT NULL AND "
	    "username = $1 AND kind = 'groupchat' ORDER BY timestamp, id", 2, v);
	if (r == NULL)
		return;
	PQclear(r);
	while ((r = src_exec(im, s, "FETCH " ROOM_FETCH " FROM rarch", 0, NULL)) != NULL) {
		int n = PQntuples(r);

		for (int i = 0; i < n && !im->failed; i++)
			tgt_room_msg(im, strtoll(PQgetvalue(r, i, 0), NULL, 10),
			    PQgetvalue(r, i, 2), PQgetvalue(r, i, 1), PQgetvalue(r, i, 3),
			    (size_t)PQgetlength(r, i, 3));
		PQclear(r);
		if (n == 0)
			break;
	}
	if ((r = src_exec(im, s, "CLOSE rarch", 0, NULL)) != NULL)
		PQclear(r);
}

/* The room's vCard (vcard option) as the room stores it, or NULL. */
static char *
room_vcard(struct imp *im, const char *room, const char *text)
{
	struct xml_node *vc;
	struct buf b;

	if (text == NULL)
		return NULL;
	if ((vc = fragment_parse(text, strlen(text), NS_CLIENT)) == NULL ||
	    !xml_is(vc, "vCard", "vcard-temp")) {
		imp_skip(im, IK_OTHER, room, "the room's vCard does not parse");
		xml_free(vc);
		return NULL;
	}
	buf_init(&b);
	if (xml_serialize(&b, vc, NS_CLIENT) == -1 || buf_append(&b, "", 1) == -1) {
		buf_free(&b);
		b.p = NULL;
	}
	xml_free(vc);
	return b.p;
}

static void
room(struct imp *im, struct src *s, const char *name, const char *service,
    const char *server_host, const char *opts_text)
{
	char jid[2 * JID_PART_MAX + 2], err[128];
	char creator[JID_STR_MAX + 1] = "";
	struct imp_room r = { 0 };
	struct erl_term *opts;
	const struct erl_term *affs;
	int rc;

	if (imp_room_jid(im, name, service, jid, sizeof(jid)) == -1)
		return;
	if ((opts = erl_parse(opts_text, strlen(opts_text), err, sizeof(err))) == NULL ||
	    opts->type != ERL_LIST) {
		imp_skip(im, IK_ROOM, jid, "its options do not parse: %s",
		    opts ? "not a list" : err);
		erl_free(opts);
		return;
	}
	if (!bool_opt(opts, "persistent", false)) {
		imp_skip(im, IK_ROOM, jid, "not a persistent room");
		erl_free(opts);
		return;
	}
	r.jid = jid;
	r.name = text_opt(opts, "title");
	r.desc = text_opt(opts, "description");
	r.password = text_opt(opts, "password");
	r.password_protected = bool_opt(opts, "password_protected", false);
	r.public_ = bool_opt(opts, "public", true);
	r.members_only = bool_opt(opts, "members_only", false);
	r.moderated = bool_opt(opts, "moderated", true);
	r.whois_anyone = !bool_opt(opts, "anonymous", true);
	r.change_subject = bool_opt(opts, "allow_change_subj", true);
	r.allow_invites = bool_opt(opts, "allow_user_invites", false);
	r.archive = bool_opt(opts, "mam", false);
	r.allow_pm = pm_opt(opts);
	r.presence_broadcast = broadcast_opt(opts);
	r.lang = text_opt(opts, "lang");
	r.subject = subject_text(opts);
	r.subject_by = text_opt(opts, "subject_author");
	if (erl_prop(opts, "subject_author") && erl_prop(opts, "subject_author")->type ==
	    ERL_TUPLE && erl_prop(opts, "subject_author")->n > 0)
		r.subject_by = erl_str(erl_prop(opts, "subject_author")->v[0]);
	{
		const struct erl_term *mu = erl_prop(opts, "max_users");

		r.max_users = mu && mu->type == ERL_INT && mu->i > 0 ? (unsigned)mu->i :
		    muc_cfg()->default_max_users;
	}
	if (bool_opt(opts, "captcha_protected", false))
		imp_skip(im, IK_OTHER, jid, "CAPTCHA protection: xmpp-core's rooms have none "
		    "(the room is imported without it)");
	if (bool_opt(opts, "allow_subscription", false))
		imp_skip(im, IK_OTHER, jid, "MUC/Sub subscriptions: not supported, left out");
	affs = erl_prop(opts, "affiliations");
	for (size_t i = 0; affs && affs->type == ERL_LIST && i < affs->n; i++) {
		const struct erl_term *a = affs->v[i];

		if (a->type == ERL_TUPLE && a->n == 2 && aff_code(a->v[1]) == 4 &&
		    erl_jid(a->v[0], creator, sizeof(creator)) == 0)
			break;
		creator[0] = '\0';
	}
	{
		char *vcard = room_vcard(im, jid, text_opt(opts, "vcard"));

		r.vcard = vcard;
		rc = tgt_room_begin(im, &r, creator);
		free(vcard);
	}
	if (rc <= 0) {
		if (rc < 0)
			imp_skip(im, IK_ROOM, jid, "not imported: %s", im->err);
		erl_free(opts);
		return;
	}
	for (size_t i = 0; affs && affs->type == ERL_LIST && i < affs->n; i++) {
		const struct erl_term *a = affs->v[i];
		char who[JID_STR_MAX + 1];
		int code;

		if (a->type != ERL_TUPLE || a->n != 2 || erl_jid(a->v[0], who, sizeof(who)) == -1 ||
		    (code = aff_code(a->v[1])) < 0) {
			imp_skip(im, IK_ROOMAFF, jid, "an affiliation entry is not "
			    "{{User, Server, Resource}, Affiliation}");
			continue;
		}
		tgt_room_aff(im, who, code);
	}
	erl_free(opts);
	room_archive(im, s, server_host);
	tgt_room_end(im);
}

void
ejabberd_rooms(struct imp *im, struct src *s)
{
	const char *v[1] = { s->multi ? im->only_host : s->host };
	PGresult *r;

	r = src_exec(im, s, s->multi ?
	    "SELECT name, host, server_host, opts FROM muc_room WHERE $1::text IS NULL "
	    "OR server_host = $1 ORDER BY host, name" :
	    "SELECT name, host, $1::text, opts FROM muc_room ORDER BY host, name", 1, v);
	if (r == NULL) {
		fprintf(stderr, "xmppctl import: rooms: %s\n", im->err);
		im->failed = false;
		return;
	}
	im->units_total += (unsigned long)PQntuples(r);
	for (int i = 0; i < PQntuples(r); i++) {
		PGresult *b = src_exec(im, s, "BEGIN ISOLATION LEVEL REPEATABLE READ "
		    "READ ONLY", 0, NULL);

		if (b == NULL) {
			fprintf(stderr, "xmppctl import: rooms: %s\n", im->err);
			break;
		}
		PQclear(b);
		room(im, s, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
		    PQgetvalue(r, i, 3));
		PQclear(PQexec(s->c, "COMMIT"));
		im->units++;
		imp_progress(im, false);
	}
	PQclear(r);
}

/* Per table, the rows of accounts that do not exist (or rooms, for room
 * archives): one report line per owner. */
static const struct orphan {
	const char *table, *multi, *single;
} orphans[] = {
#define NOUSER(t, extra) { t, \
	"SELECT username || '@' || server_host, count(*) FROM " t " x WHERE " extra \
	"NOT EXISTS (SELECT 1 FROM users u WHERE u.server_host = x.server_host AND " \
	"u.username = x.username) AND ($1::text IS NULL OR x.server_host = $1) " \
	"GROUP BY 1 ORDER BY 1", \
	"SELECT username || '@' || $1::text, count(*) FROM " t " x WHERE " extra \
	"NOT EXISTS (SELECT 1 FROM users u WHERE u.username = x.username) GROUP BY 1 ORDER BY 1" }
	NOUSER("rosterusers", ""),
	NOUSER("rostergroups", ""),
	NOUSER("vcard", ""),
	NOUSER("private_storage", ""),
	NOUSER("spool", ""),
	NOUSER("archive", "coalesce(kind, '') <> 'groupchat' AND "),
	NOUSER("archive_prefs", ""),
	NOUSER("privacy_list", ""),
	NOUSER("push_session", ""),
	NOUSER("last", ""),
	{ "archive (rooms)",
	  "SELECT username, count(*) FROM archive x WHERE kind = 'groupchat' AND "
	  "($1::text IS NULL OR x.server_host = $1) AND NOT EXISTS (SELECT 1 FROM "
	  "muc_room m WHERE m.name || '@' || m.host = x.username) GROUP BY 1 ORDER BY 1",
	  "SELECT username, count(*) FROM archive x WHERE $1::text IS NOT NULL AND "
	  "kind = 'groupchat' AND NOT EXISTS (SELECT 1 FROM muc_room m WHERE "
	  "m.name || '@' || m.host = x.username) GROUP BY 1 ORDER BY 1" },
	{ "pubsub_node (PEP)",
	  "SELECT host, count(*) FROM pubsub_node x WHERE plugin = 'pep' AND NOT EXISTS "
	  "(SELECT 1 FROM users u WHERE u.username || '@' || u.server_host = x.host) "
	  "AND ($1::text IS NULL OR split_part(x.host, '@', 2) = $1) GROUP BY 1 ORDER BY 1",
	  "SELECT host, count(*) FROM pubsub_node x WHERE plugin = 'pep' AND NOT EXISTS "
	  "(SELECT 1 FROM users u WHERE u.username || '@' || $1::text = x.host) "
	  "GROUP BY 1 ORDER BY 1" },
	{ "pubsub_node (service)",
	  "SELECT host || ' ' || node, 1 FROM pubsub_node WHERE plugin <> 'pep' AND "
	  "($1::text IS NULL OR right(host, length($1) + 1) = '.' || $1) ORDER BY 1",
	  "SELECT host || ' ' || node, 1 FROM pubsub_node WHERE plugin <> 'pep' AND "
	  "$1::text IS NOT NULL ORDER BY 1" },
#undef NOUSER
};

void
ejabberd_orphans(struct imp *im, struct src *s)
{
	const char *v[1] = { s->multi ? im->only_host : s->host };

	for (size_t i = 0; i < sizeof(orphans) / sizeof(orphans[0]); i++) {
		const struct orphan *o = &orphans[i];
		bool muc = strncmp(o->table, "archive (rooms)", 15) == 0;
		bool ps = strncmp(o->table, "pubsub", 6) == 0;
		PGresult *r;

		if ((muc && !s->has[T_MUC]) || (ps && !s->has[T_PUBSUB]) ||
		    (strcmp(o->table, "push_session") == 0 && !s->has[T_PUSH]) ||
		    (strcmp(o->table, "archive_prefs") == 0 && !s->has[T_PREFS]) ||
		    (strcmp(o->table, "privacy_list") == 0 && !s->has[T_PRIVACY]) ||
		    (strcmp(o->table, "last") == 0 && !s->has[T_LAST]))
			continue;
		im->failed = false;
		if ((r = src_exec(im, s, s->multi ? o->multi : o->single, 1, v)) == NULL) {
			fprintf(stderr, "xmppctl import: checking %s: %s\n", o->table, im->err);
			continue;
		}
		for (int j = 0; j < PQntuples(r); j++) {
			unsigned long n = strtoul(PQgetvalue(r, j, 1), NULL, 10);

			im->n[IK_OTHER].skipped += n;
			if (strcmp(o->table, "pubsub_node (service)") == 0)
				fprintf(stderr, "xmppctl import: skipped other rows: pubsub "
				    "service node %s: service (non-PEP) nodes are not imported\n",
				    PQgetvalue(r, j, 0));
			else
				fprintf(stderr, "xmppctl import: skipped other rows: %lu rows of "
				    "%s for %s: no such %s\n", n, o->table, PQgetvalue(r, j, 0),
				    muc ? "room" : "account");
		}
		PQclear(r);
	}
	im->failed = false;
}
