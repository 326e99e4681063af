/* Unit tests for xmpp-core's room nicknames (mucnick.c: the RFC 8266
 * Nickname profile) and the [muc] table (mucconf.c). */
#include <string.h>

#include "conf.h"
#include "t.h"
#include "mucconf.h"
#include "mucnick.h"

static long
enforce(const char *in, char *out)
{
	return mucnick_enforce(in, strlen(in), out, 1024);
}

TEST(xmpp_muc_nick_enforce)
{
	char out[1024], key[1024];

	CHECK(enforce("Alice", out) == 5);
	CHECK_STR(out, "Alice");
	/* spaces: non-ASCII to U+0020, trimmed, runs collapsed */
	CHECK(enforce("  Ann\xc2\xa0\xc2\xa0Lee ", out) > 0);
	CHECK_STR(out, "Ann Lee");
	/* fullwidth to ASCII */
	CHECK(enforce("\xef\xbc\xa1\xef\xbd\x82", out) > 0);
	CHECK_STR(out, "Ab");
	/* empty, spaces only, controls, unassigned, bad UTF-8: refused */
	CHECK(enforce("", out) == -1);
	CHECK(enforce("   ", out) == -1);
	CHECK(enforce("a\x07", out) == -1);
	CHECK(enforce("\xcd\xb8", out) == -1);
	CHECK(enforce("\xff", out) == -1);
	/* comparison folds case; enforcement keeps it */
	CHECK(mucnick_key("Alice", key, sizeof(key)) > 0);
	CHECK_STR(key, "alice");
	CHECK(mucnick_key("\xce\xa3\xce\xa3", key, sizeof(key)) > 0);
	/* idempotent */
	CHECK(enforce("Ann Lee", out) > 0);
	CHECK_STR(out, "Ann Lee");
}

static int
load(const char *text, struct muc_config *m, struct conf_err *e)
{
	struct conf_doc *d = conf_parse_string("t.toml", text, 0, e);
	int rc;

	if (d == NULL)
		return -1;
	rc = muc_config_load(m, d->root, e);
	conf_free(d);
	return rc;
}

TEST(xmpp_muc_config)
{
	struct muc_config m;
	struct conf_err e;

	CHECK(load("", &m, &e) == 0);
	CHECK(m.enabled);
	CHECK_INT(m.create, MUC_CREATE_LOCAL);
	CHECK_INT(m.default_max_users, 500);
	CHECK_INT(m.history, 100);
	CHECK(!m.default_public);
	CHECK(load("[muc]\ncreate = \"anyone\"\nhistory = 5\n", &m, &e) == 0);
	CHECK_INT(m.create, MUC_CREATE_ANYONE);
	CHECK_INT(m.history, 5);
	CHECK(load("[muc]\ncreate = \"everyone\"\n", &m, &e) == -1);
	CHECK(load("[muc]\nmax_occupants = 100\n", &m, &e) == -1);
	CHECK(load("[muc]\nmax_nick = 0\n", &m, &e) == -1);
	CHECK(load("[muc]\nadmins = [\"not a jid@\"]\n", &m, &e) == -1);
	CHECK(load("[muc]\nservice_jid = \"Conference.Example\"\n", &m, &e) == -1);
}
