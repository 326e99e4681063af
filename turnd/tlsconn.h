/*
 * tlsconn — TURNS: the server TLS context (certificate reloadable without
 * touching live connections) and a non-blocking TLS wrapper around one
 * accepted socket, as conn.c needs it.
 */
#ifndef TURND_TLSCONN_H
#define TURND_TLSCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tlsconn;

/* A server context from PEM files.  NULL with message. */
void *tlsconn_ctx_new(const char *cert, const char *key, const char *dhparams,
    char *err, size_t errlen);
void tlsconn_ctx_free(void *ctx);

struct tlsconn *tlsconn_new(void *ctx, int fd);
void tlsconn_free(struct tlsconn *t);
/* 1 established, 0 in progress, -1 failed. */
int tlsconn_handshake(struct tlsconn *t);
bool tlsconn_ready(const struct tlsconn *t);
bool tlsconn_wants_write(const struct tlsconn *t);
/* >0 bytes, 0 would block, -1 closed or failed. */
ssize_t tlsconn_read(struct tlsconn *t, void *buf, size_t len);
ssize_t tlsconn_write(struct tlsconn *t, const void *buf, size_t len);
/* The negotiated protocol ("TLSv1.3"), for logs. */
const char *tlsconn_version(const struct tlsconn *t);

#endif
