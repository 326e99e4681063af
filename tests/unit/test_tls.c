/*
 * Unit tests for common/tls.c: handshakes over a socketpair with
 * certificates generated here, SNI selection, ALPN, channel binding
 * agreement between both ends, reload, and failure paths.
 */
#include "t.h"
#include "tls.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

static char tmpdir[64];

/* Writes <name>.crt/<name>.key for a self-signed cert with SAN san. */
static int
make_cert(const char *name, const char *san)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	char path[128], sanv[128];
	FILE *f;

	if (k == NULL || x == NULL)
		return -1;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)name, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	snprintf(sanv, sizeof(sanv), "DNS:%s", san);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, sanv);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	X509_sign(x, k, EVP_sha256());
	snprintf(path, sizeof(path), "%s/%s.crt", tmpdir, name);
	f = fopen(path, "w");
	PEM_write_X509(f, x);
	fclose(f);
	snprintf(path, sizeof(path), "%s/%s.key", tmpdir, name);
	f = fopen(path, "w");
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(k);
	return 0;
}

__attribute__((destructor)) static void
cleanup(void)
{
	static const char *const files[] = { "a.crt", "a.key", "b.crt", "b.key" };
	char path[128];

	if (!tmpdir[0])
		return;
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
		unlink(path);
	}
	rmdir(tmpdir);
}

static void
setup(void)
{
	if (tmpdir[0])
		return;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/edge-tls-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		abort();
	make_cert("a", "a.example");
	make_cert("b", "*.b.example");
}

static char pa[128], ka[128], pb[128], kb[128];

static struct tls_server *
server(const char *const *alpn, size_t nalpn, bool strict)
{
	static struct tls_cert_conf certs[2];
	struct tls_server_conf sc = { .certs = certs, .ncerts = 2,
	    .alpn = alpn, .nalpn = nalpn, .alpn_strict = strict };
	char err[256];
	struct tls_server *s;

	setup();
	snprintf(pa, sizeof(pa), "%s/a.crt", tmpdir);
	snprintf(ka, sizeof(ka), "%s/a.key", tmpdir);
	snprintf(pb, sizeof(pb), "%s/b.crt", tmpdir);
	snprintf(kb, sizeof(kb), "%s/b.key", tmpdir);
	certs[0] = (struct tls_cert_conf){ pa, ka };
	certs[1] = (struct tls_cert_conf){ pb, kb };
	s = tls_server_new(&sc, err, sizeof(err));
	if (s == NULL)
		fprintf(stderr, "tls_server_new: %s\n", err);
	return s;
}

/* Drives both handshakes to completion; 0 when both succeed. */
static int
pump(struct tls_conn *s, struct tls_conn *c)
{
	for (int i = 0; i < 100; i++) {
		int rs = tls_handshake(s), rc = tls_handshake(c);

		if (rs == TLS_OK && rc == TLS_OK)
			return 0;
		if (rs == TLS_ERROR || rc == TLS_ERROR)
			return -1;
	}
	return -1;
}

static int
pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
}

