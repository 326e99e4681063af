/* Unit tests for the pure parts of xmpp-core's message archive (XEP-0313):
 * archive ids, XEP-0082 times, what is archived, preference matching
 * (XEP-0441), PostgreSQL array literals, and query/RSM/form parsing. */
#include "t.h"

#include <stdint.h>
#include <stdlib.h>

#include "buf.h"
#include "fragment.h"
#include "mam.h"
#include "mamprefs.h"
#include "mamquery.h"
#include "server.h"
#include "xml.h"

TEST(xmpp_mam_ids)
{
	int64_t v = 0;

	CHECK_INT(mam_id_parse("1733150000123456", &v), 0);
	CHECK_INT(v, 1733150000123456LL);
	CHECK_INT(mam_id_parse("9223372036854775807", &v), 0);
	CHECK_INT(v, INT64_MAX);
	CHECK_INT(mam_id_parse("9223372036854775808", &v), -1);
	CHECK_INT(mam_id_parse("10000000000000000000", &v), -1);
	CHECK_INT(mam_id_parse("0", &v), -1);
	CHECK_INT(mam_id_parse("012", &v), -1);
	CHECK_INT(mam_id_parse("-5", &v), -1);
	CHECK_INT(mam_id_parse("+5", &v), -1);
	CHECK_INT(mam_id_parse("12a", &v), -1);
	CHECK_INT(mam_id_parse("", &v), -1);
	CHECK_INT(mam_id_parse("1 ", &v), -1);
	CHECK_INT(mam_id_parse(NULL, &v), -1);
	/* strictly increasing, following the clock when it moves forward */
	CHECK_INT(mam_id_after(100, 200), 200);
	CHECK_INT(mam_id_after(200, 200), 201);
	CHECK_INT(mam_id_after(500, 200), 501);	/* the clock went back */
}

TEST(xmpp_mam_time)
{
	int64_t t = 0;
	char buf[40];

	CHECK_INT(mam_time_parse("1970-01-01T00:00:00Z", &t), 0);
	CHECK_INT(t, 0);
	CHECK_INT(mam_time_parse("2010-07-10T23:08:25Z", &t), 0);
	CHECK_INT(t, 1278803305LL * 1000000);
	CHECK_INT(mam_time_parse("2010-07-10T23:08:25.123Z", &t), 0);
	CHECK_INT(t, 1278803305LL * 1000000 + 123000);
	CHECK_INT(mam_time_parse("2010-07-10T23:08:25.1234567Z", &t), 0);
	CHECK_INT(t, 1278803305LL * 1000000 + 123456);
	CHECK_INT(mam_time_parse("2010-07-11T01:08:25+02:00", &t), 0);
	CHECK_INT(t, 1278803305LL * 1000000);
	CHECK_INT(mam_time_parse("2010-07-10T18:08:25-05:00", &t), 0);
	CHECK_INT(t, 1278803305LL * 1000000);
	CHECK_INT(mam_time_parse("2024-02-29T00:00:00Z", &t), 0);
	CHECK_INT(mam_time_parse("2023-02-29T00:00:00Z", &t), -1);
	CHECK_INT(mam_time_parse("2010-13-01T00:00:00Z", &t), -1);
	CHECK_INT(mam_time_parse("2010-04-31T00:00:00Z", &t), -1);
	CHECK_INT(mam_time_parse("2010-07-10T24:00:00Z", &t), -1);
	CHECK_INT(mam_time_parse("2010-07-10T23:08:25", &t), -1);	/* no zone */
	CHECK_INT(mam_time_parse("2010-07-10 23:08:25Z", &t), -1);
	CHECK_INT(mam_time_parse("2010-07-10T23:08:25.Z", &t), -1);
	CHECK_INT(mam_time_parse("2010-07-10T23:08:25Zjunk", &t), -1);
	CHECK_INT(mam_time_parse("2010-07-10T23:08:25+0200", &t), -1);
	CHECK_INT(mam_time_parse("1969-12-31T23:59:59Z", &t), -1);
	CHECK_INT(mam_time_parse("yesterday", &t), -1);
	CHECK_INT(mam_time_parse("", &t), -1);
	/* what we write parses back to the same microsecond */
	CHECK_STR(mam_time_format(1278803305123456LL, buf, sizeof(buf)),
	    "2010-07-10T23:08:25.123456Z");
	CHECK_INT(mam_time_parse(buf, &t), 0);
	CHECK_INT(t, 1278803305123456LL);
	CHECK_STR(mam_time_format(5, buf, sizeof(buf)), "1970-01-01T00:00:00.000005Z");
}

