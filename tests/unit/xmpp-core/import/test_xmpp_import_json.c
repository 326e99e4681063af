/* Unit tests for xmpp-core/import: the JSON reader of Prosody's stored
 * values (rows as Prosody 0.12's mod_storage_sql writes them) and the
 * archive ids made from Prosody's rows. */
#include "t.h"

#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "prosody.h"

static struct json *
jparse(const char *s)
{
	char err[128];

	return json_parse(s, strlen(s), err, sizeof(err));
}

TEST(xmpp_import_json_roster_rows)
{
	struct json *j = jparse("{\"__hash\":[false,{\"pending\":{\"dave@localhost\":"
	    "{\"name\":\"presence\",\"attr\":{\"type\":\"subscribe\"}}},\"version\":8}]}");
	const struct json *m;

	CHECK(j != NULL);
	m = json_hash_false(j);
	CHECK(m != NULL);
	CHECK(json_get(m, "version")->num == 8.0);
	CHECK(json_get(json_get(m, "pending"), "dave@localhost") != NULL);
	json_free(j);
	j = jparse(" {\"name\":\"Bob\",\"groups\":{\"Friends\":true,\"Work\":true},"
	    "\"subscription\":\"both\"} ");
	CHECK(j != NULL);
	CHECK_STR(json_str(j, "name"), "Bob");
	CHECK_INT(json_get(j, "groups")->n, 2);
	CHECK_STR(json_get(j, "groups")->k[1], "Work");
	CHECK_INT(json_bool(json_get(json_get(j, "groups"), "Work")), 1);
	CHECK(json_str(j, "ask") == NULL);
	json_free(j);
	/* archive_prefs' default: {"__hash":[false,true]} */
	j = jparse("{\"__hash\":[false,true]}");
	CHECK(j && json_hash_false(j)->type == JSON_TRUE);
	json_free(j);
}

TEST(xmpp_import_json_strings)
{
	struct json *j = jparse("[\"caf\\u00e9\", \"\\ud83d\\ude00\", \"a\\\"b\\\\c\\n\", -1.5e2, null]");

	CHECK(j && j->type == JSON_ARR && j->n == 5);
	CHECK_STR(j->v[0]->s, "caf\xc3\xa9");
	CHECK_STR(j->v[1]->s, "\xf0\x9f\x98\x80");
	CHECK_STR(j->v[2]->s, "a\"b\\c\n");
	CHECK(j->v[3]->num == -150.0);
	CHECK(j->v[4]->type == JSON_NULL);
	json_free(j);
}

TEST(xmpp_import_json_stanza)
{
	struct json *j = jparse("{\"name\":\"notes\",\"attr\":{\"xmlns\":\"storage:rosternotes\"},"
	    "\"__array\":[{\"name\":\"note\",\"attr\":{\"jid\":\"bob@localhost\"},"
	    "\"__array\":[\"met <at> FOSDEM & 'there'\"]},{\"name\":\"empty\"}]}");
	struct buf b;

	CHECK(j != NULL);
	buf_init(&b);
	CHECK_INT(json_stanza_xml(j, &b), 0);
	CHECK_STR(b.p, "<notes xmlns='storage:rosternotes'><note jid='bob@localhost'>"
	    "met &lt;at&gt; FOSDEM &amp; 'there'</note><empty/></notes>");
	buf_free(&b);
	json_free(j);
	/* a name that is no XML name */
	j = jparse("{\"name\":\"a b\"}");
	buf_init(&b);
	CHECK_INT(json_stanza_xml(j, &b), -1);
	buf_free(&b);
	json_free(j);
}

TEST(xmpp_import_json_bad_input)
{
	char deep[200], err[128];

	CHECK(jparse("") == NULL);
	CHECK(jparse("{\"subscription\": tru") == NULL);
	CHECK(jparse("{\"a\":1,}") == NULL);
	CHECK(jparse("[1] 2") == NULL);
	CHECK(jparse("\"\\ud800\"") == NULL);	/* a lone surrogate */
	CHECK(jparse("\"\\u0000\"") == NULL);
	CHECK(jparse("\"tab\there\"") == NULL);
	/* a NUL byte after a number is text after the value */
	CHECK(json_parse("12\0", 3, err, sizeof(err)) == NULL);
	CHECK(json_parse("[1\0]", 4, err, sizeof(err)) == NULL);
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	CHECK(jparse(deep) == NULL);	/* depth bound */
}

TEST(xmpp_import_prosody_archive_ids)
{
	/* one second, rows in sort_id order: increasing, in that second */
	int64_t a = prosody_archive_id(1700000000, 41, 0);
	int64_t b = prosody_archive_id(1700000000, 42, a);

	CHECK_INT(a, 1700000000000041LL);
	CHECK_INT(b, 1700000000000042LL);
	/* sort_id wrapping within a second, or an earlier `when`: still after */
	CHECK_INT(prosody_archive_id(1700000000, 1000000, b), b + 1);
	CHECK_INT(prosody_archive_id(1699999999, 7, b), b + 1);
}
