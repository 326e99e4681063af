/*
 * config — dumbclient-redirect's configuration.
 */
#ifndef REDIRECT_CONFIG_H
#define REDIRECT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "conf.h"
#include "log.h"
#include "metrics.h"
#include "nft.h"

#define REDIRECT_DEFAULT_CONF "/etc/edge/dumbclient-redirect.toml"
#define REDIRECT_DEFAULT_TABLE "dumbclient_redirect"
#define REDIRECT_MAX_PORTS 32
#define REDIRECT_MAX_LISTEN 16

/*
 * Where the XMPP host is: per service, one address per family, and the
 * port its SRV record names (0: the port the client dialled).  The SRV
 * port applies to the service's standard port only (5222 and 5269); other
 * redirected ports (5223, ...) keep their number.
 */
struct redirect_target {
	struct nft_ip client4, client6;	/* for c2s ports (5222, 5223, ...) */
	struct nft_ip server4, server6;	/* for s2s (5269) */
	uint16_t client_port, server_port;
};

struct redirect_conf {
	char *file;
	char *table;
	uint16_t ports[REDIRECT_MAX_PORTS];
	size_t nports;
	struct nft_ip listen[REDIRECT_MAX_LISTEN];
	size_t nlisten;			/* 0: any local address */
	bool has_static;		/* target = [...] given */
	struct redirect_target target;	/* the static target */
	char *domain;			/* SRV lookups when no static target */
	bool has_nameserver;
	struct sockaddr_in nameserver;	/* instead of /etc/resolv.conf */
	uint64_t min_ttl, max_ttl, retry;	/* seconds */
	uint64_t dns_timeout;		/* seconds per query attempt */
	struct nft_ip snat4, snat6;	/* family 0: masquerade */
	char *user;
	enum log_level log_level;
	struct metrics_conf metrics;	/* [metrics] (stats.c) */
};

struct redirect_conf *redirect_conf_load(const char *path, struct conf_err *e);
void redirect_conf_free(struct redirect_conf *c);

/* Is port an s2s port (its target comes from _xmpp-server._tcp)? */
bool redirect_port_is_s2s(uint16_t port);

#endif
