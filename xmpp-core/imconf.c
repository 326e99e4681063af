/*
 * imconf — [csi] and [sm].  See imconf.h.
 */
#include "imconf.h"

#include "conf.h"

int
im_config_load(struct im_config *m, struct conf_table *root, struct conf_err *e)
{
	struct conf_table *t;
	long long v;
	uint64_t d;
	int rc;

	v = 100;
	t = conf_table(root, "csi", e, &rc);
	if (rc == -1 || (rc == 1 && conf_int(t, "max_queue", 1, 100000, &v, e) == -1))
		return -1;
	m->csi_max_queue = (unsigned)v;

	t = conf_table(root, "sm", e, &rc);
	if (rc == -1)
		return -1;
	d = 300;
	v = 1000;
	if (rc == 1 && (conf_duration(t, "resume_timeout", &d, e) == -1 ||
	    conf_int(t, "max_unacked", 10, 1000000, &v, e) == -1))
		return -1;
	if (d > 86400) {
		conf_errf(e, t, "resume_timeout", "at most one day");
		return -1;
	}
	m->sm_resume_timeout_ms = d * 1000;
	m->sm_max_unacked = (unsigned)v;
	v = 5;
	if (rc == 1 && conf_int(t, "request_every", 1, 1000000, &v, e) == -1)
		return -1;
	m->sm_request_every = (unsigned)v;
	return 0;
}
