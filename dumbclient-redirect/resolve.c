/*
 * resolve — SRV + A/AAAA lookups off the event loop.  See resolve.h.
 *
 * glibc's res_n* functions with a private struct __res_state are thread
 * safe; the worker gets its own state (nameserver override, short
 * timeouts, no search list) and checks a stop flag between queries, so
 * shutdown waits at most one query's timeout.  All signals stay blocked in
 * the worker: the loop receives them through signalfd.
 */
#include "resolve.h"

#include <arpa/nameser.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <resolv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"

#define ANSWER_MAX 4096
/* How long stopping waits for a lookup in flight. */
#define RESOLVE_STOP_WAIT_MS 5000

void
resolve_req_from_conf(const struct redirect_conf *c, struct resolve_req *req)
{
	memset(req, 0, sizeof(*req));
	snprintf(req->domain, sizeof(req->domain), "%s", c->domain ? c->domain : "");
	req->has_ns = c->has_nameserver;
	req->ns = c->nameserver;
	req->timeout = (int)c->dns_timeout;
}

int
resolve_parse_srv(const unsigned char *msg, int len, char *host,
    size_t hostlen, uint16_t *port, uint32_t *ttl)
{
	ns_msg h;
	ns_rr rr;
	int i, n, used, found = -1;
	unsigned best_prio = 0x10000, best_weight = 0;

	if (ns_initparse(msg, len, &h) < 0)
		return -1;
	n = ns_msg_count(h, ns_s_an);
	for (i = 0; i < n; i++) {
		const unsigned char *rd;
		unsigned prio, weight;
		char name[NS_MAXDNAME];

		if (ns_parserr(&h, ns_s_an, i, &rr) < 0)
			return -1;
		if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in ||
		    ns_rr_rdlen(rr) < 7)
			continue;
		rd = ns_rr_rdata(rr);
		prio = (unsigned)rd[0] << 8 | rd[1];
		weight = (unsigned)rd[2] << 8 | rd[3];
		/*
		 * The target must end where the record does (RFC 2782), and
		 * fit host whole: presentation form escapes odd bytes (\DDD),
		 * so 255 wire bytes can take 1,000 characters, and a cut name
		 * would be another host's.
		 */
		used = ns_name_uncompress(ns_msg_base(h), ns_msg_end(h), rd + 6,
		    name, sizeof(name));
		if (used < 0 || used != (int)ns_rr_rdlen(rr) - 6 ||
		    strlen(name) >= hostlen)
			continue;
		if (prio > best_prio || (prio == best_prio && weight <= best_weight &&
		    found >= 0))
			continue;
		best_prio = prio;
		best_weight = weight;
		*port = (uint16_t)(rd[4] << 8 | rd[5]);
		*ttl = ns_rr_ttl(rr);
		if (strcmp(name, ".") == 0 || name[0] == '\0') {
			found = 1;
			host[0] = '\0';
		} else {
			snprintf(host, hostlen, "%s", name);
			found = 0;
		}
	}
	return found;
}

int
resolve_parse_addr(const unsigned char *msg, int len, int family,
    struct nft_ip *out, uint32_t *ttl)
{
	ns_type type = family == AF_INET ? ns_t_a : ns_t_aaaa;
	unsigned alen = family == AF_INET ? 4 : 16;
	ns_msg h;
	ns_rr rr;
	int i, n;

	if (ns_initparse(msg, len, &h) < 0)
		return -1;
	n = ns_msg_count(h, ns_s_an);
	for (i = 0; i < n; i++) {
		if (ns_parserr(&h, ns_s_an, i, &rr) < 0)
			return -1;
		if (ns_rr_type(rr) != type || ns_rr_class(rr) != ns_c_in ||
		    ns_rr_rdlen(rr) != alen)
			continue;	/* CNAMEs on the way are fine */
		memset(out, 0, sizeof(*out));
		out->family = family;
		memcpy(out->u.b, ns_rr_rdata(rr), alen);
		*ttl = ns_rr_ttl(rr);
		return 0;
	}
	return -1;
}

