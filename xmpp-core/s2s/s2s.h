/*
 * s2s — federation: the module's own shared declarations (not an
 * interface for other folders).
 *
 * A link is what one local domain keeps for one remote domain: at most
 * one outgoing connection (RFC 6120 §8.4: one per domain pair), the
 * stanzas waiting while it is set up, and the dialback verifications
 * incoming streams asked it to carry.  Connections (s2sconn.c) are
 * either direction; an incoming one may carry several authenticated
 * remote domains (XEP-0220 §4.4, piggybacking).
 */
#ifndef XMPP_S2S_H
#define XMPP_S2S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/queue.h>

#include "addr.h"
#include "buf.h"
#include "conn.h"
#include "evloop.h"
#include "resolve.h"
#include "s2sconf.h"

#include <openssl/ssl.h>

#define NS_SERVER "jabber:server"
#define NS_DIALBACK "jabber:server:dialback"
#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define NS_BIDI "urn:xmpp:bidi"			/* XEP-0288 */
#define NS_BIDI_FEATURE "urn:xmpp:features:bidi"
#define DOMAIN_MAX 1024

struct xml_node;
struct xml_stream;
struct tls_conn;
struct s2s_conn;
struct s2s_attempt;

/* A db:verify an incoming stream waits for (XEP-0220 §2.1.2). */
struct s2s_dbv {
	struct s2s_dbv *next;
	uint64_t in_id;		/* the incoming connection that asked */
	char stream_id[64];	/* its stream id */
	char key[130];
	bool sent;
};

struct s2s_qitem {
	struct s2s_qitem *next;
	struct xml_node *n;
	size_t bytes;
};

struct s2s_link {
	LIST_ENTRY(s2s_link) entry;
	char local[DOMAIN_MAX], remote[DOMAIN_MAX];
	struct s2s_conn *conn;		/* the outgoing connection, or NULL */
	bool ready;			/* authenticated: stanzas may go */
	/* an incoming stream from remote that authenticated it and asked
	 * for bidi (XEP-0288): stanzas go there while conn is not ready */
	struct s2s_conn *bidi;
	struct s2s_qitem *q, **qtail;
	unsigned qn;
	size_t qbytes;
	struct s2s_dbv *verifies;
	struct ev_timer timer;		/* set-up deadline */
	bool tried;			/* a connection was started */
	char auth[16];			/* "dialback" */
	bool timed_out;		/* the set-up deadline passed */
	unsigned bouncing;		/* in link_bounce_all: not to be freed */
	uint64_t since;			/* ready since (monotonic ms) */
};

/* (a TLS handshake in progress: conn.handshake) */
enum s2s_state {
	S2S_RESOLVING,		/* out: waiting for the resolver */
	S2S_SETUP,		/* TCP connect, direct TLS: no stream yet */
	S2S_STREAM,		/* waiting for the peer's stream header */
	S2S_OPEN,		/* streams open both ways */
	S2S_CLOSING,		/* flushing a last word, then closed */
};

#define S2S_MAX_DOMAINS 16	/* authenticated remote domains per incoming stream */

struct s2s_pair {
	char remote[DOMAIN_MAX];
	char local[DOMAIN_MAX];
	const char *how;	/* "dialback", "sasl-external" */
	bool linked;		/* in: the link (local, remote) sends on this stream */
	double tokens;		/* stanza_rate bucket */
	uint64_t last;
};

struct s2s_conn {
	LIST_ENTRY(s2s_conn) entry;
	uint64_t id;
	bool out;
	unsigned refs;
	bool dead;
	enum s2s_state state;
	/* the socket, TLS, output, shaper and parser (core/stream/conn.h) */
	struct conn conn;
	struct ev_timer timer;		/* connect attempt / auth / idle / linger */
	bool secure;
	bool cert_ok;			/* out: the peer's certificate verifies for remote */
	bool bidi;			/* XEP-0288: stanzas flow both ways on it */
	char peer[ADDR_STRLEN];
	char ip[ADDR_STRLEN];
	char stream_id[64];		/* ours (in) or the peer's (out) */
	uint64_t paused_until;		/* stanza_rate: no reading before */
	uint64_t last_active;
	uint64_t parked_active;		/* last_active when its parser and TLS were parked */