TEST(tls_sni_alpn_and_data)
{
	static const char *const alpn[] = { "xmpp-client" };
	struct tls_server *srv = server(alpn, 1, false);
	struct tls_client_conf cc = { .alpn = alpn, .nalpn = 1 };
	SSL_CTX *cctx;
	struct tls_conn *s, *c;
	char buf[64], *name;
	int sv[2];
	X509 *peer;

	CHECK(srv != NULL);
	cctx = tls_client_ctx_new(&cc, buf, sizeof(buf));
	CHECK(cctx != NULL);
	CHECK(pair(sv) == 0);
	s = tls_conn_server(srv, sv[0]);
	c = tls_conn_client(cctx, sv[1], "x.b.example", NULL);
	CHECK(pump(s, c) == 0);
	CHECK_STR(tls_conn_alpn(s), "xmpp-client");
	CHECK_STR(tls_conn_sni(s), "x.b.example");
	CHECK_STR(tls_conn_version(c), "TLSv1.3");
	peer = SSL_get0_peer_certificate(tls_conn_ssl(c));
	name = X509_NAME_oneline(X509_get_subject_name(peer), NULL, 0);
	CHECK_STR(name, "/CN=b");	/* SNI picked the wildcard cert */
	OPENSSL_free(name);
	CHECK_INT(tls_write(c, "hello", 5), 5);
	CHECK_INT(tls_read(s, buf, sizeof(buf)), 5);
	CHECK_MEM(buf, "hello", 5);
	CHECK_INT(tls_read(s, buf, sizeof(buf)), TLS_WANT_READ);
	CHECK_INT(tls_shutdown(c), TLS_OK);
	CHECK_INT(tls_read(s, buf, sizeof(buf)), 0);
	tls_conn_free(s);
	tls_conn_free(c);
	close(sv[0]);
	close(sv[1]);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

static void
binding_agrees(int max_version, const char *type, size_t want_len)
{
	struct tls_server *srv = server(NULL, 0, false);
	struct tls_client_conf cc = { 0 };
	SSL_CTX *cctx = tls_client_ctx_new(&cc, NULL, 0);
	uint8_t a[64], b[64];
	size_t la = 0, lb = 0;
	struct tls_conn *s, *c;
	int sv[2];

	CHECK(srv != NULL && cctx != NULL && pair(sv) == 0);
	SSL_CTX_set_max_proto_version(cctx, max_version);
	s = tls_conn_server(srv, sv[0]);
	c = tls_conn_client(cctx, sv[1], "a.example", NULL);
	CHECK(pump(s, c) == 0);
	CHECK_INT(tls_channel_binding(s, type, a, sizeof(a), &la), 0);
	CHECK_INT(tls_channel_binding(c, type, b, sizeof(b), &lb), 0);
	CHECK_INT(la, want_len);
	CHECK_INT(lb, la);
	CHECK_MEM(a, b, la);
	tls_conn_free(s);
	tls_conn_free(c);
	close(sv[0]);
	close(sv[1]);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

TEST(tls_channel_bindings)
{
	binding_agrees(TLS1_3_VERSION, "tls-exporter", 32);
	binding_agrees(TLS1_3_VERSION, "tls-server-end-point", 32);
	binding_agrees(TLS1_2_VERSION, "tls-unique", 12);
	binding_agrees(TLS1_2_VERSION, "tls-exporter", 32);	/* EMS */
}

TEST(tls_alpn_strict_rejects)
{
	static const char *const ours[] = { "xmpp-client" };
	static const char *const theirs[] = { "h2" };
	struct tls_server *srv = server(ours, 1, true);
	struct tls_client_conf cc = { .alpn = theirs, .nalpn = 1 };
	SSL_CTX *cctx = tls_client_ctx_new(&cc, NULL, 0);
	struct tls_conn *s, *c;
	int sv[2];

	CHECK(srv != NULL && cctx != NULL && pair(sv) == 0);
	s = tls_conn_server(srv, sv[0]);
	c = tls_conn_client(cctx, sv[1], NULL, NULL);
	CHECK(pump(s, c) == -1);
	tls_conn_free(s);
	tls_conn_free(c);
	close(sv[0]);
	close(sv[1]);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

TEST(tls_verify_and_reload)
{
	struct tls_server *srv = server(NULL, 0, false);
	struct tls_client_conf cc = { .ca_file = pa, .verify = true };
	struct tls_cert_conf bad = { pa, kb };	/* key does not match */
	struct tls_server_conf badconf = { .certs = &bad, .ncerts = 1 };
	struct tls_cert_conf good = { pb, kb };
	struct tls_server_conf goodconf = { .certs = &good, .ncerts = 1 };
	SSL_CTX *cctx;
	struct tls_conn *s, *c;
	char err[256];
	int sv[2];

	CHECK(srv != NULL);
	cctx = tls_client_ctx_new(&cc, err, sizeof(err));
	CHECK(cctx != NULL);
	/* Trusting a's certificate: a.example verifies, after reload to b it fails. */
	CHECK(pair(sv) == 0);
	s = tls_conn_server(srv, sv[0]);
	c = tls_conn_client(cctx, sv[1], "a.example", "a.example");
	CHECK(pump(s, c) == 0);
	tls_conn_free(s);
	tls_conn_free(c);
	close(sv[0]);
	close(sv[1]);
	CHECK_INT(tls_server_reload(srv, &badconf, err, sizeof(err)), -1);
	CHECK(strstr(err, "does not match") != NULL || strstr(err, "key") != NULL);
	CHECK_INT(tls_server_reload(srv, &goodconf, err, sizeof(err)), 0);
	CHECK(pair(sv) == 0);
	s = tls_conn_server(srv, sv[0]);
	c = tls_conn_client(cctx, sv[1], "a.example", "a.example");
	CHECK(pump(s, c) == -1);
	CHECK(strstr(tls_conn_error(c), "verify") != NULL);
	tls_conn_free(s);
	tls_conn_free(c);
	close(sv[0]);
	close(sv[1]);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

/* ---- parking: OpenSSL's per-connection state let go of (tlsrec.c) ---- */

/* A TLS 1.3 pair through a handshake and a first exchange each way. */
static int
parked_pair(struct tls_server *srv, SSL_CTX *cctx, int sv[2], struct tls_conn **s,
    struct tls_conn **c)
{
	char buf[64];

	if (pair(sv) != 0)
		return -1;
	*s = tls_conn_server(srv, sv[0]);
	*c = tls_conn_client(cctx, sv[1], "a.example", NULL);
	if (*s == NULL || *c == NULL || pump(*s, *c) != 0 ||
	    tls_write(*s, "hello", 5) != 5 || tls_read(*c, buf, sizeof(buf)) != 5 ||
	    tls_write(*c, "hi", 2) != 2 || tls_read(*s, buf, sizeof(buf)) != 2)
		return -1;
	return tls_conn_park(*s);
}

/* Sends len bytes from a to b through the socketpair, both non-blocking. */
static int
transfer(struct tls_conn *a, struct tls_conn *b, size_t len)
{
	static unsigned char out[300000], in[300000];
	size_t sent = 0, got = 0;

	if (len > sizeof(out))
		return -1;
	for (size_t i = 0; i < len; i++)
		out[i] = (unsigned char)(i * 7 + i / 251);
	for (int spins = 0; got < len && spins < 100000; spins++) {
		ssize_t n;

		if (sent < len) {
			n = tls_write(a, out + sent, len - sent);
			if (n > 0)
				sent += (size_t)n;
			else if (n != TLS_WANT_WRITE && n != TLS_WANT_READ)
				return -1;
		}
		n = tls_read(b, in + got, sizeof(in) - got);
		if (n > 0)
			got += (size_t)n;
		else if (n != TLS_WANT_READ && n != TLS_WANT_WRITE)
			return -1;
	}
	return got == len && memcmp(in, out, len) == 0 ? 0 : -1;
}

static void
close_pair(struct tls_conn *s, struct tls_conn *c, int sv[2])
{
	tls_conn_free(s);
	tls_conn_free(c);
	close(sv[0]);
	close(sv[1]);
}

static void
park_suite(const char *suite)
{
	struct tls_server *srv = server(NULL, 0, false);
	struct tls_client_conf cc = { 0 };
	SSL_CTX *cctx = tls_client_ctx_new(&cc, NULL, 0);
	struct tls_conn *s, *c;
	char buf[64];
	int sv[2];

	CHECK(srv != NULL && cctx != NULL);
	CHECK(SSL_CTX_set_ciphersuites(cctx, suite) == 1);
	CHECK_INT(parked_pair(srv, cctx, sv, &s, &c), 0);
	CHECK(tls_conn_parked(s));
	CHECK_STR(tls_conn_cipher(s), suite);
	CHECK_STR(tls_conn_version(s), "TLSv1.3");
	CHECK_STR(tls_conn_sni(s), "a.example");
	CHECK(tls_conn_ssl(s) == NULL);
	CHECK_INT(tls_channel_binding(s, "tls-exporter", (uint8_t *)buf, sizeof(buf),
	    &(size_t){ 0 }), -1);
	CHECK_INT(tls_read(s, buf, sizeof(buf)), TLS_WANT_READ);
	CHECK_INT(transfer(s, c, 5), 0);
	CHECK_INT(transfer(c, s, 7), 0);
	/* many records, partial writes: the socketpair holds far less */
	CHECK_INT(transfer(s, c, 250000), 0);
	CHECK_INT(transfer(c, s, 250000), 0);
	/* records read ahead are reported, so the caller reads before polling */
	CHECK_INT(tls_write(c, "a", 1), 1);
	CHECK_INT(tls_write(c, "b", 1), 1);
	CHECK_INT(tls_write(c, "c", 1), 1);
	CHECK_INT(tls_read(s, buf, sizeof(buf)), 1);
	CHECK(buf[0] == 'a' && tls_pending(s) > 0);
	CHECK_INT(tls_read(s, buf, sizeof(buf)), 1);
	CHECK_INT(tls_read(s, buf + 1, sizeof(buf) - 1), 1);
	CHECK(buf[0] == 'b' && buf[1] == 'c');
	CHECK_INT(tls_pending(s), 0);
	CHECK_INT(tls_read(s, buf, sizeof(buf)), TLS_WANT_READ);
	/* idle again: contexts dropped, still the same keys */
	CHECK_INT(tls_conn_park(s), 0);
	CHECK_INT(transfer(s, c, 1), 0);
	CHECK_INT(transfer(c, s, 16384), 0);
	CHECK_INT(tls_shutdown(s), TLS_OK);
	CHECK_INT(tls_read(c, buf, sizeof(buf)), 0);
	close_pair(s, c, sv);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

TEST(tls_park_each_suite)
{
	park_suite("TLS_AES_128_GCM_SHA256");
	park_suite("TLS_AES_256_GCM_SHA384");
	park_suite("TLS_CHACHA20_POLY1305_SHA256");
}

/* RFC 8446 §4.6.3: the client updates its keys, asking us to update ours. */
TEST(tls_park_key_update)
{
	struct tls_server *srv = server(NULL, 0, false);
	struct tls_client_conf cc = { 0 };
	SSL_CTX *cctx = tls_client_ctx_new(&cc, NULL, 0);
	struct tls_conn *s, *c;
	char buf[64];
	int sv[2];

	CHECK(srv != NULL && cctx != NULL);
	CHECK_INT(parked_pair(srv, cctx, sv, &s, &c), 0);
	for (int round = 0; round < 3; round++) {
		CHECK(SSL_key_update(tls_conn_ssl(c), round == 1 ? SSL_KEY_UPDATE_NOT_REQUESTED :
		    SSL_KEY_UPDATE_REQUESTED) == 1);
		CHECK_INT(transfer(c, s, 100), 0);	/* KeyUpdate, then data */
		CHECK_INT(transfer(s, c, 100), 0);	/* ours first when asked */
		CHECK_INT(transfer(c, s, 20000), 0);
		CHECK_INT(transfer(s, c, 20000), 0);
	}
	/* the client's close_notify after all that */
	CHECK_INT(tls_shutdown(c), TLS_OK);
	CHECK_INT(tls_read(s, buf, sizeof(buf)), 0);
	close_pair(s, c, sv);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

/*
 * An OpenSSL client asks for KeyUpdates while not reading our output: the
 * requests share one reply (RFC 8446 §4.6.3), which OpenSSL accepts, and
 * the stream stays whole; a write stopped meanwhile is retried after
 * reads (issue 20).
 */
TEST(tls_park_key_update_backlog)
{
	static unsigned char out[300000], in[300000];
	struct tls_server *srv = server(NULL, 0, false);
	struct tls_client_conf cc = { 0 };
	SSL_CTX *cctx = tls_client_ctx_new(&cc, NULL, 0);
	struct tls_conn *s, *c;
	size_t sent = 0, got = 0;
	char ch;
	ssize_t n;
	int sv[2];

	CHECK(srv != NULL && cctx != NULL);
	CHECK_INT(parked_pair(srv, cctx, sv, &s, &c), 0);
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (unsigned char)(i * 13 + i / 509);
	while ((n = tls_write(s, out + sent, sizeof(out) - sent)) > 0)
		sent += (size_t)n;
	CHECK_INT(n, TLS_WANT_WRITE);
	for (int i = 0; i < 5; i++) {
		CHECK(SSL_key_update(tls_conn_ssl(c), SSL_KEY_UPDATE_REQUESTED) == 1);
		CHECK_INT(tls_write(c, "k", 1), 1);
		CHECK_INT(tls_read(s, &ch, 1), 1);
		CHECK_INT(tls_read(s, &ch, 1), TLS_WANT_WRITE);
	}
	CHECK_INT(tls_keyupdate_queued(), 27);
	for (int spins = 0; got < sizeof(out) && spins < 100000; spins++) {
		if (sent < sizeof(out) &&
		    (n = tls_write(s, out + sent, sizeof(out) - sent)) > 0)
			sent += (size_t)n;
		if ((n = tls_read(c, in + got, sizeof(in) - got)) > 0)
			got += (size_t)n;
		else
			CHECK(n == TLS_WANT_READ);
		if (tls_read(s, &ch, 1) == TLS_ERROR)
			break;
	}
	CHECK_INT(got, sizeof(out));
	CHECK_MEM(in, out, sizeof(out));
	CHECK_INT(tls_keyupdate_queued(), 0);
	CHECK_INT(transfer(s, c, 1000), 0);
	CHECK_INT(transfer(c, s, 1000), 0);
	close_pair(s, c, sv);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

/* Reads whatever is in the socket (what the peer's TLS wrote). */
static ssize_t
raw_take(int fd, unsigned char *buf, size_t cap)
{
	return read(fd, buf, cap);
}

TEST(tls_park_rejects_bad_records)
{
	struct tls_server *srv = server(NULL, 0, false);
	struct tls_client_conf cc = { 0 };
	SSL_CTX *cctx = tls_client_ctx_new(&cc, NULL, 0);
	struct tls_conn *s, *c;
	unsigned char rec[512];
	char buf[64];
	ssize_t n;
	int sv[2];

	CHECK(srv != NULL && cctx != NULL);
	/* a flipped bit: authentication fails */
	CHECK_INT(parked_pair(srv, cctx, sv, &s, &c), 0);
	CHECK_INT(tls_write(c, "payload", 7), 7);
	n = raw_take(sv[0], rec, sizeof(rec));
	CHECK(n > 5);
	rec[n - 3] ^= 1;
	CHECK(write(sv[1], rec, (size_t)n) == n);
	CHECK_INT(tls_read(s, buf, sizeof(buf)), TLS_ERROR);
	CHECK_STR(tls_conn_error(s), "TLS: bad record MAC");
	close_pair(s, c, sv);
	/* a replayed record: its sequence number has passed */
	CHECK_INT(parked_pair(srv, cctx, sv, &s, &c), 0);
	CHECK_INT(tls_write(c, "payload", 7), 7);
	n = raw_take(sv[0], rec, sizeof(rec));
	CHECK(n > 5 && write(sv[1], rec, (size_t)n) == n && write(sv[1], rec, (size_t)n) == n);
	CHECK_INT(tls_read(s, buf, sizeof(buf)), 7);
	CHECK_INT(tls_read(s, buf, sizeof(buf)), TLS_ERROR);
	close_pair(s, c, sv);
	/* an unprotected alert after the handshake */
	CHECK_INT(parked_pair(srv, cctx, sv, &s, &c), 0);
	CHECK(write(sv[1], "\x15\x03\x03\x00\x02\x02\x28", 7) == 7);
	CHECK_INT(tls_read(s, buf, sizeof(buf)), TLS_ERROR);
	close_pair(s, c, sv);
	/* an oversized record is refused from its header */
	CHECK_INT(parked_pair(srv, cctx, sv, &s, &c), 0);
	CHECK(write(sv[1], "\x17\x03\x03\x41\x01", 5) == 5);
	CHECK_INT(tls_read(s, buf, sizeof(buf)), TLS_ERROR);
	close_pair(s, c, sv);
	/* the peer's fatal alert ends it; EOF without close_notify reads as 0 */
	CHECK_INT(parked_pair(srv, cctx, sv, &s, &c), 0);
	SSL_shutdown(tls_conn_ssl(c));
	CHECK_INT(tls_read(s, buf, sizeof(buf)), 0);
	close_pair(s, c, sv);
	CHECK_INT(parked_pair(srv, cctx, sv, &s, &c), 0);
	shutdown(sv[1], SHUT_WR);
	CHECK_INT(tls_read(s, buf, sizeof(buf)), 0);
	close_pair(s, c, sv);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

TEST(tls_park_only_when_safe)
{
	struct tls_server *srv = server(NULL, 0, false);
	struct tls_client_conf cc = { 0 };
	SSL_CTX *cctx = tls_client_ctx_new(&cc, NULL, 0);
	struct tls_conn *s, *c;
	char buf[64];
	int sv[2];

	CHECK(srv != NULL && cctx != NULL);
	/* before the handshake, and a client connection */
	CHECK(pair(sv) == 0);
	s = tls_conn_server(srv, sv[0]);
	c = tls_conn_client(cctx, sv[1], "a.example", NULL);
	CHECK_INT(tls_conn_park(s), -1);
	CHECK(pump(s, c) == 0);
	CHECK_INT(tls_conn_park(c), -1);
	/* a record half received stays with OpenSSL until it is complete */
	CHECK_INT(tls_write(c, "0123456789", 10), 10);
	{
		unsigned char rec[256];
		ssize_t n = raw_take(sv[0], rec, sizeof(rec));

		CHECK(n > 10 && write(sv[1], rec, 8) == 8);
		CHECK_INT(tls_read(s, buf, sizeof(buf)), TLS_WANT_READ);
		CHECK_INT(tls_conn_park(s), -1);
		CHECK(write(sv[1], rec + 8, (size_t)n - 8) == n - 8);
		CHECK_INT(tls_read(s, buf, sizeof(buf)), 10);
	}
	/* unread plaintext too */
	CHECK_INT(tls_write(c, "0123456789", 10), 10);
	CHECK_INT(tls_read(s, buf, 4), 4);
	CHECK_INT(tls_conn_park(s), -1);
	CHECK_INT(tls_read(s, buf, sizeof(buf)), 6);
	CHECK_INT(tls_conn_park(s), 0);
	close_pair(s, c, sv);
	/* a KeyUpdate handled by OpenSSL before parking */
	CHECK(pair(sv) == 0);
	s = tls_conn_server(srv, sv[0]);
	c = tls_conn_client(cctx, sv[1], "a.example", NULL);
	CHECK(pump(s, c) == 0);
	CHECK(SSL_key_update(tls_conn_ssl(c), SSL_KEY_UPDATE_NOT_REQUESTED) == 1);
	CHECK_INT(transfer(c, s, 10), 0);
	CHECK_INT(tls_conn_park(s), -1);
	CHECK_INT(transfer(s, c, 10), 0);
	close_pair(s, c, sv);
	/* TLS 1.2 stays with OpenSSL */
	SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
	CHECK(pair(sv) == 0);
	s = tls_conn_server(srv, sv[0]);
	c = tls_conn_client(cctx, sv[1], "a.example", NULL);
	CHECK(pump(s, c) == 0);
	CHECK_INT(tls_conn_park(s), -1);
	CHECK(!tls_conn_parked(s));
	CHECK_INT(transfer(s, c, 1000), 0);
	close_pair(s, c, sv);
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}

/* No server-side session cache, yet tickets resume (TLS 1.3 and 1.2). */
TEST(tls_resumption_without_cache)
{
	struct tls_server *srv = server(NULL, 0, false);
	struct tls_client_conf cc = { 0 };
	SSL_CTX *cctx = tls_client_ctx_new(&cc, NULL, 0);

	CHECK(srv != NULL && cctx != NULL);
	for (int v = 0; v < 2; v++) {
		SSL_SESSION *sess;
		struct tls_conn *s, *c;
		char buf[16];
		int sv[2];

		SSL_CTX_set_max_proto_version(cctx, v ? TLS1_2_VERSION : TLS1_3_VERSION);
		CHECK(pair(sv) == 0);
		s = tls_conn_server(srv, sv[0]);
		c = tls_conn_client(cctx, sv[1], NULL, NULL);
		CHECK(pump(s, c) == 0);
		CHECK_INT(tls_write(s, "x", 1), 1);
		CHECK_INT(tls_read(c, buf, sizeof(buf)), 1);	/* reads the tickets */
		sess = SSL_get1_session(tls_conn_ssl(c));
		CHECK(sess != NULL);
		tls_shutdown(c);	/* a session closed without it is not resumed */
		close_pair(s, c, sv);
		CHECK_INT(SSL_CTX_sess_number(tls_server_ctx(srv)), 0);
		CHECK(pair(sv) == 0);
		s = tls_conn_server(srv, sv[0]);
		c = tls_conn_client(cctx, sv[1], NULL, NULL);
		SSL_set_session(tls_conn_ssl(c), sess);
		CHECK(pump(s, c) == 0);
		CHECK(SSL_session_reused(tls_conn_ssl(c)) == 1);
		SSL_SESSION_free(sess);
		close_pair(s, c, sv);
	}
	SSL_CTX_free(cctx);
	tls_server_free(srv);
}
