/*
 * vcard — XEP-0054 and the avatar hash of XEP-0153.  See vcard.h.
 */
#include "vcard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "c2s.h"
#include "crypto.h"
#include "db.h"
#include "fragment.h"
#include "hmap.h"
#include "imconf.h"
#include "iq.h"
#include "log.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

static struct db_stmt st_get = {
	"SELECT EXISTS (SELECT 1 FROM users WHERE host = $1 AND username = $2), "
	"(SELECT data FROM vcard WHERE host = $1 AND username = $2)", 2, 0 };
static struct db_stmt st_set = {
	"INSERT INTO vcard (host, username, data, avatar_hash) "
	"SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM users "
	"WHERE host = $1 AND username = $2) "
	"ON CONFLICT (host, username) DO UPDATE SET data = $3, avatar_hash = $4 "
	"RETURNING 1", 4, 0 };
static struct db_stmt st_del = {
	"DELETE FROM vcard WHERE host = $1 AND username = $2", 2, 0 };

#define NS_VCARD_UPDATE "vcard-temp:x:update"

static struct db_stmt st_hash = {
	"SELECT avatar_hash FROM vcard WHERE host = $1 AND username = $2", 2, 0 };

/* Avatar hashes of accounts with sessions. */
struct avatar {
	unsigned refs;		/* sessions + loads in flight */
	bool known;		/* loaded (or set since) */
	bool has_vcard;
	char hash[41];
};

static struct hmap avatars;	/* bare JID -> struct avatar */

static void
avatar_set(const char *bare, bool has_vcard, const char *hash)
{
	struct avatar *a = hmap_get(&avatars, bare);

	if (a == NULL)
		return;
	a->known = true;
	a->has_vcard = has_vcard;
	snprintf(a->hash, sizeof(a->hash), "%s", hash);
}

static void
avatar_unref(const char *bare)
{
	struct avatar *a = hmap_get(&avatars, bare);

	if (a && --a->refs == 0)
		free(hmap_del(&avatars, bare));
}

static void photo_hash(const struct xml_node *vc, char out[41]);

struct op {
	struct c2s *c;		/* the requester's own session, or NULL (routed) */
	struct xml_node *iq;
};

static void
op_end(struct op *o)
{
	xml_free(o->iq);
	if (o->c)
		c2s_unblock(o->c);
	free(o);
}

/* Replies to the requester: on its session, or through the router. */
static void
reply(struct op *o, struct xml_node *r)
{
	if (r == NULL)
		return;
	if (o->c) {
		iq_reply(o->c, r);
	} else {
		router_route(r);
	}
}

static void
fail(struct op *o, const char *type, const char *cond)
{
	if (o->c)
		iq_error(o->c, o->iq, type, cond);
	else
		stanza_bounce(o->iq, type, cond);
}

static void
got(void *arg, PGresult *res, const char *err)
{
	struct op *o = arg;
	struct xml_node *r, *x = NULL;

	if (o->c && o->c->dead) {
		op_end(o);
		return;
	}
	if (res == NULL) {
		log_warn("vcard: fetching failed: %s", err);
		fail(o, "wait", "internal-server-error");
		op_end(o);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		/* RFC 6121 §8.5.1: no such account */
		fail(o, "cancel", "service-unavailable");
		op_end(o);
		return;
	}
	if (!PQgetisnull(res, 0, 1)) {
		const char *d = PQgetvalue(res, 0, 1);

		if ((x = fragment_parse(d, strlen(d), NS_CLIENT)) == NULL)
			log_warn("vcard: a stored vCard does not parse");
	}
	/* XEP-0054 §3.1: an account without a vCard has an empty one */
	if ((x == NULL && (x = xml_new("vCard", NS_VCARD)) == NULL) ||
	    (r = stanza_iq_result(o->iq)) == NULL) {
		xml_free(x);
		fail(o, "wait", "resource-constraint");
		op_end(o);
		return;
	}
	xml_append_child(r, x);
	reply(o, r);
	op_end(o);
}

