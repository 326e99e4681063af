/* Unit tests for xmpp-core/core/xml/xml.c: tree, serializer, stream framing, limits. */
#include "t.h"
#include "form.h"
#include "xml.h"

#include <stdlib.h>
#include <string.h>

struct collect {
	int opens, closes, stanzas;
	char ns[64];
	struct buf out;
	bool restart_on_first;
	struct xml_stream *s;
};

static void
c_open(void *arg, const char *name, const char *ns, const char **attrs)
{
	struct collect *c = arg;

	(void)name;
	(void)attrs;
	c->opens++;
	snprintf(c->ns, sizeof(c->ns), "%s", ns);
}

static void
c_stanza(void *arg, struct xml_node *n)
{
	struct collect *c = arg;

	c->stanzas++;
	xml_serialize(&c->out, n, "jabber:client");
	xml_free(n);
	if (c->restart_on_first && c->stanzas == 1)
		xml_stream_restart(c->s);
}

static void
c_close(void *arg)
{
	((struct collect *)arg)->closes++;
}

static const struct xml_stream_cb ccb = { c_open, c_stanza, c_close };
static const struct xml_limits lim = { 1024, 8, 8, 0, 0 };

static const char HDR[] = "<?xml version='1.0'?><stream:stream "
    "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "to='localhost' version='1.0'>";

static long
feed_all(struct collect *c, const char *s)
{
	long rc = 0;

	/* byte by byte: framing must not depend on how TCP splits data */
	for (size_t i = 0; s[i]; i++) {
		if ((rc = xml_stream_feed(c->s, s + i, 1)) < 0)
			return rc;
	}
	return rc;
}

TEST(xml_stream_basic)
{
	struct collect c = { 0 };

	buf_init(&c.out);
	c.s = xml_stream_new(&lim, &ccb, &c);
	CHECK(c.s != NULL);
	CHECK(feed_all(&c, HDR) >= 0);
	CHECK_INT(c.opens, 1);
	CHECK_STR(c.ns, XML_NS_STREAM);
	CHECK(feed_all(&c, "<message to='a@b' xml:lang='en'><body>a &amp; b &lt; &#x263A;</body>"
	    "<x xmlns='urn:x' y='&apos;&quot;'/></message> <iq type='get'/>") >= 0);
	CHECK_INT(c.stanzas, 2);
	CHECK_STR(c.out.p, "<message to='a@b' xml:lang='en'><body>a &amp; b &lt; \xe2\x98\xba</body>"
	    "<x xmlns='urn:x' y='&apos;&quot;'/></message><iq type='get'/>");
	CHECK(feed_all(&c, "</stream:stream>") >= 0);
	CHECK_INT(c.closes, 1);
	xml_stream_free(c.s);
	buf_free(&c.out);
}

static const char *
stream_err(const char *payload, const struct xml_limits *l)
{
	static char cond[64];
	struct collect c = { 0 };
	long rc;

	buf_init(&c.out);
	c.s = xml_stream_new(l, &ccb, &c);
	rc = xml_stream_feed(c.s, HDR, sizeof(HDR) - 1);
	if (rc >= 0)
		rc = xml_stream_feed(c.s, payload, strlen(payload));
	snprintf(cond, sizeof(cond), "%s", rc < 0 ? xml_stream_error(c.s) : "ok");
	xml_stream_free(c.s);
	buf_free(&c.out);
	return cond;
}

TEST(xml_stream_restrictions)
{
	CHECK_STR(stream_err("<message/>", &lim), "ok");
	CHECK_STR(stream_err("<message><a></b></message>", &lim), "not-well-formed");
	CHECK_STR(stream_err("\x01garbage", &lim), "not-well-formed");
	CHECK_STR(stream_err("<!-- hi -->", &lim), "restricted-xml");
	CHECK_STR(stream_err("<?php x ?>", &lim), "restricted-xml");
	CHECK_STR(stream_err("<message>&lol;</message>", &lim), "not-well-formed");
	CHECK_STR(stream_err("<m><a><b><c><d><e><f><g><h><i/></h></g></f></e></d></c></b></a></m>",
	    &lim), "policy-violation");
	CHECK_STR(stream_err("<m a='1' b='1' c='1' d='1' e='1' f='1' g='1' h='1' i='1'/>", &lim),
	    "policy-violation");
}

