/*
 * xep0227 — `xmppctl import xep0227 FILE...`: XEP-0227 (portable
 * import/export, urn:xmpp:pie:0, version 1.1) files, as Prosody's
 * mod_storage_xep0227 / prosody-migrator and our own export.c write
 * them, through the writer (target.c) like every other source.
 *
 * A file may hold a whole server; it is mapped, and a first expat pass
 * (DTDs, entity declarations refused) finds each <user/> of each <host/>
 * as a byte span.  Each user is then parsed alone by the server's own
 * restricted parser (fragment.c) and bounded (USER_MAX bytes), so one
 * huge or broken account is reported and the others imported.
 *
 * The root is <server-data/> with <host/>s, or a <host/> alone (the
 * files ejabberd's export_piefxis xi:includes from its main file; an
 * xi:include is followed to a file beside the including one only).
 *
 * What is read from a <user name='' [password='']>:
 *   scram-credentials (urn:xmpp:pie:0#scram, XEP-0227 v1.1 §5.1)
 *                      SCRAM-SHA-1 / SCRAM-SHA-256: server-key,
 *                      stored-key, salt (base64), iter-count
 *   query jabber:iq:roster (version), presence type=subscribe (pending
 *                      requests, as Prosody writes them)
 *   vCard vcard-temp, query jabber:iq:private
 *   offline-messages   messages (their delay is the time stored)
 *   pubsub#owner       configure (a node_config form), affiliations;
 *   pubsub             items: PEP nodes and items (§5.3)
 *   archive (urn:xmpp:pie:0#mam)   result/forwarded/delay+message (§5.4);
 *                      a numeric result id (ours) is kept, any other
 *                      (Prosody's UUIDs) becomes the delay's time
 *   blocklist (urn:xmpp:blocking)  our export's blocklist
 */
#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <expat.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "config.h"
#include "crypto.h"
#include "fragment.h"
#include "jid.h"
#include "private.h"
#include "pubsub.h"
#include "pubsubconf.h"
#include "server.h"
#include "xml.h"

#define NS_PIE "urn:xmpp:pie:0"
#define NS_PIE_SCRAM "urn:xmpp:pie:0#scram"
#define NS_PIE_MAM "urn:xmpp:pie:0#mam"
#define NS_ROSTER "jabber:iq:roster"
#define NS_VCARD_TEMP "vcard-temp"
#define NS_PUBSUB_ "http://jabber.org/protocol/pubsub"
#define NS_MAM2 "urn:xmpp:mam:2"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_BLOCKING "urn:xmpp:blocking"
#define NS_DATA "jabber:x:data"
#define USER_MAX (512UL * 1024 * 1024)	/* one account's XML */
#define USERS_MAX 10000000		/* spans in one file */
#define INCLUDES_MAX 1024		/* xi:include in one file (hosts) */
#define NS_XINCLUDE "http://www.w3.org/2001/XInclude"

struct span {
	size_t start, end;
	char host[JID_PART_MAX + 1];
	char name[JID_PART_MAX + 1];
	bool bad_name;
};

struct scan {
	XML_Parser p;
	int depth;
	bool refused;
	char host[JID_PART_MAX + 1];
	bool in_host, bad_host;
	int user_depth;			/* 3 in <server-data/>, 2 in <host/> */
	char *incl[INCLUDES_MAX];	/* xi:include hrefs */
	size_t nincl;
	size_t start, start_count;
	struct span *v;
	size_t n, cap;
	char err[160];
};

/* expat's names with namespaces: "uri name" */
static bool
is(const char *qname, const char *ns, const char *name)
{
	size_t l = strlen(ns);

	return strncmp(qname, ns, l) == 0 && qname[l] == ' ' && strcmp(qname + l + 1, name) == 0;
}

static const char *
attr(const char **a, const char *name)
{
	for (; a[0]; a += 2)
		if (strcmp(a[0], name) == 0)
			return a[1];
	return NULL;
}

