/*
 * accept — listeners and per-address limits.  See accept.h.
 *
 * Every connection is a descriptor, so start-up raises the soft
 * RLIMIT_NOFILE to the hard limit (systemd's default soft limit is 1024,
 * its hard limit 524288).  When the process runs out of descriptors
 * anyway, accept(2) keeps failing on a level-triggered listener: the
 * listeners pause for ACCEPT_PAUSE_MS instead of spinning.
 */
#include "accept.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "addr.h"
#include "c2s.h"
#include "evloop.h"
#include "hmap.h"
#include "log.h"
#include "server.h"

#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_MS 100

struct listener {
	struct ev_io io;
	bool direct_tls;
	char name[ADDR_STRLEN];
};

struct ipinfo {
	unsigned conns;
	unsigned fails;
	uint64_t window_start;
	uint64_t banned_until;
};

static struct listener *listeners;
static size_t nlisteners;
static struct hmap ips;		/* ip -> struct ipinfo */
static struct ev_timer pause_timer;	/* listeners paused: out of descriptors */
static bool pause_logged;	/* once per shortage, not every ACCEPT_PAUSE_MS */

static struct ipinfo *
ip_get(const char *ip, bool create)
{
	struct ipinfo *i = hmap_get(&ips, ip);

	if (i == NULL && create) {
		if ((i = calloc(1, sizeof(*i))) == NULL)
			return NULL;
		if (hmap_put(&ips, ip, i) == -1) {
			free(i);
			return NULL;
		}
	}
	return i;
}

static void
ip_maybe_free(const char *ip, struct ipinfo *i)
{
	if (i->conns == 0 && i->fails == 0 && i->banned_until == 0)
		free(hmap_del(&ips, ip));
}

void
accept_release(const char *ip)
{
	struct ipinfo *i = ip_get(ip, false);

	if (i) {
		i->conns--;
		ip_maybe_free(ip, i);
	}
}

void
accept_auth_failed(const char *ip, uint64_t conn_id)
{
	struct ipinfo *i = ip_get(ip, false);
	uint64_t now = ev_now(srv.loop);

	if (i == NULL || srv.cfg->auth_fail_limit == 0)
		return;
	if (now - i->window_start > srv.cfg->auth_fail_window_ms) {
		i->window_start = now;
		i->fails = 0;
	}
	if (++i->fails >= srv.cfg->auth_fail_limit) {
		i->banned_until = now + srv.cfg->ban_time_ms;
		i->fails = 0;
		log_notice("c2s %llu: %s banned for %llus after repeated auth failures",
		    (unsigned long long)conn_id, ip,
		    (unsigned long long)(srv.cfg->ban_time_ms / 1000));
	}
}

int
accept_admit(const char *ip, const char **why)
{
	struct ipinfo *i = ip_get(ip, true);
	uint64_t now = ev_now(srv.loop);

	if (i == NULL || i->banned_until > now || i->conns >= srv.cfg->max_conn_per_ip) {
		*why = i == NULL ? "out of memory" : i->banned_until > now ? "banned" :
		    "too many connections";
		if (i)
			ip_maybe_free(ip, i);
		return -1;
	}
	i->banned_until = 0;
	i->conns++;
	return 0;
}

static void
accept_one(struct listener *l, int fd, struct sockaddr_storage *ss, socklen_t sl)
{
	char ip[ADDR_STRLEN], *colon;
	const char *why;

	addr_format_sa((struct sockaddr *)ss, sl, ip, sizeof(ip));
	/* "1.2.3.4:5" / "[::1]:5" -> address only */
	if (ip[0] == '[') {
		memmove(ip, ip + 1, strlen(ip));
		if ((colon = strrchr(ip, ']')) != NULL)
			*colon = '\0';
	} else if ((colon = strrchr(ip, ':')) != NULL) {
		*colon = '\0';
	}
	if (accept_admit(ip, &why) == -1) {
		log_info("c2s: %s refused (%s)", ip, why);
		close(fd);
		return;
	}
	/* output is already coalesced per loop turn (c2s.c): Nagle would only
	 * hold back the tail of a burst for the peer's delayed ACK (~40 ms) */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (c2s_accept(fd, ss, sl, l->direct_tls, ip, l->name) == -1) {
		close(fd);
		accept_release(ip);
	}
}