TEST(xml_stream_doctype_rejected)
{
	struct collect c = { 0 };
	const char *laughs = "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
	    "<!ENTITY lol2 '&lol;&lol;&lol;'>]><stream:stream xmlns='jabber:client' "
	    "xmlns:stream='http://etherx.jabber.org/streams'>&lol2;";

	buf_init(&c.out);
	c.s = xml_stream_new(&lim, &ccb, &c);
	CHECK_INT(xml_stream_feed(c.s, laughs, strlen(laughs)), -1);
	CHECK_STR(xml_stream_error(c.s), "restricted-xml");
	CHECK_INT(c.opens, 0);
	xml_stream_free(c.s);
	buf_free(&c.out);
}

TEST(xml_stream_size_limit)
{
	struct collect c = { 0 };
	char big[1500];
	long rc = 0;

	memset(big, 'a', sizeof(big));
	buf_init(&c.out);
	c.s = xml_stream_new(&lim, &ccb, &c);
	CHECK(xml_stream_feed(c.s, HDR, sizeof(HDR) - 1) > 0);
	/* many small stanzas are fine: the limit is per stanza */
	for (int i = 0; i < 200; i++)
		CHECK(xml_stream_feed(c.s, "<iq type='get'/>", 16) == 16);
	CHECK(xml_stream_feed(c.s, "<message><body>", 15) == 15);
	for (int i = 0; i < 10 && rc >= 0; i++)
		rc = xml_stream_feed(c.s, big, 200);
	CHECK_INT(rc, -1);
	CHECK_STR(xml_stream_error(c.s), "policy-violation");
	xml_stream_free(c.s);

	/* an endless start tag is caught too */
	c.s = xml_stream_new(&lim, &ccb, &c);
	CHECK(xml_stream_feed(c.s, HDR, sizeof(HDR) - 1) > 0);
	rc = xml_stream_feed(c.s, "<message to='", 13);
	for (int i = 0; i < 10 && rc >= 0; i++)
		rc = xml_stream_feed(c.s, big, 200);
	CHECK_INT(rc, -1);
	CHECK_STR(xml_stream_error(c.s), "policy-violation");
	xml_stream_free(c.s);
	buf_free(&c.out);
}

