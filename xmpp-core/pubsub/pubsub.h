/*
 * pubsub — Publish-Subscribe (XEP-0060) for both kinds of service this
 * server runs: PEP on every account's bare JID (XEP-0163, pep.c) and the
 * generic service on pubsub.<host> (pubsubsvc.c).  The protocol handlers
 * (pubsub.c) work on a struct ps_svc naming the service; node
 * configuration and its forms are pubsubnode.c, storage pubsubstore.c,
 * who may do what pubsubaccess.c, events pubsubnotify.c.
 *
 * Nodes and items live in PostgreSQL only (nothing cached): every request
 * reads the node, so a configuration change applies at once.  Queries of
 * one service run on one pinned connection (db_query_key with the
 * service JID), in the order they were made.
 */
#ifndef XMPP_PUBSUB_H
#define XMPP_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>

#include "jid.h"

struct buf;
struct c2s;
struct xml_node;

#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_PUBSUB_EVENT NS_PUBSUB "#event"
#define NS_PUBSUB_OWNER NS_PUBSUB "#owner"
#define NS_PUBSUB_ERRORS NS_PUBSUB "#errors"
#define NS_PUBSUB_NODE_CONFIG NS_PUBSUB "#node_config"
#define NS_PUBSUB_PUBLISH_OPTIONS NS_PUBSUB "#publish-options"
#define NS_XDATA "jabber:x:data"

#define PS_NODE_MAX 255		/* bytes of a node name */
#define PS_ID_MAX 255		/* bytes of an item id */
#define PS_TEXT_MAX 255		/* title, type */
#define PS_MAX_IDS 100		/* item ids in one retrieval */

enum ps_access { PS_ACCESS_OPEN, PS_ACCESS_PRESENCE, PS_ACCESS_WHITELIST };
enum ps_publish { PS_PUBLISH_PUBLISHERS, PS_PUBLISH_SUBSCRIBERS, PS_PUBLISH_OPEN };
enum ps_sendlast { PS_SENDLAST_NEVER, PS_SENDLAST_ON_SUB, PS_SENDLAST_ON_SUB_AND_PRESENCE };

/* A node's configuration (XEP-0060 §16.4.4 pubsub#node_config). */
struct ps_config {
	enum ps_access access;
	enum ps_publish publish;
	enum ps_sendlast send_last;
	unsigned max_items;
	bool persist;
	bool deliver_notifications;
	bool deliver_payloads;
	bool notify_retract;
	bool notify_delete;
	char title[PS_TEXT_MAX + 1];
	char type[PS_TEXT_MAX + 1];
};

/* The service a request is addressed to. */
struct ps_svc {
	bool pep;
	int host;			/* PEP: the account's host; else the parent host */
	char jid[2 * JID_PART_MAX + 2];	/* "user@host" or "pubsub.host" */
	char local[JID_PART_MAX + 1];	/* PEP: the account's localpart */
};

/* ---- pubsubnode.c: configuration, forms, names ---- */

/* Defaults for a new node (PEP or service), with PEP's forced options. */
void ps_config_default(struct ps_config *cfg, bool pep, const char *node);
/* The options the reference host forces on PEP nodes whatever is asked:
 * OMEMO (eu.siacs.conversations.axolotl.*) open, storage:bookmarks
 * whitelist. */
void ps_config_force(struct ps_config *cfg, bool pep, const char *node);
/* Stored form: "key=value\n" lines.  Decoding starts from defaults, so an
 * older row missing a key keeps working. */
int ps_config_encode(const struct ps_config *cfg, struct buf *out);
void ps_config_decode(const char *text, bool pep, const char *node,
    struct ps_config *cfg);
/* The node_config form (type form) for a configure get. */
struct xml_node *ps_config_form(const struct ps_config *cfg, const char *type);
/*
 * Applies a submitted data form (configure set or publish-options) to cfg:
 * 0, or -1 when a field has a value we cannot take (bad field named in
 * *field).  Unknown fields are ignored; "max" for max_items is max.
 */
int ps_config_apply(struct ps_config *cfg, const struct xml_node *x,
    unsigned max, const char **field);
bool ps_config_equal(const struct ps_config *a, const struct ps_config *b);
/* Node names and item ids: 1..255 bytes, no control characters. */
bool ps_name_valid(const char *s, size_t max);
/* The form's FORM_TYPE value, or NULL. */
const char *ps_form_type(const struct xml_node *x);

/* ---- pubsub.c: the protocol ---- */

/* An IQ get/set with a pubsub or pubsub#owner payload addressed to svc,
 * 'from' stamped.  c is the requester's session when it asked its own
 * account (its stanzas wait until the answer), else NULL (the answer is
 * routed).  Takes n. */
void pubsub_iq(const struct ps_svc *svc, struct c2s *c, struct xml_node *n);
/* Is this IQ payload pubsub? */
bool pubsub_is(const struct xml_node *q);

/* Publication by the server itself (bookmark and avatar conversion): the
 * item is stored (the node created with cfg when it does not exist) and
 * notified as if the account had published it.  Takes payload.  done may
 * be NULL; ok tells whether it was stored. */
typedef void ps_done_cb(void *arg, bool ok);
void pubsub_publish_internal(const struct ps_svc *svc, const char *node,
    const struct ps_config *cfg, const char *id, struct xml_node *payload,
    ps_done_cb *done, void *arg);
void pubsub_retract_internal(const struct ps_svc *svc, const char *node,
    const char *id);

/* Fills svc for an account. */
void ps_svc_pep(struct ps_svc *svc, int host, const char *local);

#endif
