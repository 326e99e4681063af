/*
 * idna — the domainpart of a JID (RFC 7622 §3.2): IP literals, NR-LDH
 * labels and IDNA2008 U-labels (RFC 5890–5893), A-labels converted to
 * U-labels with Punycode (RFC 3492).  Built on precis.c.
 */
#ifndef XMPP_IDNA_H
#define XMPP_IDNA_H

#include <stddef.h>
#include <stdint.h>

/*
 * Prepares and enforces a domainpart: len bytes of UTF-8 in, the
 * canonical form (lower case, NFC, U-labels) into out (NUL-terminated,
 * at most cap - 1 bytes).  Returns its length or -1 when refused.
 */
long idna_prep_domain(const char *in, size_t len, char *out, size_t cap);

/* Punycode (RFC 3492) of n code points into out (NUL-terminated,
 * without "xn--"): length or -1. */
long idna_punycode_encode(const uint32_t *cp, size_t n, char *out, size_t cap);
/* Punycode to code points: count or -1. */
long idna_punycode_decode(const char *s, size_t len, uint32_t *cp, size_t cap);

#endif
