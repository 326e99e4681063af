/*
 * webconf — [web].  See webconf.h.
 */
#include "webconf.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"

static const char *const default_listen[] = { "127.0.0.1:5080", "[::1]:5080" };

static int
load_listen(struct web_config *w, struct conf_table *t, struct conf_err *e)
{
	const char *const *v = default_listen;
	char *const *cv;
	char err[256];
	size_t n = 2;
	int rc;

	if ((rc = conf_strarr(t, "listen", &cv, &n, e)) == -1)
		return -1;
	if (rc == 1) {
		v = (const char *const *)cv;
		if (n == 0 || n > WEB_MAX_LISTEN) {
			conf_errf(e, t, "listen", "between 1 and %d addresses", WEB_MAX_LISTEN);
			return -1;
		}
	} else {
		n = 2;
	}
	for (size_t i = 0; i < n; i++) {
		if (addr_parse(v[i], -1, &w->listen[i], err, sizeof(err)) == -1) {
			conf_errf(e, t, "listen", "%s", err);
			return -1;
		}
		if (w->listen[i].family == AF_UNIX) {
			conf_errf(e, t, "listen", "a TCP address (\"%s\": the peer address "
			    "decides who is a trusted proxy)", v[i]);
			return -1;
		}
	}
	w->nlisten = n;
	return 0;
}

/* s:// or (plain) p://, then something a URL may hold; written into XML
 * and JSON verbatim, so nothing that would need escaping there. */
static bool
valid_url(const char *u, const char *s, const char *p)
{
	const char *rest;

	if (strncmp(u, s, strlen(s)) == 0)
		rest = u + strlen(s);
	else if (strncmp(u, p, strlen(p)) == 0)
		rest = u + strlen(p);
	else
		return false;
	if (*rest == '\0' || *rest == '/' || strlen(u) > 512)
		return false;
	for (; *rest; rest++)
		if ((unsigned char)*rest <= 0x20 || (unsigned char)*rest >= 0x7f ||
		    strchr("\"'<>\\`{}|^", *rest))
			return false;
	return true;
}

static int
load_proxies(struct web_config *w, struct conf_table *t, struct conf_err *e)
{
	char *const *v;
	size_t n = 0;
	int rc;

	if ((rc = conf_strarr(t, "trusted_proxies", &v, &n, e)) <= 0)
		return rc;
	if (n > WEB_MAX_PROXIES) {
		conf_errf(e, t, "trusted_proxies", "at most %d networks", WEB_MAX_PROXIES);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (addr_cidr_parse(v[i], &w->trusted[i]) == -1) {
			conf_errf(e, t, "trusted_proxies", "\"%s\" is not an address or a "
			    "network (192.0.2.1, 192.0.2.0/24, 2001:db8::/32)", v[i]);
			return -1;
		}
	}
	w->ntrusted = n;
	return 0;
}

int
web_config_load(struct web_config *w, struct conf_table *root, struct conf_err *e)
{
	struct conf_table *t;
	const char *url = NULL, *burl = NULL, *rh = NULL;
	long long v;
	int rc;

	memset(w, 0, sizeof(*w));
	t = conf_table(root, "web", e, &rc);
	if (rc <= 0)
		return rc;
	if (load_listen(w, t, e) == -1 || load_proxies(w, t, e) == -1 ||
	    conf_str(t, "websocket_url", &url, e) == -1 ||
	    conf_str(t, "bosh_url", &burl, e) == -1)
		return -1;
	if (burl && !valid_url(burl, "https://", "http://")) {
		conf_errf(e, t, "bosh_url", "an https:// or http:// URL with a host "
		    "(\"https://xmpp.example.org/bosh\"), not \"%s\"", burl);
		return -1;
	}
	if (burl && (w->bosh_url = strdup(burl)) == NULL)
		return -1;
	if (url && !valid_url(url, "wss://", "ws://")) {
		conf_errf(e, t, "websocket_url", "a ws:// or wss:// URL with a host "
		    "(\"wss://xmpp.example.org/ws\"), not \"%s\"", url);
		return -1;
	}
	if (url && (w->websocket_url = strdup(url)) == NULL)
		return -1;
	w->ping_after_ms = 60;
	w->ping_timeout_ms = 30;
	if (conf_duration_range(t, "ping_after", 1, 86400, &w->ping_after_ms, e) == -1 ||
	    conf_duration_range(t, "ping_timeout", 1, 3600, &w->ping_timeout_ms, e) == -1)
		return -1;
	w->ping_after_ms *= 1000;
	w->ping_timeout_ms *= 1000;
	v = 10000;
	if (conf_int(t, "max_connections", 1, 1000000, &v, e) == -1)
		return -1;
	w->max_connections = (unsigned)v;
	w->register_pages = true;
	if (conf_bool(t, "register_pages", &w->register_pages, e) == -1 ||
	    conf_str(t, "register_host", &rh, e) == -1)
		return -1;
	if (rh && (w->register_host = strdup(rh)) == NULL)
		return -1;
	w->enabled = true;
	return 0;
}

void
web_config_free(struct web_config *w)
{
	free(w->websocket_url);
	free(w->bosh_url);
	free(w->register_host);
	memset(w, 0, sizeof(*w));
}
