/*
 * Unit tests for common/tlsrec.c, the record layer of parked connections,
 * driven directly (no handshake): the server and its peer are two tlsrec
 * ends holding each other's traffic secrets over a socketpair whose
 * server side has a small send buffer, so writes stop half way.  Where a
 * client would send what tlsrec never sends (a KeyUpdate asking for ours),
 * the peer seals the record by hand.
 */
#include "t.h"
#include "tls.h"
#include "tlsrec.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#define SECRET_C 0xc1	/* the client's traffic secret: 32 such bytes */
#define SECRET_S 0x5e

struct ends {
	struct tls_rec s, c;	/* server; peer (reads with the server's secret) */
	int sv[2];		/* sv[0] the server's, sv[1] the peer's */
	/* the peer's hand-sealed records (KeyUpdate requests) */
	uint8_t secret[32], key[16], iv[12];
	uint64_t seq;
};

static int
hand_keys(struct ends *e)
{
	e->seq = 0;
	return tlsrec_expand_label(false, e->secret, "key", e->key, 16) == 0 &&
	    tlsrec_expand_label(false, e->secret, "iv", e->iv, 12) == 0 ? 0 : -1;
}

/* AES-128-GCM, SHA-256 on both ends; sndbuf: the server's SO_SNDBUF. */
static int
ends_open(struct ends *e, int sndbuf)
{
	memset(e, 0, sizeof(*e));
	memset(e->s.rd.secret, SECRET_C, 32);
	memset(e->s.wr.secret, SECRET_S, 32);
	memset(e->c.rd.secret, SECRET_S, 32);
	memset(e->c.wr.secret, SECRET_C, 32);
	memset(e->secret, SECRET_C, 32);
	e->sv[0] = e->sv[1] = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, e->sv) < 0 ||
	    (sndbuf > 0 && setsockopt(e->sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof(sndbuf)) < 0))
		return -1;
	return tlsrec_start(&e->s, 0x1301, 32, 0, 0) == 0 &&
	    tlsrec_start(&e->c, 0x1301, 32, 0, 0) == 0 && hand_keys(e) == 0 ? 0 : -1;
}

static void
ends_close(struct ends *e)
{
	tlsrec_clear(&e->s);
	tlsrec_clear(&e->c);
	if (e->sv[0] >= 0)
		close(e->sv[0]);
	if (e->sv[1] >= 0)
		close(e->sv[1]);
}

/* The peer seals inner (content, then its content type) and sends it. */
static int
hand_send(struct ends *e, const unsigned char *inner, size_t n)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	unsigned char rec[64], nonce[12];
	size_t clen = n + 16;
	int l, ok;

	if (ctx == NULL || n + 21 > sizeof(rec))
		return -1;
	memcpy(nonce, e->iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (unsigned char)(e->seq >> (8 * i));
	rec[0] = 23;
	rec[1] = 3;
	rec[2] = 3;
	rec[3] = (unsigned char)(clen >> 8);
	rec[4] = (unsigned char)clen;
	ok = EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, e->key, nonce) == 1 &&
	    EVP_EncryptUpdate(ctx, NULL, &l, rec, 5) == 1 &&
	    EVP_EncryptUpdate(ctx, rec + 5, &l, inner, (int)n) == 1 &&
	    EVP_EncryptFinal_ex(ctx, rec + 5 + n, &l) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, rec + 5 + n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok || write(e->sv[1], rec, 5 + clen) != (ssize_t)(5 + clen))
		return -1;
	e->seq++;
	return 0;
}

/* A KeyUpdate (§4.6.3) from the peer, which then writes with its next key. */
static int
hand_key_update(struct ends *e, bool requested)
{
	const unsigned char ku[6] = { 24, 0, 0, 1, requested, 22 };
	uint8_t next[32];

	if (hand_send(e, ku, sizeof(ku)) < 0 ||
	    tlsrec_expand_label(false, e->secret, "traffic upd", next, 32) < 0)
		return -1;
	memcpy(e->secret, next, 32);
	return hand_keys(e);
}

