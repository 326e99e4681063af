/*
 * relay — the data path: ChannelData and Send indications from clients to
 * peers, datagrams from peers back as ChannelData or Data indications.
 *
 * Packets are read with recvmmsg into fixed buffers that leave headroom
 * for the TURN header, so relaying copies nothing and allocates nothing;
 * datagrams to the same socket are sent together with sendmmsg.  Queued
 * datagrams point into the receive buffers: callers flush (relay_flush)
 * before those buffers are reused.
 */
#ifndef TURND_RELAY_H
#define TURND_RELAY_H

#include "turnd.h"
#include "stun.h"

struct alloc;

#define RELAY_BATCH	32
#define RELAY_MTU	4096		/* largest datagram relayed */
#define RELAY_HEADROOM	64		/* room for a Data indication header */

void relay_peer_cb(struct ev_loop *loop, struct ev_io *io, uint32_t ev);

/* A ChannelData message (header included) from the client of a. */
void relay_channeldata(struct alloc *a, const uint8_t *buf, size_t len);
/* A Send indication from the client of a. */
void relay_send_indication(struct alloc *a, const struct stun_msg *m);

/* Sends one message to a client now (responses, control). */
void relay_to_client(const struct client_ep *ep, const uint8_t *buf, size_t len);

/* Sends everything queued.  Called at the end of each batch. */
void relay_flush(void);
/* Flushes anything queued on a's relay socket before it closes. */
void relay_forget(struct alloc *a);

/* Fills IP_PKTINFO / IPV6_PKTINFO for a reply from local; returns bytes. */
size_t relay_pktinfo(void *ctrl, size_t cap, const union sockaddr_u *local);
/* Converts an IPv4 destination for an IPv6 socket (v4-mapped). */
void relay_dest(int sock_family, const struct sockaddr *to, union sockaddr_u *out);

#endif