TEST(xml_stream_restart_mid_buffer)
{
	struct collect c = { 0 };
	char data[512];
	long rc;

	buf_init(&c.out);
	c.restart_on_first = true;
	c.s = xml_stream_new(&lim, &ccb, &c);
	snprintf(data, sizeof(data), "%s<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>REST", HDR);
	rc = xml_stream_feed(c.s, data, strlen(data));
	CHECK_INT(rc, (long)strlen(data) - 4);
	/* the new parser expects a fresh header */
	CHECK(xml_stream_feed(c.s, HDR, sizeof(HDR) - 1) > 0);
	CHECK_INT(c.opens, 2);
	CHECK_STR(c.out.p, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
	xml_stream_free(c.s);
	buf_free(&c.out);
}

TEST(xml_tree_build)
{
	struct xml_node *m = xml_new("message", "jabber:client"), *c;
	struct buf b;
	char *t;

	buf_init(&b);
	xml_set_attr(m, "to", "x@y/<z>");
	xml_set_attr(m, XML_NS_LANG, "de");
	xml_set_attr(m, "urn:foo bar", "1");
	xml_add_with_text(m, "body", NULL, "1 < 2 & \"3\"\r\n");
	c = xml_copy(m);
	CHECK_INT(xml_serialize(&b, c, "jabber:client"), 0);
	CHECK_STR(b.p, "<message to='x@y/&lt;z&gt;' xml:lang='de' xmlns:a0='urn:foo' a0:bar='1'>"
	    "<body>1 &lt; 2 &amp; \"3\"&#13;\n</body></message>");
	t = xml_text(xml_child(c, "body", "jabber:client"));
	CHECK_STR(t, "1 < 2 & \"3\"\r\n");
	free(t);
	buf_reset(&b);
	xml_serialize(&b, xml_child(c, "body", NULL), NULL);
	CHECK_STR(b.p, "<body xmlns='jabber:client'>1 &lt; 2 &amp; \"3\"&#13;\n</body>");
	xml_free(m);
	xml_free(c);
	buf_free(&b);
}

/* Attributes past the array's doublings, replaced, deleted and added
 * again; text coalesced past a node's first run; copies of both; escaping
 * with and without the NUL at len. */
TEST(xml_tree_attrs_and_text)
{
	struct xml_node *m = xml_new("x", "urn:t"), *c;
	char name[16], val[32];
	struct buf b;
	const char *v;

	buf_init(&b);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "a%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		CHECK_INT(xml_set_attr(m, name, val), 0);
	}
	CHECK_INT((int)m->nattrs, 40);
	for (int i = 0; i < 40; i += 3) {
		snprintf(name, sizeof(name), "a%d", i);
		snprintf(val, sizeof(val), "replaced-%d-longer", i);
		CHECK_INT(xml_set_attr(m, name, val), 0);
	}
	CHECK_INT((int)m->nattrs, 40);
	for (int i = 1; i < 40; i += 3) {
		snprintf(name, sizeof(name), "a%d", i);
		xml_del_attr(m, name);
	}
	CHECK_INT((int)m->nattrs, 27);
	for (int i = 40; i < 70; i++) {
		snprintf(name, sizeof(name), "a%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		CHECK_INT(xml_set_attr(m, name, val), 0);
	}
	CHECK_INT((int)m->nattrs, 57);
	/* text: several runs become one node */
	CHECK_INT(xml_add_text(m, "ab", 2), 0);
	CHECK_INT(xml_add_text(m, "<cd>", 4), 0);
	CHECK_INT(xml_add_text(m, "ef", 2), 0);
	CHECK(m->children == m->last && m->children->name == NULL);
	CHECK_STR(m->children->text, "ab<cd>ef");
	c = xml_copy(m);
	xml_free(m);
	for (int i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "a%d", i);
		v = xml_attr(c, name);
		if (i < 40 && i % 3 == 1) {
			CHECK(v == NULL);
		} else if (i < 40 && i % 3 == 0) {
			snprintf(val, sizeof(val), "replaced-%d-longer", i);
			CHECK_STR(v ? v : "(null)", val);
		} else {
			snprintf(val, sizeof(val), "v%d", i);
			CHECK_STR(v ? v : "(null)", val);
		}
	}
	CHECK_STR(c->children->text, "ab<cd>ef");
	CHECK_INT((int)c->children->textlen, 8);
	xml_free(c);
	/* escaping: a string without its NUL at len, one with a NUL inside */
	CHECK_INT(xml_escape(&b, "a&b'c<dXXX", 7, true), 0);
	CHECK_STR(b.p, "a&amp;b&apos;c&lt;d");
	buf_reset(&b);
	CHECK_INT(xml_escape(&b, "a\0<b", 4, false), 0);
	CHECK_INT((int)b.len, 7);
	CHECK(memcmp(b.p, "a\0&lt;b", 7) == 0);
	buf_free(&b);
}

TEST(xml_stream_park_resume)
{
	struct collect c = { 0 };

	buf_init(&c.out);
	c.s = xml_stream_new(&lim, &ccb, &c);
	CHECK(xml_stream_feed(c.s, HDR, sizeof(HDR) - 1) > 0);
	CHECK(xml_stream_feed(c.s, "<presence/><message xml:lang='de'><body>a", 41) > 0);
	CHECK(!xml_stream_park(c.s));	/* mid-stanza: not parked */
	CHECK(xml_stream_feed(c.s, "</body></message>  ", 19) > 0);
	CHECK(xml_stream_park(c.s));
	CHECK(!xml_stream_park(c.s));
	/* same namespaces, same prefixes, and the stream can still be closed */
	CHECK(xml_stream_feed(c.s, "<iq type='get'><q xmlns='urn:q'/></iq>", 38) == 38);
	CHECK(xml_stream_park(c.s));
	CHECK(xml_stream_feed(c.s, "<stream:error><x/></stream:error></stream:stream>", 49) == 49);
	CHECK_INT(c.opens, 1);
	CHECK_INT(c.stanzas, 4);
	CHECK_INT(c.closes, 1);
	CHECK_STR(c.out.p, "<presence/><message xml:lang='de'><body>a</body></message>"
	    "<iq type='get'><q xmlns='urn:q'/></iq>"
	    "<error xmlns='http://etherx.jabber.org/streams'><x xmlns='jabber:client'/></error>");
	xml_stream_free(c.s);
	buf_free(&c.out);
}

