/* Unit tests for the XEP-0065 proxy: the SOCKS5 codec (xmpp-core/services/socks5.c),
 * the stream hash (proxy65.c) and [proxy65] (proxyconf.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "conf.h"
#include "proxy65.h"
#include "proxyconf.h"
#include "socks5.h"

#define HASH "98b8d688d0f5d895fd41c5e7309a2e9e33ba32ff"

/* VER CMD RSV ATYP=3 LEN hash PORT */
static size_t
request(uint8_t *out, uint8_t cmd, const char *host, uint16_t port)
{
	size_t n = strlen(host), o = 0;

	out[o++] = 5;
	out[o++] = cmd;
	out[o++] = 0;
	out[o++] = S5_ATYP_DOMAIN;
	out[o++] = (uint8_t)n;
	memcpy(out + o, host, n);
	o += n;
	out[o++] = (uint8_t)(port >> 8);
	out[o++] = (uint8_t)port;
	return o;
}

TEST(xmpp_proxy65_greeting)
{
	const uint8_t ok[] = { 5, 2, 2, 0, 0xAA };	/* password, none; then more */
	const uint8_t pw[] = { 5, 1, 2 };
	const uint8_t v4[] = { 4, 1, 0 };
	const uint8_t none[] = { 5, 0 };
	bool noauth;

	/* byte by byte: more is needed until the methods are all there */
	for (size_t n = 0; n < 4; n++)
		CHECK_INT(s5_greeting(ok, n, &noauth), 0);
	CHECK_INT(s5_greeting(ok, sizeof(ok), &noauth), 4);	/* 0xAA is not ours */
	CHECK(noauth);
	CHECK_INT(s5_greeting(pw, sizeof(pw), &noauth), 3);
	CHECK(!noauth);
	CHECK_INT(s5_greeting(v4, 1, &noauth), -1);
	CHECK_INT(s5_greeting(none, sizeof(none), &noauth), -1);
}

TEST(xmpp_proxy65_request_connect)
{
	uint8_t req[S5_REQUEST_MAX + 8], rep[S5_REPLY_MAX];
	char upper[41];
	struct s5_request r;
	size_t n = request(req, S5_CMD_CONNECT, HASH, 0);

	CHECK_INT(n, 47);
	for (size_t k = 0; k < n; k++)
		CHECK_INT(s5_request(req, k, &r), 0);
	req[n] = 0x42;		/* early data after the request stays unread */
	CHECK_INT(s5_request(req, n + 1, &r), 47);
	CHECK_INT(r.rep, S5_REP_SUCCEEDED);
	CHECK_STR(r.hash, HASH);
	CHECK_INT(r.port, 0);
	/* the reply echoes the address and port (XEP-0065 §6.3.2) */
	CHECK_INT(s5_reply(&r, S5_REP_SUCCEEDED, rep), 47);
	req[1] = 0;
	CHECK_MEM(rep, req, 47);

	/* upper-case hex is the same stream; a port is echoed as sent */
	for (int i = 0; i < 40; i++)
		upper[i] = (char)(HASH[i] >= 'a' ? HASH[i] - 32 : HASH[i]);
	upper[40] = '\0';
	n = request(req, S5_CMD_CONNECT, upper, 7777);
	CHECK_INT(s5_request(req, n, &r), 47);
	CHECK_INT(r.rep, S5_REP_SUCCEEDED);
	CHECK_STR(r.hash, HASH);
	CHECK_INT(r.port, 7777);
	CHECK_INT(s5_reply(&r, S5_REP_SUCCEEDED, rep), 47);
	CHECK_MEM(rep + 5, upper, 40);
	CHECK_INT(rep[45] << 8 | rep[46], 7777);
}

TEST(xmpp_proxy65_request_refused)
{
	const uint8_t ipv4[] = { 5, 1, 0, 1, 127, 0, 0, 1, 0, 80 };
	const uint8_t ipv6[22] = { 5, 1, 0, 4, [19] = 1, [20] = 0, [21] = 80 };
	const uint8_t odd[] = { 5, 1, 0, 9, 1, 2, 3 };
	uint8_t req[S5_REQUEST_MAX], rep[S5_REPLY_MAX];
	struct s5_request r;
	size_t n;

	CHECK_INT(s5_request(ipv4, sizeof(ipv4) - 1, &r), 0);
	CHECK_INT(s5_request(ipv4, sizeof(ipv4), &r), 10);
	CHECK_INT(r.rep, S5_REP_ADDRESS_TYPE);
	CHECK_INT(s5_reply(&r, r.rep, rep), 10);	/* the IPv4 address echoed */
	CHECK_INT(rep[1], S5_REP_ADDRESS_TYPE);
	CHECK_MEM(rep + 3, ipv4 + 3, 7);
	CHECK_INT(s5_request(ipv6, sizeof(ipv6), &r), 22);
	CHECK_INT(r.rep, S5_REP_ADDRESS_TYPE);
	/* an unknown ATYP has no length: only the header is read, and the
	 * reply carries 0.0.0.0:0 */
	CHECK_INT(s5_request(odd, sizeof(odd), &r), 4);
	CHECK_INT(r.rep, S5_REP_ADDRESS_TYPE);
	CHECK_INT(s5_reply(&r, r.rep, rep), 10);
	CHECK_INT(rep[3], S5_ATYP_IPV4);
	CHECK_INT(rep[4] | rep[5] | rep[6] | rep[7] | rep[8] | rep[9], 0);

	n = request(req, 2, HASH, 0);			/* BIND */
	CHECK_INT(s5_request(req, n, &r), 47);
	CHECK_INT(r.rep, S5_REP_COMMAND);
	n = request(req, S5_CMD_CONNECT, HASH "0", 0);	/* 41 digits */
	CHECK_INT(s5_request(req, n, &r), 48);
	CHECK_INT(r.rep, S5_REP_HOST_UNREACHABLE);
	n = request(req, S5_CMD_CONNECT, "example.org", 0);
	CHECK_INT(s5_request(req, n, &r), 18);
	CHECK_INT(r.rep, S5_REP_HOST_UNREACHABLE);
	n = request(req, S5_CMD_CONNECT, "g8b8d688d0f5d895fd41c5e7309a2e9e33ba32ff", 0);
	CHECK_INT(s5_request(req, n, &r), 47);
	CHECK_INT(r.rep, S5_REP_HOST_UNREACHABLE);
	n = request(req, S5_CMD_CONNECT, "", 0);	/* empty name */
	CHECK_INT(s5_request(req, n, &r), 7);
	CHECK_INT(r.rep, S5_REP_HOST_UNREACHABLE);
	CHECK_INT(s5_reply(&r, r.rep, rep), 10);
	req[0] = 4;
	CHECK_INT(s5_request(req, 1, &r), -1);
}

