/* Unit tests for xmpp-core's issue 6 session features: which messages
 * carbons copy (XEP-0280 §6, XEP-0334 hints) and what CSI may hold back
 * (XEP-0352). */
#include "t.h"
#include "carbons.h"
#include "conf.h"
#include "csi.h"
#include "imconf.h"
#include "server.h"
#include "xml.h"

static struct xml_node *
msg(const char *type)
{
	struct xml_node *m = xml_new("message", NS_CLIENT);

	if (type)
		xml_set_attr(m, "type", type);
	return m;
}

TEST(xmpp_carbons_eligible)
{
	struct xml_node *m;

	m = msg("chat");
	CHECK(carbons_eligible(m));
	xml_add(m, "private", NS_CARBONS);
	CHECK(!carbons_eligible(m));
	xml_free(m);

	m = msg("chat");
	xml_add(m, "no-copy", "urn:xmpp:hints");
	CHECK(!carbons_eligible(m));
	xml_free(m);

	/* normal: only with content, receipts or markers */
	m = msg(NULL);
	CHECK(!carbons_eligible(m));
	xml_add_with_text(m, "body", NS_CLIENT, "hi");
	CHECK(carbons_eligible(m));
	xml_free(m);
	m = msg("normal");
	xml_add(m, "received", "urn:xmpp:receipts");
	CHECK(carbons_eligible(m));
	xml_free(m);

	/* never: errors, groupchat, headline, carbons of carbons */
	m = msg("error");
	xml_add_with_text(m, "body", NS_CLIENT, "x");
	CHECK(!carbons_eligible(m));
	xml_free(m);
	m = msg("groupchat");
	CHECK(!carbons_eligible(m));
	xml_free(m);
	m = msg("headline");
	xml_add_with_text(m, "body", NS_CLIENT, "x");
	CHECK(!carbons_eligible(m));
	xml_free(m);
	m = msg("chat");
	xml_add(m, "sent", NS_CARBONS);
	CHECK(!carbons_eligible(m));
	xml_free(m);
}

TEST(xmpp_csi_holdable)
{
	struct xml_node *m, *w, *f, *inner;

	m = xml_new("presence", NS_CLIENT);
	CHECK(csi_holdable(m));
	xml_set_attr(m, "type", "unavailable");
	CHECK(csi_holdable(m));
	xml_set_attr(m, "type", "subscribe");
	CHECK(!csi_holdable(m));
	xml_free(m);

	/* chat states alone (with thread and hints) wait; content does not */
	m = msg("chat");
	CHECK(!csi_holdable(m));	/* empty: nothing to say it is a state */
	xml_add(m, "composing", NS_CHATSTATES);
	xml_add_with_text(m, "thread", NS_CLIENT, "t1");
	xml_add(m, "no-store", "urn:xmpp:hints");
	CHECK(csi_holdable(m));
	xml_add_with_text(m, "body", NS_CLIENT, "hi");
	CHECK(!csi_holdable(m));
	xml_free(m);
	m = msg("error");
	xml_add(m, "composing", NS_CHATSTATES);
	CHECK(!csi_holdable(m));
	xml_free(m);

	/* a carbon of a chat state waits too, a carbon of a message not */
	m = msg("chat");
	w = xml_add(m, "received", NS_CARBONS);
	f = xml_add(w, "forwarded", NS_FORWARD);
	inner = xml_add(f, "message", NS_CLIENT);
	xml_add(inner, "paused", NS_CHATSTATES);
	CHECK(csi_holdable(m));
	xml_add_with_text(inner, "body", NS_CLIENT, "hi");
	CHECK(!csi_holdable(m));
	xml_free(m);

	/* pubsub event notifications wait too; with anything else they do not */
	m = msg("headline");
	w = xml_add(m, "event", "http://jabber.org/protocol/pubsub#event");
	xml_add(w, "items", "http://jabber.org/protocol/pubsub#event");
	xml_add(m, "delay", NS_DELAY);
	CHECK(csi_holdable(m));
	xml_add_with_text(m, "body", NS_CLIENT, "hi");
	CHECK(!csi_holdable(m));
	xml_free(m);
	m = msg("error");
	xml_add(m, "event", "http://jabber.org/protocol/pubsub#event");
	CHECK(!csi_holdable(m));
	xml_free(m);

	m = xml_new("iq", NS_CLIENT);
	CHECK(!csi_holdable(m));
	xml_free(m);
}

/* The IM modules' tables: defaults when absent, limits when present. */
static int
im_load(int (*fn)(struct conf_table *, void **, struct conf_err *),
    const char *text, void **cfg)
{
	struct conf_err e;
	struct conf_doc *d = conf_parse_string("t.toml", text, 0, &e);
	int rc;

	*cfg = NULL;
	if (d == NULL)
		return -2;
	rc = fn(d->root, cfg, &e);
	if (rc == 0)
		rc = conf_check_unused(d->root, &e);
	conf_free(d);
	return rc;
}

TEST(xmpp_imconf)
{
	void *cfg;

	CHECK_INT(im_load(vcard_config_load, "", &cfg), 0);
	CHECK(((struct vcard_config *)cfg)->max_size == 64 * 1024);
	im_config_free(cfg);
	CHECK_INT(im_load(vcard_config_load, "[vcard]\nmax_size = \"8K\"\n", &cfg), 0);
	CHECK(((struct vcard_config *)cfg)->max_size == 8 * 1024);
	im_config_free(cfg);
	CHECK_INT(im_load(vcard_config_load, "[vcard]\nmax_size = 10\n", &cfg), -1);
	im_config_free(cfg);
	CHECK_INT(im_load(sm_config_load, "", &cfg), 0);
	CHECK(((struct sm_config *)cfg)->resume_timeout_ms == 300000);
	CHECK(((struct sm_config *)cfg)->request_every == 5);
	im_config_free(cfg);
	CHECK_INT(im_load(sm_config_load, "[sm]\nresume_timeout = \"2d\"\n", &cfg), -1);
	im_config_free(cfg);
	CHECK_INT(im_load(csi_config_load, "[csi]\nmax_queue = 0\n", &cfg), -1);
	im_config_free(cfg);
	CHECK_INT(im_load(csi_config_load, "", &cfg), 0);
	CHECK(((struct csi_config *)cfg)->max_queue == 100);
	im_config_free(cfg);
	CHECK_INT(im_load(roster_config_load, "[roster]\n", &cfg), 0);
	CHECK(((struct roster_config *)cfg)->max_items == 2000);
	im_config_free(cfg);
	CHECK_INT(im_load(roster_config_load, "[roster]\nmax_items = 1000001\n", &cfg), -1);
	im_config_free(cfg);
	CHECK_INT(im_load(blocking_config_load, "[blocking]\nmax_items = 7\n", &cfg), 0);
	CHECK(((struct blocking_config *)cfg)->max_items == 7);
	im_config_free(cfg);
	CHECK_INT(im_load(offline_config_load, "[offline]\nmax_messages = 0\n", &cfg), 0);
	CHECK(((struct offline_config *)cfg)->max_messages == 0);
	im_config_free(cfg);
	CHECK_INT(im_load(blocking_config_load, "[blocking]\ntypo = 1\n", &cfg), -1);
	im_config_free(cfg);
}
