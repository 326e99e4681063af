/*
 * xmlsplit — finds where top-level elements of XML text end, without a
 * parser: RFC 7395 puts one element in each WebSocket message, so the
 * text a session writes (a stream header, stanzas, </stream:stream>) is
 * cut into messages here, and a client's message is checked to hold one
 * element before it goes to the session's expat parser, which judges
 * everything else (names, namespaces, entities).  It only has to cut
 * well-formed text right and never read past what it is given.
 */
#ifndef WEB_XMLSPLIT_H
#define WEB_XMLSPLIT_H

#include <stdbool.h>
#include <stddef.h>

enum xml_unit_kind {
	XU_SPACE,	/* whitespace between elements */
	XU_ELEMENT,	/* a complete element */
	XU_START,	/* a <stream:stream ...> start tag (stream_tag set) */
	XU_END,		/* a lone end tag: </stream:stream> */
	XU_PI,		/* <?xml ...?> */
};

struct xml_unit {
	enum xml_unit_kind kind;
	size_t len;		/* bytes of the unit */
	size_t name, namelen;	/* the element's qualified name (offsets) */
	size_t stag_end;	/* offset of the '>' (or "/>") ending the start tag */
	bool empty;		/* <x/> */
	bool has_xmlns;		/* the start tag declares a default namespace */
};

/* The unit at the start of p: 1, 0 when it is not complete yet, -1 when
 * the text is not XML this can cut (text at the top level, a comment).
 * stream_tag: a <stream:stream> start tag is a unit by itself. */
int xml_unit_next(const char *p, size_t n, bool stream_tag, struct xml_unit *u);

/* Calls fn for each attribute of the start tag p[0..stag_end): name and
 * value (raw, still escaped); stops when fn returns false. */
void xml_unit_attrs(const char *p, const struct xml_unit *u,
    bool (*fn)(void *arg, const char *name, size_t nlen, const char *val,
    size_t vlen), void *arg);

#endif
