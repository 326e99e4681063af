/*
 * turn — STUN/TURN request handling (RFC 8489 Binding, RFC 8656 Allocate,
 * Refresh, CreatePermission, ChannelBind, Send), authentication included.
 * Transport-neutral: listen.c (UDP) and conn.c (TCP/TLS) hand it one
 * message and the allocation of the 5-tuple, if any.
 */
#ifndef TURND_TURN_H
#define TURND_TURN_H

#include "turnd.h"

struct alloc;

/* One STUN message from ep; a is the 5-tuple's allocation or NULL. */
void turn_handle(struct turnd *td, const struct client_ep *ep, struct alloc *a,
    uint8_t *buf, size_t len);

#endif
