/*
 * export — `xmppctl export (--user JID | --all) --out FILE`: accounts as
 * XEP-0227 (urn:xmpp:pie:0, version 1.1), what xep0227.c, Prosody's
 * mod_storage_xep0227 (prosody-migrator) and ejabberd's import_piefxis
 * read: SCRAM credentials (§5.1: scram-credentials per hash, never a
 * password), the roster with its version and the pending requests (as
 * presence subscribe, Prosody's form), the vCard, private XML, offline
 * messages, PEP nodes (configure forms, affiliations) and items (§5.3),
 * the archive (§5.4: result id = our stanza-id, delay = its time) and the
 * blocklist (urn:xmpp:blocking, our own addition).  Rooms are not
 * accounts and XEP-0227 has no form for them.
 *
 * --ejabberd writes the SCRAM keys and salt as ejabberd 23.01's
 * import_piefxis reads them: it base64-decodes the text once and keeps
 * the result where it keeps base64 text (its #scram record), so a key
 * written as §5.1 says (base64 of the bytes) never verifies there; its
 * own export_piefxis encodes that text once more, and so does this.
 *
 * The file is written beside its name and renamed into place when
 * complete (mode 0600: it holds credentials); one read-only snapshot of
 * the database, archives read through a cursor.
 */
#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "crypto.h"
#include "fragment.h"
#include "jid.h"
#include "mam.h"
#include "private.h"
#include "pubsub.h"
#include "server.h"
#include "xml.h"

#define NS_PUBSUB_ "http://jabber.org/protocol/pubsub"
#define ARCHIVE_FETCH "1000"
#define FLUSH_AT (1 << 20)

struct out {
	FILE *f;
	struct buf b;
	bool failed;
	bool ejabberd;		/* --ejabberd: keys as import_piefxis reads them */
};

static void
flush(struct out *o, bool force)
{
	if (o->b.len == 0 || (!force && o->b.len < FLUSH_AT))
		return;
	if (fwrite(o->b.p, 1, o->b.len, o->f) != o->b.len)
		o->failed = true;
	buf_reset(&o->b);
}

static void
put(struct out *o, const char *s)
{
	if (buf_puts(&o->b, s) == -1)
		o->failed = true;
}

/* An attribute name='value' (escaped). */
static void
attr(struct out *o, const char *name, const char *v)
{
	if (buf_printf(&o->b, " %s='", name) == -1 ||
	    xml_escape(&o->b, v, strlen(v), true) == -1 || buf_puts(&o->b, "'") == -1)
		o->failed = true;
}

static void
text_el(struct out *o, const char *name, const char *v)
{
	if (buf_printf(&o->b, "<%s>", name) == -1 ||
	    xml_escape(&o->b, v, strlen(v), false) == -1 ||
	    buf_printf(&o->b, "</%s>", name) == -1)
		o->failed = true;
}

/* Stored text written where parent_ns is the default namespace: parsed
 * as stored (with stored_ns) and serialised for the new place, so its
 * own namespace is declared. */
static void
fragment(struct out *o, const char *text, const char *stored_ns, const char *parent_ns)
{
	struct xml_node *n = fragment_parse(text, strlen(text), stored_ns);

	if (n == NULL)
		return;		/* the server wrote it: cannot happen but for damage */
	if (xml_serialize(&o->b, n, parent_ns) == -1)
		o->failed = true;
	xml_free(n);
}

static PGresult *
q(struct imp *im, const char *sql, int n, const char *const *v)
{
	PGresult *r = PQexecParams(im->dst, sql, n, NULL, v, NULL, NULL, 0);

	if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)
		return r;
	if (!im->failed) {
		snprintf(im->err, sizeof(im->err), "%s", PQresultErrorMessage(r));
		im->err[strcspn(im->err, "\n")] = '\0';
		im->failed = true;
	}
	PQclear(r);
	return NULL;
}

/* A key or salt as stored (base64 text); for ejabberd that text again
 * in base64 (see the top). */
static void
key_el(struct out *o, const char *name, const char *v)
{
	char twice[256];	/* keys and salts are under 100 characters */
	size_t len = strlen(v);

	if (!o->ejabberd) {
		text_el(o, name, v);
		return;
	}
	if (base64_encoded_len(len) > sizeof(twice)) {
		o->failed = true;	/* the schema bounds them: damage */
		return;
	}
	base64_encode(v, len, twice);
	text_el(o, name, twice);
}

