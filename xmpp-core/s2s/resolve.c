/*
 * resolve — the resolver thread.  See resolve.h.
 *
 * The event loop never waits for DNS: a query is queued to one worker
 * thread that runs res_nquery (SRV) and getaddrinfo (A/AAAA) with its
 * own resolver state, then hands the ordered address list back through
 * an eventfd.  One thread is enough: answers are cached, and a link
 * asks once per connection attempt.  The cache lives on the thread
 * (only it touches it); an SRV answer is kept for its smallest TTL, an
 * answer from getaddrinfo (which tells no TTL) for cache_ms.
 */
#include "resolve.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <resolv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "evloop.h"
#include "hmap.h"
#include "idna.h"
#include "log.h"

#define MAX_SRV 32		/* records per SRV answer we consider */
#define MAX_TARGETS 64		/* addresses handed to a link */

struct resolve_req {
	struct resolve_req *next;
	char domain[256];	/* A-label */
	char host[256];		/* static route, "" for DNS */
	int port;
	bool direct_tls;
	uint64_t cache_ms;
	bool cancelled;		/* by the loop; freed when it comes back */
	struct s2s_target t[MAX_TARGETS];
	size_t n;
	char why[320];
	resolve_cb *cb;
	void *arg;
};

struct cached {
	uint64_t expires;	/* monotonic ms */
	struct s2s_target t[MAX_TARGETS];
	size_t n;
};

static struct {
	struct ev_loop *loop;
	struct ev_io io;
	int efd;
	pthread_t thread;
	bool running, stop, flush;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct resolve_req *todo, **todo_tail, *done, **done_tail;
	struct hmap cache;	/* thread only: key -> struct cached */
	struct __res_state rs;
} R = { .efd = -1, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

/* ---- pure parts ---- */

static int
srv_cmp(const void *a, const void *b)
{
	const struct srv_rec *x = a, *y = b;

	if (x->prio != y->prio)
		return x->prio < y->prio ? -1 : 1;
	if (x->direct_tls != y->direct_tls)
		return x->direct_tls ? -1 : 1;
	/* RFC 2782: weight 0 at the start of the running sum */
	if ((x->weight == 0) != (y->weight == 0))
		return x->weight == 0 ? -1 : 1;
	return 0;
}

size_t
resolve_srv_order(struct srv_rec *r, size_t n, uint32_t (*rnd)(void *), void *arg)
{
	size_t i = 0, j, end, pick;
	uint64_t sum, run, x;
	struct srv_rec tmp;

	/* qsort is not stable, and the order within a group is drawn anyway */
	qsort(r, n, sizeof(*r), srv_cmp);
	while (i < n) {
		end = i;
		while (end < n && r[end].prio == r[i].prio &&
		    r[end].direct_tls == r[i].direct_tls)
			end++;
		/* RFC 2782: draw among the group's unordered records until
		 * one is left: the first whose running sum reaches the draw */
		for (; i + 1 < end; i++) {
			sum = 0;
			for (j = i; j < end; j++)
				sum += r[j].weight;
			x = sum ? rnd(arg) % (sum + 1) : 0;
			pick = i;
			for (run = 0, j = i; j < end; j++) {
				run += r[j].weight;
				if (run >= x) {
					pick = j;
					break;
				}
			}
			tmp = r[i];
			r[i] = r[pick];
			r[pick] = tmp;
			/* the remaining ones keep weight 0 first */
			if (i + 2 < end)
				qsort(r + i + 1, end - i - 1, sizeof(*r), srv_cmp);
		}
		i = end;
	}
	return n;
}

/* One UTF-8 sequence: the code point and its length, or -1. */
static int
utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	int n;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		*cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		*cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		*cp = s[0] & 0x07;
	} else
		return -1;
	if ((size_t)n > len)
		return -1;
	for (int k = 1; k < n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return -1;
		*cp = (*cp << 6) | (s[k] & 0x3f);
	}
	return n;
}

