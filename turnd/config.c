/*
 * config — reads turnd's TOML configuration.  See config.h and
 * deploy/turnd.toml.example for every key with its default.
 */
#include "config.h"
#include "crypto.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LISTEN "*:3478"

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		fatal("out of memory");
	return d;
}

static int
get_addrs(struct conf_table *t, const char *key, const char *dflt,
    struct edge_addr **out, size_t *n, struct conf_err *e)
{
	char *const *v;
	const char *one[1] = { dflt };
	size_t cnt;
	char err[160];
	int rc;

	if ((rc = conf_strarr(t, key, &v, &cnt, e)) < 0)
		return -1;
	if (rc == 0) {
		if (dflt == NULL) {
			*n = 0;
			return 0;
		}
		v = (char *const *)one;
		cnt = 1;
	}
	*out = calloc(cnt ? cnt : 1, sizeof(**out));
	if (*out == NULL)
		fatal("out of memory");
	for (size_t i = 0; i < cnt; i++) {
		if (addr_parse(v[i], -1, &(*out)[i], err, sizeof(err)) < 0 ||
		    (*out)[i].family == AF_UNIX) {
			conf_errf(e, t, key, "%s", (*out)[i].family == AF_UNIX ?
			    "unix sockets are not supported here" : err);
			return -1;
		}
	}
	*n = cnt;
	return 0;
}

static int
get_ip(struct conf_table *t, const char *key, int family, void *sa,
    bool *set, struct conf_err *e)
{
	const char *s;
	int rc = conf_str(t, key, &s, e);

	if (rc <= 0)
		return rc;
	if (family == AF_INET) {
		struct sockaddr_in *sin = sa;

		memset(sin, 0, sizeof(*sin));
		sin->sin_family = AF_INET;
		rc = inet_pton(AF_INET, s, &sin->sin_addr);
	} else {
		struct sockaddr_in6 *sin6 = sa;

		memset(sin6, 0, sizeof(*sin6));
		sin6->sin6_family = AF_INET6;
		rc = inet_pton(AF_INET6, s, &sin6->sin6_addr);
	}
	if (rc != 1) {
		conf_errf(e, t, key, "not an IPv%d address: \"%s\"",
		    family == AF_INET ? 4 : 6, s);
		return -1;
	}
	if (set)
		*set = true;
	return 1;
}

static int
get_u32(struct conf_table *t, const char *key, long long min, long long max,
    uint32_t *out, struct conf_err *e)
{
	long long v;
	int rc = conf_int(t, key, min, max, &v, e);

	if (rc == 1)
		*out = (uint32_t)v;
	return rc;
}

static int
get_dur(struct conf_table *t, const char *key, uint64_t min, uint64_t max,
    uint32_t *out, struct conf_err *e)
{
	uint64_t v;
	int rc = conf_duration_range(t, key, min, max, &v, e);

	if (rc == 1)
		*out = (uint32_t)v;
	return rc;
}

static int
get_cidrs(struct conf_table *t, const char *key, struct addr_cidr **out,
    size_t *n, struct conf_err *e)
{
	char *const *v;
	size_t cnt;
	int rc;

	if ((rc = conf_strarr(t, key, &v, &cnt, e)) <= 0)
		return rc;
	*out = calloc(cnt ? cnt : 1, sizeof(**out));
	if (*out == NULL)
		fatal("out of memory");
	for (size_t i = 0; i < cnt; i++) {
		if (addr_cidr_parse(v[i], &(*out)[i]) < 0) {
			conf_errf(e, t, key, "not an address or prefix: \"%s\"", v[i]);
			return -1;
		}
	}
	*n = cnt;
	return 1;
}

static void
add_secret(struct turnd_config *c, const char *s)
{
	char **n = realloc(c->secrets, (c->nsecrets + 1) * sizeof(*n));

	if (n == NULL)
		fatal("out of memory");
	c->secrets = n;
	c->secrets[c->nsecrets++] = xstrdup(s);
}

