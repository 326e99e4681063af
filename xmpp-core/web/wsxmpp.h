/*
 * wsxmpp — XMPP over WebSocket (RFC 7395) as a c2s transport: a
 * WebSocket session is a struct c2s like any other (SASL, SASL2, bind,
 * SM, CSI, carbons are the core's and the modules'); this file only
 * turns frames into the XML stream the session parses and the session's
 * XML into frames.
 *
 * In: a text message holds one element (xmlsplit.c checks it); <open/>
 * becomes a stream header for the session's parser, <close/> the end of
 * the stream, anything else goes to the parser as it is.  Out: the
 * session's text is cut at its top-level elements, the stream header
 * becomes <open/>, </stream:stream> <close/> (then a close frame),
 * stanzas and features get the namespace declarations a lone element
 * needs (RFC 7395 §3.3.3).  Control frames, fragmentation, masking and
 * the message limit (the stanza limit) are RFC 6455's (wsproto.c).  A
 * quiet socket gets a ping after [web] ping_after and is dropped (as a
 * lost connection: SM may keep the session) ping_timeout later.
 */
#ifndef WEB_WSXMPP_H
#define WEB_WSXMPP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"

struct web_config;

/* How the socket goes back to its HTTP server (MHD's upgrade handle):
 * never close(2) it ourselves. */
struct ws_owner {
	void (*release)(void *h);
	void *h;
};

/*
 * A WebSocket upgraded on fd (extra: bytes the HTTP server read past the
 * request).  client/ip: the client's address (proxy.h); secure: the
 * path to the client is protected.  0, or -1 when the session could not
 * be made (the caller releases the socket and the per-IP count).
 */
int wsxmpp_start(int fd, const struct ws_owner *own, const char *extra,
    size_t extralen, const struct sockaddr_storage *client, const char *ip,
    const char *peer, bool secure);
/* Every WebSocket session is dropped (the loop has ended). */
void wsxmpp_abort_all(void);
size_t wsxmpp_count(void);

#endif
