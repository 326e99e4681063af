/*
 * xmpp-core — the XMPP server: start-up and lifecycle only.
 *
 * Order: parse the configuration, bring the schema up to date (blocking,
 * before anything is served), load TLS certificates, bind the c2s
 * listeners, drop privileges, then run the loop.  SIGHUP reloads limits
 * and certificates (hosts, listeners and the database need a restart);
 * SIGTERM/SIGINT close the listeners, end every stream with
 * system-shutdown and exit once the clients are flushed (at most a few
 * seconds).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accept.h"
#include "account.h"
#include "c2s.h"
#include "control.h"
#include "crypto.h"
#include "daemon.h"
#include "db.h"
#include "disco.h"
#include "evloop.h"
#include "kdf.h"
#include "log.h"
#include "registry.h"
#include "router.h"
#include "server.h"
#include "tls.h"

#define DEFAULT_CONF "/etc/edge/xmpp-core.toml"
#define STOP_GRACE_MS 5000
#define KDF_MAX_QUEUE 256	/* password hashes waiting for the worker */

static const char *conf_path;
static struct ev_timer stop_timer;
static uint64_t stop_deadline;
static const char *const alpn[] = { "xmpp-client" };

static struct tls_server *
tls_load(const struct xmpp_config *cfg, struct tls_server *reload, char *err,
    size_t errlen)
{
	struct tls_cert_conf cert = { cfg->cert_file, cfg->key_file };
	struct tls_server_conf tc = {
		.certs = &cert, .ncerts = 1, .dh_file = cfg->dh_file,
		.ciphers = cfg->ciphers, .alpn = alpn, .nalpn = 1,
		.alpn_strict = false, .ticket_key_file = cfg->ticket_key_file,
	};

	if (reload)
		return tls_server_reload(reload, &tc, err, errlen) == 0 ? reload : NULL;
	return tls_server_new(&tc, err, errlen);
}

static bool
same_hosts(const struct xmpp_config *a, const struct xmpp_config *b)
{
	if (a->nhosts != b->nhosts)
		return false;
	for (size_t i = 0; i < a->nhosts; i++)
		if (strcmp(a->hosts[i], b->hosts[i]) != 0)
			return false;
	return true;
}

static void
on_hup(struct ev_loop *loop, int signo, void *data)
{
	struct xmpp_config *n;
	struct conf_err e;
	char err[512];

	(void)loop;
	(void)signo;
	(void)data;
	daemon_notify("RELOADING=1");
	if ((n = xmpp_config_load(conf_path, &e)) == NULL) {
		log_err("reload: %s (keeping the running configuration)", e.msg);
	} else if (!same_hosts(n, srv.cfg)) {
		log_err("reload: hosts changed; that needs a restart (keeping the running configuration)");
		xmpp_config_free(n);
	} else if (tls_load(n, srv.tls, err, sizeof(err)) == NULL) {
		log_err("reload: %s (keeping the running configuration)", err);
		xmpp_config_free(n);
	} else {
		/* listeners and the database pool keep their start-up settings */
		xmpp_config_free(srv.cfg);
		srv.cfg = n;
		log_set_level(n->log_level);
		if (disco_init(err, sizeof(err)) == -1)
			log_err("reload: %s (disco keeps the previous answers)", err);
		registry_reload();
		log_notice("configuration reloaded");
	}
	daemon_notify("READY=1");
}

/*
 * Stop once every stream is gone and the database has written what the
 * ending sessions handed it (offline messages, SM's unacked stanzas): a
 * stanza acknowledged to its sender must not be lost to a restart.
 */
static void
stop_check(struct ev_loop *loop, struct ev_timer *t)
{
	if ((c2s_count() == 0 && db_idle(srv.db)) || ev_now(loop) >= stop_deadline) {
		if (!db_idle(srv.db))
			log_warn("shutdown: giving up on database requests still pending");
		ev_break(loop);
		return;
	}
	ev_timer_start(loop, t, 50);
}

static void
on_term(struct ev_loop *loop, int signo, void *data)
{
	(void)data;
	if (stop_deadline)
		return;
	log_notice("%s: shutting down", strsignal(signo));
	daemon_notify("STOPPING=1");
	accept_close();
	registry_shutdown();
	c2s_shutdown();
	control_shutdown();
	stop_deadline = ev_now(loop) + STOP_GRACE_MS;
	ev_timer_init(&stop_timer, stop_check, NULL);
	ev_timer_start(loop, &stop_timer, 10);
}

