/* Unit tests for xmpp-core's room nicknames (mucnick.c: the RFC 8266
 * Nickname profile, its §3 examples, NFKC, and random nicknames checked
 * against a Python implementation in mucnick_vectors.h, written by the
 * Unicode table generator), the [muc] table (mucconf.c) and the room
 * state that needs no session (mucroom.c: history ring, affiliations,
 * nick index). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "t.h"
#include "config.h"
#include "mucconf.h"
#include "mucnick.h"
#include "mucnick_vectors.h"
#include "mucroom.h"
#include "server.h"
#include "xml.h"

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

/* The comparison key of the enforced nick ("ERR" when either refuses). */
static const char *
key(const char *nick)
{
	static char k[1024];
	char e[1024];

	if (enforce(nick, e) < 0 || mucnick_key(e, k, sizeof(k)) < 0)
		return "ERR";
	return k;
}

TEST(xmpp_muc_nick_rfc8266)
{
	char out[1024];

	/* RFC 8266 §3, table 1: the output for comparison */
	CHECK_STR(key("Foo"), "foo");
	CHECK_STR(key("foo"), "foo");
	CHECK_STR(key("Foo Bar"), "foo bar");
	CHECK_STR(key("foo bar"), "foo bar");
	CHECK_STR(key("\xce\xa3"), "\xcf\x83");		/* Σ: σ */
	CHECK_STR(key("\xcf\x83"), "\xcf\x83");		/* σ */
	CHECK_STR(key("\xcf\x82"), "\xcf\x82");		/* ς stays final */
	/* 8: ϔ is Ϋ under NFKC, then ϋ (U+03CB) once lower-cased: the
	 * rounds repeat until stable */
	CHECK_STR(key("\xcf\x94"), "\xcf\x8b");
	CHECK(enforce("\xcf\x94", out) > 0);
	CHECK_STR(out, "\xce\xab");
	CHECK_STR(key("\xe2\x99\x9a"), "\xe2\x99\x9a");	/* ♚ */
	/* 10: ROMAN NUMERAL FOUR */
	CHECK_STR(key("Richard \xe2\x85\xa3"), "richard iv");
	CHECK(enforce("Richard \xe2\x85\xa3", out) > 0);
	CHECK_STR(out, "Richard IV");
	/* enforcement does not case-map (§2.3 note) */
	CHECK(enforce("Foo Bar", out) > 0);
	CHECK_STR(out, "Foo Bar");
}

TEST(xmpp_muc_nick_nfkc)
{
	char out[1024];

	/* the ligature ﬁ, fullwidth and math letters, superscripts */
	CHECK(enforce("\xef\xac\x81sh", out) > 0);
	CHECK_STR(out, "fish");
	CHECK_STR(key("\xef\xbc\xa6\xef\xbd\x8f\xef\xbd\x8f"), "foo");
	CHECK_STR(key("\xf0\x9d\x90\x85\xf0\x9d\x90\xa8\xf0\x9d\x90\xa8"), "foo");
	CHECK(enforce("x\xc2\xb2", out) > 0);
	CHECK_STR(out, "x2");
	/* ᾛ: canonical only, kept; lower-cased ᾓ for comparison */
	CHECK(enforce("\xe1\xbe\x9b", out) > 0);
	CHECK_STR(out, "\xe1\xbe\x9b");
	CHECK_STR(key("\xe1\xbe\x9b"), "\xe1\xbe\x93");
	/* halfwidth katakana and its voiced mark compose: ガ */
	CHECK(enforce("\xef\xbd\xb6\xef\xbe\x9e", out) > 0);
	CHECK_STR(out, "\xe3\x82\xac");
	/* U+FDFA is 18 code points with spaces in them */
	CHECK(enforce("\xef\xb7\xba", out) == 33);
	CHECK_STR(out, "\xd8\xb5\xd9\x84\xd9\x89 \xd8\xa7\xd9\x84\xd9\x84\xd9\x87 "
	    "\xd8\xb9\xd9\x84\xd9\x8a\xd9\x87 \xd9\x88\xd8\xb3\xd9\x84\xd9\x85");
	/* NFKC's own spaces are mapped in the next round: ¨ is U+0020
	 * U+0308, and the leading space goes */
	CHECK(enforce("a \xc2\xa8", out) > 0);
	CHECK_STR(out, "a \xcc\x88");
	CHECK(enforce("\xc2\xa8", out) > 0);
	CHECK_STR(out, "\xcc\x88");
	/* spaces only, once NFKC has run: refused */
	CHECK(enforce("\xe2\x80\x83\xc2\xa0", out) == -1);
	/* too long for the buffers: refused, not overflowed */
	{
		static char big[3 * 1024 + 1];

		for (size_t i = 0; i < 1024; i++)
			memcpy(big + 3 * i, "\xef\xb7\xba", 3);
		big[3 * 1024] = '\0';
		CHECK(enforce(big, out) == -1);
		big[3 * 30] = '\0';	/* 30 x 33 bytes fit in 1024 */
		CHECK(enforce(big, out) == 30 * 33);
	}
}

