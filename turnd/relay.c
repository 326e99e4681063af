/*
 * relay — the data path.  See relay.h.
 */
#include "relay.h"
#include "alloc.h"
#include "channel.h"
#include "config.h"
#include "conn.h"
#include "crypto.h"
#include "log.h"
#include "perm.h"

#include <errno.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/socket.h>

#define CTRL_SPACE CMSG_SPACE(sizeof(struct in6_pktinfo))

#define GSO_CTRL (CTRL_SPACE + CMSG_SPACE(sizeof(uint16_t)))
#define GSO_MAX_SEGS 64
#define GSO_MAX_BYTES 60000
#define GSO_MAX_SEG 1232	/* IPv6 minimum MTU payload; larger may not fit a path */

struct outq {
	int fd;
	unsigned n;
	struct mmsghdr m[RELAY_BATCH];
	struct iovec iov[RELAY_BATCH];
	union sockaddr_u to[RELAY_BATCH];
	union {
		char buf[CTRL_SPACE];
		struct cmsghdr align;
	} ctrl[RELAY_BATCH];
	struct mmsghdr g[RELAY_BATCH];		/* the batch as sent */
	unsigned gfirst[RELAY_BATCH];		/* first of q->m in each */
	union {
		char buf[GSO_CTRL];
		struct cmsghdr align;
	} gctrl[RELAY_BATCH];
};

/* UDP GSO (Linux 4.18): cleared if the kernel does not know it. */
static bool gso_ok = true;

static struct outq to_peer = { .fd = -1 };
static struct outq to_client = { .fd = -1 };

/* Receive side of the relay sockets: payload at RELAY_HEADROOM, tail room
 * for stream padding. */
static uint8_t peer_buf[RELAY_BATCH][RELAY_HEADROOM + RELAY_MTU + 4];
static struct mmsghdr peer_msg[RELAY_BATCH];
static struct iovec peer_iov[RELAY_BATCH];
static union sockaddr_u peer_from[RELAY_BATCH];

/* Frames for a TCP client are gathered and written once per batch: one
 * send instead of one per datagram.  (TLS keeps a record per frame and
 * gathers the records below OpenSSL, see tlsconn.h.) */
#define STREAM_CHUNK 16384
static uint8_t stream_out[STREAM_CHUNK];

static uint8_t tid_state[STUN_TID_LEN];
static bool tid_ready;

static bool
same_dest(const struct msghdr *a, const struct msghdr *b)
{
	return a->msg_namelen == b->msg_namelen &&
	    memcmp(a->msg_name, b->msg_name, a->msg_namelen) == 0 &&
	    a->msg_controllen == b->msg_controllen &&
	    (a->msg_controllen == 0 ||
	    memcmp(a->msg_control, b->msg_control, a->msg_controllen) == 0);
}

/*
 * Consecutive datagrams to the same destination with the same size (the
 * last may be shorter) leave as one GSO send: one pass through the IP
 * stack for the run, cut into datagrams by the kernel (UDP_SEGMENT).
 */
static unsigned
gso_group(struct outq *q)
{
	unsigned ng = 0;

	for (unsigned i = 0; i < q->n; ) {
		struct msghdr *h = &q->m[i].msg_hdr, *g = &q->g[ng].msg_hdr;
		size_t seg = q->iov[i].iov_len, total = seg;
		unsigned j = i + 1;

		while (gso_ok && seg <= GSO_MAX_SEG && j < q->n && j - i < GSO_MAX_SEGS &&
		    q->iov[j - 1].iov_len == seg && q->iov[j].iov_len <= seg &&
		    total + q->iov[j].iov_len <= GSO_MAX_BYTES &&
		    same_dest(h, &q->m[j].msg_hdr)) {
			total += q->iov[j].iov_len;
			j++;
		}
		*g = *h;
		q->gfirst[ng] = i;
		if (j - i > 1) {
			struct msghdr tmp = {
				.msg_control = q->gctrl[ng].buf,
				.msg_controllen = sizeof(q->gctrl[ng].buf),
			};
			struct cmsghdr *c;
			uint16_t gso = (uint16_t)seg;

			memset(q->gctrl[ng].buf, 0, sizeof(q->gctrl[ng].buf));
			if (h->msg_controllen > 0)
				memcpy(q->gctrl[ng].buf, h->msg_control, h->msg_controllen);
			tmp.msg_controllen = h->msg_controllen + CMSG_SPACE(sizeof(gso));
			c = (struct cmsghdr *)(void *)(q->gctrl[ng].buf + h->msg_controllen);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(gso));
			memcpy(CMSG_DATA(c), &gso, sizeof(gso));
			g->msg_iov = &q->iov[i];
			g->msg_iovlen = j - i;
			g->msg_control = q->gctrl[ng].buf;
			g->msg_controllen = tmp.msg_controllen;
		}
		ng++;
		i = j;
	}
	return ng;
}

