/*
 * pubsubreq — one PubSub request in flight, shared by the protocol
 * handlers of pubsub.c (publish, items, nodes) and pubsubsubs.c
 * (subscriptions and affiliations): the requester, the node as loaded, and
 * the helpers that answer and end it.  Private to those two files.
 */
#ifndef XMPP_PUBSUBREQ_H
#define XMPP_PUBSUBREQ_H

#include <stdbool.h>

#include "buf.h"
#include "db.h"
#include "pubsub.h"
#include "pubsubaccess.h"

struct ps_req;
typedef void ps_step(struct ps_req *r);

struct ps_req {
	struct c2s *c;			/* own session (blocked), or NULL */
	struct xml_node *iq;		/* NULL for internal publications */
	struct xml_node *act;		/* the action element */
	struct ps_svc svc;
	char from[JID_STR_MAX + 1];
	char bare[2 * JID_PART_MAX + 2];
	char node[PS_NODE_MAX + 1];
	/* the node as loaded */
	bool exists;
	char id[24];
	int owner_host;
	char owner_local[JID_PART_MAX + 1];
	struct ps_config cfg;
	enum ps_role role;
	bool subscribed;
	ps_step *next;
	/* publish */
	char item[PS_ID_MAX + 1];
	struct xml_node *payload;	/* taken from the IQ, or given */
	struct buf pl;			/* serialised payload */
	struct ps_config create;	/* for a node the publish creates */
	bool internal;
	ps_done_cb *done;
	void *done_arg;
	/* several queries (affiliations set) */
	unsigned pending;
	const char *fail_cond;
	char *extra;			/* subscribe: the JID */
};

/* Ends r (its session unblocked, a pending done callback told "failed"). */
void pubsub_req_end(struct ps_req *r);
/* The requester's session is gone. */
bool pubsub_req_gone(const struct ps_req *r);
void pubsub_req_reply(struct ps_req *r, struct xml_node *res);
/* An error with an optional XEP-0060 §12 application condition; ends r. */
void pubsub_req_fail(struct ps_req *r, const char *type, const char *cond,
    const char *app);
/* The result (NULL: empty); ends r. */
void pubsub_req_ok(struct ps_req *r, struct xml_node *res);
/* A result with <pubsub xmlns=ns/> in *ps, or NULL. */
struct xml_node *pubsub_req_result(struct ps_req *r, const char *ns,
    struct xml_node **ps);
/* Runs st on the service's connection; false (r ended) when it cannot. */
bool pubsub_req_query(struct ps_req *r, struct db_stmt *st,
    const char *const *v, db_cb *cb);
/* true when the callback must stop (r ended). */
bool pubsub_req_db_failed(struct ps_req *r, PGresult *res, const char *err);
/* Loads the node (r->node) and continues with next. */
void pubsub_req_load(struct ps_req *r, ps_step *next);
bool pubsub_req_need_node(struct ps_req *r);
bool pubsub_req_need_owner(struct ps_req *r);

/* pubsubsubs.c */
void pubsub_subscribe_loaded(struct ps_req *r);
void pubsub_unsubscribe_loaded(struct ps_req *r);
void pubsub_owner_lists_loaded(struct ps_req *r);
void pubsub_user_subs_got(void *arg, PGresult *res, const char *err);
void pubsub_user_affs_got(void *arg, PGresult *res, const char *err);

#endif
