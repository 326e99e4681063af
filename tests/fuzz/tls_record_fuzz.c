/*
 * libFuzzer target: the TLS 1.3 record layer of parked connections
 * (common/tlsrec.c).  A parked server reads what the input makes a peer
 * send over a socketpair: raw bytes (headers, lengths, garbage) or records
 * properly sealed with the peer's key around any inner plaintext (content
 * types, padding, alerts, handshake messages, KeyUpdate, whose new key the
 * peer then follows), and writes data of its own through a small send
 * buffer, so writes stop half way and are retried as tls.h says (the same
 * bytes again, reads in between).  Nothing may crash, leak or read out of
 * bounds; errors are the expected outcome.
 *
 * The peer checks what it receives: it decrypts the server's records with
 * a second tlsrec (following the server's KeyUpdates), every byte must be
 * the next one of the stream the server was given, never more than the
 * writes took (plus the one in flight), and unless the server failed,
 * once the peer has read everything it has exactly what the writes
 * counted.
 *
 * Input: a sequence of chunks, each [mode][len][len bytes]: mode & 3 == 0
 * raw bytes, 1 a sealed record of the bytes (last byte = content type),
 * 2 (no bytes follow) the server writes len more bytes of its stream, or
 * retries the stopped write, 3 the server goes idle; mode & 4: the peer
 * then reads what has reached it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "tls.h"
#include "tlsrec.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

struct peer {
	uint8_t secret[32], key[16], iv[12];
	uint64_t seq;
};

static int
peer_keys(struct peer *p)
{
	p->seq = 0;
	return tlsrec_expand_label(false, p->secret, "key", p->key, 16) == 0 &&
	    tlsrec_expand_label(false, p->secret, "iv", p->iv, 12) == 0 ? 0 : -1;
}

/* Seals inner (content + type + padding as given) as one AES-128-GCM record. */
static size_t
peer_seal(struct peer *p, const unsigned char *inner, size_t n, unsigned char *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	unsigned char nonce[12];
	size_t clen = n + 16;
	int l;

	memcpy(nonce, p->iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (unsigned char)(p->seq >> (8 * i));
	out[0] = 23;
	out[1] = 3;
	out[2] = 3;
	out[3] = (unsigned char)(clen >> 8);
	out[4] = (unsigned char)clen;
	if (ctx == NULL || EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, p->key, nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &l, out, 5) != 1 ||
	    EVP_EncryptUpdate(ctx, out + 5, &l, inner, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(ctx, out + 5 + n, &l) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + 5 + n) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return 0;
	}
	EVP_CIPHER_CTX_free(ctx);
	p->seq++;
	return 5 + clen;
}

/* The server's side of the stream and what the peer has checked of it. */
struct stream {
	size_t taken;		/* bytes tlsrec_write counted */
	size_t stopped;		/* > 0: a write returned TLS_WANT_WRITE with so many */
	size_t got;		/* bytes the peer received, all checked */
	bool failed;		/* the server returned TLS_ERROR */
	bool eof;		/* ... or 0: the peer's close_notify */
};

static unsigned char
stream_byte(size_t off)
{
	return (unsigned char)(off * 131 + (off >> 11));
}

/* The server writes len more bytes, or at least the stopped ones again. */
static void
server_writes(struct tls_rec *r, int fd, struct stream *st, size_t len)
{
	static unsigned char buf[65536];
	const char *why;
	ssize_t n;

	if (len > sizeof(buf))
		len = sizeof(buf);
	if (len < st->stopped)
		len = st->stopped;	/* tlsrec.h: the retry holds them all */
	for (size_t i = 0; i < len; i++)
		buf[i] = stream_byte(st->taken + i);
	n = tlsrec_write(r, fd, buf, len, &why);
	if (n == TLS_WANT_WRITE) {
		if (st->stopped == 0)
			st->stopped = len;	/* what it sealed is within these */
		return;
	}
	if (n == TLS_ERROR) {
		st->failed = true;
		return;
	}
	if (n < 0 || (size_t)n > len || (len > 0 && n == 0) ||
	    (st->stopped > 0 && (size_t)n < st->stopped))
		abort();	/* outside the contract */
	st->taken += (size_t)n;
	st->stopped = 0;
}

