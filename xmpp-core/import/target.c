/*
 * target — writes imported data into xmpp-core's tables.  See import.h.
 *
 * Every row is checked as the server would check it had a client sent
 * it (JIDs through PRECIS, stanzas and payloads through the same
 * restricted parser as a stream, the configured size limits) and stored
 * in the form the server itself writes (serialised as the owning module
 * serialises it), so what the server later reads is indistinguishable
 * from what it wrote.  A row that fails a check is reported and left
 * out; a database error rolls the whole account (or room) back, so the
 * target only ever holds complete accounts.
 *
 * Archives and rosters go in batches (arrays through unnest: one
 * statement per few hundred rows); the archive's counters (mam_stats,
 * mam_with_stats, muc_archive_stats) are computed once per account from
 * the rows stored.
 */
#include "import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "buf.h"
#include "config.h"
#include "crypto.h"
#include "fragment.h"
#include "jid.h"
#include "mam.h"
#include "private.h"
#include "pubsub.h"
#include "pubsubconf.h"
#include "push.h"
#include "server.h"
#include "vcard.h"
#include "xml.h"

#define BATCH_ROWS 500
#define STANZA_MAX (256 * 1024)		/* c2s max_stanza_size */
#define NS_OCC_ID "urn:xmpp:occupant-id:0"
#define NS_MUC_USER_X "http://jabber.org/protocol/muc#user"

/* Rows waiting for one INSERT ... SELECT FROM unnest(...). */
struct imp_batch {
	size_t ncols, n, cap;
	char **cells;			/* n * ncols, NULL = SQL NULL */
};

static struct imp_batch roster_b = { 9, 0, 0, NULL };
static struct imp_batch archive_b = { 5, 0, 0, NULL };
static int64_t archive_last;		/* the account's previous archive id */
static unsigned long pend[IK_NKINDS];	/* stored, counted at commit */

/* ---- statements ---- */

static PGresult *
exec(struct imp *im, const char *sql, int n, const char *const *v)
{
	PGresult *r;

	if (im->failed)
		return NULL;
	r = PQexecParams(im->dst, sql, n, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		snprintf(im->err, sizeof(im->err), "%s", PQresultErrorMessage(r));
		im->err[strcspn(im->err, "\n")] = '\0';
		im->failed = true;
		PQclear(r);
		return NULL;
	}
	return r;
}

/* A statement whose rows say whether it stored: rows, or -1. */
static int
exec_rows(struct imp *im, const char *sql, int n, const char *const *v)
{
	PGresult *r = exec(im, sql, n, v);
	int rows;

	if (r == NULL)
		return -1;
	rows = PQntuples(r);
	PQclear(r);
	return rows;
}

static int
simple(struct imp *im, const char *sql)
{
	PGresult *r = PQexec(im->dst, sql);
	int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;

	if (rc == -1) {
		snprintf(im->err, sizeof(im->err), "%s", PQerrorMessage(im->dst));
		im->err[strcspn(im->err, "\n")] = '\0';
	}
	PQclear(r);
	return rc;
}

/* ---- batches ---- */

static int
batch_add(struct imp_batch *b, const char *const *v)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		char **c = realloc(b->cells, cap * b->ncols * sizeof(*c));

		if (c == NULL)
			return -1;
		b->cells = c;
		b->cap = cap;
	}
	for (size_t i = 0; i < b->ncols; i++) {
		char **cell = &b->cells[b->n * b->ncols + i];

		*cell = NULL;
		if (v[i] && (*cell = strdup(v[i])) == NULL) {
			while (i-- > 0)
				free(b->cells[b->n * b->ncols + i]);
			return -1;
		}
	}
	b->n++;
	return 0;
}

static void
batch_clear(struct imp_batch *b)
{
	for (size_t i = 0; i < b->n * b->ncols; i++)
		free(b->cells[i]);
	b->n = 0;
}

/* Column col of the batch as a PostgreSQL array literal (a parameter
 * value, never query text): elements quoted, \ and " escaped. */
static int
batch_literal(const struct imp_batch *b, size_t col, struct buf *out)
{
	buf_reset(out);
	if (buf_puts(out, "{") == -1)
		return -1;
	for (size_t r = 0; r < b->n; r++) {
		const char *s = b->cells[r * b->ncols + col];

		if (r && buf_puts(out, ",") == -1)
			return -1;
		if (s == NULL) {
			if (buf_puts(out, "NULL") == -1)
				return -1;
			continue;
		}
		if (buf_puts(out, "\"") == -1)
			return -1;
		for (; *s; s++) {
			if ((*s == '"' || *s == '\\') && buf_puts(out, "\\") == -1)
				return -1;
			if (buf_append(out, s, 1) == -1)
				return -1;
		}
		if (buf_puts(out, "\"") == -1)
			return -1;
	}
	return buf_append(out, "}", 2);	/* with the NUL */
}

