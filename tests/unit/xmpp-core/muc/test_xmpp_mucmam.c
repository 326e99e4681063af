/* Unit tests for xmpp-core's room archives (mucmam.c: what is archived,
 * ids, the real-JID splice of a stored message), the [muc] archive keys
 * (mucconf.c) and the history ring's ids (mucroom.c: the tombstone that
 * replaces a kept message). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conf.h"
#include "t.h"
#include "config.h"
#include "mucconf.h"
#include "mucmam.h"
#include "mucroom.h"
#include "server.h"
#include "xml.h"

static struct xml_node *
gc(const char *child, const char *ns)
{
	struct xml_node *m = xml_new("message", "jabber:client");

	xml_set_attr(m, "type", "groupchat");
	if (child)
		xml_add(m, child, ns);
	return m;
}

TEST(xmpp_mucmam_archivable)
{
	struct xml_node *m;

	m = gc("body", "jabber:client");
	CHECK(mucmam_archivable(m));
	xml_add(m, "no-store", "urn:xmpp:hints");
	CHECK(!mucmam_archivable(m));
	xml_free(m);
	m = gc("encrypted", "eu.siacs.conversations.axolotl");
	CHECK(mucmam_archivable(m));
	xml_free(m);
	m = gc("retract", NS_RETRACT1);
	CHECK(mucmam_archivable(m));
	xml_free(m);
	m = gc("store", "urn:xmpp:hints");
	CHECK(mucmam_archivable(m));
	xml_free(m);
	/* chat states, markers, a subject alone: not */
	m = gc("active", "http://jabber.org/protocol/chatstates");
	CHECK(!mucmam_archivable(m));
	xml_free(m);
	m = gc("subject", "jabber:client");
	CHECK(!mucmam_archivable(m));
	xml_free(m);
	m = gc(NULL, NULL);
	CHECK(!mucmam_archivable(m));
	xml_free(m);
}

TEST(xmpp_mucmam_ids)
{
	CHECK_INT(mucmam_id_after(0, 1000), 1000);
	CHECK_INT(mucmam_id_after(1000, 1000), 1001);
	/* the clock going back never makes an id go back */
	CHECK_INT(mucmam_id_after(5000, 1000), 5001);
	CHECK_INT(mucmam_id_after(999, 1000), 1000);
}

static int
splice(const char *rest, const char *jid, struct buf *b)
{
	buf_reset(b);
	return mucmam_with_jid(b, rest, strlen(rest), jid);
}

TEST(xmpp_mucmam_with_jid)
{
	struct buf b;

	buf_init(&b);
	CHECK(splice(" from='r@c/n'><body>x</body></message>", "a@b", &b) == 0);
	CHECK_STR(b.p, " from='r@c/n'><body>x</body><x xmlns='"
	    "http://jabber.org/protocol/muc#user'><item jid='a@b'/></x></message>");
	CHECK(splice(" from='r@c/n'/>", "a@b", &b) == 0);
	CHECK_STR(b.p, " from='r@c/n'><x xmlns='"
	    "http://jabber.org/protocol/muc#user'><item jid='a@b'/></x></message>");
	/* the JID is escaped */
	CHECK(splice(" a='1'/>", "o'x@b", &b) == 0);
	CHECK(strstr(b.p, "jid='o&apos;x@b'") != NULL);
	/* not a whole element */
	CHECK(splice(" from='r@c/n'><body>x</body>", "a@b", &b) == -1);
	CHECK(splice("", "a@b", &b) == -1);
	buf_free(&b);
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

TEST(xmpp_mucmam_config)
{
	struct muc_config m;
	struct conf_err e;

	CHECK(load("", &m, &e) == 0);
	CHECK(m.default_archive);
	CHECK_INT(m.archive_page, 50);
	CHECK_INT(m.archive_max_page, 250);
	CHECK_INT(m.archive_max_messages, 0);
	CHECK(load("[muc]\ndefault_archive = false\narchive_page = 10\n"
	    "archive_max_page = 20\narchive_max_messages = 1000\n", &m, &e) == 0);
	CHECK(!m.default_archive);
	CHECK_INT(m.archive_page, 10);
	CHECK_INT(m.archive_max_page, 20);
	CHECK_INT(m.archive_max_messages, 1000);
	CHECK(load("[muc]\narchive_page = 30\narchive_max_page = 20\n", &m, &e) == -1);
	CHECK(load("[muc]\narchive_max_page = 0\n", &m, &e) == -1);
	CHECK(load("[muc]\narchive_max_messages = -1\n", &m, &e) == -1);
}

static struct xml_node *
body(const char *text)
{
	struct xml_node *m = gc(NULL, NULL);

	xml_add_with_text(m, "body", NULL, text);
	return m;
}

TEST(xmpp_mucmam_ring_tombstone)
{
	struct xmpp_config cfg, *saved = srv.cfg;
	struct muc_config mc;
	struct conf_err e;
	struct muc_room *r;
	struct xml_node *m;
	struct buf out;
	size_t before;
	char *t;

	memset(&cfg, 0, sizeof(cfg));
	CHECK(load("[muc]\nhistory = 3\n", &mc, &e) == 0);
	cfg.mods[muc_module.id] = &mc;
	srv.cfg = &cfg;
	r = mucroom_create("t@conference.example.org", "t", 0, "a@example.org");
	CHECK(r != NULL);
	CHECK(r->cfg.archive);
	for (int i = 1; i <= 3; i++) {
		char s[16];

		snprintf(s, sizeof(s), "m%d", i);
		m = body(s);
		mucroom_hist_add_id(r, m, 1000 + i, 100 + i, NULL);
		xml_free(m);
	}
	before = r->hist_bytes;
	m = gc("retracted", NS_RETRACT1);
	mucroom_hist_replace(r, 102, m);
	mucroom_hist_replace(r, 999, m);	/* unknown: nothing */
	xml_free(m);
	CHECK(xml_child(r->hist[1].msg, "body", NULL) == NULL);
	CHECK(xml_child(r->hist[1].msg, "retracted", NS_RETRACT1) != NULL);
	CHECK(r->hist_bytes != before);
	t = xml_text(xml_child(r->hist[2].msg, "body", NULL));
	CHECK_STR(t, "m3");
	free(t);
	/* the ring keeping nothing still gives the serialisation out */
	r->hist_cap = 0;
	buf_init(&out);
	m = body("m4");
	mucroom_hist_add_id(r, m, 1004, 104, &out);
	xml_free(m);
	CHECK(out.p != NULL && strstr(out.p, "m4") != NULL);
	buf_free(&out);
	r->hist_cap = 3;
	mucroom_evict(r);
	mucroom_cleanup();
	srv.cfg = saved;
}