static struct xml_node *
msg(const char *type)
{
	struct xml_node *m = xml_new("message", NS_CLIENT);

	if (type)
		xml_set_attr(m, "type", type);
	return m;
}

TEST(xmpp_mam_archivable)
{
	static const char *const skip[] = { "groupchat", "headline", "error" };
	struct xml_node *m;

	m = msg("chat");
	CHECK(!mam_archivable(m));		/* nothing to keep */
	xml_add_with_text(m, "body", NS_CLIENT, "hi");
	CHECK(mam_archivable(m));
	xml_add(m, "no-store", "urn:xmpp:hints");
	CHECK(!mam_archivable(m));
	xml_free(m);
	m = msg(NULL);
	xml_add_with_text(m, "body", NS_CLIENT, "hi");
	CHECK(mam_archivable(m));
	xml_add(m, "no-permanent-store", "urn:xmpp:hints");
	CHECK(!mam_archivable(m));
	xml_free(m);
	for (size_t i = 0; i < 3; i++) {
		m = msg(skip[i]);
		xml_add_with_text(m, "body", NS_CLIENT, "hi");
		CHECK(!mam_archivable(m));
		xml_free(m);
	}
	/* encrypted payloads without a body */
	m = msg("chat");
	xml_add(m, "encrypted", "eu.siacs.conversations.axolotl");
	CHECK(mam_archivable(m));
	xml_free(m);
	m = msg("chat");
	xml_add(m, "encrypted", "urn:xmpp:omemo:2");
	CHECK(mam_archivable(m));
	xml_free(m);
	/* chat states, receipts and markers alone: no; with <store/>: yes */
	m = msg("chat");
	xml_add(m, "composing", "http://jabber.org/protocol/chatstates");
	CHECK(!mam_archivable(m));
	xml_free(m);
	m = msg("chat");
	xml_add(m, "received", "urn:xmpp:receipts");
	CHECK(!mam_archivable(m));
	xml_add(m, "store", "urn:xmpp:hints");
	CHECK(mam_archivable(m));
	xml_free(m);
	/* carbon copies and archive results are copies of what is archived */
	m = msg("chat");
	xml_add(xml_add(m, "received", "urn:xmpp:carbons:2"), "forwarded", "urn:xmpp:forward:0");
	xml_add_with_text(m, "body", NS_CLIENT, "x");
	CHECK(!mam_archivable(m));
	xml_free(m);
	m = msg(NULL);
	xml_add(m, "result", NS_MAM2);
	xml_add_with_text(m, "body", NS_CLIENT, "x");
	CHECK(!mam_archivable(m));
	xml_free(m);
}

static int
match(const struct mam_prefs *p, const char *jid)
{
	struct jid j;

	if (jid_parse(jid, &j) == -1)
		return -9;
	return mam_prefs_match(p, &j);
}