static void
outq_flush(struct outq *q)
{
	unsigned done = 0, ng = gso_group(q);

	while (done < ng) {
		int r = sendmmsg(q->fd, q->g + done, ng - done, MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == ENOBUFS) {
				/* Datagram semantics: a full socket drops. */
				break;
			}
			if (q->g[done].msg_hdr.msg_iovlen > 1) {
				/* GSO refused (unknown to the kernel, or a path
				 * MTU below the segment): this run one by one. */
				if (errno == ENOPROTOOPT || errno == EOPNOTSUPP)
					gso_ok = false;
				sendmmsg(q->fd, q->m + q->gfirst[done],
				    (unsigned)q->g[done].msg_hdr.msg_iovlen, MSG_DONTWAIT);
			}
			done++;		/* skip the one that failed */
			continue;
		}
		done += (unsigned)r;
	}
	q->n = 0;
	q->fd = -1;
}

static void
outq_push(struct outq *q, int fd, const void *buf, size_t len,
    const struct sockaddr *to, int sock_family, const union sockaddr_u *src)
{
	struct msghdr *h;
	unsigned i;

	if (q->n > 0 && (q->fd != fd || q->n == RELAY_BATCH))
		outq_flush(q);
	q->fd = fd;
	i = q->n++;
	h = &q->m[i].msg_hdr;
	q->iov[i].iov_base = (void *)buf;
	q->iov[i].iov_len = len;
	relay_dest(sock_family, to, &q->to[i]);
	h->msg_name = &q->to[i];
	h->msg_namelen = sa_len(&q->to[i].sa);
	h->msg_iov = &q->iov[i];
	h->msg_iovlen = 1;
	h->msg_flags = 0;
	if (src != NULL) {
		h->msg_control = q->ctrl[i].buf;
		h->msg_controllen = relay_pktinfo(q->ctrl[i].buf, CTRL_SPACE, src);
	} else {
		h->msg_control = NULL;
		h->msg_controllen = 0;
	}
}

void
relay_flush(void)
{
	if (to_peer.n > 0)
		outq_flush(&to_peer);
	if (to_client.n > 0)
		outq_flush(&to_client);
}

void
relay_forget(struct alloc *a)
{
	if (to_peer.n > 0 && to_peer.fd == a->fd)
		outq_flush(&to_peer);
}

void
relay_dest(int sock_family, const struct sockaddr *to, union sockaddr_u *out)
{
	if (sock_family == AF_INET6 && to->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)to;

		memset(out, 0, sizeof(out->sin6));
		out->sin6.sin6_family = AF_INET6;
		out->sin6.sin6_port = s->sin_port;
		out->sin6.sin6_addr.s6_addr[10] = 0xFF;
		out->sin6.sin6_addr.s6_addr[11] = 0xFF;
		memcpy(out->sin6.sin6_addr.s6_addr + 12, &s->sin_addr, 4);
		return;
	}
	memcpy(out, to, sa_len(to));
}