/* The peer reads and checks what has reached it; false once it is closed. */
static bool
peer_reads(struct tls_rec *p, int fd, struct stream *st)
{
	static unsigned char buf[20000];
	const char *why;

	for (;;) {
		ssize_t n = tlsrec_read(p, fd, buf, sizeof(buf), &why);

		if (n == TLS_WANT_READ)
			return true;
		if (n == 0)
			return false;	/* the server's close_notify */
		if (n < 0)
			abort();	/* the server sent what its own peer refuses */
		/* never more than the writes took, plus the stopped one */
		if (st->got + (size_t)n > st->taken + st->stopped)
			abort();
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != stream_byte(st->got + (size_t)i))
				abort();	/* lost, duplicated or reordered */
		st->got += (size_t)n;
	}
}

/* Reads everything the server has for it (flushing its records too). */
static void
server_reads(struct tls_rec *r, int fd, struct stream *st)
{
	static unsigned char buf[20000];
	const char *why;

	while (!st->eof && !st->failed) {
		ssize_t n = tlsrec_read(r, fd, buf, sizeof(buf) / 3, &why);

		if (n == TLS_WANT_READ || n == TLS_WANT_WRITE)
			return;
		if (n == 0)
			st->eof = true;
		else if (n < 0)
			st->failed = true;
	}
}

/*
 * The peer reads until the stopped write has gone out and been counted:
 * then it must hold exactly what the writes took.
 */
static void
settle(struct tls_rec *r, struct tls_rec *p, int sv[2], struct stream *st)
{
	for (int i = 0; i < 100000 && !st->failed; i++) {
		if (!peer_reads(p, sv[1], st))
			abort();	/* no close_notify was sent yet */
		if (st->stopped == 0) {
			if (st->got != st->taken)
				abort();
			return;
		}
		if (i % 2)
			server_reads(r, sv[0], st);	/* a read flushes, too */
		else
			server_writes(r, sv[0], st, 0);
	}
	if (!st->failed)
		abort();	/* the stopped write never completed */
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static unsigned char rec[17000 + 64];
	struct tls_rec r, pr;
	struct peer client;
	struct stream st;
	int sv[2], sndbuf = 4096;

	memset(&r, 0, sizeof(r));
	memset(&pr, 0, sizeof(pr));
	memset(&client, 0, sizeof(client));
	memset(&st, 0, sizeof(st));
	memset(client.secret, 0xc1, sizeof(client.secret));
	memset(r.rd.secret, 0xc1, 32);
	memset(r.wr.secret, 0x5e, 32);
	memset(pr.rd.secret, 0x5e, 32);	/* the peer's reading end */
	memset(pr.wr.secret, 0xc1, 32);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return 0;
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0 ||
	    peer_keys(&client) < 0 || tlsrec_start(&r, 0x1301, 32, 0, 0) < 0 ||
	    tlsrec_start(&pr, 0x1301, 32, 0, 0) < 0)
		goto out;
	while (size >= 3 && !st.eof && !st.failed) {
		unsigned mode = data[0] & 3;
		bool peer_read = data[0] & 4;
		size_t len = (size_t)data[1] << 8 | data[2];
		const unsigned char *p = data + 3;
		bool ku;

		if (mode == 2) {
			data += 3;	/* a length only */
			size -= 3;
		} else {
			if (len > size - 3)
				len = size - 3;
			data += 3 + len;
			size -= 3 + len;
		}
		switch (mode) {
		case 0:
			if (write(sv[1], p, len) < 0)
				goto out;
			break;
		case 1:
			if (len > 17000)
				len = 17000;
			/* a KeyUpdate the server accepts: the peer follows */
			ku = len == 6 && p[0] == 24 && p[1] == 0 && p[2] == 0 && p[3] == 1 &&
			    p[4] <= 1 && p[5] == 22;
			if (write(sv[1], rec, peer_seal(&client, p, len, rec)) < 0)
				goto out;
			if (ku) {
				uint8_t next[32];

				tlsrec_expand_label(false, client.secret, "traffic upd", next, 32);
				memcpy(client.secret, next, 32);
				peer_keys(&client);
			}
			break;
		case 2:
			server_writes(&r, sv[0], &st, len);
			break;
		default:
			tlsrec_idle(&r);
			break;
		}
		server_reads(&r, sv[0], &st);
		if (peer_read && !peer_reads(&pr, sv[1], &st))
			abort();	/* the server closed on its own */
	}
	settle(&r, &pr, sv, &st);
	/* close_notify, behind whatever else is queued, ends the peer's stream */
	if (!st.failed && tlsrec_shutdown(&r, sv[0]) != TLS_ERROR) {
		const char *why;
		int i = 0;

		while (peer_reads(&pr, sv[1], &st))
			if (++i == 100000 || tlsrec_write(&r, sv[0], "", 0, &why) == TLS_ERROR)
				abort();
	}
out:
	tlsrec_clear(&r);
	tlsrec_clear(&pr);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
