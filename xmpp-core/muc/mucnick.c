/*
 * mucnick — the Nickname profile (RFC 8266).  See mucnick.h.
 */
#include "mucnick.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "precis.h"

/* General category Zs other than U+0020 (Unicode 15). */
static bool
is_space(uint32_t c)
{
	return c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
	    c == 0x202f || c == 0x205f || c == 0x3000;
}

/* RFC 8266 §2.2 rules 1-2 and 4, then the FreeformClass (§2.1). */
static long
nick_round(const uint32_t *in, size_t n, uint32_t *out)
{
	size_t o = 0;
	bool space = false;
	long m;

	for (size_t i = 0; i < n; i++) {
		uint32_t c = is_space(in[i]) ? ' ' : in[i];

		if (c == ' ') {
			space = true;
			continue;
		}
		if (space && o > 0)
			out[o++] = ' ';
		space = false;
		out[o++] = c;
	}
	if (o == 0)
		return -1;
	precis_map_width(out, o);
	if ((m = precis_nfc(out, o, PRECIS_CAP)) <= 0)
		return -1;
	if (precis_check(out, (size_t)m, PRECIS_FREEFORM) == -1)
		return -1;
	return m;
}

long
mucnick_enforce(const char *in, size_t len, char *out, size_t cap)
{
	return precis_enforce(in, len, out, cap, nick_round);
}

static long
key_round(const uint32_t *in, size_t n, uint32_t *out)
{
	uint32_t w[PRECIS_CAP];
	long m;

	if ((m = nick_round(in, n, w)) < 0 ||
	    (m = precis_map_lower(w, (size_t)m, out, PRECIS_CAP)) <= 0 ||
	    (m = precis_nfc(out, (size_t)m, PRECIS_CAP)) <= 0)
		return -1;
	return m;
}

long
mucnick_key(const char *nick, char *out, size_t cap)
{
	return precis_enforce(nick, strlen(nick), out, cap, key_round);
}
