/*
 * config — xmpp-core's configuration: parsed from the TOML file into one
 * struct, validated as a whole, swapped in on SIGHUP.  The core's tables
 * ([database], [tls], [c2s]) are here; every module parses its own
 * tables into its own struct (registry.h: config_load, module_cfg), in
 * the same pass, so that a key nobody knows is still an error.  Every
 * limit has a default; see deploy/xmpp-core.toml for the documented
 * example.
 */
#ifndef XMPP_CONFIG_H
#define XMPP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "conf.h"
#include "log.h"
#include "registry.h"

struct xmpp_config {
	struct conf_doc *doc;
	enum log_level log_level;
	const char *user;
	const char *control_socket;	/* xmppctl's unix socket, optional */
	char **hosts;
	size_t nhosts;

	/* [database] */
	char *conninfo;		/* built from keys or given whole */
	unsigned db_pool;
	unsigned db_queue;
	uint64_t db_timeout_ms;

	/* [tls] */
	const char *cert_file, *key_file, *dh_file, *ciphers;
	const char *ticket_key_file;	/* TLS session ticket keys, optional */

	/* [c2s] */
	struct edge_addr *listen_starttls;
	size_t nlisten_starttls;
	struct edge_addr *listen_tls;
	size_t nlisten_tls;
	size_t max_stanza;
	size_t preauth_max_stanza;	/* before authentication */
	uint64_t preauth_max_bytes;	/* read before authentication, in all */
	unsigned max_depth;
	unsigned max_attrs;
	unsigned max_sessions;
	unsigned max_conn_per_ip;
	uint64_t max_out_buffer;
	uint64_t auth_timeout_ms;
	uint64_t idle_timeout_ms;
	uint64_t park_after_ms;		/* release an idle stream's XML parser */
	unsigned scram_iterations;
	uint64_t shaper_rate;		/* bytes/s read from a client, 0 = off */
	unsigned auth_fail_limit;	/* failures per IP before a ban */
	uint64_t auth_fail_window_ms;
	uint64_t ban_time_ms;

	/* [sasl2] XEP-0388 with Bind2; [fast] XEP-0484 tokens */
	bool sasl2_enabled;
	bool fast_enabled;
	uint64_t fast_lifetime_s;	/* a token's validity */
	uint64_t fast_rotate_s;		/* a token used this old gets a successor */
	unsigned fast_max_tokens;	/* clients with tokens per account */

	/* every module's own tables, by module id (registry.h) */
	void *mods[REGISTRY_MAX];
};

struct xmpp_config *xmpp_config_load(const char *path, struct conf_err *e);
void xmpp_config_free(struct xmpp_config *c);
bool xmpp_config_hosted(const struct xmpp_config *c, const char *domain);
/*
 * A listen address list (["[::]:5222", "127.0.0.1"]) of table t, for
 * the core's tables and modules' (s2s): port is the default of an
 * address without one (-1: none, the port is required).  *out is
 * malloc'd; 1, 0 when absent, -1 with the message in e.
 */
int xmpp_config_listen(struct conf_table *t, const char *key, int port,
    struct edge_addr **out, size_t *n, struct conf_err *e);


#endif
