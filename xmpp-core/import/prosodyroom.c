/*
 * prosodyroom — Prosody's persistent rooms and their archives, and the
 * report of rows that belong to no account or room.  See prosody.h.
 *
 * A room is the `config` store of user <room> on the MUC component's
 * host: key _data its settings (JSON: name, description, subject,
 * subject_from, members_only, hidden, moderated, password, whois,
 * changesubject, allow_member_invites, language, presence_broadcast,
 * archiving, persistent), key _affiliation_data the affiliates'
 * reserved nicknames, and one key per affiliated JID whose value is the
 * affiliation.  Its archive is prosodyarchive's `muc_log` store (the
 * messages as the room relayed them, from room/nick).
 */
#include "import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fragment.h"
#include "jid.h"
#include "json.h"
#include "mucconf.h"
#include "prosody.h"
#include "server.h"
#include "xml.h"

#define ROOM_FETCH "1000"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"

static bool
flag(const struct json *d, const char *key, bool dflt)
{
	int b = json_bool(json_get(d, key));

	return b < 0 ? dflt : b == 1;
}

static const char *
text(const struct json *d, const char *key)
{
	const char *s = json_str(d, key);

	return s && s[0] ? s : NULL;
}

/* presence_broadcast {moderator: true, participant: true, visitor: true}:
 * muc_room.presence_broadcast's bits (8, 4, 2). */
static unsigned
broadcast(const struct json *d)
{
	const struct json *pb = json_get(d, "presence_broadcast");
	unsigned bits = 0;

	if (pb == NULL || pb->type != JSON_OBJ)
		return 14;
	for (size_t i = 0; i < pb->n; i++) {
		if (json_bool(pb->v[i]) != 1)
			continue;
		bits |= strcmp(pb->k[i], "moderator") == 0 ? 8 :
		    strcmp(pb->k[i], "participant") == 0 ? 4 :
		    strcmp(pb->k[i], "visitor") == 0 ? 2 : 0;
	}
	return bits;
}

static int
aff_code(const char *a)
{
	return strcmp(a, "owner") == 0 ? 4 : strcmp(a, "admin") == 0 ? 3 :
	    strcmp(a, "member") == 0 ? 2 : strcmp(a, "outcast") == 0 ? 0 : -1;
}

/* The sender's real bare JID where the room kept it (muc#user item jid). */
static void
real_jid(const struct xml_node *m, char *out, size_t outlen)
{
	struct xml_node *x = xml_child(m, "x", NS_MUC_USER);
	struct xml_node *it = x ? xml_child(x, "item", NS_MUC_USER) : NULL;
	const char *j = it ? xml_attr(it, "jid") : NULL;
	struct jid p;

	out[0] = '\0';
	if (j && jid_parse(j, &p) == 0)
		jid_bare(&p, out, outlen);
}

static void
room_archive(struct imp *im, struct psrc *s, const char *service, const char *name)
{
	const char *v[2] = { service, name };
	int64_t last = 0;
	PGresult *r;

	if (!s->has_archive)
		return;
	if ((r = psrc_exec(im, s, "DECLARE rarch NO SCROLL CURSOR FOR SELECT sort_id, "
	    "key, \"when\", type, value FROM prosodyarchive WHERE host = $1 AND "
	    "\"user\" = $2 AND store = 'muc_log' ORDER BY sort_id", 2, v)) == NULL)
		return;
	PQclear(r);
	while ((r = psrc_exec(im, s, "FETCH " ROOM_FETCH " FROM rarch", 0, NULL)) != NULL) {
		int n = PQntuples(r);

		for (int i = 0; i < n && !im->failed; i++) {
			const char *xml = PQgetvalue(r, i, 4);
			size_t len = (size_t)PQgetlength(r, i, 4);
			char bare[JID_STR_MAX + 1] = "";
			const char *from;
			struct xml_node *m;
			struct jid f;
			int64_t id;

			id = prosody_archive_id(strtoll(PQgetvalue(r, i, 2), NULL, 10),
			    strtoll(PQgetvalue(r, i, 0), NULL, 10), last);
			m = strcmp(PQgetvalue(r, i, 3), "xml") == 0 ?
			    fragment_parse(xml, len, NS_CLIENT) : NULL;
			if (m == NULL || (from = xml_attr(m, "from")) == NULL ||
			    jid_parse(from, &f) == -1 || f.resource[0] == '\0') {
				imp_skip(im, IK_ROOMMSG, im->room, "room message %s: not a "
				    "message from an occupant", PQgetvalue(r, i, 1));
				xml_free(m);
				continue;
			}
			real_jid(m, bare, sizeof(bare));
			last = id;
			tgt_room_msg(im, id, f.resource, bare, xml, len);
			xml_free(m);
		}
		PQclear(r);
		if (n == 0)
			break;
	}
	if ((r = psrc_exec(im, s, "CLOSE rarch", 0, NULL)) != NULL)
		PQclear(r);
}

