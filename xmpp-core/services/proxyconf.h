/*
 * proxyconf — configuration of the SOCKS5 Bytestreams proxy (XEP-0065,
 * proxy65.c and bytestream.c): the [proxy65] table.  Absent: no proxy.
 * Loaded as part of xmpp_config, so SIGHUP swaps it with the rest (the
 * listeners themselves keep their start-up addresses); documented in
 * deploy/XMPP-CORE.md.
 */
#ifndef XMPP_PROXYCONF_H
#define XMPP_PROXYCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "registry.h"

struct conf_table;
struct conf_err;

enum proxy_relay {
	PROXY_RELAY_SPLICE,	/* splice(2) through a pipe per direction */
	PROXY_RELAY_COPY,	/* read/write through a buffer per direction */
};

struct proxy_config {
	bool enabled;
	const char *service;	/* NULL: proxy.<host> for every host */
	const char *host;	/* advertised; NULL: the service JID */
	unsigned port;		/* advertised */
	struct edge_addr *listen;
	size_t nlisten;
	unsigned max_pending;	/* connections not (yet) in an active stream */
	unsigned max_streams;	/* active streams */
	unsigned max_per_ip;	/* connections per peer address */
	unsigned max_per_user;	/* active streams per initiator (bare JID) */
	uint64_t pending_timeout_ms;	/* accept to activation */
	uint64_t idle_timeout_ms;	/* active stream without a byte */
	uint64_t rate;		/* bytes/s per stream and direction; 0: off */
	uint64_t total_rate;	/* bytes/s over all streams; 0: off */
	uint64_t max_transfer;	/* bytes per stream (both ways); 0: off */
	size_t buffer_size;	/* per direction */
	unsigned socket_buffer;	/* SO_SNDBUF/SO_RCVBUF; 0: the kernel's autotuning */
	enum proxy_relay relay;
};

/* Reads [proxy65] from root into p; 0, or -1 with the message in e. */
int proxy_config_load(struct proxy_config *p, struct conf_table *root,
    struct conf_err *e);
void proxy_config_free(struct proxy_config *p);

extern struct module proxy65_module;
#define proxy_cfg() ((const struct proxy_config *)module_cfg(&proxy65_module))

#endif
