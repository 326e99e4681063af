/*
 * libFuzzer target: JID parsing and preparation (xmpp-core/core/jid/jid.c,
 * precis.c, idna.c).  A parsed JID printed back must parse to the same
 * JID; each part's preparation is idempotent (prep(prep(x)) == prep(x)
 * for every accepted x, RFC 8264 §7); Punycode encodes and decodes back
 * to the same code points.
 */
#include "idna.h"
#include "jid.h"
#include "precis.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void
part_stable(int (*prep)(const char *, char *), const char *s)
{
	static char once[JID_PART_MAX + 1], twice[JID_PART_MAX + 1];

	if (prep(s, once) == 0 &&
	    (prep(once, twice) != 0 || strcmp(once, twice) != 0))
		abort();
}

static void
punycode_roundtrip(const char *s, size_t len)
{
	uint32_t cp[64], back[64];
	char enc[256];
	long n, e;

	if ((n = precis_decode(s, len, cp, 64)) <= 0)
		return;
	if ((e = idna_punycode_encode(cp, (size_t)n, enc, sizeof(enc))) < 0)
		return;
	if (idna_punycode_decode(enc, (size_t)e, back, 64) != n ||
	    memcmp(cp, back, (size_t)n * sizeof(*cp)) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static struct jid a, b;
	static char s[JID_STR_MAX + 2], out[JID_STR_MAX + 1];

	if (size > JID_STR_MAX + 1)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (jid_parse(s, &a) == 0) {
		jid_full(&a, out, sizeof(out));
		if (jid_parse(out, &b) != 0 || !jid_eq(&a, &b))
			abort();
	}
	part_stable(jid_local_prep, s);
	part_stable(jid_domain_prep, s);
	part_stable(jid_resource_prep, s);
	punycode_roundtrip(s, strlen(s));
	return 0;
}
