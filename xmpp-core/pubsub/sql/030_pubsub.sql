-- xmpp-core schema, version 30: PubSub (XEP-0060) for PEP (XEP-0163,
-- service = the account's bare JID) and the pubsub.<host> service.
-- A node belongs to an account (its PEP owner, or the service node's
-- creator) and goes with it.  config is the node configuration as
-- "key=value" lines (pubsubnode.c); max_items is repeated as a column so
-- the trimming of old items happens in the same statement as a publish.
-- payload is the item's payload as serialised when it was published ('' for
-- notification-only items).

CREATE TABLE pubsub_node (
    id          bigserial PRIMARY KEY,
    service     text NOT NULL,
    node        text NOT NULL,
    host        text NOT NULL,
    username    text NOT NULL,
    config      text NOT NULL,
    max_items   integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (service, node),
    FOREIGN KEY (host, username) REFERENCES users (host, username) ON DELETE CASCADE
);
CREATE INDEX pubsub_node_owner ON pubsub_node (host, username);

CREATE SEQUENCE pubsub_item_seq;

CREATE TABLE pubsub_item (
    node_id     bigint NOT NULL REFERENCES pubsub_node (id) ON DELETE CASCADE,
    item_id     text NOT NULL,
    publisher   text NOT NULL,
    payload     text NOT NULL,
    seq         bigint NOT NULL DEFAULT nextval('pubsub_item_seq'),
    published   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, item_id)
);
CREATE INDEX pubsub_item_order ON pubsub_item (node_id, seq);

-- owner, publisher, member, outcast (XEP-0060 §4.1); the owner of a PEP
-- node is implicit (the account), of a service node it has a row.
CREATE TABLE pubsub_affiliation (
    node_id     bigint NOT NULL REFERENCES pubsub_node (id) ON DELETE CASCADE,
    jid         text NOT NULL,
    affiliation text NOT NULL,
    PRIMARY KEY (node_id, jid)
);

-- jid as subscribed: bare or full
CREATE TABLE pubsub_subscription (
    node_id     bigint NOT NULL REFERENCES pubsub_node (id) ON DELETE CASCADE,
    jid         text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (node_id, jid)
);
CREATE INDEX pubsub_subscription_jid ON pubsub_subscription (jid);
CREATE INDEX pubsub_affiliation_jid ON pubsub_affiliation (jid);

-- A removed account keeps no subscriptions or affiliations elsewhere.
CREATE FUNCTION pubsub_user_gone() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    b text := OLD.username || '@' || OLD.host;
BEGIN
    DELETE FROM pubsub_subscription
        WHERE jid = b OR left(jid, length(b) + 1) = b || '/';
    DELETE FROM pubsub_affiliation
        WHERE jid = b OR left(jid, length(b) + 1) = b || '/';
    RETURN OLD;
END $$;
CREATE TRIGGER pubsub_user_gone AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION pubsub_user_gone();

-- Stores an item (creating the node with p_config when it does not exist
-- and p_config is not NULL, within p_max_nodes per service), keeps the
-- newest max_items, and returns the node's configuration and subscribers.
-- status: ok, item-not-found, max-nodes.
CREATE FUNCTION pubsub_publish(p_service text, p_node text, p_host text,
    p_user text, p_config text, p_max_items integer, p_max_nodes integer,
    p_item text, p_publisher text, p_payload text)
RETURNS TABLE (status text, config text, subscribers text, created boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
    v_cfg text;
    v_max integer;
    v_new boolean := false;
BEGIN
    SELECT n.id, n.config, n.max_items INTO v_id, v_cfg, v_max
        FROM pubsub_node n WHERE n.service = p_service AND n.node = p_node;
    IF v_id IS NULL THEN
        IF p_config IS NULL THEN
            RETURN QUERY SELECT 'item-not-found'::text, NULL::text, NULL::text, false;
            RETURN;
        END IF;
        IF (SELECT count(*) FROM pubsub_node n WHERE n.service = p_service) >= p_max_nodes THEN
            RETURN QUERY SELECT 'max-nodes'::text, NULL::text, NULL::text, false;
            RETURN;
        END IF;
        INSERT INTO pubsub_node (service, node, host, username, config, max_items)
            VALUES (p_service, p_node, p_host, p_user, p_config, p_max_items)
            RETURNING id, pubsub_node.config, pubsub_node.max_items INTO v_id, v_cfg, v_max;
        v_new := true;
    END IF;
    INSERT INTO pubsub_item (node_id, item_id, publisher, payload)
        VALUES (v_id, p_item, p_publisher, p_payload)
        ON CONFLICT (node_id, item_id) DO UPDATE SET publisher = EXCLUDED.publisher,
            payload = EXCLUDED.payload, seq = nextval('pubsub_item_seq'), published = now();
    DELETE FROM pubsub_item i WHERE i.node_id = v_id AND i.seq < (
        SELECT min(s.seq) FROM (SELECT j.seq FROM pubsub_item j WHERE j.node_id = v_id
            ORDER BY j.seq DESC LIMIT v_max) s);
    RETURN QUERY SELECT 'ok'::text, v_cfg,
        (SELECT string_agg(s.jid, E'\n') FROM pubsub_subscription s WHERE s.node_id = v_id),
        v_new;
END $$;
