/*
 * tls — OpenSSL server/client contexts and non-blocking connections.
 * See tls.h for the contract.
 *
 * The server keeps a "context set": one SSL_CTX per certificate plus the
 * DNS names each certificate covers.  The SNI callback (installed on every
 * context of the set) looks the requested name up in the set that is
 * current when the ClientHello arrives and switches the SSL to it.  Reload
 * builds a complete new set first and swaps it in only when every file
 * loaded; OpenSSL's reference counting keeps old contexts alive for the
 * connections still using them.
 *
 * Parking (tls_conn_park): a message callback counts the records each
 * server connection reads and writes, and the key log callback hands over
 * the TLS 1.3 application traffic secrets, noting how many records had
 * been written when the server's write key changed to them (the server's
 * Finished is on its way by then); the client's records under the new key
 * start when the handshake completes.  With both counts the record layer
 * can continue in tlsrec.c without OpenSSL.  A connection on which
 * OpenSSL has seen any post-handshake message (a KeyUpdate) stays with
 * OpenSSL, as does one with a record half read or half written.
 */
#include "tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tlsrec.h"
#include "tlsticket.h"

struct tls_ctxset {
	SSL_CTX **ctx;
	char ***names;		/* per ctx, NULL-terminated DNS names */
	size_t n;
};

struct tls_server {
	struct tls_ctxset *set;
	unsigned char *alpn_wire;	/* length-prefixed list */
	size_t alpn_len;
	bool alpn_strict;
	struct tlsticket_keys *tickets;	/* NULL: OpenSSL's own keys, per context */
};

struct tls_conn {
	SSL *ssl;		/* NULL once parked */
	int fd;
	bool parked;		/* rec carries the connection */
	bool is_server;
	bool done;
	bool shut_sent;
	bool no_park;		/* OpenSSL saw a post-handshake message */
	bool write_blocked;	/* OpenSSL holds a partly written record */
	uint8_t seclen;		/* application secrets captured (0: none) */
	uint64_t rrec, wrec;	/* records read / written so far */
	uint64_t rmark, wmark;	/* ... when the application keys took over */
	const char *version, *cipher;	/* once parked (OpenSSL's static names) */
	char *alpn, *sni;	/* server: copied at the handshake; NULL when none */
	char *err;		/* allocated at the first error */
	struct tls_rec rec;	/* secrets from the key log; the records once parked */
};

#define ERR_LEN 160

static pthread_once_t idx_once = PTHREAD_ONCE_INIT;
static int conn_idx = -1;	/* SSL ex_data slot: the tls_conn */
static int srv_idx = -1;	/* SSL_CTX ex_data slot: the tls_server */

static void
idx_init(void)
{
	conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	srv_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* c's error buffer (a static one if there is no memory for it). */
static char *
conn_err(struct tls_conn *c)
{
	static char fallback[ERR_LEN];

	if (c->err == NULL && (c->err = malloc(ERR_LEN)) == NULL)
		return fallback;
	return c->err;
}

static void
set_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[120];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, errlen, "%s: %s", what, buf);
	} else {
		snprintf(err, errlen, "%s", what);
	}
	ERR_clear_error();
}

/* ---- names covered by a certificate ---- */

static int
names_add(char ***v, size_t *n, const char *s, size_t len)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(*nv));

	if (nv == NULL)
		return -1;
	*v = nv;
	if ((nv[*n] = strndup(s, len)) == NULL)
		return -1;
	nv[++*n] = NULL;
	return 0;
}

static char **
cert_names(X509 *x)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char **v = calloc(1, sizeof(*v));
	size_t n = 0;

	if (v == NULL)
		return NULL;
	if (gens != NULL) {
		for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

			if (g->type != GEN_DNS)
				continue;
			names_add(&v, &n, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
			    (size_t)ASN1_STRING_length(g->d.dNSName));
		}
		GENERAL_NAMES_free(gens);
	}
	if (n == 0) {
		char cn[256];
		int l = X509_NAME_get_text_by_NID(X509_get_subject_name(x),
		    NID_commonName, cn, sizeof(cn));

		if (l > 0)
			names_add(&v, &n, cn, (size_t)l);
	}
	return v;
}