static void
scram(struct out *o, PGresult *u, int i, int col, const char *mech)
{
	if (PQgetisnull(u, i, col) || PQgetvalue(u, i, col + 2)[0] == '\0')
		return;
	put(o, "<scram-credentials xmlns='urn:xmpp:pie:0#scram'");
	attr(o, "mechanism", mech);
	put(o, ">");
	key_el(o, "server-key", PQgetvalue(u, i, col + 3));
	key_el(o, "stored-key", PQgetvalue(u, i, col + 2));
	text_el(o, "iter-count", PQgetvalue(u, i, col + 1));
	key_el(o, "salt", PQgetvalue(u, i, col));
	put(o, "</scram-credentials>");
}

static void
roster(struct imp *im, struct out *o, const char *const *v, const char *version)
{
	PGresult *r = q(im, "SELECT jid, name, array_to_string(groups, E'\\n'), sub_to, "
	    "sub_from, ask_out, ask_in, visible, cardinality(groups) FROM roster WHERE "
	    "host = $1 AND username = $2 ORDER BY jid COLLATE \"C\"", 2, v);
	unsigned long n = 0;

	if (r == NULL)
		return;
	put(o, "<query xmlns='jabber:iq:roster'");
	attr(o, "version", version);
	put(o, ">");
	for (int i = 0; i < PQntuples(r); i++) {
		bool to = PQgetvalue(r, i, 3)[0] == 't', from = PQgetvalue(r, i, 4)[0] == 't';
		char *g = PQgetvalue(r, i, 2), *nl;

		if (PQgetvalue(r, i, 7)[0] != 't')
			continue;	/* only a request: written as presence below */
		put(o, "<item");
		attr(o, "jid", PQgetvalue(r, i, 0));
		if (PQgetvalue(r, i, 1)[0])
			attr(o, "name", PQgetvalue(r, i, 1));
		attr(o, "subscription", to && from ? "both" : to ? "to" : from ? "from" : "none");
		if (PQgetvalue(r, i, 5)[0] == 't')
			attr(o, "ask", "subscribe");
		put(o, ">");
		while (strcmp(PQgetvalue(r, i, 8), "0") != 0 && g) {
			if ((nl = strchr(g, '\n')) != NULL)
				*nl = '\0';
			text_el(o, "group", g);
			g = nl ? nl + 1 : NULL;
		}
		put(o, "</item>");
		n++;
	}
	put(o, "</query>");
	for (int i = 0; i < PQntuples(r); i++) {
		if (PQgetvalue(r, i, 6)[0] != 't')
			continue;
		put(o, "<presence xmlns='jabber:client'");
		attr(o, "from", PQgetvalue(r, i, 0));
		put(o, " type='subscribe'/>");
	}
	imp_done(im, IK_ROSTER, n);
	PQclear(r);
}

static void
simple(struct imp *im, struct out *o, const char *const *v)
{
	PGresult *r;

	if ((r = q(im, "SELECT data FROM vcard WHERE host = $1 AND username = $2", 2, v))) {
		for (int i = 0; i < PQntuples(r); i++)
			fragment(o, PQgetvalue(r, i, 0), NS_CLIENT, "urn:xmpp:pie:0");
		imp_done(im, IK_VCARD, (unsigned long)PQntuples(r));
		PQclear(r);
	}
	if ((r = q(im, "SELECT data FROM private_storage WHERE host = $1 AND username = $2 "
	    "ORDER BY namespace", 2, v))) {
		if (PQntuples(r) > 0) {
			put(o, "<query xmlns='jabber:iq:private'>");
			for (int i = 0; i < PQntuples(r); i++)
				fragment(o, PQgetvalue(r, i, 0), NS_PRIVATE, NS_PRIVATE);
			put(o, "</query>");
		}
		imp_done(im, IK_PRIVATE, (unsigned long)PQntuples(r));
		PQclear(r);
	}
	if ((r = q(im, "SELECT stanza FROM offline WHERE host = $1 AND username = $2 "
	    "ORDER BY id", 2, v))) {
		if (PQntuples(r) > 0) {
			put(o, "<offline-messages>");
			for (int i = 0; i < PQntuples(r); i++)
				fragment(o, PQgetvalue(r, i, 0), NS_CLIENT, "urn:xmpp:pie:0");
			put(o, "</offline-messages>");
		}
		imp_done(im, IK_OFFLINE, (unsigned long)PQntuples(r));
		PQclear(r);
	}
	if ((r = q(im, "SELECT jid FROM blocklist WHERE host = $1 AND username = $2 "
	    "ORDER BY jid", 2, v))) {
		if (PQntuples(r) > 0) {
			put(o, "<blocklist xmlns='urn:xmpp:blocking'>");
			for (int i = 0; i < PQntuples(r); i++) {
				put(o, "<item");
				attr(o, "jid", PQgetvalue(r, i, 0));
				put(o, "/>");
			}
			put(o, "</blocklist>");
		}
		imp_done(im, IK_BLOCK, (unsigned long)PQntuples(r));
		PQclear(r);
	}
}