long
resolve_alabel(const char *in, char *out, size_t cap)
{
	uint32_t cp[64];
	size_t o = 0, ncp;
	const char *p = in, *dot;
	bool ascii;
	long l;
	int k;

	for (;;) {
		dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		ascii = true;
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)p[i] >= 0x80)
				ascii = false;
		if (ascii) {
			if (o + len + 1 >= cap)
				return -1;
			memcpy(out + o, p, len);
			o += len;
		} else {
			ncp = 0;
			for (size_t i = 0; i < len; i += (size_t)k) {
				if (ncp == sizeof(cp) / sizeof(cp[0]) ||
				    (k = utf8_next((const unsigned char *)p + i, len - i,
				    &cp[ncp])) < 0)
					return -1;
				ncp++;
			}
			if (o + 4 >= cap)
				return -1;
			memcpy(out + o, "xn--", 4);
			o += 4;
			if ((l = idna_punycode_encode(cp, ncp, out + o, cap - o)) < 0)
				return -1;
			o += (size_t)l;
			if (l > 59)
				return -1;	/* RFC 5890: 63 octets a label */
		}
		if (dot == NULL)
			break;
		if (o + 2 >= cap)
			return -1;
		out[o++] = '.';
		p = dot + 1;
	}
	out[o] = '\0';
	return (long)o;
}

/* ---- the thread ---- */

static uint32_t
rnd32(void *unused)
{
	uint32_t v = 0;

	(void)unused;
	(void)random_bytes(&v, sizeof(v));
	return v;
}

/* getaddrinfo of host:port, appended to q->t with IPv6 and IPv4
 * interleaved (RFC 8305 §4: the next family gets a try early). */
static void
add_addrs(struct resolve_req *q, const char *host, int port, bool direct_tls)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV };
	struct addrinfo *res = NULL, *ai, *fam[2][MAX_TARGETS];
	size_t nf[2] = { 0, 0 };
	char ps[8];
	int rc;

	snprintf(ps, sizeof(ps), "%d", port);
	if ((rc = getaddrinfo(host, ps, &hints, &res)) != 0) {
		snprintf(q->why, sizeof(q->why), "%s: %s", host, gai_strerror(rc));
		return;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		int f = ai->ai_family == AF_INET6 ? 0 : 1;

		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    nf[f] < MAX_TARGETS && ai->ai_addrlen <= sizeof(q->t[0].ss))
			fam[f][nf[f]++] = ai;
	}
	for (size_t i = 0; i < nf[0] || i < nf[1]; i++) {
		for (int f = 0; f < 2; f++) {
			if (i >= nf[f] || q->n == MAX_TARGETS)
				continue;
			memcpy(&q->t[q->n].ss, fam[f][i]->ai_addr, fam[f][i]->ai_addrlen);
			q->t[q->n].len = fam[f][i]->ai_addrlen;
			q->t[q->n].direct_tls = direct_tls;
			q->n++;
		}
	}
	freeaddrinfo(res);
}

/* SRV records of name appended to r: the smallest TTL, or 0 when none. */
static uint32_t
query_srv(const char *name, bool direct_tls, struct srv_rec *r, size_t *n,
    bool *refused)
{
	unsigned char ans[NS_PACKETSZ * 4];
	ns_msg m;
	ns_rr rr;
	uint32_t ttl = 0;
	int len;

	if ((len = res_nquery(&R.rs, name, ns_c_in, ns_t_srv, ans, sizeof(ans))) < 0)
		return 0;
	if (ns_initparse(ans, len, &m) == -1)
		return 0;
	for (int i = 0; i < ns_msg_count(m, ns_s_an) && *n < MAX_SRV; i++) {
		const unsigned char *d;
		struct srv_rec *s = &r[*n];

		if (ns_parserr(&m, ns_s_an, i, &rr) == -1 || ns_rr_type(rr) != ns_t_srv ||
		    ns_rr_rdlen(rr) < 7)
			continue;
		d = ns_rr_rdata(rr);
		s->prio = (uint16_t)(d[0] << 8 | d[1]);
		s->weight = (uint16_t)(d[2] << 8 | d[3]);
		s->port = (uint16_t)(d[4] << 8 | d[5]);
		s->direct_tls = direct_tls;
		if (dn_expand(ns_msg_base(m), ns_msg_end(m), d + 6, s->target,
		    sizeof(s->target)) < 0)
			continue;
		/* RFC 2782: a lone "." says the service is not offered */
		if (strcmp(s->target, ".") == 0 || s->target[0] == '\0') {
			*refused = true;
			continue;
		}
		if (ttl == 0 || ns_rr_ttl(rr) < ttl)
			ttl = ns_rr_ttl(rr) ? ns_rr_ttl(rr) : 1;
		(*n)++;
	}
	return ttl;
}

