/*
 * pubsubconf — configuration of PEP (XEP-0163), the pubsub.<host>
 * service (XEP-0060) and the client caps cache (XEP-0115): the [pubsub]
 * table.  Loaded as part of xmpp_config, so SIGHUP swaps it with the
 * rest; documented in deploy/XMPP-CORE.md.
 */
#ifndef XMPP_PUBSUBCONF_H
#define XMPP_PUBSUBCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "registry.h"

struct conf_table;
struct conf_err;

struct pubsub_config {
	unsigned max_nodes;		/* nodes per account / per service */
	unsigned max_items;		/* items per node ("max" in forms) */
	size_t max_item_size;		/* serialised payload bytes */
	unsigned max_subscriptions;	/* subscriptions per service node */
	unsigned caps_cache;		/* verified caps kept in memory */
	bool service;			/* run pubsub.<host> */
	const char *service_jid;	/* NULL: pubsub.<host> for each host */
};

/* Reads [pubsub] from root into p; 0, or -1 with the message in e. */
int pubsub_config_load(struct pubsub_config *p, struct conf_table *root,
    struct conf_err *e);

extern struct module pubsub_module;
#define pubsub_cfg() ((const struct pubsub_config *)module_cfg(&pubsub_module))

#endif
