/*
 * conn — the transport of one XML stream connection, shared by client
 * streams (c2s.c) and server streams (s2s/): the socket, TLS over it
 * (common/tls), the output buffer written once per loop batch, the epoll
 * interest, the shaper on bytes read, and the stream parser fed from
 * what is read.
 *
 * A struct conn lives inside its owner's connection (struct c2s, struct
 * s2s_conn), which implements struct conn_ops: the engine here calls it
 * for what differs between the two (how much to read now, what to do
 * with a failure, TLS contexts, the stanzas themselves through the
 * parser callbacks), and holds a reference on the owner around every
 * call, so the owner may close itself from any of them.  What the
 * engine keeps of its own is only the transport's state: TLS
 * handshake, STARTTLS pending, closing.  How a socket comes to be (an
 * accept, s2s's raced connects) is the owner's.
 *
 * Another transport below the stream (web/'s WebSocket and BOSH: the
 * c2s_transport seam of c2s.h) plugs in through the read / write /
 * pending operations; without them the connection is the fd (with TLS
 * over it when tls is set): the TCP path pays one test per read, write
 * and flush, nothing per stanza.
 */
#ifndef XMPP_CONN_H
#define XMPP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "evloop.h"

struct tls_conn;
struct tls_server;
struct xml_limits;
struct xml_stream;
struct xml_stream_cb;

/* read / write of a transport, like read(2) and send(2), or these */
enum { TR_AGAIN = -2, TR_ERROR = -1 };

#define CONN_READ_CHUNK 16384

struct conn_ops {
	const char *name;	/* "c2s", "s2s": logs */
	unsigned rounds;	/* reads per readiness event at most */
	void (*ref)(void *o);
	void (*unref)(void *o);
	/* Input it takes now, at most that many bytes; 0: none (blocked,
	 * closing, paused).  Asked before every read and for the epoll
	 * interest. */
	size_t (*want)(void *o);
	/* n bytes were read, before they are parsed: false when it closed */
	bool (*got)(void *o, size_t n);
	/* bytes were written (optional) */
	void (*wrote)(void *o);
	/* the shaper's rate now, bytes read per second; 0: off */
	uint64_t (*rate)(void *o);
	/* the parser failed: cond is the stream error condition */
	void (*parse_error)(void *o, const char *cond);
	/* The connection ends now: why says what failed (peer closed, read
	 * or write error, TLS, output over its bound), NULL after an orderly
	 * close (conn_closing) was written. */
	void (*done)(void *o, const char *why);
	/* the TLS handshake succeeded (the engine reads on afterwards) */
	void (*secured)(void *o);
	/* STARTTLS (<proceed/> written): the server context to use */
	struct tls_server *(*tls_server)(void *o);
	/* the resume defer ran (conn_resume): before it reads again */
	void (*resumed)(void *o);

	/* a transport under the stream (NULL: the socket itself) */
	ssize_t (*read)(void *o, void *buf, size_t len);
	ssize_t (*write)(void *o, const void *buf, size_t len);
	bool (*input_pending)(void *o);		/* read ahead, epoll will not tell */
	size_t (*output_pending)(void *o);	/* framed, not yet written */
	int (*flush)(void *o);			/* 0, TR_AGAIN or TR_ERROR */
};

struct conn {
	int fd;			/* -1: none (resolving, BOSH) */
	struct tls_conn *tls;
	struct xml_stream *xs;
	struct buf out;		/* written after the loop batch */
	struct ev_io io;
	struct ev_defer flush;
	struct ev_defer resume;	/* input where epoll does not see it */
	struct ev_timer shaper_timer;
	uint64_t shaper_tokens, shaper_last;
	const struct conn_ops *ops;
	void *owner;
	bool handshake;		/* TLS handshake in progress */
	bool starttls_pending;	/* <proceed/> queued: TLS once it is written */
	bool tls_want_write;	/* a TLS read needs the socket writable */
	bool overflow;		/* output over its bound: cut off at the flush */
	bool closing;		/* no more input: the output, then done */
	bool closed;		/* conn_stop ran */
};

/*
 * Sets up k for owner o on fd (-1: none yet) with a stream parser of
 * limits lim calling cb with o.  0, or -1 when out of memory.
 */
int conn_init(struct conn *k, int fd, const struct conn_ops *ops, void *o,
    const struct xml_limits *lim, const struct xml_stream_cb *cb);
/* The socket, once there is one (an outgoing connection's, connected):
 * events are not asked for yet. */
void conn_set_fd(struct conn *k, int fd);
/* Stops everything and frees TLS; close_fd: the fd too (else the owner's
 * transport closes it).  The parser and buffer stay until conn_free. */
void conn_stop(struct conn *k, bool close_fd);
void conn_free(struct conn *k);

/* The socket, through TLS when it is up: like read(2) / send(2), with
 * TR_AGAIN and TR_ERROR. */
ssize_t conn_read(struct conn *k, void *buf, size_t len);
ssize_t conn_write(struct conn *k, const void *buf, size_t len);

/*
 * Output: appended and flushed after the current loop batch, so many
 * stanzas cost one write.  Past max bytes pending the connection is
 * marked overflow and cut off (done) at the flush: never synchronously,
 * callers may be walking a list of sessions.
 */
void conn_send(struct conn *k, const char *s, size_t n, size_t max);

/* Output not yet on the wire: ours and what a transport holds. */
size_t conn_out_pending(const struct conn *k);
/* Writes now (the flush defer does it after the batch). */
void conn_flush(struct conn *k);
/* Recomputes the epoll interest (after the owner's state changed). */
void conn_update(struct conn *k);
/* Reads and parses what there is now. */
void conn_readable(struct conn *k);
/* Reads again after the loop batch (an owner that stopped taking input
 * takes it again). */
void conn_resume(struct conn *k);
/* Input stops; what is queued is written, then done(o, NULL). */
void conn_closing(struct conn *k);
/* No input before ms from now (a stanza rate): the shaper's timer. */
void conn_pause(struct conn *k, uint64_t ms);

/* TLS from the first byte (direct TLS) or after STARTTLS: the handshake
 * runs, then secured(); 0, or -1 (nothing changed). */
int conn_tls_server(struct conn *k, struct tls_server *ts);
int conn_tls_client(struct conn *k, void *ssl_ctx, const char *sni);
/* <proceed/> is queued: TLS starts once it is written (RFC 6120
 * §5.4.3.3); what the parser holds after <starttls/> is not used. */
void conn_starttls(struct conn *k);

/*
 * Stream framing text (RFC 6120 §4.7): the header with the given
 * default namespace (NULL values are left out; extra_ns: more namespace
 * declarations, " xmlns:db='...'"), and a stream error (cond NULL: just
 * the closing tag) ending the stream.
 */
void conn_stream_header(struct buf *b, const char *ns, const char *extra_ns,
    const char *id, const char *from, const char *to);
void conn_stream_error(struct buf *b, const char *cond, const char *text);

#endif