static void
scan_start(void *arg, const char *name, const char **attrs)
{
	struct scan *s = arg;
	const char *v;

	s->depth++;
	if (s->depth == 1 && is(name, NS_PIE, "host")) {
		/* a host alone: what ejabberd's export_piefxis includes */
		s->user_depth = 2;
	} else if (s->depth == 1 && !is(name, NS_PIE, "server-data")) {
		snprintf(s->err, sizeof(s->err), "the root element is neither "
		    "<server-data xmlns='urn:xmpp:pie:0'/> nor <host/>");
		XML_StopParser(s->p, XML_FALSE);
		return;
	} else if (s->depth == 1) {
		s->user_depth = 3;
	}
	if (s->depth == s->user_depth - 1 && is(name, NS_PIE, "host")) {
		v = attr(attrs, "jid");
		s->in_host = true;
		s->bad_host = v == NULL || strlen(v) > JID_PART_MAX;
		snprintf(s->host, sizeof(s->host), "%s", v && !s->bad_host ? v : "");
	} else if (s->depth == 2 && s->user_depth == 3 && is(name, NS_XINCLUDE, "include")) {
		/* ejabberd writes each host to a file of its own */
		v = attr(attrs, "href");
		if (v && s->nincl < INCLUDES_MAX && (s->incl[s->nincl] = strdup(v)) != NULL)
			s->nincl++;
	} else if (s->depth == s->user_depth && s->in_host && is(name, NS_PIE, "user")) {
		s->start = (size_t)XML_GetCurrentByteIndex(s->p);
		s->start_count = (size_t)XML_GetCurrentByteCount(s->p);
		if (s->n == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 64;
			struct span *n = cap <= USERS_MAX ? realloc(s->v, cap * sizeof(*n)) : NULL;

			if (n == NULL) {
				snprintf(s->err, sizeof(s->err), "too many users (out of memory)");
				XML_StopParser(s->p, XML_FALSE);
				return;
			}
			s->v = n;
			s->cap = cap;
		}
		memset(&s->v[s->n], 0, sizeof(s->v[s->n]));
		v = attr(attrs, "name");
		s->v[s->n].bad_name = v == NULL || strlen(v) > JID_PART_MAX || s->bad_host;
		snprintf(s->v[s->n].name, sizeof(s->v[s->n].name), "%s",
		    v && strlen(v) <= JID_PART_MAX ? v : "");
		snprintf(s->v[s->n].host, sizeof(s->v[s->n].host), "%s", s->host);
	}
}

static void
scan_end(void *arg, const char *name)
{
	struct scan *s = arg;

	if (s->depth == s->user_depth && s->in_host && is(name, NS_PIE, "user")) {
		size_t idx = (size_t)XML_GetCurrentByteIndex(s->p);
		size_t cnt = (size_t)XML_GetCurrentByteCount(s->p);

		s->v[s->n].start = s->start;
		/* an empty <user/> ends with its start tag */
		s->v[s->n].end = cnt ? idx + cnt : s->start + s->start_count;
		s->n++;
	} else if (s->depth == s->user_depth - 1) {
		s->in_host = false;
	}
	s->depth--;
}

static void
scan_doctype(void *arg, const char *name, const char *sysid, const char *pubid,
    int has_internal)
{
	struct scan *s = arg;

	(void)name, (void)sysid, (void)pubid, (void)has_internal;
	s->refused = true;
	snprintf(s->err, sizeof(s->err), "a DTD (refused, as on streams)");
	XML_StopParser(s->p, XML_FALSE);
}

static void
scan_entity(void *arg, const char *name, int pe, const char *value, int vlen,
    const char *base, const char *sysid, const char *pubid, const char *notation)
{
	struct scan *s = arg;

	(void)name, (void)pe, (void)value, (void)vlen, (void)base, (void)sysid;
	(void)pubid, (void)notation;
	s->refused = true;
	snprintf(s->err, sizeof(s->err), "an entity declaration (refused)");
	XML_StopParser(s->p, XML_FALSE);
}

