/*
 * config — loading and validating xmpp-core.toml.  See config.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jid.h"

bool
xmpp_config_hosted(const struct xmpp_config *c, const char *domain)
{
	for (size_t i = 0; i < c->nhosts; i++)
		if (strcmp(c->hosts[i], domain) == 0)
			return true;
	return false;
}

int
xmpp_config_listen(struct conf_table *t, const char *key, int port,
    struct edge_addr **out, size_t *n, struct conf_err *e)
{
	char *const *v;
	size_t nv;
	char err[256];
	int rc;

	if ((rc = conf_strarr(t, key, &v, &nv, e)) <= 0)
		return rc;
	if ((*out = calloc(nv ? nv : 1, sizeof(**out))) == NULL)
		return -1;
	for (size_t i = 0; i < nv; i++) {
		if (addr_parse(v[i], port, &(*out)[i], err, sizeof(err)) == -1) {
			conf_errf(e, t, key, "%s", err);
			return -1;
		}
	}
	*n = nv;
	return 1;
}

static int
load_database(struct xmpp_config *c, struct conf_table *root, struct conf_err *e)
{
	struct conf_table *t;
	const char *ci = NULL, *pwfile = NULL;
	char *pw = NULL;
	long long v;
	int rc;
	size_t n;

	t = conf_table(root, "database", e, &rc);
	if (rc == -1)
		return -1;
	if (rc == 0) {
		conf_errf(e, root, "database", "a [database] table is required");
		return -1;
	}
	if (conf_str(t, "conninfo", &ci, e) == -1 ||
	    conf_str(t, "password_file", &pwfile, e) == -1)
		return -1;
	if (ci == NULL) {
		conf_errf(e, t, "conninfo", "required (a libpq connection string)");
		return -1;
	}
	if (pwfile && conf_read_secret_file(pwfile, &pw, e) == -1)
		return -1;
	/* the password travels as a conninfo keyword, quoted per libpq rules */
	n = strlen(ci) + (pw ? 2 * strlen(pw) + 16 : 0) + 1;
	if ((c->conninfo = malloc(n)) == NULL) {
		conf_secret_free(pw);
		return -1;
	}
	strcpy(c->conninfo, ci);
	if (pw) {
		char *o = c->conninfo + strlen(c->conninfo);

		o += sprintf(o, " password='");
		for (const char *p = pw; *p; p++) {
			if (*p == '\'' || *p == '\\')
				*o++ = '\\';
			*o++ = *p;
		}
		strcpy(o, "'");
		conf_secret_free(pw);
	}
	v = 4;
	if (conf_int(t, "pool_size", 1, 64, &v, e) == -1)
		return -1;
	c->db_pool = (unsigned)v;
	v = 10000;
	if (conf_int(t, "max_queue", 1, 1000000, &v, e) == -1)
		return -1;
	c->db_queue = (unsigned)v;
	c->db_timeout_ms = 10;
	if (conf_duration(t, "request_timeout", &c->db_timeout_ms, e) == -1)
		return -1;
	c->db_timeout_ms *= 1000;
	return 0;
}