static void
pep(struct imp *im, struct out *o, const char *bare)
{
	const char *v[1] = { bare };
	PGresult *n = q(im, "SELECT id, node, config FROM pubsub_node WHERE service = $1 "
	    "ORDER BY node COLLATE \"C\"", 1, v);
	unsigned long items = 0;

	if (n == NULL || PQntuples(n) == 0) {
		PQclear(n);
		return;
	}
	put(o, "<pubsub xmlns='" NS_PUBSUB_OWNER "'>");
	for (int i = 0; i < PQntuples(n); i++) {
		const char *node = PQgetvalue(n, i, 1), *iv[1] = { PQgetvalue(n, i, 0) };
		struct ps_config c;
		struct xml_node *form;
		PGresult *a;

		ps_config_decode(PQgetvalue(n, i, 2), true, node, &c);
		put(o, "<configure");
		attr(o, "node", node);
		put(o, ">");
		if ((form = ps_config_form(&c, "submit")) == NULL ||
		    xml_serialize(&o->b, form, NS_PUBSUB_OWNER) == -1)
			o->failed = true;
		xml_free(form);
		put(o, "</configure>");
		if ((a = q(im, "SELECT jid, affiliation FROM pubsub_affiliation WHERE node_id = "
		    "$1::bigint ORDER BY jid", 1, iv)) != NULL && PQntuples(a) > 0) {
			put(o, "<affiliations");
			attr(o, "node", node);
			put(o, ">");
			for (int j = 0; j < PQntuples(a); j++) {
				put(o, "<affiliation");
				attr(o, "jid", PQgetvalue(a, j, 0));
				attr(o, "affiliation", PQgetvalue(a, j, 1));
				put(o, "/>");
			}
			put(o, "</affiliations>");
		}
		PQclear(a);
	}
	put(o, "</pubsub><pubsub xmlns='" NS_PUBSUB_ "'>");
	for (int i = 0; i < PQntuples(n); i++) {
		const char *iv[1] = { PQgetvalue(n, i, 0) };
		PGresult *it = q(im, "SELECT item_id, publisher, payload FROM pubsub_item WHERE "
		    "node_id = $1::bigint ORDER BY seq", 1, iv);

		put(o, "<items");
		attr(o, "node", PQgetvalue(n, i, 1));
		put(o, ">");
		for (int j = 0; it && j < PQntuples(it); j++) {
			put(o, "<item");
			attr(o, "id", PQgetvalue(it, j, 0));
			attr(o, "publisher", PQgetvalue(it, j, 1));
			put(o, ">");
			if (PQgetvalue(it, j, 2)[0])
				fragment(o, PQgetvalue(it, j, 2), NS_PUBSUB_, NS_PUBSUB_);
			put(o, "</item>");
			items++;
		}
		put(o, "</items>");
		PQclear(it);
	}
	put(o, "</pubsub>");
	imp_done(im, IK_PEPNODE, (unsigned long)PQntuples(n));
	imp_done(im, IK_PEPITEM, items);
	PQclear(n);
}

static void
archive(struct imp *im, struct out *o, const char *const *v)
{
	PGresult *r;
	bool open_ = false;

	if ((r = q(im, "DECLARE xarch NO SCROLL CURSOR FOR SELECT id, stanza FROM "
	    "mam_archive WHERE " MAM_SQL_OWNER " ORDER BY id", 2, v)) == NULL)
		return;
	PQclear(r);
	while ((r = q(im, "FETCH " ARCHIVE_FETCH " FROM xarch", 0, NULL)) != NULL) {
		int n = PQntuples(r);

		for (int i = 0; i < n; i++) {
			long long id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
			time_t t = (time_t)(id / 1000000);
			char stamp[48];
			struct tm tm;

			if (!open_) {
				put(o, "<archive xmlns='urn:xmpp:pie:0#mam'>");
				open_ = true;
			}
			gmtime_r(&t, &tm);
			strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
			snprintf(stamp + strlen(stamp), sizeof(stamp) - strlen(stamp), ".%06lldZ",
			    id % 1000000);
			put(o, "<result xmlns='urn:xmpp:mam:2'");
			attr(o, "id", PQgetvalue(r, i, 0));
			put(o, "><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay'");
			attr(o, "stamp", stamp);
			put(o, "/>");
			/* stored with its xmlns='jabber:client' */
			put(o, PQgetvalue(r, i, 1));
			put(o, "</forwarded></result>");
		}
		imp_done(im, IK_ARCHIVE, (unsigned long)n);
		PQclear(r);
		flush(o, false);
		if (n == 0)
			break;
	}
	if (open_)
		put(o, "</archive>");
	if ((r = q(im, "CLOSE xarch", 0, NULL)) != NULL)
		PQclear(r);
}

