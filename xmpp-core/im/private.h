/*
 * private — private XML storage (XEP-0049, jabber:iq:private): any
 * namespaced element an account sets is kept in PostgreSQL per
 * (account, namespace) and given back to that account only.  Old clients
 * keep their bookmarks (storage:bookmarks) and preferences here.
 */
#ifndef XMPP_PRIVATE_H
#define XMPP_PRIVATE_H

#include <stdbool.h>

struct c2s;
struct xml_node;

#define NS_PRIVATE "jabber:iq:private"

#endif
