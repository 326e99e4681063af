/*
 * conf_get — typed getters, error formatting, the unknown-key check and
 * secret files for documents parsed by conf.c.  See conf.h.
 */
#include "conf.h"
#include "conf_priv.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct conf_value *
conf_lookup(struct conf_table *t, const char *key)
{
	struct conf_value *v;

	if (t == NULL || (v = conf_table_find(t, key)) == NULL)
		return NULL;
	v->used = true;
	return v;
}

static void
errf_line(struct conf_err *e, const char *file, int line, const char *key,
    const char *fmt, va_list ap)
{
	char buf[300];
	int n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = snprintf(e->msg, sizeof(e->msg), "%.200s:%d: %.100s: %s", file, line,
	    key, buf);
	(void)n;
}

void
conf_errf(struct conf_err *e, struct conf_table *t, const char *key,
    const char *fmt, ...)
{
	struct conf_value *v = conf_table_find(t, key);
	char full[300];
	va_list ap;

	if (t->name[0] != '\0')
		snprintf(full, sizeof(full), "%s.%s", t->name, key);
	else
		snprintf(full, sizeof(full), "%s", key);
	va_start(ap, fmt);
	errf_line(e, t->file, v ? v->line : t->line, full, fmt, ap);
	va_end(ap);
}

static const char *
type_name(enum conf_type t)
{
	switch (t) {
	case CONF_STRING: return "a string";
	case CONF_INT: return "an integer";
	case CONF_BOOL: return "a boolean";
	case CONF_STRARRAY: return "an array of strings";
	case CONF_TABLE: return "a table";
	case CONF_TABLEARRAY: return "an array of tables";
	}
	return "?";
}

static struct conf_value *
typed(struct conf_table *t, const char *key, enum conf_type want,
    struct conf_err *e, int *rc)
{
	struct conf_value *v = conf_lookup(t, key);

	*rc = 0;
	if (v == NULL)
		return NULL;
	if (v->type != want) {
		conf_errf(e, t, key, "expected %s, found %s", type_name(want),
		    type_name(v->type));
		*rc = -1;
		return NULL;
	}
	*rc = 1;
	return v;
}

int
conf_str(struct conf_table *t, const char *key, const char **out,
    struct conf_err *e)
{
	int rc;
	struct conf_value *v = typed(t, key, CONF_STRING, e, &rc);

	if (v != NULL)
		*out = v->u.s;
	return rc;
}

int
conf_int(struct conf_table *t, const char *key, long long min, long long max,
    long long *out, struct conf_err *e)
{
	int rc;
	struct conf_value *v = typed(t, key, CONF_INT, e, &rc);

	if (v == NULL)
		return rc;
	if (v->u.i < min || v->u.i > max) {
		conf_errf(e, t, key, "must be between %lld and %lld", min, max);
		return -1;
	}
	*out = v->u.i;
	return 1;
}

int
conf_bool(struct conf_table *t, const char *key, bool *out, struct conf_err *e)
{
	int rc;
	struct conf_value *v = typed(t, key, CONF_BOOL, e, &rc);

	if (v != NULL)
		*out = v->u.b;
	return rc;
}

int
conf_strarr(struct conf_table *t, const char *key, char *const **out,
    size_t *n, struct conf_err *e)
{
	int rc;
	struct conf_value *v = typed(t, key, CONF_STRARRAY, e, &rc);

	if (v != NULL) {
		*out = v->u.arr.v;
		*n = v->u.arr.n;
	}
	return rc;
}

/* Shared by conf_size and conf_duration: number with a unit suffix. */
static int
scaled(struct conf_table *t, const char *key, uint64_t *out,
    struct conf_err *e, const char *units, const uint64_t *mult,
    const char *what)
{
	struct conf_value *v = conf_lookup(t, key);
	unsigned long long n;
	const char *s, *u;
	char *end;

	if (v == NULL)
		return 0;
	if (v->type == CONF_INT) {
		if (v->u.i < 0) {
			conf_errf(e, t, key, "must not be negative");
			return -1;
		}
		*out = (uint64_t)v->u.i;
		return 1;
	}
	if (v->type != CONF_STRING) {
		conf_errf(e, t, key, "expected %s, found %s", what, type_name(v->type));
		return -1;
	}
	s = v->u.s;
	if (!isdigit((unsigned char)*s))
		goto bad;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0)
		goto bad;
	while (*end == ' ')
		end++;
	if (*end == '\0') {
		*out = n;
		return 1;
	}
	if (end[1] != '\0' && !(end[1] == 'B' && end[2] == '\0' && units[0] == 'K') &&
	    !(end[1] == 'i' && end[2] == 'B' && end[3] == '\0' && units[0] == 'K'))
		goto bad;
	if ((u = strchr(units, toupper((unsigned char)*end))) == NULL &&
	    (u = strchr(units, *end)) == NULL)
		goto bad;
	if (n > UINT64_MAX / mult[u - units]) {
		conf_errf(e, t, key, "value too large");
		return -1;
	}
	*out = n * mult[u - units];
	return 1;
bad:
	conf_errf(e, t, key, "invalid %s \"%s\"", what, s);
	return -1;
}

