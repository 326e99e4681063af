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
 * KeyUpdate requests cost the peer 27 bytes each and us a reply: a reply
 * still waiting to be sent answers later requests as well, so there is at
 * most one per connection; all replies queued in the process together
 * stay within a budget (tls_set_keyupdate_budget in tls.h), and more than
 * 32 KeyUpdates with no application data between end the connection.
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

#include <openssl/evp.h>

/*
 * Embedded in struct tls_conn (no allocation when a connection parks: a
 * small block allocated then would land in the middle of the memory the
 * connection just freed and keep that page).  Fields are tlsrec.c's.
 */
struct tlsrec_dir {
	uint8_t secret[48];	/* the traffic secret (hash length bytes) */
	uint8_t key[32];
	uint8_t iv[12];
	uint64_t seq;
	EVP_CIPHER_CTX *ctx;	/* only while active */
};

struct tls_rec {
	struct tlsrec_dir rd, wr;
	const EVP_CIPHER *cipher;
	bool sha384;
	bool eof;		/* close_notify received */
	uint8_t hashlen, keylen;
	bool ku_queued;		/* our KeyUpdate reply is in out (budget charged) */
	uint8_t ku_row;		/* KeyUpdates received since application data */
	unsigned char *in;	/* received bytes [in_off, in_len) */
	size_t in_off, in_len;
	bool drained;		/* the last read() took less than it asked for */
	const unsigned char *plain;	/* decrypted, not yet returned (inside in) */
	size_t plain_len;
	unsigned char *out;	/* ciphertext not yet written [out_off, out_len) */
	size_t out_off, out_len;
	size_t out_plain;	/* application bytes the pending records carry */
};

/* Default process-wide budget of queued KeyUpdate replies (~38,000). */
#define TLSREC_KU_BUDGET (1u << 20)

/* tls_set_keyupdate_budget, tls_keyupdate_queued (tls.h). */
void tlsrec_set_budget(size_t bytes);
size_t tlsrec_queued(void);

/* Cipher suites tlsrec handles (IANA TLS 1.3 values). */
bool tlsrec_suite_ok(uint16_t suite);
/*
 * Starts the record layer on a zeroed r whose rd.secret / wr.secret hold
 * the traffic secrets we read and write with (seclen bytes); rseq/wseq:
 * the next record numbers under them.  0, or -1.
 */
int tlsrec_start(struct tls_rec *r, uint16_t suite, size_t seclen,
    uint64_t rseq, uint64_t wseq);
/* Frees what r holds and wipes it. */
void tlsrec_clear(struct tls_rec *r);
/* Frees cipher contexts and empty buffers of a connection gone quiet. */
void tlsrec_idle(struct tls_rec *r);

ssize_t tlsrec_read(struct tls_rec *r, int fd, void *buf, size_t len,
    const char **why);
/*
 * As SSL_write with partial writes: after TLS_WANT_WRITE, call again with
 * (at least) the same bytes, whatever tlsrec_read calls come in between
 * (they flush too); the result then counts them, sent once.  A retry with
 * fewer bytes is an error.
 */
ssize_t tlsrec_write(struct tls_rec *r, int fd, const void *buf, size_t len,
    const char **why);
/* Queues and tries to send close_notify. */
int tlsrec_shutdown(struct tls_rec *r, int fd);
/*
 * Bytes tlsrec_read can return without the socket: decrypted ones, or
 * whole records read ahead (a read takes as much as the socket has).
 */
size_t tlsrec_pending(const struct tls_rec *r);
/*
 * Whether the socket was empty after the last read() (it took less than
 * it asked for) and nothing is pending: another tlsrec_read now would
 * only find EAGAIN.  A caller reading in rounds stops there and waits
 * for readiness (level-triggered: anything that came since is reported).
 */
bool tlsrec_drained(const struct tls_rec *r);

/* HKDF-Expand-Label with an empty context (RFC 8446 §7.1), for tests. */
int tlsrec_expand_label(bool sha384, const uint8_t *secret, const char *label,
    uint8_t *out, size_t outlen);

#endif
