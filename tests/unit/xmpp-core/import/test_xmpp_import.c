/* Unit tests for xmpp-core/import: the Erlang term reader (ejabberd's
 * muc_room.opts and archive_prefs lists, as ejabberd 23.01 writes them). */
#include "t.h"

#include <string.h>

#include "erlterm.h"

static struct erl_term *
parse(const char *s)
{
	char err[128];

	return erl_parse(s, strlen(s), err, sizeof(err));
}

TEST(xmpp_import_erl_room_opts)
{
	struct erl_term *t = parse(
	    "[{title,<<\"The Lounge\">>},{description,<<>>},{persistent,true},"
	    "{max_users,50},{public,false},{lang,<<\"en\">>},"
	    "{presence_broadcast,[moderator,participant,visitor]},"
	    "{affiliations,[{{<<\"alice\">>,<<\"localhost\">>,<<>>},{owner,<<>>}}]},"
	    "{subject,[{text,<<>>,<<\"Welcome\">>}]},{subject_author,<<\"alice\">>},"
	    "{vcard_xupdate,undefined}].");
	const struct erl_term *a;
	char jid[64];

	CHECK(t != NULL);
	CHECK_STR(erl_str(erl_prop(t, "title")), "The Lounge");
	CHECK_STR(erl_str(erl_prop(t, "description")), "");
	CHECK_INT(erl_bool(erl_prop(t, "persistent")), 1);
	CHECK_INT(erl_bool(erl_prop(t, "public")), 0);
	CHECK_INT(erl_prop(t, "max_users")->i, 50);
	CHECK_INT(erl_prop(t, "presence_broadcast")->n, 3);
	a = erl_prop(t, "affiliations");
	CHECK(a && a->type == ERL_LIST && a->n == 1);
	CHECK_INT(erl_jid(a->v[0]->v[0], jid, sizeof(jid)), 0);
	CHECK_STR(jid, "alice@localhost");
	CHECK(erl_atom_is(a->v[0]->v[1]->v[0], "owner"));
	CHECK_STR(erl_str(erl_prop(t, "subject")->v[0]->v[2]), "Welcome");
	CHECK(erl_prop(t, "missing") == NULL);
	erl_free(t);
}

TEST(xmpp_import_erl_binaries)
{
	struct erl_term *t;

	/* escapes, /utf8 segments, byte lists (non-ASCII text) */
	t = parse("<<\"a\\\"b\\\\c\\n\">>");
	CHECK(t && t->type == ERL_BIN);
	CHECK_STR(t->s, "a\"b\\c\n");
	erl_free(t);
	t = parse("<<\"caf\\x{e9}\"/utf8>>");
	CHECK(t != NULL);
	CHECK_STR(t->s, "caf\xc3\xa9");
	erl_free(t);
	t = parse("<<99,97,102,195,169>>");
	CHECK(t != NULL);
	CHECK_STR(t->s, "caf\xc3\xa9");
	erl_free(t);
	t = parse("[{<<\"noarchive\">>,<<\"example.org\">>,<<>>}]");
	CHECK(t && t->n == 1);
	{
		char jid[64];

		CHECK_INT(erl_jid(t->v[0], jid, sizeof(jid)), 0);
		CHECK_STR(jid, "noarchive@example.org");
	}
	erl_free(t);
	t = parse("{'quoted atom', -12, 1.5e3, \"str\"}");
	CHECK(t && t->type == ERL_TUPLE && t->n == 4);
	CHECK_STR(t->v[0]->s, "quoted atom");
	CHECK_INT(t->v[1]->i, -12);
	CHECK(t->v[2]->type == ERL_FLOAT && t->v[2]->f == 1500.0);
	CHECK_STR(erl_str(t->v[3]), "str");
	erl_free(t);
}

TEST(xmpp_import_erl_bad_input)
{
	char deep[200];

	CHECK(parse("") == NULL);
	CHECK(parse("[{a,b}") == NULL);
	CHECK(parse("<<\"open") == NULL);
	CHECK(parse("<<256>>") == NULL);
	CHECK(parse("[a] trailing") == NULL);
	CHECK(parse("#{a => b}") == NULL);
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	CHECK(parse(deep) == NULL);	/* depth bound */
}
