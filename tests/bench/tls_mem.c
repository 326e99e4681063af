/*
 * tls_mem — where the memory of an idle server-side TLS connection goes.
 *
 * Opens N connections over socketpairs between common/tls's server and a
 * client context in this process, completes the handshakes, exchanges one
 * small record each way (so TLS 1.3 tickets and the first reads are done),
 * then prints the bytes OpenSSL still holds per server connection, by
 * allocation site (CRYPTO_set_mem_functions records file:line), and the
 * heap growth per connection as glibc sees it (mallinfo2: what the bench's
 * RSS figure is made of).  The client side's allocations are counted apart.
 * Then the server connections are parked (tls_conn_park) and the same is
 * printed again, and once more after one more exchange and going idle.
 *
 *   tls_mem cert.pem key.pem [N [tls12]]
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "tls.h"

#define TABLE (1 << 22)

struct rec {
	void *p;
	size_t size;
	const char *file;
	int line;
	int side;		/* 0 server, 1 client, 2 other */
};

static struct rec *table;
static int side = 2;

static size_t
slot(const void *p)
{
	uintptr_t h = (uintptr_t)p;

	h ^= h >> 17;
	h *= 0x9e3779b97f4a7c15ULL;
	return (size_t)(h >> 20) & (TABLE - 1);
}

static void
rec_add(void *p, size_t size, const char *file, int line)
{
	size_t i = slot(p);

	while (table[i].p != NULL && table[i].p != (void *)1)
		i = (i + 1) & (TABLE - 1);
	table[i] = (struct rec){ p, size, file, line, side };
}

static struct rec *
rec_find(void *p)
{
	size_t i = slot(p);

	while (table[i].p != NULL) {
		if (table[i].p == p)
			return &table[i];
		i = (i + 1) & (TABLE - 1);
	}
	return NULL;
}

static void *
m_malloc(size_t n, const char *file, int line)
{
	void *p = malloc(n);

	if (p)
		rec_add(p, n, file, line);
	return p;
}

static void
m_free(void *p, const char *file, int line)
{
	struct rec *r;

	(void)file;
	(void)line;
	if (p && (r = rec_find(p)) != NULL)
		r->p = (void *)1;	/* tombstone */
	free(p);
}

static void *
m_realloc(void *p, size_t n, const char *file, int line)
{
	struct rec *r = p ? rec_find(p) : NULL;
	int s = r ? r->side : side;
	void *q;

	q = realloc(p, n);
	if (q == NULL)
		return NULL;
	if (r)
		r->p = (void *)1;
	{
		int keep = side;

		side = s;
		rec_add(q, n, file, line);
		side = keep;
	}
	return q;
}

struct site {
	const char *file;
	int line;
	size_t bytes, count;
};

