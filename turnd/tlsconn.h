/*
 * tlsconn — TURNS on common/tls: the server contexts built from turnd's
 * configuration (reloaded on SIGHUP without touching live connections)
 * and the small non-blocking interface conn.c reads and writes through.
 */
#ifndef TURND_TLSCONN_H
#define TURND_TLSCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tlsconn;
struct tls_server;
struct turnd_config;

/* Server contexts for c's certificate.  NULL with message. */
struct tls_server *tlsconn_server_new(const struct turnd_config *c,
    char *err, size_t errlen);
/* New certificate for new handshakes; -1 (old kept) with message. */
int tlsconn_server_reload(struct tls_server *srv, const struct turnd_config *c,
    char *err, size_t errlen);
void tlsconn_server_free(struct tls_server *srv);

struct tlsconn *tlsconn_new(struct tls_server *srv, int fd);
void tlsconn_free(struct tlsconn *t);
/* 1 established, 0 in progress, -1 failed. */
int tlsconn_handshake(struct tlsconn *t);
bool tlsconn_ready(const struct tlsconn *t);
bool tlsconn_wants_write(const struct tlsconn *t);
/* >0 bytes, 0 would block, -1 closed or failed. */
ssize_t tlsconn_read(struct tlsconn *t, void *buf, size_t len);
/*
 * One TLS record per call (clients such as coturn's read one message per
 * record), gathered in a buffer under the record layer: the records reach
 * the socket on tlsconn_flush (or when the buffer fills), so a batch of
 * frames costs one send.
 */
ssize_t tlsconn_write(struct tlsconn *t, const void *buf, size_t len);
/* 1 all written, 0 would block (poll for writing), -1 failed. */
int tlsconn_flush(struct tlsconn *t);
/* Decrypted bytes OpenSSL holds that the socket will not signal. */
bool tlsconn_readable(struct tlsconn *t);
/* Records waiting in the buffer. */
bool tlsconn_pending(const struct tlsconn *t);
/* The negotiated protocol ("TLSv1.3"), for logs. */
const char *tlsconn_version(const struct tlsconn *t);

#endif