/* Feeds a header start, then filler until the stream fails; the bytes it
 * took, or -1 when it never failed within max bytes. */
static long
header_bytes_until_error(const char *start, const char *filler, size_t max,
    const char **cond, unsigned *opens)
{
	struct collect c = { 0 };
	size_t fed = strlen(start), fl = strlen(filler);
	long rc;

	buf_init(&c.out);
	c.s = xml_stream_new(&lim, &ccb, &c);
	rc = xml_stream_feed(c.s, start, fed);
	while (rc >= 0 && fed < max) {
		rc = xml_stream_feed(c.s, filler, fl);
		fed += fl;
	}
	*cond = rc < 0 ? xml_stream_error(c.s) : "ok";
	*opens = c.opens;
	xml_stream_free(c.s);
	buf_free(&c.out);
	return rc < 0 ? (long)fed : -1;
}

TEST(xml_stream_header_bounded)
{
	static char filler[512];
	const char *cond;
	unsigned opens;
	long n;

	/* an attribute value that never ends: refused at the header limit,
	 * not at max_stanza, not never */
	memset(filler, 'x', sizeof(filler) - 1);
	n = header_bytes_until_error("<stream:stream xmlns:stream='http://etherx.jabber.org/"
	    "streams' a='", filler, 1 << 20, &cond, &opens);
	CHECK(n > 0 && n <= XML_MAX_HEADER + (long)sizeof(filler));
	CHECK_STR(cond, "policy-violation");
	CHECK_INT(opens, 0);
	/* whitespace between attributes, a comment-free prolog that never
	 * reaches the root: the same */
	memset(filler, ' ', sizeof(filler) - 1);
	n = header_bytes_until_error("<?xml version='1.0'?><stream:stream", filler, 1 << 20,
	    &cond, &opens);
	CHECK(n > 0 && n <= XML_MAX_HEADER + (long)sizeof(filler));
	CHECK_STR(cond, "policy-violation");
	/* namespace declarations on the root: at most XML_MAX_ROOT_DECLS */
	{
		struct buf b;
		struct collect c = { 0 };

		buf_init(&b);
		buf_puts(&b, "<stream:stream xmlns='jabber:client' "
		    "xmlns:stream='http://etherx.jabber.org/streams'");
		for (int i = 0; i < XML_MAX_ROOT_DECLS; i++)
			buf_printf(&b, " xmlns:p%d='urn:x'", i);
		buf_puts(&b, ">");
		buf_init(&c.out);
		c.s = xml_stream_new(&lim, &ccb, &c);
		CHECK_INT(xml_stream_feed(c.s, b.p, b.len), -1);
		CHECK_STR(xml_stream_error(c.s), "policy-violation");
		CHECK_INT(c.opens, 0);
		xml_stream_free(c.s);
		buf_free(&c.out);
		/* one fewer is a stream */
		buf_reset(&b);
		buf_puts(&b, "<stream:stream xmlns='jabber:client' "
		    "xmlns:stream='http://etherx.jabber.org/streams'");
		for (int i = 0; i < XML_MAX_ROOT_DECLS - 2; i++)
			buf_printf(&b, " xmlns:p%d='urn:x'", i);
		buf_puts(&b, ">");
		c = (struct collect){ 0 };
		buf_init(&c.out);
		c.s = xml_stream_new(&lim, &ccb, &c);
		CHECK(xml_stream_feed(c.s, b.p, b.len) == (long)b.len);
		CHECK_INT(c.opens, 1);
		xml_stream_free(c.s);
		buf_free(&c.out);
		buf_free(&b);
	}
	/* a whole header longer than the limit, in one piece */
	{
		struct buf b;
		struct collect c = { 0 };

		buf_init(&b);
		buf_puts(&b, "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' a='");
		for (int i = 0; i < XML_MAX_HEADER; i++)
			buf_puts(&b, "y");
		buf_puts(&b, "'>");
		buf_init(&c.out);
		c.s = xml_stream_new(&lim, &ccb, &c);
		CHECK_INT(xml_stream_feed(c.s, b.p, b.len), -1);
		CHECK_STR(xml_stream_error(c.s), "policy-violation");
		CHECK_INT(c.opens, 0);
		xml_stream_free(c.s);
		buf_free(&c.out);
		buf_free(&b);
	}
}

