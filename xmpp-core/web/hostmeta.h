/*
 * hostmeta — XEP-0156 discovery over HTTP: /.well-known/host-meta (an
 * RFC 6415 XRD) and host-meta.json (its JSON form), linking the public
 * WebSocket and BOSH URLs of [web] websocket_url and bosh_url.  Both are answered with
 * Access-Control-Allow-Origin: * (XEP-0156 §3.3: web clients of other
 * origins read them).
 */
#ifndef WEB_HOSTMETA_H
#define WEB_HOSTMETA_H

#include <stdbool.h>

struct buf;
struct web_config;

#define NS_XRD "http://docs.oasis-open.org/ns/xri/xrd-1.0"
#define REL_WEBSOCKET "urn:xmpp:alt-connections:websocket"
#define REL_BOSH "urn:xmpp:alt-connections:xbosh"

/* The document into b; json picks the form. */
void hostmeta_write(struct buf *b, const struct web_config *cf, bool json);

#endif
