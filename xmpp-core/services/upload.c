/*
 * upload — XEP-0363 slots for upload-gw.  See upload.h.
 */
#include "form.h"
#include "upload.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "log.h"
#include "registry.h"
#include "svcconf.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define NAME_MAX_DEC 200
#define TYPE_MAX 255
#define DEFAULT_TYPE "application/octet-stream"

static bool
is_service(const char *domain, char *hostbuf, size_t hostlen)
{
	const struct svc_config *sc = upload_cfg();

	if (!sc->upload)
		return false;
	if (sc->upload_service)
		return strcmp(domain, sc->upload_service) == 0;
	if (strncmp(domain, "upload.", 7) != 0 || router_host_index(domain + 7) < 0)
		return false;
	snprintf(hostbuf, hostlen, "%s", domain + 7);
	return true;
}

static void
upload_disco_items(struct xml_node *query, int hostidx)
{
	const char *host = srv.cfg->hosts[hostidx];
	const struct svc_config *sc = upload_cfg();
	char jid[JID_PART_MAX + 1];
	struct xml_node *it;

	if (!sc->upload)
		return;
	if (sc->upload_service)
		snprintf(jid, sizeof(jid), "%s", sc->upload_service);
	else
		snprintf(jid, sizeof(jid), "upload.%s", host);
	if ((it = xml_add(query, "item", NULL)) != NULL) {
		xml_set_attr(it, "jid", jid);
		xml_set_attr(it, "name", "HTTP File Upload");
	}
}

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool
unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

