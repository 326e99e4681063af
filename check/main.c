/*
 * edge-check — reads every daemon's configuration on this host and
 * reports what would break, each with a fix, like `prosodyctl check`:
 * syntax (each daemon's own -t), users, certificates, shared secrets,
 * ports, the database and DNS.  One line per check (report.h); exit 1
 * when any line is not ok, 2 on bad usage.
 *
 * Only reads: no file is written, no daemon signalled, nothing bound.
 */
#include <getopt.h>
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certs.h"
#include "db.h"
#include "dns.h"
#include "local.h"
#include "ports.h"
#include "records.h"
#include "report.h"
#include "secrets.h"
#include "site.h"
#include "syntax.h"
#include "users.h"

#ifndef EDGE_VERSION
#define EDGE_VERSION "dev"
#endif

#define DEFAULT_DIR "/etc/edge"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: edge-check [-hqV] [--config-dir DIR] [--sbin DIR] [--ca FILE]\n"
	    "                  [--nameserver IPV4[:PORT]] [daemon ...]\n"
	    "  --config-dir DIR  where the configs are (default %s)\n"
	    "  --sbin DIR        where the daemons are (default: edge-check's own)\n"
	    "  --ca FILE         trust these CAs instead of the system's\n"
	    "  --nameserver A    ask this DNS server instead of /etc/resolv.conf's\n"
	    "  -q, --quiet       print problems only\n"
	    "  -V, --version     print the version and exit\n"
	    "  -h, --help        this help\n"
	    "  daemon ...        check only these (xmpp-core turnd upload-gw portmap\n"
	    "                    dumbclient-redirect); default: every one configured\n",
	    DEFAULT_DIR);
}

/* The directory edge-check itself is in: the daemons are installed beside it. */
static void
own_dir(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0) {
		snprintf(out, len, "/usr/sbin");
		return;
	}
	self[n] = '\0';
	snprintf(out, len, "%s", dirname(self));
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config-dir", required_argument, NULL, 'c' },
		{ "sbin", required_argument, NULL, 's' },
		{ "ca", required_argument, NULL, 'a' },
		{ "nameserver", required_argument, NULL, 'n' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct site site;
	const char *dir = DEFAULT_DIR, *ca = NULL, *ns = NULL;
	char sbin[PATH_MAX], err[256];
	unsigned want = 0;
	bool quiet = false, any = false;
	int c;

	own_dir(sbin, sizeof(sbin));
	while ((c = getopt_long(argc, argv, "c:hqV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 's':
			snprintf(sbin, sizeof(sbin), "%s", optarg);
			break;
		case 'a':
			ca = optarg;
			break;
		case 'n':
			ns = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'V':
			printf("edge-check %s\n", EDGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	for (int i = optind; i < argc; i++) {
		int d;

		for (d = 0; d < D_COUNT; d++)
			if (strcmp(argv[i], site_daemons[d]) == 0)
				break;
		if (d == D_COUNT) {
			fprintf(stderr, "edge-check: unknown daemon %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
		want |= 1u << d;
	}
	if (want == 0)
		want = (1u << D_COUNT) - 1;
	if (dns_open(ns, err, sizeof(err)) == -1 || local_load(err, sizeof(err)) == -1) {
		fprintf(stderr, "edge-check: %s\n", err);
		return 2;
	}
	report_init(quiet);
	site_load(&site, dir, want);
	for (int d = 0; d < D_COUNT; d++)
		any |= site.d[d].present;
	if (!any)
		report(V_FAIL, "install the packages (edge-common puts the example configs "
		    "there), or give --config-dir", "config: no daemon's configuration in %s", dir);
	syntax_check(&site, sbin);
	users_check(&site);
	certs_check(&site, ca);
	secrets_check(&site);
	ports_check(&site);
	db_check(&site, sbin);
	records_check(&site);
	dns_close();
	site_free(&site);
	if (report_problems() == 0) {
		if (quiet)
			return 0;
		printf("edge-check: no problems\n");
		return 0;
	}
	printf("edge-check: %d problem%s\n", report_problems(),
	    report_problems() == 1 ? "" : "s");
	return 1;
}