TEST(xmpp_proxy65_hash)
{
	char out[41];

	/* the XEP-0065 example's JIDs, checked against Python's hashlib */
	CHECK_INT(proxy65_hash("vxf9n471bn46", "requester@example.com/foo",
	    "target@example.org/bar", out), 0);
	CHECK_STR(out, HASH);
}

static struct conf_doc *doc;

static int
load(const char *text, struct proxy_config *p, struct conf_err *e)
{
	int rc;

	proxy_config_free(p);
	conf_free(doc);
	if ((doc = conf_parse_string("t.toml", text, 0, e)) == NULL)
		return -2;
	rc = proxy_config_load(p, doc->root, e);
	if (rc == 0)
		rc = conf_check_unused(doc->root, e);
	return rc;
}

TEST(xmpp_proxy65_config)
{
	struct proxy_config p = { 0 };
	struct conf_err e;

	CHECK_INT(load("", &p, &e), 0);
	CHECK(!p.enabled);
	CHECK_INT(load("[proxy65]\n", &p, &e), 0);
	CHECK(p.enabled);
	CHECK(p.service == NULL && p.host == NULL);
	CHECK_INT(p.nlisten, 1);
	CHECK(p.listen[0].dualstack);
	CHECK_INT(p.port, 7777);
	CHECK_INT(p.max_pending, 1000);
	CHECK_INT(p.max_streams, 1000);
	CHECK_INT(p.max_per_ip, 32);
	CHECK_INT(p.max_per_user, 10);
	CHECK_INT(p.pending_timeout_ms, 30000);
	CHECK_INT(p.idle_timeout_ms, 300000);
	CHECK_INT(p.rate, 0);
	CHECK_INT(p.total_rate, 0);
	CHECK_INT(p.max_transfer, 0);
	CHECK_INT(p.buffer_size, 65536);
	CHECK_INT(p.socket_buffer, 0);
	CHECK_INT(p.relay, PROXY_RELAY_SPLICE);
	/* the advertised port follows the first listener unless set */
	CHECK_INT(load("[proxy65]\nlisten = [\"192.0.2.1:1080\", \"[2001:db8::1]:1081\"]\n"
	    "service = \"proxy.example.org\"\nhost = \"192.0.2.1\"\nrate = \"1M\"\n"
	    "total_rate = \"10M\"\nmax_transfer_size = \"1G\"\nrelay = \"copy\"\n",
	    &p, &e), 0);
	CHECK_INT(p.nlisten, 2);
	CHECK_INT(p.port, 1080);
	CHECK_STR(p.service, "proxy.example.org");
	CHECK_INT(p.rate, 1 << 20);
	CHECK_INT(p.max_transfer, 1ULL << 30);
	CHECK_INT(p.relay, PROXY_RELAY_COPY);
	CHECK_INT(load("[proxy65]\nlisten = [\"[::]:7777\"]\nport = 443\n", &p, &e), 0);
	CHECK_INT(p.port, 443);
	/* errors name the line and key */
	CHECK_INT(load("[proxy65]\nlisten = []\n", &p, &e), -1);
	CHECK(strstr(e.msg, "t.toml:2: proxy65.listen:") != NULL);
	CHECK_INT(load("[proxy65]\nidle_timeout = 0\n", &p, &e), -1);
	CHECK(strstr(e.msg, "proxy65.idle_timeout") != NULL);
	CHECK_INT(load("[proxy65]\nsocket_buffer = 100\n", &p, &e), -1);
	CHECK(strstr(e.msg, "proxy65.socket_buffer") != NULL);
	CHECK_INT(load("[proxy65]\ntotal_rate = \"2T\"\n", &p, &e), -1);
	CHECK(strstr(e.msg, "proxy65.total_rate") != NULL);
	CHECK_INT(load("[proxy65]\nmax_streams = 0\n", &p, &e), -1);
	CHECK(strstr(e.msg, "proxy65.max_streams") != NULL);
	proxy_config_free(&p);
	conf_free(doc);
	doc = NULL;
}