static unsigned char
pattern(size_t off)
{
	return (unsigned char)(off * 31 + off / 65521);
}

/* Everything the socket has for the peer, appended at got (up to cap). */
static int
peer_take(struct ends *e, unsigned char *buf, size_t cap, size_t *got)
{
	const char *why;

	for (;;) {
		ssize_t n = tlsrec_read(&e->c, e->sv[1], buf + *got, cap - *got, &why);

		if (n == TLS_WANT_READ)
			return 0;
		if (n <= 0 || *got == cap)
			return -1;	/* more than was written, or garbage */
		*got += (size_t)n;
	}
}

/*
 * Issue 20: after tlsrec_write's TLS_WANT_WRITE, a tlsrec_read (the peer
 * sent an SM ack, a ping) flushed the pending records, and the caller's
 * retry of the same bytes sealed and sent them a second time.  Here every
 * write that stops half way is followed by peer data and server reads
 * until its records are out, and only then retried: the peer must get the
 * bytes written exactly once, in order.
 */
TEST(tlsrec_write_retry_after_read)
{
	static unsigned char out[4000000], in[sizeof(out) + (1 << 20)];
	size_t total = sizeof(out), sent = 0, got = 0, pings = 0, pinged = 0;
	struct ends e;
	const char *why;
	unsigned char ch;
	int blocked = 0;

	for (size_t i = 0; i < total; i++)
		out[i] = pattern(i);
	CHECK_INT(ends_open(&e, 4096), 0);
	for (long spins = 0; sent < total || got < total; spins++) {
		ssize_t n;

		if (spins > 10000000)
			break;
		if (sent < total) {
			n = tlsrec_write(&e.s, e.sv[0], out + sent, total - sent, &why);
			if (n > 0)
				sent += (size_t)n;
			else if (n != TLS_WANT_WRITE)
				break;
			else
				blocked++;
		}
		/* the peer reads what it can, says something, the server reads */
		if (peer_take(&e, in, sizeof(in), &got) < 0)
			break;
		if (tlsrec_write(&e.c, e.sv[1], "p", 1, &why) != 1)
			break;
		pings++;
		while ((n = tlsrec_read(&e.s, e.sv[0], &ch, 1, &why)) == 1)
			pinged++;
		if (n != TLS_WANT_READ && n != TLS_WANT_WRITE)
			break;
	}
	if (got != total || sent != total)
		fprintf(stderr, "  written %zu, received %zu (%d writes stopped)\n",
		    sent, got, blocked);
	CHECK(blocked > 0);
	CHECK_INT(sent, total);
	CHECK_INT(got, total);
	CHECK_MEM(in, out, total);
	CHECK_INT(pinged, pings);
	ends_close(&e);
}

/* A retry with fewer bytes than the stopped write took is refused. */
TEST(tlsrec_write_retry_shorter)
{
	static unsigned char out[65536], in[1 << 18];
	struct ends e;
	const char *why = NULL;
	size_t got = 0;
	unsigned char ch;
	ssize_t n;

	CHECK_INT(ends_open(&e, 4096), 0);
	CHECK_INT(tlsrec_write(&e.s, e.sv[0], out, sizeof(out), &why), TLS_WANT_WRITE);
	do {	/* the records go out while the server reads */
		CHECK_INT(peer_take(&e, in, sizeof(in), &got), 0);
	} while ((n = tlsrec_read(&e.s, e.sv[0], &ch, 1, &why)) == TLS_WANT_WRITE);
	CHECK_INT(n, TLS_WANT_READ);
	CHECK_INT(tlsrec_write(&e.s, e.sv[0], out, 10, &why), TLS_ERROR);
	CHECK(why != NULL);
	ends_close(&e);
}

/* ---- KeyUpdate requests from a peer that never reads (issue 20) ---- */

/* The server writes 64 KiB of zeros: the write stops, the socket is full. */
static int
fill(struct ends *e)
{
	static unsigned char zeros[65536];
	const char *why;

	return tlsrec_write(&e->s, e->sv[0], zeros, sizeof(zeros), &why) ==
	    TLS_WANT_WRITE ? 0 : -1;
}

