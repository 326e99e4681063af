/*
 * pubsubstore — the SQL of PubSub (schema: sql/030_pubsub.sql).  Every
 * statement is constant text with parameters; callers run them with
 * db_query_key(service JID) so one service's changes apply in order.
 * Lists travel as newline-separated text (node names, item ids and JIDs
 * never contain control characters).
 */
#ifndef XMPP_PUBSUBSTORE_H
#define XMPP_PUBSUBSTORE_H

#include "db.h"

/* $1 service $2 node $3 requester bare $4 requester full ->
 * id, config, host, username, requester's affiliation, subscribed */
extern struct db_stmt ps_st_node;
/* $1 node id $2 ids ('' all) $3 limit -> item_id, publisher, payload (newest first) */
extern struct db_stmt ps_st_items;
/* see pubsub_publish() in the schema -> status, config, subscribers, created */
extern struct db_stmt ps_st_publish;
/* $1 node id $2 item id -> subscribers (a row when the item existed) */
extern struct db_stmt ps_st_retract;
/* $1 node id -> subscribers */
extern struct db_stmt ps_st_purge;
/* $1 node id -> subscribers as they were */
extern struct db_stmt ps_st_delete;
/* $1 service $2 node $3 host $4 username $5 config $6 max_items $7 max nodes
 * $8 owner JID ('' for PEP) -> id (no row: over the limit or it exists) */
extern struct db_stmt ps_st_create;
/* $1 node id $2 config $3 max_items */
extern struct db_stmt ps_st_configure;
/* $1 node id $2 jid $3 max subscriptions -> a row unless over the limit */
extern struct db_stmt ps_st_subscribe;
/* $1 node id $2 jid -> a row when it existed */
extern struct db_stmt ps_st_unsubscribe;
/* $1 service $2 bare $3 full $4 node ('' all) -> node, jid */
extern struct db_stmt ps_st_user_subs;
/* $1 service $2 bare $3 node ('' all) -> node, affiliation */
extern struct db_stmt ps_st_user_affs;
/* $1 node id -> jid */
extern struct db_stmt ps_st_node_subs;
/* $1 node id -> jid, affiliation */
extern struct db_stmt ps_st_node_affs;
/* $1 node id $2 jid $3 affiliation $4 max -> a row unless over the limit */
extern struct db_stmt ps_st_set_aff;
/* $1 node id $2 jid */
extern struct db_stmt ps_st_del_aff;
/* $1 service $2 limit -> node, config */
extern struct db_stmt ps_st_nodes;
/* $1 services $2 nodes -> service, node, config, item_id, publisher, payload
 * (the newest item of each) */
extern struct db_stmt ps_st_last;
/* $1 host $2 username -> exists */
extern struct db_stmt ps_st_account;

#endif
