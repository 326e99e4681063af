/*
 * daemon — command line, sd_notify, privilege drop.  See daemon.h.
 */
#include "daemon.h"
#include "log.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef EDGE_VERSION
#define EDGE_VERSION "dev"
#endif

static void
usage(FILE *f, const char *prog, const char *default_conf, const char *extra)
{
	fprintf(f,
	    "usage: %s [-dhtV] [-c file]%s%s\n"
	    "  -c file  configuration file (default %s)\n"
	    "  -t       check the configuration and exit\n"
	    "  -d       debug logging\n"
	    "  -V       print the version and exit\n"
	    "  -h       this help\n",
	    prog, extra ? " " : "", extra ? extra : "", default_conf);
}

void
daemon_parse_args(int argc, char **argv, const char *default_conf,
    const char *extra_usage, struct daemon_args *out)
{
	static char opt_h[] = "-h", opt_v[] = "-V";
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int c;

	memset(out, 0, sizeof(*out));
	out->conf_path = default_conf;
	/* GNU-style --help and --version, which packagers and sysadmins try
	 * first, mean -h and -V; options end at "--" or at the first word
	 * that is none (xmppctl's command), and the file name after -c is
	 * none either */
	for (int i = 1; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "-c") == 0)
			i++;
		else if (strcmp(argv[i], "--help") == 0)
			argv[i] = opt_h;
		else if (strcmp(argv[i], "--version") == 0)
			argv[i] = opt_v;
	}
	while ((c = getopt(argc, argv, "c:dhntV")) != -1) {
		switch (c) {
		case 'c':
			out->conf_path = optarg;
			break;
		case 'd':
			out->debug = true;
			break;
		case 'n':
		case 't':
			out->check_only = true;
			break;
		case 'V':
			printf("%s %s\n", prog, EDGE_VERSION);
			exit(0);
		case 'h':
			usage(stdout, prog, default_conf, extra_usage);
			exit(0);
		default:
			usage(stderr, prog, default_conf, extra_usage);
			exit(2);
		}
	}
	out->optind = optind;
}

int
daemon_notify(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char msg[512];
	socklen_t len;
	va_list ap;
	int fd, rc;
	size_t pl;

	if (path == NULL || path[0] == '\0')
		return 0;
	pl = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || pl >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, path, pl);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + pl);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	rc = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len) < 0 ? -1 : 0;
	close(fd);
	return rc;
}

int
daemon_user_lookup(const char *user, uid_t *uid, gid_t *gid, char *err,
    size_t errlen)
{
	struct passwd *pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "user \"%s\": %s", user,
		    errno ? strerror(errno) : "no such user");
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static int
caps_set(uint64_t keep)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	data[0].permitted = data[0].effective = (uint32_t)keep;
	data[1].permitted = data[1].effective = (uint32_t)(keep >> 32);
	return (int)syscall(SYS_capset, &hdr, data);
}

int
daemon_drop_privileges(const char *user, uint64_t keep_caps, char *err,
    size_t errlen)
{
	uid_t uid;
	gid_t gid;

	if (user == NULL || user[0] == '\0') {
		if (keep_caps == 0)
			return 0;
		if (caps_set(keep_caps) < 0) {
			snprintf(err, errlen, "capset: %s", strerror(errno));
			return -1;
		}
		return 0;
	}
	if (daemon_user_lookup(user, &uid, &gid, err, errlen) < 0)
		return -1;
	if (keep_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "prctl(PR_SET_KEEPCAPS): %s", strerror(errno));
		return -1;
	}
	if (initgroups(user, gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		snprintf(err, errlen, "switching to user \"%s\": %s", user,
		    strerror(errno));
		return -1;
	}
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		snprintf(err, errlen, "could regain root after dropping to \"%s\"",
		    user);
		return -1;
	}
	if (keep_caps) {
		if (caps_set(keep_caps) < 0) {
			snprintf(err, errlen, "capset: %s", strerror(errno));
			return -1;
		}
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	}
	log_debug("running as user %s (uid %d, gid %d)", user, (int)uid, (int)gid);
	return 0;
}
