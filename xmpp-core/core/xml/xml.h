/*
 * xml — XMPP's XML: a small element tree per top-level stanza, a
 * serializer with correct escaping and namespace scoping, and the stream
 * parser on expat that cuts a byte stream into stanzas.
 *
 * Names are split the way expat's namespace mode reports them: every
 * element has a local name and a namespace URI; an attribute in a
 * namespace is named "URI local" (XML_NS_LANG for xml:lang), others just
 * "local".  The stream parser enforces RFC 6120 §11 restrictions (no DTD,
 * entity declarations, comments or processing instructions), a maximum
 * stanza size, depth and attribute count, and uses a CSPRNG hash salt.
 */
#ifndef XMPP_XML_H
#define XMPP_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define XML_NS_XMLURI "http://www.w3.org/XML/1998/namespace"
#define XML_NS_LANG XML_NS_XMLURI " lang"
#define XML_NS_STREAM "http://etherx.jabber.org/streams"

struct xml_attr {
	char *name;
	char *value;
};

struct xml_node {
	struct xml_node *parent, *next;
	struct xml_node *children, *last;
	char *name;		/* local name; NULL for a text node */
	char *ns;		/* namespace URI ("" for none); text: NULL */
	char *text;		/* text node content */
	size_t textlen;
	struct xml_attr *attrs;
	size_t nattrs;
};

/* Tree building: all return NULL / -1 only on ENOMEM. */
struct xml_node *xml_new(const char *name, const char *ns);
struct xml_node *xml_add(struct xml_node *parent, const char *name,
    const char *ns);
int xml_add_text(struct xml_node *parent, const char *text, size_t len);
/* Adds an element with text content: <name xmlns=ns>text</name>. */
struct xml_node *xml_add_with_text(struct xml_node *parent, const char *name,
    const char *ns, const char *text);
void xml_append_child(struct xml_node *parent, struct xml_node *child);
/* Unlinks child from its parent (does not free it). */
void xml_detach(struct xml_node *child);
int xml_set_attr(struct xml_node *n, const char *name, const char *value);
void xml_del_attr(struct xml_node *n, const char *name);
const char *xml_attr(const struct xml_node *n, const char *name);
struct xml_node *xml_copy(const struct xml_node *n);
void xml_free(struct xml_node *n);

/* First child element with this name and namespace (NULL matches any). */
struct xml_node *xml_child(const struct xml_node *n, const char *name,
    const char *ns);
/* First child element at all. */
struct xml_node *xml_first_elem(const struct xml_node *n);
struct xml_node *xml_next_elem(const struct xml_node *n);
/* Concatenated text of direct text children, malloc'd ("" when none). */
char *xml_text(const struct xml_node *n);
bool xml_is(const struct xml_node *n, const char *name, const char *ns);

/*
 * Serialises n.  parent_ns is the default namespace in scope where n is
 * written ("jabber:client" for stanzas on a c2s stream): xmlns= is emitted
 * only where an element's namespace differs from its parent's.
 */
int xml_serialize(struct buf *out, const struct xml_node *n,
    const char *parent_ns);
/* Appends s[0..len) escaped for text or (attr) a quoted attribute value;
 * s[len] must be readable (a NUL there makes the scan faster). */
int xml_escape(struct buf *out, const char *s, size_t len, bool attr);

/* ---- stream parser ---- */

struct xml_limits {
	size_t max_stanza;	/* bytes of one top-level element, 262144 c2s */
	unsigned max_depth;	/* element nesting below the stream root */
	unsigned max_attrs;	/* attributes per element */
	/* bytes up to the end of the root's start tag (XML declaration
	 * included) and namespace declarations on the root; 0: the
	 * defaults below.  Both bound what a peer that never finishes its
	 * stream header can make the parser hold and rescan. */
	size_t max_header;
	unsigned max_root_decls;
};

#define XML_MAX_HEADER		4096
#define XML_MAX_ROOT_DECLS	16

struct xml_stream_cb {
	/* <stream:stream ...>: attrs as expat gives them (name, value, ..., NULL). */
	void (*open)(void *arg, const char *name, const char *ns,
	    const char **attrs);
	/* A complete top-level element; the callee owns it. */
	void (*stanza)(void *arg, struct xml_node *n);
	/* </stream:stream> */
	void (*close)(void *arg);
};

struct xml_stream;

struct xml_stream *xml_stream_new(const struct xml_limits *lim,
    const struct xml_stream_cb *cb, void *arg);
void xml_stream_free(struct xml_stream *s);

/*
 * Feeds bytes.  Returns the number of bytes consumed (len, or fewer when a
 * callback asked for a restart: the rest belongs to the next stream or to
 * TLS and is the caller's), or -1 on a stream error (condition from
 * xml_stream_error()).  After an error the stream stays failed.
 */
long xml_stream_feed(struct xml_stream *s, const char *data, size_t len);
/* The stanza limit from now on (an authenticated stream gets the full one). */
void xml_stream_set_max_stanza(struct xml_stream *s, size_t max_stanza);
/* RFC 6120 stream error condition of the failure. */
const char *xml_stream_error(const struct xml_stream *s);
/*
 * Restart (after STARTTLS or SASL success): a fresh parser expecting a new
 * stream header.  Safe inside a callback: takes effect when the current
 * feed returns, and that feed stops right after the current element.
 */
int xml_stream_restart(struct xml_stream *s);
/*
 * Releases the expat parser of an idle stream (between stanzas, nothing
 * buffered): expat keeps ~10 KiB per parser.  The next feed recreates it
 * and replays the stream root with its namespace declarations, so parsing
 * continues as if nothing happened.  true when parked.
 */
bool xml_stream_park(struct xml_stream *s);
/* True while the stream holds no parser (parked, or never fed). */
bool xml_stream_parked(const struct xml_stream *s);
/* Bytes mapped for the stream's parser (its arena; 0 when parked or when
 * the parser uses the C heap, as under AddressSanitizer). */
size_t xml_stream_mem(const struct xml_stream *s);

#endif