TEST(xmpp_muc_nick_python_vectors)
{
	size_t n = sizeof(mucnick_vectors) / sizeof(mucnick_vectors[0]);
	size_t accepted = 0;
	char out[1024], again[1024], k[1024];

	for (size_t i = 0; i < n; i++) {
		const char *s = mucnick_vectors[i][0];
		const char *e = mucnick_vectors[i][1];
		const char *kk = mucnick_vectors[i][2];

		if (e == NULL) {
			CHECK(enforce(s, out) == -1);
			continue;
		}
		accepted++;
		CHECK(enforce(s, out) >= 0);
		CHECK_STR(out, e);
		CHECK(enforce(out, again) >= 0);
		CHECK_STR(again, out);
		if (kk == NULL) {
			CHECK(mucnick_key(out, k, sizeof(k)) == -1);
			continue;
		}
		CHECK(mucnick_key(out, k, sizeof(k)) >= 0);
		CHECK_STR(k, kk);
	}
	CHECK(accepted > n / 4);
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

static struct xml_node *
msg(int i)
{
	struct xml_node *m = xml_new("message", "jabber:client");
	char body[32];

	snprintf(body, sizeof(body), "message %d", i);
	xml_set_attr(m, "type", "groupchat");
	xml_set_attr(m, "from", "r@conference.example.org/n");
	xml_add_with_text(m, "body", NULL, body);
	return m;
}

static char *
hist_body(const struct muc_room *r, unsigned i)
{
	const struct muc_hist *h = &r->hist[(r->hist_first + i) % r->hist_cap];

	return xml_text(xml_child(h->msg, "body", NULL));
}

TEST(xmpp_muc_room_state)
{
	struct xmpp_config cfg, *saved = srv.cfg;
	struct muc_config mc;
	struct conf_err e;
	struct muc_room *r;
	struct muc_occ *o;
	struct xml_node *m;
	char *b;
	size_t one;

	memset(&cfg, 0, sizeof(cfg));
	CHECK(load("[muc]\nhistory = 3\n", &mc, &e) == 0);
	cfg.mods[muc_module.id] = &mc;
	srv.cfg = &cfg;
	r = mucroom_create("r@conference.example.org", "r", 0, "a@example.org");
	CHECK(r != NULL);
	CHECK(mucroom_find("r@conference.example.org") == r);
	CHECK_INT(mucroom_count_by("a@example.org"), 1);
	CHECK_INT(mucroom_aff(r, "a@example.org"), MUC_AFF_OWNER);
	CHECK_INT(mucroom_aff(r, "b@example.org"), MUC_AFF_NONE);
	CHECK(mucroom_set_aff(r, "b@example.org", MUC_AFF_OUTCAST) == 0);
	CHECK_INT(mucroom_aff(r, "b@example.org"), MUC_AFF_OUTCAST);
	CHECK(mucroom_set_aff(r, "b@example.org", MUC_AFF_NONE) == 0);
	CHECK_INT(r->affs.n, 1);
	/* the ring keeps the newest `history` messages, oldest first */
	for (int i = 0; i < 5; i++) {
		m = msg(i);
		mucroom_hist_add(r, m, 1000 + i, NULL);
		xml_free(m);
	}
	CHECK_INT(r->hist_n, 3);
	b = hist_body(r, 0);
	CHECK_STR(b, "message 2");
	free(b);
	b = hist_body(r, 2);
	CHECK_STR(b, "message 4");
	free(b);
	one = r->hist_bytes / 3;
	/* ... and no more bytes than history_bytes */
	mc.history_bytes = 2 * one + 1;
	m = msg(5);
	mucroom_hist_add(r, m, 1005, NULL);
	xml_free(m);
	CHECK_INT(r->hist_n, 2);
	CHECK(r->hist_bytes <= mc.history_bytes);
	b = hist_body(r, 1);
	CHECK_STR(b, "message 5");
	free(b);
	/* the nick index follows a rename */
	o = mucroom_occ_new(r, "Ann", "ann", "a@example.org");
	CHECK(o != NULL);
	CHECK(mucroom_occ_by_nick(r, "ann") == o);
	CHECK(mucroom_occ_rename(r, o, "Bea", "bea") == 0);
	CHECK(mucroom_occ_by_nick(r, "ann") == NULL);
	CHECK(mucroom_occ_by_nick(r, "bea") == o);
	CHECK_STR(o->full, "r@conference.example.org/Bea");
	CHECK_INT(r->nocc, 1);
	mucroom_occ_free(r, o);
	CHECK_INT(r->nocc, 0);
	mucroom_evict(r);
	CHECK(mucroom_find("r@conference.example.org") == NULL);
	CHECK_INT(mucroom_count_by("a@example.org"), 0);
	mucroom_cleanup();
	srv.cfg = saved;
}