static int
load_c2s(struct xmpp_config *c, struct conf_table *root, struct conf_err *e)
{
	struct conf_table *t;
	uint64_t sz;
	long long v;
	int rc;

	t = conf_table(root, "c2s", e, &rc);
	if (rc == -1)
		return -1;
	c->max_stanza = 262144;
	c->preauth_max_stanza = 16384;
	c->preauth_max_bytes = 65536;
	c->max_depth = 32;
	c->max_attrs = 64;
	c->max_sessions = 10;
	c->max_conn_per_ip = 32;
	c->max_out_buffer = 1 << 20;
	c->auth_timeout_ms = 60;
	c->idle_timeout_ms = 0;
	c->park_after_ms = 5;
	c->scram_iterations = 4096;
	c->shaper_rate = 20000;
	c->auth_fail_limit = 10;
	c->auth_fail_window_ms = 600;
	c->ban_time_ms = 600;
	if (rc == 0)
		goto defaults;
	if (xmpp_config_listen(t, "listen", -1, &c->listen_starttls, &c->nlisten_starttls,
	    e) == -1 ||
	    xmpp_config_listen(t, "listen_tls", -1, &c->listen_tls, &c->nlisten_tls, e) == -1)
		return -1;
	sz = c->max_stanza;
	if (conf_size(t, "max_stanza_size", &sz, e) == -1)
		return -1;
	if (sz < 4096 || sz > (64 << 20)) {
		conf_errf(e, t, "max_stanza_size", "must be between 4K and 64M");
		return -1;
	}
	c->max_stanza = sz;
	/* a stream not yet authenticated: small stanzas, a budget in all */
	sz = c->preauth_max_stanza;
	if (conf_size(t, "preauth_max_stanza_size", &sz, e) == -1)
		return -1;
	if (sz < 1024 || sz > c->max_stanza) {
		conf_errf(e, t, "preauth_max_stanza_size",
		    "must be between 1K and max_stanza_size (%zu)", c->max_stanza);
		return -1;
	}
	c->preauth_max_stanza = sz;
	if (conf_size(t, "preauth_max_bytes", &c->preauth_max_bytes, e) == -1)
		return -1;
	if (c->preauth_max_bytes < 4096 || c->preauth_max_bytes > (1ULL << 30)) {
		conf_errf(e, t, "preauth_max_bytes", "must be between 4K and 1G");
		return -1;
	}
#define INTKEY(key, field, lo, hi) do { v = c->field;			\
	if (conf_int(t, key, lo, hi, &v, e) == -1) return -1;		\
	c->field = (unsigned)v; } while (0)
	INTKEY("max_depth", max_depth, 4, 1000);
	INTKEY("max_attributes", max_attrs, 4, 10000);
	INTKEY("max_sessions_per_user", max_sessions, 1, 1000);
	INTKEY("max_connections_per_ip", max_conn_per_ip, 1, 1000000);
	INTKEY("scram_iterations", scram_iterations, 4096, 1000000);
	INTKEY("auth_fail_limit", auth_fail_limit, 0, 1000000);
#undef INTKEY
	if (conf_size(t, "max_output_buffer", &c->max_out_buffer, e) == -1 ||
	    conf_size(t, "shaper_rate", &c->shaper_rate, e) == -1 ||
	    conf_duration(t, "auth_timeout", &c->auth_timeout_ms, e) == -1 ||
	    conf_duration(t, "idle_timeout", &c->idle_timeout_ms, e) == -1 ||
	    conf_duration(t, "release_parser_after", &c->park_after_ms, e) == -1 ||
	    conf_duration(t, "auth_fail_window", &c->auth_fail_window_ms, e) == -1 ||
	    conf_duration(t, "ban_time", &c->ban_time_ms, e) == -1)
		return -1;
defaults:
	c->auth_timeout_ms *= 1000;
	c->idle_timeout_ms *= 1000;
	c->park_after_ms = c->park_after_ms ? c->park_after_ms * 1000 : 1000;
	c->auth_fail_window_ms *= 1000;
	c->ban_time_ms *= 1000;
	if (c->nlisten_starttls + c->nlisten_tls == 0) {
		conf_errf(e, t ? t : root, t ? "listen" : "c2s",
		    "no c2s listener (listen / listen_tls)");
		return -1;
	}
	return 0;
}

static int
load_tls(struct xmpp_config *c, struct conf_table *root, struct conf_err *e)
{
	struct conf_table *t;
	int rc;

	t = conf_table(root, "tls", e, &rc);
	if (rc == -1)
		return -1;
	if (rc == 0) {
		conf_errf(e, root, "tls", "a [tls] table with cert_file and key_file is required");
		return -1;
	}
	if (conf_str(t, "cert_file", &c->cert_file, e) == -1 ||
	    conf_str(t, "key_file", &c->key_file, e) == -1 ||
	    conf_str(t, "dh_file", &c->dh_file, e) == -1 ||
	    conf_str(t, "ciphers", &c->ciphers, e) == -1 ||
	    conf_str(t, "ticket_key_file", &c->ticket_key_file, e) == -1)
		return -1;
	if (c->cert_file == NULL || c->key_file == NULL) {
		conf_errf(e, t, c->cert_file ? "key_file" : "cert_file", "required");
		return -1;
	}
	return 0;
}