/* The spans of every user of the file: 0, or -1 (why in s->err). */
static int
scan_file(const char *text, size_t len, struct scan *s)
{
	const size_t chunk = 1 << 20;
	int rc = 0;

	if ((s->p = XML_ParserCreateNS(NULL, ' ')) == NULL) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	XML_SetUserData(s->p, s);
	XML_SetElementHandler(s->p, scan_start, scan_end);
	XML_SetStartDoctypeDeclHandler(s->p, scan_doctype);
	XML_SetEntityDeclHandler(s->p, scan_entity);
	for (size_t off = 0; off < len || off == 0; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		bool last = off + n >= len;

		if (XML_Parse(s->p, text + off, (int)n, last) != XML_STATUS_OK) {
			if (s->err[0] == '\0')
				snprintf(s->err, sizeof(s->err), "line %lu: %s",
				    (unsigned long)XML_GetCurrentLineNumber(s->p),
				    XML_ErrorString(XML_GetErrorCode(s->p)));
			rc = -1;
			break;
		}
		if (last)
			break;
	}
	XML_ParserFree(s->p);
	return rc;
}

/* ---- one user ---- */

static char *
child_text(const struct xml_node *n, const char *name, const char *ns)
{
	struct xml_node *c = xml_child(n, name, ns);

	return c ? xml_text(c) : NULL;
}

static int
b64(const char *in, uint8_t *out, size_t cap)
{
	ssize_t n = in ? base64_decode(in, strlen(in), out, cap) : -1;

	return n < 0 ? -1 : (int)n;
}

/* base64 of base64 text: the inner bytes, or -1. */
static int
twice(const char *in, uint8_t *out, size_t cap)
{
	uint8_t mid[256];
	char text[257];
	int n = b64(in, mid, sizeof(mid) - 1);

	if (n <= 0)
		return -1;
	memcpy(text, mid, (size_t)n);
	text[n] = '\0';
	OPENSSL_cleanse(mid, sizeof(mid));
	n = b64(text, out, cap);
	OPENSSL_cleanse(text, sizeof(text));
	return n;
}

/* scram-credentials and password= into c: 0, or -1 (why). */
static int
credentials(const struct xml_node *u, struct imp_cred *c, const char **why)
{
	const char *pw = xml_attr(u, "password");

	for (struct xml_node *e = xml_first_elem(u); e; e = xml_next_elem(e)) {
		const char *mech = xml_attr(e, "mechanism");
		char *sk, *st, *salt, *it;
		struct scram_keys k;
		enum scram_hash h;
		int ok, n = 0;

		if (!xml_is(e, "scram-credentials", NS_PIE_SCRAM) || mech == NULL)
			continue;
		if (strcmp(mech, "SCRAM-SHA-1") == 0)
			h = SCRAM_SHA1;
		else if (strcmp(mech, "SCRAM-SHA-256") == 0)
			h = SCRAM_SHA256;
		else {
			c->sha512_only_seen = true;	/* a hash we have no mechanism for */
			continue;
		}
		sk = child_text(e, "server-key", NS_PIE_SCRAM);
		st = child_text(e, "stored-key", NS_PIE_SCRAM);
		salt = child_text(e, "salt", NS_PIE_SCRAM);
		it = child_text(e, "iter-count", NS_PIE_SCRAM);
		memset(&k, 0, sizeof(k));
		k.iter = it ? (unsigned)strtoul(it, NULL, 10) : 0;
		ok = b64(sk, k.server, sizeof(k.server)) == (int)scram_hash_len(h) &&
		    b64(st, k.stored, sizeof(k.stored)) == (int)scram_hash_len(h) &&
		    (n = b64(salt, k.salt, sizeof(k.salt))) > 0;
		/* ejabberd (23.01) base64-encodes the base64 text it keeps: the
		 * keys decode twice to their length, and then so does the salt */
		if (!ok && twice(sk, k.server, sizeof(k.server)) == (int)scram_hash_len(h) &&
		    twice(st, k.stored, sizeof(k.stored)) == (int)scram_hash_len(h))
			ok = (n = twice(salt, k.salt, sizeof(k.salt))) > 0;
		k.saltlen = ok ? (size_t)n : 0;
		ok = ok && k.iter > 0 && k.iter <= 10000000;
		free(sk);
		free(st);
		free(salt);
		free(it);
		if (!ok) {
			*why = "its scram-credentials do not decode";
			OPENSSL_cleanse(&k, sizeof(k));
			return -1;
		}
		c->k[h] = k;
		c->have[h] = true;
		OPENSSL_cleanse(&k, sizeof(k));
	}
	if (!c->have[SCRAM_SHA1] && !c->have[SCRAM_SHA256] && pw && pw[0]) {
		if ((c->plain = strdup(pw)) == NULL) {
			*why = "out of memory";
			return -1;
		}
	}
	if (!c->have[SCRAM_SHA1] && !c->have[SCRAM_SHA256] && c->plain == NULL) {
		*why = c->sha512_only_seen ? "only SCRAM keys of a hash xmpp-core has no "
		    "mechanism for (set a password with xmppctl passwd after the import)" :
		    "no credentials (no scram-credentials, no password)";
		return -1;
	}
	return 0;
}

