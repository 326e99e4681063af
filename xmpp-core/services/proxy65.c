/*
 * proxy65 — the proxy's service JID: discovery, streamhost, activation.
 * See proxy65.h.
 */
#include "proxy65.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "bytestream.h"
#include "crypto.h"
#include "log.h"
#include "proxyconf.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define NAME "SOCKS5 Bytestreams Service"

int
proxy65_hash(const char *sid, const char *initiator, const char *target,
    char out[41])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t md[20];
	unsigned mdlen = 0;
	int ok;

	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, sid, strlen(sid)) == 1 &&
	    EVP_DigestUpdate(ctx, initiator, strlen(initiator)) == 1 &&
	    EVP_DigestUpdate(ctx, target, strlen(target)) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == sizeof(md);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	hex_encode(md, sizeof(md), out);
	return 0;
}

/* The service JID of host (into jid). */
static void
service_of(const char *host, char *jid, size_t len)
{
	const struct proxy_config *pc = proxy_cfg();

	if (pc->service)
		snprintf(jid, len, "%s", pc->service);
	else
		snprintf(jid, len, "proxy.%s", host);
}

static bool
is_service(const char *domain)
{
	const struct proxy_config *pc = proxy_cfg();

	if (!pc->enabled)
		return false;
	if (pc->service)
		return strcmp(domain, pc->service) == 0;
	return strncmp(domain, "proxy.", 6) == 0 && router_host_index(domain + 6) >= 0;
}

static void
proxy65_disco_items(struct xml_node *query, int hostidx)
{
	const char *host = srv.cfg->hosts[hostidx];
	char jid[JID_PART_MAX + 1];
	struct xml_node *it;

	if (!proxy_cfg()->enabled || !bytestream_listening())
		return;
	service_of(host, jid, sizeof(jid));
	if ((it = xml_add(query, "item", NULL)) != NULL) {
		xml_set_attr(it, "jid", jid);
		xml_set_attr(it, "name", NAME);
	}
}

static void
reply(struct xml_node *r)
{
	if (r)
		router_route(r);
}

static void
fail(const struct xml_node *iq, const char *type, const char *cond, const char *text)
{
	if (strcmp(stanza_type(iq), "error") != 0)
		reply(stanza_error(iq, type, cond, text));
}

static void
info(const struct xml_node *iq)
{
	struct xml_node *r = stanza_iq_result(iq), *q, *id;

	if (r == NULL)
		return;
	q = xml_add(r, "query", NS_DISCO_INFO);
	id = xml_add(q, "identity", NULL);
	xml_set_attr(id, "category", "proxy");
	xml_set_attr(id, "type", "bytestreams");
	xml_set_attr(id, "name", NAME);
	xml_set_attr(xml_add(q, "feature", NULL), "var", NS_DISCO_INFO);
	xml_set_attr(xml_add(q, "feature", NULL), "var", NS_DISCO_ITEMS);
	xml_set_attr(xml_add(q, "feature", NULL), "var", NS_BYTESTREAMS);
	reply(r);
}

/* XEP-0065 §4: the network address of the proxy. */
static void
streamhost(const struct xml_node *iq, const char *service)
{
	const struct proxy_config *pc = proxy_cfg();
	struct xml_node *r, *sh;
	char port[8];

	if (!bytestream_listening()) {
		/* §4: a proxy unable to act as a StreamHost says not-allowed */
		fail(iq, "cancel", "not-allowed", "The proxy is not listening yet");
		return;
	}
	if ((r = stanza_iq_result(iq)) == NULL)
		return;
	sh = xml_add(xml_add(r, "query", NS_BYTESTREAMS), "streamhost", NULL);
	snprintf(port, sizeof(port), "%u", pc->port);
	xml_set_attr(sh, "jid", service);
	xml_set_attr(sh, "host", pc->host ? pc->host : service);
	xml_set_attr(sh, "port", port);
	reply(r);
}

