/*
 * mucnick — room nicknames: the PRECIS Nickname profile (RFC 8266) as
 * XEP-0045 §7.2.6 asks for them.  Enforcement (RFC 8266 §2.3) maps
 * non-ASCII spaces to U+0020, strips leading and trailing spaces and
 * collapses runs of them, normalises to NFKC (so fullwidth forms,
 * ligatures and superscripts become what they stand for), then requires
 * FreeformClass; the comparison key (§2.4) lower-cases before NFKC, so
 * "Alice", "alice" and "ａｌｉｃｅ" are one nick.
 */
#ifndef XMPP_MUCNICK_H
#define XMPP_MUCNICK_H

#include <stddef.h>

/* The enforced nick (display form) into out[cap]: its length, or -1. */
long mucnick_enforce(const char *in, size_t len, char *out, size_t cap);
/* The comparison key of an enforced nick: its length, or -1. */
long mucnick_key(const char *nick, char *out, size_t cap);

#endif
