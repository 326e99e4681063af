/*
 * alloc — allocations.  See alloc.h.
 *
 * Memory per allocation is this struct, the username and the relay
 * socket; everything is given back when it is freed.  The single timer
 * fires at the earliest of the allocation's expiry and its permissions'
 * and channels' expiries, so lifetimes are exact without a timer each.
 */
#include "alloc.h"
#include "channel.h"
#include "config.h"
#include "crypto.h"
#include "conn.h"
#include "log.h"
#include "perm.h"
#include "relay.h"
#include "reserve.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t
tuple_hash(const struct listener *l, const struct sockaddr *client,
    const struct sockaddr *local)
{
	uint8_t key[sizeof(void *) + 2 * 18];
	size_t len = 0;
	const struct sockaddr *sas[2] = { client, local };

	memcpy(key, &l, sizeof(void *));
	len = sizeof(void *);
	for (int i = 0; i < 2; i++) {
		const struct sockaddr *sa = sas[i];

		if (sa == NULL || sa->sa_family == 0)
			continue;
		if (sa->sa_family == AF_INET) {
			const struct sockaddr_in *s = (const struct sockaddr_in *)sa;

			memcpy(key + len, &s->sin_port, 2);
			memcpy(key + len + 2, &s->sin_addr, 4);
			len += 6;
		} else {
			const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;

			memcpy(key + len, &s->sin6_port, 2);
			memcpy(key + len + 2, &s->sin6_addr, 16);
			len += 18;
		}
	}
	return hash_bytes(key, len, hash_seed);
}

static uint32_t
ep_hash(const struct client_ep *ep)
{
	return tuple_hash(ep->l, &ep->addr.sa,
	    ep->have_local ? &ep->local.sa : NULL);
}

struct alloc *
alloc_find(struct turnd *td, const struct client_ep *ep)
{
	uint32_t h = ep_hash(ep);
	struct hnode *n;

	for (n = hash_first(&td->allocs, h); n != NULL; n = hash_next(n, h)) {
		struct alloc *a = container_of(n, struct alloc, node);

		if (a->ep.l == ep->l && sa_equal(&a->ep.addr.sa, &ep->addr.sa) &&
		    a->ep.have_local == ep->have_local &&
		    (!ep->have_local || sa_ip_equal(&a->ep.local.sa, &ep->local.sa)))
			return a;
	}
	return NULL;
}

/* The user part of "<digits>:<user>" (the whole name otherwise). */
static const char *
rest_user_part(const char *user, size_t ulen)
{
	size_t i = 0;

	while (i < ulen && user[i] >= '0' && user[i] <= '9')
		i++;
	return i > 0 && i < ulen && user[i] == ':' ? user + i + 1 : user;
}

static uint32_t
user_hash(const char *user, size_t ulen)
{
	return hash_bytes(user, ulen, hash_seed ^ 0x5bd1e995u);
}

static struct user_count *
user_get(struct turnd *td, const char *user, size_t ulen, bool create)
{
	uint32_t h = user_hash(user, ulen);
	struct user_count *uc;
	struct hnode *n;

	for (n = hash_first(&td->users, h); n != NULL; n = hash_next(n, h)) {
		uc = container_of(n, struct user_count, node);
		if (strlen(uc->name) == ulen && memcmp(uc->name, user, ulen) == 0)
			return uc;
	}
	if (!create || (uc = calloc(1, sizeof(*uc) + ulen + 1)) == NULL)
		return NULL;
	memcpy(uc->name, user, ulen);
	hash_insert(&td->users, &uc->node, h);
	return uc;
}

static void
user_put(struct turnd *td, struct user_count *uc)
{
	if (--uc->n == 0) {
		hash_remove(&td->users, &uc->node);
		free(uc);
	}
}

static int
bind_port(int family, const struct turnd_config *c, uint16_t port,
    union sockaddr_u *bound)
{
	int fd, one = 1, pmtu = IP_PMTUDISC_DONT;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(bound, 0, sizeof(*bound));
	if (family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		bound->sin6 = c->relay6;
		bound->sin6.sin6_port = htons(port);
	} else {
		setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
		bound->sin = c->relay4;
		bound->sin.sin_port = htons(port);
	}
	if (bind(fd, &bound->sa, sa_len(&bound->sa)) == 0)
		return fd;
	close(fd);
	return -1;
}

/*
 * A UDP socket bound to a random port of the range (even if asked; with
 * *next_fd also the odd port after it, for a reservation); -1 when none
 * is free.
 */
