/*
 * upload-gw — HTTP upload/download gateway speaking Prosody Filer's
 * protocol (XEP-0363 slots signed by ejabberd's external_secret or
 * Prosody's mod_http_upload_external).
 *
 * This file is start-up and lifecycle only: parse the configuration, bind
 * the listeners and open the store, drop privileges, start the HTTP
 * threads, then run the main event loop for signals (SIGHUP reload,
 * SIGTERM/SIGINT graceful stop) and the expiry timer.
 */
#include "config.h"
#include "daemon.h"
#include "evloop.h"
#include "expire.h"
#include "http.h"
#include "log.h"
#include "path.h"
#include "stats.h"
#include "store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct upload_main {
	const char *conf_path;
	bool debug;
	struct ev_loop *loop;
	struct ev_timer expire_timer;
	int fds[UPLOAD_MAX_LISTEN];
	size_t nfds;
};

static void
expire_arm(struct upload_main *m, uint64_t after_s)
{
	struct upload_config *c = upload_config_current();

	ev_timer_stop(m->loop, &m->expire_timer);
	if (c->expire_after > 0)
		ev_timer_start(m->loop, &m->expire_timer, after_s * 1000);
	upload_config_put(c);
}

static void
on_expire(struct ev_loop *loop, struct ev_timer *t)
{
	struct upload_main *m = t->data;
	struct upload_config *c = upload_config_current();
	struct expire_stats st;
	uint64_t next = c->expire_interval;

	(void)loop;
	if (c->expire_after > 0) {
		upload_expire_sweep(c->store_fd, time(NULL) - (time_t)c->expire_after, &st);
		if (st.files || st.dirs || st.errors)
			log_info("expiry: removed %llu file(s) (%llu bytes), "
			    "%llu director%s, %llu error(s)%s",
			    (unsigned long long)st.files, (unsigned long long)st.bytes,
			    (unsigned long long)st.dirs, st.dirs == 1 ? "y" : "ies",
			    (unsigned long long)st.errors,
			    st.interrupted ? ", interrupted" : "");
		upload_stats_expired(&st);
		if (st.interrupted)
			next = 1;	/* the signal first, then carry on */
	}
	upload_config_put(c);
	expire_arm(m, next);
}

static bool
same_listeners(const struct upload_config *a, const struct upload_config *b)
{
	if (a->nlisten != b->nlisten || a->socket_mode != b->socket_mode)
		return false;
	for (size_t i = 0; i < a->nlisten; i++)
		if (a->listen[i].len != b->listen[i].len ||
		    memcmp(&a->listen[i].u, &b->listen[i].u, a->listen[i].len) != 0)
			return false;
	return true;
}

static void
warn_fixed(const struct upload_config *o, const struct upload_config *n)
{
	if (!same_listeners(o, n) || o->metrics.enabled != n->metrics.enabled ||
	    memcmp(&o->metrics.listen, &n->metrics.listen, sizeof(o->metrics.listen)) != 0)
		log_warn("reload: listen addresses change only on restart");
	if (o->max_connections != n->max_connections ||
	    o->max_connections_per_ip != n->max_connections_per_ip ||
	    o->connection_timeout != n->connection_timeout ||
	    o->header_timeout != n->header_timeout || o->nexempt != n->nexempt ||
	    memcmp(o->exempt, n->exempt, sizeof(o->exempt)) != 0 ||
	    o->threads != n->threads || o->connection_memory != n->connection_memory)
		log_warn("reload: connection limits, timeouts and threads change "
		    "only on restart");
	if ((o->user == NULL) != (n->user == NULL) ||
	    (o->user && strcmp(o->user, n->user) != 0))
		log_warn("reload: user changes only on restart");
}

static void
on_reload(struct ev_loop *loop, int signo, void *data)
{
	struct upload_main *m = data;
	struct upload_config *n, *o;
	struct conf_err e;
	char err[512];

	(void)loop;
	(void)signo;
	daemon_notify("RELOADING=1");
	if ((n = upload_config_load(m->conf_path, &e)) == NULL) {
		log_err("reload failed, keeping the running configuration: %s", e.msg);
		goto out;
	}
	o = upload_config_current();
	if (strcmp(o->store_dir, n->store_dir) == 0)
		n->store_fd = dup(o->store_fd);
	else
		n->store_fd = upload_store_open_root(n->store_dir, true, err, sizeof(err));
	if (n->store_fd < 0) {
		log_err("reload failed, keeping the running configuration: storeDir: %s",
		    err);
		upload_config_put(o);
		upload_config_free(n);
		goto out;
	}
	warn_fixed(o, n);
	if (!m->debug)
		log_set_level(n->log_level);
	upload_config_put(o);
	upload_config_install(n);
	expire_arm(m, 1);
	log_notice("configuration reloaded");
out:
	daemon_notify("READY=1");
}

