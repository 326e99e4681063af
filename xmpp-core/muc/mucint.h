/*
 * mucint — what the files of muc/ share (not an interface for other
 * folders): the handlers muc.c routes a room's stanzas to.  Each takes
 * ownership of n.
 */
#ifndef XMPP_MUCINT_H
#define XMPP_MUCINT_H

#include "jid.h"

struct muc_room;
struct xml_node;

/* mucpres.c: presence to room@service/nick (join, change, nick, leave) */
void mucpres_handle(struct xml_node *n, const struct jid *to, int host);
/* Removes an occupant's session as if it had left (session ended). */
struct muc_sess;
void mucpres_leave(struct muc_sess *s, const struct xml_node *why);
/* Removes o with an unavailable presence carrying code (and 110 to it),
 * as when a change of configuration excludes it (§9.x, 322). */
struct muc_occ;
void mucpres_remove(struct muc_room *r, struct muc_occ *o, unsigned code);
/* mucmsg.c: a message to room@service or room@service/nick */
void mucmsg_handle(struct muc_room *r, struct xml_node *n, const struct jid *to);
/* An IQ to room@service/nick: self-ping (XEP-0410) is answered. */
void mucmsg_occupant_iq(struct muc_room *r, struct xml_node *n,
    const struct jid *to);
/* mucowner.c: an IQ to room@service (owner, disco) */
void mucowner_iq(struct muc_room *r, struct xml_node *n);

#endif