static int
xml_text_of(struct imp *im, const struct xml_node *n, const char *parent_ns, struct buf *b)
{
	buf_init(b);
	if (xml_serialize(b, n, parent_ns) == -1) {
		buf_free(b);
		im->failed = true;
		snprintf(im->err, sizeof(im->err), "out of memory");
		return -1;
	}
	return 0;
}

/* A pending request: <presence type='subscribe' from=''/> in the user.
 * Prosody writes it without xmlns='jabber:client', so in the file's
 * namespace: both are taken. */
static bool
is_request(const struct xml_node *e)
{
	const char *t = xml_attr(e, "type");

	return (xml_is(e, "presence", NS_CLIENT) || xml_is(e, "presence", NS_PIE)) &&
	    xml_attr(e, "from") && t && strcmp(t, "subscribe") == 0;
}

static bool
pending_from(const struct xml_node *u, const char *jid)
{
	for (struct xml_node *e = xml_first_elem(u); e; e = xml_next_elem(e))
		if (is_request(e) && strcmp(xml_attr(e, "from"), jid) == 0)
			return true;
	return false;
}

static void
roster(struct imp *im, const struct xml_node *u)
{
	struct xml_node *q = xml_child(u, "query", NS_ROSTER);
	const char *ver = q ? xml_attr(q, "version") : NULL;
	bool any = false;

	for (struct xml_node *it = q ? xml_first_elem(q) : NULL; it; it = xml_next_elem(it)) {
		struct imp_roster_item r = { 0 };
		const char *groups[256], *sub = xml_attr(it, "subscription");
		const char *ask = xml_attr(it, "ask");
		char *texts[256];
		size_t nt = 0;

		if (!xml_is(it, "item", NS_ROSTER))
			continue;
		r.jid = xml_attr(it, "jid");
		r.name = xml_attr(it, "name");
		if (r.jid == NULL) {
			imp_skip(im, IK_ROSTER, im->bare, "a roster item without a jid");
			continue;
		}
		sub = sub ? sub : "none";
		if (strcmp(sub, "none") != 0 && strcmp(sub, "to") != 0 &&
		    strcmp(sub, "from") != 0 && strcmp(sub, "both") != 0) {
			imp_skip(im, IK_ROSTER, im->bare, "roster item %s: subscription \"%s\" "
			    "is not none, to, from or both", r.jid, sub);
			continue;
		}
		for (struct xml_node *g = xml_first_elem(it); g; g = xml_next_elem(g))
			if (xml_is(g, "group", NS_ROSTER) && nt < 256 &&
			    (texts[nt] = xml_text(g)) != NULL)
				groups[nt] = texts[nt], nt++;
		r.groups = groups;
		r.ngroups = nt;
		r.to = strcmp(sub, "to") == 0 || strcmp(sub, "both") == 0;
		r.from = strcmp(sub, "from") == 0 || strcmp(sub, "both") == 0;
		r.ask_out = ask && strcmp(ask, "subscribe") == 0;
		r.ask_in = pending_from(u, r.jid);
		r.visible = true;
		tgt_roster(im, &r);
		while (nt > 0)
			free(texts[--nt]);
		any = true;
	}
	/* requests from who is not in the roster: hidden items */
	for (struct xml_node *e = xml_first_elem(u); e; e = xml_next_elem(e)) {
		const char *f = xml_attr(e, "from");
		struct imp_roster_item r = { 0 };
		bool listed = false;

		if (!is_request(e))
			continue;
		for (struct xml_node *it = q ? xml_first_elem(q) : NULL; it; it = xml_next_elem(it))
			listed = listed || (xml_attr(it, "jid") && strcmp(xml_attr(it, "jid"), f) == 0);
		if (listed)
			continue;
		r.jid = f;
		r.ask_in = true;
		tgt_roster(im, &r);
		any = true;
	}
	if (any || q) {
		char *e;
		long long v = ver ? strtoll(ver, &e, 10) : 0;

		tgt_roster_version(im, ver && *e == '\0' && v > 0 ? v : 1);
	}
}

