/*
 * channel — channel bindings.  See channel.h.
 */
#include "channel.h"
#include "alloc.h"
#include "config.h"

#include <stdlib.h>
#include <string.h>

/*
 * RFC 8656 §12: after a binding expires, neither its number nor its peer
 * may be bound otherwise for five more minutes (ChannelData still in
 * flight must not reach a new peer).  An expired binding stays in the
 * tables that long, carrying no data, and can be refreshed as it was.
 */
#define CHANNEL_COOL_MS (5 * 60 * 1000)

static uint32_t
num_hash(const struct alloc *a, uint16_t num)
{
	uint8_t key[sizeof(void *) + 2];

	memcpy(key, &a, sizeof(void *));
	memcpy(key + sizeof(void *), &num, 2);
	return hash_bytes(key, sizeof(key), hash_seed);
}

static uint32_t
peer_hash(const struct alloc *a, const struct sockaddr *peer)
{
	uint8_t key[sizeof(void *) + 18];
	size_t len = sizeof(void *);

	memcpy(key, &a, sizeof(void *));
	if (peer->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)peer;

		memcpy(key + len, &s->sin_port, 2);
		memcpy(key + len + 2, &s->sin_addr, 4);
		len += 6;
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)peer;

		memcpy(key + len, &s->sin6_port, 2);
		memcpy(key + len + 2, &s->sin6_addr, 16);
		len += 18;
	}
	return hash_bytes(key, len, hash_seed);
}

struct channel *
channel_by_num(struct alloc *a, uint16_t num)
{
	uint32_t h = num_hash(a, num);
	struct hnode *n;

	for (n = hash_first(&a->td->chan_num, h); n != NULL; n = hash_next(n, h)) {
		struct channel *c = container_of(n, struct channel, by_num);

		if (c->a == a && c->num == num)
			return c;
	}
	return NULL;
}

struct channel *
channel_by_peer(struct alloc *a, const struct sockaddr *peer)
{
	uint32_t h = peer_hash(a, peer);
	struct hnode *n;

	for (n = hash_first(&a->td->chan_peer, h); n != NULL; n = hash_next(n, h)) {
		struct channel *c = container_of(n, struct channel, by_peer);

		if (c->a == a && sa_equal(&c->peer.sa, peer))
			return c;
	}
	return NULL;
}

enum channel_bind_rc
channel_check(struct alloc *a, uint16_t num, const struct sockaddr *peer,
    uint64_t now)
{
	struct channel *bn = channel_by_num(a, num);
	struct channel *bp = channel_by_peer(a, peer);

	(void)now;
	/* RFC 8656 §12.2: a number is bound to one peer and a peer to one
	 * number for the lifetime of the binding. */
	if (bn != NULL || bp != NULL)
		return bn == bp ? CHANNEL_BOUND : CHANNEL_CONFLICT;
	if (a->nchans >= a->td->cfg->max_channels)
		return CHANNEL_QUOTA;
	return CHANNEL_BOUND;
}

enum channel_bind_rc
channel_bind(struct alloc *a, uint16_t num, const struct sockaddr *peer,
    uint64_t now)
{
	enum channel_bind_rc rc = channel_check(a, num, peer, now);
	struct channel *c;

	if (rc != CHANNEL_BOUND)
		return rc;
	if ((c = channel_by_num(a, num)) == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return CHANNEL_QUOTA;
		c->a = a;
		c->num = num;
		memcpy(&c->peer, peer, sa_len(peer));
		c->next = a->chans;
		a->chans = c;
		a->nchans++;
		hash_insert(&a->td->chan_num, &c->by_num, num_hash(a, num));
		hash_insert(&a->td->chan_peer, &c->by_peer, peer_hash(a, peer));
	}
	c->expire_ms = now + (uint64_t)a->td->cfg->channel_lifetime * 1000;
	return CHANNEL_BOUND;
}

static void
unlink_free(struct alloc *a, struct channel *c)
{
	hash_remove(&a->td->chan_num, &c->by_num);
	hash_remove(&a->td->chan_peer, &c->by_peer);
	free(c);
}

uint64_t
channel_sweep(struct alloc *a, uint64_t now)
{
	struct channel **pp = &a->chans, *c;
	uint64_t earliest = 0;

	while ((c = *pp) != NULL) {
		uint64_t gone = c->expire_ms + CHANNEL_COOL_MS;

		if (gone <= now) {
			*pp = c->next;
			a->nchans--;
			unlink_free(a, c);
			continue;
		}
		if (earliest == 0 || gone < earliest)
			earliest = gone;
		pp = &c->next;
	}
	return earliest;
}

void
channel_free_all(struct alloc *a)
{
	struct channel *c, *next;

	for (c = a->chans; c != NULL; c = next) {
		next = c->next;
		unlink_free(a, c);
	}
	a->chans = NULL;
	a->nchans = 0;
}
