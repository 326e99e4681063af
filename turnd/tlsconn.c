/*
 * tlsconn — TURNS on common/tls.  See tlsconn.h.
 */
#include "tlsconn.h"
#include "config.h"
#include "tls.h"

#include <openssl/bio.h>
#include <stdlib.h>

/* RFC 7443: the ALPN label of STUN/TURN over TLS. */
static const char *const alpn[] = { "stun.turn" };

/* TLS 1.3 suites: AES-128-GCM first, it is as safe and cheaper per packet. */
#define TURND_SUITES \
	"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"

#define WBUF_SIZE (32 * 1024)

struct tlsconn {
	struct tls_conn *c;
	BIO *wbuf;		/* buffering BIO between records and socket */
	bool want_write;
};

static void
server_conf(const struct turnd_config *c, struct tls_cert_conf *cert,
    struct tls_server_conf *sc)
{
	cert->cert_file = c->tls_cert;
	cert->key_file = c->tls_key;
	*sc = (struct tls_server_conf){
		.certs = cert,
		.ncerts = 1,
		.dh_file = c->tls_dhparams,
		.ciphersuites = TURND_SUITES,
		.alpn = alpn,
		.nalpn = 1,
	};
}

struct tls_server *
tlsconn_server_new(const struct turnd_config *c, char *err, size_t errlen)
{
	struct tls_cert_conf cert;
	struct tls_server_conf sc;

	server_conf(c, &cert, &sc);
	return tls_server_new(&sc, err, errlen);
}

int
tlsconn_server_reload(struct tls_server *srv, const struct turnd_config *c,
    char *err, size_t errlen)
{
	struct tls_cert_conf cert;
	struct tls_server_conf sc;

	server_conf(c, &cert, &sc);
	return tls_server_reload(srv, &sc, err, errlen);
}

void
tlsconn_server_free(struct tls_server *srv)
{
	tls_server_free(srv);
}

struct tlsconn *
tlsconn_new(struct tls_server *srv, int fd)
{
	struct tlsconn *t;

	if (srv == NULL || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((t->c = tls_conn_server(srv, fd)) == NULL) {
		free(t);
		return NULL;
	}
	/* Records are written into a buffer chained in front of the socket
	 * BIO; OpenSSL flushes it after each handshake flight, we after each
	 * batch of application data. */
	{
		SSL *ssl = tls_conn_ssl(t->c);
		BIO *sock = SSL_get_wbio(ssl);
		BIO *b = BIO_new(BIO_f_buffer());

		if (b == NULL || sock == NULL || BIO_set_write_buffer_size(b, WBUF_SIZE) != 1 ||
		    BIO_up_ref(sock) != 1) {
			BIO_free(b);
			tls_conn_free(t->c);
			free(t);
			return NULL;
		}
		BIO_push(b, sock);
		SSL_set0_wbio(ssl, b);
		t->wbuf = b;
	}
	return t;
}

int
tlsconn_flush(struct tlsconn *t)
{
	if (BIO_wpending(t->wbuf) == 0)
		return 1;
	if (BIO_flush(t->wbuf) == 1)
		return 1;
	if (BIO_should_retry(t->wbuf)) {
		t->want_write = true;
		return 0;
	}
	return -1;
}

bool
tlsconn_readable(struct tlsconn *t)
{
	return tls_pending(t->c) > 0;
}

bool
tlsconn_pending(const struct tlsconn *t)
{
	return BIO_wpending(t->wbuf) > 0;
}

void
tlsconn_free(struct tlsconn *t)
{
	if (tls_handshake_done(t->c) && tls_shutdown(t->c) == TLS_OK)
		(void)BIO_flush(t->wbuf);	/* best effort close_notify */
	tls_conn_free(t->c);
	free(t);
}

/* Maps a common/tls result: 0 would block, -1 fatal. */
static ssize_t
retry(struct tlsconn *t, ssize_t r)
{
	if (r == TLS_WANT_READ) {
		t->want_write = false;
		return 0;
	}
	if (r == TLS_WANT_WRITE) {
		t->want_write = true;
		return 0;
	}
	return -1;
}

int
tlsconn_handshake(struct tlsconn *t)
{
	int r = tls_handshake(t->c);

	if (r == TLS_OK) {
		t->want_write = false;
		return 1;
	}
	return (int)retry(t, r);
}

bool
tlsconn_ready(const struct tlsconn *t)
{
	return tls_handshake_done(t->c);
}

bool
tlsconn_wants_write(const struct tlsconn *t)
{
	return t->want_write;
}

ssize_t
tlsconn_read(struct tlsconn *t, void *buf, size_t len)
{
	ssize_t r = tls_read(t->c, buf, len);

	if (r > 0) {
		t->want_write = false;
		return r;
	}
	if (r == 0)
		return -1;	/* close_notify or EOF */
	return retry(t, r);
}

ssize_t
tlsconn_write(struct tlsconn *t, const void *buf, size_t len)
{
	ssize_t r = tls_write(t->c, buf, len);

	if (r > 0) {
		t->want_write = false;
		return r;
	}
	if (r == 0)
		return 0;
	return retry(t, r);
}

const char *
tlsconn_version(const struct tlsconn *t)
{
	return tls_conn_version(t->c);
}