static char *
trimmed_text(const struct xml_node *n)
{
	char *t = xml_text(n), *s, *e;

	if (t == NULL)
		return NULL;
	for (s = t; *s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'; s++)
		;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	*e = '\0';
	memmove(t, s, (size_t)(e - s) + 1);
	return t;
}

/* XEP-0065 §6.3.5: the initiator asks to start relaying. */
static void
activate(const struct xml_node *iq, const struct xml_node *q, const struct jid *from)
{
	static const struct { const char *type, *cond, *text; } errs[] = {
		[BS_NOT_FOUND] = { "cancel", "item-not-found",
		    "No bytestream of yours with that sid and target" },
		[BS_ONE_SIDE] = { "cancel", "not-allowed",
		    "Only one party is connected to the proxy" },
		[BS_ALREADY_ACTIVE] = { "cancel", "conflict", "The bytestream is already active" },
		[BS_LIMIT] = { "wait", "resource-constraint", "Too many active bytestreams" },
		[BS_USER_LIMIT] = { "wait", "resource-constraint",
		    "Too many active bytestreams of yours" },
		[BS_FAILED] = { "wait", "internal-server-error", NULL },
	};
	const char *sid = xml_attr(q, "sid");
	struct xml_node *a = xml_child(q, "activate", NS_BYTESTREAMS);
	char fbuf[JID_STR_MAX + 1], tbuf[JID_STR_MAX + 1], bare[JID_STR_MAX + 1];
	char hash[41], *text, *desc;
	struct jid *target;
	enum bytestream_result rc;
	size_t n;

	if (sid == NULL || sid[0] == '\0' || a == NULL) {
		fail(iq, "modify", "bad-request", sid == NULL || sid[0] == '\0' ?
		    "No sid" : "No <activate/>");
		return;
	}
	if ((text = trimmed_text(a)) == NULL || (target = malloc(sizeof(*target))) == NULL) {
		free(text);
		fail(iq, "wait", "internal-server-error", NULL);
		return;
	}
	if (jid_parse(text, target) == -1) {
		free(text);
		free(target);
		fail(iq, "modify", "jid-malformed", "<activate/> is not a JID");
		return;
	}
	free(text);
	/* §5.3.2: the JIDs of the IQ exchange, normalised, as the parties hash */
	jid_full(from, fbuf, sizeof(fbuf));
	jid_full(target, tbuf, sizeof(tbuf));
	jid_bare(from, bare, sizeof(bare));
	free(target);
	n = strlen(fbuf) + strlen(tbuf) + 5;
	if (proxy65_hash(sid, fbuf, tbuf, hash) == -1 || (desc = malloc(n)) == NULL) {
		fail(iq, "wait", "internal-server-error", NULL);
		return;
	}
	snprintf(desc, n, "%s -> %s", fbuf, tbuf);
	rc = bytestream_activate(hash, bare, desc);
	if (rc == BS_ACTIVATED)
		reply(stanza_iq_result(iq));
	else {
		log_info("proxy65: activation of %s refused: %s", desc, errs[rc].cond);
		fail(iq, errs[rc].type, errs[rc].cond, errs[rc].text);
	}
	free(desc);
}

static void
iq(struct xml_node *n, const struct jid *to)
{
	struct xml_node *q = xml_first_elem(n);
	const char *type = stanza_type(n);
	bool get = strcmp(type, "get") == 0;
	char service[JID_PART_MAX + 1];
	struct jid from;

	if (!get && strcmp(type, "set") != 0)
		return;		/* results and errors end here */
	if (to->resource[0] || q == NULL || xml_next_elem(q) != NULL) {
		fail(n, "cancel", to->resource[0] ? "service-unavailable" : "bad-request", NULL);
	} else if (get && xml_is(q, "query", NS_DISCO_INFO) && xml_attr(q, "node") == NULL) {
		info(n);
	} else if (get && xml_is(q, "query", NS_DISCO_ITEMS) && xml_attr(q, "node") == NULL) {
		struct xml_node *r = stanza_iq_result(n);

		if (r)
			xml_add(r, "query", NS_DISCO_ITEMS);
		reply(r);
	} else if (!xml_is(q, "query", NS_BYTESTREAMS)) {
		fail(n, "cancel", "service-unavailable", NULL);
	} else if (stanza_jid(n, "from", &from) != 1 || router_host_index(from.domain) < 0 ||
	    from.local[0] == '\0') {
		/* ejabberd's access: local — §4: forbidden for who may not use it */
		fail(n, "auth", "forbidden", "Only local accounts may use this proxy");
	} else if (get) {
		snprintf(service, sizeof(service), "%s", to->domain);
		streamhost(n, service);
	} else {
		activate(n, q, &from);
	}
}

static bool
proxy65_route(struct xml_node *n, const struct jid *to)
{
	if (to->local[0] || !is_service(to->domain))
		return false;
	if (strcmp(n->name, "iq") == 0)
		iq(n, to);
	else if (strcmp(n->name, "message") == 0)
		fail(n, "cancel", "service-unavailable", NULL);
	/* presence to the service is ignored */
	xml_free(n);
	return true;
}

static enum hook_rc
route_hook(struct hook_args *a)
{
	return proxy65_route(a->n, a->to) ? HOOK_TAKEN : HOOK_NEXT;
}

static int
config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	if ((*cfg = calloc(1, sizeof(struct proxy_config))) == NULL)
		return -1;
	return proxy_config_load(*cfg, root, e);
}

static void
config_free(void *cfg)
{
	proxy_config_free(cfg);
	free(cfg);
}

static void
stats(struct buf *b)
{
	buf_printf(b, "proxy65_pending\t%zu\nproxy65_streams\t%zu\n",
	    bytestream_npending(), bytestream_nactive());
}

static const struct hook hooks[] = {
	{ EV_ROUTE, 0, route_hook },
	{ EV_MAX, 0, NULL },
};

/* The service's JID (this file) and its SOCKS5 listeners (bytestream.c). */
struct module proxy65_module = {
	.name = "proxy65",
	.folder = "services",
	.config_load = config_load,
	.config_free = config_free,
	.hooks = hooks,
	.disco_items = proxy65_disco_items,
	.open = bytestream_open,
	.reload = bytestream_reload,
	.shutdown = bytestream_close,
	.cleanup = bytestream_cleanup,
	.stats = stats,
};