static int
relay_socket(const struct turnd_config *c, int family, bool even,
    union sockaddr_u *bound, int *next_fd, union sockaddr_u *next_bound)
{
	unsigned span = (unsigned)c->port_max - c->port_min + 1;
	uint32_t r;

	for (int tries = 0; tries < 64; tries++) {
		uint16_t port;
		int fd;

		if (random_bytes(&r, sizeof(r)) < 0)
			return -1;
		port = (uint16_t)(c->port_min + r % span);
		if (even && (port & 1)) {
			if (port == c->port_min)
				continue;
			port--;
		}
		if (next_fd != NULL && port == c->port_max)
			continue;
		if ((fd = bind_port(family, c, port, bound)) < 0) {
			if (errno != EADDRINUSE)
				return -1;
			continue;
		}
		if (next_fd == NULL)
			return fd;
		if ((*next_fd = bind_port(family, c, port + 1, next_bound)) >= 0)
			return fd;
		close(fd);
		if (errno != EADDRINUSE)
			return -1;
	}
	errno = EADDRINUSE;
	return -1;
}

void
alloc_set_df(struct alloc *a, bool df)
{
	if (a->df == df)
		return;
	if (a->relay.sa.sa_family == AF_INET) {
		int v = df ? IP_PMTUDISC_DO : IP_PMTUDISC_DONT;

		setsockopt(a->fd, IPPROTO_IP, IP_MTU_DISCOVER, &v, sizeof(v));
	} else {
		int v = df ? 1 : 0;

		setsockopt(a->fd, IPPROTO_IPV6, IPV6_DONTFRAG, &v, sizeof(v));
	}
	a->df = df;
}

static void
alloc_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct alloc *a = t->data;
	uint64_t now = ev_now(loop);

	if (now >= a->expire_ms) {
		alloc_free(a, "expired");
		return;
	}
	alloc_schedule(a);
}

void
alloc_schedule(struct alloc *a)
{
	uint64_t now = ev_now(a->td->loop);
	uint64_t next = a->expire_ms, p, c;

	p = perm_sweep(a, now);
	c = channel_sweep(a, now);
	if (p != 0 && p < next)
		next = p;
	if (c != 0 && c < next)
		next = c;
	ev_timer_start(a->td->loop, &a->timer, next > now ? next - now : 0);
}

/* Opens (or claims) the relay socket for rq; 0 or the error code. */
static int
open_relay(struct turnd *td, struct alloc_req *rq, union sockaddr_u *bound,
    int *fdp)
{
	const struct turnd_config *c = td->cfg;
	union sockaddr_u next_bound;
	int next_fd = -1;

	if (rq->token != NULL) {
		/* §7.2: an unknown or expired token is 508. */
		if ((*fdp = reserve_take(td, rq->token, bound)) < 0)
			return ALLOC_CAPACITY;
		return 0;
	}
	if ((rq->family == AF_INET && !c->relay4_set) ||
	    (rq->family == AF_INET6 && !c->relay6_set))
		return ALLOC_FAMILY;
	*fdp = relay_socket(c, rq->family, rq->even_port || rq->reserve, bound,
	    rq->reserve ? &next_fd : NULL, &next_bound);
	if (*fdp < 0) {
		log_warn("no free relay port (%s)", strerror(errno));
		return ALLOC_CAPACITY;
	}
	if (rq->reserve) {
		if (reserve_add(td, next_fd, &next_bound, rq->token_out) < 0) {
			close(next_fd);
			close(*fdp);
			return ALLOC_CAPACITY;
		}
		rq->token_made = true;
	}
	return 0;
}

struct alloc *
alloc_create(struct turnd *td, const struct client_ep *ep,
    struct alloc_req *rq, int *err)
{
	const struct turnd_config *c = td->cfg;
	const char *quser = rest_user_part(rq->user, rq->ulen);
	struct user_count *uc;
	struct alloc *a;
	size_t qlen;

