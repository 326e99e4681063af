/*
 * conn — per-client connection limit and header deadline.  See conn.h.
 *
 * Ordering that makes the shutdown safe: libmicrohttpd sends
 * MHD_CONNECTION_NOTIFY_CLOSED before it closes the socket, and the
 * handler takes the lock, so a socket found on the deadline queue (under
 * the lock) is still open and still this connection's.
 */
#include "conn.h"
#include "evloop.h"
#include "log.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>

#define REPORT_EVERY_MS 10000	/* at most one summary line per this */

struct peer {
	struct peer *next;
	uint8_t key[CONN_KEY_LEN];
	unsigned n;			/* open connections */
};

struct conn_state {
	TAILQ_ENTRY(conn_state) q;
	struct peer *peer;		/* NULL: not counted */
	uint64_t deadline;		/* monotonic ms, while queued */
	int fd;
	bool queued;
};

static struct {
	pthread_mutex_t lock;
	bool running;
	struct peer **buckets;
	size_t nbuckets;		/* power of two */
	uint32_t seed;
	TAILQ_HEAD(, conn_state) waiting;	/* by deadline (one timeout) */
	unsigned per_ip;		/* 0: no limit */
	uint64_t header_ms;
	struct addr_cidr exempt[UPLOAD_MAX_EXEMPT];
	size_t nexempt;
	uint64_t refused, reaped, last_report;
	struct ev_loop *loop;
	struct ev_timer timer;
	uint64_t tick_ms;
} g = { .lock = PTHREAD_MUTEX_INITIALIZER };

int
upload_conn_key(const struct sockaddr *sa, uint8_t key[CONN_KEY_LEN])
{
	memset(key, 0, CONN_KEY_LEN);
	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		key[0] = 4;
		memcpy(key + 1, &s4->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			key[0] = 4;
			memcpy(key + 1, s6->sin6_addr.s6_addr + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, s6->sin6_addr.s6_addr, 8);
		}
		return 0;
	}
	return -1;
}

static size_t
bucket_of(const uint8_t key[CONN_KEY_LEN])
{
	/* FNV-1a, seeded so a client cannot aim at one bucket. */
	uint32_t h = 2166136261u ^ g.seed;

	for (size_t i = 0; i < CONN_KEY_LEN; i++)
		h = (h ^ key[i]) * 16777619u;
	return h & (g.nbuckets - 1);
}

/* The peer entry for key, created with n = 0; NULL without memory. */
static struct peer *
peer_get(const uint8_t key[CONN_KEY_LEN])
{
	size_t b = bucket_of(key);
	struct peer *p;

	for (p = g.buckets[b]; p != NULL; p = p->next)
		if (memcmp(p->key, key, CONN_KEY_LEN) == 0)
			return p;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	memcpy(p->key, key, CONN_KEY_LEN);
	p->next = g.buckets[b];
	g.buckets[b] = p;
	return p;
}

static void
peer_put(struct peer *p)
{
	struct peer **pp;

	if (--p->n > 0)
		return;
	for (pp = &g.buckets[bucket_of(p->key)]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	free(p);
}

static void
enqueue(struct conn_state *s, uint64_t now)
{
	if (s->queued)
		TAILQ_REMOVE(&g.waiting, s, q);
	s->deadline = now + g.header_ms;
	TAILQ_INSERT_TAIL(&g.waiting, s, q);
	s->queued = true;
}

static void
dequeue(struct conn_state *s)
{
	if (s->queued)
		TAILQ_REMOVE(&g.waiting, s, q);
	s->queued = false;
}

/* Under the lock: may this connection count against its client?  */
static bool
admit(struct conn_state *s, const struct sockaddr *sa)
{
	uint8_t key[CONN_KEY_LEN];
	struct peer *p;

	if (g.per_ip == 0 || upload_conn_key(sa, key) < 0 ||
	    addr_cidr_match_any(g.exempt, g.nexempt, sa))
		return true;
	/* A new entry has n = 0 < per_ip, so a refused one is never empty. */
	if ((p = peer_get(key)) == NULL || p->n >= g.per_ip) {
		g.refused++;
		return false;
	}
	p->n++;
	s->peer = p;
	return true;
}

static void
on_started(struct MHD_Connection *conn, void **socket_context)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa = NULL;
	struct conn_state *s;
	int fd;

	if ((ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD)) == NULL)
		return;
	fd = ci->connect_fd;
	if ((ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS)) != NULL)
		sa = ci->client_addr;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		shutdown(fd, SHUT_RDWR);
		return;
	}
	s->fd = fd;
	*socket_context = s;
	pthread_mutex_lock(&g.lock);
	if (!g.running || !admit(s, sa))
		shutdown(fd, SHUT_RDWR);	/* libmicrohttpd closes it */
	else
		enqueue(s, ev_clock_ms());
	pthread_mutex_unlock(&g.lock);
}

