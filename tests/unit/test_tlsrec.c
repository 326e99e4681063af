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