static int
load_secrets(struct conf_table *t, struct turnd_config *c, struct conf_err *e)
{
	const char *s;
	char *const *v;
	size_t n;
	int rc;

	if ((rc = conf_str(t, "secret", &s, e)) < 0)
		return -1;
	if (rc == 1)
		add_secret(c, s);
	if ((rc = conf_strarr(t, "secrets", &v, &n, e)) < 0)
		return -1;
	for (size_t i = 0; rc == 1 && i < n; i++)
		add_secret(c, v[i]);
	if ((rc = conf_str(t, "secret_file", &s, e)) < 0)
		return -1;
	if (rc == 1) {
		char *sec;

		if (conf_read_secret_file(s, &sec, e) < 0)
			return -1;
		add_secret(c, sec);
		conf_secret_free(sec);
	}
	if ((rc = conf_strarr(t, "secret_files", &v, &n, e)) < 0)
		return -1;
	for (size_t i = 0; rc == 1 && i < n; i++) {
		char *sec;

		if (conf_read_secret_file(v[i], &sec, e) < 0)
			return -1;
		add_secret(c, sec);
		conf_secret_free(sec);
	}
	for (size_t i = 0; i < c->nsecrets; i++) {
		if (c->secrets[i][0] == '\0') {
			conf_errf(e, t, "secret", "empty secret");
			return -1;
		}
	}
	return 0;
}

static int
load_users(struct conf_table *root, struct turnd_config *c, struct conf_err *e)
{
	struct conf_table *const *ut;
	size_t n;
	int rc;

	if ((rc = conf_tables(root, "user_static", &ut, &n, e)) <= 0)
		return rc;
	c->users = calloc(n, sizeof(*c->users));
	if (c->users == NULL)
		fatal("out of memory");
	for (size_t i = 0; i < n; i++) {
		const char *name, *pw;
		char *sec;

		if (conf_str(ut[i], "name", &name, e) != 1) {
			if (e->msg[0] == '\0')
				conf_errf(e, ut[i], "name", "required");
			return -1;
		}
		c->users[i].name = xstrdup(name);
		c->nusers = i + 1;
		if ((rc = conf_str(ut[i], "password", &pw, e)) < 0)
			return -1;
		if (rc == 1) {
			c->users[i].password = xstrdup(pw);
			continue;
		}
		if ((rc = conf_str(ut[i], "password_file", &pw, e)) < 0)
			return -1;
		if (rc == 0) {
			conf_errf(e, ut[i], "password", "password or password_file required");
			return -1;
		}
		if (conf_read_secret_file(pw, &sec, e) < 0)
			return -1;
		c->users[i].password = xstrdup(sec);
		conf_secret_free(sec);
	}
	return 0;
}

