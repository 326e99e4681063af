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
