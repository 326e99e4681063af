/*
 * dumbclient-redirect — on the web host, sends XMPP clients that ignore
 * SRV records (and connect to the domain's A/AAAA address on 5222/5269)
 * on to the XMPP host with nftables DNAT + SNAT, in a table of its own.
 *
 *   dumbclient-redirect [-c FILE] [-t] [--once | flush]
 *
 * Long-running: follows the domain's SRV records, re-resolving when their
 * TTL runs out and swapping the rules atomically when the answer changes;
 * a failed lookup keeps the last good rules.  SIGHUP reloads the config;
 * SIGTERM/SIGINT remove the table and exit 0.  --once applies and exits
 * (boot); flush removes the table.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "evloop.h"
#include "log.h"
#include "nft.h"

#include "config.h"
#include "follow.h"
#include "rules.h"
#include "stats.h"

struct state {
	struct ev_loop *loop;
	struct redirect_conf *conf;
	const char *conf_path;
	struct nft_sess nft;
	struct follow follow;
};

static int
sysctl_on(const char *path, const char *name)
{
	char v = '0';
	int fd;

	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		log_err("%s: %s (IP forwarding is needed to redirect)", path,
		    strerror(errno));
		return -1;
	}
	if (read(fd, &v, 1) == 1 && v == '1') {
		close(fd);
		return 0;
	}
	if (pwrite(fd, "1\n", 2, 0) != 2) {
		log_err("setting %s = 1: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	log_notice("set %s = 1 to forward redirected connections", name);
	return 0;
}

static int
enable_forwarding(void)
{
	if (sysctl_on("/proc/sys/net/ipv4/ip_forward", "net.ipv4.ip_forward") < 0)
		return -1;
	/* A host without IPv6 has no such file: nothing to forward there. */
	if (access("/proc/sys/net/ipv6/conf/all/forwarding", F_OK) == 0 &&
	    sysctl_on("/proc/sys/net/ipv6/conf/all/forwarding",
	    "net.ipv6.conf.all.forwarding") < 0)
		return -1;
	return 0;
}

static void
on_hup(struct ev_loop *loop, int signo, void *data)
{
	struct state *st = data;
	struct redirect_conf *c;
	struct conf_err e;

	(void)loop;
	(void)signo;
	daemon_notify("RELOADING=1");
	if ((c = redirect_conf_load(st->conf_path, &e)) == NULL) {
		log_err("reload: %s; keeping the old configuration", e.msg);
		daemon_notify("READY=1");
		return;
	}
	log_set_level(c->log_level);
	log_notice("configuration reloaded");
	if (follow_reconf(&st->follow, c) < 0)
		log_err("reload: rules not installed (see above)");
	redirect_conf_free(st->conf);
	st->conf = c;
	daemon_notify("READY=1");
}

static void
on_term(struct ev_loop *loop, int signo, void *data)
{
	(void)data;
	log_notice("signal %d: removing the rules and stopping", signo);
	ev_break(loop);
}

static int
run_daemon(struct state *st)
{
	char err[256];
	int rc = 1;

	if ((st->loop = ev_loop_new()) == NULL) {
		log_err("event loop: %s", strerror(errno));
		return 1;
	}
	/* Signals first: the resolver's thread must inherit them blocked. */
	if (ev_signal(st->loop, SIGHUP, on_hup, st) < 0 ||
	    ev_signal(st->loop, SIGTERM, on_term, st) < 0 ||
	    ev_signal(st->loop, SIGINT, on_term, st) < 0 ||
	    follow_init(&st->follow, st->loop, &st->nft, st->conf) < 0) {
		log_err("setting up the loop: %s", strerror(errno));
		goto out;
	}
	if (follow_start(&st->follow) < 0)
		goto out;
	if (redirect_stats_start(st->loop, &st->follow, err, sizeof(err)) < 0) {
		log_err("%s", err);
		goto out;
	}
	daemon_notify("READY=1");
	if (ev_run(st->loop) < 0) {
		log_err("event loop: %s", strerror(errno));
		goto out;
	}
	daemon_notify("STOPPING=1");
	rc = 0;
out:
	redirect_stats_close();
	follow_stop(&st->follow);
	if (redirect_flush(&st->nft, st->conf) < 0)
		rc = 1;
	ev_loop_free(st->loop);
	return rc;
}

/* Removes "--once" from argv (getopt knows only the common flags). */
static bool
take_once(int *argc, char **argv)
{
	bool once = false;
	int i, j;

	for (i = j = 0; i < *argc; i++) {
		if (i > 0 && strcmp(argv[i], "--once") == 0)
			once = true;
		else
			argv[j++] = argv[i];
	}
	argv[j] = NULL;
	*argc = j;
	return once;
}

int
main(int argc, char **argv)
{
	struct state st;
	struct daemon_args args;
	struct conf_err e;
	const char *cmd;
	char err[256];
	bool once;
	int rc;

	memset(&st, 0, sizeof(st));
	log_init("dumbclient-redirect", LOG_LVL_INFO);
	once = take_once(&argc, argv);
	daemon_parse_args(argc, argv, REDIRECT_DEFAULT_CONF, "[--once | flush]",
	    &args);
	cmd = args.optind < argc ? argv[args.optind] : NULL;
	if (args.optind < argc - 1 || (cmd && strcmp(cmd, "flush") != 0) ||
	    (cmd && once)) {
		fprintf(stderr, "usage: dumbclient-redirect [-dhtV] [-c file] "
		    "[--once | flush]\n");
		return 2;
	}
	st.conf_path = args.conf_path;
	if ((st.conf = redirect_conf_load(args.conf_path, &e)) == NULL) {
		log_err("%s", e.msg);
		return 1;
	}
	log_set_level(args.debug ? LOG_LVL_DEBUG : st.conf->log_level);
	if (args.check_only) {
		if (st.conf->has_static) {
			redirect_print(stdout, st.conf, &st.conf->target);
		} else {
			printf("# targets follow the SRV records of %s; "
			    "rules are installed once DNS answers\n",
			    st.conf->domain);
		}
		redirect_conf_free(st.conf);
		return 0;
	}
	if (nft_open(&st.nft, err, sizeof(err)) < 0) {
		log_err("%s", err);
		redirect_conf_free(st.conf);
		return 1;
	}
	if (cmd) {	/* flush */
		rc = redirect_flush(&st.nft, st.conf) < 0 ? 1 : 0;
		if (rc == 0)
			log_notice("table inet %s removed", st.conf->table);
		goto out;
	}
	rc = 1;
	if (enable_forwarding() < 0)
		goto out;
	if (!once && redirect_stats_open(st.conf, err, sizeof(err)) < 0) {
		log_err("%s", err);
		goto out;
	}
	/* Netlink is open and the sysctls set: root is no longer needed. */
	if (daemon_drop_privileges(st.conf->user, 1ULL << CAP_NET_ADMIN, err,
	    sizeof(err)) < 0) {
		log_err("%s", err);
		goto out;
	}
	if (once)
		rc = follow_once(&st.nft, st.conf) < 0 ? 1 : 0;
	else
		rc = run_daemon(&st);
out:
	redirect_stats_close();
	nft_close(&st.nft);
	redirect_conf_free(st.conf);
	return rc;
}
