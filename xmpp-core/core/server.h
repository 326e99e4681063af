/*
 * server — the process-wide state of xmpp-core: the loop, the current
 * configuration, the database pool and the TLS contexts.  One instance,
 * set up by main.c; modules reach it through `srv`.
 */
#ifndef XMPP_SERVER_H
#define XMPP_SERVER_H

#include <stdint.h>
#include <time.h>

#include "config.h"

#define NS_CLIENT "jabber:client"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_STREAMS_ERR "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_ROSTER "jabber:iq:roster"
#define NS_REGISTER "jabber:iq:register"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_DELAY "urn:xmpp:delay"

struct ev_loop;
struct db;
struct tls_server;

struct server {
	struct ev_loop *loop;
	struct xmpp_config *cfg;
	struct db *db;
	struct tls_server *tls;
	uint64_t next_conn_id;
	time_t started;
	uint8_t fake_salt_key[32];	/* salts for unknown users (no enumeration) */
};

extern struct server srv;

#endif