static void
on_stop(struct ev_loop *loop, int signo, void *data)
{
	(void)data;
	log_notice("%s: stopping", strsignal(signo));
	ev_break(loop);
}

/* Binds every listener and opens the store: 0, or -1 (logged). */
static int
acquire(struct upload_main *m, struct upload_config *c)
{
	char err[512], a[ADDR_STRLEN];
	bool existed = access(c->store_dir, F_OK) == 0;

	for (size_t i = 0; i < c->nlisten; i++) {
		int fd = addr_listen(&c->listen[i], SOCK_STREAM, 1024, c->socket_mode,
		    err, sizeof(err));

		if (fd < 0) {
			log_err("listen: %s", err);
			return -1;
		}
		m->fds[m->nfds++] = fd;
		log_notice("listening on %s", addr_format(&c->listen[i], a, sizeof(a)));
	}
	if (upload_stats_open(&c->metrics, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return -1;
	}
	if ((c->store_fd = upload_store_open_root(c->store_dir, true, err, sizeof(err))) < 0) {
		log_err("storeDir: %s", err);
		return -1;
	}
	if (!existed && c->user != NULL) {
		uid_t uid;
		gid_t gid;

		/* Created by root for the daemon's user, as Filer would have. */
		if (daemon_user_lookup(c->user, &uid, &gid, err, sizeof(err)) < 0 ||
		    fchown(c->store_fd, uid, gid) < 0) {
			log_err("storeDir: cannot give it to %s", c->user);
			return -1;
		}
	}
	return 0;
}

/* After dropping privileges: can this user store uploads?  0 or -1 (logged). */
static int
check_store(struct upload_config *c)
{
	char err[256];
	unsigned removed;
	int rc;

	if ((rc = upload_store_tmp_sweep(c->store_fd, &removed)) < 0)
		log_warn("storeDir %s: cannot clean %s: %s", c->store_dir, PATH_TMPDIR,
		    strerror(-rc));
	else if (removed > 0)
		log_notice("storeDir %s: removed %u unfinished upload(s) left by an "
		    "earlier run", c->store_dir, removed);
	if (upload_store_probe(c->store_fd, err, sizeof(err)) < 0) {
		log_err("storeDir %s: %s", c->store_dir, err);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct upload_main m = { .nfds = 0 };
	struct daemon_args args;
	struct upload_config *c;
	struct conf_err e;
	char err[512];

	daemon_parse_args(argc, argv, UPLOAD_DEFAULT_CONF, NULL, &args);
	log_init("upload-gw", args.debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	m.conf_path = args.conf_path;
	m.debug = args.debug;
	if ((c = upload_config_load(args.conf_path, &e)) == NULL) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}
	if (args.check_only) {
		printf("%s: configuration OK\n", args.conf_path);
		upload_config_free(c);
		return 0;
	}
	if (!args.debug)
		log_set_level(c->log_level);
	signal(SIGPIPE, SIG_IGN);
	if (acquire(&m, c) < 0)
		goto fail;
	if (daemon_drop_privileges(c->user, 0, err, sizeof(err)) < 0) {
		log_err("%s", err);
		goto fail;
	}
	if (check_store(c) < 0)
		goto fail;

	if ((m.loop = ev_loop_new()) == NULL)
		fatal("cannot create the event loop");
	/* Blocked here before any HTTP thread exists, so they inherit it. */
	if (ev_signal(m.loop, SIGTERM, on_stop, &m) < 0 ||
	    ev_signal(m.loop, SIGINT, on_stop, &m) < 0 ||
	    ev_signal(m.loop, SIGHUP, on_reload, &m) < 0)
		fatal("cannot set up signals");
	upload_config_install(c);
	if (upload_http_start(c, m.loop, m.fds, m.nfds, err, sizeof(err)) < 0 ||
	    upload_stats_start(m.loop, err, sizeof(err)) < 0)
		fatal("%s", err);
	ev_timer_init(&m.expire_timer, on_expire, &m);
	expire_arm(&m, 1);
	daemon_notify("READY=1");
	log_notice("upload-gw %s ready: store %s, URLs under %s", EDGE_VERSION,
	    c->store_dir, c->prefix);

	ev_run(m.loop);

	daemon_notify("STOPPING=1");
	c = upload_config_current();
	upload_http_stop(c->shutdown_timeout);
	upload_stats_close();
	for (size_t i = 0; i < m.nfds; i++) {
		if (c->listen[i].family == AF_UNIX)
			unlink(c->listen[i].u.sun.sun_path);
	}
	upload_config_put(c);
	upload_config_install(NULL);
	ev_timer_stop(m.loop, &m.expire_timer);
	ev_loop_free(m.loop);
	log_notice("stopped");
	return 0;
fail:
	/* Start-up failed before serving: release what acquire() took. */
	for (size_t i = 0; i < m.nfds; i++)
		close(m.fds[i]);
	upload_stats_close();
	upload_config_free(c);
	return 1;
}
