/* Unit tests for common/addr.c. */
#include "t.h"
#include "addr.h"

static void
roundtrip(const char *in, int defport, const char *want)
{
	struct edge_addr a;
	char err[200], buf[ADDR_STRLEN];

	if (addr_parse(in, defport, &a, err, sizeof(err)) < 0) {
		t_fail(__FILE__, __LINE__, "%s: %s", in, err);
		return;
	}
	addr_format(&a, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		t_fail(__FILE__, __LINE__, "%s -> %s, expected %s", in, buf, want);
}

TEST(addr_forms)
{
	struct edge_addr a;
	char err[200];

	roundtrip("127.0.0.1:5050", -1, "127.0.0.1:5050");
	roundtrip("[::1]:5050", -1, "[::1]:5050");
	roundtrip("[::]:5050", -1, "[::]:5050");
	roundtrip("*:80", -1, "[::]:80");
	roundtrip(":81", -1, "[::]:81");
	roundtrip("5050", -1, "[::]:5050");
	roundtrip("192.0.2.1", 443, "192.0.2.1:443");
	roundtrip("[2001:db8::1]", 3478, "[2001:db8::1]:3478");
	roundtrip("unix:/run/x.sock", -1, "unix:/run/x.sock");
	CHECK_INT(addr_parse("[::]:5050", -1, &a, err, sizeof(err)), 0);
	CHECK(a.dualstack);
	CHECK_INT(addr_parse("[::1]:5050", -1, &a, err, sizeof(err)), 0);
	CHECK(!a.dualstack);
	CHECK_INT(addr_port(&a), 5050);
}

TEST(addr_errors)
{
	struct edge_addr a;
	char err[200];

	CHECK_INT(addr_parse("localhost:5050", -1, &a, err, sizeof(err)), -1);
	CHECK_INT(addr_parse("127.0.0.1:0", -1, &a, err, sizeof(err)), -1);
	CHECK_INT(addr_parse("127.0.0.1:65536", -1, &a, err, sizeof(err)), -1);
	CHECK_INT(addr_parse("127.0.0.1", -1, &a, err, sizeof(err)), -1);
	CHECK_STR(err, "\"127.0.0.1\": a port is required");
	CHECK_INT(addr_parse("::1:80", -1, &a, err, sizeof(err)), -1);
	CHECK_INT(addr_parse("unix:rel", -1, &a, err, sizeof(err)), -1);
	CHECK_INT(addr_parse("[::1", -1, &a, err, sizeof(err)), -1);
	CHECK_INT(addr_parse("[::1]x", -1, &a, err, sizeof(err)), -1);
}

static struct sockaddr_storage
sa_of(const char *s)
{
	struct edge_addr a;
	char err[128];
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (addr_parse(s, 1, &a, err, sizeof(err)) == 0)
		memcpy(&ss, &a.u.ss, a.len);
	return ss;
}

TEST(addr_cidr)
{
	struct addr_cidr c;
	struct sockaddr_storage ss;
	char buf[64];

	CHECK_INT(addr_cidr_parse("192.0.2.77/24", &c), 0);
	CHECK_STR(addr_cidr_format(&c, buf, sizeof(buf)), "192.0.2.0/24");
	ss = sa_of("192.0.2.5");
	CHECK(addr_cidr_match(&c, (struct sockaddr *)&ss));
	ss = sa_of("192.0.3.5");
	CHECK(!addr_cidr_match(&c, (struct sockaddr *)&ss));
	ss = sa_of("[::ffff:192.0.2.9]");	/* what a dual-stack socket reports */
	CHECK(addr_cidr_match(&c, (struct sockaddr *)&ss));
	CHECK_INT(addr_cidr_parse("2001:db8::/32", &c), 0);
	ss = sa_of("[2001:db8:1::1]");
	CHECK(addr_cidr_match(&c, (struct sockaddr *)&ss));
	ss = sa_of("[2001:db9::1]");
	CHECK(!addr_cidr_match(&c, (struct sockaddr *)&ss));
	CHECK_INT(addr_cidr_parse("10.0.0.0/12", &c), 0);
	ss = sa_of("10.15.255.255");
	CHECK(addr_cidr_match(&c, (struct sockaddr *)&ss));
	ss = sa_of("10.16.0.0");
	CHECK(!addr_cidr_match(&c, (struct sockaddr *)&ss));
	CHECK_INT(addr_cidr_parse("::1", &c), 0);
	CHECK_INT(c.bits, 128);
	CHECK_INT(addr_cidr_parse("0.0.0.0/0", &c), 0);
	ss = sa_of("203.0.113.1");
	CHECK(addr_cidr_match(&c, (struct sockaddr *)&ss));
	CHECK_INT(addr_cidr_parse("192.0.2.0/33", &c), -1);
	CHECK_INT(addr_cidr_parse("192.0.2.0/", &c), -1);
	CHECK_INT(addr_cidr_parse("192.0.2.0/-1", &c), -1);
	CHECK_INT(addr_cidr_parse("host/8", &c), -1);
	CHECK_INT(addr_cidr_parse("", &c), -1);
}