static void
set_done(void *arg, PGresult *res, const char *err)
{
	struct op *o = arg;
	struct xml_node *vc = xml_first_elem(o->iq);
	char hash[41];

	if (res != NULL && o->c->user) {
		photo_hash(vc, hash);
		avatar_set(o->c->user->bare, xml_first_elem(vc) != NULL, hash);
	}
	if (!o->c->dead) {
		if (res == NULL) {
			log_warn("vcard: storing for %s failed: %s", o->c->full, err);
			iq_error(o->c, o->iq, "wait", "internal-server-error");
		} else {
			struct hook_args a = { .c = o->c, .n = vc };

			iq_reply(o->c, stanza_iq_result(o->iq));
			(void)hooks_run(EV_VCARD_STORED, &a);
		}
	}
	op_end(o);
}

/* XEP-0153 §4.1: hex SHA-1 of the decoded PHOTO/BINVAL, "" without one. */
static void
photo_hash(const struct xml_node *vc, char out[41])
{
	struct xml_node *photo = xml_child(vc, "PHOTO", NS_VCARD), *bin;
	char *text, *clean;
	uint8_t *raw, md[20];
	unsigned mdlen = 0;
	size_t n = 0;
	ssize_t len;

	out[0] = '\0';
	if (photo == NULL || (bin = xml_child(photo, "BINVAL", NS_VCARD)) == NULL)
		return;
	if ((text = xml_text(bin)) == NULL)
		return;
	/* base64 in vCards is usually wrapped: drop whitespace */
	clean = text;
	for (const char *p = text; *p; p++)
		if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
			clean[n++] = *p;
	clean[n] = '\0';
	if (n > 0 && (raw = malloc(n)) != NULL) {
		len = base64_decode(clean, n, raw, n);
		if (len > 0 && EVP_Digest(raw, (size_t)len, md, &mdlen, EVP_sha1(), NULL) == 1)
			hex_encode(md, sizeof(md), out);
		free(raw);
	}
	free(text);
}

static void
do_set(struct c2s *c, struct xml_node *n, struct xml_node *vc)
{
	struct buf b;
	char hash[41];
	const char *v[4];
	struct op *o;
	bool empty = xml_first_elem(vc) == NULL;

	buf_init(&b);
	if (xml_serialize(&b, vc, NS_CLIENT) == -1) {
		iq_error(c, n, "wait", "resource-constraint");
		goto out;
	}
	if (b.len > vcard_cfg()->max_size) {
		iq_error(c, n, "modify", "not-acceptable");
		log_info("c2s %llu: %s: vCard of %zu bytes refused (max_size %zu)",
		    (unsigned long long)c->id, c->full, b.len, vcard_cfg()->max_size);
		goto out;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		iq_error(c, n, "wait", "resource-constraint");
		goto out;
	}
	photo_hash(vc, hash);
	o->c = c;
	o->iq = n;
	n = NULL;
	c2s_block(c);
	v[0] = srv.cfg->hosts[c->host];
	v[1] = c->local;
	v[2] = b.p;
	v[3] = hash;
	/* an empty vCard deletes it (what clients send to clear a profile) */
	if (db_query_key(srv.db, c->user->bare, empty ? &st_del : &st_set, v,
	    set_done, o) == NULL) {
		iq_error(c, o->iq, "wait", "resource-constraint");
		op_end(o);
	}
out:
	buf_free(&b);
	xml_free(n);
}

static void
do_get(struct c2s *c, struct xml_node *n, int host, const char *local)
{
	struct op *o = calloc(1, sizeof(*o));
	const char *v[2] = { srv.cfg->hosts[host], local };
	char key[2 * JID_PART_MAX + 2];

	if (o == NULL) {
		if (c)
			iq_error(c, n, "wait", "resource-constraint");
		else
			stanza_bounce(n, "wait", "resource-constraint");
		xml_free(n);
		return;
	}
	o->c = c;
	o->iq = n;
	if (c)
		c2s_block(c);
	snprintf(key, sizeof(key), "%s@%s", local, srv.cfg->hosts[host]);
	if (db_query_key(srv.db, key, &st_get, v, got, o) == NULL) {
		fail(o, "wait", "resource-constraint");
		op_end(o);
	}
}

static bool
vcard_iq(struct iq_req *r)
{
	struct c2s *c = r->c;
	struct xml_node *n = r->iq, *q = r->q;

	if (strcmp(stanza_type(n), "set") == 0)
		do_set(c, n, q);
	else
		do_get(c, n, c->host, c->local);
	return true;
}