static void
room(struct imp *im, struct psrc *s, const char *service, const char *name,
    const char *data_text)
{
	char jid[2 * JID_PART_MAX + 2], err[128];
	char creator[JID_STR_MAX + 1] = "", by[JID_PART_MAX + 1] = "";
	const char *v[3] = { service, name, NULL }, *sf, *who;
	struct imp_room r = { 0 };
	struct json *d;
	PGresult *a = NULL, *cnt;
	int rc;

	if (imp_room_jid(im, name, service, jid, sizeof(jid)) == -1)
		return;
	if ((d = json_parse(data_text, strlen(data_text), err, sizeof(err))) == NULL ||
	    d->type != JSON_OBJ) {
		imp_skip(im, IK_ROOM, jid, "its settings do not parse: %s",
		    d ? "not an object" : err);
		json_free(d);
		return;
	}
	if (!flag(d, "persistent", false)) {
		imp_skip(im, IK_ROOM, jid, "not a persistent room");
		json_free(d);
		return;
	}
	r.jid = jid;
	r.name = text(d, "name");
	r.desc = text(d, "description");
	r.password = text(d, "password");
	r.password_protected = r.password != NULL;
	r.public_ = !flag(d, "hidden", false);
	r.members_only = flag(d, "members_only", false);
	r.moderated = flag(d, "moderated", false);
	r.whois_anyone = json_str(d, "whois") && strcmp(json_str(d, "whois"), "anyone") == 0;
	r.change_subject = flag(d, "changesubject", false);
	r.allow_invites = flag(d, "allow_member_invites", false);
	r.allow_pm = 0;
	r.presence_broadcast = broadcast(d);
	r.lang = text(d, "language");
	r.subject = text(d, "subject");
	r.max_users = muc_cfg()->default_max_users;
	/* subject_from is room@service/nick: the nick is what we keep */
	if ((sf = text(d, "subject_from")) != NULL && strchr(sf, '/'))
		snprintf(by, sizeof(by), "%s", strchr(sf, '/') + 1);
	r.subject_by = by[0] ? by : NULL;
	/* archiving: set by the room's owner, or (absent) the host's
	 * muc_log_all_rooms, which shows in the room's archive having rows */
	if (json_bool(json_get(d, "archiving")) >= 0) {
		r.archive = flag(d, "archiving", false);
	} else if (s->has_archive && (cnt = psrc_exec(im, s, "SELECT EXISTS (SELECT 1 "
	    "FROM prosodyarchive WHERE host = $1 AND \"user\" = $2 AND store = 'muc_log')",
	    2, v)) != NULL) {
		r.archive = strcmp(PQgetvalue(cnt, 0, 0), "t") == 0;
		PQclear(cnt);
	}
	if ((a = psrc_exec(im, s, "SELECT key, value FROM prosody WHERE host = $1 AND "
	    "\"user\" = $2 AND store = 'config' AND key NOT LIKE '\\_%' AND type = "
	    "'string' ORDER BY key COLLATE \"C\"", 2, v)) == NULL) {
		imp_skip(im, IK_ROOM, jid, "not imported: %s", im->err);
		im->failed = false;
		json_free(d);
		return;
	}
	for (int i = 0; i < PQntuples(a); i++)
		if (strcmp(PQgetvalue(a, i, 1), "owner") == 0 &&
		    tgt_jid(PQgetvalue(a, i, 0), true, creator, sizeof(creator)) == 0)
			break;
		else
			creator[0] = '\0';
	if ((rc = tgt_room_begin(im, &r, creator)) <= 0) {
		if (rc < 0)
			imp_skip(im, IK_ROOM, jid, "not imported: %s", im->err);
		PQclear(a);
		json_free(d);
		return;
	}
	for (int i = 0; i < PQntuples(a); i++) {
		int code = aff_code(PQgetvalue(a, i, 1));

		who = PQgetvalue(a, i, 0);
		if (code < 0)
			imp_skip(im, IK_ROOMAFF, jid, "affiliation \"%s\" of %s: not owner, "
			    "admin, member or outcast", PQgetvalue(a, i, 1), who);
		else
			tgt_room_aff(im, who, code);
	}
	PQclear(a);
	json_free(d);
	room_archive(im, s, service, name);
	tgt_room_end(im);
}