static const char *
herr(const res_state rs)
{
	switch (rs->res_h_errno) {
	case HOST_NOT_FOUND: return "no such name";
	case NO_DATA: return "no records of that type";
	case TRY_AGAIN: return "no answer from the resolver";
	default: return "lookup failed";
	}
}

/* SRV of service: 0 found, 1 absent, -1 resolver failure (res->err). */
static int
lookup_srv(res_state rs, const char *service, const char *domain,
    char *host, size_t hostlen, uint16_t *port, uint32_t *ttl,
    struct resolve_res *res)
{
	unsigned char ans[ANSWER_MAX];
	char name[300];
	int len, rc;

	snprintf(name, sizeof(name), "%s.%s", service, domain);
	len = res_nquery(rs, name, ns_c_in, ns_t_srv, ans, sizeof(ans));
	if (len < 0) {
		if (rs->res_h_errno == HOST_NOT_FOUND || rs->res_h_errno == NO_DATA)
			return 1;
		snprintf(res->err, sizeof(res->err), "%s SRV: %s", name, herr(rs));
		return -1;
	}
	rc = resolve_parse_srv(ans, len, host, hostlen, port, ttl);
	return rc == 0 ? 0 : 1;
}

/* A and AAAA of host: 0 if at least one, -1 otherwise (res->err). */
static int
lookup_addrs(res_state rs, const char *host, struct nft_ip *v4,
    struct nft_ip *v6, uint32_t *ttl, const atomic_bool *stop,
    struct resolve_res *res)
{
	static const int fams[] = { AF_INET, AF_INET6 };
	unsigned char ans[ANSWER_MAX];
	const char *why = NULL;
	uint32_t t;
	int i, len;

	memset(v4, 0, sizeof(*v4));
	memset(v6, 0, sizeof(*v6));
	for (i = 0; i < 2 && !atomic_load(stop); i++) {
		len = res_nquery(rs, host, ns_c_in, fams[i] == AF_INET ? ns_t_a :
		    ns_t_aaaa, ans, sizeof(ans));
		if (len < 0) {
			why = herr(rs);
			continue;
		}
		if (resolve_parse_addr(ans, len, fams[i], i == 0 ? v4 : v6, &t) == 0 &&
		    t < *ttl)
			*ttl = t;
	}
	if (v4->family || v6->family)
		return 0;
	snprintf(res->err, sizeof(res->err), "%s: no A or AAAA record (%s)",
	    host, why ? why : "empty answer");
	return -1;
}

void
resolve_targets(const struct resolve_req *req, struct resolve_res *res,
    const atomic_bool *stop)
{
	struct __res_state rs;
	uint32_t ttl = UINT32_MAX, t;
	int crc, src;

	memset(res, 0, sizeof(*res));
	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) < 0) {
		snprintf(res->err, sizeof(res->err), "resolver initialisation failed");
		return;
	}
	rs.retrans = req->timeout;
	rs.retry = 2;
	rs.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
	if (req->has_ns) {
		rs.nscount = 1;
		rs.nsaddr_list[0] = req->ns;
	}
	t = UINT32_MAX;
	crc = lookup_srv(&rs, "_xmpp-client._tcp", req->domain, res->client_host,
	    sizeof(res->client_host), &res->target.client_port, &t, res);
	if (crc < 0 || atomic_load(stop))
		goto out;
	if (crc == 0 && t < ttl)
		ttl = t;
	t = UINT32_MAX;
	src = lookup_srv(&rs, "_xmpp-server._tcp", req->domain, res->server_host,
	    sizeof(res->server_host), &res->target.server_port, &t, res);
	if (src < 0 || atomic_load(stop))
		goto out;
	if (src == 0 && t < ttl)
		ttl = t;
	if (crc && src) {
		snprintf(res->err, sizeof(res->err), "no usable _xmpp-client._tcp "
		    "or _xmpp-server._tcp SRV record for %s", req->domain);
		goto out;
	}
	/* A service without SRV goes to the other service's host (and keeps
	   its own port). */
	if (crc) {
		memcpy(res->client_host, res->server_host, sizeof(res->client_host));
		res->target.client_port = 0;
	}
	if (src) {
		memcpy(res->server_host, res->client_host, sizeof(res->server_host));
		res->target.server_port = 0;
	}
	if (lookup_addrs(&rs, res->client_host, &res->target.client4,
	    &res->target.client6, &ttl, stop, res) < 0)
		goto out;
	if (strcmp(res->server_host, res->client_host) == 0) {
		res->target.server4 = res->target.client4;
		res->target.server6 = res->target.client6;
	} else if (lookup_addrs(&rs, res->server_host, &res->target.server4,
	    &res->target.server6, &ttl, stop, res) < 0) {
		goto out;
	}
	res->ttl = ttl;
	res->ok = !atomic_load(stop);