TEST(xmpp_mam_prefs_match)
{
	struct mam_prefs p = { MAM_ALWAYS, { 0 }, { 0 } };
	enum mam_mode m;

	CHECK_INT(match(&p, "a@x"), 1);
	hmap_put(&p.never, "bad@x", (void *)1);
	hmap_put(&p.never, "half@x/work", (void *)1);
	hmap_put(&p.always, "half@x", (void *)1);
	hmap_put(&p.always, "bad@x/special", (void *)1);
	/* never wins; a bare JID covers its resources, a full one only itself */
	CHECK_INT(match(&p, "bad@x"), 0);
	CHECK_INT(match(&p, "bad@x/any"), 0);
	CHECK_INT(match(&p, "bad@x/special"), 0);
	CHECK_INT(match(&p, "half@x/work"), 0);
	CHECK_INT(match(&p, "half@x/home"), 1);
	p.mode = MAM_NEVER;
	CHECK_INT(match(&p, "other@x"), 0);
	CHECK_INT(match(&p, "half@x"), 1);
	p.mode = MAM_ROSTER;
	CHECK_INT(match(&p, "other@x/r"), 2);
	hmap_free(&p.never);
	hmap_free(&p.always);
	CHECK_INT(mam_mode_parse("roster", &m), 0);
	CHECK_INT(m, MAM_ROSTER);
	CHECK_INT(mam_mode_parse("Roster", &m), -1);
	CHECK_INT(mam_mode_parse(NULL, &m), -1);
	CHECK_STR(mam_mode_name(MAM_NEVER), "never");
}

TEST(xmpp_mam_pg_array)
{
	char *v[] = { "a@x", "b@x/with \"quotes\" and \\", "c,d{}@x" };
	struct buf b;

	buf_init(&b);
	CHECK_INT(mam_pg_array(&b, v, 0), 0);
	CHECK_STR(b.p, "{}");
	buf_reset(&b);
	CHECK_INT(mam_pg_array(&b, v, 3), 0);
	CHECK_STR(b.p, "{\"a@x\",\"b@x/with \\\"quotes\\\" and \\\\\",\"c,d{}@x\"}");
	buf_free(&b);
}

TEST(xmpp_mam_copy_text)
{
	const char *v[] = { "plain", "tab\there", "two\nlines", "cr\rhere",
	    "back\\slash \\t \\N", "", "\\", "trailing\\" };
	const size_t n = sizeof(v) / sizeof(v[0]);
	struct buf b, f;
	const char *p, *end;

	buf_init(&b);
	buf_init(&f);
	for (size_t i = 0; i < n; i++)
		CHECK_INT(mam_copy_field(&b, v[i], i + 1 < n ? '\t' : '\n'), 0);
	/* one line: no raw tab, newline or carriage return inside a field */
	CHECK(memchr(b.p, '\r', b.len) == NULL);
	CHECK(memchr(b.p, '\n', b.len) == b.p + b.len - 1);
	CHECK(strncmp(b.p, "plain\ttab\\there\ttwo\\nlines\tcr\\rhere\t"
	    "back\\\\slash \\\\t \\\\N\t\t", 45) == 0);
	p = b.p;
	end = b.p + b.len;
	for (size_t i = 0; i < n; i++) {
		CHECK_INT(mam_copy_read(&p, end, &f), 0);
		CHECK_STR(f.p, v[i]);
		CHECK(*p == (i + 1 < n ? '\t' : '\n'));
		p++;
	}
	CHECK(p == end);
	/* a field the text ends inside of */
	p = b.p;
	CHECK_INT(mam_copy_read(&p, b.p + 3, &f), -1);
	buf_free(&b);
	buf_free(&f);
}

static const struct mam_config cfg = { .enabled = true, .default_page = 20, .max_page = 100,
    .max_prefs = 10, .max_age = 0, .expire_batch = 1000, .max_pending = 4 << 20 };

static int
parse(const char *xml, struct mam_query *q, const char **cond)
{
	struct xml_node *n = fragment_parse(xml, strlen(xml), NS_CLIENT);
	const char *type;
	int rc;

	if (n == NULL)
		return -9;
	rc = mam_query_parse(n, &cfg, q, &type, cond);
	xml_free(n);	/* the query's ns/queryid point into n: tests read numbers only */
	q->ns = q->queryid = NULL;
	return rc;
}

