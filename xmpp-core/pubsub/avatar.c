/*
 * avatar — XEP-0398.  See avatar.h.
 *
 * PEP -> vCard: on new metadata, the data item it names is read, the
 * stored vCard parsed, its PHOTO replaced (TYPE, BINVAL) and written back
 * with the hash, and the in-memory XEP-0153 hash updated (vcard.c).  An
 * empty <metadata/> (avatar disabled, XEP-0084 §4.2) removes the PHOTO.
 * vCard -> PEP: the photo's SHA-1 is the item id (XEP-0084 §4.1); data is
 * published first, then metadata.  Both directions write without going
 * through the other's hook, so a conversion never triggers another.
 */
#include "avatar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "c2s.h"
#include "crypto.h"
#include "db.h"
#include "fragment.h"
#include "log.h"
#include "pubsubconf.h"
#include "pubsub.h"
#include "router.h"
#include "server.h"
#include "vcard.h"
#include "xml.h"

static struct db_stmt st_data = {
	"SELECT i.payload, (SELECT data FROM vcard WHERE host = $3 AND username = $4) "
	"FROM pubsub_node n LEFT JOIN pubsub_item i ON i.node_id = n.id AND i.item_id = $2 "
	"WHERE n.service = $1 AND n.node = 'urn:xmpp:avatar:data' "
	"UNION ALL SELECT NULL, (SELECT data FROM vcard WHERE host = $3 AND username = $4) "
	"LIMIT 1", 4, 0 };
static struct db_stmt st_vcard = {
	"INSERT INTO vcard (host, username, data, avatar_hash) VALUES ($1, $2, $3, $4) "
	"ON CONFLICT (host, username) DO UPDATE SET data = $3, avatar_hash = $4", 4, 0 };

struct conv {
	struct ps_svc svc;
	char id[PS_ID_MAX + 1];
	char type[PS_TEXT_MAX + 1];
	bool disable;
	struct xml_node *meta;	/* vCard -> PEP: metadata, after data */
	struct c2s *c;		/* PEP -> vCard: the publisher, blocked until done */
};

static void
conv_free(struct conv *v)
{
	if (v->c)
		c2s_unblock(v->c);
	xml_free(v->meta);
	free(v);
}

/* base64 text without whitespace (malloc'd) */
static char *
b64_clean(const struct xml_node *n)
{
	char *t = xml_text(n);
	size_t k = 0;

	if (t == NULL)
		return NULL;
	for (const char *p = t; *p; p++)
		if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
			t[k++] = *p;
	t[k] = '\0';
	return t;
}

static void
vcard_got(void *arg, PGresult *res, const char *err)
{
	struct conv *v = arg;
	struct xml_node *vc = NULL, *data = NULL, *ph, *next;
	struct buf b;
	char *b64 = NULL;
	const char *w[4];

	if (res == NULL || PQntuples(res) == 0) {
		log_warn("avatar: %s: %s", v->svc.jid, err ? err : "no row");
		conv_free(v);
		return;
	}
	if (!v->disable) {
		const char *d = PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0);

		if (d[0] == '\0' || (data = fragment_parse(d, strlen(d), NS_PUBSUB)) == NULL ||
		    !xml_is(data, "data", NS_AVATAR_DATA) || (b64 = b64_clean(data)) == NULL) {
			/* metadata naming data we do not have (e.g. a URL avatar) */
			xml_free(data);
			conv_free(v);
			return;
		}
	}
	if (!PQgetisnull(res, 0, 1)) {
		const char *d = PQgetvalue(res, 0, 1);

		vc = fragment_parse(d, strlen(d), NS_CLIENT);
	}
	if (vc == NULL && (vc = xml_new("vCard", NS_VCARD)) == NULL)
		goto out;
	for (ph = xml_first_elem(vc); ph; ph = next) {
		next = xml_next_elem(ph);
		if (xml_is(ph, "PHOTO", NS_VCARD)) {
			xml_detach(ph);
			xml_free(ph);
		}
	}
	if (!v->disable && (ph = xml_add(vc, "PHOTO", NULL)) != NULL) {
		xml_add_with_text(ph, "TYPE", NULL, v->type[0] ? v->type : "image/png");
		xml_add_with_text(ph, "BINVAL", NULL, b64);
	}
	buf_init(&b);
	if (xml_serialize(&b, vc, NS_CLIENT) == 0 && b.len <= vcard_max_size()) {
		w[0] = srv.cfg->hosts[v->svc.host];
		w[1] = v->svc.local;
		w[2] = b.p;
		w[3] = v->disable ? "" : v->id;
		if (db_query_key(srv.db, v->svc.jid, &st_vcard, w, NULL, NULL) != NULL)
			vcard_hash_update(v->svc.jid, v->disable ? "" : v->id);
	} else {
		log_info("avatar: %s: the vCard with the avatar would be over max_size",
		    v->svc.jid);
	}
	buf_free(&b);
out:
	xml_free(vc);
	xml_free(data);
	free(b64);
	conv_free(v);
}

