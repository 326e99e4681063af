/*
 * jid — RFC 7622 addresses: parse, validate and normalise.
 *
 * Each part is prepared with PRECIS: the localpart with the
 * UsernameCaseMapped profile (RFC 8265 §3.3) plus the RFC 7622 §3.3.1
 * exclusions (" & ' / : < > @), the resourcepart with OpaqueString
 * (RFC 8265 §4.2), the domainpart with the IDNA2008 rules of idna.c
 * (RFC 7622 §3.2).  Prepared parts are at most 1023 bytes; preparation is
 * idempotent.  xmpp-core/DESIGN-NOTES.md "JIDs: what of PRECIS is covered".
 */
#ifndef XMPP_JID_H
#define XMPP_JID_H

#include <stdbool.h>
#include <stddef.h>

#define JID_PART_MAX 1023
#define JID_STR_MAX (3 * JID_PART_MAX + 3)

struct jid {
	char local[JID_PART_MAX + 1];	/* "" when absent */
	char domain[JID_PART_MAX + 1];
	char resource[JID_PART_MAX + 1];	/* "" when absent */
};

/* 0, or -1 when s is not a valid JID. */
int jid_parse(const char *s, struct jid *out);
/* Normalises a localpart alone (usernames): 0 / -1; out has JID_PART_MAX+1. */
int jid_local_prep(const char *in, char *out);
int jid_resource_prep(const char *in, char *out);
int jid_domain_prep(const char *in, char *out);

/* "local@domain/resource" into buf (JID_STR_MAX+1 is always enough). */
const char *jid_full(const struct jid *j, char *buf, size_t len);
const char *jid_bare(const struct jid *j, char *buf, size_t len);
bool jid_bare_eq(const struct jid *a, const struct jid *b);
bool jid_eq(const struct jid *a, const struct jid *b);
/* Same bare JID with another resource (or none with NULL). */
void jid_set_resource(struct jid *j, const char *res);
/* Copies the address into out with the resource dropped. */
void jid_to_bare(const struct jid *in, struct jid *out);

#endif
