/*
 * tlsrec — TLS 1.3 records of a parked connection.  See tlsrec.h.
 *
 * Why this exists: an idle OpenSSL 3.0 connection keeps ~14 KB (the SSL
 * object alone is 7.6 KB, two AES-GCM contexts 2 KB, the session, the
 * certificate state, the peer's cipher list, the handshake's key shares).
 * After the handshake TLS 1.3 needs only two secrets and two counters, so
 * a quiet connection is moved here and costs a few hundred bytes; the
 * crypto itself stays OpenSSL's (EVP AEAD, HKDF).
 *
 * Records (§5.2): header 23 0x0303 length, then the AEAD-sealed
 * TLSInnerPlaintext (content, content type, zero padding); nonce = IV xor
 * the 64-bit sequence number, additional data = the header (§5.3).
 * Received: application data (zero-length allowed), alerts (close_notify
 * ends the stream, user_canceled is ignored, any other ends the
 * connection), KeyUpdate (§4.6.3: new read secret; when the peer asks,
 * our own KeyUpdate goes out before any further data, then the new write
 * secret; requests arriving while it waits share it; limits in tlsrec.h).
 * Handshake messages must not be fragmented over records and a
 * KeyUpdate must end its record (§5.1); other messages, unprotected
 * records, oversized records and failed authentication end the
 * connection (its fd is the caller's to close).
 */
#include "tlsrec.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "tls.h"

#define REC_HDR 5
#define REC_TAG 16
#define REC_PLAIN_MAX 16384		/* 2^14 (§5.1) */
#define REC_CIPHER_MAX (REC_PLAIN_MAX + 256)	/* §5.2 */
#define IN_CAP (2 * (REC_HDR + REC_CIPHER_MAX))
#define WRITE_RECORDS 4			/* per tlsrec_write call */
#define KU_RECORD (REC_HDR + 5 + 1 + REC_TAG)	/* our KeyUpdate, sealed */
#define KU_ROW_MAX 32			/* KeyUpdates with no data between */
/* pending ciphertext beyond our own data: a KeyUpdate, close_notify */
#define OUT_MAX 64

#define CT_ALERT 21
#define CT_HANDSHAKE 22
#define CT_APPDATA 23
#define HS_KEY_UPDATE 24

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *aes128, *aes256, *chacha;
static EVP_KDF *hkdf;

/* Bytes of KeyUpdate replies queued in the process, and their bound. */
static atomic_size_t ku_queued;
static atomic_size_t ku_budget = TLSREC_KU_BUDGET;

static void
fetch(void)
{
	aes128 = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	aes256 = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
}

bool
tlsrec_suite_ok(uint16_t suite)
{
	return suite == 0x1301 || suite == 0x1302 || suite == 0x1303;
}

void
tlsrec_set_budget(size_t bytes)
{
	atomic_store(&ku_budget, bytes);
}

size_t
tlsrec_queued(void)
{
	return atomic_load(&ku_queued);
}

/* A KeyUpdate reply queued on r: charged to the process-wide budget. */
static int
ku_charge(struct tls_rec *r)
{
	if (atomic_fetch_add(&ku_queued, KU_RECORD) + KU_RECORD >
	    atomic_load(&ku_budget)) {
		atomic_fetch_sub(&ku_queued, KU_RECORD);
		return -1;
	}
	r->ku_queued = true;
	return 0;
}

/* r's reply is out (or r is going away). */
static void
ku_release(struct tls_rec *r)
{
	if (r->ku_queued) {
		atomic_fetch_sub(&ku_queued, KU_RECORD);
		r->ku_queued = false;
	}
}

