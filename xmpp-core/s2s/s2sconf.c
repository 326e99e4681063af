/*
 * s2sconf — [s2s] and [s2s.routes].  See s2sconf.h and README.md for
 * the keys; every limit has a default so an empty [s2s] federates.
 *
 * s2s is off unless [s2s] says enabled = true: a test or a private
 * server that never meant to federate must not start listening on 5269.
 */
#include "s2sconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "config.h"
#include "jid.h"

/* "host:port", "[v6]:port" or "host" (5269); "tls:" before it: direct TLS. */
static int
parse_target(const char *s, struct s2s_route *r)
{
	const char *colon, *end;
	char *ep;
	long port = 5269;
	size_t hl;

	if (strncmp(s, "tls:", 4) == 0) {
		r->direct_tls = true;
		s += 4;
	}
	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL)
			return -1;
		hl = (size_t)(end - s - 1);
		s++;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return -1;
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			return -1;	/* a bare IPv6 address needs brackets */
		hl = colon ? (size_t)(colon - s) : strlen(s);
	}
	if (hl == 0 || hl >= sizeof(r->host))
		return -1;
	memcpy(r->host, s, hl);
	r->host[hl] = '\0';
	if (colon) {
		port = strtol(colon + 1, &ep, 10);
		if (colon[1] == '\0' || *ep != '\0' || port < 1 || port > 65535)
			return -1;
	}
	r->port = (int)port;
	return 0;
}

static int
get_routes(struct s2s_config *c, struct conf_table *s2s, struct conf_err *e)
{
	struct conf_table *t;
	char dom[JID_PART_MAX + 1];
	int rc;

	t = conf_table(s2s, "routes", e, &rc);
	if (rc <= 0)
		return rc;
	if ((c->routes = calloc(t->n ? t->n : 1, sizeof(*c->routes))) == NULL)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		struct conf_value *v = &t->vals[i];
		struct s2s_route *r = &c->routes[c->nroutes];

		v->used = true;
		if (v->type != CONF_STRING) {
			conf_errf(e, t, v->key, "must be a string \"host:port\"");
			return -1;
		}
		if (jid_domain_prep(v->key, dom) == -1 || strcmp(dom, v->key) != 0) {
			conf_errf(e, t, v->key, "must be a normalised domain");
			return -1;
		}
		if (parse_target(v->u.s, r) == -1) {
			conf_errf(e, t, v->key,
			    "\"%s\" is not host:port ([v6]:port for IPv6)", v->u.s);
			return -1;
		}
		r->domain = v->key;
		c->nroutes++;
	}
	return 1;
}

static int
get_verify(struct s2s_config *c, struct conf_table *t, struct conf_err *e)
{
	const char *s = NULL;
	int rc;

	if ((rc = conf_str(t, "verify", &s, e)) <= 0)
		return rc;
	if (strcmp(s, "dialback") == 0)
		c->verify = S2S_VERIFY_DIALBACK;
	else if (strcmp(s, "certificate") == 0)
		c->verify = S2S_VERIFY_CERT;
	else {
		conf_errf(e, t, "verify", "must be \"dialback\" or \"certificate\"");
		return -1;
	}
	return 1;
}

static int
get_blocklist(struct s2s_config *c, struct conf_table *t, struct conf_err *e)
{
	char dom[JID_PART_MAX + 1];
	int rc;

	if ((rc = conf_strarr(t, "blocklist", &c->blocklist, &c->nblocklist, e)) <= 0)
		return rc;
	for (size_t i = 0; i < c->nblocklist; i++) {
		if (jid_domain_prep(c->blocklist[i], dom) == -1 ||
		    strcmp(dom, c->blocklist[i]) != 0) {
			conf_errf(e, t, "blocklist", "\"%s\" is not a normalised domain",
			    c->blocklist[i]);
			return -1;
		}
	}
	return 1;
}

/* The durations: given in seconds, kept in ms. */
static int
get_durations(struct s2s_config *c, struct conf_table *t, struct conf_err *e)
{
	uint64_t conn = 60, auth = 30, idle = 600, cache = 300;

	if (t && (conf_duration_range(t, "connect_timeout", 1, 3600, &conn, e) == -1 ||
	    conf_duration_range(t, "auth_timeout", 1, 3600, &auth, e) == -1 ||
	    conf_duration_range(t, "idle_timeout", 1, 7 * 86400, &idle, e) == -1 ||
	    conf_duration_range(t, "resolve_cache", 0, 86400, &cache, e) == -1))
		return -1;
	c->connect_timeout_ms = conn * 1000;
	c->auth_timeout_ms = auth * 1000;
	c->idle_timeout_ms = idle * 1000;
	c->resolve_cache_ms = cache * 1000;
	return 0;
}

