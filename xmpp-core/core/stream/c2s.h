/*
 * c2s — client connections (accepted by accept.c): the transport (plain
 * fd or TLS over it), stream negotiation
 * (STARTTLS, SASL via auth.c, resource binding) and the output queue.
 *
 * Stanzas are processed strictly in order per connection: while an
 * asynchronous step (a database query) is running the connection is
 * "blocked": further stanzas wait in a short queue and the socket is not
 * read, so the queue stays bounded by one read.  Connections are
 * reference-counted so database callbacks can outlive a closed one.
 */
#ifndef XMPP_C2S_H
#define XMPP_C2S_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "buf.h"
#include "conn.h"
#include "evloop.h"
#include "jid.h"
#include "registry.h"

struct xml_node;
struct xml_stream;
struct tls_conn;
struct auth;
struct sasl2;
struct user;
struct c2s;

/*
 * A transport other than the socket itself (web/: WebSocket), for a
 * connection made by c2s_accept_transport: what the session reads is the
 * XML stream the transport makes of its framing (a stream header for a
 * WebSocket <open/> ...), what the session writes is XML text the
 * transport frames.  Without one (c->tr NULL) the connection is the fd,
 * with TLS over it when c->conn.tls (conn.h: the transport layer c2s
 * shares with s2s, under this seam).  read and write answer like
 * read(2) and send(2), with TR_AGAIN and TR_ERROR; a transport that
 * finds a stream-level fault itself calls c2s_stream_error and answers
 * TR_AGAIN.
 */

struct c2s_transport {
	const char *name;	/* "websocket": logs */
	ssize_t (*read)(struct c2s *c, void *buf, size_t len);
	ssize_t (*write)(struct c2s *c, const void *buf, size_t len);
	/* input already taken from the socket (epoll will not report it) */
	bool (*input_pending)(const struct c2s *c);
	/* output framed but not yet written */
	size_t (*output_pending)(const struct c2s *c);
	/* writes what it holds: 0, TR_AGAIN or TR_ERROR */
	int (*flush)(struct c2s *c);
	/* the connection ends: a last write attempt, then the socket and the
	 * transport's state go (c->tr_ctx) */
	void (*close)(struct c2s *c);
};

enum c2s_state {
	C2S_STREAM,		/* waiting for the stream header (or TLS: conn.handshake) */
	C2S_NEGOTIATE,		/* features sent */
	C2S_BOUND,		/* resource bound: a session */
	C2S_CLOSING,
};

struct c2s {
	uint64_t id;
	uint64_t since;		/* ev_now() at accept */
	uint64_t last_read;	/* ev_now() of the last bytes read */
	unsigned refs;
	enum c2s_state state;
	bool direct_tls;
	bool secure;		/* TLS is up */
	bool authed;
	bool dead;		/* closed; only references keep it */
	unsigned blocked;
	/* the socket, TLS, output buffer (conn.out), parser (conn.xs);
	 * conn.overflow: output over max_output_buffer, to be cut off */
	struct conn conn;
	struct ev_timer timer;	/* auth timeout, idle timeout, close linger */
	LIST_ENTRY(c2s) all;	/* every connection */
	LIST_ENTRY(c2s) act;	/* not parked yet (park_cb); le_prev NULL: off */
	const struct c2s_transport *tr;	/* NULL: the fd (and conn.tls) */
	void *tr_ctx;
	struct xml_node *queue, *queue_tail;	/* stanzas waiting while blocked */
	char *stream_id;
	struct sockaddr_storage addr;
	char peer[64];
	char ip[48];
	int host;		/* index into cfg->hosts */
	struct auth *auth;
	struct sasl2 *sasl2;	/* SASL2 exchange, the client's user agent (sasl2.h) */
	/* SASL2 inline features (registry.h ELEM_SASL2/BIND2): while set,
	 * output goes here, to be wrapped into <success/>, and what must
	 * follow it to inline_after (c2s_send_after_inline) */
	struct buf *inline_out, *inline_after;
	unsigned auth_failures;
	uint8_t cb_avail;	/* auth.c: channel bindings TLS offers, cached */
	uint64_t preauth_bytes;	/* read before authentication */