#define FORM(fields) "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>" \
	"<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>" fields \
	"</x></query>"
#define F(var, val) "<field var='" var "'><value>" val "</value></field>"
#define RSMQ(inner) "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>" \
	inner "</set></query>"

TEST(xmpp_mam_query_parse)
{
	struct mam_query q;
	const char *cond = NULL;

	/* nothing: the whole archive, default page */
	CHECK_INT(parse("<query xmlns='urn:xmpp:mam:2'/>", &q, &cond), 0);
	CHECK_INT(q.lo, 0);
	CHECK(q.hi == INT64_MAX);
	CHECK_INT(q.max, 20);
	CHECK_INT(q.index, -1);
	CHECK(!q.backward && !q.with && q.nrefs == 0);
	mam_query_free(&q);

	/* with (full), start/end inclusive, after-id/before-id exclusive */
	CHECK_INT(parse(FORM(F("with", "Juliet@Capulet.lit/Balcony")
	    F("start", "2010-07-10T23:08:25Z") F("end", "2010-07-10T23:08:26Z")), &q, &cond), 0);
	CHECK(q.with);
	CHECK_STR(q.with_bare, "juliet@capulet.lit");
	CHECK_STR(q.with_res, "Balcony");
	CHECK_INT(q.lo, 1278803305LL * 1000000 - 1);
	CHECK_INT(q.hi, 1278803306LL * 1000000 + 1);
	CHECK(q.plo == q.lo && q.phi == q.hi);
	mam_query_free(&q);
	CHECK_INT(parse(FORM(F("after-id", "1000") F("before-id", "2000")), &q, &cond), 0);
	CHECK_INT(q.lo, 1000);
	CHECK_INT(q.hi, 2000);
	CHECK_INT(q.nrefs, 2);
	mam_query_free(&q);
	/* ids: each must exist; a list over max_page is refused */
	CHECK_INT(parse(FORM("<field var='ids'><value>5</value><value>7</value><value>5</value>"
	    "</field>"), &q, &cond), 0);
	CHECK_INT(q.nids, 3);
	CHECK_INT(q.nrefs, 2);
	mam_query_free(&q);

	/* RSM: max capped, after narrows the page not the set, empty before */
	CHECK_INT(parse(RSMQ("<max>5000</max><after>1500</after>"), &q, &cond), 0);
	CHECK_INT(q.max, 100);
	CHECK_INT(q.plo, 1500);
	CHECK_INT(q.lo, 0);
	CHECK(!q.backward && q.after);
	mam_query_free(&q);
	CHECK_INT(parse(RSMQ("<max>10</max><before/>"), &q, &cond), 0);
	CHECK(q.backward && q.before && q.phi == INT64_MAX && q.nrefs == 0);
	mam_query_free(&q);
	CHECK_INT(parse(RSMQ("<before>42</before>"), &q, &cond), 0);
	CHECK(q.backward && q.phi == 42 && q.nrefs == 1);
	mam_query_free(&q);
	CHECK_INT(parse(RSMQ("<max>0</max><index>7</index>"), &q, &cond), 0);
	CHECK_INT(q.max, 0);
	CHECK_INT(q.index, 7);
	mam_query_free(&q);
	CHECK_INT(parse("<query xmlns='urn:xmpp:mam:2'><flip-page/></query>", &q, &cond), 0);
	CHECK(q.flip);
	mam_query_free(&q);

	/* errors */
	CHECK_INT(parse(RSMQ("<after>abc</after>"), &q, &cond), -1);
	CHECK_STR(cond, "item-not-found");
	mam_query_free(&q);
	CHECK_INT(parse(RSMQ("<after></after>"), &q, &cond), -1);
	CHECK_STR(cond, "item-not-found");
	mam_query_free(&q);
	CHECK_INT(parse(RSMQ("<max>-1</max>"), &q, &cond), -1);
	CHECK_STR(cond, "bad-request");
	mam_query_free(&q);
	CHECK_INT(parse(RSMQ("<index>1</index><after>5</after>"), &q, &cond), -1);
	CHECK_STR(cond, "bad-request");
	mam_query_free(&q);
	CHECK_INT(parse(FORM(F("start", "2010-07-10")), &q, &cond), -1);
	CHECK_STR(cond, "bad-request");
	mam_query_free(&q);
	CHECK_INT(parse(FORM(F("with", "a@b@c")), &q, &cond), -1);
	CHECK_STR(cond, "jid-malformed");
	mam_query_free(&q);
	CHECK_INT(parse(FORM(F("fulltext", "x")), &q, &cond), -1);
	CHECK_STR(cond, "feature-not-implemented");
	mam_query_free(&q);
	CHECK_INT(parse(FORM("<field var='with'><value>a@b</value><value>c@d</value></field>"),
	    &q, &cond), -1);
	CHECK_STR(cond, "bad-request");
	mam_query_free(&q);
	CHECK_INT(parse("<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>"
	    "<field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x></query>", &q, &cond), -1);
	CHECK_STR(cond, "bad-request");
	mam_query_free(&q);
	CHECK_INT(parse("<query xmlns='urn:xmpp:mam:2' node='x'/>", &q, &cond), -1);
	CHECK_STR(cond, "item-not-found");
	mam_query_free(&q);
	/* empty fields filter nothing */
	CHECK_INT(parse(FORM("<field var='with'/>" F("start", "")), &q, &cond), 0);
	CHECK(!q.with && q.lo == 0);
	mam_query_free(&q);
}