static void
lookup(struct resolve_req *q)
{
	struct srv_rec srv[2 * MAX_SRV];
	char name[300];
	size_t n = 0, ns;
	uint32_t ttl = 0, t;
	bool refused = false;

	if (q->host[0]) {
		add_addrs(q, q->host, q->port, q->direct_tls);
		return;
	}
	snprintf(name, sizeof(name), "_xmpps-server._tcp.%s", q->domain);
	ttl = query_srv(name, true, srv, &n, &refused);
	ns = n;
	snprintf(name, sizeof(name), "_xmpp-server._tcp.%s", q->domain);
	t = query_srv(name, false, srv + ns, &n, &refused);
	(void)ns;
	if (t && (ttl == 0 || t < ttl))
		ttl = t;
	if (n == 0) {
		if (refused) {
			snprintf(q->why, sizeof(q->why), "%s offers no XMPP service (SRV \".\")",
			    q->domain);
			return;
		}
		/* RFC 6120 §3.2.2: no SRV, the domain itself on 5269 */
		add_addrs(q, q->domain, 5269, false);
		return;
	}
	resolve_srv_order(srv, n, rnd32, NULL);
	for (size_t i = 0; i < n && q->n < MAX_TARGETS; i++)
		add_addrs(q, srv[i].target, srv[i].port, srv[i].direct_tls);
	if (q->n > 0 && ttl && (uint64_t)ttl * 1000 < q->cache_ms)
		q->cache_ms = (uint64_t)ttl * 1000;
}

static void
cache_clear(void)
{
	size_t i;

	for (struct hmap_ent *e = hmap_first(&R.cache, &i); e;
	    e = hmap_next(&R.cache, e, &i))
		free(e->val);
	hmap_free(&R.cache);
	hmap_init(&R.cache);
}

static void
run_query(struct resolve_req *q)
{
	char key[600];
	struct cached *c;
	uint64_t now = ev_clock_ms();

	snprintf(key, sizeof(key), "%s %s %d %d", q->domain, q->host, q->port,
	    q->direct_tls);
	if ((c = hmap_get(&R.cache, key)) != NULL) {
		if (c->expires > now) {
			memcpy(q->t, c->t, c->n * sizeof(c->t[0]));
			q->n = c->n;
			return;
		}
		free(hmap_del(&R.cache, key));
	}
	res_nclose(&R.rs);
	/* re-read resolv.conf each time: cheap next to the query */
	if (res_ninit(&R.rs) == -1) {
		snprintf(q->why, sizeof(q->why), "resolver initialisation failed");
		return;
	}
	R.rs.retrans = 2;
	R.rs.retry = 2;
	lookup(q);
	if (q->n == 0) {
		if (q->why[0] == '\0')
			snprintf(q->why, sizeof(q->why), "%s: no addresses", q->domain);
		return;
	}
	if (q->cache_ms == 0 || (c = malloc(sizeof(*c))) == NULL)
		return;
	memcpy(c->t, q->t, q->n * sizeof(q->t[0]));
	c->n = q->n;
	c->expires = now + q->cache_ms;
	if (hmap_put(&R.cache, key, c) == -1)
		free(c);
}