int
conf_size(struct conf_table *t, const char *key, uint64_t *out,
    struct conf_err *e)
{
	static const uint64_t mult[] = { 1ULL << 10, 1ULL << 20, 1ULL << 30,
	    1ULL << 40 };

	return scaled(t, key, out, e, "KMGT", mult,
	    "size (bytes, or a number with K, M, G or T)");
}

int
conf_duration(struct conf_table *t, const char *key, uint64_t *out,
    struct conf_err *e)
{
	/* 's','m','h','d','w' kept lower-case: 'M' is not minutes. */
	static const uint64_t mult[] = { 1, 60, 3600, 86400, 604800 };
	struct conf_value *v = conf_lookup(t, key);
	const char *s;
	size_t l;

	if (v != NULL && v->type == CONF_STRING && (s = v->u.s) != NULL &&
	    (l = strlen(s)) > 0 && strchr("smhdw", s[l - 1]) == NULL &&
	    !isdigit((unsigned char)s[l - 1])) {
		conf_errf(e, t, key, "invalid duration \"%s\" (use s, m, h, d or w)", s);
		return -1;
	}
	return scaled(t, key, out, e, "smhdw", mult,
	    "duration (seconds, or a number with s, m, h, d or w)");
}

/* What a getter returned (rc, v), refused outside [min, max]: fmt
 * words the bounds. */
static int
in_range(struct conf_table *t, const char *key, int rc, uint64_t v, uint64_t min,
    uint64_t max, const char *fmt, uint64_t *out, struct conf_err *e)
{
	if (rc != 1)
		return rc;
	if (v < min || v > max) {
		conf_errf(e, t, key, fmt, (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 1;
}

int
conf_duration_range(struct conf_table *t, const char *key, uint64_t min,
    uint64_t max, uint64_t *out, struct conf_err *e)
{
	uint64_t v = 0;
	int rc = conf_duration(t, key, &v, e);

	return in_range(t, key, rc, v, min, max, "must be between %llus and %llus", out, e);
}

int
conf_size_range(struct conf_table *t, const char *key, uint64_t min,
    uint64_t max, uint64_t *out, struct conf_err *e)
{
	uint64_t v = 0;
	int rc = conf_size(t, key, &v, e);

	return in_range(t, key, rc, v, min, max, "must be between %llu and %llu bytes",
	    out, e);
}

struct conf_table *
conf_table(struct conf_table *t, const char *key, struct conf_err *e, int *rc)
{
	struct conf_value *v = typed(t, key, CONF_TABLE, e, rc);

	return v ? v->u.t : NULL;
}

int
conf_tables(struct conf_table *t, const char *key,
    struct conf_table *const **out, size_t *n, struct conf_err *e)
{
	int rc;
	struct conf_value *v = typed(t, key, CONF_TABLEARRAY, e, &rc);

	if (v != NULL) {
		*out = v->u.tarr.v;
		*n = v->u.tarr.n;
	}
	return rc;
}

int
conf_check_unused(struct conf_table *t, struct conf_err *e)
{
	for (size_t i = 0; i < t->n; i++) {
		struct conf_value *v = &t->vals[i];

		if (!v->used) {
			if (v->type == CONF_TABLE || v->type == CONF_TABLEARRAY)
				conf_errf(e, t, v->key, "unknown table");
			else
				conf_errf(e, t, v->key, "unknown key");
			return -1;
		}
		if (v->type == CONF_TABLE && conf_check_unused(v->u.t, e) < 0)
			return -1;
		if (v->type == CONF_TABLEARRAY)
			for (size_t j = 0; j < v->u.tarr.n; j++)
				if (conf_check_unused(v->u.tarr.v[j], e) < 0)
					return -1;
	}
	return 0;
}

int
conf_read_secret_file(const char *path, char **out, struct conf_err *e)
{
	struct stat st;
	char buf[4097];
	size_t n = 0;
	ssize_t r;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		snprintf(e->msg, sizeof(e->msg), "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(e->msg, sizeof(e->msg), "%s: not a regular file", path);
		goto out;
	}
	/*
	 * Group read is allowed: a secret shared by two daemons (xmpp-core
	 * and turnd, xmpp-core and upload-gw) is one file readable by a group
	 * of exactly those users (deploy/sysusers.d).  Anything more than
	 * group read, and any access by others, is refused.
	 */
	if (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)) {
		snprintf(e->msg, sizeof(e->msg),
		    "%s: secret file is accessible by others or writable by group "
		    "(mode %04o); chmod 0600 it, or 0640 with a group of the daemons "
		    "sharing it", path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			snprintf(e->msg, sizeof(e->msg), "%s: %s", path, strerror(errno));
			goto out;
		}
		n += (size_t)r;
	}
	if (n == sizeof(buf) - 1) {
		snprintf(e->msg, sizeof(e->msg), "%s: secret longer than %zu bytes",
		    path, sizeof(buf) - 2);
		goto out;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (n == 0 || strlen(buf) != n) {
		snprintf(e->msg, sizeof(e->msg), "%s: secret is empty or contains NUL",
		    path);
		goto out;
	}
	if ((*out = strdup(buf)) == NULL) {
		snprintf(e->msg, sizeof(e->msg), "%s: out of memory", path);
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

void
conf_secret_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}
