/*
 * pubsubstore — PubSub statements.  See pubsubstore.h.
 */
#include "pubsubstore.h"

struct db_stmt ps_st_node = {
	"SELECT n.id, n.config, n.host, n.username, "
	"(SELECT a.affiliation FROM pubsub_affiliation a WHERE a.node_id = n.id "
	"AND a.jid = $3), EXISTS (SELECT 1 FROM pubsub_subscription s "
	"WHERE s.node_id = n.id AND s.jid IN ($3, $4)) "
	"FROM pubsub_node n WHERE n.service = $1 AND n.node = $2", 4, 0 };
struct db_stmt ps_st_items = {
	"SELECT item_id, publisher, payload FROM pubsub_item "
	"WHERE node_id = $1::bigint AND ($2 = '' OR item_id = ANY "
	"(string_to_array($2, E'\\n'))) ORDER BY seq DESC LIMIT $3::integer", 3, 0 };
struct db_stmt ps_st_publish = {
	"SELECT status, config, subscribers, created FROM pubsub_publish($1, $2, $3, "
	"$4, $5, $6::integer, $7::integer, $8, $9, $10)", 10, 0 };
struct db_stmt ps_st_retract = {
	"DELETE FROM pubsub_item WHERE node_id = $1::bigint AND item_id = $2 "
	"RETURNING (SELECT string_agg(jid, E'\\n') FROM pubsub_subscription "
	"WHERE node_id = $1::bigint)", 2, 0 };
struct db_stmt ps_st_purge = {
	"WITH d AS (DELETE FROM pubsub_item WHERE node_id = $1::bigint) "
	"SELECT string_agg(jid, E'\\n') FROM pubsub_subscription "
	"WHERE node_id = $1::bigint", 1, 0 };
struct db_stmt ps_st_delete = {
	"WITH s AS (SELECT string_agg(jid, E'\\n') AS j FROM pubsub_subscription "
	"WHERE node_id = $1::bigint), d AS (DELETE FROM pubsub_node "
	"WHERE id = $1::bigint) SELECT j FROM s", 1, 0 };
struct db_stmt ps_st_create = {
	"WITH n AS (INSERT INTO pubsub_node (service, node, host, username, config, "
	"max_items) SELECT $1, $2, $3, $4, $5, $6::integer WHERE (SELECT count(*) "
	"FROM pubsub_node WHERE service = $1) < $7::integer "
	"ON CONFLICT (service, node) DO NOTHING RETURNING id), "
	"a AS (INSERT INTO pubsub_affiliation (node_id, jid, affiliation) "
	"SELECT id, $8, 'owner' FROM n WHERE $8 <> '') SELECT id FROM n", 8, 0 };
struct db_stmt ps_st_configure = {
	"WITH u AS (UPDATE pubsub_node SET config = $2, max_items = $3::integer "
	"WHERE id = $1::bigint RETURNING id) DELETE FROM pubsub_item "
	"WHERE node_id IN (SELECT id FROM u) AND seq < (SELECT min(s.seq) FROM "
	"(SELECT seq FROM pubsub_item WHERE node_id = $1::bigint "
	"ORDER BY seq DESC LIMIT $3::integer) s)", 3, 0 };
struct db_stmt ps_st_subscribe = {
	"INSERT INTO pubsub_subscription (node_id, jid) SELECT $1::bigint, $2 "
	"WHERE EXISTS (SELECT 1 FROM pubsub_subscription WHERE node_id = $1::bigint "
	"AND jid = $2) OR (SELECT count(*) FROM pubsub_subscription "
	"WHERE node_id = $1::bigint) < $3::integer "
	"ON CONFLICT (node_id, jid) DO UPDATE SET created_at = "
	"pubsub_subscription.created_at RETURNING 1", 3, 0 };
struct db_stmt ps_st_unsubscribe = {
	"DELETE FROM pubsub_subscription WHERE node_id = $1::bigint AND jid = $2 "
	"RETURNING 1", 2, 0 };
struct db_stmt ps_st_user_subs = {
	"SELECT n.node, s.jid FROM pubsub_subscription s JOIN pubsub_node n "
	"ON n.id = s.node_id WHERE n.service = $1 AND s.jid IN ($2, $3) "
	"AND ($4 = '' OR n.node = $4) ORDER BY n.node LIMIT 10000", 4, 0 };
struct db_stmt ps_st_user_affs = {
	"SELECT n.node, a.affiliation FROM pubsub_affiliation a JOIN pubsub_node n "
	"ON n.id = a.node_id WHERE n.service = $1 AND a.jid = $2 "
	"AND ($3 = '' OR n.node = $3) ORDER BY n.node LIMIT 10000", 3, 0 };
struct db_stmt ps_st_node_subs = {
	"SELECT jid FROM pubsub_subscription WHERE node_id = $1::bigint "
	"ORDER BY jid LIMIT 10000", 1, 0 };
struct db_stmt ps_st_node_affs = {
	"SELECT jid, affiliation FROM pubsub_affiliation WHERE node_id = $1::bigint "
	"ORDER BY jid LIMIT 10000", 1, 0 };
struct db_stmt ps_st_set_aff = {
	"INSERT INTO pubsub_affiliation (node_id, jid, affiliation) "
	"SELECT $1::bigint, $2, $3 WHERE EXISTS (SELECT 1 FROM pubsub_affiliation "
	"WHERE node_id = $1::bigint AND jid = $2) OR (SELECT count(*) FROM "
	"pubsub_affiliation WHERE node_id = $1::bigint) < $4::integer "
	"ON CONFLICT (node_id, jid) DO UPDATE SET affiliation = $3 RETURNING 1", 4, 0 };
struct db_stmt ps_st_del_aff = {
	"DELETE FROM pubsub_affiliation WHERE node_id = $1::bigint AND jid = $2", 2, 0 };
struct db_stmt ps_st_nodes = {
	"SELECT node, config FROM pubsub_node WHERE service = $1 ORDER BY node "
	"LIMIT $2::integer", 2, 0 };
struct db_stmt ps_st_last = {
	"SELECT n.service, n.node, n.config, i.item_id, i.publisher, i.payload "
	"FROM pubsub_node n JOIN LATERAL (SELECT item_id, publisher, payload "
	"FROM pubsub_item WHERE node_id = n.id ORDER BY seq DESC LIMIT 1) i ON true "
	"WHERE n.service = ANY (string_to_array($1, E'\\n')) "
	"AND n.node = ANY (string_to_array($2, E'\\n'))", 2, 0 };
struct db_stmt ps_st_account = {
	"SELECT EXISTS (SELECT 1 FROM users WHERE host = $1 AND username = $2)", 2, 0 };