	/* the session, once bound */
	struct user *user;
	struct c2s *next_session;
	char *local;		/* authenticated localpart */
	char *full;		/* "local@domain/resource" once bound */
	const char *resource;	/* points into full */
	int priority;		/* routing (RFC 6121 §8.5.2), set by presence */
	bool available;		/* sent available presence */
	bool detached;		/* a session without a connection (c2s_detach) */
	uint32_t watch;		/* modules watching its output (c2s_watch) */
	/* the modules' per-session state (registry.h: session_size) */
	uint64_t priv[];
};

/* Starts the periodic work (idle parser release). */
void c2s_init(void);
/* A new connection accepted by accept.c: 0, or -1 (fd not taken). */
int c2s_accept(int fd, const struct sockaddr_storage *ss, socklen_t sl,
    bool direct_tls, const char *ip, const char *via);
/*
 * A connection over another transport (the WebSocket of an HTTP upgrade):
 * ip is the client's address (through trusted proxies), already admitted
 * by accept_admit; secure says whether the path to the client is
 * protected (TLS ended by a trusted proxy, or loopback).  The session is
 * the same as on TCP.  NULL on failure (nothing taken: the caller closes
 * and calls accept_release).
 */
struct c2s *c2s_accept_transport(int fd, const struct sockaddr_storage *ss,
    socklen_t sl, const char *ip, const char *peer, const struct c2s_transport *tr,
    void *ctx, bool secure);
/* The transport has output to write (c2s_flush after this batch). */
void c2s_wake(struct c2s *c);
/* ... or input the session has not seen (a transport without a socket,
 * fd -1: BOSH, whose input comes in HTTP requests). */
void c2s_input(struct c2s *c);
void c2s_shutdown(void);
/* Counts an authentication failure against the peer's address. */
void c2s_auth_failed(struct c2s *c);
size_t c2s_count(void);
/* All connections (follow LIST_NEXT(c, all)). */
struct c2s *c2s_first(void);

/* Output (coalesced: flushed after the current loop batch). */
void c2s_send_raw(struct c2s *c, const char *s, size_t n);
void c2s_send(struct c2s *c, const struct xml_node *n);
void c2s_send_str(struct c2s *c, const char *s);
/* A serialised stanza (counted and kept for XEP-0198 when enabled). */
void c2s_send_stanza_raw(struct c2s *c, const char *s, size_t n);
/* Sends a stream error (NULL cond: just </stream:stream>) and closes. */
void c2s_stream_error(struct c2s *c, const char *cond, const char *text);

void c2s_ref(struct c2s *c);
void c2s_unref(struct c2s *c);
void c2s_block(struct c2s *c);
void c2s_unblock(struct c2s *c);

/* Stream restart after SASL success (auth.c). */
void c2s_authenticated(struct c2s *c, const char *local);
/* SASL2 success: authenticated, no stream restart (XEP-0388 §2.6.1). */
void c2s_authenticated_inline(struct c2s *c, const char *local);
/* Binds resource (RFC 6120 §7 or Bind2): 0, or -1 with a stanza error
 * condition. */
int c2s_bind(struct c2s *c, const char *resource, const char **cond);
/* The stream features for c's state (after a SASL2 <success/>). */
void c2s_send_features(struct c2s *c);
/* Inline processing: output after the <success/> (else c2s_send_raw). */
void c2s_send_after_inline(struct c2s *c, const char *s, size_t n);
/* A connection dropped now (its session, if any, lost as by a reset). */
void c2s_abort(struct c2s *c);
const char *c2s_host(const struct c2s *c);

/* A module's state in a session (registry.h: session_size). */
static inline void *
c2s_priv(const struct c2s *c, const struct module *m)
{
	return (char *)c->priv + m->session_off;
}

/*
 * Detached sessions: a module that keeps a session alive without its
 * connection (connection_lost returned true) calls c2s_detach, which puts
 * a transport-less struct c2s in its place in the router, with the
 * session's identity and module state; writes to it reach only the
 * session's watchers.  c2s_attach moves such a session onto a new
 * authenticated connection (resumption: c becomes bound); c2s_expire
 * ends it (the session_unbound hooks run, it leaves the router).
 */
struct c2s *c2s_detach(struct c2s *c);
void c2s_attach(struct c2s *z, struct c2s *c);
void c2s_expire(struct c2s *z);
size_t c2s_ndetached(void);
/* Starts / stops showing c's output to module m (session_send/_sent). */
void c2s_watch(struct c2s *c, const struct module *m, bool on);

#endif