static time_t
stamp_time(const char *s, long *usec)
{
	struct tm tm;
	const char *p;

	*usec = 0;
	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return (time_t)-1;
	if (*p == '.') {
		long mult = 100000;

		for (p++; *p >= '0' && *p <= '9'; p++, mult /= 10)
			if (mult > 0)
				*usec += (*p - '0') * mult;
	}
	return timegm(&tm);
}

static const struct xml_node *
delay_of(const struct xml_node *n)
{
	return xml_child(n, "delay", NS_DELAY);
}

static void
offline(struct imp *im, const struct xml_node *u)
{
	struct xml_node *o = xml_child(u, "offline-messages", NS_PIE);

	for (struct xml_node *m = o ? xml_first_elem(o) : NULL; m; m = xml_next_elem(m)) {
		const struct xml_node *d = delay_of(m);
		long us;
		time_t at = d ? stamp_time(xml_attr(d, "stamp"), &us) : (time_t)-1;
		struct buf b;

		if (xml_text_of(im, m, NS_CLIENT, &b) == -1)
			return;
		tgt_offline(im, b.p ? b.p : "", b.len, at == (time_t)-1 ? time(NULL) : at);
		buf_free(&b);
	}
}

static void
simple(struct imp *im, const struct xml_node *u)
{
	struct xml_node *vc = xml_child(u, "vCard", NS_VCARD_TEMP);
	struct xml_node *pq = xml_child(u, "query", NS_PRIVATE);
	struct xml_node *bl = xml_child(u, "blocklist", NS_BLOCKING);
	struct buf b;

	if (vc && xml_text_of(im, vc, NS_CLIENT, &b) == 0) {
		tgt_vcard(im, b.p ? b.p : "", b.len);
		buf_free(&b);
	}
	for (struct xml_node *e = pq ? xml_first_elem(pq) : NULL; e; e = xml_next_elem(e)) {
		if (xml_text_of(im, e, NS_PRIVATE, &b) == -1)
			return;
		tgt_private(im, e->ns, b.p ? b.p : "", b.len);
		buf_free(&b);
	}
	for (struct xml_node *e = bl ? xml_first_elem(bl) : NULL; e; e = xml_next_elem(e))
		if (xml_is(e, "item", NS_BLOCKING) && xml_attr(e, "jid"))
			tgt_block(im, xml_attr(e, "jid"));
}

/* PEP: nodes configured under pubsub#owner, items under pubsub; a node
 * with items and no configuration gets the defaults. */
struct nodes {
	char *name[1024];
	long long id[1024];
	size_t n;
};

static long long
node_get(struct imp *im, struct nodes *ns, const char *node, const struct xml_node *form)
{
	struct ps_config c;
	const char *field = NULL;
	struct xml_node *f;
	long long id;

	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->name[i], node) == 0)
			return ns->id[i];
	if (ns->n == 1024) {
		imp_skip(im, IK_PEPNODE, im->bare, "PEP node \"%.80s\": more than 1024 "
		    "nodes", node);
		return 0;
	}
	ps_config_default(&c, true, node);
	if (form && (f = xml_copy(form)) != NULL) {
		/* Prosody writes every field, the unset ones without a value:
		 * those keep our defaults */
		for (struct xml_node *e = xml_first_elem(f), *next; e; e = next) {
			next = xml_next_elem(e);
			if (xml_is(e, "field", NS_DATA) && xml_child(e, "value", NS_DATA) == NULL) {
				xml_detach(e);
				xml_free(e);
			}
		}
		if (ps_config_apply(&c, f, pubsub_cfg()->max_items, &field) == -1) {
			imp_skip(im, IK_OTHER, im->bare, "node %s: its configuration form "
			    "is not taken (field %s): the node gets the defaults", node,
			    field ? field : "?");
			ps_config_default(&c, true, node);
		}
		xml_free(f);
	}
	ps_config_force(&c, true, node);
	if ((id = tgt_pep_node(im, node, &c)) == 0)
		return 0;
	if ((ns->name[ns->n] = strdup(node)) == NULL) {
		im->failed = true;
		return 0;
	}
	ns->id[ns->n++] = id;
	return id;
}

