/*
 * tls_resume_floor — what OpenSSL itself costs a TLS 1.3 server per
 * handshake on this machine, the floor under bench_reconnect's figures:
 * client and server in one process over memory BIOs, only the server's
 * SSL_do_handshake calls timed (thread CPU clock).  Full handshakes with
 * the given certificate, resumptions with PSK-DHE (what xmpp-core does),
 * with and without a fresh ticket after the resumption, and PSK-only
 * (psk_ke, no forward secrecy: for comparison, not offered by us).
 *
 *   tls_resume_floor CERT KEY [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One handshake; returns the server's CPU seconds, or -1. */
static int reused;

static double
handshake(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION **sess, int tickets)
{
	SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
	BIO *s2c = BIO_new(BIO_s_mem()), *c2s = BIO_new(BIO_s_mem());
	double t = 0, t0;
	int sd = 0, cd = 0, rounds = 0;
	char buf[256];

	BIO_up_ref(s2c);
	BIO_up_ref(c2s);
	SSL_set_bio(s, c2s, s2c);	/* server reads c2s, writes s2c */
	SSL_set_bio(c, s2c, c2s);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	if (*sess)
		SSL_set_session(c, *sess);
	SSL_set_num_tickets(s, (size_t)tickets);
	while ((!sd || !cd) && rounds++ < 20) {
		if (!cd)
			cd = SSL_do_handshake(c) == 1;
		t0 = cpu_now();
		if (!sd)
			sd = SSL_do_handshake(s) == 1;
		t += cpu_now() - t0;
	}
	/* the client reads the ticket the server wrote after its Finished */
	(void)SSL_read(c, buf, sizeof(buf));
	reused += SSL_session_reused(s) == 1;
	if (!sd || !cd) {
		t = -1;
	} else if (SSL_get0_session(c) && SSL_SESSION_is_resumable(SSL_get0_session(c))) {
		SSL_SESSION_free(*sess);
		*sess = SSL_get1_session(c);
	}
	/* freed without close_notify a client's session would be marked not
	 * resumable (OpenSSL's ssl_clear_bad_session): a quiet shutdown */
	SSL_set_shutdown(c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	t0 = cpu_now();
	SSL_set_shutdown(s, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(s);
	t += cpu_now() - t0;
	SSL_free(c);
	return t;
}

static void
run(const char *what, SSL_CTX *sctx, SSL_CTX *cctx, int resume, int tickets, int n)
{
	SSL_SESSION *sess = NULL;
	double total = 0, t;

	if (resume && handshake(sctx, cctx, &sess, 1) < 0)
		goto fail;
	reused = 0;
	for (int i = 0; i < n; i++) {
		SSL_SESSION *use = resume ? sess : NULL;

		if ((t = handshake(sctx, cctx, &use, tickets)) < 0)
			goto fail;
		if (resume)
			sess = use;
		else
			SSL_SESSION_free(use);
		total += t;
	}
	printf("%-44s %8.1f us server CPU per handshake (%d of %d resumed)\n", what,
	    total * 1e6 / n, reused, n);
	SSL_SESSION_free(sess);
	return;
fail:
	printf("%-44s failed\n", what);
	ERR_print_errors_fp(stdout);
}

int
main(int argc, char **argv)
{
	SSL_CTX *sctx, *cctx;
	int n = argc > 3 ? atoi(argv[3]) : 2000;

	if (argc < 3) {
		fprintf(stderr, "usage: tls_resume_floor CERT KEY [N]\n");
		return 2;
	}
	sctx = SSL_CTX_new(TLS_server_method());
	cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION);
	/* as common/tls.c: stateless tickets, no server-side cache */
	SSL_CTX_set_session_id_context(sctx, (const unsigned char *)"edge", 4);
	SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
	if (SSL_CTX_use_certificate_chain_file(sctx, argv[1]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(sctx, argv[2], SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	run("full handshake", sctx, cctx, 0, 1, n / 4 ? n / 4 : 1);
	run("resumed, PSK-DHE, a new ticket", sctx, cctx, 1, 1, n);
	run("resumed, PSK-DHE, no new ticket", sctx, cctx, 1, 0, n);
	SSL_CTX_set_options(sctx, SSL_OP_ALLOW_NO_DHE_KEX);
	SSL_CTX_set_options(cctx, SSL_OP_ALLOW_NO_DHE_KEX);
	run("resumed, PSK only (no forward secrecy)", sctx, cctx, 1, 0, n);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	return 0;
}
