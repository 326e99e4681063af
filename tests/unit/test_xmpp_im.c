/* Unit tests for xmpp-core's issue 6 session features: which messages
 * carbons copy (XEP-0280 §6, XEP-0334 hints) and what CSI may hold back
 * (XEP-0352). */
#include "t.h"
#include "../../xmpp-core/carbons.h"
#include "../../xmpp-core/csi.h"
#include "../../xmpp-core/server.h"
#include "../../xmpp-core/xml.h"

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