/* The batch as parameters after the fixed ones: the result of sql, or NULL. */
static PGresult *
batch_exec(struct imp *im, struct imp_batch *b, const char *sql,
    const char *const *fixed, int nfixed)
{
	struct buf lit[16];
	const char *v[20];
	PGresult *r = NULL;
	size_t i;

	for (i = 0; i < b->ncols; i++)
		buf_init(&lit[i]);
	for (i = 0; i < (size_t)nfixed; i++)
		v[i] = fixed[i];
	for (i = 0; i < b->ncols; i++) {
		if (batch_literal(b, i, &lit[i]) == -1) {
			snprintf(im->err, sizeof(im->err), "out of memory");
			im->failed = true;
			goto out;
		}
		v[nfixed + i] = lit[i].p;
	}
	r = exec(im, sql, nfixed + (int)b->ncols, v);
out:
	for (i = 0; i < b->ncols; i++)
		buf_free(&lit[i]);
	return r;
}

/* ---- accounts ---- */

static void
count_pending(struct imp *im, bool stored)
{
	for (int k = 0; k < IK_NKINDS; k++) {
		if (stored)
			imp_done(im, (enum imp_kind)k, pend[k]);
		else
			im->n[k].skipped += pend[k];
		pend[k] = 0;
	}
}

/* Ten values: salt, iter, stored, server for SHA-1 then SHA-256 (NULL
 * where the account has no key for that hash). */
struct keytext {
	char salt[2][base64_encoded_len(SCRAM_SALT_MAX)];
	char iter[2][16];
	char stored[2][base64_encoded_len(SCRAM_HASH_MAX)];
	char server[2][base64_encoded_len(SCRAM_HASH_MAX)];
};

static int
cred_keys(struct imp *im, const struct imp_cred *c, struct scram_keys k[2], bool have[2])
{
	for (int h = 0; h < 2; h++) {
		have[h] = c->have[h];
		k[h] = c->k[h];
		if (c->plain && !have[h]) {
			if (scram_make_keys((enum scram_hash)h, c->plain,
			    im->cfg->scram_iterations, &k[h]) == -1)
				return -1;
			have[h] = true;
		}
	}
	return 0;
}

int
tgt_account_begin(struct imp *im, const char *host, const char *user,
    const struct imp_cred *c)
{
	static const char *sql =
	    "INSERT INTO users (host, username, sha1_salt, sha1_iter, sha1_stored, "
	    "sha1_server, sha256_salt, sha256_iter, sha256_stored, sha256_server) "
	    "VALUES ($1, $2, $3, $4::integer, $5, $6, $7, $8::integer, $9, $10) "
	    "ON CONFLICT DO NOTHING RETURNING 1";
	struct scram_keys k[2];
	struct keytext t;
	bool have[2];
	const char *v[10] = { host, user };
	int rows;

	snprintf(im->host, sizeof(im->host), "%s", host);
	snprintf(im->user, sizeof(im->user), "%s", user);
	snprintf(im->bare, sizeof(im->bare), "%s@%s", user, host);
	im->failed = false;
	im->err[0] = '\0';
	memset(pend, 0, sizeof(pend));
	archive_last = 0;
	if (cred_keys(im, c, k, have) == -1) {
		snprintf(im->err, sizeof(im->err), "key derivation failed");
		return -1;
	}
	for (int h = 0; h < 2; h++) {
		size_t hl = scram_hash_len((enum scram_hash)h);

		if (!have[h]) {
			v[2 + 4 * h] = v[3 + 4 * h] = v[4 + 4 * h] = v[5 + 4 * h] = NULL;
			continue;
		}
		base64_encode(k[h].salt, k[h].saltlen, t.salt[h]);
		snprintf(t.iter[h], sizeof(t.iter[h]), "%u", k[h].iter);
		base64_encode(k[h].stored, hl, t.stored[h]);
		base64_encode(k[h].server, hl, t.server[h]);
		v[2 + 4 * h] = t.salt[h];
		v[3 + 4 * h] = t.iter[h];
		v[4 + 4 * h] = t.stored[h];
		v[5 + 4 * h] = t.server[h];
	}
	OPENSSL_cleanse(k, sizeof(k));
	if (simple(im, "BEGIN") == -1)
		return -1;
	rows = exec_rows(im, sql, 10, v);
	OPENSSL_cleanse(&t, sizeof(t));
	if (rows <= 0) {
		simple(im, "ROLLBACK");
		if (rows == 0) {
			imp_skip(im, IK_ACCOUNT, im->bare, "already in xmpp-core "
			    "(imported before or created since): left as it is");
			return 0;
		}
		return -1;
	}
	pend[IK_ACCOUNT] = 1;
	return 1;
}

static void
roster_flush(struct imp *im)
{
	static const char *sql =
	    "INSERT INTO roster (host, username, jid, name, groups, sub_to, sub_from, "
	    "ask_out, ask_in, approved, visible, version) SELECT $1, $2, u.j, u.n, "
	    "CASE WHEN u.g = '' THEN '{}'::text[] ELSE string_to_array(u.g, E'\\n') END, "
	    "u.t, u.f, u.ao, u.ai, u.ap, u.vi, 1 FROM unnest($3::text[], $4::text[], "
	    "$5::text[], $6::boolean[], $7::boolean[], $8::boolean[], $9::boolean[], "
	    "$10::boolean[], $11::boolean[]) AS u(j, n, g, t, f, ao, ai, ap, vi) "
	    "ON CONFLICT DO NOTHING RETURNING 1";
	const char *fixed[2] = { im->host, im->user };
	PGresult *r;

	if (roster_b.n == 0)
		return;
	if ((r = batch_exec(im, &roster_b, sql, fixed, 2)) != NULL) {
		pend[IK_ROSTER] += (unsigned long)PQntuples(r);
		if ((size_t)PQntuples(r) < roster_b.n)
			imp_skip(im, IK_ROSTER, im->bare, "%zu duplicate roster items",
			    roster_b.n - (size_t)PQntuples(r));
		PQclear(r);
	}
	batch_clear(&roster_b);
}

