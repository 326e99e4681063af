/*
 * tlsrec — the TLS 1.3 record layer (RFC 8446 §5) of a connection after
 * OpenSSL has been let go of it (tls_conn_park in tls.h).  Private to
 * tls.c: callers use the tls_* functions, which dispatch here.
 *
 * State per connection is the two application traffic secrets, the keys
 * and IVs derived from them and the record sequence numbers; cipher
 * contexts and buffers exist only while bytes move (tlsrec_idle drops
 * them).  Handles application data, close_notify and other alerts, and
 * KeyUpdate in both directions (§4.6.3); anything else the peer sends
 * after the handshake ends the connection.
 *
 * Return values follow tls.h: bytes, 0 at the peer's close, TLS_WANT_READ,
 * TLS_WANT_WRITE or TLS_ERROR with a reason in *why.
 */
#ifndef EDGE_TLSREC_H
#define EDGE_TLSREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tls_rec;

/* Cipher suites tlsrec handles (IANA TLS 1.3 values). */
bool tlsrec_suite_ok(uint16_t suite);
/*
 * rsec/wsec: the traffic secrets we read and write with (hash length
 * bytes), rseq/wseq: the next record numbers under them.
 */
struct tls_rec *tlsrec_new(uint16_t suite, const uint8_t *rsec,
    const uint8_t *wsec, size_t seclen, uint64_t rseq, uint64_t wseq);
void tlsrec_free(struct tls_rec *r);
/* Frees cipher contexts and empty buffers of a connection gone quiet. */
void tlsrec_idle(struct tls_rec *r);

ssize_t tlsrec_read(struct tls_rec *r, int fd, void *buf, size_t len,
    const char **why);
/*
 * As SSL_write with partial writes: after TLS_WANT_WRITE, call again with
 * (at least) the same bytes; the result then counts them.
 */
ssize_t tlsrec_write(struct tls_rec *r, int fd, const void *buf, size_t len,
    const char **why);
/* Queues and tries to send close_notify. */
int tlsrec_shutdown(struct tls_rec *r, int fd);
/* Decrypted bytes not yet returned by tlsrec_read. */
size_t tlsrec_pending(const struct tls_rec *r);

/* HKDF-Expand-Label with an empty context (RFC 8446 §7.1), for tests. */
int tlsrec_expand_label(bool sha384, const uint8_t *secret, const char *label,
    uint8_t *out, size_t outlen);

#endif
