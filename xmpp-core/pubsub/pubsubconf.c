/*
 * pubsubconf — [pubsub].  See pubsubconf.h.
 */
#include "pubsubconf.h"

#include <stdint.h>
#include <string.h>

#include "conf.h"
#include "jid.h"

int
pubsub_config_load(struct pubsub_config *p, struct conf_table *root,
    struct conf_err *e)
{
	struct conf_table *t;
	long long nodes = 100, items = 256, subs = 1000, caps = 10000;
	uint64_t sz = 128 * 1024;
	const char *jid = NULL;
	char dom[JID_PART_MAX + 1];
	bool service = true;
	int rc;

	t = conf_table(root, "pubsub", e, &rc);
	if (rc == -1)
		return -1;
	if (rc == 1 && (conf_int(t, "max_nodes", 1, 100000, &nodes, e) == -1 ||
	    conf_int(t, "max_items", 1, 100000, &items, e) == -1 ||
	    conf_size(t, "max_item_size", &sz, e) == -1 ||
	    conf_int(t, "max_subscriptions", 1, 1000000, &subs, e) == -1 ||
	    conf_int(t, "caps_cache", 16, 1000000, &caps, e) == -1 ||
	    conf_bool(t, "service", &service, e) == -1 ||
	    conf_str(t, "service_jid", &jid, e) == -1))
		return -1;
	if (sz < 1024 || sz > 16 * 1024 * 1024) {
		conf_errf(e, t, "max_item_size", "must be between 1K and 16M");
		return -1;
	}
	if (jid && (jid_domain_prep(jid, dom) == -1 || strcmp(dom, jid) != 0)) {
		conf_errf(e, t, "service_jid", "must be a normalised domain");
		return -1;
	}
	p->max_nodes = (unsigned)nodes;
	p->max_items = (unsigned)items;
	p->max_item_size = sz;
	p->max_subscriptions = (unsigned)subs;
	p->caps_cache = (unsigned)caps;
	p->service = service;
	p->service_jid = jid;
	return 0;
}
