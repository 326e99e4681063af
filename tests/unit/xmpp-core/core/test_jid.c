/* Unit tests for xmpp-core/core/jid/jid.c: RFC 7622 parsing and normalisation. */
#include "t.h"
#include "jid.h"

static const char *
norm(const char *s)
{
	static char out[JID_STR_MAX + 1];
	struct jid j;

	if (jid_parse(s, &j) == -1)
		return "ERR";
	return jid_full(&j, out, sizeof(out));
}

TEST(jid_parse_valid)
{
	struct jid j;

	CHECK_INT(jid_parse("Juliet@Example.COM/Balcony Room", &j), 0);
	CHECK_STR(j.local, "juliet");
	CHECK_STR(j.domain, "example.com");
	CHECK_STR(j.resource, "Balcony Room");
	CHECK_STR(norm("example.com"), "example.com");
	CHECK_STR(norm("example.com."), "example.com");
	CHECK_STR(norm("example.com/a@b/c"), "example.com/a@b/c");
	CHECK_STR(norm("x@example.com/foo/bar"), "x@example.com/foo/bar");
	CHECK_STR(norm("\xc3\xa9l\xc3\xa8ve@localhost"), "\xc3\xa9l\xc3\xa8ve@localhost");
	CHECK_STR(norm("[::1]"), "[::1]");
}

TEST(jid_parse_invalid)
{
	char big[1100];

	CHECK_STR(norm(""), "ERR");
	CHECK_STR(norm("@example.com"), "ERR");
	CHECK_STR(norm("a@"), "ERR");
	CHECK_STR(norm("a@b/"), "ERR");
	CHECK_STR(norm("a b@example.com"), "ERR");
	CHECK_STR(norm("a\"b@example.com"), "ERR");
	CHECK_STR(norm("a:b@example.com"), "ERR");
	CHECK_STR(norm("a@b@example.com"), "ERR");
	CHECK_STR(norm("a@exa mple.com"), "ERR");
	CHECK_STR(norm("a@example..com"), "ERR");
	CHECK_STR(norm("a@.com"), "ERR");
	CHECK_STR(norm("a\x01@example.com"), "ERR");
	CHECK_STR(norm("a@example.com/x\x7f"), "ERR");
	CHECK_STR(norm("\xc0\xaf@example.com"), "ERR");	/* overlong */
	CHECK_STR(norm("\xed\xa0\x80@example.com"), "ERR");	/* surrogate */
	CHECK_STR(norm("\xff@example.com"), "ERR");
	memset(big, 'a', sizeof(big));
	big[1024] = '@';
	strcpy(big + 1025, "x.org");
	CHECK_STR(norm(big), "ERR");
	big[1023] = '@';
	big[1024] = 'x';
	CHECK(strcmp(norm(big), "ERR") != 0);
}

TEST(jid_compare)
{
	struct jid a, b;

	CHECK_INT(jid_parse("A@B/r1", &a), 0);
	CHECK_INT(jid_parse("a@b/r2", &b), 0);
	CHECK(jid_bare_eq(&a, &b));
	CHECK(!jid_eq(&a, &b));
	jid_set_resource(&b, "r1");
	CHECK(jid_eq(&a, &b));
}

/* Printing into a short buffer truncates like snprintf and terminates. */
TEST(jid_print_truncates)
{
	struct jid j;
	char b[8], one[1] = { 'x' }, full[64];

	CHECK_INT(jid_parse("juliet@example.com/balcony", &j), 0);
	CHECK_STR(jid_bare(&j, b, sizeof(b)), "juliet@");
	CHECK_STR(jid_full(&j, b, sizeof(b)), "juliet@");
	CHECK_STR(jid_bare(&j, one, sizeof(one)), "");
	CHECK_STR(jid_bare(&j, full, sizeof(full)), "juliet@example.com");
	CHECK_STR(jid_full(&j, full, sizeof(full)), "juliet@example.com/balcony");
	CHECK_STR(jid_full(&j, full, 20), "juliet@example.com/");
	CHECK_INT(jid_parse("example.com", &j), 0);
	CHECK_STR(jid_full(&j, full, sizeof(full)), "example.com");
}