static bool
name_matches(const char *pattern, const char *host)
{
	if (strcasecmp(pattern, host) == 0)
		return true;
	/* "*.example.org" covers exactly one label. */
	if (pattern[0] == '*' && pattern[1] == '.') {
		const char *dot = strchr(host, '.');

		return dot != NULL && dot != host && strcasecmp(dot, pattern + 1) == 0;
	}
	return false;
}

static void
ctxset_free(struct tls_ctxset *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		SSL_CTX_free(s->ctx[i]);
		if (s->names && s->names[i]) {
			for (char **p = s->names[i]; *p; p++)
				free(*p);
			free(s->names[i]);
		}
	}
	free(s->ctx);
	free(s->names);
	free(s);
}

/* ---- callbacks ---- */

static int
sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_server *srv = arg;
	const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	struct tls_ctxset *s = srv->set;

	(void)alert;
	if (host == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	for (size_t i = 0; i < s->n; i++)
		for (char **p = s->names[i]; p && *p; p++)
			if (name_matches(*p, host)) {
				if (SSL_get_SSL_CTX(ssl) != s->ctx[i])
					SSL_set_SSL_CTX(ssl, s->ctx[i]);
				return SSL_TLSEXT_ERR_OK;
			}
	/* Unknown name: keep the default certificate. */
	return SSL_TLSEXT_ERR_OK;
}

static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	struct tls_server *srv = arg;
	unsigned char *sel;

	(void)ssl;
	if (srv->alpn_len == 0)
		return SSL_TLSEXT_ERR_NOACK;
	if (SSL_select_next_proto(&sel, outlen, srv->alpn_wire,
	    (unsigned)srv->alpn_len, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
		*out = sel;
		return SSL_TLSEXT_ERR_OK;
	}
	/* RFC 7301 §3.2: no_application_protocol when we insist. */
	return srv->alpn_strict ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK;
}

static unsigned char *
alpn_wire(const char *const *alpn, size_t n, size_t *len)
{
	unsigned char *w;
	size_t total = 0, off = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(alpn[i]);
		if (l == 0 || l > 255)
			return NULL;
		total += 1 + l;
	}
	if ((w = malloc(total ? total : 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(alpn[i]);
		w[off++] = (unsigned char)l;
		memcpy(w + off, alpn[i], l);
		off += l;
	}
	*len = total;
	return w;
}

/* Counts records; a post-handshake message read keeps OpenSSL in charge. */
static void
msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
    SSL *ssl, void *arg)
{
	struct tls_conn *c = SSL_get_ex_data(ssl, conn_idx);
	const unsigned char *p = buf;

	(void)version;
	(void)arg;
	if (c == NULL)
		return;
	if (content_type == SSL3_RT_HEADER) {
		if (write_p)
			c->wrec++;
		else
			c->rrec++;
		return;
	}
	/* our own tickets may be written after the handshake; nothing else */
	if (content_type == SSL3_RT_HANDSHAKE && c->done && len > 0 &&
	    !(write_p && p[0] == SSL3_MT_NEWSESSION_TICKET))
		c->no_park = true;
}

static int
hex_secret(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex);

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char h = hex[i];
		int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 :
		    h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;

		if (v < 0)
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return (int)(n / 2);
}

/*
 * "SERVER_TRAFFIC_SECRET_0 <client random> <secret>" and the CLIENT_ one
 * (NSS key log format): the secrets parking needs.
 */
static void
keylog_cb(const SSL *ssl, const char *line)
{
	struct tls_conn *c = SSL_get_ex_data(ssl, conn_idx);
	bool server_secret = strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0;
	const char *hex;
	int n;

	if (c == NULL || !c->is_server || (!server_secret &&
	    strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) != 0) ||
	    (hex = strrchr(line, ' ')) == NULL)
		return;
	n = hex_secret(hex + 1, server_secret ? c->rec.wr.secret : c->rec.rd.secret,
	    sizeof(c->rec.rd.secret));
	if (n <= 0 || (c->seclen != 0 && c->seclen != n)) {
		c->no_park = true;
		return;
	}
	c->seclen = (uint8_t)n;
	if (server_secret)
		c->wmark = c->wrec;	/* our Finished was the last handshake record */
}