void
tgt_roster(struct imp *im, const struct imp_roster_item *it)
{
	char jid[JID_STR_MAX + 1];
	struct buf g;
	const char *v[9];

	if (tgt_jid(it->jid, true, jid, sizeof(jid)) == -1) {
		imp_skip(im, IK_ROSTER, im->bare, "roster item \"%s\": not a valid bare JID",
		    it->jid);
		return;
	}
	buf_init(&g);
	for (size_t i = 0; i < it->ngroups; i++) {
		if (strchr(it->groups[i], '\n') || it->groups[i][0] == '\0' ||
		    strlen(it->groups[i]) > JID_PART_MAX) {
			imp_skip(im, IK_ROSTER, im->bare, "group \"%.40s\" of %s: empty, too "
			    "long or multi-line (the item keeps its other groups)",
			    it->groups[i], jid);
			continue;
		}
		if ((g.len && buf_puts(&g, "\n") == -1) || buf_puts(&g, it->groups[i]) == -1)
			im->failed = true;
	}
	if (buf_append(&g, "", 1) == -1)
		im->failed = true;
	v[0] = jid;
	v[1] = it->name ? it->name : "";
	v[2] = g.p ? g.p : "";
	v[3] = it->to ? "t" : "f";
	v[4] = it->from ? "t" : "f";
	v[5] = it->ask_out ? "t" : "f";
	v[6] = it->ask_in ? "t" : "f";
	v[7] = it->approved ? "t" : "f";
	v[8] = it->visible ? "t" : "f";
	if (!im->failed && batch_add(&roster_b, v) == -1)
		im->failed = true;
	buf_free(&g);
	if (roster_b.n >= BATCH_ROWS)
		roster_flush(im);
}

void
tgt_roster_version(struct imp *im, long long version)
{
	char ver[24];
	const char *v[3] = { im->host, im->user, ver };

	snprintf(ver, sizeof(ver), "%lld", version);
	exec_rows(im, "UPDATE users SET roster_version = $3::bigint WHERE host = $1 "
	    "AND username = $2 RETURNING 1", 3, v);
}

/* text as an element (parent_ns its default namespace), re-serialised as
 * the server writes it; NULL when it does not parse. */
static struct xml_node *
parse(const char *xml, size_t len, const char *parent_ns)
{
	if (len == 0 || len > STANZA_MAX)
		return NULL;
	return fragment_parse(xml, len, parent_ns);
}

static int
serialize(struct imp *im, const struct xml_node *n, const char *parent_ns, struct buf *b)
{
	buf_init(b);
	if (xml_serialize(b, n, parent_ns) == -1 || buf_append(b, "", 1) == -1) {
		buf_free(b);
		snprintf(im->err, sizeof(im->err), "out of memory");
		im->failed = true;
		return -1;
	}
	b->len--;
	return 0;
}

/* XEP-0153: the SHA-1 of the PHOTO's data, hex, or "" (as vcard.c). */
static void
photo_hash(const struct xml_node *vc, char out[41])
{
	struct xml_node *photo = xml_child(vc, "PHOTO", NS_VCARD), *bin;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char *text, *clean;
	uint8_t *raw;
	size_t n = 0;
	ssize_t len;

	out[0] = '\0';
	if (photo == NULL || (bin = xml_child(photo, "BINVAL", NS_VCARD)) == NULL ||
	    (text = xml_text(bin)) == NULL)
		return;
	clean = text;
	for (const char *p = text; *p; p++)
		if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
			clean[n++] = *p;
	clean[n] = '\0';
	if (n > 0 && (raw = malloc(n)) != NULL) {
		len = base64_decode(clean, n, raw, n);
		if (len > 0 && EVP_Digest(raw, (size_t)len, md, &mdlen, EVP_sha1(), NULL) == 1)
			hex_encode(md, 20, out);
		free(raw);
	}
	free(text);
}

