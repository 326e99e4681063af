/* Unit tests for xmpp-core's room nicknames (mucnick.c: the RFC 8266
 * Nickname profile), the [muc] table (mucconf.c) and the room state
 * that needs no session (mucroom.c: history ring, affiliations, nick
 * index). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "t.h"
#include "config.h"
#include "mucconf.h"
#include "mucnick.h"
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
