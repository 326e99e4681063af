/* Unit tests for xmpp-core/core/xml/fragment.c: stored XML back into trees. */
#include <string.h>

#include "t.h"
#include "buf.h"
#include "fragment.h"
#include "xml.h"

TEST(xmpp_fragment_round_trip)
{
	const char *in = "<storage xmlns='storage:bookmarks'><conference jid='a@b' "
	    "name='x &amp; &apos;y&apos; &lt;z&gt;'><nick>n\xc3\xa9</nick></conference>"
	    "<x xmlns=''>plain</x></storage>";
	struct xml_node *n = fragment_parse(in, strlen(in), "jabber:iq:private"), *c;
	struct buf b;

	CHECK(n != NULL);
	if (n == NULL)
		return;
	CHECK_STR(n->name, "storage");
	CHECK_STR(n->ns, "storage:bookmarks");
	c = xml_child(n, "conference", "storage:bookmarks");
	CHECK(c != NULL);
	CHECK_STR(xml_attr(c, "name"), "x & 'y' <z>");
	CHECK(xml_child(n, "x", "") != NULL);
	/* serialised again under the same parent, it parses to the same text */
	buf_init(&b);
	CHECK_INT(xml_serialize(&b, n, "jabber:iq:private"), 0);
	xml_free(n);
	n = fragment_parse(b.p, b.len, "jabber:iq:private");
	CHECK(n != NULL && xml_child(n, "x", "") != NULL);
	xml_free(n);
	buf_free(&b);
}

TEST(xmpp_fragment_refuses_bad_xml)
{
	static const char *const bad[] = {
		"<a>", "<a></b>", "text only", "<a/><!-- c -->",
		"<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>", "<?pi x?><a/>",
		"<a xmlns='x'/></fragment><b/>",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct xml_node *n = fragment_parse(bad[i], strlen(bad[i]), "jabber:client");

		CHECK(n == NULL || strcmp(n->name, "a") == 0);
		if (i != 2)	/* text alone: simply no element */
			CHECK(n == NULL);
		xml_free(n);
	}
}

/* A stored element larger than the stream header limit (4 KiB): the
 * limit is for the root's start tag only, not for what follows its end. */
TEST(xmpp_fragment_larger_than_header_limit)
{
	struct buf b;
	struct xml_node *n;

	buf_init(&b);
	buf_puts(&b, "<x xmlns='jabber:x:data' type='submit'>");
	for (int i = 0; i < 400; i++)
		buf_printf(&b, "<field var='f%d'><value>v</value></field>", i);
	buf_puts(&b, "</x>");
	CHECK(b.len > 3 * XML_MAX_HEADER);
	n = fragment_parse(b.p, b.len, "jabber:client");
	CHECK(n != NULL);
	CHECK(n && strcmp(n->name, "x") == 0);
	xml_free(n);
	buf_free(&b);
}
