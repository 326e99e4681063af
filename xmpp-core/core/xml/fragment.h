/*
 * fragment — turns stored XML (an element serialised by xml_serialize
 * when it was set: private storage, vCards) back into a tree.  The text
 * goes through the same restricted expat parser as a client stream, so a
 * damaged row can never produce anything a client could not have sent.
 */
#ifndef XMPP_FRAGMENT_H
#define XMPP_FRAGMENT_H

#include <stddef.h>

struct xml_node;

/* The first element of text (written with parent_ns as its parent's
 * default namespace), or NULL when it does not parse. */
struct xml_node *fragment_parse(const char *text, size_t len,
    const char *parent_ns);

#endif