static int
load_sasl2(struct xmpp_config *c, struct conf_table *root, struct conf_err *e)
{
	struct conf_table *t;
	long long v;
	int rc;

	c->sasl2_enabled = true;
	c->fast_enabled = true;
	c->fast_lifetime_s = 14 * 86400;
	c->fast_rotate_s = 86400;
	c->fast_max_tokens = 10;
	t = conf_table(root, "sasl2", e, &rc);
	if (rc == -1 || (rc == 1 && conf_bool(t, "enabled", &c->sasl2_enabled, e) == -1))
		return -1;
	t = conf_table(root, "fast", e, &rc);
	if (rc == -1)
		return -1;
	if (rc == 0)
		return 0;
	v = c->fast_max_tokens;
	c->fast_rotate_s = UINT64_MAX;	/* not given: from the lifetime */
	if (conf_bool(t, "enabled", &c->fast_enabled, e) == -1 ||
	    conf_duration(t, "token_lifetime", &c->fast_lifetime_s, e) == -1 ||
	    conf_duration(t, "rotate_after", &c->fast_rotate_s, e) == -1 ||
	    conf_int(t, "max_tokens_per_account", 1, 1000, &v, e) == -1)
		return -1;
	c->fast_max_tokens = (unsigned)v;
	if (c->fast_lifetime_s < 60 || c->fast_lifetime_s > 3650ULL * 86400) {
		conf_errf(e, t, "token_lifetime", "must be between 1 minute and 10 years");
		return -1;
	}
	if (c->fast_rotate_s == UINT64_MAX)
		c->fast_rotate_s = c->fast_lifetime_s / 2 < 86400 ? c->fast_lifetime_s / 2 : 86400;
	if (c->fast_rotate_s > c->fast_lifetime_s) {
		conf_errf(e, t, "rotate_after", "must not be longer than token_lifetime");
		return -1;
	}
	return 0;
}

static int
load_misc(struct xmpp_config *c, struct conf_table *root, struct conf_err *e)
{
	const char *lvl = NULL;

	c->log_level = LOG_LVL_INFO;
	if (conf_str(root, "log_level", &lvl, e) == -1)
		return -1;
	if (lvl && log_level_parse(lvl, &c->log_level) == -1) {
		conf_errf(e, root, "log_level", "unknown level \"%s\"", lvl);
		return -1;
	}
	if (conf_str(root, "user", &c->user, e) == -1 ||
	    conf_str(root, "control_socket", &c->control_socket, e) == -1)
		return -1;
	return 0;
}

struct xmpp_config *
xmpp_config_load(const char *path, struct conf_err *e)
{
	struct xmpp_config *c = calloc(1, sizeof(*c));
	char *const *hosts;
	char dom[JID_PART_MAX + 1];
	size_t nh = 0;
	int rc;

	if (c == NULL) {
		snprintf(e->msg, sizeof(e->msg), "%s: out of memory", path);
		return NULL;
	}
	if (registry_check(e->msg, sizeof(e->msg)) == -1) {
		free(c);
		return NULL;
	}
	if ((c->doc = conf_parse_file(path, 0, e)) == NULL)
		goto fail;
	if ((rc = conf_strarr(c->doc->root, "hosts", &hosts, &nh, e)) == -1)
		goto fail;
	if (nh == 0) {
		conf_errf(e, c->doc->root, "hosts", "at least one hosted domain is required");
		goto fail;
	}
	if ((c->hosts = calloc(nh, sizeof(char *))) == NULL)
		goto fail;
	for (size_t i = 0; i < nh; i++) {
		if (jid_domain_prep(hosts[i], dom) == -1) {
			conf_errf(e, c->doc->root, "hosts", "invalid domain \"%s\"", hosts[i]);
			goto fail;
		}
		if ((c->hosts[i] = strdup(dom)) == NULL)
			goto fail;
		c->nhosts++;
	}
	if (load_misc(c, c->doc->root, e) == -1 ||
	    load_database(c, c->doc->root, e) == -1 ||
	    load_tls(c, c->doc->root, e) == -1 ||
	    load_c2s(c, c->doc->root, e) == -1 ||
	    load_sasl2(c, c->doc->root, e) == -1 ||
	    registry_config_load(c->mods, c->doc->root, e) == -1 ||
	    conf_check_unused(c->doc->root, e) == -1)
		goto fail;
	return c;
fail:
	xmpp_config_free(c);
	return NULL;
}

void
xmpp_config_free(struct xmpp_config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nhosts; i++)
		free(c->hosts[i]);
	free(c->hosts);
	if (c->conninfo) {
		memset(c->conninfo, 0, strlen(c->conninfo));
		free(c->conninfo);
	}
	free(c->listen_starttls);
	free(c->listen_tls);
	registry_config_free(c->mods);
	conf_free(c->doc);
	free(c);
}