TEST(xml_stream_max_stanza_raised)
{
	struct collect c = { 0 };
	char big[2000];

	/* 1024 before authentication, then more */
	memset(big, 'z', sizeof(big));
	buf_init(&c.out);
	c.s = xml_stream_new(&lim, &ccb, &c);
	CHECK(xml_stream_feed(c.s, HDR, sizeof(HDR) - 1) == (long)sizeof(HDR) - 1);
	xml_stream_set_max_stanza(c.s, 4096);
	CHECK(xml_stream_feed(c.s, "<message><body>", 15) == 15);
	CHECK(xml_stream_feed(c.s, big, sizeof(big)) == (long)sizeof(big));
	CHECK(xml_stream_feed(c.s, "</body></message>", 17) == 17);
	CHECK_INT(c.stanzas, 1);
	xml_stream_set_max_stanza(c.s, 1024);
	CHECK(xml_stream_feed(c.s, "<message><body>", 15) == 15);
	CHECK_INT(xml_stream_feed(c.s, big, sizeof(big)), -1);
	CHECK_STR(xml_stream_error(c.s), "policy-violation");
	xml_stream_free(c.s);
	buf_free(&c.out);
}

/* An element in the XML namespace (a client may write <xml:x/>) is
 * written back with its prefix: declaring that namespace as a default
 * is not well-formed, and a recipient's stream would break on it (found
 * by tests/fuzz/xmpp_stream_fuzz.c). */
TEST(xml_serialize_xml_namespace_element)
{
	struct collect c = { 0 }, again = { 0 };
	static const char want[] = "<message><xml:lag a='1'><body>x</body>"
	    "<y xmlns='urn:y'/></xml:lag><xml:e/></message>";

	buf_init(&c.out);
	c.s = xml_stream_new(&lim, &ccb, &c);
	CHECK(feed_all(&c, HDR) >= 0);
	CHECK(feed_all(&c, "<message><xml:lag a='1'><body>x</body><y xmlns='urn:y'/></xml:lag>"
	    "<xml:e/></message>") >= 0);
	CHECK_INT(c.stanzas, 1);
	CHECK_STR(c.out.p, want);
	/* and it parses again to the same */
	buf_init(&again.out);
	again.s = xml_stream_new(&lim, &ccb, &again);
	CHECK(feed_all(&again, HDR) >= 0);
	CHECK(feed_all(&again, c.out.p) >= 0);
	CHECK_INT(again.stanzas, 1);
	CHECK_STR(again.out.p, want);
	xml_stream_free(again.s);
	buf_free(&again.out);
	xml_stream_free(c.s);
	buf_free(&c.out);
}

TEST(xml_form_field)
{
	struct xml_node *x = xml_new("x", "jabber:x:data");
	struct buf b;

	CHECK(form_field(x, "FORM_TYPE", "hidden", NULL, "urn:example") != NULL);
	CHECK(form_field(x, "n", NULL, "Number", NULL) != NULL);
	buf_init(&b);
	CHECK_INT(xml_serialize(&b, x, NULL), 0);
	CHECK_STR(b.p, "<x xmlns='jabber:x:data'><field var='FORM_TYPE' type='hidden'>"
	    "<value>urn:example</value></field><field var='n' label='Number'/></x>");
	buf_free(&b);
	xml_free(x);
}
