/*
 * libFuzzer target: the XMPP stream parser (xmpp-core/core/xml/xml.c).  Input is
 * fed after a stream header in chunks whose sizes the input chooses; every
 * stanza is serialised and the result must parse again as one stanza.
 */
#include "xml.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static const char HDR[] = "<stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
static const struct xml_limits lim = { 65536, 16, 16, 0, 0 };
static int reparsed;

static void
f_open(void *arg, const char *name, const char *ns, const char **attrs)
{
	(void)arg; (void)name; (void)ns; (void)attrs;
}

static void
f_count(void *arg, struct xml_node *n)
{
	(void)arg;
	reparsed++;
	xml_free(n);
}

static void
f_close(void *arg)
{
	(void)arg;
}

static const struct xml_stream_cb count_cb = { f_open, f_count, f_close };

static void
f_stanza(void *arg, struct xml_node *n)
{
	struct buf b;
	struct xml_stream *s2;

	(void)arg;
	buf_init(&b);
	if (xml_serialize(&b, n, "jabber:client") == 0) {
		s2 = xml_stream_new(&(struct xml_limits){ 1 << 22, 64, 64, 0, 0 }, &count_cb, NULL);
		reparsed = 0;
		if (xml_stream_feed(s2, HDR, sizeof(HDR) - 1) < 0 ||
		    xml_stream_feed(s2, b.p, b.len) < 0 || reparsed != 1)
			abort();	/* our own output must be well-formed */
		xml_stream_free(s2);
	}
	buf_free(&b);
	xml_free(n);
}

static const struct xml_stream_cb cb = { f_open, f_stanza, f_close };

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct xml_stream *s = xml_stream_new(&lim, &cb, NULL);
	size_t off = 0, chunk;

	if (s == NULL)
		return 0;
	if (xml_stream_feed(s, HDR, sizeof(HDR) - 1) < 0)
		abort();
	while (off < size) {
		chunk = 1 + data[off] % 64;
		off++;
		if (chunk > size - off)
			chunk = size - off;
		if (chunk == 0 || xml_stream_feed(s, (const char *)data + off, chunk) < 0)
			break;
		off += chunk;
	}
	xml_stream_free(s);
	return 0;
}
