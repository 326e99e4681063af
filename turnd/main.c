/*
 * turnd — STUN/TURN/TURNS relay: start-up, signals, reload, shutdown.
 * The protocol lives in turn.c, the data path in relay.c.
 */
#include "alloc.h"
#include "auth.h"
#include "config.h"
#include "conn.h"
#include "daemon.h"
#include "hash.h"
#include "hostaddr.h"
#include "listen.h"
#include "log.h"
#include "reserve.h"
#include "stats.h"
#include "tlsconn.h"
#include "turnd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#define DEFAULT_CONF "/etc/edge/turnd.toml"

static const char *conf_path;

static void
on_stop(struct ev_loop *loop, int signo, void *data)
{
	struct turnd *td = data;

	log_notice("signal %d: stopping", signo);
	td->stopping = true;
	ev_break(loop);
}

static bool
same_listeners(const struct turnd_config *a, const struct turnd_config *b)
{
	if (a->nlisten != b->nlisten || a->ntls_listen != b->ntls_listen ||
	    a->listen_tcp != b->listen_tcp)
		return false;
	for (size_t i = 0; i < a->nlisten; i++)
		if (memcmp(&a->listen[i].u, &b->listen[i].u, a->listen[i].len) != 0)
			return false;
	for (size_t i = 0; i < a->ntls_listen; i++)
		if (memcmp(&a->tls_listen[i].u, &b->tls_listen[i].u,
		    a->tls_listen[i].len) != 0)
			return false;
	return true;
}

static void
on_reload(struct ev_loop *loop, int signo, void *data)
{
	struct turnd *td = data;
	struct turnd_config *nc;
	struct conf_err e;
	char err[700];

	(void)loop;
	(void)signo;
	daemon_notify("RELOADING=1");
	if ((nc = config_load(conf_path, &e)) == NULL) {
		log_err("reload: %s (keeping the old configuration)", e.msg);
		daemon_notify("READY=1");
		return;
	}
	/* New handshakes get the new certificate, live connections (and
	 * their allocations) keep the one they were accepted with. */
	/* The host's addresses are read again too: at least on every
	 * reload, whatever the netlink watch may have missed. */
	if (hostaddr_load(&nc->policy, err, sizeof(err)) < 0 ||
	    (td->tls != NULL && nc->ntls_listen > 0 &&
	    tlsconn_server_reload(td->tls, nc, err, sizeof(err)) < 0)) {
		log_err("reload: %s (keeping the old configuration)", err);
		config_free(nc);
		daemon_notify("READY=1");
		return;
	}
	if (!same_listeners(td->cfg, nc) || nc->metrics.enabled != td->cfg->metrics.enabled ||
	    memcmp(&nc->metrics.listen, &td->cfg->metrics.listen, sizeof(nc->metrics.listen)))
		log_warn("reload: listen addresses changed; they take effect on restart");
	config_free(td->cfg);
	td->cfg = nc;
	log_set_level(nc->log_level);
	log_notice("configuration reloaded");
	daemon_notify("READY=1");
}

/*
 * Every allocation holds a socket (two while a port is reserved), every
 * TCP/TLS client one: raise the soft descriptor limit towards what the
 * configured limits need, and say so when the hard limit is lower.
 */