int
s2s_config_load(struct s2s_config *c, struct conf_table *root, struct conf_err *e)
{
	struct conf_table *t;
	uint64_t stanza = 524288;
	long long qn = 1000, conns = 16, rate = 0, burst = 0;
	int rc;

	c->queue_max_bytes = 1024 * 1024;
	c->shaper_rate = 50000;		/* the reference host's s2s shaper `fast` */
	c->max_out_buffer = 4 * 1024 * 1024;
	c->queue_max_stanzas = (unsigned)qn;
	c->max_stanza = (size_t)stanza;
	c->max_conn_per_ip = (unsigned)conns;
	c->bidi = true;
	t = conf_table(root, "s2s", e, &rc);
	if (rc == -1 || get_durations(c, t, e) == -1)
		return -1;
	if (rc == 0)
		return 0;
	if (conf_bool(t, "enabled", &c->enabled, e) == -1 ||
	    conf_bool(t, "bidi", &c->bidi, e) == -1 ||
	    xmpp_config_listen(t, "listen", 5269, &c->listen, &c->nlisten, e) == -1 ||
	    xmpp_config_listen(t, "listen_tls", 5270, &c->listen_tls, &c->nlisten_tls,
	    e) == -1 ||
	    get_verify(c, t, e) == -1 ||
	    conf_str(t, "ca_file", &c->ca_file, e) == -1 ||
	    conf_str(t, "dialback_secret_file", &c->dialback_secret_file, e) == -1 ||
	    conf_int(t, "queue_max_stanzas", 1, 1000000, &qn, e) == -1 ||
	    conf_size_range(t, "queue_max_bytes", 1024, 1ULL << 30, &c->queue_max_bytes,
	    e) == -1 ||
	    conf_size_range(t, "max_stanza_size", 16384, 16 * 1024 * 1024, &stanza,
	    e) == -1 ||
	    conf_size_range(t, "shaper_rate", 0, 1ULL << 32, &c->shaper_rate, e) == -1 ||
	    conf_size_range(t, "max_out_buffer", 65536, 1ULL << 30, &c->max_out_buffer,
	    e) == -1 ||
	    conf_int(t, "max_connections_per_ip", 1, 100000, &conns, e) == -1 ||
	    conf_int(t, "stanza_rate", 0, 1000000, &rate, e) == -1 ||
	    conf_int(t, "stanza_burst", 0, 10000000, &burst, e) == -1 ||
	    get_blocklist(c, t, e) == -1 || get_routes(c, t, e) == -1)
		return -1;
	if (c->shaper_rate != 0 && c->shaper_rate < stanza / 64) {
		conf_errf(e, t, "shaper_rate", "must be 0 (off) or at least max_stanza_size / 64");
		return -1;
	}
	c->queue_max_stanzas = (unsigned)qn;
	c->max_stanza = (size_t)stanza;
	c->max_conn_per_ip = (unsigned)conns;
	c->stanza_rate = (unsigned)rate;
	c->stanza_burst = burst ? (unsigned)burst : (unsigned)rate;
	if (c->enabled && c->nlisten == 0) {
		/* dual-stack 5269, as the c2s listeners default to theirs */
		if ((c->listen = calloc(1, sizeof(*c->listen))) == NULL)
			return -1;
		(void)addr_parse("[::]:5269", 5269, &c->listen[0], NULL, 0);
		c->nlisten = 1;
	}
	return 0;
}

void
s2s_config_free(struct s2s_config *c)
{
	free(c->listen);
	free(c->listen_tls);
	free(c->routes);
}

const struct s2s_route *
s2s_config_route(const struct s2s_config *c, const char *domain)
{
	for (size_t i = 0; i < c->nroutes; i++)
		if (strcmp(c->routes[i].domain, domain) == 0)
			return &c->routes[i];
	return NULL;
}

bool
s2s_config_blocked(const struct s2s_config *c, const char *domain)
{
	size_t dl = strlen(domain), bl;

	for (size_t i = 0; i < c->nblocklist; i++) {
		bl = strlen(c->blocklist[i]);
		if (bl == dl && strcmp(domain, c->blocklist[i]) == 0)
			return true;
		/* muc.evil.example is blocked with evil.example */
		if (dl > bl && domain[dl - bl - 1] == '.' &&
		    strcmp(domain + dl - bl, c->blocklist[i]) == 0)
			return true;
	}
	return false;
}
