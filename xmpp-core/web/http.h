/*
 * http — the HTTP listener on libmicrohttpd, run on the server's event
 * loop: MHD without threads of its own (MHD_USE_EPOLL), its epoll
 * descriptor watched by our loop, MHD_run called when it is readable or
 * MHD's timeout passes.  Every request callback and the WebSocket
 * upgrade therefore run on the one thread that owns the sessions, and a
 * WebSocket is handed to the session code without any locking.
 *
 * Serves /.well-known/host-meta[.json] (hostmeta.c), /ws (a WebSocket
 * with the xmpp subprotocol: wsxmpp.c), /bosh (bosh.c), /captcha/ and the
 * account pages under /register (regpage.c); each request's client
 * address is the one proxy.c finds.
 */
#ifndef WEB_HTTP_H
#define WEB_HTTP_H

#include <stddef.h>

struct web_config;

int web_http_open(const struct web_config *cf, char *err, size_t errlen);
/* Stops accepting (graceful shutdown); sessions go on to their end. */
void web_http_quiesce(void);
void web_http_close(void);
size_t web_http_requests(void);

#endif
