/*
 * vcard — vcard-temp (XEP-0054): an account sets its own vCard and anyone
 * on the server may read it (as ejabberd and Prosody allow: vCards are
 * public profiles).  Stored in PostgreSQL, bounded by [vcard] max_size,
 * with the SHA-1 of its photo kept for vCard avatars (XEP-0153).
 */
#ifndef XMPP_VCARD_H
#define XMPP_VCARD_H

#include <stdbool.h>
#include <stddef.h>

#include "jid.h"

struct c2s;
struct xml_node;

#define NS_VCARD "vcard-temp"

/* XEP-0153 §4.3 (what ejabberd's mod_vcard_xupdate does): the avatar
 * hash of the account's vCard, loaded at bind (the session waits for it),
 * is added to available presence that does not carry one. */
void vcard_presence(struct c2s *c, struct xml_node *presence);

/* The interface pubsub/ builds on (avatar.c, XEP-0398): */
/* The account's avatar hash changed outside a vCard set. */
void vcard_hash_update(const char *bare, const char *hash);
/* [vcard] max_size. */
size_t vcard_max_size(void);

#endif