static void
pause_cb(struct ev_loop *loop, struct ev_timer *t)
{
	(void)t;
	for (size_t k = 0; k < nlisteners; k++)
		ev_io_start(loop, &listeners[k].io, EPOLLIN);
}

/* Out of descriptors or memory: stop accepting for a moment. */
static void
accept_pause(struct listener *l, int err)
{
	if (!pause_logged)
		log_warn("c2s: accept on %s: %s (%zu connections; pausing accepts "
		    "for %d ms until it passes)", l->name, strerror(err), c2s_count(),
		    ACCEPT_PAUSE_MS);
	pause_logged = true;
	for (size_t k = 0; k < nlisteners; k++)
		ev_io_stop(srv.loop, &listeners[k].io);
	ev_timer_start(srv.loop, &pause_timer, ACCEPT_PAUSE_MS);
}

static void
accept_cb(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	struct listener *l = io->data;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;

	(void)loop;
	(void)revents;
	for (int k = 0; k < ACCEPT_BATCH; k++) {
		sl = sizeof(ss);
		fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				accept_pause(l, errno);
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("c2s: accept on %s: %s", l->name, strerror(errno));
			return;
		}
		pause_logged = false;
		accept_one(l, fd, &ss, sl);
	}
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("c2s: raising the descriptor limit: %s", strerror(errno));
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	log_info("c2s: descriptor limit %llu", (unsigned long long)rl.rlim_cur);
}

static int
listen_list(const struct edge_addr *a, size_t n, bool tls, char *err, size_t errlen)
{
	char e2[256];

	for (size_t i = 0; i < n; i++) {
		struct listener *l = &listeners[nlisteners];
		int fd = addr_listen(&a[i], SOCK_STREAM, 1024, 0, e2, sizeof(e2));

		addr_format(&a[i], l->name, sizeof(l->name));
		if (fd < 0) {
			snprintf(err, errlen, "c2s listen %s: %s", l->name, e2);
			return -1;
		}
		l->direct_tls = tls;
		ev_io_init(&l->io, fd, accept_cb, l);
		ev_io_start(srv.loop, &l->io, EPOLLIN);
		nlisteners++;
		log_info("c2s: listening on %s (%s)", l->name, tls ? "direct TLS" : "STARTTLS");
	}
	return 0;
}

int
accept_open(char *err, size_t errlen)
{
	const struct xmpp_config *cfg = srv.cfg;

	raise_nofile();
	ev_timer_init(&pause_timer, pause_cb, NULL);
	hmap_init(&ips);
	listeners = calloc(cfg->nlisten_starttls + cfg->nlisten_tls, sizeof(*listeners));
	if (listeners == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (listen_list(cfg->listen_starttls, cfg->nlisten_starttls, false, err, errlen) == -1 ||
	    listen_list(cfg->listen_tls, cfg->nlisten_tls, true, err, errlen) == -1)
		return -1;
	return 0;
}

void
accept_close(void)
{
	ev_timer_stop(srv.loop, &pause_timer);
	for (size_t k = 0; k < nlisteners; k++) {
		ev_io_stop(srv.loop, &listeners[k].io);
		close(listeners[k].io.fd);
	}
	nlisteners = 0;
}

void
accept_cleanup(void)
{
	struct hmap_ent *e;
	size_t i;

	accept_close();
	for (e = hmap_first(&ips, &i); e; e = hmap_next(&ips, e, &i))
		free(e->val);
	hmap_free(&ips);
	free(listeners);
	listeners = NULL;
}