int
tlsrec_expand_label(bool sha384, const uint8_t *secret, const char *label,
    uint8_t *out, size_t outlen)
{
	unsigned char info[2 + 1 + 6 + 32 + 1];
	size_t ll = strlen(label), n = 0, slen = sha384 ? 48 : 32;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, rc;
	OSSL_PARAM params[5];
	EVP_KDF_CTX *k;

	pthread_once(&fetch_once, fetch);
	if (hkdf == NULL || ll > 32 || outlen > 255)
		return -1;
	/* struct HkdfLabel: length, "tls13 " + label, empty context */
	info[n++] = 0;
	info[n++] = (unsigned char)outlen;
	info[n++] = (unsigned char)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = 0;
	params[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    sha384 ? "SHA384" : "SHA256", 0);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)secret, slen);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	params[4] = OSSL_PARAM_construct_end();
	if ((k = EVP_KDF_CTX_new(hkdf)) == NULL)
		return -1;
	rc = EVP_KDF_derive(k, out, outlen, params) == 1 ? 0 : -1;
	EVP_KDF_CTX_free(k);
	return rc;
}

/* Keys for d's current secret (§7.3), sequence back to 0. */
static int
dir_keys(struct tls_rec *r, struct tlsrec_dir *d)
{
	EVP_CIPHER_CTX_free(d->ctx);
	d->ctx = NULL;
	d->seq = 0;
	return tlsrec_expand_label(r->sha384, d->secret, "key", d->key, r->keylen) == 0 &&
	    tlsrec_expand_label(r->sha384, d->secret, "iv", d->iv, 12) == 0 ? 0 : -1;
}

/* application_traffic_secret_N+1 (§7.2). */
static int
dir_update(struct tls_rec *r, struct tlsrec_dir *d)
{
	uint8_t next[48];

	if (tlsrec_expand_label(r->sha384, d->secret, "traffic upd", next, r->hashlen) < 0)
		return -1;
	memcpy(d->secret, next, r->hashlen);
	OPENSSL_cleanse(next, sizeof(next));
	return dir_keys(r, d);
}

