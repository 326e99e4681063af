/*
 * pushconf — [push].  See pushconf.h.
 */
#include "pushconf.h"

#include "conf.h"

/* include_body: true (the text), false (none) or a fixed text, as
 * ejabberd's mod_push include_body. */
static int
load_body(struct push_config *p, struct conf_table *t, struct conf_err *e)
{
	struct conf_value *v = conf_lookup(t, "include_body");

	if (v == NULL)
		return 0;
	if (v->type == CONF_BOOL) {
		p->include_body = v->u.b;
		return 0;
	}
	if (v->type == CONF_STRING && v->u.s[0] != '\0' && v->u.s[0] != ' ') {
		p->body_text = v->u.s;
		return 0;
	}
	conf_errf(e, t, "include_body", "true, false or a (non-empty) fixed text");
	return -1;
}

int
push_config_load(struct push_config *p, struct conf_table *root, struct conf_err *e)
{
	struct conf_table *t;
	uint64_t sz = 4096, interval = 5, timeout = 30, keep = 72 * 3600, before = 120;
	long long regs = 10, inflight = 1000;
	int rc;

	*p = (struct push_config){ .enabled = true, .wake = true };
	t = conf_table(root, "push", e, &rc);
	if (rc == -1)
		return -1;
	if (rc == 1) {
		if (conf_bool(t, "enabled", &p->enabled, e) == -1 ||
		    conf_bool(t, "include_sender", &p->include_sender, e) == -1 ||
		    load_body(p, t, e) == -1 ||
		    conf_int(t, "max_registrations", 1, 100, &regs, e) == -1 ||
		    conf_int(t, "max_in_flight", 1, 1000000, &inflight, e) == -1 ||
		    conf_size(t, "max_form_size", &sz, e) == -1 ||
		    conf_duration_range(t, "min_interval", 0, 3600, &interval, e) == -1 ||
		    conf_duration_range(t, "timeout", 1, 600, &timeout, e) == -1 ||
		    conf_duration_range(t, "resume_timeout", 0, 30 * 86400, &keep, e) == -1 ||
		    conf_bool(t, "wake_on_timeout", &p->wake, e) == -1 ||
		    conf_duration_range(t, "wake_before", 1, 86400, &before, e) == -1)
			return -1;
		if (sz < 256 || sz > 65536) {
			conf_errf(e, t, "max_form_size", "must be between 256 and 64K");
			return -1;
		}
	}
	p->max_regs = (unsigned)regs;
	p->max_in_flight = (unsigned)inflight;
	p->max_form = sz;
	p->interval_ms = interval * 1000;
	p->timeout_ms = timeout * 1000;
	p->keep_ms = keep * 1000;
	p->wake_before_ms = before * 1000;
	return 0;
}
