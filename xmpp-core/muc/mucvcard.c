/*
 * mucvcard — a room's vCard (vcard-temp on the room JID, as ejabberd
 * and Prosody serve it for room avatars, XEP-0486): anyone reads it,
 * owners set it ([muc] max_room_vcard bytes), a persistent room keeps
 * it in muc_room and answers the owner once it is stored.  A new photo
 * is announced to the occupants with a presence from the room carrying
 * its hash (vcard-temp:x:update) and status 104; the hash is also in
 * the room's muc#roominfo form.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "crypto.h"
#include "fragment.h"
#include "mucconf.h"
#include "mucint.h"
#include "mucroom.h"
#include "mucstore.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define NS_VCARD_TEMP	"vcard-temp"
#define NS_VCARD_UPDATE	"vcard-temp:x:update"

/* XEP-0153 §4.1: hex SHA-1 of the decoded PHOTO/BINVAL, "" without. */
void
mucvcard_hash(const struct xml_node *vc, char out[41])
{
	struct xml_node *ph = vc ? xml_child(vc, "PHOTO", NS_VCARD_TEMP) : NULL;
	struct xml_node *bin = ph ? xml_child(ph, "BINVAL", NS_VCARD_TEMP) : NULL;
	uint8_t md[EVP_MAX_MD_SIZE], *raw;
	unsigned mdlen = 0;
	char *text;
	size_t n = 0;
	ssize_t len;

	out[0] = '\0';
	if (bin == NULL || (text = xml_text(bin)) == NULL)
		return;
	for (const char *p = text; *p; p++)	/* base64 is often wrapped */
		if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
			text[n++] = *p;
	text[n] = '\0';
	if (n > 0 && (raw = malloc(n)) != NULL) {
		len = base64_decode(text, n, raw, n);
		if (len > 0 && EVP_Digest(raw, (size_t)len, md, &mdlen, EVP_sha1(),
		    NULL) == 1 && mdlen == 20)
			hex_encode(md, 20, out);
		free(raw);
	}
	free(text);
}

static void
announce(struct muc_room *r)
{
	struct xml_node *p = xml_new("presence", NS_CLIENT), *x, *u;

	if (p == NULL || (u = xml_add(p, "x", NS_VCARD_UPDATE)) == NULL ||
	    (x = xml_add(p, "x", NS_MUC_USER)) == NULL) {
		xml_free(p);
		return;
	}
	xml_set_attr(p, "from", r->jid);
	if (r->avatar[0])
		xml_add_with_text(u, "photo", NULL, r->avatar);
	else
		xml_add(u, "photo", NULL);
	xml_set_attr(xml_add(x, "status", NULL), "code", "104");
	mucroom_fanout(r, p, NULL);
	xml_free(p);
}

static void
get(struct muc_room *r, struct xml_node *n)
{
	struct xml_node *res = stanza_iq_result(n), *vc = NULL;

	if (res == NULL) {
		stanza_bounce(n, "wait", "resource-constraint");
		return;
	}
	if (r->vcard)
		vc = fragment_parse(r->vcard, strlen(r->vcard), NS_CLIENT);
	if (vc)
		xml_append_child(res, vc);
	else
		xml_add(res, "vCard", NS_VCARD_TEMP);
	router_route(res);
}

struct vset {
	struct xml_node *iq;
	char jid[];
};

static void
stored(void *arg, int rc)
{
	struct vset *v = arg;
	struct xml_node *res;

	if (rc != 0)
		stanza_bounce(v->iq, "wait", "internal-server-error");
	else if ((res = stanza_iq_result(v->iq)) != NULL)
		router_route(res);
	xml_free(v->iq);
	free(v);
}

static void
set(struct muc_room *r, struct xml_node *n, const struct xml_node *vc)
{
	const char *from = xml_attr(n, "from");
	char bare[2 * JID_PART_MAX + 2], hash[41];
	struct xml_node *res;
	struct vset *v;
	struct buf b;
	struct jid j;
	size_t len;

	if (from == NULL || jid_parse(from, &j) == -1 ||
	    mucroom_aff(r, jid_bare(&j, bare, sizeof(bare))) != MUC_AFF_OWNER) {
		stanza_bounce(n, "auth", "forbidden");
		return;
	}
	buf_init(&b);
	if (xml_serialize(&b, vc, NS_CLIENT) == -1 || b.len > muc_cfg()->max_room_vcard) {
		buf_free(&b);
		stanza_bounce(n, "modify", "not-acceptable");
		return;
	}
	mucvcard_hash(vc, hash);
	free(r->vcard);
	r->vcard = buf_steal(&b);
	buf_free(&b);
	if (strcmp(hash, r->avatar) != 0) {
		memcpy(r->avatar, hash, sizeof(hash));
		announce(r);
	}
	if (r->stored) {
		len = strlen(r->jid) + 1;
		if ((v = malloc(sizeof(*v) + len)) != NULL &&
		    (v->iq = xml_copy(n)) != NULL) {
			memcpy(v->jid, r->jid, len);
			if (mucstore_vcard(r, stored, v) == 0)
				return;
			xml_free(v->iq);
		}
		free(v);
		stanza_bounce(n, "wait", "resource-constraint");
		return;
	}
	if ((res = stanza_iq_result(n)) != NULL)
		router_route(res);
}

void
mucvcard_iq(struct muc_room *r, struct xml_node *n, const struct xml_node *q)
{
	if (strcmp(stanza_type(n), "get") == 0)
		get(r, n);
	else
		set(r, n, q);
	xml_free(n);
}