struct pepvcard {
	char *vcard4, *avatar;
	char type[64];
};

static void
keep(char **dst, const char *s)
{
	free(*dst);
	*dst = strdup(s);
}

static void
avatar_type(const struct xml_node *meta, char *out, size_t outlen)
{
	struct xml_node *info = xml_child(meta, "info", "urn:xmpp:avatar:metadata");
	const char *t = info ? xml_attr(info, "type") : NULL;

	if (t && strlen(t) < outlen)
		snprintf(out, outlen, "%s", t);
}

static void
pep(struct imp *im, const struct xml_node *u, struct pepvcard *pv)
{
	struct xml_node *own = xml_child(u, "pubsub", NS_PUBSUB_OWNER);
	struct xml_node *ps = xml_child(u, "pubsub", NS_PUBSUB_);
	struct nodes ns = { .n = 0 };

	for (struct xml_node *e = own ? xml_first_elem(own) : NULL; e && !im->failed;
	    e = xml_next_elem(e)) {
		const char *node = xml_attr(e, "node");
		long long id;

		if (node == NULL)
			continue;
		if (xml_is(e, "configure", NS_PUBSUB_OWNER)) {
			node_get(im, &ns, node, xml_child(e, "x", NS_DATA));
		} else if (xml_is(e, "affiliations", NS_PUBSUB_OWNER) &&
		    (id = node_get(im, &ns, node, NULL)) != 0) {
			for (struct xml_node *a = xml_first_elem(e); a; a = xml_next_elem(a)) {
				const char *j = xml_attr(a, "jid"), *af = xml_attr(a, "affiliation");

				if (j == NULL || af == NULL || strcmp(j, im->bare) == 0)
					continue;	/* the account owns its PEP */
				if (strcmp(af, "member") == 0 || strcmp(af, "publisher") == 0 ||
				    strcmp(af, "outcast") == 0)
					tgt_pep_aff(im, id, j, af);
				else
					imp_skip(im, IK_PEPNODE, im->bare, "node %s: affiliation "
					    "\"%s\" of %s has no PEP form", node, af, j);
			}
		}
	}
	for (struct xml_node *e = ps ? xml_first_elem(ps) : NULL; e && !im->failed;
	    e = xml_next_elem(e)) {
		const char *node = xml_attr(e, "node");
		long long id;

		if (!xml_is(e, "items", NS_PUBSUB_) || node == NULL ||
		    (id = node_get(im, &ns, node, NULL)) == 0)
			continue;
		for (struct xml_node *it = xml_first_elem(e); it; it = xml_next_elem(it)) {
			struct xml_node *payload = xml_first_elem(it);
			const char *iid = xml_attr(it, "id"), *pub = xml_attr(it, "publisher");
			struct buf b;

			if (!xml_is(it, "item", NS_PUBSUB_) || iid == NULL) {
				imp_skip(im, IK_PEPITEM, im->bare, "an item of %s without an id",
				    node);
				continue;
			}
			buf_init(&b);
			if (payload && xml_text_of(im, payload, NS_PUBSUB_, &b) == -1)
				break;
			tgt_pep_item(im, id, node, iid, pub ? pub : im->bare, b.p ? b.p : "",
			    b.len, time(NULL));
			/* what a vcard-temp is made of when the file has none */
			if (b.p && strcmp(node, "urn:xmpp:vcard4") == 0)
				keep(&pv->vcard4, b.p);
			else if (b.p && strcmp(node, "urn:xmpp:avatar:data") == 0)
				keep(&pv->avatar, b.p);
			else if (payload && strcmp(node, "urn:xmpp:avatar:metadata") == 0)
				avatar_type(payload, pv->type, sizeof(pv->type));
			buf_free(&b);
		}
	}
	for (size_t i = 0; i < ns.n; i++)
		free(ns.name[i]);
}

