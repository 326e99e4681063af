/*
 * config — reads and validates dumbclient-redirect's TOML file.
 *
 *   ports = ["5222", "5269"]          redirected TCP ports (kept as is)
 *   listen = ["198.51.100.1", ...]    this host's addresses to catch them on
 *   target = ["192.0.2.1", ...]       the XMPP host, or instead:
 *   domain = "example.org"            _xmpp-client/_xmpp-server SRV lookups
 *   nameserver = "127.0.0.1:53"       resolver to ask (default resolv.conf)
 *   snat_to = [...]                   source address (default masquerade)
 *   min_ttl / max_ttl / retry / dns_timeout, user, log_level, table
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
redirect_port_is_s2s(uint16_t port)
{
	return port == 5269;
}

static int
get_ports(struct conf_table *t, struct redirect_conf *c, struct conf_err *e)
{
	char *const *v;
	size_t n, i, j;
	int rc;

	c->ports[0] = 5222;
	c->ports[1] = 5269;
	c->nports = 2;
	if ((rc = conf_strarr(t, "ports", &v, &n, e)) <= 0)
		return rc;
	if (n == 0 || n > REDIRECT_MAX_PORTS) {
		conf_errf(e, t, "ports", "expected 1 to %d ports",
		    REDIRECT_MAX_PORTS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		char *end;
		unsigned long p = strtoul(v[i], &end, 10);

		if (end == v[i] || *end != '\0' || p < 1 || p > 65535) {
			conf_errf(e, t, "ports", "\"%s\" is not a port", v[i]);
			return -1;
		}
		c->ports[i] = (uint16_t)p;
		for (j = 0; j < i; j++)
			if (c->ports[j] == c->ports[i]) {
				conf_errf(e, t, "ports", "%lu listed twice", p);
				return -1;
			}
	}
	c->nports = n;
	return 1;
}

static int
get_addrs(struct conf_table *t, const char *key, struct nft_ip *out,
    size_t max, size_t *n, bool per_family, struct conf_err *e)
{
	char *const *v;
	size_t i, j, cnt;
	int rc;

	*n = 0;
	if ((rc = conf_strarr(t, key, &v, &cnt, e)) <= 0)
		return rc;
	if (cnt == 0 || cnt > max) {
		conf_errf(e, t, key, "expected 1 to %zu addresses%s", max,
		    per_family ? " (one IPv4, one IPv6)" : "");
		return -1;
	}
	for (i = 0; i < cnt; i++) {
		if (nft_ip_parse(v[i], &out[i]) < 0) {
			conf_errf(e, t, key, "\"%s\" is not an IPv4 or IPv6 "
			    "address", v[i]);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (per_family ? out[j].family == out[i].family :
			    nft_ip_equal(&out[i], &out[j])) {
				conf_errf(e, t, key, per_family ? "more than one "
				    "address of a family" : "address listed twice");
				return -1;
			}
	}
	*n = cnt;
	return 1;
}

static void
by_family(const struct nft_ip *v, size_t n, struct nft_ip *v4, struct nft_ip *v6)
{
	for (size_t i = 0; i < n; i++)
		*(v[i].family == AF_INET ? v4 : v6) = v[i];
}

static int
get_nameserver(struct conf_table *t, struct redirect_conf *c,
    struct conf_err *e)
{
	const char *s = NULL;
	char host[64];
	const char *colon;
	unsigned long port = 53;
	int rc;

	if ((rc = conf_str(t, "nameserver", &s, e)) <= 0)
		return rc;
	colon = strchr(s, ':');
	if (colon) {
		char *end;

		port = strtoul(colon + 1, &end, 10);
		if (end == colon + 1 || *end || port < 1 || port > 65535)
			goto bad;
	}
	snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - s) :
	    (int)strlen(s), s);
	memset(&c->nameserver, 0, sizeof(c->nameserver));
	c->nameserver.sin_family = AF_INET;
	c->nameserver.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &c->nameserver.sin_addr) != 1)
		goto bad;
	c->has_nameserver = true;
	return 1;
bad:
	conf_errf(e, t, "nameserver", "\"%s\": expected IPV4[:PORT] (for "
	    "IPv6 resolvers use /etc/resolv.conf)", s);
	return -1;
}

static int
get_limits(struct conf_table *t, struct redirect_conf *c, struct conf_err *e)
{
	c->min_ttl = 30;
	c->max_ttl = 3600;
	c->retry = 30;
	c->dns_timeout = 2;
	if (conf_duration(t, "min_ttl", &c->min_ttl, e) < 0 ||
	    conf_duration(t, "max_ttl", &c->max_ttl, e) < 0 ||
	    conf_duration(t, "retry", &c->retry, e) < 0 ||
	    conf_duration(t, "dns_timeout", &c->dns_timeout, e) < 0)
		return -1;
	if (c->min_ttl < 1 || c->max_ttl < c->min_ttl || c->max_ttl > 86400) {
		conf_errf(e, t, "max_ttl", "need 1s <= min_ttl <= max_ttl <= 1d");
		return -1;
	}
	if (c->retry < 1 || c->retry > 86400) {
		conf_errf(e, t, "retry", "between 1s and 1d");
		return -1;
	}
	if (c->dns_timeout < 1 || c->dns_timeout > 30) {
		conf_errf(e, t, "dns_timeout", "between 1s and 30s");
		return -1;
	}
	return 0;
}

static int
parse(struct conf_table *root, struct redirect_conf *c, struct conf_err *e)
{
	const char *table = REDIRECT_DEFAULT_TABLE, *domain = NULL, *user = NULL;
	const char *level = NULL;
	struct nft_ip v[2];
	size_t n, i;
	int rc;

	if (conf_str(root, "table", &table, e) < 0)
		return -1;
	for (i = 0; table[i]; i++)
		if (!((table[i] >= 'a' && table[i] <= 'z') ||
		    (table[i] >= '0' && table[i] <= '9') || table[i] == '_' ||
		    table[i] == '-'))
			break;
	if (table[i] != '\0' || i == 0 || i > 32) {
		conf_errf(e, root, "table", "use 1-32 of a-z, 0-9, '_', '-'");
		return -1;
	}
	if ((c->table = strdup(table)) == NULL)
		goto oom;
	if (get_ports(root, c, e) < 0)
		return -1;
	if (get_addrs(root, "listen", c->listen, REDIRECT_MAX_LISTEN,
	    &c->nlisten, false, e) < 0)
		return -1;
	if ((rc = get_addrs(root, "target", v, 2, &n, true, e)) < 0)
		return -1;
	if (rc > 0) {
		c->has_static = true;
		by_family(v, n, &c->target.client4, &c->target.client6);
		c->target.server4 = c->target.client4;
		c->target.server6 = c->target.client6;
	}
	if (conf_str(root, "domain", &domain, e) < 0)
		return -1;
	if (domain && c->has_static) {
		conf_errf(e, root, "domain", "give either target or domain");
		return -1;
	}
	if (!domain && !c->has_static) {
		conf_errf(e, root, "target", "missing: give target (addresses "
		    "of the XMPP host) or domain (to follow its SRV records)");
		return -1;
	}
	if (domain && (strlen(domain) == 0 || strlen(domain) > 200 ||
	    strspn(domain, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-.") != strlen(domain))) {
		conf_errf(e, root, "domain", "\"%s\" is not a domain name", domain);
		return -1;
	}
	if (domain && (c->domain = strdup(domain)) == NULL)
		goto oom;
	if (get_nameserver(root, c, e) < 0 || get_limits(root, c, e) < 0)
		return -1;
	if ((rc = get_addrs(root, "snat_to", v, 2, &n, true, e)) < 0)
		return -1;
	by_family(v, n, &c->snat4, &c->snat6);
	if (conf_str(root, "user", &user, e) < 0)
		return -1;
	if (user && user[0] && (c->user = strdup(user)) == NULL)
		goto oom;
	c->log_level = LOG_LVL_INFO;
	if (conf_str(root, "log_level", &level, e) < 0)
		return -1;
	if (level && log_level_parse(level, &c->log_level) < 0) {
		conf_errf(e, root, "log_level", "\"%s\": expected err, warn, "
		    "notice, info or debug", level);
		return -1;
	}
	if (metrics_conf_load(root, &c->metrics, e) < 0)
		return -1;
	return conf_check_unused(root, e);
oom:
	snprintf(e->msg, sizeof(e->msg), "out of memory");
	return -1;
}

struct redirect_conf *
redirect_conf_load(const char *path, struct conf_err *e)
{
	struct redirect_conf *c;
	struct conf_doc *doc;

	memset(e, 0, sizeof(*e));
	if ((doc = conf_parse_file(path, 0, e)) == NULL)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->file = strdup(path)) == NULL) {
		snprintf(e->msg, sizeof(e->msg), "%s: out of memory", path);
		free(c);
		conf_free(doc);
		return NULL;
	}
	if (parse(doc->root, c, e) < 0) {
		redirect_conf_free(c);
		c = NULL;
	}
	conf_free(doc);
	return c;
}

void
redirect_conf_free(struct redirect_conf *c)
{
	if (c == NULL)
		return;
	free(c->file);
	free(c->table);
	free(c->domain);
	free(c->user);
	free(c);
}
