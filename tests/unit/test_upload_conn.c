/* Unit tests for upload-gw/conn.c: whom a connection counts against. */
#include "t.h"
#include "../../upload-gw/conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

static void
v6(const char *s, struct sockaddr_in6 *out)
{
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	inet_pton(AF_INET6, s, &out->sin6_addr);
}

TEST(upload_conn_key_prefixes)
{
	uint8_t a[CONN_KEY_LEN], b[CONN_KEY_LEN];
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 x, y;
	struct sockaddr_un su = { .sun_family = AF_UNIX };

	/* One IPv6 host holds a /64: every address in it is one client. */
	v6("2001:db8:1:2::1", &x);
	v6("2001:db8:1:2:ffff:1:2:3", &y);
	CHECK_INT(upload_conn_key((struct sockaddr *)&x, a), 0);
	CHECK_INT(upload_conn_key((struct sockaddr *)&y, b), 0);
	CHECK_MEM(a, b, CONN_KEY_LEN);
	v6("2001:db8:1:3::1", &y);
	CHECK_INT(upload_conn_key((struct sockaddr *)&y, b), 0);
	CHECK(memcmp(a, b, CONN_KEY_LEN) != 0);
	/* IPv4 per address, the same on a dual-stack socket. */
	inet_pton(AF_INET, "192.0.2.7", &s4.sin_addr);
	v6("::ffff:192.0.2.7", &x);
	CHECK_INT(upload_conn_key((struct sockaddr *)&s4, a), 0);
	CHECK_INT(upload_conn_key((struct sockaddr *)&x, b), 0);
	CHECK_MEM(a, b, CONN_KEY_LEN);
	inet_pton(AF_INET, "192.0.2.8", &s4.sin_addr);
	CHECK_INT(upload_conn_key((struct sockaddr *)&s4, b), 0);
	CHECK(memcmp(a, b, CONN_KEY_LEN) != 0);
	CHECK_INT(upload_conn_key((struct sockaddr *)&su, a), -1);
	CHECK_INT(upload_conn_key(NULL, a), -1);
}