static void
archive(struct imp *im, const struct xml_node *u)
{
	struct xml_node *a = xml_child(u, "archive", NS_PIE_MAM);
	int64_t last = 0;

	for (struct xml_node *r = a ? xml_first_elem(a) : NULL; r && !im->failed;
	    r = xml_next_elem(r)) {
		struct xml_node *fw = xml_child(r, "forwarded", NS_FORWARD);
		struct xml_node *m = fw ? xml_child(fw, "message", NS_CLIENT) : NULL;
		const struct xml_node *d = fw ? delay_of(fw) : NULL;
		const char *rid = xml_attr(r, "id"), *to, *from, *peer;
		char tb[JID_STR_MAX + 1] = "", fb[JID_STR_MAX + 1] = "", *e;
		long long n = rid ? strtoll(rid, &e, 10) : 0;
		struct jid j;
		int64_t id;
		long us;
		time_t t;
		struct buf b;

		if (!xml_is(r, "result", NS_MAM2) || m == NULL) {
			imp_skip(im, IK_ARCHIVE, im->bare, "archive entry %s: not a result "
			    "with a forwarded message", rid ? rid : "without an id");
			continue;
		}
		/* our own ids (microseconds) stay; others become the delay's time */
		if (rid && *e == '\0' && n > 0) {
			id = n;
		} else if (d && (t = stamp_time(xml_attr(d, "stamp"), &us)) != (time_t)-1) {
			id = (int64_t)t * 1000000 + us;
			id = id > last ? id : last + 1;
		} else {
			imp_skip(im, IK_ARCHIVE, im->bare, "archive entry %s: neither a numeric "
			    "id nor a delay stamp", rid ? rid : "without an id");
			continue;
		}
		last = id;
		to = xml_attr(m, "to");
		from = xml_attr(m, "from");
		if (to && jid_parse(to, &j) == 0)
			jid_bare(&j, tb, sizeof(tb));
		if (from && jid_parse(from, &j) == 0)
			jid_bare(&j, fb, sizeof(fb));
		/* the other party: the sender of what came in, else the recipient */
		peer = strcmp(tb, im->bare) == 0 && from ? from : to ? to : "";
		if (xml_text_of(im, m, NULL, &b) == -1)
			return;
		tgt_archive(im, id, peer, b.p ? b.p : "", b.len);
		buf_free(&b);
	}
}

static const struct { const char *name, *ns; } known[] = {
	{ "scram-credentials", NS_PIE_SCRAM }, { "query", NS_ROSTER },
	{ "presence", NS_CLIENT }, { "presence", NS_PIE }, { "vCard", NS_VCARD_TEMP }, { "query", NS_PRIVATE },
	{ "offline-messages", NS_PIE }, { "pubsub", NS_PUBSUB_OWNER },
	{ "pubsub", NS_PUBSUB_ }, { "archive", NS_PIE_MAM }, { "blocklist", NS_BLOCKING },
};