void
avatar_published(const struct ps_svc *svc, const char *node, const char *id,
    const struct xml_node *payload, struct c2s *c)
{
	struct xml_node *info = NULL;
	struct conv *v;
	const char *w[4], *iid, *type;

	(void)id;
	if (strcmp(node, NS_AVATAR_METADATA) != 0 ||
	    !xml_is(payload, "metadata", NS_AVATAR_METADATA))
		return;
	/* the first avatar stored in PEP (no url) */
	for (info = xml_first_elem(payload); info; info = xml_next_elem(info))
		if (xml_is(info, "info", NS_AVATAR_METADATA) && xml_attr(info, "url") == NULL &&
		    xml_attr(info, "id"))
			break;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return;
	v->svc = *svc;
	v->disable = xml_first_elem(payload) == NULL;
	if (!v->disable && info == NULL) {
		conv_free(v);
		return;
	}
	iid = info ? xml_attr(info, "id") : "";
	type = info ? xml_attr(info, "type") : NULL;
	if (strlen(iid) > PS_ID_MAX || (type && strlen(type) > PS_TEXT_MAX)) {
		conv_free(v);
		return;
	}
	snprintf(v->id, sizeof(v->id), "%s", iid);
	snprintf(v->type, sizeof(v->type), "%s", type ? type : "");
	w[0] = svc->jid;
	w[1] = v->id;
	w[2] = srv.cfg->hosts[svc->host];
	w[3] = svc->local;
	if (db_query_key(srv.db, svc->jid, &st_data, w, vcard_got, v) == NULL) {
		conv_free(v);
		return;
	}
	if ((v->c = c) != NULL)
		c2s_block(c);
}

/* ---- vCard -> PEP ---- */

static void
data_stored(void *arg, bool ok)
{
	struct conv *v = arg;
	struct ps_config cfg;

	if (ok) {
		ps_config_default(&cfg, true, NS_AVATAR_METADATA);
		pubsub_publish_internal(&v->svc, NS_AVATAR_METADATA, &cfg, v->id, v->meta,
		    NULL, NULL);
		v->meta = NULL;
	}
	conv_free(v);
}

static void
avatar_vcard_stored(struct c2s *c, const struct xml_node *vc)
{
	struct xml_node *ph = xml_child(vc, "PHOTO", NS_VCARD), *bin, *t, *data, *info;
	char *b64 = NULL, *type = NULL, hex[41], bytes[24];
	uint8_t *raw = NULL, md[20];
	unsigned mdlen = 0;
	ssize_t len;
	struct ps_config cfg;
	struct conv *v = NULL;

	if (c->user == NULL || ph == NULL || (bin = xml_child(ph, "BINVAL", NS_VCARD)) == NULL ||
	    xml_child(ph, "EXTVAL", NS_VCARD))
		return;
	if ((b64 = b64_clean(bin)) == NULL || b64[0] == '\0' ||
	    strlen(b64) > pubsub_cfg()->max_item_size || (raw = malloc(strlen(b64))) == NULL)
		goto out;
	if ((len = base64_decode(b64, strlen(b64), raw, strlen(b64))) <= 0 ||
	    EVP_Digest(raw, (size_t)len, md, &mdlen, EVP_sha1(), NULL) != 1)
		goto out;
	hex_encode(md, sizeof(md), hex);
	snprintf(bytes, sizeof(bytes), "%zd", len);
	t = xml_child(ph, "TYPE", NS_VCARD);
	type = t ? xml_text(t) : NULL;
	if ((v = calloc(1, sizeof(*v))) == NULL ||
	    (v->meta = xml_new("metadata", NS_AVATAR_METADATA)) == NULL ||
	    (info = xml_add(v->meta, "info", NULL)) == NULL ||
	    (data = xml_new("data", NS_AVATAR_DATA)) == NULL)
		goto out;
	xml_set_attr(info, "id", hex);
	xml_set_attr(info, "bytes", bytes);
	xml_set_attr(info, "type", type && type[0] && strlen(type) <= PS_TEXT_MAX ?
	    type : "image/png");
	xml_add_text(data, b64, strlen(b64));
	ps_svc_pep(&v->svc, c->host, c->local);
	snprintf(v->id, sizeof(v->id), "%s", hex);
	ps_config_default(&cfg, true, NS_AVATAR_DATA);
	pubsub_publish_internal(&v->svc, NS_AVATAR_DATA, &cfg, hex, data, data_stored, v);
	v = NULL;
out:
	if (v)
		conv_free(v);
	free(raw);
	free(b64);
	free(type);
}

static enum hook_rc
vcard_hook(struct hook_args *a)
{
	avatar_vcard_stored(a->c, a->n);
	return HOOK_NEXT;
}

static const struct hook hooks[] = {
	{ EV_VCARD_STORED, 0, vcard_hook },
	{ EV_MAX, 0, NULL },
};

static const char *const features[] = { "urn:xmpp:pep-vcard-conversion:0", NULL };

struct module avatar_module = {
	.name = "avatar",
	.folder = "pubsub",
	.hooks = hooks,
	.server_features = features,
};
