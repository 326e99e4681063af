/*
 * proxyconf — [proxy65].  See proxyconf.h.
 */
#include "proxyconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "jid.h"

#define DEFAULT_LISTEN "[::]:7777"

static int
load_listen(struct proxy_config *p, struct conf_table *t, struct conf_err *e)
{
	char *const *v;
	char err[256];
	size_t n = 0;
	int rc;

	if ((rc = conf_strarr(t, "listen", &v, &n, e)) == -1)
		return -1;
	if (rc == 1 && n == 0) {
		conf_errf(e, t, "listen", "at least one address");
		return -1;
	}
	if (n > 16) {
		conf_errf(e, t, "listen", "at most 16 addresses");
		return -1;
	}
	if ((p->listen = calloc(n ? n : 1, sizeof(*p->listen))) == NULL)
		return -1;
	for (size_t i = 0; i < (n ? n : 1); i++) {
		if (addr_parse(n ? v[i] : DEFAULT_LISTEN, -1, &p->listen[i], err,
		    sizeof(err)) == -1) {
			conf_errf(e, t, "listen", "%s", err);
			return -1;
		}
		if (p->listen[i].family == AF_UNIX) {
			conf_errf(e, t, "listen", "a TCP address (clients connect over the network)");
			return -1;
		}
	}
	p->nlisten = n ? n : 1;
	return 0;
}

static bool
valid_host(const char *h)
{
	size_t n = strlen(h);

	return n > 0 && n <= 253 && h[strspn(h, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:")] == '\0';
}

static int
load_limits(struct proxy_config *p, struct conf_table *t, struct conf_err *e)
{
	long long v;
	uint64_t sz;

#define INTKEY(key, field, lo, hi, def) do { v = def;			\
	if (conf_int(t, key, lo, hi, &v, e) == -1) return -1;		\
	p->field = (unsigned)v; } while (0)
	INTKEY("max_pending", max_pending, 1, 1000000, 1000);
	INTKEY("max_streams", max_streams, 1, 1000000, 1000);
	INTKEY("max_connections_per_ip", max_per_ip, 2, 1000000, 32);
	INTKEY("max_streams_per_user", max_per_user, 1, 1000000, 10);
#undef INTKEY
	p->pending_timeout_ms = 30;
	p->idle_timeout_ms = 300;
	if (conf_duration_range(t, "pending_timeout", 1, 600, &p->pending_timeout_ms, e) == -1 ||
	    conf_duration_range(t, "idle_timeout", 1, 86400, &p->idle_timeout_ms, e) == -1)
		return -1;
	p->pending_timeout_ms *= 1000;
	p->idle_timeout_ms *= 1000;
	if (conf_size(t, "rate", &p->rate, e) == -1 ||
	    conf_size(t, "total_rate", &p->total_rate, e) == -1 ||
	    conf_size(t, "max_transfer_size", &p->max_transfer, e) == -1)
		return -1;
	if ((p->rate && p->rate < 1024) || p->rate > (1ULL << 40)) {
		conf_errf(e, t, "rate", "0 (off) or between 1K and 1T bytes per second");
		return -1;
	}
	if ((p->total_rate && p->total_rate < 1024) || p->total_rate > (1ULL << 40)) {
		conf_errf(e, t, "total_rate", "0 (off) or between 1K and 1T bytes per second");
		return -1;
	}
	sz = 64 * 1024;
	if (conf_size(t, "buffer_size", &sz, e) == -1)
		return -1;
	if (sz < 4096 || sz > 1024 * 1024) {
		conf_errf(e, t, "buffer_size", "must be between 4K and 1M");
		return -1;
	}
	p->buffer_size = (size_t)sz;
	sz = 0;
	if (conf_size(t, "socket_buffer", &sz, e) == -1)
		return -1;
	if (sz != 0 && (sz < 4096 || sz > 64 * 1024 * 1024)) {
		conf_errf(e, t, "socket_buffer", "0 (the kernel's autotuning) or between 4K and 64M");
		return -1;
	}
	p->socket_buffer = (unsigned)sz;
	return 0;
}

int
proxy_config_load(struct proxy_config *p, struct conf_table *root,
    struct conf_err *e)
{
	struct conf_table *t;
	const char *relay = NULL;
	char dom[JID_PART_MAX + 1];
	long long port;
	int rc;

	memset(p, 0, sizeof(*p));
	t = conf_table(root, "proxy65", e, &rc);
	if (rc <= 0)
		return rc;
	if (conf_str(t, "service", &p->service, e) == -1 ||
	    conf_str(t, "host", &p->host, e) == -1 ||
	    conf_str(t, "relay", &relay, e) == -1 ||
	    load_listen(p, t, e) == -1 || load_limits(p, t, e) == -1)
		return -1;
	if (p->service && (jid_domain_prep(p->service, dom) == -1 ||
	    strcmp(dom, p->service) != 0)) {
		conf_errf(e, t, "service", "not a normalised domain \"%s\"", p->service);
		return -1;
	}
	if (p->host && !valid_host(p->host)) {
		conf_errf(e, t, "host", "a host name or IP address clients connect to");
		return -1;
	}
	port = addr_port(&p->listen[0]);
	if (conf_int(t, "port", 1, 65535, &port, e) == -1)
		return -1;
	p->port = (unsigned)port;
	p->relay = PROXY_RELAY_SPLICE;
	if (relay && strcmp(relay, "copy") == 0)
		p->relay = PROXY_RELAY_COPY;
	else if (relay && strcmp(relay, "splice") != 0) {
		conf_errf(e, t, "relay", "\"splice\" or \"copy\"");
		return -1;
	}
	p->enabled = true;
	return 0;
}

void
proxy_config_free(struct proxy_config *p)
{
	free(p->listen);
	memset(p, 0, sizeof(*p));
}