	/* out */
	struct s2s_link *link;
	struct resolve_req *rq;
	struct s2s_target *targets;
	size_t ntargets, next_target;
	struct s2s_attempt *attempts;	/* TCP connects in flight (s2sdial.c) */
	unsigned nattempts;
	struct ev_timer dial_timer;	/* the next address's start */
	char fail_why[160];
	bool features_seen;
	bool peer_dialback;		/* the peer offered dialback */
	enum { SASL_NONE, SASL_SENT, SASL_DONE } sasl;	/* XEP-0178 */

	/* authenticated pairs (remote, local) that may send on it: an
	 * incoming stream's, and a bidi outgoing one's (its link's) */
	struct s2s_pair *authed;
	size_t nauthed;

	/* in */
	char to[DOMAIN_MAX];		/* the local domain its header named */
	char hdr_from[DOMAIN_MAX];	/* the remote domain its header named */
	bool peer_cert_ok;		/* its certificate verifies for hdr_from */
};

/* s2s.c */
const struct s2s_config *s2s_cfg(void);
/* The link's connection is gone (conn->link is cleared by the caller). */
void s2s_link_lost(struct s2s_link *l, const char *why, bool timeout);
void s2s_link_ready(struct s2s_link *l);
/* An incoming bidi stream c authenticated remote for the link's pair: the
 * link sends on it (until its own connection is ready); gone: c closes. */
void s2s_link_bidi(struct s2s_link *l, struct s2s_conn *c);
void s2s_link_bidi_gone(struct s2s_link *l, struct s2s_conn *c);
struct s2s_link *s2s_link_get(const char *local, const char *remote, bool create);
/* Queues an incoming stream's db:verify on the link to its sender. */
int s2s_link_verify(const char *local, const char *remote, uint64_t in_id,
    const char *stream_id, const char *key);
/* A stanza from a remote domain passed the stream's checks. */
void s2s_deliver(struct xml_node *n);

/* s2sconn.c */
struct s2s_conn *s2s_conn_connect(struct s2s_link *l);
/* An accepted socket from ip: 0 (taken), or -1 (refused: the caller closes). */
int s2s_conn_accept(int fd, const struct sockaddr_storage *ss, socklen_t sl,
    const char *ip, bool direct_tls);
void s2s_conn_send(struct s2s_conn *c, const char *s, size_t n);
void s2s_conn_send_verifies(struct s2s_conn *c);
void s2s_conn_stream_error(struct s2s_conn *c, const char *cond, const char *text);
/* The answer to an incoming stream's dialback (type valid / invalid). */
void s2s_conn_verified(uint64_t in_id, const char *local, const char *remote,
    bool valid);
void s2s_conn_close_all(void);
void s2s_conn_free_all(void);
/* Closes the link's or an incoming stream's connection (xmppctl). */
void s2s_conn_close(struct s2s_conn *c);
void s2s_conn_idle_check(struct s2s_conn *c);
struct s2s_conn *s2s_conn_first(void);
struct s2s_conn *s2s_conn_next(struct s2s_conn *c);
size_t s2s_conn_count(void);
unsigned s2s_conn_per_ip(const char *ip);

/* One of the addresses connected: fd is the connection's now (s2sdial.c). */
void s2s_conn_dialed(struct s2s_conn *c, int fd, const struct s2s_target *t);
/* None did (c->fail_why says why): the connection ends. */
void s2s_conn_dial_failed(struct s2s_conn *c);

/* s2sdial.c: c->targets raced (RFC 8305); stop: what is in flight closed */
void s2s_dial_start(struct s2s_conn *c);
void s2s_dial_stop(struct s2s_conn *c);

/* s2stls.c: contexts (re)made from the current config; 0 or -1 */
int s2stls_init(char *err, size_t errlen);
void s2stls_free(void);
SSL_CTX *s2stls_client_ctx(bool direct_tls);
struct tls_server *s2stls_server(void);
/* The peer's certificate chains to a trusted CA and names domain. */
bool s2stls_cert_valid(struct tls_conn *t, const char *domain);

/* s2slisten.c */
int s2s_listen_open(char *err, size_t errlen);
void s2s_listen_close(void);

#endif