out:
	res_nclose(&rs);
}

/* --- asynchronous wrapper ------------------------------------------------ */

struct job {
	struct resolver *r;
	struct resolve_req req;
	struct resolve_res res;
	pthread_t th;
};

struct resolver {
	struct ev_loop *loop;
	struct ev_io io;
	int pipe[2];
	struct job *job;
	atomic_bool stop;
	resolve_done_cb *cb;
	void *data;
};

static void *
worker(void *arg)
{
	struct job *j = arg;
	ssize_t n;

	resolve_targets(&j->req, &j->res, &j->r->stop);
	do
		n = write(j->r->pipe[1], &j, sizeof(j));
	while (n < 0 && errno == EINTR);
	return NULL;
}

/* Collects a finished job: joins its thread and frees it. */
static struct job *
collect(struct resolver *r)
{
	struct job *j = NULL;
	ssize_t n;

	do
		n = read(r->pipe[0], &j, sizeof(j));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(j) || j == NULL)
		return NULL;
	pthread_join(j->th, NULL);
	if (r->job == j)
		r->job = NULL;
	return j;
}

static void
on_pipe(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	struct resolver *r = io->data;
	struct job *j;

	(void)loop;
	(void)revents;
	if ((j = collect(r)) == NULL)
		return;
	r->cb(&j->res, r->data);
	free(j);
}

struct resolver *
resolver_new(struct ev_loop *loop, resolve_done_cb *cb, void *data)
{
	struct resolver *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	if (pipe2(r->pipe, O_CLOEXEC) < 0) {
		free(r);
		return NULL;
	}
	r->loop = loop;
	r->cb = cb;
	r->data = data;
	atomic_init(&r->stop, false);
	ev_io_init(&r->io, r->pipe[0], on_pipe, r);
	if (ev_io_start(loop, &r->io, EPOLLIN) < 0) {
		close(r->pipe[0]);
		close(r->pipe[1]);
		free(r);
		return NULL;
	}
	return r;
}

bool
resolver_busy(const struct resolver *r)
{
	return r->job != NULL;
}

int
resolver_start(struct resolver *r, const struct resolve_req *req)
{
	sigset_t all, old;
	struct job *j;
	int rc;

	if (r->job) {
		errno = EBUSY;
		return -1;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return -1;
	j->r = r;
	j->req = *req;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&j->th, NULL, worker, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		free(j);
		errno = rc;
		return -1;
	}
	r->job = j;
	return 0;
}

void
resolver_free(struct resolver *r)
{
	struct pollfd p;
	struct job *j;

	if (r == NULL)
		return;
	ev_io_stop(r->loop, &r->io);
	if (r->job) {
		/*
		 * The worker stops after its current query; with several
		 * slow nameservers that can still take a while, and stopping
		 * must stay within systemd's 10 s: wait RESOLVE_STOP_WAIT_MS,
		 * then leave the thread to finish on its own (only at exit).
		 */
		atomic_store(&r->stop, true);
		p.fd = r->pipe[0];
		p.events = POLLIN;
		if (poll(&p, 1, RESOLVE_STOP_WAIT_MS) != 1) {
			pthread_detach(r->job->th);
			log_warn("DNS lookup still running at exit; not waiting "
			    "for it");
			return;	/* the worker still uses r and its pipe */
		}
		if ((j = collect(r)) != NULL)
			free(j);
	}
	close(r->pipe[0]);
	close(r->pipe[1]);
	free(r);
}
