/*
 * accept — the c2s listeners and per-address limits.  See accept.h.
 *
 * Every connection is a descriptor, so start-up raises the soft
 * RLIMIT_NOFILE to the hard limit (systemd's default soft limit is 1024,
 * its hard limit 524288).  When the process runs out of descriptors
 * anyway the listeners pause a moment (listener.c).
 */
#include "accept.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <sys/socket.h>

#include "addr.h"
#include "c2s.h"
#include "corestats.h"
#include "evloop.h"
#include "hmap.h"
#include "listener.h"
#include "log.h"
#include "server.h"

struct ipinfo {
	unsigned conns;
	unsigned fails;
	uint64_t window_start;
	uint64_t banned_until;
};

static struct listener_set listeners;
static struct hmap ips;		/* ip -> struct ipinfo */

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
		core_stats.bans++;
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
accept_one(int fd, const struct sockaddr_storage *ss, socklen_t sl, const char *ip,
    bool direct_tls, const char *via)
{
	const char *why;

	if (accept_admit(ip, &why) == -1) {
		log_info("c2s: %s refused (%s)", ip, why);
		close(fd);
		return;
	}
	if (c2s_accept(fd, ss, sl, direct_tls, ip, via) == -1) {
		close(fd);
		accept_release(ip);
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

int
accept_open(char *err, size_t errlen)
{
	const struct xmpp_config *cfg = srv.cfg;

	raise_nofile();
	hmap_init(&ips);
	listener_init(&listeners, "c2s", accept_one);
	if (listener_open(&listeners, cfg->listen_starttls, cfg->nlisten_starttls, false,
	    1024, err, errlen) == -1 ||
	    listener_open(&listeners, cfg->listen_tls, cfg->nlisten_tls, true, 1024,
	    err, errlen) == -1)
		return -1;
	return 0;
}

void
accept_close(void)
{
	listener_close(&listeners);
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
}
