/*
 * imconf — the IM modules' config tables.  See imconf.h.
 */
#include "imconf.h"

#include <stdlib.h>

#include "conf.h"

void
im_config_free(void *cfg)
{
	free(cfg);
}

static void *
alloc(size_t n, void **cfg)
{
	return *cfg = calloc(1, n);
}

/* A table whose one setting is a count: *out = key's value (def when the
 * table or the key is absent) within [min, max]. */
static int
count_table(struct conf_table *root, const char *table, const char *key,
    long long min, long long max, long long def, unsigned *out, struct conf_err *e)
{
	struct conf_table *t;
	long long v = def;
	int rc;

	t = conf_table(root, table, e, &rc);
	if (rc == -1 || (rc == 1 && conf_int(t, key, min, max, &v, e) == -1))
		return -1;
	*out = (unsigned)v;
	return 0;
}

int
csi_config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	struct csi_config *m = alloc(sizeof(*m), cfg);

	return m == NULL ? -1 :
	    count_table(root, "csi", "max_queue", 1, 100000, 100, &m->max_queue, e);
}

int
sm_config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	struct sm_config *m = alloc(sizeof(*m), cfg);
	struct conf_table *t;
	long long v = 1000;
	uint64_t d = 300;
	int rc;

	if (m == NULL)
		return -1;
	t = conf_table(root, "sm", e, &rc);
	if (rc == -1)
		return -1;
	if (rc == 1 && (conf_duration(t, "resume_timeout", &d, e) == -1 ||
	    conf_int(t, "max_unacked", 10, 1000000, &v, e) == -1))
		return -1;
	if (d > 86400) {
		conf_errf(e, t, "resume_timeout", "at most one day");
		return -1;
	}
	m->resume_timeout_ms = d * 1000;
	m->max_unacked = (unsigned)v;
	v = 5;
	if (rc == 1 && conf_int(t, "request_every", 1, 1000000, &v, e) == -1)
		return -1;
	m->request_every = (unsigned)v;
	return 0;
}

int
offline_config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	struct offline_config *m = alloc(sizeof(*m), cfg);

	return m == NULL ? -1 :
	    count_table(root, "offline", "max_messages", 0, 100000, 500, &m->max_messages, e);
}

int
roster_config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	struct roster_config *m = alloc(sizeof(*m), cfg);

	return m == NULL ? -1 :
	    count_table(root, "roster", "max_items", 1, 1000000, 2000, &m->max_items, e);
}

/* A size key between 1K and 16M. */
static int
size_key(struct conf_table *t, const char *key, size_t *out, struct conf_err *e)
{
	uint64_t sz = *out;

	if (conf_size(t, key, &sz, e) == -1)
		return -1;
	if (sz < 1024 || sz > 16 * 1024 * 1024) {
		conf_errf(e, t, key, "must be between 1K and 16M");
		return -1;
	}
	*out = (size_t)sz;
	return 0;
}

int
vcard_config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	struct vcard_config *m = alloc(sizeof(*m), cfg);
	struct conf_table *t;
	int rc;

	if (m == NULL)
		return -1;
	m->max_size = 64 * 1024;
	t = conf_table(root, "vcard", e, &rc);
	if (rc == -1 || (rc == 1 && size_key(t, "max_size", &m->max_size, e) == -1))
		return -1;
	return 0;
}

int
private_config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	struct private_config *m = alloc(sizeof(*m), cfg);
	struct conf_table *t;
	long long v = 100;
	int rc;

	if (m == NULL)
		return -1;
	m->max_size = 64 * 1024;
	t = conf_table(root, "private", e, &rc);
	if (rc == -1 || (rc == 1 && (size_key(t, "max_size", &m->max_size, e) == -1 ||
	    conf_int(t, "max_items", 1, 100000, &v, e) == -1)))
		return -1;
	m->max_items = (unsigned)v;
	return 0;
}

int
blocking_config_load(struct conf_table *root, void **cfg, struct conf_err *e)
{
	struct blocking_config *m = alloc(sizeof(*m), cfg);

	return m == NULL ? -1 :
	    count_table(root, "blocking", "max_items", 1, 100000, 1000, &m->max_items, e);
}
