/*
 * pubsubnotify — event notifications (XEP-0060 §7.1.2, §7.2.2.1, §8.4,
 * §8.5; XEP-0163 §4.3): a headline <message/> with <event/> from the
 * service to each explicit subscriber and, for PEP, to the owner's
 * available resources and to the available resources of contacts with a
 * presence subscription that the access model allows, when their entity
 * capabilities (caps.c) ask for <node>+notify (XEP-0163 §4.3.3, filtered
 * notifications).
 */
#ifndef XMPP_PUBSUBNOTIFY_H
#define XMPP_PUBSUBNOTIFY_H

#include "pubsub.h"

/* Sends ev (an <items/>, <purge/> or <delete/> element, taken) for node.
 * subscribers: the node's explicit subscriptions, newline-separated, or
 * NULL. */
void ps_notify(const struct ps_svc *svc, const char *node,
    const struct ps_config *cfg, struct xml_node *ev, const char *subscribers);
/* <items node><item id publisher>payload</item></items> (payload copied,
 * may be NULL). */
struct xml_node *ps_items_event(const char *node, const char *id,
    const struct xml_node *payload);
/* The same wrapped in a headline message from 'from' to 'to' (taken ev). */
struct xml_node *ps_event_message(const char *from, const char *to,
    struct xml_node *ev);

#endif