TEST(xmpp_mam_query_ids_limit)
{
	struct buf b;
	struct mam_query q;
	const char *cond = NULL;

	buf_init(&b);
	buf_puts(&b, "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data'><field var='ids'>");
	for (int i = 1; i <= 101; i++)
		buf_printf(&b, "<value>%d</value>", i);
	buf_puts(&b, "</field></x></query>");
	CHECK_INT(parse(b.p, &q, &cond), -1);
	CHECK_STR(cond, "not-acceptable");
	mam_query_free(&q);
	buf_free(&b);
}

/* [mam]: the writer's bounds (batch_rows, batch_delay_ms) and max_pending. */
static int
load(const char *text, struct mam_config *m)
{
	struct conf_err e;
	struct conf_doc *d = conf_parse_string("t.toml", text, 0, &e);
	int rc;

	if (d == NULL)
		return -2;
	memset(m, 0, sizeof(*m));
	rc = mam_config_load(m, d->root, &e);
	conf_free(d);
	return rc;
}

TEST(xmpp_mam_config_writer)
{
	struct mam_config m;

	CHECK_INT(load("", &m), 0);
	CHECK_INT(m.batch_rows, 500);
	CHECK_INT(m.batch_delay_ms, 10);
	CHECK_INT(load("[mam]\nbatch_rows = 1\nbatch_delay_ms = 0\n", &m), 0);
	CHECK_INT(m.batch_rows, 1);
	CHECK_INT(m.batch_delay_ms, 0);
	CHECK_INT(load("[mam]\nbatch_rows = 10000\nbatch_delay_ms = 1000\n", &m), 0);
	CHECK_INT(load("[mam]\nbatch_rows = 0\n", &m), -1);
	CHECK_INT(load("[mam]\nbatch_rows = 10001\n", &m), -1);
	CHECK_INT(load("[mam]\nbatch_delay_ms = -1\n", &m), -1);
	CHECK_INT(load("[mam]\nbatch_delay_ms = 1001\n", &m), -1);
	CHECK_INT(load("[mam]\nmax_pending = \"32K\"\n", &m), -1);
}
