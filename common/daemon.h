/*
 * daemon — the start-up and lifecycle plumbing shared by every daemon:
 * the common command line (-c FILE, -t, -V, -d, -h), sd_notify over
 * $NOTIFY_SOCKET without libsystemd, and dropping to an unprivileged user
 * after binding (optionally keeping capabilities such as CAP_NET_ADMIN).
 */
#ifndef EDGE_DAEMON_H
#define EDGE_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct daemon_args {
	const char *conf_path;
	bool check_only;	/* -t / -n: validate config and exit */
	bool debug;		/* -d: log level debug */
	int optind;		/* first non-option argument */
};

/*
 * Parses the common flags.  -V prints "<prog> <version>" and exits 0; -h
 * prints usage (with extra_usage appended) and exits 0; a bad flag prints
 * usage to stderr and exits 2.
 */
void daemon_parse_args(int argc, char **argv, const char *default_conf,
    const char *extra_usage, struct daemon_args *out);

/* sd_notify(3) equivalent: no-op (0) when $NOTIFY_SOCKET is unset. */
int daemon_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Looks up a user: 0, or -1 with message. */
int daemon_user_lookup(const char *user, uid_t *uid, gid_t *gid,
    char *err, size_t errlen);

/*
 * Switches to user (supplementary groups, gid, uid), verifying it cannot
 * regain root.  keep_caps is a bit mask of CAP_* numbers (1ULL << CAP_X)
 * kept in the permitted and effective sets; 0 drops everything.  A NULL or
 * empty user with keep_caps 0 is a no-op.  0, or -1 with message.
 */
int daemon_drop_privileges(const char *user, uint64_t keep_caps,
    char *err, size_t errlen);

#endif