/* The cipher context of d, keyed, with the nonce for its next record. */
static EVP_CIPHER_CTX *
dir_ctx(struct tls_rec *r, struct tlsrec_dir *d, int enc)
{
	unsigned char nonce[12];

	if (d->seq == UINT64_MAX)
		return NULL;	/* §5.5: never wrap */
	if (d->ctx == NULL) {
		if ((d->ctx = EVP_CIPHER_CTX_new()) == NULL)
			return NULL;
		if (EVP_CipherInit_ex(d->ctx, r->cipher, NULL, d->key, NULL, enc) != 1) {
			EVP_CIPHER_CTX_free(d->ctx);
			d->ctx = NULL;
			return NULL;
		}
	}
	memcpy(nonce, d->iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (unsigned char)(d->seq >> (8 * i));
	if (EVP_CipherInit_ex(d->ctx, NULL, NULL, NULL, nonce, enc) != 1)
		return NULL;
	return d->ctx;
}

int
tlsrec_start(struct tls_rec *r, uint16_t suite, size_t seclen, uint64_t rseq,
    uint64_t wseq)
{
	pthread_once(&fetch_once, fetch);
	if (!tlsrec_suite_ok(suite) || seclen != (suite == 0x1302 ? 48u : 32u))
		return -1;
	r->cipher = suite == 0x1301 ? aes128 : suite == 0x1302 ? aes256 : chacha;
	r->sha384 = suite == 0x1302;
	r->hashlen = (uint8_t)seclen;
	r->keylen = suite == 0x1301 ? 16 : 32;
	if (r->cipher == NULL || dir_keys(r, &r->rd) < 0 || dir_keys(r, &r->wr) < 0) {
		tlsrec_clear(r);
		return -1;
	}
	r->rd.seq = rseq;
	r->wr.seq = wseq;
	return 0;
}

void
tlsrec_clear(struct tls_rec *r)
{
	ku_release(r);
	EVP_CIPHER_CTX_free(r->rd.ctx);
	EVP_CIPHER_CTX_free(r->wr.ctx);
	free(r->in);
	free(r->out);
	OPENSSL_cleanse(r, sizeof(*r));
}

void
tlsrec_idle(struct tls_rec *r)
{
	EVP_CIPHER_CTX_free(r->rd.ctx);
	EVP_CIPHER_CTX_free(r->wr.ctx);
	r->rd.ctx = r->wr.ctx = NULL;
	if (r->plain_len == 0 && r->in_off == r->in_len) {
		free(r->in);
		r->in = NULL;
		r->in_off = r->in_len = 0;
	}
}

size_t
tlsrec_pending(const struct tls_rec *r)
{
	size_t have = r->in_len - r->in_off, clen;

	if (r->plain_len > 0 || have < REC_HDR)
		return r->plain_len;
	/* a whole record read ahead from the socket: epoll will not say so */
	clen = (size_t)r->in[r->in_off + 3] << 8 | r->in[r->in_off + 4];
	return have >= REC_HDR + clen ? have : 0;
}

bool
tlsrec_drained(const struct tls_rec *r)
{
	return r->drained && tlsrec_pending(r) == 0;
}

/* ---- writing ---- */

/* Room for n more bytes at the end of the pending ciphertext. */
static unsigned char *
out_room(struct tls_rec *r, size_t n)
{
	unsigned char *p;

	if (r->out_off > 0) {
		memmove(r->out, r->out + r->out_off, r->out_len - r->out_off);
		r->out_len -= r->out_off;
		r->out_off = 0;
	}
	if (r->out_len + n > OUT_MAX + WRITE_RECORDS * (REC_PLAIN_MAX + 22) ||
	    (p = realloc(r->out, r->out_len + n)) == NULL)
		return NULL;
	r->out = p;
	p += r->out_len;
	r->out_len += n;
	return p;
}

/* Seals n bytes of content type ct as one record at the end of out. */
static int
seal(struct tls_rec *r, const void *data, size_t n, unsigned char ct)
{
	size_t clen = n + 1 + REC_TAG;
	unsigned char *rec;
	EVP_CIPHER_CTX *ctx;
	int outl;

	if ((rec = out_room(r, REC_HDR + clen)) == NULL)
		return -1;
	rec[0] = CT_APPDATA;
	rec[1] = 3;
	rec[2] = 3;
	rec[3] = (unsigned char)(clen >> 8);
	rec[4] = (unsigned char)clen;
	memcpy(rec + REC_HDR, data, n);
	rec[REC_HDR + n] = ct;
	if ((ctx = dir_ctx(r, &r->wr, 1)) == NULL ||
	    EVP_EncryptUpdate(ctx, NULL, &outl, rec, REC_HDR) != 1 ||
	    EVP_EncryptUpdate(ctx, rec + REC_HDR, &outl, rec + REC_HDR, (int)n + 1) != 1 ||
	    EVP_EncryptFinal_ex(ctx, rec + REC_HDR + n + 1, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, REC_TAG,
	    rec + REC_HDR + n + 1) != 1)
		return -1;
	r->wr.seq++;
	return 0;
}

/* Writes pending ciphertext: TLS_OK when all is out, TLS_WANT_WRITE, TLS_ERROR. */
static int
flush(struct tls_rec *r, int fd, const char **why)
{
	while (r->out_off < r->out_len) {
		ssize_t n = send(fd, r->out + r->out_off, r->out_len - r->out_off,
		    MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return TLS_WANT_WRITE;
		if (n <= 0) {
			*why = n < 0 ? strerror(errno) : "write returned 0";
			return TLS_ERROR;
		}
		r->out_off += (size_t)n;
	}
	ku_release(r);
	free(r->out);
	r->out = NULL;
	r->out_off = r->out_len = 0;
	return TLS_OK;
}

ssize_t
tlsrec_write(struct tls_rec *r, int fd, const void *buf, size_t len, const char **why)
{
	const unsigned char *p = buf;
	size_t take;
	int rc;

	if (r->out_len > r->out_off && (rc = flush(r, fd, why)) != TLS_OK)
		return rc;
	/*
	 * A write stopped half way holds the caller's bytes sealed: this is
	 * its retry, and those records are out now (here or in a
	 * tlsrec_read meanwhile).  Count them, seal nothing again.
	 */
	if (r->out_plain > 0) {
		if (len < r->out_plain) {
			*why = "write retried with fewer bytes";
			return TLS_ERROR;
		}
		take = r->out_plain;
		r->out_plain = 0;
		return (ssize_t)take;
	}
	if (len == 0)
		return 0;
	take = len < WRITE_RECORDS * REC_PLAIN_MAX ? len : WRITE_RECORDS * REC_PLAIN_MAX;
	for (size_t off = 0; off < take; off += REC_PLAIN_MAX) {
		size_t n = take - off < REC_PLAIN_MAX ? take - off : REC_PLAIN_MAX;

		if (seal(r, p + off, n, CT_APPDATA) < 0) {
			*why = "record encryption failed";
			return TLS_ERROR;
		}
	}
	r->out_plain = take;
	if ((rc = flush(r, fd, why)) != TLS_OK)
		return rc;
	r->out_plain = 0;
	return (ssize_t)take;
}

int
tlsrec_shutdown(struct tls_rec *r, int fd)
{
	static const unsigned char close_notify[2] = { 1, 0 };
	const char *why;

	if (seal(r, close_notify, 2, CT_ALERT) < 0)
		return TLS_ERROR;
	return flush(r, fd, &why) == TLS_ERROR ? TLS_ERROR : TLS_OK;
}

/* ---- reading ---- */

/* Post-handshake handshake messages: only KeyUpdate (§4.6.3). */
static int
handshake_msg(struct tls_rec *r, const unsigned char *p, size_t n, const char **why)
{
	static const unsigned char ku_not_requested[5] = { HS_KEY_UPDATE, 0, 0, 1, 0 };

	/* one whole KeyUpdate, alone in its record (§5.1: no key change inside) */
	if (n != 5 || p[0] != HS_KEY_UPDATE || p[1] != 0 || p[2] != 0 || p[3] != 1 ||
	    p[4] > 1) {
		*why = "unexpected post-handshake message";
		return -1;
	}
	/* as OpenSSL and BoringSSL: 32 in a row, no data between, is abuse */
	if (++r->ku_row > KU_ROW_MAX) {
		*why = "too many key updates";
		return -1;
	}
	if (dir_update(r, &r->rd) < 0) {
		*why = "key update failed";
		return -1;
	}
	/*
	 * Asked for ours: while our reply waits unsent behind a peer that
	 * does not read, it answers later requests too (§4.6.3: "multiple
	 * KeyUpdates while it is silent" get "a single update"; no data of
	 * ours follows it before it is out, as tlsrec_write seals only into
	 * an empty out).  So a connection holds one reply at most, and the
	 * process a bounded number of them.
	 */
	if (p[4] == 1 && !r->ku_queued) {
		if (ku_charge(r) < 0) {
			*why = "key update replies over budget";
			return -1;
		}
		if (seal(r, ku_not_requested, 5, CT_HANDSHAKE) < 0 ||
		    dir_update(r, &r->wr) < 0) {
			*why = "key update failed";
			return -1;
		}
	}
	return 0;
}

/* Authenticates and decrypts the record at rec; its content type in *ct. */
static int
open_record(struct tls_rec *r, unsigned char *rec, size_t clen, size_t *plen,
    unsigned char *ct, const char **why)
{
	EVP_CIPHER_CTX *ctx;
	size_t n = clen - REC_TAG;
	int outl;

	if ((ctx = dir_ctx(r, &r->rd, 0)) == NULL ||
	    EVP_DecryptUpdate(ctx, NULL, &outl, rec, REC_HDR) != 1 ||
	    EVP_DecryptUpdate(ctx, rec + REC_HDR, &outl, rec + REC_HDR, (int)n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, REC_TAG, rec + REC_HDR + n) != 1 ||
	    EVP_DecryptFinal_ex(ctx, rec + REC_HDR + n, &outl) != 1) {
		*why = "bad record MAC";
		return -1;
	}
	r->rd.seq++;
	while (n > 0 && rec[REC_HDR + n - 1] == 0)
		n--;	/* padding (§5.4) */
	if (n == 0) {
		*why = "record without content type";
		return -1;
	}
	*ct = rec[REC_HDR + n - 1];
	*plen = n - 1;
	if (*plen > REC_PLAIN_MAX) {
		*why = "record overflow";
		return -1;
	}
	return 0;
}

/*
 * Handles the complete record at the head of in: 1 when it gave
 * application data (r->plain), 0 when there is nothing to return, -1.
 */
static int
next_record(struct tls_rec *r, const char **why)
{
	unsigned char *rec = r->in + r->in_off, ct;
	size_t clen = (size_t)rec[3] << 8 | rec[4], plen;

	r->in_off += REC_HDR + clen;
	if (open_record(r, rec, clen, &plen, &ct, why) < 0)
		return -1;
	switch (ct) {
	case CT_APPDATA:
		r->plain = rec + REC_HDR;
		r->plain_len = plen;
		if (plen > 0)
			r->ku_row = 0;
		return plen > 0;
	case CT_ALERT:
		if (plen != 2) {
			*why = "malformed alert";
			return -1;
		}
		if (rec[REC_HDR + 1] == 0) {
			r->eof = true;	/* close_notify */
			return 0;
		}
		if (rec[REC_HDR + 1] == 90)
			return 0;	/* user_canceled: close_notify follows */
		*why = "alert from the peer";
		return -1;
	case CT_HANDSHAKE:
		return handshake_msg(r, rec + REC_HDR, plen, why);
	default:
		*why = "unexpected record content type";
		return -1;
	}
}

ssize_t
tlsrec_read(struct tls_rec *r, int fd, void *buf, size_t len, const char **why)
{
	for (;;) {
		size_t have = r->in_len - r->in_off;
		ssize_t n;
		int rc;

		if (r->plain_len > 0) {
			n = (ssize_t)(len < r->plain_len ? len : r->plain_len);
			memcpy(buf, r->plain, (size_t)n);
			r->plain += n;
			r->plain_len -= (size_t)n;
			return n;
		}
		if (r->eof)
			return 0;
		/* our KeyUpdate answer goes out before anything else */
		if (r->out_len > r->out_off && flush(r, fd, why) == TLS_ERROR)
			return TLS_ERROR;
		if (have >= REC_HDR) {
			const unsigned char *h = r->in + r->in_off;
			size_t clen = (size_t)h[3] << 8 | h[4];

			if (h[0] != CT_APPDATA) {
				*why = "unprotected record after the handshake";
				return TLS_ERROR;
			}
			if (clen > REC_CIPHER_MAX || clen < REC_TAG + 1) {
				*why = "bad record length";
				return TLS_ERROR;
			}
			if (have >= REC_HDR + clen) {
				if ((rc = next_record(r, why)) < 0)
					return TLS_ERROR;
				continue;
			}
		}
		if (r->in == NULL && (r->in = malloc(IN_CAP)) == NULL) {
			*why = "out of memory";
			return TLS_ERROR;
		}
		if (r->in_off > 0) {
			memmove(r->in, r->in + r->in_off, have);
			r->in_len = have;
			r->in_off = 0;
		}
		n = read(fd, r->in + r->in_len, IN_CAP - r->in_len);
		r->drained = n >= 0 && (size_t)n < IN_CAP - r->in_len;
		if (n > 0) {
			r->in_len += (size_t)n;
			continue;
		}
		if (n == 0)
			return 0;	/* EOF without close_notify: as IGNORE_UNEXPECTED_EOF */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			*why = strerror(errno);
			return TLS_ERROR;
		}
		if (r->in_len == 0) {
			free(r->in);	/* nothing buffered: keep no buffer */
			r->in = NULL;
		}
		return r->out_len > r->out_off ? TLS_WANT_WRITE : TLS_WANT_READ;
	}
}
