/*
 * tls — OpenSSL contexts and non-blocking connections for every daemon.
 *
 * Server side: one SSL_CTX per configured certificate (the first is the
 * default, the others are picked by SNI against their DNS names, wildcards
 * included), TLS 1.2+ only, server cipher preference, no compression, no
 * renegotiation, the reference host's cipher policy, optional DH params
 * file, ALPN, and SSL_MODE_RELEASE_BUFFERS so idle connections cost little.
 * tls_server_reload() re-reads certificates and keys (acme.sh renewals):
 * new handshakes use the new ones, live connections keep theirs.
 *
 * Connections wrap an fd the caller owns and polls: every call returns at
 * once with TLS_WANT_READ / TLS_WANT_WRITE when the socket is not ready.
 * Channel-binding data for SCRAM-PLUS (RFC 5929, RFC 9266) is exposed.
 *
 * Idle connections: tls_conn_park() lets go of OpenSSL's per-connection
 * state (~14 KB) for a TLS 1.3 server connection and carries on with a
 * small record layer of our own (tlsrec.c), ~300 bytes while quiet.
 * The session server-side cache is off (stateless tickets resume), so
 * closed connections leave nothing behind.  Ticket keys are OpenSSL's
 * own per context (lost on reload), or read from ticket_key_file (kept
 * across reloads and restarts, rotated by a new first line and a
 * reload); TLS 1.3 resumption is PSK with (EC)DHE, no 0-RTT.
 */
#ifndef EDGE_TLS_H
#define EDGE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

/* The reference host's policy (ejabberd `ciphers`). */
#define TLS_DEFAULT_CIPHERS "HIGH+kEDH:HIGH+kEECDH:HIGH:!PSK:!SRP:!3DES:!aNULL"

struct tls_cert_conf {
	const char *cert_file;	/* PEM, leaf first then chain (fullchain) */
	const char *key_file;	/* PEM private key */
};

struct tls_server_conf {
	const struct tls_cert_conf *certs;	/* >= 1; certs[0] is the default */
	size_t ncerts;
	const char *dh_file;		/* optional PEM DH parameters */
	const char *ciphers;		/* TLS 1.2 list; NULL: TLS_DEFAULT_CIPHERS */
	const char *ciphersuites;	/* TLS 1.3 suites; NULL: OpenSSL's */
	bool tls13_only;		/* minimum version 1.3 instead of 1.2 */
	const char *const *alpn;	/* protocols we speak, in preference order */
	size_t nalpn;
	bool alpn_strict;		/* no overlap with the client's list: fail */
	const char *client_ca_file;	/* optional: request and verify client certs */
	const char *ticket_key_file;	/* optional: session ticket keys (tls.c) */
};

#define TLS_TICKET_KEYS_MAX 8	/* lines of a ticket key file */

struct tls_client_conf {
	const char *ca_file;		/* NULL: the system's trust store */
	bool verify;			/* verify the peer's chain */
	const char *cert_file, *key_file;	/* optional client certificate */
	const char *const *alpn;
	size_t nalpn;
};

enum {
	TLS_OK = 0,
	TLS_ERROR = -1,
	TLS_WANT_READ = -2,
	TLS_WANT_WRITE = -3,
};

struct tls_server;
struct tls_conn;

struct tls_server *tls_server_new(const struct tls_server_conf *conf,
    char *err, size_t errlen);
/* Replaces all contexts; on failure the old ones stay and -1 is returned. */
int tls_server_reload(struct tls_server *srv, const struct tls_server_conf *conf,
    char *err, size_t errlen);
void tls_server_free(struct tls_server *srv);
/* The current default context (borrowed). */
SSL_CTX *tls_server_ctx(struct tls_server *srv);

SSL_CTX *tls_client_ctx_new(const struct tls_client_conf *conf, char *err,
    size_t errlen);

/* Connections; the fd stays the caller's (tls_conn_free does not close it). */
struct tls_conn *tls_conn_server(struct tls_server *srv, int fd);
/* sni/verify_name may be NULL; verify_name sets RFC 6125 host checking. */
struct tls_conn *tls_conn_client(SSL_CTX *ctx, int fd, const char *sni,
    const char *verify_name);
void tls_conn_free(struct tls_conn *c);

int tls_handshake(struct tls_conn *c);
/* >0 bytes, 0 when the peer closed, or TLS_WANT_* / TLS_ERROR. */
ssize_t tls_read(struct tls_conn *c, void *buf, size_t len);
/*
 * >0 bytes written (may be partial), or TLS_WANT_* / TLS_ERROR.  After
 * TLS_WANT_*, call again with (at least) the same bytes, as with
 * SSL_write (they may have moved; tls_read calls in between are fine).
 */
ssize_t tls_write(struct tls_conn *c, const void *buf, size_t len);
/* Sends close_notify once; TLS_OK, TLS_WANT_*, TLS_ERROR. */
int tls_shutdown(struct tls_conn *c);
/*
 * Bytes buffered inside (decrypted, or whole records a parked connection
 * read ahead): > 0 means tls_read has more without the socket becoming
 * readable again, so read them before polling.
 */
size_t tls_pending(struct tls_conn *c);
/*
 * True when a tls_read now would only find the socket empty: a parked
 * connection whose last read() took less than it asked for, with nothing
 * pending (tlsrec_drained).  False when not known (OpenSSL's reads), so
 * the caller reads until TLS_WANT_READ as before.
 */
bool tls_drained(const struct tls_conn *c);

bool tls_handshake_done(const struct tls_conn *c);
const char *tls_conn_error(const struct tls_conn *c);
const char *tls_conn_alpn(const struct tls_conn *c);	/* "" if none */
const char *tls_conn_sni(const struct tls_conn *c);	/* NULL if none */
const char *tls_conn_version(const struct tls_conn *c);
const char *tls_conn_cipher(const struct tls_conn *c);
/* NULL once parked. */
SSL *tls_conn_ssl(struct tls_conn *c);

/*
 * Moves a quiet TLS 1.3 server connection off OpenSSL (see above): 0, or
 * -1 when it cannot (TLS 1.2, a client, a record half read or written,
 * a post-handshake message seen): nothing changes then.  On a parked
 * connection it frees the cipher contexts and buffers until the next
 * bytes.  Afterwards every call works as before except tls_conn_ssl
 * (NULL) and tls_channel_binding (-1): take those first.
 */
int tls_conn_park(struct tls_conn *c);
bool tls_conn_parked(const struct tls_conn *c);

/*
 * A parked connection's peer that asks for KeyUpdates (RFC 8446 §4.6.3)
 * and never reads makes us queue replies: one at most per connection (a
 * waiting reply answers later requests too), 27 bytes, and at most
 * `bytes` of them in the whole process (default 1 MiB, all threads); a
 * request beyond the budget fails its connection ("TLS: key update
 * replies over budget"), as do 32 KeyUpdates with no application data
 * between ("TLS: too many key updates", OpenSSL's and BoringSSL's limit).
 * Connections still on OpenSSL are bounded by OpenSSL.
 */
void tls_set_keyupdate_budget(size_t bytes);
/* Bytes of KeyUpdate replies queued now, process-wide. */
size_t tls_keyupdate_queued(void);

/*
 * Channel binding data after the handshake: "tls-exporter" (RFC 9266),
 * "tls-server-end-point" (RFC 5929), "tls-unique" (RFC 5929, TLS 1.2 only).
 * 0 with *len set, or -1 when the type is unknown or unavailable here.
 */
int tls_channel_binding(struct tls_conn *c, const char *type, uint8_t *out,
    size_t cap, size_t *len);

#endif
