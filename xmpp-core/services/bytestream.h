/*
 * bytestream — the TCP side of the SOCKS5 Bytestreams proxy (XEP-0065):
 * the listeners on srv.loop, the SOCKS5 handshake of every connection
 * (socks5.c), pairing the two connections that asked for the same hash,
 * and, once the initiator activated the stream over XMPP (proxy65.c),
 * the relay between them: bounded buffers or pipes with backpressure,
 * half-close passed on, per-stream and total token-bucket shaping, an
 * optional transfer limit.  Limits per IP, on pending and active
 * streams, and pending/idle timeouts come from [proxy65] (proxyconf.h),
 * read at each use, so SIGHUP applies them to what is running.
 */
#ifndef XMPP_BYTESTREAM_H
#define XMPP_BYTESTREAM_H

#include <stdbool.h>
#include <stddef.h>

enum bytestream_result {
	BS_ACTIVATED,
	BS_NOT_FOUND,		/* nobody connected with that hash */
	BS_ONE_SIDE,		/* only one party connected */
	BS_ALREADY_ACTIVE,
	BS_LIMIT,		/* max_streams reached */
	BS_USER_LIMIT,		/* max_streams_per_user reached */
	BS_FAILED,		/* out of memory / descriptors */
};

/* Opens the configured listeners (at start-up, before privileges drop). */
int bytestream_open(char *err, size_t errlen);
/* After a reload: says what needs a restart. */
void bytestream_reload(void);
/* Stops listening and closes every connection (shutdown). */
void bytestream_close(void);
void bytestream_cleanup(void);
/* The listeners are open. */
bool bytestream_listening(void);

/* Activates the stream of hash for initiator (bare JID, counted against
 * max_streams_per_user); desc names it in the logs. */
enum bytestream_result bytestream_activate(const char *hash,
    const char *initiator, const char *desc);

/* Counters for logs and tests. */
size_t bytestream_npending(void);
size_t bytestream_nactive(void);

#endif
