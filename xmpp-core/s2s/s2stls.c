/*
 * s2stls — TLS for s2s: the client contexts (our certificate as the
 * client certificate; ALPN xmpp-server for direct TLS, XEP-0368), our
 * own server context that asks peers for their certificates, and the
 * check whether a peer's certificate is valid for its domain (RFC 6125
 * DNS-ID with wildcards, RFC 6120 §13.7.1.4 XmppAddr).
 */
#include "s2s.h"

#include <stdio.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "log.h"
#include "server.h"
#include "tls.h"

static SSL_CTX *client_ctx;
static SSL_CTX *client_ctx_direct;	/* the same with ALPN xmpp-server (XEP-0368) */
static const char *const alpn_s2s[] = { "xmpp-server" };
static struct tls_server *server_tls;	/* asks peers for their certificates */

SSL_CTX *
s2stls_client_ctx(bool direct)
{
	return direct ? client_ctx_direct : client_ctx;
}

struct tls_server *
s2stls_server(void)
{
	return server_tls;
}

/* id-on-xmppAddr (RFC 6120 §13.7.1.4) */
#define OID_XMPPADDR "1.3.6.1.5.5.7.8.5"

static bool
xmppaddr_match(X509 *cert, const char *domain)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	ASN1_OBJECT *want = OBJ_txt2obj(OID_XMPPADDR, 1);
	bool ok = false;

	for (int i = 0; names && want && i < sk_GENERAL_NAME_num(names) && !ok; i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		ASN1_TYPE *v;

		if (g->type != GEN_OTHERNAME || OBJ_cmp(g->d.otherName->type_id, want) != 0)
			continue;
		v = g->d.otherName->value;
		if (v->type != V_ASN1_UTF8STRING)
			continue;
		ok = (size_t)ASN1_STRING_length(v->value.utf8string) == strlen(domain) &&
		    memcmp(ASN1_STRING_get0_data(v->value.utf8string), domain,
		    strlen(domain)) == 0;
	}
	GENERAL_NAMES_free(names);
	ASN1_OBJECT_free(want);
	return ok;
}

/* The chain verifies to a trusted CA and the certificate names domain,
 * as a DNS-ID (wildcards in the left-most label, RFC 6125 §6.4.3) or
 * an XmppAddr; CN-IDs are not considered. */
bool
s2stls_cert_valid(struct tls_conn *t, const char *domain)
{
	SSL *ssl = tls_conn_ssl(t);
	X509 *cert;
	char alabel[DOMAIN_MAX];
	bool ok;

	if (ssl == NULL || (cert = SSL_get1_peer_certificate(ssl)) == NULL)
		return false;
	ok = SSL_get_verify_result(ssl) == X509_V_OK &&
	    ((resolve_alabel(domain, alabel, sizeof(alabel)) >= 0 &&
	    X509_check_host(cert, alabel, 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1) ||
	    xmppaddr_match(cert, domain));
	X509_free(cert);
	return ok;
}

void
s2stls_free(void)
{
	SSL_CTX_free(client_ctx);
	client_ctx = NULL;
	SSL_CTX_free(client_ctx_direct);
	client_ctx_direct = NULL;
	tls_server_free(server_tls);
	server_tls = NULL;
}

/* Any certificate is let through the handshake: whether it verifies is
 * judged afterwards (s2stls_cert_valid), so that a peer with an untrusted
 * one can still use dialback (verify = "dialback"). */
static int
accept_any_cert(int ok, X509_STORE_CTX *x)
{
	(void)ok;
	(void)x;
	return 1;
}

/* The server side of our s2s TLS: the core's certificate, and the
 * peer's certificate asked for (RFC 6120 §13.7.2, XEP-0178). */
static int
server_tls_init(char *err, size_t errlen)
{
	struct tls_cert_conf cert = { srv.cfg->cert_file, srv.cfg->key_file };
	struct tls_server_conf sc = {
		.certs = &cert,
		.ncerts = 1,
		.dh_file = srv.cfg->dh_file,
		.ciphers = srv.cfg->ciphers,
		.alpn = alpn_s2s,
		.nalpn = 1,
	};
	const char *ca = s2s_cfg()->ca_file;
	SSL_CTX *ctx;

	if (server_tls == NULL) {
		if ((server_tls = tls_server_new(&sc, err, errlen)) == NULL)
			return -1;
	} else if (tls_server_reload(server_tls, &sc, err, errlen) == -1) {
		return -1;
	}
	ctx = tls_server_ctx(server_tls);
	if ((ca ? SSL_CTX_load_verify_locations(ctx, ca, NULL) :
	    SSL_CTX_set_default_verify_paths(ctx)) != 1) {
		snprintf(err, errlen, "s2s: cannot load the CA file %s", ca ? ca : "(system)");
		return -1;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, accept_any_cert);
	return 0;
}

int
s2stls_init(char *err, size_t errlen)
{
	const char *ca = s2s_cfg()->ca_file;
	struct tls_client_conf tc = {
		.ca_file = ca,
		.verify = false,	/* judged after the handshake: s2stls_cert_valid */
		.cert_file = srv.cfg->cert_file,
		.key_file = srv.cfg->key_file,
	};
	SSL_CTX *ctx;

	if ((ctx = tls_client_ctx_new(&tc, err, errlen)) == NULL)
		return -1;
	SSL_CTX_free(client_ctx);
	client_ctx = ctx;
	tc.alpn = alpn_s2s;
	tc.nalpn = 1;
	if ((ctx = tls_client_ctx_new(&tc, err, errlen)) == NULL)
		return -1;
	SSL_CTX_free(client_ctx_direct);
	client_ctx_direct = ctx;
	return server_tls_init(err, errlen);
}