/* ---- contexts ---- */

static int
ctx_common(SSL_CTX *ctx, bool tls13_only, const char *ciphers,
    const char *suites, char *err, size_t errlen)
{
	SSL_CTX_set_min_proto_version(ctx, tls13_only ? TLS1_3_VERSION :
	    TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_set_cipher_list(ctx, ciphers ? ciphers : TLS_DEFAULT_CIPHERS) != 1) {
		set_err(err, errlen, "ciphers");
		return -1;
	}
	if (suites != NULL && SSL_CTX_set_ciphersuites(ctx, suites) != 1) {
		set_err(err, errlen, "ciphersuites");
		return -1;
	}
	return 0;
}

static int
load_dh(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	EVP_PKEY *dh = NULL;
	BIO *b;

	if (path == NULL) {
		SSL_CTX_set_dh_auto(ctx, 1);
		return 0;
	}
	if ((b = BIO_new_file(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		ERR_clear_error();
		return -1;
	}
	dh = PEM_read_bio_Parameters(b, NULL);
	BIO_free(b);
	if (dh == NULL || EVP_PKEY_get_base_id(dh) != EVP_PKEY_DH) {
		EVP_PKEY_free(dh);
		snprintf(err, errlen, "%s: no DH parameters in file", path);
		ERR_clear_error();
		return -1;
	}
	if (SSL_CTX_set0_tmp_dh_pkey(ctx, dh) != 1) {
		EVP_PKEY_free(dh);
		set_err(err, errlen, path);
		return -1;
	}
	return 0;
}

/* ---- session tickets: keys from a file (tlsticket.c) ---- */

static int
ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_server *srv = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), srv_idx);

	return tlsticket_crypt(srv ? srv->tickets : NULL, name, iv, cctx, hctx, enc);
}

static SSL_CTX *
server_ctx(struct tls_server *srv, const struct tls_server_conf *conf,
    const struct tls_cert_conf *cc, char *err, size_t errlen)
{
	static const unsigned char sid_ctx[] = "edge";
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char what[300];

	if (ctx == NULL) {
		set_err(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	if (ctx_common(ctx, conf->tls13_only, conf->ciphers, conf->ciphersuites,
	    err, errlen) < 0)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, cc->cert_file) != 1) {
		snprintf(what, sizeof(what), "certificate %s", cc->cert_file);
		set_err(err, errlen, what);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cc->key_file, SSL_FILETYPE_PEM) != 1) {
		snprintf(what, sizeof(what), "key %s", cc->key_file);
		set_err(err, errlen, what);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(what, sizeof(what), "key %s does not match certificate %s",
		    cc->key_file, cc->cert_file);
		set_err(err, errlen, what);
		goto fail;
	}
	if (load_dh(ctx, conf->dh_file, err, errlen) < 0)
		goto fail;
	if (conf->client_ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, conf->client_ca_file, NULL) != 1) {
			snprintf(what, sizeof(what), "CA file %s", conf->client_ca_file);
			set_err(err, errlen, what);
			goto fail;
		}
		/* Ask, but let the protocol decide what an absent cert means. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	/*
	 * Nothing in the server-side session cache: resumption works with
	 * stateless tickets (TLS 1.2 and 1.3; OpenSSL issues them only while
	 * server caching is on), and no closed connection leaves a session
	 * behind in memory.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER |
	    SSL_SESS_CACHE_NO_INTERNAL);
	SSL_CTX_set_msg_callback(ctx, msg_cb);
	SSL_CTX_set_keylog_callback(ctx, keylog_cb);
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, srv);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, srv);
	/* one ticket is what a client resuming its one connection needs */
	SSL_CTX_set_num_tickets(ctx, 1);
	/* our keys when configured: tickets survive a reload or a restart
	 * (and, later, work on another node with the same file); resumption
	 * is PSK with (EC)DHE only (SSL_OP_ALLOW_NO_DHE_KEX stays off), and
	 * no early data (max_early_data 0, OpenSSL's default) */
	pthread_once(&idx_once, idx_init);
	SSL_CTX_set_ex_data(ctx, srv_idx, srv);
	if (conf->ticket_key_file)
		SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static struct tls_ctxset *