static bool
vcard_deliver(struct iq_req *r)
{
	struct xml_node *n = r->iq;

	if (strcmp(stanza_type(n), "get") != 0) {
		/* only the account itself sets its vCard */
		if (strcmp(stanza_type(n), "set") == 0)
			stanza_bounce(n, "auth", "forbidden");
		xml_free(n);
		return true;
	}
	do_get(NULL, n, r->host, r->to->local);
	return true;
}

/* ---- XEP-0153 presence ---- */

struct hash_load {
	struct c2s *c;
	char *bare;
};

static void
hash_loaded(void *arg, PGresult *res, const char *err)
{
	struct hash_load *l = arg;
	struct avatar *a = hmap_get(&avatars, l->bare);

	if (res == NULL)
		log_warn("vcard: loading the avatar hash of %s failed: %s", l->bare, err);
	else if (a && !a->known)
		avatar_set(l->bare, PQntuples(res) > 0,
		    PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
	avatar_unref(l->bare);
	c2s_unblock(l->c);
	free(l->bare);
	free(l);
}

static void
vcard_session_start(struct c2s *c)
{
	const char *bare = c->user->bare;
	struct avatar *a = hmap_get(&avatars, bare);
	struct hash_load *l;
	const char *v[2];

	if (a == NULL) {
		if ((a = calloc(1, sizeof(*a))) == NULL)
			return;
		if (hmap_put(&avatars, bare, a) == -1) {
			free(a);
			return;
		}
	}
	a->refs++;		/* the session's */
	if (a->known || (l = calloc(1, sizeof(*l))) == NULL)
		return;
	if ((l->bare = strdup(bare)) == NULL) {
		free(l);
		return;
	}
	l->c = c;
	a->refs++;		/* the load's */
	c2s_block(c);
	v[0] = srv.cfg->hosts[c->host];
	v[1] = c->local;
	if (db_query_key(srv.db, bare, &st_hash, v, hash_loaded, l) == NULL) {
		avatar_unref(bare);
		c2s_unblock(c);
		free(l->bare);
		free(l);
	}
}

static void
vcard_session_end(struct c2s *c)
{
	if (c->user)
		avatar_unref(c->user->bare);
}

void
vcard_presence(struct c2s *c, struct xml_node *p)
{
	struct avatar *a = c->user ? hmap_get(&avatars, c->user->bare) : NULL;
	struct xml_node *x;

	/*
	 * A client's own <photo/> (a hash, or empty: no avatar) is left alone;
	 * an <x/> without one ("not ready", XEP-0153 §4.2) gets ours, as
	 * XEP-0398 §4 requires.
	 */
	if (a == NULL || !a->known || !a->has_vcard)
		return;
	if ((x = xml_child(p, "x", NS_VCARD_UPDATE)) != NULL) {
		if (xml_child(x, "photo", NS_VCARD_UPDATE) != NULL)
			return;
	} else if ((x = xml_add(p, "x", NS_VCARD_UPDATE)) == NULL) {
		return;
	}
	if (a->hash[0])
		xml_add_with_text(x, "photo", NULL, a->hash);
	else
		xml_add(x, "photo", NULL);
}

void
vcard_hash_update(const char *bare, const char *hash)
{
	avatar_set(bare, true, hash);
}

static void
vcard_cleanup(void)
{
	struct hmap_ent *e;
	size_t i;

	for (e = hmap_first(&avatars, &i); e; e = hmap_next(&avatars, e, &i))
		free(e->val);
	hmap_free(&avatars);
}

size_t
vcard_max_size(void)
{
	return vcard_cfg()->max_size;
}

static const struct iq_handler iqs[] = {
	{ "vCard", NS_VCARD, IQ_CLIENT, vcard_iq },
	{ "vCard", NS_VCARD, IQ_ACCOUNT, vcard_deliver },
	{ NULL, NULL, 0, NULL },
};

static const char *const features[] = { NS_VCARD, NULL };

struct module vcard_module = {
	.name = "vcard",
	.folder = "im",
	.config_load = vcard_config_load,
	.config_free = im_config_free,
	.iqs = iqs,
	.server_features = features,
	.session_bound = vcard_session_start,
	.session_unbound = vcard_session_end,
	.cleanup = vcard_cleanup,
};
