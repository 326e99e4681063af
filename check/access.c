/*
 * access — permission checks for another user.  See access.h.
 */
#include "access.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int
ident_lookup(const char *name, struct ident *id, char *err, size_t errlen)
{
	struct passwd *pw;
	int n = IDENT_MAX_GROUPS;

	memset(id, 0, sizeof(*id));
	errno = 0;
	if ((pw = getpwnam(name)) == NULL) {
		snprintf(err, errlen, "no user %s", name);
		return -1;
	}
	snprintf(id->name, sizeof(id->name), "%s", name);
	id->uid = pw->pw_uid;
	id->gid = pw->pw_gid;
	if (getgrouplist(name, pw->pw_gid, id->groups, &n) == -1)
		n = IDENT_MAX_GROUPS;	/* the first ones are enough to judge */
	id->ngroups = n;
	return 0;
}

static bool
in_group(const struct ident *id, gid_t g)
{
	if (g == id->gid)
		return true;
	for (int i = 0; i < id->ngroups; i++)
		if (id->groups[i] == g)
			return true;
	return false;
}

static const char *
group_name(gid_t g, char *buf, size_t len)
{
	struct group *gr = getgrgid(g);

	if (gr)
		snprintf(buf, len, "%s", gr->gr_name);
	else
		snprintf(buf, len, "%u", (unsigned)g);
	return buf;
}

static const char *
user_name(uid_t u, char *buf, size_t len)
{
	struct passwd *pw = getpwuid(u);

	if (pw)
		snprintf(buf, len, "%s", pw->pw_name);
	else
		snprintf(buf, len, "%u", (unsigned)u);
	return buf;
}

/* The permission bits (r=4, w=2, x=1) that apply to id for st. */
static unsigned
bits_for(const struct ident *id, const struct stat *st)
{
	if (id->uid == 0)
		return 7;
	if (st->st_uid == id->uid)
		return (st->st_mode >> 6) & 7;
	if (in_group(id, st->st_gid))
		return (st->st_mode >> 3) & 7;
	return st->st_mode & 7;
}

static bool
denied(const char *path, const struct stat *st, char *why, size_t whylen)
{
	char u[64], g[64];

	snprintf(why, whylen, "%s: mode %04o, owner %s, group %s", path,
	    (unsigned)(st->st_mode & 07777), user_name(st->st_uid, u, sizeof(u)),
	    group_name(st->st_gid, g, sizeof(g)));
	return false;
}

bool
ident_can_access(const struct ident *id, const char *path, bool want_write,
    char *why, size_t whylen)
{
	char real[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	char *slash;

	/* symbolic links (acme.sh's, /etc/ssl's) are followed first: what
	 * counts is every directory on the way to the file itself */
	if (realpath(path, real) == NULL) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return false;
	}
	for (slash = strchr(real + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		size_t n = (size_t)(slash - real);

		memcpy(dir, real, n);
		dir[n] = '\0';
		if (stat(dir, &st) != 0) {
			snprintf(why, whylen, "%s: %s", dir, strerror(errno));
			return false;
		}
		if (!(bits_for(id, &st) & 1))
			return denied(dir, &st, why, whylen);
	}
	if (stat(real, &st) != 0) {
		snprintf(why, whylen, "%s: %s", real, strerror(errno));
		return false;
	}
	if (!(bits_for(id, &st) & 4) || (want_write && !(bits_for(id, &st) & 2)))
		return denied(real, &st, why, whylen);
	return true;
}