static void
raise_fd_limit(const struct turnd_config *c)
{
	rlim_t want = (rlim_t)c->max_allocations * 2 + c->max_connections + 64;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ?
	    want : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want)
		log_warn("descriptor limit %llu is below the %llu that max_allocations "
		    "and max_connections may need (LimitNOFILE=)",
		    (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

static void
tables_init(struct turnd *td)
{
	hash_init(&td->allocs);
	hash_init(&td->users);
	hash_init(&td->perms);
	hash_init(&td->chan_num);
	hash_init(&td->chan_peer);
	hash_init(&td->reserved);
	hash_init(&td->conn_ips);
}

static void
tables_free(struct turnd *td)
{
	hash_free(&td->allocs);
	hash_free(&td->users);
	hash_free(&td->perms);
	hash_free(&td->chan_num);
	hash_free(&td->chan_peer);
	hash_free(&td->reserved);
	hash_free(&td->conn_ips);
}

int
main(int argc, char **argv)
{
	struct daemon_args args;
	struct turnd td = { 0 };
	struct conf_err e;
	char err[700];

	daemon_parse_args(argc, argv, DEFAULT_CONF, NULL, &args);
	conf_path = args.conf_path;
	log_init("turnd", args.debug ? LOG_LVL_DEBUG : LOG_LVL_NOTICE);
	if ((td.cfg = config_load(conf_path, &e)) == NULL) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}
	if (args.check_only) {
		/* the TURNS certificate and key as the relay would load them */
		if (td.cfg->ntls_listen > 0) {
			struct tls_server *t = tlsconn_server_new(td.cfg, err, sizeof(err));

			if (t == NULL) {
				fprintf(stderr, "%s: tls: %s\n", conf_path, err);
				config_free(td.cfg);
				return 1;
			}
			tlsconn_server_free(t);
		}
		config_free(td.cfg);
		printf("%s: configuration ok\n", conf_path);
		return 0;
	}
	if (!args.debug)
		log_set_level(td.cfg->log_level);
	prctl(PR_SET_NAME, "turnd");
	raise_fd_limit(td.cfg);
	hash_seed_init();
	auth_init();
	tables_init(&td);
	if ((td.loop = ev_loop_new()) == NULL)
		fatal("cannot create the event loop");
	td.addr_watch.fd = -1;
	if (hostaddr_watch(&td, err, sizeof(err)) < 0 ||
	    hostaddr_load(&td.cfg->policy, err, sizeof(err)) < 0)
		fatal("%s", err);
	alloc_init(&td);
	if (listen_open(&td, err, sizeof(err)) < 0 ||
	    stats_open(&td, err, sizeof(err)) < 0)
		fatal("%s", err);
	if (td.cfg->ntls_listen > 0 &&
	    (td.tls = tlsconn_server_new(td.cfg, err, sizeof(err))) == NULL)
		fatal("%s", err);
	if (daemon_drop_privileges(td.cfg->run_user, 0, err, sizeof(err)) < 0)
		fatal("%s", err);
	if (ev_signal(td.loop, SIGTERM, on_stop, &td) < 0 ||
	    ev_signal(td.loop, SIGINT, on_stop, &td) < 0 ||
	    ev_signal(td.loop, SIGHUP, on_reload, &td) < 0)
		fatal("cannot set up signals");
	signal(SIGPIPE, SIG_IGN);
	if (listen_start(&td) < 0)
		fatal("cannot watch the listening sockets");
	if (stats_start(&td, err, sizeof(err)) < 0)
		fatal("%s", err);
	for (size_t i = 0; i < td.nlisteners; i++) {
		char as[ADDR_STRLEN];

		log_notice("listening on %s/%s", addr_format(&td.listeners[i].addr,
		    as, sizeof(as)), td.listeners[i].tp == TP_UDP ? "udp" :
		    td.listeners[i].tp == TP_TCP ? "tcp" : "tls");
	}
	daemon_notify("READY=1");
	if (ev_run(td.loop) < 0)
		log_err("event loop failed");
	daemon_notify("STOPPING=1");
	ev_timer_stop(td.loop, &td.trim);
	hostaddr_unwatch(&td);
	conn_close_all(&td);
	alloc_free_all(&td);
	reserve_free_all(&td);
	listen_close(&td);
	stats_close(&td);
	if (td.tls != NULL)
		tlsconn_server_free(td.tls);
	tables_free(&td);
	config_free(td.cfg);
	ev_loop_free(td.loop);
	log_notice("stopped: %llu allocations served, %llu datagrams to peers, "
	    "%llu to clients, %llu dropped",
	    (unsigned long long)td.stats.allocs_total,
	    (unsigned long long)td.stats.relayed_to_peer,
	    (unsigned long long)td.stats.relayed_to_client,
	    (unsigned long long)td.stats.dropped);
	return 0;
}
