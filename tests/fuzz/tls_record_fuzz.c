/*
 * libFuzzer target: the TLS 1.3 record layer of parked connections
 * (common/tlsrec.c).  A parked server reads what the input makes a peer
 * send over a socketpair: raw bytes (headers, lengths, garbage) or records
 * properly sealed with the peer's key around any inner plaintext (content
 * types, padding, alerts, handshake messages, KeyUpdate, whose new key the
 * peer then follows), and answers with data of its own.  Nothing may
 * crash, leak or read out of bounds; errors are the expected outcome.
 *
 * Input: a sequence of chunks, each [mode][len][len bytes]: mode & 3 == 0
 * raw bytes, 1 a sealed record of the bytes (last byte = content type),
 * 2 the server writes len bytes, 3 the server goes idle.
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

/* Reads everything the server has for us; false once it is done. */
static bool
server_reads(struct tls_rec *r, int fd)
{
	static unsigned char buf[20000];
	const char *why;

	for (;;) {
		ssize_t n = tlsrec_read(r, fd, buf, sizeof(buf) / 3, &why);

		if (n == TLS_WANT_READ || n == TLS_WANT_WRITE)
			return true;
		if (n <= 0)
			return false;
	}
}

static void
drain(int fd)
{
	unsigned char buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static unsigned char rec[17000 + 64], zeros[65536];
	struct tls_rec r;
	struct peer client;
	const char *why;
	int sv[2];

	memset(&r, 0, sizeof(r));
	memset(&client, 0, sizeof(client));
	memset(client.secret, 0xc1, sizeof(client.secret));
	memset(r.rd.secret, 0xc1, 32);
	memset(r.wr.secret, 0x5e, 32);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return 0;
	if (peer_keys(&client) < 0 || tlsrec_start(&r, 0x1301, 32, 0, 0) < 0)
		goto out;
	while (size >= 3) {
		unsigned mode = data[0] & 3;
		size_t len = (size_t)data[1] << 8 | data[2];
		const unsigned char *p = data + 3;
		bool ku;

		if (len > size - 3)
			len = size - 3;
		data += 3 + len;
		size -= 3 + len;
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
			if (tlsrec_write(&r, sv[0], zeros, len, &why) == TLS_ERROR)
				goto out;
			drain(sv[1]);
			break;
		default:
			tlsrec_idle(&r);
			break;
		}
		if (!server_reads(&r, sv[0]))
			break;
		drain(sv[1]);
	}
	tlsrec_shutdown(&r, sv[0]);
out:
	tlsrec_clear(&r);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