static int
users(struct imp *im, struct out *o, const char *host, const char *user)
{
	const char *v[2] = { host, user };
	PGresult *u = q(im, "SELECT host, username, sha1_salt, sha1_iter, sha1_stored, "
	    "sha1_server, sha256_salt, sha256_iter, sha256_stored, sha256_server, "
	    "roster_version FROM users WHERE $1::text IS NULL OR (host = $1 AND "
	    "username = $2) ORDER BY host COLLATE \"C\", username COLLATE \"C\"", 2, v);
	const char *last_host = NULL;

	if (u == NULL)
		return -1;
	if (PQntuples(u) == 0 && user) {
		snprintf(im->err, sizeof(im->err), "no account %.200s@%.200s", user, host);
		PQclear(u);
		return -1;
	}
	im->units_total = (unsigned long)PQntuples(u);
	put(o, "<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='urn:xmpp:pie:0'>");
	for (int i = 0; i < PQntuples(u) && !im->failed && !o->failed; i++) {
		const char *h = PQgetvalue(u, i, 0), *name = PQgetvalue(u, i, 1);
		const char *uv[2] = { h, name };
		char bare[2 * JID_PART_MAX + 2];

		if (last_host == NULL || strcmp(last_host, h) != 0) {
			if (last_host)
				put(o, "</host>");
			put(o, "\n<host");
			attr(o, "jid", h);
			put(o, ">");
			last_host = h;
		}
		snprintf(bare, sizeof(bare), "%s@%s", name, h);
		put(o, "\n<user");
		attr(o, "name", name);
		put(o, ">");
		scram(o, u, i, 2, "SCRAM-SHA-1");
		scram(o, u, i, 6, "SCRAM-SHA-256");
		roster(im, o, uv, PQgetvalue(u, i, 10));
		simple(im, o, uv);
		pep(im, o, bare);
		archive(im, o, uv);
		put(o, "</user>");
		imp_done(im, IK_ACCOUNT, 1);
		flush(o, false);
		im->units++;
		imp_progress(im, false);
	}
	if (last_host)
		put(o, "</host>");
	put(o, "\n</server-data>\n");
	PQclear(u);
	return im->failed || o->failed ? -1 : 0;
}

/* argv after "export": (--user JID | --all) [--ejabberd] --out FILE */
int
xep0227_export(struct imp *im, int argc, char **argv)
{
	const char *out = NULL, *who = NULL;
	char tmp[4096], host[JID_PART_MAX + 1], user[JID_PART_MAX + 1];
	struct out o = { 0 };
	bool all = false;
	PGresult *r;
	struct jid j;
	int fd, rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--all") == 0)
			all = true;
		else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			who = argv[++i];
		else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--ejabberd") == 0)
			o.ejabberd = true;
		else
			return 2;
	}
	if (out == NULL || all == (who != NULL))
		return 2;
	if (who) {
		if (jid_parse(who, &j) == -1 || j.local[0] == '\0' || j.resource[0]) {
			fprintf(stderr, "xmppctl export: %s is not an account's bare JID\n", who);
			return 1;
		}
		snprintf(host, sizeof(host), "%s", j.domain);
		snprintf(user, sizeof(user), "%s", j.local);
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", out) >= sizeof(tmp)) {
		fprintf(stderr, "xmppctl export: %s: name too long\n", out);
		return 1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    (o.f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "xmppctl export: %s: %s\n", tmp, strerror(errno));
		if (fd != -1)
			close(fd);
		return 1;
	}
	buf_init(&o.b);
	if ((r = q(im, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL)) != NULL)
		PQclear(r);
	rc = im->failed ? -1 : users(im, &o, who ? host : NULL, who ? user : NULL);
	PQclear(PQexec(im->dst, "COMMIT"));
	flush(&o, true);
	if (fflush(o.f) != 0 || fsync(fileno(o.f)) == -1)
		o.failed = true;
	if (fclose(o.f) != 0)
		o.failed = true;
	buf_free(&o.b);
	if (rc == -1 || o.failed || rename(tmp, out) == -1) {
		fprintf(stderr, "xmppctl export: %s: %s\n", out, im->failed || rc == -1 ?
		    im->err : strerror(errno));
		unlink(tmp);
		return 1;
	}
	return 0;
}
