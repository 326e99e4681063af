/*
 * pubsubsvc — the generic PubSub service on pubsub.<host> (XEP-0060,
 * flat nodes): routed like upload.<host>, listed in the server's
 * disco#items, its own disco#info/#items, and every pubsub request handed
 * to pubsub.c.  Nodes are created by this server's accounts only
 * (explicitly or by publishing); subscribers get notifications by the JID
 * they subscribed with.
 */
#ifndef XMPP_PUBSUBSVC_H
#define XMPP_PUBSUBSVC_H

#include <stdbool.h>

#include "jid.h"

struct xml_node;

/* router_route: true when to is the service (n taken). */
/* The server's disco#items on host. */
/* Is jid a local user's (only they create nodes)? */
bool pubsubsvc_may_create(const char *bare);

#endif
