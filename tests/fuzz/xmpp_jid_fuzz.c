/*
 * libFuzzer target: JID parsing (xmpp-core/jid.c).  A parsed JID printed
 * back must parse to the same JID (normalisation is idempotent).
 */
#include "../../xmpp-core/jid.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

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
	return 0;
}