void
tgt_vcard(struct imp *im, const char *xml, size_t len)
{
	struct xml_node *vc = parse(xml, len, NS_CLIENT);
	char hash[41];
	struct buf b;
	const char *v[4];

	if (vc == NULL || !xml_is(vc, "vCard", NS_VCARD)) {
		imp_skip(im, IK_VCARD, im->bare, "vCard: not a vcard-temp element%s",
		    len > STANZA_MAX ? " (larger than a stanza)" : "");
		xml_free(vc);
		return;
	}
	if (serialize(im, vc, NS_CLIENT, &b) == -1) {
		xml_free(vc);
		return;
	}
	if (b.len > vcard_max_size()) {
		imp_skip(im, IK_VCARD, im->bare, "vCard of %zu bytes: over [vcard] "
		    "max_size (%zu)", b.len, vcard_max_size());
	} else {
		photo_hash(vc, hash);
		v[0] = im->host;
		v[1] = im->user;
		v[2] = b.p;
		v[3] = hash;
		if (exec_rows(im, "INSERT INTO vcard (host, username, data, avatar_hash) "
		    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1", 4, v) > 0)
			pend[IK_VCARD]++;
	}
	buf_free(&b);
	xml_free(vc);
}

void
tgt_private(struct imp *im, const char *ns, const char *xml, size_t len)
{
	struct xml_node *x = parse(xml, len, NS_PRIVATE);
	struct buf b;
	const char *v[4];

	if (x == NULL || strcmp(x->ns, ns) != 0 || strcmp(ns, NS_PRIVATE) == 0 ||
	    ns[0] == '\0') {
		imp_skip(im, IK_PRIVATE, im->bare, "private XML \"%.80s\": does not parse "
		    "as an element of that namespace", ns);
		xml_free(x);
		return;
	}
	if (serialize(im, x, NS_PRIVATE, &b) == 0) {
		v[0] = im->host;
		v[1] = im->user;
		v[2] = ns;
		v[3] = b.p;
		if (exec_rows(im, "INSERT INTO private_storage (host, username, namespace, "
		    "data) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
		    4, v) > 0)
			pend[IK_PRIVATE]++;
		buf_free(&b);
	}
	xml_free(x);
}

void
tgt_offline(struct imp *im, const char *xml, size_t len, time_t at)
{
	struct xml_node *m = parse(xml, len, NS_CLIENT), *d;
	char stamp[32], ts[24];
	struct tm tm;
	struct buf b;
	const char *v[4];

	if (m == NULL || !xml_is(m, "message", NS_CLIENT)) {
		imp_skip(im, IK_OFFLINE, im->bare, "offline message: not a message stanza");
		xml_free(m);
		return;
	}
	/* XEP-0203: the time it was stored, as the server adds it (offline.c) */
	if (xml_child(m, "delay", NS_DELAY) == NULL) {
		gmtime_r(&at, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if ((d = xml_add_with_text(m, "delay", NS_DELAY, "Offline Storage")) == NULL ||
		    xml_set_attr(d, "from", im->host) == -1 ||
		    xml_set_attr(d, "stamp", stamp) == -1) {
			im->failed = true;
			snprintf(im->err, sizeof(im->err), "out of memory");
		}
	}
	if (!im->failed && serialize(im, m, NS_CLIENT, &b) == 0) {
		snprintf(ts, sizeof(ts), "%lld", (long long)at);
		v[0] = im->host;
		v[1] = im->user;
		v[2] = b.p;
		v[3] = ts;
		if (exec_rows(im, "INSERT INTO offline (host, username, stanza, created_at) "
		    "VALUES ($1, $2, $3, to_timestamp($4::bigint)) RETURNING 1", 4, v) > 0)
			pend[IK_OFFLINE]++;
		buf_free(&b);
	}
	xml_free(m);
}

/* ---- archive ---- */

static void
archive_flush(struct imp *im)
{
	static const char *sql =
	    "INSERT INTO mam_archive (id, host, username, with_bare, with_res, "
	    "outgoing, stanza, owner) SELECT u.id, $1, $2, u.wb, u.wr, u.o, u.s, "
	    "(SELECT uid FROM users WHERE host = $1 AND username = $2) FROM "
	    "unnest($3::bigint[], $4::text[], $5::text[], $6::boolean[], $7::text[]) "
	    "AS u(id, wb, wr, o, s) ON CONFLICT DO NOTHING RETURNING id";
	const char *fixed[2] = { im->host, im->user };
	PGresult *r;

	if (archive_b.n == 0)
		return;
	if ((r = batch_exec(im, &archive_b, sql, fixed, 2)) != NULL) {
		size_t got = (size_t)PQntuples(r), j = 0;

		pend[IK_ARCHIVE] += got;
		/* RETURNING keeps the input order: the gaps are ids this
		 * archive holds already (ids are unique per archive, 023) */
		for (size_t i = 0; i < archive_b.n && got < archive_b.n; i++) {
			const char **row = (const char **)&archive_b.cells[i * archive_b.ncols];

			if (j < got && strcmp(PQgetvalue(r, (int)j, 0), row[0]) == 0)
				j++;
			else
				imp_skip(im, IK_ARCHIVE, im->bare, "archive id %s twice: "
				    "the second copy left out", row[0]);
		}
		PQclear(r);
	}
	batch_clear(&archive_b);
}

void
tgt_archive(struct imp *im, int64_t id, const char *peer, const char *xml, size_t len)
{
	struct xml_node *m;
	struct jid w, from;
	char wb[2 * JID_PART_MAX + 2], ids[24];
	const char *fa, *v[5];
	struct buf b;

	if (id <= 0) {
		imp_skip(im, IK_ARCHIVE, im->bare, "archive row with id %lld: not a time",
		    (long long)id);
		return;
	}
	if (id == archive_last) {
		imp_skip(im, IK_ARCHIVE, im->bare, "archive id %lld twice: the second "
		    "copy left out", (long long)id);
		return;
	}
	if (jid_parse(peer, &w) == -1) {
		imp_skip(im, IK_ARCHIVE, im->bare, "archive id %lld: peer \"%s\" is not "
		    "a valid JID", (long long)id, peer);
		return;
	}
	if ((m = parse(xml, len, NS_CLIENT)) == NULL || !xml_is(m, "message", NS_CLIENT)) {
		imp_skip(im, IK_ARCHIVE, im->bare, "archive id %lld: not a message stanza",
		    (long long)id);
		xml_free(m);
		return;
	}
	archive_last = id;
	/* outgoing: the account sent it (its bare JID is the sender) */
	fa = xml_attr(m, "from");
	from.local[0] = '\0';
	if (fa && jid_parse(fa, &from) == 0 && strcmp(from.local, im->user) == 0 &&
	    strcmp(from.domain, im->host) == 0)
		v[3] = "t";
	else if (fa == NULL)
		v[3] = "t";	/* a client's own message carries no from */
	else
		v[3] = "f";
	if (serialize(im, m, NULL, &b) == 0) {
		snprintf(ids, sizeof(ids), "%lld", (long long)id);
		jid_bare(&w, wb, sizeof(wb));
		v[0] = ids;
		v[1] = wb;
		v[2] = w.resource;
		v[4] = b.p;
		if (batch_add(&archive_b, v) == -1)
			im->failed = true;
		buf_free(&b);
	}
	xml_free(m);
	if (archive_b.n >= BATCH_ROWS)
		archive_flush(im);
}

/* The archive's counters (mam.c keeps them with every insert). */
static void
archive_stats(struct imp *im)
{
	const char *v[2] = { im->host, im->user };

	if (pend[IK_ARCHIVE] == 0)
		return;
	/* every row counted: counted_to is the last one (mam.h) */
	exec_rows(im, "INSERT INTO mam_stats (host, username, messages, counted_to) "
	    "SELECT $1, $2, count(*), coalesce(max(id), 0) FROM mam_archive WHERE "
	    MAM_SQL_OWNER " ON CONFLICT (host, username) DO UPDATE SET "
	    "messages = EXCLUDED.messages, counted_to = EXCLUDED.counted_to "
	    "RETURNING 1", 2, v);
	exec_rows(im, "INSERT INTO mam_with_stats (host, username, with_bare, messages) "
	    "SELECT $1, $2, with_bare, count(*) FROM mam_archive WHERE " MAM_SQL_OWNER " "
	    "GROUP BY with_bare ON CONFLICT (host, username, with_bare) "
	    "DO UPDATE SET messages = EXCLUDED.messages RETURNING 1", 2, v);
}

/* A text[] literal of JIDs (normalised; invalid ones reported). */
static int
jid_array(struct imp *im, const char *const *j, size_t n, struct buf *out)
{
	char norm[JID_STR_MAX + 1];
	size_t kept = 0;

	buf_reset(out);
	if (buf_puts(out, "{") == -1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (tgt_jid(j[i], false, norm, sizeof(norm)) == -1) {
			imp_skip(im, IK_MAMPREFS, im->bare, "archive preference for \"%s\": "
			    "not a valid JID", j[i]);
			continue;
		}
		if ((kept++ && buf_puts(out, ",") == -1) || buf_puts(out, "\"") == -1)
			return -1;
		for (const char *p = norm; *p; p++)
			if (((*p == '"' || *p == '\\') && buf_puts(out, "\\") == -1) ||
			    buf_append(out, p, 1) == -1)
				return -1;
		if (buf_puts(out, "\"") == -1)
			return -1;
	}
	return buf_append(out, "}", 2);
}

void
tgt_mamprefs(struct imp *im, const char *mode, const char *const *always,
    size_t nalways, const char *const *never, size_t nnever)
{
	struct buf a, n;
	const char *v[5];

	if (strcmp(mode, "always") != 0 && strcmp(mode, "never") != 0 &&
	    strcmp(mode, "roster") != 0) {
		imp_skip(im, IK_MAMPREFS, im->bare, "archive default \"%s\": not always, "
		    "never or roster", mode);
		return;
	}
	buf_init(&a);
	buf_init(&n);
	if (jid_array(im, always, nalways, &a) == -1 || jid_array(im, never, nnever, &n) == -1) {
		im->failed = true;
	} else {
		v[0] = im->host;
		v[1] = im->user;
		v[2] = mode;
		v[3] = a.p;
		v[4] = n.p;
		if (exec_rows(im, "INSERT INTO mam_prefs (host, username, mode, always, never) "
		    "VALUES ($1, $2, $3, $4::text[], $5::text[]) ON CONFLICT DO NOTHING "
		    "RETURNING 1", 5, v) > 0)
			pend[IK_MAMPREFS]++;
	}
	buf_free(&a);
	buf_free(&n);
}

void
tgt_block(struct imp *im, const char *jid)
{
	char norm[JID_STR_MAX + 1];
	const char *v[3] = { im->host, im->user, norm };

	if (tgt_jid(jid, false, norm, sizeof(norm)) == -1) {
		imp_skip(im, IK_BLOCK, im->bare, "blocked \"%s\": not a valid JID", jid);
		return;
	}
	if (exec_rows(im, "INSERT INTO blocklist (host, username, jid) VALUES ($1, $2, $3) "
	    "ON CONFLICT DO NOTHING RETURNING 1", 3, v) > 0)
		pend[IK_BLOCK]++;
}

/* ---- PEP ---- */

long long
tgt_pep_node(struct imp *im, const char *node, const struct ps_config *c)
{
	char max[16];
	struct buf b;
	const char *v[6];
	PGresult *r;
	long long id = 0;

	if (!ps_name_valid(node, PS_NODE_MAX)) {
		imp_skip(im, IK_PEPNODE, im->bare, "PEP node \"%.80s\": not a valid node "
		    "name (its items are left out too)", node);
		return 0;
	}
	buf_init(&b);
	if (ps_config_encode(c, &b) == -1 || buf_append(&b, "", 1) == -1) {
		buf_free(&b);
		im->failed = true;
		return 0;
	}
	snprintf(max, sizeof(max), "%u", c->max_items);
	v[0] = im->bare;
	v[1] = node;
	v[2] = im->host;
	v[3] = im->user;
	v[4] = b.p;
	v[5] = max;
	r = exec(im, "INSERT INTO pubsub_node (service, node, host, username, config, "
	    "max_items) VALUES ($1, $2, $3, $4, $5, $6::integer) ON CONFLICT DO NOTHING "
	    "RETURNING id", 6, v);
	if (r && PQntuples(r) == 1) {
		id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		pend[IK_PEPNODE]++;
	} else if (r) {
		imp_skip(im, IK_PEPNODE, im->bare, "PEP node \"%.80s\" twice", node);
	}
	PQclear(r);
	buf_free(&b);
	return id;
}

void
tgt_pep_item(struct imp *im, long long node_id, const char *node, const char *item,
    const char *publisher, const char *payload, size_t len, time_t published)
{
	char nid[24], ts[24], pub[JID_STR_MAX + 1];
	struct xml_node *p = NULL;
	struct buf b;
	const char *v[5];

	if (!ps_name_valid(item, PS_ID_MAX)) {
		imp_skip(im, IK_PEPITEM, im->bare, "item \"%.80s\" of %s: not a valid item id",
		    item, node);
		return;
	}
	if (tgt_jid(publisher, false, pub, sizeof(pub)) == -1)
		snprintf(pub, sizeof(pub), "%s", im->bare);
	buf_init(&b);
	if (len > 0) {
		if ((p = parse(payload, len, NS_PUBSUB)) == NULL) {
			imp_skip(im, IK_PEPITEM, im->bare, "item \"%.80s\" of %s: its payload "
			    "does not parse", item, node);
			return;
		}
		if (serialize(im, p, NS_PUBSUB, &b) == -1) {
			xml_free(p);
			return;
		}
		xml_free(p);
		if (b.len > pubsub_cfg()->max_item_size) {
			imp_skip(im, IK_PEPITEM, im->bare, "item \"%.80s\" of %s: %zu bytes, "
			    "over [pubsub] max_item_size", item, node, b.len);
			buf_free(&b);
			return;
		}
	}
	snprintf(nid, sizeof(nid), "%lld", node_id);
	snprintf(ts, sizeof(ts), "%lld", (long long)published);
	v[0] = nid;
	v[1] = item;
	v[2] = pub;
	v[3] = b.p ? b.p : "";
	v[4] = ts;
	if (exec_rows(im, "INSERT INTO pubsub_item (node_id, item_id, publisher, payload, "
	    "published) VALUES ($1::bigint, $2, $3, $4, to_timestamp($5::bigint)) "
	    "ON CONFLICT DO NOTHING RETURNING 1", 5, v) > 0)
		pend[IK_PEPITEM]++;
	buf_free(&b);
}

void
tgt_pep_aff(struct imp *im, long long node_id, const char *jid, const char *aff)
{
	char nid[24], norm[JID_STR_MAX + 1];
	const char *v[3] = { nid, norm, aff };

	if (tgt_jid(jid, false, norm, sizeof(norm)) == -1) {
		imp_skip(im, IK_PEPNODE, im->bare, "node affiliation of \"%s\": not a valid "
		    "JID", jid);
		return;
	}
	snprintf(nid, sizeof(nid), "%lld", node_id);
	exec_rows(im, "INSERT INTO pubsub_affiliation (node_id, jid, affiliation) "
	    "VALUES ($1::bigint, $2, $3) ON CONFLICT DO NOTHING RETURNING 1", 3, v);
}

void
tgt_push(struct imp *im, const char *jid, const char *node, const char *form)
{
	char norm[JID_STR_MAX + 1];
	struct xml_node *x = NULL;
	struct buf b;
	const char *v[6];

	buf_init(&b);
	if (tgt_jid(jid, false, norm, sizeof(norm)) == -1 || node[0] == '\0') {
		imp_skip(im, IK_PUSH, im->bare, "push registration to \"%s\": not a valid "
		    "JID or no node", jid);
		return;
	}
	if (form && form[0]) {
		x = parse(form, strlen(form), NS_CLIENT);
		if (x == NULL || !xml_is(x, "x", "jabber:x:data") || push_form_check(x) == -1 ||
		    push_form_text(x, &b) == -1 || buf_append(&b, "", 1) == -1) {
			imp_skip(im, IK_PUSH, im->bare, "push registration to %s: its "
			    "publish-options form is not valid", norm);
			xml_free(x);
			buf_free(&b);
			return;
		}
		xml_free(x);
	}
	v[0] = im->host;
	v[1] = im->user;
	v[2] = norm;
	v[3] = node;
	v[4] = b.p;
	/* no session of this server enabled it: notifications go out until a
	 * client enables push again (push.c replaces the session then) */
	v[5] = "imported";
	if (exec_rows(im, "INSERT INTO push_registrations (host, username, jid, node, "
	    "form, session) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING "
	    "RETURNING 1", 6, v) > 0)
		pend[IK_PUSH]++;
	buf_free(&b);
}

void
tgt_last(struct imp *im, time_t seen, const char *status)
{
	char ts[24];
	const char *v[4] = { im->host, im->user, ts, status ? status : "" };

	snprintf(ts, sizeof(ts), "%lld", (long long)seen);
	if (exec_rows(im, "INSERT INTO last_activity (host, username, seen, status) "
	    "VALUES ($1, $2, to_timestamp($3::bigint), $4) ON CONFLICT DO NOTHING "
	    "RETURNING 1", 4, v) > 0)
		pend[IK_LAST]++;
}

static int
end(struct imp *im, enum imp_kind unit, const char *what)
{
	bool commit = !im->failed && !im->dry_run;

	if (im->failed || simple(im, commit ? "COMMIT" : "ROLLBACK") == -1) {
		simple(im, "ROLLBACK");
		pend[unit] = 0;
		count_pending(im, false);
		imp_skip(im, unit, what, "not imported (rolled back): %s", im->err);
		batch_clear(&roster_b);
		batch_clear(&archive_b);
		return -1;
	}
	count_pending(im, true);
	return 0;
}

int
tgt_account_end(struct imp *im)
{
	roster_flush(im);
	archive_flush(im);
	archive_stats(im);
	return end(im, IK_ACCOUNT, im->bare);
}

/* ---- rooms ---- */

int
tgt_room_begin(struct imp *im, const struct imp_room *r, const char *creator)
{
	static const char *sql =
	    "INSERT INTO muc_room (jid, service, created_by, name, description, password, "
	    "public, members_only, moderated, password_protected, whois_anyone, "
	    "change_subject, allow_invites, allow_pm, max_users, subject, subject_by, "
	    "occupant_salt, archive, lang, presence_broadcast, vcard) "
	    "VALUES ($1, split_part($1, '@', 2), $2, $3, $4, $5, $6::boolean, "
	    "$7::boolean, $8::boolean, $9::boolean, $10::boolean, $11::boolean, "
	    "$12::boolean, $13::smallint, $14::integer, $15, $16, $17, $18::boolean, "
	    "$19, $20::smallint, $21) ON CONFLICT DO NOTHING RETURNING 1";
	char pm[8], mu[16], pb[8];
	const char *v[21];
	int rows;

	snprintf(im->room, sizeof(im->room), "%s", r->jid);
	im->failed = false;
	im->err[0] = '\0';
	memset(pend, 0, sizeof(pend));
	if (random_hex(im->room_salt, 16) == -1) {
		snprintf(im->err, sizeof(im->err), "no random bytes");
		return -1;
	}
	snprintf(pm, sizeof(pm), "%d", r->allow_pm);
	snprintf(mu, sizeof(mu), "%u", r->max_users);
	snprintf(pb, sizeof(pb), "%u", r->presence_broadcast);
	v[0] = r->jid;
	v[1] = creator;
	v[2] = r->name;
	v[3] = r->desc;
	v[4] = r->password;
	v[5] = r->public_ ? "t" : "f";
	v[6] = r->members_only ? "t" : "f";
	v[7] = r->moderated ? "t" : "f";
	v[8] = r->password_protected ? "t" : "f";
	v[9] = r->whois_anyone ? "t" : "f";
	v[10] = r->change_subject ? "t" : "f";
	v[11] = r->allow_invites ? "t" : "f";
	v[12] = pm;
	v[13] = mu;
	v[14] = r->subject;
	v[15] = r->subject_by;
	v[16] = im->room_salt;
	v[17] = r->archive ? "t" : "f";
	v[18] = r->lang;
	v[19] = pb;
	v[20] = r->vcard;
	if (simple(im, "BEGIN") == -1)
		return -1;
	if ((rows = exec_rows(im, sql, 21, v)) <= 0) {
		simple(im, "ROLLBACK");
		if (rows == 0) {
			imp_skip(im, IK_ROOM, r->jid, "already in xmpp-core: left as it is");
			return 0;
		}
		return -1;
	}
	pend[IK_ROOM] = 1;
	return 1;
}

void
tgt_room_aff(struct imp *im, const char *jid, int aff)
{
	char norm[JID_STR_MAX + 1], a[8];
	const char *v[3] = { im->room, norm, a };

	if (tgt_jid(jid, true, norm, sizeof(norm)) == -1) {
		imp_skip(im, IK_ROOMAFF, im->room, "affiliation of \"%s\": not a valid bare "
		    "JID", jid);
		return;
	}
	snprintf(a, sizeof(a), "%d", aff);
	if (exec_rows(im, "INSERT INTO muc_affiliation (room, jid, affiliation) VALUES "
	    "($1, $2, $3::smallint) ON CONFLICT DO NOTHING RETURNING 1", 3, v) > 0)
		pend[IK_ROOMAFF]++;
}

/* As mucroom.c's occupant ids: HMAC-SHA-256 of the bare JID under the
 * room's salt, base64. */
static void
occ_id(const struct imp *im, const char *bare, char out[48])
{
	uint8_t mac[32];

	out[0] = '\0';
	if (bare[0] && hmac_sha256(im->room_salt, strlen(im->room_salt), bare,
	    strlen(bare), mac) == 0)
		base64_encode(mac, sizeof(mac), out);
}

/* Drops the children a relayed message gets anew (mucmsg.c): the room's
 * stanza-id, muc#user, occupant-id. */
static void
strip_room_marks(struct xml_node *m, const char *room)
{
	struct xml_node *e, *next;

	for (e = xml_first_elem(m); e; e = next) {
		const char *by = xml_attr(e, "by");

		next = xml_next_elem(e);
		if ((xml_is(e, "stanza-id", NS_SID) && by && strcmp(by, room) == 0) ||
		    xml_is(e, "x", NS_MUC_USER_X) || xml_is(e, "occupant-id", NS_OCC_ID)) {
			xml_detach(e);
			xml_free(e);
		}
	}
}

void
tgt_room_msg(struct imp *im, int64_t id, const char *nick, const char *real_bare,
    const char *xml, size_t len)
{
	char from[3 * JID_PART_MAX + 3], ids[24], occ[48], bare[JID_STR_MAX + 1];
	char res[JID_PART_MAX + 1];
	struct xml_node *m, *e;
	struct buf b;
	const char *v[6];
	int rows;

	if ((m = parse(xml, len, NS_CLIENT)) == NULL || !xml_is(m, "message", NS_CLIENT)) {
		imp_skip(im, IK_ROOMMSG, im->room, "room message %lld: not a message stanza",
		    (long long)id);
		xml_free(m);
		return;
	}
	if (xml_child(m, "body", NS_CLIENT) == NULL && xml_child(m, "subject", NS_CLIENT)) {
		/* the server keeps a subject as the room's subject, never in the archive */
		imp_skip(im, IK_ROOMMSG, im->room, "room message %lld: a subject change "
		    "(the room's current subject is kept with the room)", (long long)id);
		xml_free(m);
		return;
	}
	if (nick[0] == '\0' || jid_resource_prep(nick, res) == -1) {
		imp_skip(im, IK_ROOMMSG, im->room, "room message %lld: nickname \"%s\" is "
		    "not valid", (long long)id, nick);
		xml_free(m);
		return;
	}
	if (real_bare[0] == '\0' || tgt_jid(real_bare, true, bare, sizeof(bare)) == -1)
		bare[0] = '\0';
	snprintf(from, sizeof(from), "%s/%s", im->room, res);
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	occ_id(im, bare, occ);
	strip_room_marks(m, im->room);
	xml_del_attr(m, "to");
	if (xml_set_attr(m, "from", from) == -1 ||
	    (occ[0] && ((e = xml_add(m, "occupant-id", NS_OCC_ID)) == NULL ||
	    xml_set_attr(e, "id", occ) == -1)) ||
	    (e = xml_add(m, "stanza-id", NS_SID)) == NULL || xml_set_attr(e, "id", ids) == -1 ||
	    xml_set_attr(e, "by", im->room) == -1 || serialize(im, m, NS_CLIENT, &b) == -1) {
		im->failed = true;
		xml_free(m);
		return;
	}
	v[0] = im->room;
	v[1] = ids;
	v[2] = res;
	v[3] = occ;
	v[4] = bare;
	v[5] = b.p;
	rows = exec_rows(im, "INSERT INTO muc_archive (room, id, nick, occupant_id, jid, "
	    "stanza) VALUES ($1, $2::bigint, $3, $4, $5, $6) ON CONFLICT DO NOTHING "
	    "RETURNING 1", 6, v);
	if (rows > 0)
		pend[IK_ROOMMSG]++;
	else if (rows == 0)
		imp_skip(im, IK_ROOMMSG, im->room, "room archive id %s twice: the second "
		    "copy left out", ids);
	buf_free(&b);
	xml_free(m);
}

int
tgt_room_end(struct imp *im)
{
	const char *v[1] = { im->room };

	if (pend[IK_ROOMMSG])
		exec_rows(im, "INSERT INTO muc_archive_stats (room, messages) SELECT $1, "
		    "count(*) FROM muc_archive WHERE room = $1 ON CONFLICT (room) DO UPDATE "
		    "SET messages = EXCLUDED.messages RETURNING 1", 1, v);
	return end(im, IK_ROOM, im->room);
}

int
tgt_jid(const char *in, bool bare, char *out, size_t outlen)
{
	struct jid j;

	if (in == NULL || jid_parse(in, &j) == -1 || (bare && j.resource[0]))
		return -1;
	jid_full(&j, out, outlen);
	return 0;
}
