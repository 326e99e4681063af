/*
 * webconf — the [web] table: the HTTP listener (WebSocket, host-meta),
 * the public URLs host-meta announces, and which peers are proxies whose
 * X-Forwarded-For / Forwarded headers name the client.  No [web] table:
 * no listener.
 */
#ifndef WEB_WEBCONF_H
#define WEB_WEBCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct conf_table;
struct conf_err;

#define WEB_MAX_LISTEN 16
#define WEB_MAX_PROXIES 64

struct web_config {
	bool enabled;
	struct edge_addr listen[WEB_MAX_LISTEN];
	size_t nlisten;
	char *websocket_url;	/* XEP-0156 link; NULL: none announced */
	char *bosh_url;
	struct addr_cidr trusted[WEB_MAX_PROXIES];
	size_t ntrusted;
	uint64_t ping_after_ms;	/* a quiet WebSocket gets a ping */
	uint64_t ping_timeout_ms;	/* ... and is closed without an answer */
	unsigned max_connections;	/* HTTP and WebSocket, per listener */
	bool register_pages;	/* /register (regpage.h) */
	char *register_host;	/* its accounts' host; NULL: the first */
};

int web_config_load(struct web_config *w, struct conf_table *root,
    struct conf_err *e);
void web_config_free(struct web_config *w);

#endif
