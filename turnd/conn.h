/*
 * conn — TCP and TLS client connections (RFC 8656 §3.1, §12.5): stream
 * framing of STUN messages and padded ChannelData, a bounded send queue,
 * at most one allocation per connection (closing one frees the other),
 * and an idle timeout for connections without an allocation.
 */
#ifndef TURND_CONN_H
#define TURND_CONN_H

#include "turnd.h"

struct alloc;

void conn_accept_cb(struct ev_loop *loop, struct ev_io *io, uint32_t ev);

/*
 * Queues len bytes to the client.  Data (control false) is dropped when
 * the queue is full, as UDP would; a control message that does not fit
 * closes the connection.  Never closes synchronously.  0, or -1 dropped.
 */
int conn_send(struct conn *c, const void *buf, size_t len, bool control);
/* Pushes data frames sent with control false to the socket (TLS). */
void conn_flush(struct conn *c);
/* Whether the connection is TLS (one record per frame) or plain TCP. */
bool conn_is_tls(const struct conn *c);

void conn_set_alloc(struct conn *c, struct alloc *a);
void conn_alloc_gone(struct conn *c);
void conn_close_all(struct turnd *td);

#endif