static void
migrate(const struct xmpp_config *cfg)
{
	char err[512];
	PGconn *pg;
	int tries = 0;

	/* the database may come up together with us (make run, boot) */
	while ((pg = db_connect_sync(cfg->conninfo, err, sizeof(err))) == NULL) {
		if (++tries >= 30)
			fatal("database: %s", err);
		if (tries == 1)
			log_warn("database: %s (retrying)", err);
		nanosleep(&(struct timespec){ 0, 500 * 1000 * 1000 }, NULL);
	}
	if (db_migrate(pg, err, sizeof(err)) == -1)
		fatal("database migration: %s", err);
	if (account_census_sync(pg, err, sizeof(err)) == -1)
		fatal("database: %s", err);
	if (registry_start(pg, err, sizeof(err)) == -1)
		fatal("database: %s", err);
	PQfinish(pg);
}

int
main(int argc, char **argv)
{
	struct daemon_args args;
	struct conf_err e;
	struct db_conf dc;
	char err[512];

	log_init("xmpp-core", LOG_LVL_INFO);
	/* the migrations this binary carries, "version name" a line, for
	 * edge-check to compare with the database's schema_migrations */
	if (argc == 2 && strcmp(argv[1], "--schema-version") == 0) {
		for (size_t i = 0; i < db_nmigrations; i++)
			printf("%d %s\n", db_migrations[i].version, db_migrations[i].name);
		return 0;
	}
	daemon_parse_args(argc, argv, DEFAULT_CONF, NULL, &args);
	conf_path = args.conf_path;
	if ((srv.cfg = xmpp_config_load(conf_path, &e)) == NULL) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}
	if (args.check_only) {
		struct tls_server *t;

		/* the certificate, its key and the ticket keys as the server
		 * would load them: a file it cannot read is an error here */
		if ((t = tls_load(srv.cfg, NULL, err, sizeof(err))) == NULL) {
			fprintf(stderr, "%s: tls: %s\n", conf_path, err);
			xmpp_config_free(srv.cfg);
			return 1;
		}
		tls_server_free(t);
		printf("%s: configuration OK\n", conf_path);
		xmpp_config_free(srv.cfg);
		return 0;
	}
	log_set_level(args.debug ? LOG_LVL_DEBUG : srv.cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	srv.started = time(NULL);
	if (random_bytes(srv.fake_salt_key, sizeof(srv.fake_salt_key)) == -1)
		fatal("no randomness");
	migrate(srv.cfg);
	if ((srv.tls = tls_load(srv.cfg, NULL, err, sizeof(err))) == NULL)
		fatal("tls: %s", err);
	if ((srv.loop = ev_loop_new()) == NULL)
		fatal("event loop: %s", strerror(errno));
	if (kdf_init(srv.loop, KDF_MAX_QUEUE) == -1)
		fatal("password hashing thread: %s", strerror(errno));
	if (accept_open(err, sizeof(err)) == -1)
		fatal("%s", err);
	if (registry_open(err, sizeof(err)) == -1)
		fatal("%s", err);
	if (srv.cfg->control_socket &&
	    control_listen(srv.cfg->control_socket, err, sizeof(err)) == -1)
		fatal("%s", err);
	if (daemon_drop_privileges(srv.cfg->user, 0, err, sizeof(err)) == -1)
		fatal("%s", err);
	dc.conninfo = srv.cfg->conninfo;
	dc.pool_size = srv.cfg->db_pool;
	dc.max_queue = srv.cfg->db_queue;
	dc.request_timeout_ms = srv.cfg->db_timeout_ms;
	if ((srv.db = db_new(srv.loop, &dc)) == NULL)
		fatal("database pool: out of memory");
	if (disco_init(err, sizeof(err)) == -1)
		fatal("%s", err);
	c2s_init();
	registry_init();
	if (ev_signal(srv.loop, SIGHUP, on_hup, NULL) == -1 ||
	    ev_signal(srv.loop, SIGTERM, on_term, NULL) == -1 ||
	    ev_signal(srv.loop, SIGINT, on_term, NULL) == -1)
		fatal("signals: %s", strerror(errno));
	log_notice("xmpp-core %s serving %zu host%s", EDGE_VERSION, srv.cfg->nhosts,
	    srv.cfg->nhosts == 1 ? "" : "s");
	daemon_notify("READY=1");
	if (ev_run(srv.loop) == -1)
		log_err("event loop: %s", strerror(errno));
	kdf_shutdown();
	registry_stop();
	db_free(srv.db);
	accept_cleanup();
	registry_cleanup();
	router_cleanup();
	disco_cleanup();
	tls_server_free(srv.tls);
	ev_loop_free(srv.loop);
	xmpp_config_free(srv.cfg);
	log_notice("stopped");
	return 0;
}
