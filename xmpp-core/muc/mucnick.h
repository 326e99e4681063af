/*
 * mucnick — room nicknames: the PRECIS Nickname profile (RFC 8266) as
 * XEP-0045 §7.2.6 asks for them.  Enforcement maps non-ASCII spaces to
 * U+0020, strips leading and trailing spaces and collapses runs of them,
 * maps fullwidth/halfwidth forms to their decompositions and normalises
 * to NFC, then requires FreeformClass; the comparison key adds
 * toLowerCase (RFC 8266 §2.4), so "Alice" and "alice" are one nick.
 *
 * RFC 8266 normalises with NFKC; precis.c has NFC plus the width mapping
 * (the compatibility decompositions nicknames meet in practice), so other
 * compatibility characters (ligatures, superscripts) are kept as given.
 */
#ifndef XMPP_MUCNICK_H
#define XMPP_MUCNICK_H

#include <stddef.h>

/* The enforced nick (display form) into out[cap]: its length, or -1. */
long mucnick_enforce(const char *in, size_t len, char *out, size_t cap);
/* The comparison key of an enforced nick: its length, or -1. */
long mucnick_key(const char *nick, char *out, size_t cap);

#endif
