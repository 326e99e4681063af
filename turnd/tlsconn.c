/*
 * tlsconn — TLS for TURNS on OpenSSL.  See tlsconn.h.
 *
 * Each connection holds a reference to the SSL_CTX it was accepted with,
 * so a reload swaps in a new context for new connections while existing
 * ones (and their allocations) keep running on the old one.
 */
#include "tlsconn.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tlsconn {
	SSL *ssl;
	bool ready;
	bool want_write;
};

static void
ssl_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[200];

	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s", what, e ? buf : "failed");
	ERR_clear_error();
}

void *
tlsconn_ctx_new(const char *cert, const char *key, const char *dhparams,
    char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char what[600];

	if (ctx == NULL) {
		ssl_err(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_cipher_list(ctx,
	    "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!SHA1");
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(what, sizeof(what), "%s", cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(what, sizeof(what), "%s", key);
		goto fail;
	}
	if (dhparams != NULL) {
		BIO *b = BIO_new_file(dhparams, "r");
		EVP_PKEY *dh = b ? PEM_read_bio_Parameters(b, NULL) : NULL;

		BIO_free(b);
		if (dh == NULL || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
			EVP_PKEY_free(dh);
			snprintf(what, sizeof(what), "%s", dhparams);
			goto fail;
		}
	} else {
		SSL_CTX_set_dh_auto(ctx, 1);
	}
	return ctx;
fail:
	ssl_err(err, errlen, what);
	SSL_CTX_free(ctx);
	return NULL;
}

void
tlsconn_ctx_free(void *ctx)
{
	SSL_CTX_free(ctx);
}

struct tlsconn *
tlsconn_new(void *ctx, int fd)
{
	struct tlsconn *t;

	if (ctx == NULL || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((t->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(t->ssl, fd) != 1) {
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_accept_state(t->ssl);
	return t;
}

void
tlsconn_free(struct tlsconn *t)
{
	if (t->ready)
		SSL_shutdown(t->ssl);
	SSL_free(t->ssl);
	ERR_clear_error();
	free(t);
}

/* Maps an SSL result: 0 would block, -1 fatal. */
static int
retry(struct tlsconn *t, int r)
{
	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		t->want_write = false;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		t->want_write = true;
		return 0;
	default:
		ERR_clear_error();
		return -1;
	}
}

int
tlsconn_handshake(struct tlsconn *t)
{
	int r = SSL_do_handshake(t->ssl);

	if (r == 1) {
		t->ready = true;
		t->want_write = false;
		return 1;
	}
	return retry(t, r);
}

bool
tlsconn_ready(const struct tlsconn *t)
{
	return t->ready;
}

bool
tlsconn_wants_write(const struct tlsconn *t)
{
	return t->want_write;
}

ssize_t
tlsconn_read(struct tlsconn *t, void *buf, size_t len)
{
	int r = SSL_read(t->ssl, buf, len > 0x7FFFFFFF ? 0x7FFFFFFF : (int)len);

	if (r > 0) {
		t->want_write = false;
		return r;
	}
	return retry(t, r);
}

ssize_t
tlsconn_write(struct tlsconn *t, const void *buf, size_t len)
{
	int r;

	if (len == 0)
		return 0;
	r = SSL_write(t->ssl, buf, len > 0x7FFFFFFF ? 0x7FFFFFFF : (int)len);
	if (r > 0) {
		t->want_write = false;
		return r;
	}
	return retry(t, r);
}

const char *
tlsconn_version(const struct tlsconn *t)
{
	return SSL_get_version(t->ssl);
}
