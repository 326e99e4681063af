/*
 * access — could a daemon's user open this file?  The daemons read their
 * certificates and secrets as their own users (deploy/README.md, "Who
 * reads what"), on every SIGHUP too, so a file root can read is not
 * enough.  Decided from the modes, owners and groups along the path, as
 * the kernel would for that user without capabilities; ACLs are not read.
 */
#ifndef CHECK_ACCESS_H
#define CHECK_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define IDENT_MAX_GROUPS 64

struct ident {
	char name[64];
	uid_t uid;
	gid_t gid;
	gid_t groups[IDENT_MAX_GROUPS];	/* supplementary, from /etc/group */
	int ngroups;
};

/* 0, or -1 with a message (no such user). */
int ident_lookup(const char *name, struct ident *id, char *err, size_t errlen);

/*
 * true if id may read path (want_write: write too); else false with the
 * reason ("/etc/edge/tls/x.key: mode 0600 owner root") in why.
 */
bool ident_can_access(const struct ident *id, const char *path, bool want_write,
    char *why, size_t whylen);

#endif