static void
user(struct imp *im, const char *text, const struct span *sp)
{
	char who[2 * JID_PART_MAX + 2], local[JID_PART_MAX + 1];
	struct imp_cred c = { 0 };
	struct pepvcard pv = { NULL, NULL, "" };
	struct xml_node *u = NULL;
	const char *why = NULL;
	int rc;

	snprintf(who, sizeof(who), "%s@%s", sp->name, sp->host);
	if (sp->bad_name || jid_local_prep(sp->name, local) == -1 ||
	    strcmp(local, sp->name) != 0) {
		imp_skip(im, IK_ACCOUNT, who, "\"%s\" is not a valid (normalised) JID "
		    "localpart", sp->name);
		return;
	}
	if (!imp_host_served(im, sp->host) || (im->only_host &&
	    strcmp(im->only_host, sp->host) != 0)) {
		imp_skip(im, IK_ACCOUNT, who, "%s is not a host of this server (hosts in "
		    "xmpp-core.toml; --host picks one)", sp->host);
		return;
	}
	if (sp->end - sp->start > USER_MAX) {
		imp_skip(im, IK_ACCOUNT, who, "%zu bytes of XML: over %lu MiB for one "
		    "account", sp->end - sp->start, USER_MAX >> 20);
		return;
	}
	if ((u = fragment_parse(text + sp->start, sp->end - sp->start, NS_PIE)) == NULL) {
		imp_skip(im, IK_ACCOUNT, who, "its XML does not parse with the server's "
		    "restrictions (depth, attributes, no DTD)");
		return;
	}
	if (credentials(u, &c, &why) == -1) {
		imp_skip(im, IK_ACCOUNT, who, "%s", why);
		goto out;
	}
	if ((rc = tgt_account_begin(im, sp->host, sp->name, &c)) <= 0) {
		if (rc < 0)
			imp_skip(im, IK_ACCOUNT, who, "not imported: %s", im->err);
		goto out;
	}
	roster(im, u);
	simple(im, u);
	offline(im, u);
	pep(im, u, &pv);
	if (xml_child(u, "vCard", NS_VCARD_TEMP) == NULL)
		imp_vcard_from_pep(im, pv.vcard4, pv.avatar, pv.type);
	free(pv.vcard4);
	free(pv.avatar);
	archive(im, u);
	for (struct xml_node *e = xml_first_elem(u); e; e = xml_next_elem(e)) {
		bool k = false;

		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			k = k || xml_is(e, known[i].name, known[i].ns);
		if (!k)
			imp_skip(im, IK_OTHER, im->bare, "<%s xmlns='%.80s'/>: xmpp-core keeps "
			    "nothing of it", e->name, e->ns);
	}
	tgt_account_end(im);
out:
	if (c.plain) {
		OPENSSL_cleanse(c.plain, strlen(c.plain));
		free(c.plain);
	}
	OPENSSL_cleanse(&c, sizeof(c));
	xml_free(u);
}

static int file(struct imp *im, const char *path, int depth);

/* An xi:include's file: a name relative to the including file's folder,
 * never a URL, an absolute path or one leading out of that folder. */
static int
include(struct imp *im, const char *from, const char *href, int depth)
{
	char path[4096];
	const char *slash = strrchr(from, '/');
	int dirlen = slash ? (int)(slash - from) + 1 : 0;

	if (href[0] == '/' || strchr(href, ':') || strstr(href, "..") || depth > 1 ||
	    (size_t)snprintf(path, sizeof(path), "%.*s%s", dirlen, from, href) >= sizeof(path)) {
		fprintf(stderr, "xmppctl import: %s: xi:include of \"%.200s\" not followed "
		    "(only a file beside it)\n", from, href);
		return 1;
	}
	return file(im, path, depth + 1);
}

static int
file(struct imp *im, const char *path, int depth)
{
	struct scan s = { 0 };
	struct stat st;
	char *text;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1) {
		fprintf(stderr, "xmppctl import: %s: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return 1;
	}
	if (st.st_size == 0) {
		fprintf(stderr, "xmppctl import: %s: empty\n", path);
		close(fd);
		return 1;
	}
	text = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (text == MAP_FAILED) {
		fprintf(stderr, "xmppctl import: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (scan_file(text, (size_t)st.st_size, &s) == -1) {
		/* nothing of a file that is not XEP-0227 (or not well-formed) */
		fprintf(stderr, "xmppctl import: %s: not a XEP-0227 file: %s\n", path, s.err);
		rc = 1;
	} else {
		im->units_total += s.n;
		for (size_t i = 0; i < s.n; i++) {
			user(im, text, &s.v[i]);
			im->units++;
			imp_progress(im, false);
		}
	}
	for (size_t i = 0; i < s.nincl; i++) {
		if (rc == 0 && include(im, path, s.incl[i], depth) != 0)
			rc = 1;
		free(s.incl[i]);
	}
	free(s.v);
	munmap(text, (size_t)st.st_size);
	return rc;
}

/* argv after "import xep0227": [--host H] [--dry-run] FILE... */
int
xep0227_import(struct imp *im, int argc, char **argv)
{
	int rc = 0, files = 0;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0)
			continue;
		if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
			im->only_host = argv[++i];
			continue;
		}
		if (argv[i][0] == '-')
			return 2;
	}
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0)
			continue;
		if (strcmp(argv[i], "--host") == 0) {
			i++;
			continue;
		}
		files++;
		if (file(im, argv[i], 0) != 0)
			rc = 1;
	}
	return files ? rc : 2;
}