void
upload_name(const char *in, char *out, size_t outlen, char *dec, size_t declen)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *base = in, *p;
	size_t n = 0, o = 0, len;

	for (p = in; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	len = strlen(base);
	/* keep the end (the extension), starting on a UTF-8 lead byte */
	if (len > NAME_MAX_DEC) {
		base += len - NAME_MAX_DEC;
		while (((unsigned char)*base & 0xC0) == 0x80)
			base++;
	}
	for (p = base; *p && n + 1 < declen && o + 4 < outlen; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f)
			continue;
		/* what upload-gw refuses as a stored name: a hidden name (its
		 * own temporary files are dot names) and an escape left after
		 * the one decoding of the URL ("100%25" stored as is) */
		if ((c == '.' && n == 0) || (c == '%' && is_hex(p[1]) && is_hex(p[2])))
			c = '_';
		dec[n++] = (char)c;
		if (unreserved(c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	dec[n] = '\0';
	out[o] = '\0';
	if (n == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		snprintf(dec, declen, "file");
		snprintf(out, outlen, "file");
	}
}

int
upload_mac(const char *secret, const char *path, uint64_t size,
    const char *type, char out[65])
{
	char num[24];
	size_t pl = strlen(path), nl, tl = type ? strlen(type) : 0, len;
	uint8_t mac[HMAC_SHA256_LEN];
	char *msg;
	int rc;

	/* upload-gw/mac.c: path SEP size [SEP type], SEP ' ' (v) or NUL (v2) */
	nl = (size_t)snprintf(num, sizeof(num), "%" PRIu64, size);
	len = pl + 1 + nl + (type ? 1 + tl : 0);
	if ((msg = malloc(len)) == NULL)
		return -1;
	memcpy(msg, path, pl);
	msg[pl] = type ? '\0' : ' ';
	memcpy(msg + pl + 1, num, nl);
	if (type) {
		msg[pl + 1 + nl] = '\0';
		memcpy(msg + pl + 2 + nl, type, tl);
	}
	rc = hmac_sha256(secret, strlen(secret), msg, len, mac);
	free(msg);
	if (rc < 0)
		return -1;
	hex_encode(mac, sizeof(mac), out);
	return 0;
}

static void
reply(struct xml_node *r)
{
	if (r)
		router_route(r);
}

static void
info(const struct xml_node *iq)
{
	const struct svc_config *sc = upload_cfg();
	struct xml_node *r = stanza_iq_result(iq), *q, *id, *x;
	char max[24];

	if (r == NULL)
		return;
	q = xml_add(r, "query", NS_DISCO_INFO);
	id = xml_add(q, "identity", NULL);
	xml_set_attr(id, "category", "store");
	xml_set_attr(id, "type", "file");
	xml_set_attr(id, "name", "HTTP File Upload");
	xml_set_attr(xml_add(q, "feature", NULL), "var", NS_DISCO_INFO);
	xml_set_attr(xml_add(q, "feature", NULL), "var", NS_DISCO_ITEMS);
	xml_set_attr(xml_add(q, "feature", NULL), "var", NS_UPLOAD);
	/* XEP-0363 §3: the size limit as an XEP-0128 form */
	x = xml_add(q, "x", "jabber:x:data");
	xml_set_attr(x, "type", "result");
	form_field(x, "FORM_TYPE", "hidden", NULL, NS_UPLOAD);
	snprintf(max, sizeof(max), "%" PRIu64, sc->upload_max);
	form_field(x, "max-file-size", NULL, NULL, max);
	reply(r);
}

static void
too_large(const struct xml_node *iq)
{
	struct xml_node *r = stanza_error(iq, "modify", "not-acceptable",
	    "File too large"), *e, *ftl;
	char max[24];

	if (r == NULL)
		return;
	/* XEP-0363 §4.1: the limit travels with the error */
	if ((e = xml_child(r, "error", NULL)) != NULL &&
	    (ftl = xml_add(e, "file-too-large", NS_UPLOAD)) != NULL) {
		snprintf(max, sizeof(max), "%" PRIu64, upload_cfg()->upload_max);
		xml_add_with_text(ftl, "max-file-size", NULL, max);
	}
	reply(r);
}

static bool
valid_type(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > TYPE_MAX || strchr(t, '/') == NULL)
		return false;
	for (; *t; t++)
		if ((unsigned char)*t < 0x20 || (unsigned char)*t >= 0x7f)
			return false;
	return true;
}

static void
slot(const struct xml_node *iq, const struct xml_node *rq)
{
	const struct svc_config *sc = upload_cfg();
	const char *fname = xml_attr(rq, "filename"), *size_s = xml_attr(rq, "size");
	const char *type = xml_attr(rq, "content-type");
	char enc[3 * NAME_MAX_DEC + 8], dec[NAME_MAX_DEC + 8], dir[33];
	char path[sizeof(dir) + sizeof(dec)], mac[65];
	struct xml_node *r, *s, *put;
	struct buf url;
	unsigned long long size;
	char *end;

	if (fname == NULL || size_s == NULL || size_s[0] < '0' || size_s[0] > '9' ||
	    (size = strtoull(size_s, &end, 10), *end != '\0') ||
	    (type && type[0] && !valid_type(type))) {
		stanza_bounce(iq, "modify", "bad-request");
		return;
	}
	if (size == 0) {
		stanza_bounce(iq, "modify", "bad-request");
		return;
	}
	if (size > sc->upload_max) {
		too_large(iq);
		return;
	}
	if (type == NULL || type[0] == '\0')
		type = DEFAULT_TYPE;
	upload_name(fname, enc, sizeof(enc), dec, sizeof(dec));
	if (random_hex(dir, 16) == -1) {
		stanza_bounce(iq, "wait", "internal-server-error");
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, dec);
	if (upload_mac(sc->upload_secret, path, size, sc->upload_v2 ? type : NULL,
	    mac) == -1 || (r = stanza_iq_result(iq)) == NULL) {
		stanza_bounce(iq, "wait", "resource-constraint");
		return;
	}
	s = xml_add(r, "slot", NS_UPLOAD);
	buf_init(&url);
	buf_printf(&url, "%s%s/%s?%s=%s", sc->upload_url, dir, enc,
	    sc->upload_v2 ? "v2" : "v", mac);
	put = xml_add(s, "put", NULL);
	xml_set_attr(put, "url", url.p ? url.p : "");
	buf_reset(&url);
	buf_printf(&url, "%s%s/%s", sc->upload_url, dir, enc);
	xml_set_attr(xml_add(s, "get", NULL), "url", url.p ? url.p : "");
	buf_free(&url);
	explicit_bzero(mac, sizeof(mac));
	log_info("upload: slot %s/%s (%llu bytes) for %s", dir, dec, size,
	    xml_attr(iq, "from"));
	reply(r);
}

static bool
upload_route(struct xml_node *n, const struct jid *to)
{
	char host[JID_PART_MAX + 1] = "";
	struct xml_node *q = xml_first_elem(n);
	const char *type = stanza_type(n);
	struct jid from;

	if (to->local[0] || !is_service(to->domain, host, sizeof(host)))
		return false;
	if (strcmp(n->name, "iq") != 0) {
		/* messages to the service bounce; presence is ignored */
		if (strcmp(n->name, "message") == 0)
			stanza_bounce(n, "cancel", "service-unavailable");
		xml_free(n);
		return true;
	}
	if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0) {
		xml_free(n);
		return true;
	}
	if (to->resource[0] || q == NULL || xml_next_elem(q) != NULL) {
		stanza_bounce(n, "cancel", to->resource[0] ? "service-unavailable" :
		    "bad-request");
	} else if (strcmp(type, "get") == 0 && xml_is(q, "query", NS_DISCO_INFO) &&
	    xml_attr(q, "node") == NULL) {
		info(n);
	} else if (strcmp(type, "get") == 0 && xml_is(q, "query", NS_DISCO_ITEMS) &&
	    xml_attr(q, "node") == NULL) {
		struct xml_node *r = stanza_iq_result(n);

		if (r)
			xml_add(r, "query", NS_DISCO_ITEMS);
		reply(r);
	} else if (strcmp(type, "get") == 0 && xml_is(q, "request", NS_UPLOAD)) {
		/* only this server's accounts get slots */
		if (stanza_jid(n, "from", &from) != 1 || router_host_index(from.domain) < 0)
			stanza_bounce(n, "cancel", "not-allowed");
		else
			slot(n, q);
	} else {
		stanza_bounce(n, "cancel", "service-unavailable");
	}
	xml_free(n);
	return true;
}

static enum hook_rc
route_hook(struct hook_args *a)
{
	return upload_route(a->n, a->to) ? HOOK_TAKEN : HOOK_NEXT;
}

static const struct hook hooks[] = {
	{ EV_ROUTE, 0, route_hook },
	{ EV_MAX, 0, NULL },
};

struct module upload_module = {
	.name = "upload",
	.folder = "services",
	.config_load = upload_config_load,
	.config_free = svc_module_config_free,
	.hooks = hooks,
	.disco_items = upload_disco_items,
};
