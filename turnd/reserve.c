/*
 * reserve — port reservations.  See reserve.h.
 */
#include "reserve.h"
#include "crypto.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct reservation {
	struct hnode node;
	struct turnd *td;
	int fd;
	union sockaddr_u bound;
	struct ev_timer timer;
	uint8_t token[RESERVE_TOKEN_LEN];
};

static void
drop(struct reservation *r)
{
	hash_remove(&r->td->reserved, &r->node);
	ev_timer_stop(r->td->loop, &r->timer);
	free(r);
}

static void
expire_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct reservation *r = t->data;

	(void)loop;
	close(r->fd);
	drop(r);
}

int
reserve_add(struct turnd *td, int fd, const union sockaddr_u *bound,
    uint8_t token[RESERVE_TOKEN_LEN])
{
	struct reservation *r = calloc(1, sizeof(*r));

	if (r == NULL || random_bytes(r->token, sizeof(r->token)) < 0) {
		free(r);
		return -1;
	}
	r->td = td;
	r->fd = fd;
	r->bound = *bound;
	memcpy(token, r->token, RESERVE_TOKEN_LEN);
	hash_insert(&td->reserved, &r->node,
	    hash_bytes(r->token, RESERVE_TOKEN_LEN, hash_seed));
	ev_timer_init(&r->timer, expire_cb, r);
	ev_timer_start(td->loop, &r->timer, RESERVE_LIFETIME_MS);
	return 0;
}

int
reserve_take(struct turnd *td, const uint8_t *token, union sockaddr_u *bound)
{
	uint32_t h = hash_bytes(token, RESERVE_TOKEN_LEN, hash_seed);
	struct hnode *n;

	for (n = hash_first(&td->reserved, h); n != NULL; n = hash_next(n, h)) {
		struct reservation *r = container_of(n, struct reservation, node);

		if (ct_equal(r->token, token, RESERVE_TOKEN_LEN)) {
			int fd = r->fd;

			*bound = r->bound;
			drop(r);
			return fd;
		}
	}
	return -1;
}

void
reserve_free_all(struct turnd *td)
{
	for (size_t i = 0; i <= td->reserved.mask; i++) {
		while (td->reserved.b[i] != NULL) {
			struct reservation *r = container_of(td->reserved.b[i],
			    struct reservation, node);

			close(r->fd);
			drop(r);
		}
	}
}