/* The server reads a byte: 1, or TLS_WANT_* / TLS_ERROR. */
static ssize_t
server_read(struct ends *e, const char **why)
{
	unsigned char ch;

	return tlsrec_read(&e->s, e->sv[0], &ch, 1, why);
}

/* 33 KeyUpdates in a row end the connection, as in OpenSSL. */
TEST(tlsrec_key_update_too_many)
{
	struct ends e;
	const char *why = NULL;
	ssize_t n = 0;
	int i;

	CHECK_INT(ends_open(&e, 4096), 0);
	CHECK_INT(fill(&e), 0);
	for (i = 0; i < 40; i++) {
		CHECK_INT(hand_key_update(&e, true), 0);
		if ((n = server_read(&e, &why)) == TLS_ERROR)
			break;
		CHECK(n == TLS_WANT_WRITE || n == TLS_WANT_READ);
	}
	CHECK_INT(n, TLS_ERROR);
	CHECK_INT(i, 32);
	CHECK_STR(why, "too many key updates");
	ends_close(&e);
	/* with application data between, any number is fine */
	CHECK_INT(ends_open(&e, 0), 0);
	for (i = 0; i < 200; i++) {
		CHECK_INT(hand_key_update(&e, i % 2), 0);
		CHECK_INT(hand_send(&e, (const unsigned char *)"x\x17", 2), 0);
		CHECK_INT(server_read(&e, &why), 1);
	}
	ends_close(&e);
}

/*
 * A peer asking for KeyUpdates between bits of data and never reading
 * used to have every reply queued (27 bytes each, up to 1 MiB per
 * connection); one waiting reply answers them all now.  Once the peer
 * reads, both ends still agree on the keys.
 */
TEST(tlsrec_key_update_replies_shared)
{
	static unsigned char zeros[65536], in[1 << 18];
	struct ends e;
	const char *why = NULL;
	size_t got = 0, queued;
	ssize_t n = 0;

	CHECK_INT(ends_open(&e, 4096), 0);
	CHECK_INT(fill(&e), 0);
	for (int i = 0; i < 2000; i++) {
		CHECK_INT(hand_key_update(&e, true), 0);
		CHECK_INT(hand_send(&e, (const unsigned char *)"x\x17", 2), 0);
		CHECK_INT(server_read(&e, &why), 1);
	}
	/* beyond the stopped write's 64 KiB: one KeyUpdate */
	queued = e.s.out_len - e.s.out_off;
	if (queued > 65536 + 4 * 22 + 27)
		fprintf(stderr, "  %zu bytes queued after 2000 requests\n", queued);
	CHECK(queued <= 65536 + 4 * 22 + 27);
	/* the peer reads: the stopped write completes, later data decrypts */
	for (int i = 0; i < 1000; i++) {
		if ((n = tlsrec_write(&e.s, e.sv[0], zeros, sizeof(zeros), &why)) > 0)
			break;
		CHECK_INT(n, TLS_WANT_WRITE);
		CHECK_INT(peer_take(&e, in, sizeof(in), &got), 0);
	}
	CHECK_INT(n, sizeof(zeros));
	CHECK_INT(tlsrec_write(&e.s, e.sv[0], "after", 5, &why), 5);
	CHECK_INT(peer_take(&e, in, sizeof(in), &got), 0);
	CHECK_INT(got, sizeof(zeros) + 5);
	CHECK_MEM(in, zeros, sizeof(zeros));
	CHECK_MEM(in + sizeof(zeros), "after", 5);
	ends_close(&e);
}

