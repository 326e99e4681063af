/*
 * avatar — PEP avatars and vCard avatars kept as one (XEP-0398, advertised
 * as urn:xmpp:pep-vcard-conversion:0): avatar metadata published through
 * XEP-0084 becomes the vCard's PHOTO (and the XEP-0153 hash in presence);
 * a vCard set with a photo is published as XEP-0084 data and metadata.
 */
#ifndef XMPP_AVATAR_H
#define XMPP_AVATAR_H

struct c2s;
struct ps_svc;
struct xml_node;

#define NS_AVATAR_DATA "urn:xmpp:avatar:data"
#define NS_AVATAR_METADATA "urn:xmpp:avatar:metadata"

/* An item the account published on one of its nodes, from session c (or
 * NULL): c's later stanzas wait until the vCard and the XEP-0153 hash are
 * converted, so the presence a client sends next carries the new hash. */
void avatar_published(const struct ps_svc *svc, const char *node,
    const char *id, const struct xml_node *payload, struct c2s *c);

#endif
