/*
 * config — turnd's configuration: the TOML file read into one immutable
 * struct.  A reload parses a new struct and swaps it in; listeners are
 * bound once at start-up and keep their addresses across reloads.
 */
#ifndef TURND_CONFIG_H
#define TURND_CONFIG_H

#include "addr.h"
#include "conf.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"

#include <stdbool.h>
#include <stdint.h>

struct turnd_user {
	char *name;
	char *password;
};

struct turnd_config {
	struct edge_addr *listen;	/* UDP + TCP */
	size_t nlisten;
	bool listen_tcp;
	struct edge_addr *tls_listen;
	size_t ntls_listen;
	char *tls_cert;
	char *tls_key;
	char *tls_dhparams;
	char *run_user;
	char *software;		/* "" to send no SOFTWARE */
	enum log_level log_level;

	char *realm;
	char **secrets;		/* REST shared secrets, newest first */
	size_t nsecrets;
	struct turnd_user *users;
	size_t nusers;
	uint32_t nonce_lifetime;

	/* Relay addresses: bound, and advertised in XOR-RELAYED-ADDRESS. */
	bool relay4_set, relay6_set;
	struct sockaddr_in relay4, ext4;
	struct sockaddr_in6 relay6, ext6;
	uint16_t port_min, port_max;

	struct policy policy;

	uint32_t lifetime_default;	/* seconds */
	uint32_t lifetime_max;
	uint32_t perm_lifetime;
	uint32_t channel_lifetime;

	uint32_t max_allocations;
	uint32_t max_allocations_per_user;
	uint32_t max_permissions;
	uint32_t max_channels;
	uint64_t bandwidth;		/* bytes/s per allocation, 0 = no cap */
	uint32_t max_connections;
	uint32_t max_connections_per_ip;
	uint32_t tcp_buffer;		/* bytes queued towards a TCP/TLS client */
	uint32_t idle_timeout;		/* TCP/TLS without allocation, seconds */

	struct metrics_conf metrics;	/* [metrics] (stats.c) */
};

/* NULL with "file:line: key: message" in e. */
struct turnd_config *config_load(const char *path, struct conf_err *e);
void config_free(struct turnd_config *c);

#endif