size_t
relay_pktinfo(void *ctrl, size_t cap, const union sockaddr_u *local)
{
	struct msghdr h = { .msg_control = ctrl, .msg_controllen = cap };
	struct cmsghdr *c = CMSG_FIRSTHDR(&h);

	memset(ctrl, 0, cap);
	if (local->sa.sa_family == AF_INET) {
		struct in_pktinfo pi = { .ipi_spec_dst = local->sin.sin_addr };

		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	if (local->sa.sa_family == AF_INET6) {
		struct in6_pktinfo pi = { .ipi6_addr = local->sin6.sin6_addr };

		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	return 0;
}

void
relay_to_client(const struct client_ep *ep, const uint8_t *buf, size_t len)
{
	if (ep->tp == TP_UDP) {
		union {
			char buf[CTRL_SPACE];
			struct cmsghdr align;
		} ctrl;
		union sockaddr_u to;
		struct iovec iov = { (void *)buf, len };
		struct msghdr h = {
			.msg_name = &to, .msg_iov = &iov, .msg_iovlen = 1,
		};

		relay_dest(ep->l->addr.family, &ep->addr.sa, &to);
		h.msg_namelen = sa_len(&to.sa);
		if (ep->have_local) {
			h.msg_control = ctrl.buf;
			h.msg_controllen = relay_pktinfo(ctrl.buf, sizeof(ctrl.buf),
			    &ep->local);
		}
		sendmsg(ep->l->fd, &h, MSG_DONTWAIT);
		return;
	}
	if (ep->conn != NULL)
		conn_send(ep->conn, buf, len, true);
}

/* Token bucket of the optional per-allocation bandwidth cap. */
static bool
bandwidth_ok(struct alloc *a, size_t len, uint64_t now)
{
	uint64_t cap = a->td->cfg->bandwidth;

	if (cap == 0)
		return true;
	if (now > a->tokens_ms) {
		a->tokens += cap * (now - a->tokens_ms) / 1000;
		if (a->tokens > cap)
			a->tokens = cap;
		a->tokens_ms = now;
	}
	if (a->tokens < len)
		return false;
	a->tokens -= len;
	return true;
}

static void
to_peer_send(struct alloc *a, const uint8_t *data, size_t len,
    const struct sockaddr *peer)
{
	a->bytes_to_peer += len;
	a->pkts_to_peer++;
	a->td->stats.relayed_to_peer++;
	a->td->stats.bytes_to_peer += len;
	outq_push(&to_peer, a->fd, data, len, peer, a->relay.sa.sa_family, NULL);
}

void
relay_channeldata(struct alloc *a, const uint8_t *buf, size_t len)
{
	uint16_t num = rd16(buf), dlen = rd16(buf + 2);
	uint64_t now = ev_now(a->td->loop);
	struct channel *c;

	/* RFC 8656 §12.4: unbound channel or short message: discard. */
	if ((size_t)dlen + CHANNELDATA_HDR_LEN > len ||
	    (c = channel_by_num(a, num)) == NULL || c->expire_ms <= now ||
	    !perm_ok(a, &c->peer.sa, now) || !bandwidth_ok(a, dlen, now)) {
		a->td->stats.dropped++;
		return;
	}
	to_peer_send(a, buf + CHANNELDATA_HDR_LEN, dlen, &c->peer.sa);
}

void
relay_send_indication(struct alloc *a, const struct stun_msg *m)
{
	const struct stun_attr *pa = stun_attr_get(m, STUN_A_XOR_PEER_ADDRESS);
	const struct stun_attr *da = stun_attr_get(m, STUN_A_DATA);
	uint64_t now = ev_now(a->td->loop);
	struct sockaddr_storage peer;

	/* §11.2: no peer, no data, wrong family or no permission: discard. */
	if (pa == NULL || da == NULL ||
	    stun_xaddr_decode(pa, m->tid, &peer) < 0 ||
	    peer.ss_family != a->relay.sa.sa_family ||
	    !perm_ok(a, (struct sockaddr *)&peer, now) ||
	    !bandwidth_ok(a, da->len, now)) {
		a->td->stats.dropped++;
		return;
	}
	alloc_set_df(a, stun_attr_get(m, STUN_A_DONT_FRAGMENT) != NULL);
	to_peer_send(a, da->val, da->len, (struct sockaddr *)&peer);
	/* The DF state must hold for this datagram: send it now. */
	relay_forget(a);
}

static void
next_tid(uint8_t tid[STUN_TID_LEN])
{
	/* Indications need unique, not secret, ids: a counter from a random
	 * start instead of a CSPRNG call per packet. */
	if (!tid_ready) {
		random_bytes(tid_state, sizeof(tid_state));
		tid_ready = true;
	}
	for (int i = STUN_TID_LEN - 1; i >= 0 && ++tid_state[i] == 0; i--)
		;
	memcpy(tid, tid_state, STUN_TID_LEN);
}

/* Frames payload (at p, len bytes, headroom before it) for the client;
 * returns the start and sets *out_len. */
static uint8_t *
frame_for_client(struct alloc *a, uint8_t *p, size_t len,
    const struct sockaddr *peer, uint64_t now, size_t *out_len)
{
	bool stream = a->ep.tp != TP_UDP;
	size_t pad = stream ? (4 - (len & 3)) & 3 : 0;
	struct channel *c;
	uint8_t *h;

	if (a->nchans > 0 && (c = channel_by_peer(a, peer)) != NULL &&
	    c->expire_ms > now) {
		h = p - CHANNELDATA_HDR_LEN;
		channeldata_hdr(h, c->num, (uint16_t)len);
		memset(p + len, 0, pad);
		*out_len = CHANNELDATA_HDR_LEN + len + pad;
		return h;
	} else {
		uint8_t tid[STUN_TID_LEN];
		size_t xlen = peer->sa_family == AF_INET ? 8 : 20;
		size_t hlen = STUN_HDR_LEN + 4 + xlen + 4;
		size_t dpad = (4 - (len & 3)) & 3;	/* STUN attrs always padded */
		struct stun_buf b;

		h = p - hlen;
		next_tid(tid);
		stun_build(&b, h, hlen, TURN_DATA, STUN_INDICATION, tid);
		stun_add_xaddr(&b, STUN_A_XOR_PEER_ADDRESS, peer);
		wr16(h + b.len, STUN_A_DATA);
		wr16(h + b.len + 2, (uint16_t)len);
		memset(p + len, 0, dpad);
		wr16(h + 2, (uint16_t)(hlen - STUN_HDR_LEN + len + dpad));
		*out_len = hlen + len + dpad;
		return h;
	}
}

/* Writes the gathered frames (dropped as a whole when the queue is full). */
static void
stream_flush(struct alloc *a, size_t *len)
{
	if (*len > 0 && a->ep.conn != NULL)
		conn_send(a->ep.conn, stream_out, *len, false);
	*len = 0;
}

void
relay_peer_cb(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
	struct alloc *a = io->data;
	struct turnd *td = a->td;
	size_t chunk = td->cfg->tcp_buffer < STREAM_CHUNK ? td->cfg->tcp_buffer :
	    STREAM_CHUNK;
	size_t slen = 0;
	int r;

	(void)ev;
	for (int i = 0; i < RELAY_BATCH; i++) {
		peer_iov[i].iov_base = peer_buf[i] + RELAY_HEADROOM;
		peer_iov[i].iov_len = RELAY_MTU;
		memset(&peer_msg[i].msg_hdr, 0, sizeof(peer_msg[i].msg_hdr));
		peer_msg[i].msg_hdr.msg_iov = &peer_iov[i];
		peer_msg[i].msg_hdr.msg_iovlen = 1;
		peer_msg[i].msg_hdr.msg_name = &peer_from[i];
		peer_msg[i].msg_hdr.msg_namelen = sizeof(peer_from[i]);
	}
	for (int round = 0; round < 4; round++) {
		uint64_t now = ev_now(loop);

		r = recvmmsg(a->fd, peer_msg, RELAY_BATCH, MSG_DONTWAIT, NULL);
		if (r <= 0)
			break;
		for (int i = 0; i < r; i++) {
			struct msghdr *h = &peer_msg[i].msg_hdr;
			const struct sockaddr *peer = &peer_from[i].sa;
			size_t len = peer_msg[i].msg_len, olen;
			uint8_t *out;

			h->msg_namelen = sizeof(peer_from[i]);
			if ((h->msg_flags & MSG_TRUNC) ||
			    !perm_ok(a, peer, now) || !bandwidth_ok(a, len, now)) {
				td->stats.dropped++;
				h->msg_flags = 0;
				continue;
			}
			out = frame_for_client(a, peer_buf[i] + RELAY_HEADROOM, len,
			    peer, now, &olen);
			a->bytes_to_client += len;
			a->pkts_to_client++;
			td->stats.relayed_to_client++;
			td->stats.bytes_to_client += len;
			if (a->ep.tp == TP_UDP) {
				outq_push(&to_client, a->ep.l->fd, out, olen,
				    &a->ep.addr.sa, a->ep.l->addr.family,
				    a->ep.have_local ? &a->ep.local : NULL);
				continue;
			}
			/* Closing is deferred by conn.c, so a stays valid. */
			if (a->ep.conn != NULL && conn_is_tls(a->ep.conn)) {
				/* A record per frame, sent together below. */
				conn_send(a->ep.conn, out, olen, false);
				continue;
			}
			if (slen + olen > chunk)
				stream_flush(a, &slen);
			if (olen > chunk) {
				if (a->ep.conn != NULL)
					conn_send(a->ep.conn, out, olen, false);
				continue;
			}
			memcpy(stream_out + slen, out, olen);
			slen += olen;
		}
		if (to_client.n > 0)
			outq_flush(&to_client);
		if (r < RELAY_BATCH)
			break;
	}
	stream_flush(a, &slen);
	if (a->ep.tp == TP_TLS && a->ep.conn != NULL)
		conn_flush(a->ep.conn);
}
