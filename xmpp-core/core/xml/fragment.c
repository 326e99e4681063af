/*
 * fragment — parsing stored XML fragments.  See fragment.h.
 */
#include "fragment.h"

#include <string.h>

#include "buf.h"
#include "xml.h"

struct parse {
	struct xml_node *first;
};

static void
on_open(void *arg, const char *name, const char *ns, const char **attrs)
{
	(void)arg;
	(void)name;
	(void)ns;
	(void)attrs;
}

static void
on_stanza(void *arg, struct xml_node *n)
{
	struct parse *p = arg;

	if (p->first == NULL)
		p->first = n;
	else
		xml_free(n);
}

static void
on_close(void *arg)
{
	(void)arg;
}

struct xml_node *
fragment_parse(const char *text, size_t len, const char *parent_ns)
{
	static const struct xml_stream_cb cb = { on_open, on_stanza, on_close };
	struct xml_limits lim = { len + 1024, 64, 256, 0, 0 };
	struct parse p = { NULL };
	struct xml_stream *s;
	struct buf b;
	bool ok;

	buf_init(&b);
	buf_puts(&b, "<fragment xmlns='");
	xml_escape(&b, parent_ns, strlen(parent_ns), true);
	buf_puts(&b, "'>");
	if ((s = xml_stream_new(&lim, &cb, &p)) == NULL) {
		buf_free(&b);
		return NULL;
	}
	ok = b.p != NULL &&
	    xml_stream_feed(s, b.p, b.len) == (long)b.len &&
	    xml_stream_feed(s, text, len) == (long)len &&
	    xml_stream_feed(s, "</fragment>", 11) == 11;
	xml_stream_free(s);
	buf_free(&b);
	if (!ok) {
		xml_free(p.first);
		return NULL;
	}
	return p.first;
}