static int
site_cmp(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

static void
report(int which, size_t nconn)
{
	static struct site sites[4096];
	size_t nsites = 0, total = 0, count = 0;

	for (size_t i = 0; i < TABLE; i++) {
		struct rec *r = &table[i];
		size_t k;

		if (r->p == NULL || r->p == (void *)1 || r->side != which)
			continue;
		for (k = 0; k < nsites; k++)
			if (sites[k].line == r->line && strcmp(sites[k].file, r->file) == 0)
				break;
		if (k == nsites) {
			if (nsites == 4096)
				continue;
			sites[nsites++] = (struct site){ r->file, r->line, 0, 0 };
		}
		sites[k].bytes += r->size;
		sites[k].count++;
		total += r->size;
		count++;
	}
	qsort(sites, nsites, sizeof(sites[0]), site_cmp);
	printf("%s: %.0f bytes in %.1f allocations per connection\n",
	    which == 0 ? "server" : "client", (double)total / nconn, (double)count / nconn);
	for (size_t k = 0; k < nsites && k < 25; k++)
		if (sites[k].bytes / nconn >= 8)
			printf("  %7.0f B %5.1f x  %s:%d\n", (double)sites[k].bytes / nconn,
			    (double)sites[k].count / nconn, sites[k].file, sites[k].line);
}

static int
pump(struct tls_conn *s, struct tls_conn *c)
{
	for (int i = 0; i < 100; i++) {
		int rs, rc;

		side = 0;
		rs = tls_handshake(s);
		side = 1;
		rc = tls_handshake(c);
		side = 2;
		if (rs == TLS_OK && rc == TLS_OK)
			return 0;
		if (rs == TLS_ERROR || rc == TLS_ERROR)
			return -1;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	struct tls_cert_conf cert;
	struct tls_server_conf sc = { .certs = &cert, .ncerts = 1 };
	struct tls_client_conf cc = { 0 };
	struct tls_server *srv;
	struct tls_conn **s, **c;
	SSL_CTX *cctx;
	size_t n;
	char err[256], buf[256];
	struct mallinfo2 m0, m1;

	if (argc < 3) {
		fprintf(stderr, "usage: tls_mem cert.pem key.pem [N [tls12]]\n");
		return 2;
	}
	n = argc > 3 ? (size_t)atol(argv[3]) : 1000;
	if ((table = calloc(TABLE, sizeof(*table))) == NULL ||
	    !CRYPTO_set_mem_functions(m_malloc, m_realloc, m_free))
		return 1;
	cert = (struct tls_cert_conf){ argv[1], argv[2] };
	if ((srv = tls_server_new(&sc, err, sizeof(err))) == NULL ||
	    (cctx = tls_client_ctx_new(&cc, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (argc > 4 && strcmp(argv[4], "tls12") == 0)
		SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
	s = calloc(n, sizeof(*s));
	c = calloc(n, sizeof(*c));
	/* one warm-up connection: lazily built tables are not per connection */
	for (int warm = 1; warm >= 0; warm--) {
		size_t count = warm ? 1 : n;

		if (!warm)
			m0 = mallinfo2();
		for (size_t i = 0; i < count; i++) {
			int sv[2];

			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
				return 1;
			side = 0;
			s[i] = tls_conn_server(srv, sv[0]);
			side = 1;
			c[i] = tls_conn_client(cctx, sv[1], "localhost", NULL);
			side = 2;
			if (pump(s[i], c[i]) < 0) {
				fprintf(stderr, "handshake failed: %s\n", tls_conn_error(s[i]));
				return 1;
			}
			side = 0;
			tls_write(s[i], "<hello/>", 8);
			side = 1;
			tls_read(c[i], buf, sizeof(buf));	/* tickets + data */
			tls_write(c[i], "<hi/>", 5);
			tls_read(c[i], buf, sizeof(buf));
			side = 0;
			tls_read(s[i], buf, sizeof(buf));
			tls_read(s[i], buf, sizeof(buf));
			side = 2;
			if (warm) {
				tls_conn_free(s[i]);
				tls_conn_free(c[i]);
				close(sv[0]);
				close(sv[1]);
			}
		}
	}
	m1 = mallinfo2();
	printf("%zu connections, %s, %s, server session cache %ld\n", n, tls_conn_version(s[0]), tls_conn_cipher(s[0]), SSL_CTX_sess_number(tls_server_ctx(srv)));
	printf("heap growth (server + client + socketpairs): %.0f bytes per connection\n",
	    (double)(m1.uordblks - m0.uordblks) / n);
	report(0, n);
	report(1, n);
	{
		size_t parked = 0;

		side = 0;
		for (size_t i = 0; i < n; i++)
			parked += tls_conn_park(s[i]) == 0;
		side = 2;
		m0 = mallinfo2();
		printf("\nparked %zu of %zu; heap change %.0f bytes per connection\n", parked, n,
		    ((double)m0.uordblks - (double)m1.uordblks) / n);
		report(0, n);
		for (size_t i = 0; i < n; i++) {
			side = 0;
			tls_write(s[i], "<more/>", 7);
			side = 1;
			tls_read(c[i], buf, sizeof(buf));
			tls_write(c[i], "<ok/>", 5);
			side = 0;
			tls_read(s[i], buf, sizeof(buf));
			tls_read(s[i], buf, sizeof(buf));
			tls_conn_park(s[i]);
			side = 2;
		}
		printf("after one more exchange, idle again:\n");
		report(0, n);
	}
	return 0;
}
