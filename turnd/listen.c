/*
 * listen — listening sockets and the UDP receive path.  See listen.h.
 */
#include "listen.h"
#include "alloc.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "relay.h"
#include "stun.h"
#include "turn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CTRL_SPACE CMSG_SPACE(sizeof(struct in6_pktinfo))

static uint8_t udp_buf[RELAY_BATCH][RELAY_MTU + STUN_HDR_LEN + 64];
static struct mmsghdr udp_msg[RELAY_BATCH];
static struct iovec udp_iov[RELAY_BATCH];
static union sockaddr_u udp_from[RELAY_BATCH];
static union {
	char buf[CTRL_SPACE];
	struct cmsghdr align;
} udp_ctrl[RELAY_BATCH];

static bool
is_wildcard(const struct edge_addr *a)
{
	if (a->family == AF_INET)
		return a->u.sin.sin_addr.s_addr == INADDR_ANY;
	return IN6_IS_ADDR_UNSPECIFIED(&a->u.sin6.sin6_addr);
}

static void
get_local(struct msghdr *h, struct client_ep *ep)
{
	struct cmsghdr *c;

	ep->have_local = false;
	for (c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memset(&ep->local, 0, sizeof(ep->local));
			ep->local.sin.sin_family = AF_INET;
			ep->local.sin.sin_addr = pi.ipi_addr;
			ep->have_local = true;
		} else if (c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memset(&ep->local, 0, sizeof(ep->local));
			ep->local.sin6.sin6_family = AF_INET6;
			ep->local.sin6.sin6_addr = pi.ipi6_addr;
			sa_unmap(&ep->local);
			ep->have_local = true;
		}
	}
}

static void
udp_cb(struct ev_loop *loop, struct ev_io *io, uint32_t ev)
{
	struct listener *l = io->data;
	struct turnd *td = l->td;
	bool wild = is_wildcard(&l->addr);

	(void)loop;
	(void)ev;
	for (int round = 0; round < 4; round++) {
		int r;

		for (int i = 0; i < RELAY_BATCH; i++) {
			struct msghdr *h = &udp_msg[i].msg_hdr;

			udp_iov[i].iov_base = udp_buf[i];
			udp_iov[i].iov_len = sizeof(udp_buf[i]);
			h->msg_iov = &udp_iov[i];
			h->msg_iovlen = 1;
			h->msg_name = &udp_from[i];
			h->msg_namelen = sizeof(udp_from[i]);
			h->msg_control = wild ? udp_ctrl[i].buf : NULL;
			h->msg_controllen = wild ? CTRL_SPACE : 0;
			h->msg_flags = 0;
		}
		r = recvmmsg(l->fd, udp_msg, RELAY_BATCH, MSG_DONTWAIT, NULL);
		if (r <= 0)
			break;
		for (int i = 0; i < r; i++) {
			struct msghdr *h = &udp_msg[i].msg_hdr;
			size_t len = udp_msg[i].msg_len;
			uint8_t *p = udp_buf[i];
			struct client_ep ep;
			struct alloc *a;

			if (h->msg_flags & MSG_TRUNC) {
				td->stats.dropped++;
				continue;
			}
			ep.tp = TP_UDP;
			ep.l = l;
			ep.conn = NULL;
			ep.addr = udp_from[i];
			sa_unmap(&ep.addr);
			if (wild)
				get_local(h, &ep);
			else
				ep.have_local = false;
			if (stun_is_channeldata(p, len)) {
				if ((a = alloc_find(td, &ep)) != NULL)
					relay_channeldata(a, p, len);
				else
					td->stats.dropped++;
			} else if (stun_is_stun(p, len)) {
				/* Binding needs no allocation lookup. */
				a = rd16(p) == 0x0001 ? NULL : alloc_find(td, &ep);
				turn_handle(td, &ep, a, p, len);
			} else {
				td->stats.dropped++;
			}
		}
		relay_flush();
		if (r < RELAY_BATCH)
			break;
	}
}

static int
add_listener(struct turnd *td, const struct edge_addr *a, enum transport tp,
    char *err, size_t errlen)
{
	struct listener *l;
	int fd, one = 1;

	fd = addr_listen(a, tp == TP_UDP ? SOCK_DGRAM : SOCK_STREAM, 1024, 0,
	    err, errlen);
	if (fd < 0)
		return -1;
	if (tp == TP_UDP && is_wildcard(a)) {
		if (a->family == AF_INET6) {
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
			if (a->dualstack)
				setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		} else {
			setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		}
	}
	l = &td->listeners[td->nlisteners++];
	l->td = td;
	l->tp = tp;
	l->fd = fd;
	l->addr = *a;
	ev_io_init(&l->io, fd, tp == TP_UDP ? udp_cb : conn_accept_cb, l);
	return 0;
}

int
listen_open(struct turnd *td, char *err, size_t errlen)
{
	const struct turnd_config *c = td->cfg;
	size_t max = c->nlisten * 2 + c->ntls_listen;

	td->listeners = calloc(max ? max : 1, sizeof(*td->listeners));
	if (td->listeners == NULL)
		fatal("out of memory");
	for (size_t i = 0; i < c->nlisten; i++) {
		if (add_listener(td, &c->listen[i], TP_UDP, err, errlen) < 0)
			return -1;
		if (c->listen_tcp &&
		    add_listener(td, &c->listen[i], TP_TCP, err, errlen) < 0)
			return -1;
	}
	for (size_t i = 0; i < c->ntls_listen; i++)
		if (add_listener(td, &c->tls_listen[i], TP_TLS, err, errlen) < 0)
			return -1;
	return 0;
}

int
listen_start(struct turnd *td)
{
	for (size_t i = 0; i < td->nlisteners; i++)
		if (ev_io_start(td->loop, &td->listeners[i].io, EPOLLIN) < 0)
			return -1;
	return 0;
}

void
listen_close(struct turnd *td)
{
	for (size_t i = 0; i < td->nlisteners; i++) {
		ev_io_stop(td->loop, &td->listeners[i].io);
		close(td->listeners[i].fd);
	}
	free(td->listeners);
	td->listeners = NULL;
	td->nlisteners = 0;
}