static int
load_relay(struct conf_table *root, struct turnd_config *c, struct conf_err *e)
{
	struct conf_table *t;
	const char *ports;
	int rc;

	t = conf_table(root, "relay", e, &rc);
	if (rc < 0)
		return -1;
	if (t != NULL) {
		if (get_ip(t, "address_v4", AF_INET, &c->relay4, &c->relay4_set, e) < 0 ||
		    get_ip(t, "address_v6", AF_INET6, &c->relay6, &c->relay6_set, e) < 0 ||
		    get_ip(t, "external_v4", AF_INET, &c->ext4, NULL, e) < 0 ||
		    get_ip(t, "external_v6", AF_INET6, &c->ext6, NULL, e) < 0)
			return -1;
		if ((rc = conf_str(t, "ports", &ports, e)) < 0)
			return -1;
		if (rc == 1) {
			unsigned lo, hi;
			char tail;

			if (sscanf(ports, "%u-%u%c", &lo, &hi, &tail) != 2 ||
			    lo < 1024 || hi > 65535 || lo > hi) {
				conf_errf(e, t, "ports", "expected \"LOW-HIGH\" within 1024-65535");
				return -1;
			}
			c->port_min = (uint16_t)lo;
			c->port_max = (uint16_t)hi;
		}
		if (get_cidrs(t, "allow_peers", &c->policy.allow, &c->policy.nallow, e) < 0 ||
		    get_cidrs(t, "deny_peers", &c->policy.deny, &c->policy.ndeny, e) < 0)
			return -1;
		if (get_dur(t, "allocation_lifetime", 1, 86400, &c->lifetime_default, e) < 0 ||
		    get_dur(t, "max_lifetime", 1, 86400, &c->lifetime_max, e) < 0 ||
		    get_dur(t, "permission_lifetime", 1, 86400, &c->perm_lifetime, e) < 0 ||
		    get_dur(t, "channel_lifetime", 1, 86400, &c->channel_lifetime, e) < 0)
			return -1;
		if (c->lifetime_max < c->lifetime_default) {
			conf_errf(e, t, "max_lifetime", "shorter than allocation_lifetime");
			return -1;
		}
	}
	/* Default relay addresses: the concrete listen addresses. */
	for (size_t i = 0; i < c->nlisten; i++) {
		struct edge_addr *a = &c->listen[i];

		if (!c->relay4_set && a->family == AF_INET &&
		    a->u.sin.sin_addr.s_addr != INADDR_ANY) {
			c->relay4 = a->u.sin;
			c->relay4.sin_port = 0;
			c->relay4_set = true;
		}
		if (!c->relay6_set && a->family == AF_INET6 && !a->dualstack &&
		    !IN6_IS_ADDR_UNSPECIFIED(&a->u.sin6.sin6_addr) &&
		    !IN6_IS_ADDR_V4MAPPED(&a->u.sin6.sin6_addr)) {
			c->relay6 = a->u.sin6;
			c->relay6.sin6_port = 0;
			c->relay6.sin6_flowinfo = 0;
			c->relay6_set = true;
		}
	}
	if (!c->relay4_set && !c->relay6_set) {
		conf_errf(e, t ? t : root, "address_v4",
		    "set relay.address_v4 and/or relay.address_v6 (the listen "
		    "addresses are wildcards)");
		return -1;
	}
	if (c->ext4.sin_family == 0)
		c->ext4 = c->relay4;
	if (c->ext6.sin6_family == 0)
		c->ext6 = c->relay6;
	if (c->relay4_set)
		policy_add_own(&c->policy, (struct sockaddr *)&c->relay4);
	if (c->relay6_set)
		policy_add_own(&c->policy, (struct sockaddr *)&c->relay6);
	if (c->ext4.sin_family)
		policy_add_own(&c->policy, (struct sockaddr *)&c->ext4);
	if (c->ext6.sin6_family)
		policy_add_own(&c->policy, (struct sockaddr *)&c->ext6);
	return 0;
}

static int
load_limits(struct conf_table *root, struct turnd_config *c, struct conf_err *e)
{
	struct conf_table *t;
	uint64_t v;
	int rc;

	t = conf_table(root, "limits", e, &rc);
	if (rc <= 0)
		return rc;
	if (get_u32(t, "max_allocations", 1, 1000000, &c->max_allocations, e) < 0 ||
	    get_u32(t, "max_allocations_per_user", 1, 1000000,
	    &c->max_allocations_per_user, e) < 0 ||
	    get_u32(t, "max_permissions", 1, 10000, &c->max_permissions, e) < 0 ||
	    get_u32(t, "max_channels", 1, 4096, &c->max_channels, e) < 0 ||
	    get_u32(t, "max_connections", 1, 1000000, &c->max_connections, e) < 0 ||
	    get_u32(t, "max_connections_per_ip", 1, 1000000,
	    &c->max_connections_per_ip, e) < 0 ||
	    get_dur(t, "idle_timeout", 1, 86400, &c->idle_timeout, e) < 0)
		return -1;
	if ((rc = conf_size(t, "bandwidth", &v, e)) < 0)
		return -1;
	if (rc == 1)
		c->bandwidth = v;
	if ((rc = conf_size(t, "tcp_buffer", &v, e)) < 0)
		return -1;
	if (rc == 1) {
		if (v < 4096 || v > (64u << 20)) {
			conf_errf(e, t, "tcp_buffer", "must be between 4K and 64M");
			return -1;
		}
		c->tcp_buffer = (uint32_t)v;
	}
	return 0;
}

static void
set_defaults(struct turnd_config *c)
{
	c->listen_tcp = true;
	c->log_level = LOG_LVL_NOTICE;
	c->nonce_lifetime = 600;
	c->port_min = 49152;
	c->port_max = 65535;
	c->lifetime_default = 600;	/* RFC 8656 §3.2: 10 minutes */
	c->lifetime_max = 3600;
	c->perm_lifetime = 300;		/* §9: 5 minutes */
	c->channel_lifetime = 600;	/* §12: 10 minutes */
	c->max_allocations = 10000;
	c->max_allocations_per_user = 10;
	c->max_permissions = 100;
	c->max_channels = 100;
	c->max_connections = 4096;
	c->max_connections_per_ip = 64;
	c->tcp_buffer = 64 * 1024;
	c->idle_timeout = 60;
}

