/*
 * vcard — vcard-temp (XEP-0054): an account sets its own vCard and anyone
 * on the server may read it (as ejabberd and Prosody allow: vCards are
 * public profiles).  Stored in PostgreSQL, bounded by [vcard] max_size,
 * with the SHA-1 of its photo kept for vCard avatars (XEP-0153).
 */
#ifndef XMPP_VCARD_H
#define XMPP_VCARD_H

#include <stdbool.h>

#include "jid.h"

struct c2s;
struct xml_node;

#define NS_VCARD "vcard-temp"

/* An IQ the account addressed to itself (or to no one): false when it is
 * not a vCard, else handled (and n taken). */
bool vcard_iq(struct c2s *c, struct xml_node *n);
/* An IQ to another account's bare JID (to, on host): false when it is not
 * a vCard, else handled (and n taken). */
bool vcard_deliver(struct xml_node *n, const struct jid *to, int host);

/* XEP-0153 §4.3 (what ejabberd's mod_vcard_xupdate does): the avatar
 * hash of the account's vCard, loaded at bind (the session waits for it),
 * is added to available presence that does not carry one. */
void vcard_session_start(struct c2s *c);
void vcard_session_end(struct c2s *c);
void vcard_presence(struct c2s *c, struct xml_node *presence);
void vcard_cleanup(void);
/* The account's avatar hash changed outside a vCard set (avatar.c). */
void vcard_hash_update(const char *bare, const char *hash);

#endif
