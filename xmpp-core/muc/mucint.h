/*
 * mucint — what the files of muc/ share (not an interface for other
 * folders): the handlers muc.c routes a room's stanzas to.  Each takes
 * ownership of n.
 */
#ifndef XMPP_MUCINT_H
#define XMPP_MUCINT_H

#include <stdbool.h>

#include "jid.h"

struct muc_room;
struct xml_node;

/* mucpres.c: presence to room@service/nick (join, change, nick, leave) */
void mucpres_handle(struct xml_node *n, const struct jid *to, int host);
/* Removes an occupant's session as if it had left (session ended). */
struct muc_sess;
void mucpres_leave(struct muc_sess *s, const struct xml_node *why);
/* A remote session whose stanzas bounce: removed, 333 to the others
 * (the room may go with it). */
void mucpres_gone(struct muc_sess *s);
/* Whether an error a session sent back means it is gone (a presence
 * error, or type cancel). */
bool mucpres_fatal_error(const struct xml_node *n);
/* Removes o with an unavailable presence carrying code (and 110 to it):
 * kicked (307), banned (301), no longer a member (321, 322); extra's
 * children (actor, reason) go into the item. */
struct muc_occ;
void mucpres_remove(struct muc_room *r, struct muc_occ *o, unsigned code,
    const struct xml_node *extra);
/* o's current presence to everyone (a role or affiliation changed). */
void mucpres_broadcast(struct muc_room *r, struct muc_occ *o,
    const struct xml_node *extra);
/* The role an affiliation enters with. */
#include "mucroom.h"
enum muc_role mucpres_role_for(const struct muc_room *r, enum muc_aff a);
/* mucadmin.c: muc#admin (affiliation and role lists, kick, ban, voice) */
void mucadmin_iq(struct muc_room *r, struct xml_node *n, struct xml_node *q);
/* mucmsg.c: a message to room@service or room@service/nick */
void mucmsg_handle(struct muc_room *r, struct xml_node *n, const struct jid *to);
/* muciq.c: an IQ to room@service/nick: self-ping (XEP-0410) answered,
 * others relayed to the occupant and their answers back. */
void muciq_handle(struct muc_room *r, struct xml_node *n, const struct jid *to);
void muciq_cleanup(void);
/* mucvoice.c: a muc#request form from an occupant (voice request or a
 * moderator's answer): true when it was one (n taken). */
bool mucvoice_message(struct muc_room *r, struct muc_sess *s,
    struct xml_node *n);
/* mucvcard.c: vcard-temp on the room JID (n taken); the photo hash. */
void mucvcard_iq(struct muc_room *r, struct xml_node *n,
    const struct xml_node *q);
void mucvcard_hash(const struct xml_node *vc, char out[41]);
/* mucowner.c: an IQ to room@service (owner, disco) */
void mucowner_iq(struct muc_room *r, struct xml_node *n);
/* Destroys r as an owner's <destroy/> does (alternate venue, reason:
 * NULL for none; the stored room goes too): -1 on ENOMEM. */
int mucowner_destroy(struct muc_room *r, const char *alt, const char *reason);
/* mucadmin.c: bare's affiliation set to `to` as an owner's muc#admin
 * set would (the occupants' presences, 301/321 removals), reason in the
 * items: NULL and done(arg, 0 / -1) once stored (at once for a
 * temporary room), or why it cannot be (done not called). */
const char *mucadmin_set_aff(struct muc_room *r, const char *bare,
    enum muc_aff to, const char *reason, void (*done)(void *arg, int rc),
    void *arg);
/* muc.c: the host a service domain belongs to, or -1; room (a bare room
 * JID) in memory, loaded if need be: fn(arg, r, err) once, r NULL with
 * err NULL when there is no such room (fn may release r).  -1: too many
 * loads waiting (fn not called). */
int muc_service_host(const char *domain);
int muc_room_get(const char *room, int host,
    void (*fn)(void *arg, struct muc_room *r, const char *err), void *arg);
/* mucctl.c: the xmppctl commands */
#include "registry.h"
extern const struct ctl_command mucctl_commands[];

#endif