ctxset_new(struct tls_server *srv, const struct tls_server_conf *conf,
    char *err, size_t errlen)
{
	struct tls_ctxset *s = calloc(1, sizeof(*s));

	if (conf->ncerts == 0) {
		snprintf(err, errlen, "no certificate configured");
		free(s);
		return NULL;
	}
	if (s == NULL || (s->ctx = calloc(conf->ncerts, sizeof(*s->ctx))) == NULL ||
	    (s->names = calloc(conf->ncerts, sizeof(*s->names))) == NULL) {
		snprintf(err, errlen, "out of memory");
		ctxset_free(s);
		return NULL;
	}
	for (size_t i = 0; i < conf->ncerts; i++) {
		s->n = i + 1;
		if ((s->ctx[i] = server_ctx(srv, conf, &conf->certs[i], err,
		    errlen)) == NULL) {
			ctxset_free(s);
			return NULL;
		}
		s->names[i] = cert_names(SSL_CTX_get0_certificate(s->ctx[i]));
	}
	return s;
}

static int
server_apply_alpn(struct tls_server *srv, const struct tls_server_conf *conf,
    char *err, size_t errlen)
{
	unsigned char *w = NULL;
	size_t len = 0;

	if (conf->nalpn > 0 && (w = alpn_wire(conf->alpn, conf->nalpn, &len)) == NULL) {
		snprintf(err, errlen, "invalid ALPN protocol list");
		return -1;
	}
	free(srv->alpn_wire);
	srv->alpn_wire = w;
	srv->alpn_len = len;
	srv->alpn_strict = conf->alpn_strict;
	return 0;
}