static int
load(struct conf_table *r, struct turnd_config *c, struct conf_err *e)
{
	const char *s;
	int rc;

	if (get_addrs(r, "listen", DEFAULT_LISTEN, &c->listen, &c->nlisten, e) < 0 ||
	    get_addrs(r, "tls_listen", NULL, &c->tls_listen, &c->ntls_listen, e) < 0)
		return -1;
	if (conf_bool(r, "listen_tcp", &c->listen_tcp, e) < 0)
		return -1;
	if (c->nlisten == 0 && c->ntls_listen == 0) {
		conf_errf(e, r, "listen", "nothing to listen on");
		return -1;
	}
	if ((rc = conf_str(r, "tls_cert", &s, e)) < 0)
		return -1;
	c->tls_cert = rc ? xstrdup(s) : NULL;
	if ((rc = conf_str(r, "tls_key", &s, e)) < 0)
		return -1;
	c->tls_key = rc ? xstrdup(s) : NULL;
	if ((rc = conf_str(r, "tls_dhparams", &s, e)) < 0)
		return -1;
	c->tls_dhparams = rc ? xstrdup(s) : NULL;
	if (c->ntls_listen > 0 && (c->tls_cert == NULL || c->tls_key == NULL)) {
		conf_errf(e, r, "tls_listen", "needs tls_cert and tls_key");
		return -1;
	}
	if ((rc = conf_str(r, "user", &s, e)) < 0)
		return -1;
	c->run_user = rc ? xstrdup(s) : NULL;
	s = "edge turnd";
	if (conf_str(r, "software", &s, e) < 0)
		return -1;
	c->software = xstrdup(s);
	if ((rc = conf_str(r, "log_level", &s, e)) < 0)
		return -1;
	if (rc == 1 && log_level_parse(s, &c->log_level) < 0) {
		conf_errf(e, r, "log_level", "unknown level \"%s\"", s);
		return -1;
	}
	if ((rc = conf_str(r, "realm", &s, e)) < 0)
		return -1;
	if (rc == 0 || s[0] == '\0' || strlen(s) > 763) {
		conf_errf(e, r, "realm", "required (1 to 763 bytes)");
		return -1;
	}
	c->realm = xstrdup(s);
	if (get_dur(r, "nonce_lifetime", 1, 86400, &c->nonce_lifetime, e) < 0)
		return -1;
	if (load_secrets(r, c, e) < 0 || load_users(r, c, e) < 0)
		return -1;
	if (c->nsecrets == 0 && c->nusers == 0) {
		conf_errf(e, r, "secret_file", "no credentials: set a REST secret "
		    "(secret_file, secret_files, secret, secrets) or [[user_static]]");
		return -1;
	}
	if (load_relay(r, c, e) < 0 || load_limits(r, c, e) < 0)
		return -1;
	for (size_t i = 0; i < c->nlisten; i++)
		policy_add_own(&c->policy, &c->listen[i].u.sa);
	if (metrics_conf_load(r, &c->metrics, e) < 0)
		return -1;
	return conf_check_unused(r, e);
}

struct turnd_config *
config_load(const char *path, struct conf_err *e)
{
	struct turnd_config *c;
	struct conf_doc *doc;

	e->msg[0] = '\0';
	if ((doc = conf_parse_file(path, 0, e)) == NULL)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("out of memory");
	set_defaults(c);
	if (load(doc->root, c, e) < 0) {
		config_free(c);
		c = NULL;
	}
	conf_free(doc);
	return c;
}

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
config_free(struct turnd_config *c)
{
	if (c == NULL)
		return;
	free(c->listen);
	free(c->tls_listen);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->tls_dhparams);
	free(c->run_user);
	free(c->software);
	free(c->realm);
	for (size_t i = 0; i < c->nsecrets; i++)
		wipe_free(c->secrets[i]);
	free(c->secrets);
	for (size_t i = 0; i < c->nusers; i++) {
		free(c->users[i].name);
		wipe_free(c->users[i].password);
	}
	free(c->users);
	policy_free(&c->policy);
	free(c);
}
