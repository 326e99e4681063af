/*
 * bookmarks — one set of bookmarks in three places (XEP-0402 §compat,
 * XEP-0411): the PEP node urn:xmpp:bookmarks:1 (one item per room, the
 * truth), the legacy PEP node storage:bookmarks and private XML storage
 * storage:bookmarks (XEP-0048 / XEP-0049).  A change through any of them
 * is written to the other two, so old and new clients see the same rooms.
 */
#ifndef XMPP_BOOKMARKS_H
#define XMPP_BOOKMARKS_H

struct c2s;
struct ps_svc;
struct xml_node;

#define NS_BOOKMARKS2 "urn:xmpp:bookmarks:1"
#define NS_BOOKMARKS_LEGACY "storage:bookmarks"

/* An item the account published / retracted on one of its nodes. */
void bookmarks_published(const struct ps_svc *svc, const char *node,
    const char *id, const struct xml_node *payload);
void bookmarks_retracted(const struct ps_svc *svc, const char *node,
    const char *id);

#endif