	if (td->nallocs >= c->max_allocations) {
		*err = ALLOC_CAPACITY;
		return NULL;
	}
	/* Quotas count the user, not the credential: every XEP-0215 fetch
	 * yields a new "<expiry>:<user>" name for the same user. */
	qlen = rq->ulen - (size_t)(quser - rq->user);
	uc = user_get(td, quser, qlen, false);
	if (uc != NULL && uc->n >= c->max_allocations_per_user) {
		*err = ALLOC_QUOTA_USER;
		return NULL;
	}
	*err = ALLOC_CAPACITY;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return NULL;
	if ((a->user = malloc(rq->ulen + 1)) == NULL ||
	    (*err = open_relay(td, rq, &a->relay, &a->fd)) != 0)
		goto fail;
	if ((uc = user_get(td, quser, qlen, true)) == NULL) {
		close(a->fd);
		*err = ALLOC_CAPACITY;
		goto fail;
	}
	uc->n++;
	a->uc = uc;
	memcpy(a->user, rq->user, rq->ulen);
	a->user[rq->ulen] = '\0';
	a->td = td;
	a->ep = *ep;
	a->ext = a->relay;
	if (a->relay.sa.sa_family == AF_INET)
		a->ext.sin.sin_addr = c->ext4.sin_addr;
	else
		a->ext.sin6.sin6_addr = c->ext6.sin6_addr;
	memcpy(a->key, rq->key, rq->keylen);
	a->keylen = (uint8_t)rq->keylen;
	memcpy(a->tid, rq->tid, STUN_TID_LEN);
	a->created_ms = ev_now(td->loop);
	a->tokens = c->bandwidth;
	a->tokens_ms = a->created_ms;
	if (rq->df)
		alloc_set_df(a, true);
	ev_io_init(&a->io, a->fd, relay_peer_cb, a);
	ev_timer_init(&a->timer, alloc_timer_cb, a);
	if (ep->tp == TP_UDP)
		hash_insert(&td->allocs, &a->node, ep_hash(ep));
	td->nallocs++;
	td->stats.allocs_total++;
	if (ev_io_start(td->loop, &a->io, EPOLLIN) < 0) {
		alloc_free(a, "no event slot");
		*err = ALLOC_CAPACITY;
		return NULL;
	}
	alloc_refresh(a, rq->lifetime);
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char cs[64], rs[64];

		log_debug("allocation %s user=%s client=%s relay=%s",
		    ep->tp == TP_UDP ? "udp" : ep->tp == TP_TCP ? "tcp" : "tls",
		    auth_display_user(a->user), sa_str(&ep->addr.sa, cs, sizeof(cs)),
		    sa_str(&a->ext.sa, rs, sizeof(rs)));
	}
	return a;
fail:
	free(a->user);
	free(a);
	return NULL;
}

void
alloc_refresh(struct alloc *a, uint32_t lifetime)
{
	a->lifetime = lifetime;
	a->expire_ms = ev_now(a->td->loop) + (uint64_t)lifetime * 1000;
	alloc_schedule(a);
}

/*
 * glibc keeps freed small chunks in the heap; a second after allocations
 * were freed, hand the free pages back to the kernel so RSS follows the
 * number of live allocations.
 */
static void
trim_cb(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	(void)t;
	malloc_trim(0);
}

void
alloc_init(struct turnd *td)
{
	ev_timer_init(&td->trim, trim_cb, td);
}

void
alloc_free(struct alloc *a, const char *why)
{
	struct turnd *td = a->td;
	char cs[64], rs[64];

	/* The one line per allocation: who, where, how much, why it ended. */
	log_notice("allocation closed (%s): transport=%s user=%s client=%s "
	    "relay=%s duration=%llus to_peer=%llu bytes/%llu pkts "
	    "to_client=%llu bytes/%llu pkts", why,
	    a->ep.tp == TP_UDP ? "udp" : a->ep.tp == TP_TCP ? "tcp" : "tls",
	    auth_display_user(a->user), sa_str(&a->ep.addr.sa, cs, sizeof(cs)),
	    sa_str(&a->ext.sa, rs, sizeof(rs)),
	    (unsigned long long)((ev_now(td->loop) - a->created_ms) / 1000),
	    (unsigned long long)a->bytes_to_peer,
	    (unsigned long long)a->pkts_to_peer,
	    (unsigned long long)a->bytes_to_client,
	    (unsigned long long)a->pkts_to_client);
	relay_forget(a);
	perm_free_all(a);
	channel_free_all(a);
	ev_timer_stop(td->loop, &a->timer);
	ev_io_stop(td->loop, &a->io);
	close(a->fd);
	if (a->ep.tp == TP_UDP)
		hash_remove(&td->allocs, &a->node);
	else if (a->ep.conn != NULL)
		conn_alloc_gone(a->ep.conn);
	user_put(td, a->uc);
	td->nallocs--;
	if (!td->stopping && !ev_timer_active(&td->trim))
		ev_timer_start(td->loop, &td->trim, 1000);
	explicit_bzero(a->key, sizeof(a->key));
	free(a->user);
	free(a);
}

void
alloc_free_all(struct turnd *td)
{
	for (size_t i = 0; i <= td->allocs.mask; i++) {
		while (td->allocs.b[i] != NULL)
			alloc_free(container_of(td->allocs.b[i], struct alloc, node),
			    "shutdown");
	}
}