static void *
worker(void *unused)
{
	struct resolve_req *q;
	uint64_t one = 1;
	bool flush, cancelled;

	(void)unused;
	pthread_mutex_lock(&R.mu);
	for (;;) {
		while (!R.stop && R.todo == NULL)
			pthread_cond_wait(&R.cv, &R.mu);
		if (R.stop)
			break;
		if ((q = R.todo) != NULL && (R.todo = q->next) == NULL)
			R.todo_tail = &R.todo;
		flush = R.flush;
		R.flush = false;
		cancelled = q->cancelled;
		pthread_mutex_unlock(&R.mu);
		if (flush)
			cache_clear();
		if (!cancelled)
			run_query(q);
		pthread_mutex_lock(&R.mu);
		q->next = NULL;
		*R.done_tail = q;
		R.done_tail = &q->next;
		if (write(R.efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
			log_err("resolve: eventfd: %s", strerror(errno));
	}
	pthread_mutex_unlock(&R.mu);
	cache_clear();
	hmap_free(&R.cache);
	res_nclose(&R.rs);
	return NULL;
}

/* ---- the loop side ---- */

static void
on_done(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	struct resolve_req *q;
	uint64_t v;

	(void)loop;
	(void)io;
	(void)revents;
	if (read(R.efd, &v, sizeof(v)) == -1 && errno != EAGAIN)
		log_err("resolve: eventfd: %s", strerror(errno));
	for (;;) {
		pthread_mutex_lock(&R.mu);
		if ((q = R.done) != NULL && (R.done = q->next) == NULL)
			R.done_tail = &R.done;
		pthread_mutex_unlock(&R.mu);
		if (q == NULL)
			break;
		/* cancelled is only ever set on the loop: no lock needed */
		if (!q->cancelled)
			q->cb(q->arg, q->t, q->n, q->why);
		free(q);
	}
}

int
resolve_init(struct ev_loop *loop)
{
	sigset_t all, old;
	int err;

	R.loop = loop;
	R.todo = R.done = NULL;
	R.todo_tail = &R.todo;
	R.done_tail = &R.done;
	R.stop = false;
	hmap_init(&R.cache);
	memset(&R.rs, 0, sizeof(R.rs));
	if ((R.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		return -1;
	ev_io_init(&R.io, R.efd, on_done, NULL);
	if (ev_io_start(loop, &R.io, EPOLLIN) == -1)
		goto fail;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&R.thread, NULL, worker, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		ev_io_stop(loop, &R.io);
		errno = err;
		goto fail;
	}
	R.running = true;
	return 0;
fail:
	err = errno;
	close(R.efd);
	R.efd = -1;
	errno = err;
	return -1;
}

void
resolve_shutdown(void)
{
	struct resolve_req *q;

	if (!R.running)
		return;
	pthread_mutex_lock(&R.mu);
	R.stop = true;
	pthread_cond_signal(&R.cv);
	pthread_mutex_unlock(&R.mu);
	pthread_join(R.thread, NULL);
	R.running = false;
	while ((q = R.todo) != NULL) {
		R.todo = q->next;
		free(q);
	}
	while ((q = R.done) != NULL) {
		R.done = q->next;
		free(q);
	}
	ev_io_stop(R.loop, &R.io);
	close(R.efd);
	R.efd = -1;
}

struct resolve_req *
resolve_query(const char *domain, const char *host, int port, bool direct_tls,
    uint64_t cache_ms, resolve_cb *cb, void *arg)
{
	struct resolve_req *q;

	if (!R.running || (q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	if (resolve_alabel(domain, q->domain, sizeof(q->domain)) < 0) {
		free(q);
		return NULL;
	}
	if (host)
		snprintf(q->host, sizeof(q->host), "%s", host);
	q->port = port;
	q->direct_tls = direct_tls;
	q->cache_ms = cache_ms;
	q->cb = cb;
	q->arg = arg;
	pthread_mutex_lock(&R.mu);
	*R.todo_tail = q;
	R.todo_tail = &q->next;
	pthread_cond_signal(&R.cv);
	pthread_mutex_unlock(&R.mu);
	return q;
}

void
resolve_cancel(struct resolve_req *q)
{
	pthread_mutex_lock(&R.mu);
	q->cancelled = true;
	pthread_mutex_unlock(&R.mu);
}

void
resolve_flush(void)
{
	pthread_mutex_lock(&R.mu);
	R.flush = true;
	pthread_mutex_unlock(&R.mu);
}
