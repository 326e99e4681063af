/*
 * s2sconf — the [s2s] table of xmpp-core.toml and its [s2s.routes]
 * overrides, parsed and validated into one struct per load (a SIGHUP
 * builds a new one; links keep copies of what they need).
 */
#ifndef XMPP_S2SCONF_H
#define XMPP_S2SCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct conf_table;
struct conf_err;

/* What a peer must show before we take stanzas from it or send it ours. */
enum s2s_verify {
	S2S_VERIFY_DIALBACK,	/* dialback when the certificate is not trusted */
	S2S_VERIFY_CERT,	/* a certificate valid for the domain, always */
};

/* "domain" = "host:port": connect there instead of looking up DNS. */
struct s2s_route {
	const char *domain;	/* normalised domainpart */
	char host[256];		/* IP literal or host name, no brackets */
	int port;
	bool direct_tls;	/* "tls:host:port": XEP-0368 TLS from the first byte */
};

struct s2s_config {
	bool enabled;
	struct edge_addr *listen;
	size_t nlisten;
	struct edge_addr *listen_tls;	/* direct TLS (XEP-0368), none by default */
	size_t nlisten_tls;
	enum s2s_verify verify;
	bool bidi;			/* XEP-0288: offer and ask for bidirectional streams */
	const char *ca_file;		/* trust for peers' certificates; NULL: system */
	const char *dialback_secret_file;	/* NULL: random per start */
	uint64_t connect_timeout_ms;	/* resolve + connect + TLS + auth */
	uint64_t auth_timeout_ms;	/* an incoming stream has to authenticate */
	uint64_t idle_timeout_ms;	/* a link with no traffic is closed */
	uint64_t resolve_cache_ms;	/* A/AAAA cached without a TTL of their own */
	unsigned queue_max_stanzas;	/* per remote domain while connecting */
	uint64_t queue_max_bytes;
	size_t max_stanza;
	uint64_t shaper_rate;		/* bytes/s read per connection, 0 = off */
	unsigned stanza_rate;		/* stanzas/s per remote domain and stream, 0 = off */
	unsigned stanza_burst;
	uint64_t max_out_buffer;
	unsigned max_conn_per_ip;	/* incoming */
	char *const *blocklist;		/* remote domains we never talk to */
	size_t nblocklist;
	struct s2s_route *routes;
	size_t nroutes;
};

/* 0, or -1 with "file:line: key: message" in e.  c zeroed by the caller. */
int s2s_config_load(struct s2s_config *c, struct conf_table *root,
    struct conf_err *e);
void s2s_config_free(struct s2s_config *c);
/* The static route of domain, NULL when DNS decides. */
const struct s2s_route *s2s_config_route(const struct s2s_config *c,
    const char *domain);
/* Whether domain (or a parent domain of it) is on the blocklist. */
bool s2s_config_blocked(const struct s2s_config *c, const char *domain);

#endif