void
prosody_rooms(struct imp *im, struct psrc *s)
{
	const char *v[1] = { im->only_host };
	PGresult *r;

	r = psrc_exec(im, s, "SELECT host, \"user\", value FROM prosody WHERE store = "
	    "'config' AND key = '_data' AND type = 'json' AND \"user\" <> '' AND "
	    "($1::text IS NULL OR right(host, length($1) + 1) = '.' || $1) "
	    "ORDER BY host COLLATE \"C\", \"user\" COLLATE \"C\"", 1, v);
	if (r == NULL) {
		fprintf(stderr, "xmppctl import: rooms: %s\n", im->err);
		im->failed = false;
		return;
	}
	im->units_total += (unsigned long)PQntuples(r);
	for (int i = 0; i < PQntuples(r); i++) {
		if (psrc_tx(im, s, true) == 0) {
			room(im, s, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
			psrc_tx(im, s, false);
		}
		im->failed = false;
		im->units++;
		imp_progress(im, false);
	}
	PQclear(r);
}

/* Rows of a user (or room) with no account (no room): reported, per store. */
void
prosody_orphans(struct imp *im, struct psrc *s)
{
	static const char *const sql[2] = {
		"SELECT p.host, p.\"user\", p.store, count(*) FROM prosody p WHERE "
		"p.\"user\" <> '' AND NOT EXISTS (SELECT 1 FROM prosody o WHERE "
		"o.host = p.host AND o.\"user\" = p.\"user\" AND (o.store = 'accounts' "
		"OR (o.store = 'config' AND o.key = '_data'))) "
		"GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
		"SELECT p.host, p.\"user\", p.store, count(*) FROM prosodyarchive p WHERE "
		"NOT EXISTS (SELECT 1 FROM prosody o WHERE o.host = p.host AND "
		"o.\"user\" = p.\"user\" AND (o.store = 'accounts' OR (o.store = "
		"'config' AND o.key = '_data'))) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
	};

	for (int q = 0; q < (s->has_archive ? 2 : 1); q++) {
		PGresult *r = psrc_exec(im, s, sql[q], 0, NULL);

		for (int i = 0; r && i < PQntuples(r); i++) {
			char who[3 * JID_PART_MAX + 3];
			unsigned long n = strtoul(PQgetvalue(r, i, 3), NULL, 10);

			snprintf(who, sizeof(who), "%s@%s", PQgetvalue(r, i, 1),
			    PQgetvalue(r, i, 0));
			fprintf(stderr, "xmppctl import: skipped other rows: %s: %lu rows of "
			    "store \"%s\": no such account or room\n", who, n,
			    PQgetvalue(r, i, 2));
			im->n[IK_OTHER].skipped += n;
		}
		PQclear(r);
		im->failed = false;
	}
}
