/*
 * portmap — boot-time nftables port forwards on the XMPP host.
 *
 *   portmap [-c FILE] apply | check | show | flush | metrics   (-t = check)
 *
 * A one-shot tool, not a daemon: it reads its config, does one thing to
 * its own table (inet portmap by default) and exits 0 on success, 1 on
 * any error (logged so a boot log reads), 2 on bad usage.
 */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

#include "forward.h"
#include "table.h"

int
main(int argc, char **argv)
{
	struct daemon_args args;
	struct portmap_conf *c;
	struct conf_err e;
	const char *cmd;
	int rc;

	log_init("portmap", LOG_LVL_INFO);
	daemon_parse_args(argc, argv, PORTMAP_DEFAULT_CONF,
	    "apply|check|show|flush|metrics", &args);
	if (args.debug)
		log_set_level(LOG_LVL_DEBUG);
	if (args.optind < argc - 1) {
		fprintf(stderr, "portmap: one command expected\n");
		return 2;
	}
	cmd = args.optind < argc ? argv[args.optind] : NULL;
	if (args.check_only && cmd == NULL)
		cmd = "check";
	if (cmd == NULL || (strcmp(cmd, "apply") != 0 &&
	    strcmp(cmd, "check") != 0 && strcmp(cmd, "show") != 0 &&
	    strcmp(cmd, "flush") != 0 && strcmp(cmd, "metrics") != 0)) {
		fprintf(stderr, "usage: portmap [-dhtV] [-c file] "
		    "apply|check|show|flush|metrics\n");
		return 2;
	}
	if ((c = portmap_conf_load(args.conf_path, &e)) == NULL) {
		log_err("%s", e.msg);
		return 1;
	}
	if (strcmp(cmd, "check") == 0)
		rc = portmap_check(c, stdout);
	else if (strcmp(cmd, "apply") == 0)
		rc = portmap_apply(c);
	else if (strcmp(cmd, "show") == 0)
		rc = portmap_show(c, stdout);
	else if (strcmp(cmd, "metrics") == 0)
		rc = portmap_metrics(c, stdout);
	else
		rc = portmap_flush(c);
	portmap_conf_free(c);
	return rc < 0 ? 1 : 0;
}