/* Replies waiting in the whole process stay within tls_set_keyupdate_budget. */
TEST(tlsrec_key_update_budget)
{
	static unsigned char in[1 << 18];
	struct ends e[3];
	const char *why = NULL;
	size_t base = tls_keyupdate_queued(), got = 0;
	ssize_t n;

	tls_set_keyupdate_budget(base + 2 * 27);
	for (int i = 0; i < 3; i++) {
		CHECK_INT(ends_open(&e[i], 4096), 0);
		CHECK_INT(fill(&e[i]), 0);
		CHECK_INT(hand_key_update(&e[i], true), 0);
		n = server_read(&e[i], &why);
		if (i < 2) {
			CHECK_INT(n, TLS_WANT_WRITE);
			CHECK_INT(tls_keyupdate_queued(), base + (size_t)(i + 1) * 27);
		} else {
			CHECK_INT(n, TLS_ERROR);
			CHECK_STR(why, "key update replies over budget");
			CHECK_INT(tls_keyupdate_queued(), base + 2 * 27);
		}
	}
	/* the first peer reads: its reply is out, the budget has room again */
	do
		CHECK_INT(peer_take(&e[0], in, sizeof(in), &got), 0);
	while ((n = server_read(&e[0], &why)) == TLS_WANT_WRITE);
	CHECK_INT(n, TLS_WANT_READ);
	CHECK_INT(tls_keyupdate_queued(), base + 27);
	/* closed connections give theirs back */
	for (int i = 0; i < 3; i++)
		ends_close(&e[i]);
	CHECK_INT(tls_keyupdate_queued(), base);
	tls_set_keyupdate_budget(TLSREC_KU_BUDGET);
}

/*
 * tlsrec_drained: true once a read() took less than it asked for and
 * nothing is pending, so a caller reading in rounds stops without a
 * read() that would only say EAGAIN; data that comes later is read.
 */
TEST(tlsrec_drained_after_short_read)
{
	struct ends e;
	const char *why = NULL;
	char buf[64];

	CHECK_INT(ends_open(&e, 0), 0);
	CHECK(!tlsrec_drained(&e.s));
	CHECK_INT(tlsrec_write(&e.c, e.sv[1], "hello", 5, &why), 5);
	CHECK_INT(tlsrec_read(&e.s, e.sv[0], buf, sizeof(buf), &why), 5);
	CHECK_MEM(buf, "hello", 5);
	CHECK(tlsrec_drained(&e.s));
	/* what comes next is read all the same */
	CHECK_INT(tlsrec_write(&e.c, e.sv[1], "world", 5, &why), 5);
	CHECK_INT(tlsrec_read(&e.s, e.sv[0], buf, sizeof(buf), &why), 5);
	CHECK_MEM(buf, "world", 5);
	CHECK(tlsrec_drained(&e.s));
	/* two records in one read(): not drained while the second waits */
	CHECK_INT(tlsrec_write(&e.c, e.sv[1], "one", 3, &why), 3);
	CHECK_INT(tlsrec_write(&e.c, e.sv[1], "two", 3, &why), 3);
	CHECK_INT(tlsrec_read(&e.s, e.sv[0], buf, sizeof(buf), &why), 3);
	CHECK_MEM(buf, "one", 3);
	CHECK(!tlsrec_drained(&e.s));
	CHECK_INT(tlsrec_read(&e.s, e.sv[0], buf, sizeof(buf), &why), 3);
	CHECK_MEM(buf, "two", 3);
	CHECK(tlsrec_drained(&e.s));
	/* a read() anyway finds nothing: EAGAIN is not a short read */
	CHECK_INT(tlsrec_read(&e.s, e.sv[0], buf, sizeof(buf), &why), TLS_WANT_READ);
	CHECK(!tlsrec_drained(&e.s));
	/* plaintext of a record larger than the caller's buffer: pending */
	CHECK_INT(tlsrec_write(&e.c, e.sv[1], "0123456789", 10, &why), 10);
	CHECK_INT(tlsrec_read(&e.s, e.sv[0], buf, 4, &why), 4);
	CHECK(!tlsrec_drained(&e.s));
	CHECK_INT(tlsrec_read(&e.s, e.sv[0], buf, sizeof(buf), &why), 6);
	CHECK_MEM(buf, "456789", 6);
	CHECK(tlsrec_drained(&e.s));
	ends_close(&e);
}