void
upload_conn_notify(void *cls, struct MHD_Connection *conn,
    void **socket_context, enum MHD_ConnectionNotificationCode code)
{
	struct conn_state *s = *socket_context;

	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		on_started(conn, socket_context);
		return;
	}
	if (s == NULL)
		return;
	pthread_mutex_lock(&g.lock);
	dequeue(s);
	if (s->peer != NULL)
		peer_put(s->peer);
	pthread_mutex_unlock(&g.lock);
	free(s);
	*socket_context = NULL;
}

static struct conn_state *
state_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

void
upload_conn_request_begins(struct MHD_Connection *conn)
{
	struct conn_state *s = state_of(conn);

	if (s == NULL)
		return;
	pthread_mutex_lock(&g.lock);
	dequeue(s);
	pthread_mutex_unlock(&g.lock);
}

void
upload_conn_request_ends(struct MHD_Connection *conn)
{
	struct conn_state *s = state_of(conn);

	if (s == NULL)
		return;
	pthread_mutex_lock(&g.lock);
	if (g.running)
		enqueue(s, ev_clock_ms());
	pthread_mutex_unlock(&g.lock);
}

static void
on_tick(struct ev_loop *loop, struct ev_timer *t)
{
	uint64_t now = ev_clock_ms(), refused = 0, reaped = 0;
	struct conn_state *s;

	pthread_mutex_lock(&g.lock);
	while ((s = TAILQ_FIRST(&g.waiting)) != NULL && s->deadline <= now) {
		dequeue(s);
		shutdown(s->fd, SHUT_RDWR);
		g.reaped++;
	}
	if ((g.refused || g.reaped) && now - g.last_report >= REPORT_EVERY_MS) {
		refused = g.refused;
		reaped = g.reaped;
		g.refused = g.reaped = 0;
		g.last_report = now;
	}
	pthread_mutex_unlock(&g.lock);
	if (refused)
		log_notice("refused %llu connection(s) over max_connections_per_ip",
		    (unsigned long long)refused);
	if (reaped)
		log_notice("closed %llu connection(s) that sent no complete request "
		    "within header_timeout", (unsigned long long)reaped);
	ev_timer_start(loop, t, g.tick_ms);
}

int
upload_conn_start(const struct upload_config *c, struct ev_loop *loop,
    char *err, size_t errlen)
{
	size_t want = (size_t)c->max_connections * (c->nlisten ? c->nlisten : 1);

	g.nbuckets = 64;
	while (g.nbuckets < want && g.nbuckets < 65536)
		g.nbuckets <<= 1;
	if ((g.buckets = calloc(g.nbuckets, sizeof(*g.buckets))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (getrandom(&g.seed, sizeof(g.seed), 0) != sizeof(g.seed))
		g.seed = (uint32_t)ev_clock_ms();
	TAILQ_INIT(&g.waiting);
	g.per_ip = c->max_connections_per_ip;
	g.header_ms = (uint64_t)c->header_timeout * 1000;
	g.nexempt = c->nexempt;
	memcpy(g.exempt, c->exempt, sizeof(g.exempt));
	/* The deadline is met within a quarter of it (100 ms to 1 s). */
	g.tick_ms = g.header_ms / 4;
	g.tick_ms = g.tick_ms < 100 ? 100 : g.tick_ms > 1000 ? 1000 : g.tick_ms;
	g.loop = loop;
	g.running = true;
	ev_timer_init(&g.timer, on_tick, NULL);
	ev_timer_start(loop, &g.timer, g.tick_ms);
	return 0;
}

void
upload_conn_stop(void)
{
	/* After the HTTP daemons stopped: every connection is closed. */
	ev_timer_stop(g.loop, &g.timer);
	pthread_mutex_lock(&g.lock);
	g.running = false;
	pthread_mutex_unlock(&g.lock);
	for (size_t i = 0; i < g.nbuckets; i++)
		while (g.buckets[i] != NULL) {
			struct peer *p = g.buckets[i];

			g.buckets[i] = p->next;
			free(p);
		}
	free(g.buckets);
	g.buckets = NULL;
}