struct tls_server *
tls_server_new(const struct tls_server_conf *conf, char *err, size_t errlen)
{
	struct tls_server *srv = calloc(1, sizeof(*srv));

	if (srv == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (conf->ticket_key_file &&
	    (srv->tickets = tlsticket_load(conf->ticket_key_file, err, errlen)) == NULL) {
		tls_server_free(srv);
		return NULL;
	}
	if (server_apply_alpn(srv, conf, err, errlen) < 0 ||
	    (srv->set = ctxset_new(srv, conf, err, errlen)) == NULL) {
		tls_server_free(srv);
		return NULL;
	}
	return srv;
}

int
tls_server_reload(struct tls_server *srv, const struct tls_server_conf *conf,
    char *err, size_t errlen)
{
	struct tlsticket_keys *t = NULL;
	struct tls_ctxset *s;

	/* the key file is re-read: rotation is a new first line, SIGHUP */
	if (conf->ticket_key_file &&
	    (t = tlsticket_load(conf->ticket_key_file, err, errlen)) == NULL)
		return -1;
	if ((s = ctxset_new(srv, conf, err, errlen)) == NULL) {
		tlsticket_free(t);
		return -1;
	}
	if (server_apply_alpn(srv, conf, err, errlen) < 0) {
		tlsticket_free(t);
		ctxset_free(s);
		return -1;
	}
	ctxset_free(srv->set);
	srv->set = s;
	tlsticket_free(srv->tickets);
	srv->tickets = t;
	return 0;
}

void
tls_server_free(struct tls_server *srv)
{
	if (srv == NULL)
		return;
	ctxset_free(srv->set);
	free(srv->alpn_wire);
	tlsticket_free(srv->tickets);
	free(srv);
}

SSL_CTX *
tls_server_ctx(struct tls_server *srv)
{
	return srv->set->ctx[0];
}

SSL_CTX *
tls_client_ctx_new(const struct tls_client_conf *conf, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char what[300];

	if (ctx == NULL) {
		set_err(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	if (ctx_common(ctx, false, NULL, NULL, err, errlen) < 0)
		goto fail;
	if (conf->ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, conf->ca_file, NULL) != 1) {
			snprintf(what, sizeof(what), "CA file %s", conf->ca_file);
			set_err(err, errlen, what);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		set_err(err, errlen, "default trust store");
		goto fail;
	}
	SSL_CTX_set_verify(ctx, conf->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	if (conf->cert_file != NULL &&
	    (SSL_CTX_use_certificate_chain_file(ctx, conf->cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, conf->key_file, SSL_FILETYPE_PEM) != 1)) {
		snprintf(what, sizeof(what), "client certificate %s", conf->cert_file);
		set_err(err, errlen, what);
		goto fail;
	}
	if (conf->nalpn > 0) {
		size_t len;
		unsigned char *w = alpn_wire(conf->alpn, conf->nalpn, &len);

		if (w == NULL || SSL_CTX_set_alpn_protos(ctx, w, (unsigned)len) != 0) {
			free(w);
			snprintf(err, errlen, "invalid ALPN protocol list");
			goto fail;
		}
		free(w);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* ---- connections ---- */

static struct tls_conn *
conn_new(SSL_CTX *ctx, int fd, bool is_server)
{
	struct tls_conn *c = calloc(1, sizeof(*c));

	pthread_once(&idx_once, idx_init);
	if (c == NULL)
		return NULL;
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, fd) != 1 ||
	    SSL_set_ex_data(c->ssl, conn_idx, c) != 1) {
		SSL_free(c->ssl);
		free(c);
		ERR_clear_error();
		return NULL;
	}
	c->fd = fd;
	c->is_server = is_server;
	if (is_server)
		SSL_set_accept_state(c->ssl);
	else
		SSL_set_connect_state(c->ssl);
	return c;
}

struct tls_conn *
tls_conn_server(struct tls_server *srv, int fd)
{
	return conn_new(tls_server_ctx(srv), fd, true);
}

struct tls_conn *
tls_conn_client(SSL_CTX *ctx, int fd, const char *sni, const char *verify_name)
{
	struct tls_conn *c = conn_new(ctx, fd, false);

	if (c == NULL)
		return NULL;
	if ((sni != NULL && SSL_set_tlsext_host_name(c->ssl, sni) != 1) ||
	    (verify_name != NULL && SSL_set1_host(c->ssl, verify_name) != 1)) {
		tls_conn_free(c);
		ERR_clear_error();
		return NULL;
	}
	return c;
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	SSL_free(c->ssl);
	tlsrec_clear(&c->rec);
	free(c->alpn);
	free(c->sni);
	free(c->err);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

static char *
dup_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

int
tls_conn_park(struct tls_conn *c)
{
	const SSL_CIPHER *cipher;
	uint16_t suite;

	if (c->parked) {
		tlsrec_idle(&c->rec);
		return 0;
	}
	if (!c->is_server || !c->done || c->shut_sent || c->no_park ||
	    c->write_blocked || c->seclen == 0 ||
	    SSL_version(c->ssl) != TLS1_3_VERSION || SSL_has_pending(c->ssl) ||
	    strcmp(SSL_rstate_string(c->ssl), "RH") != 0 ||
	    (cipher = SSL_get_current_cipher(c->ssl)) == NULL)
		return -1;
	suite = (uint16_t)SSL_CIPHER_get_protocol_id(cipher);
	if (!tlsrec_suite_ok(suite))
		return -1;
	if (tlsrec_start(&c->rec, suite, c->seclen, c->rrec - c->rmark,
	    c->wrec - c->wmark) < 0) {
		c->no_park = true;
		return -1;
	}
	c->version = SSL_get_version(c->ssl);
	c->cipher = SSL_CIPHER_get_name(cipher);
	SSL_free(c->ssl);
	c->ssl = NULL;
	c->parked = true;
	return 0;
}

bool
tls_conn_parked(const struct tls_conn *c)
{
	return c->parked;
}

void
tls_set_keyupdate_budget(size_t bytes)
{
	tlsrec_set_budget(bytes);
}

size_t
tls_keyupdate_queued(void)
{
	return tlsrec_queued();
}

/* Maps an SSL_* result to our codes, recording a readable error. */
static int
map_result(struct tls_conn *c, int ret)
{
	int e = SSL_get_error(c->ssl, ret);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			if (errno == 0 || errno == ECONNRESET || errno == EPIPE) {
				snprintf(conn_err(c), ERR_LEN, "%s",
				    errno ? strerror(errno) : "connection closed");
				return errno == 0 ? 0 : TLS_ERROR;
			}
			snprintf(conn_err(c), ERR_LEN, "%s", strerror(errno));
			return TLS_ERROR;
		}
		/* FALLTHROUGH */
	default:
		if (SSL_get_verify_result(c->ssl) != X509_V_OK && !c->done)
			snprintf(conn_err(c), ERR_LEN, "certificate verify failed: %s",
			    X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
		else
			set_err(conn_err(c), ERR_LEN, "TLS");
		ERR_clear_error();
		return TLS_ERROR;
	}
}

int
tls_handshake(struct tls_conn *c)
{
	int r;

	if (c->done)
		return TLS_OK;
	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->done = true;
		c->rmark = c->rrec;	/* the client's Finished was the last one */
		if (c->is_server) {
			/* kept for tls_conn_alpn/sni once parked (small: now, not then) */
			c->alpn = dup_or_null(tls_conn_alpn(c));
			c->sni = dup_or_null(tls_conn_sni(c));
		}
		return TLS_OK;
	}
	r = map_result(c, r);
	if (r == 0) {
		snprintf(conn_err(c), ERR_LEN, "connection closed during handshake");
		return TLS_ERROR;
	}
	return r;
}

/* A reason from tlsrec as this connection's error. */
static ssize_t
rec_result(struct tls_conn *c, ssize_t r, const char *why)
{
	if (r == TLS_ERROR)
		snprintf(conn_err(c), ERR_LEN, "TLS: %s", why ? why : "error");
	return r;
}

ssize_t
tls_read(struct tls_conn *c, void *buf, size_t len)
{
	const char *why = NULL;
	size_t n = 0;

	ssize_t r;

	if (c->parked) {
		r = tlsrec_read(&c->rec, c->fd, buf, len, &why);
		return rec_result(c, r, why);
	}
	ERR_clear_error();
	errno = 0;
	if (SSL_read_ex(c->ssl, buf, len, &n) == 1)
		return (ssize_t)n;
	return map_result(c, 0);
}

ssize_t
tls_write(struct tls_conn *c, const void *buf, size_t len)
{
	const char *why = NULL;
	size_t n = 0;
	int r;

	if (len == 0)
		return 0;
	if (c->parked) {
		ssize_t w = tlsrec_write(&c->rec, c->fd, buf, len, &why);

		return rec_result(c, w, why);
	}
	ERR_clear_error();
	errno = 0;
	if (SSL_write_ex(c->ssl, buf, len, &n) == 1) {
		c->write_blocked = false;
		return (ssize_t)n;
	}
	r = map_result(c, 0);
	c->write_blocked = r == TLS_WANT_READ || r == TLS_WANT_WRITE;
	return r == 0 ? TLS_ERROR : r;
}

int
tls_shutdown(struct tls_conn *c)
{
	int r;

	if (c->shut_sent || !c->done)
		return TLS_OK;
	if (c->parked) {
		c->shut_sent = true;
		return tlsrec_shutdown(&c->rec, c->fd);
	}
	ERR_clear_error();
	errno = 0;
	r = SSL_shutdown(c->ssl);
	if (r >= 0) {
		c->shut_sent = true;
		return TLS_OK;
	}
	r = map_result(c, r);
	return r == 0 ? TLS_OK : r;
}

size_t
tls_pending(struct tls_conn *c)
{
	int n;

	if (c->parked)
		return tlsrec_pending(&c->rec);
	n = SSL_pending(c->ssl);

	return n > 0 ? (size_t)n : 0;
}

bool
tls_drained(const struct tls_conn *c)
{
	return c->parked && tlsrec_drained(&c->rec);
}

bool
tls_handshake_done(const struct tls_conn *c)
{
	return c->done;
}

const char *
tls_conn_error(const struct tls_conn *c)
{
	return c->err && c->err[0] ? c->err : "unknown TLS error";
}

const char *
tls_conn_alpn(const struct tls_conn *c)
{
	static __thread char buf[256];
	const unsigned char *p;
	unsigned int len;

	if (c->ssl == NULL)
		return c->alpn ? c->alpn : "";
	SSL_get0_alpn_selected(c->ssl, &p, &len);
	if (p == NULL || len == 0)
		return "";
	memcpy(buf, p, len);
	buf[len] = '\0';
	return buf;
}

const char *
tls_conn_sni(const struct tls_conn *c)
{
	if (c->ssl == NULL)
		return c->sni;
	return SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
}

const char *
tls_conn_version(const struct tls_conn *c)
{
	return c->ssl ? SSL_get_version(c->ssl) : c->version;
}

const char *
tls_conn_cipher(const struct tls_conn *c)
{
	return c->ssl ? SSL_get_cipher_name(c->ssl) : c->cipher;
}

SSL *
tls_conn_ssl(struct tls_conn *c)
{
	return c->ssl;
}

/* RFC 5929 §4.1: the server certificate's hash, SHA-256 for MD5/SHA-1. */
static int
server_end_point(struct tls_conn *c, uint8_t *out, size_t cap, size_t *len)
{
	X509 *x = c->is_server ? SSL_get_certificate(c->ssl) :
	    SSL_get0_peer_certificate(c->ssl);
	int md_nid = NID_undef;
	const EVP_MD *md;
	unsigned int n = 0;

	if (x == NULL ||
	    !OBJ_find_sigid_algs(X509_get_signature_nid(x), &md_nid, NULL))
		return -1;
	if (md_nid == NID_md5 || md_nid == NID_sha1)
		md_nid = NID_sha256;
	if (md_nid == NID_undef || (md = EVP_get_digestbynid(md_nid)) == NULL ||
	    (size_t)EVP_MD_get_size(md) > cap ||
	    X509_digest(x, md, out, &n) != 1)
		return -1;
	*len = n;
	return 0;
}

int
tls_channel_binding(struct tls_conn *c, const char *type, uint8_t *out,
    size_t cap, size_t *len)
{
	static const char label[] = "EXPORTER-Channel-Binding";

	if (!c->done || c->ssl == NULL)
		return -1;
	if (strcmp(type, "tls-exporter") == 0) {
		/* RFC 9266 §2: 32 bytes, no context; TLS 1.3 (or 1.2 + EMS). */
		if (cap < 32 || (SSL_version(c->ssl) < TLS1_3_VERSION &&
		    SSL_get_extms_support(c->ssl) != 1))
			return -1;
		if (SSL_export_keying_material(c->ssl, out, 32, label,
		    sizeof(label) - 1, NULL, 0, 0) != 1) {
			ERR_clear_error();
			return -1;
		}
		*len = 32;
		return 0;
	}
	if (strcmp(type, "tls-server-end-point") == 0)
		return server_end_point(c, out, cap, len);
	if (strcmp(type, "tls-unique") == 0) {
		/* The first Finished of the latest handshake (RFC 5929 §3.1). */
		bool resumed = SSL_session_reused(c->ssl) == 1;
		size_t n;

		if (SSL_version(c->ssl) >= TLS1_3_VERSION)
			return -1;
		n = (c->is_server != resumed) ? SSL_get_peer_finished(c->ssl, out, cap) :
		    SSL_get_finished(c->ssl, out, cap);
		if (n == 0 || n > cap)
			return -1;
		*len = n;
		return 0;
	}
	return -1;
}
