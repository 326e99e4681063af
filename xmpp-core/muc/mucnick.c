/*
 * mucnick — the Nickname profile (RFC 8266).  See mucnick.h.
 *
 * Both forms are rounds for precis_enforce(), which repeats them until
 * the result is stable (RFC 8266 §4, RFC 8264 §7): NFKC can produce
 * spaces the mapping rule has not seen yet (U+00A8 DIAERESIS is
 * U+0020 U+0308) and case mapping can make NFKC apply again (U+03D4).
 */
#include "mucnick.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "precis.h"

/*
 * RFC 8266 §2.1 Additional Mapping Rule: non-ASCII spaces (Zs) to
 * U+0020, leading and trailing spaces removed, interior runs of spaces
 * made one.  Returns the count (0 when nothing but spaces).
 */
static size_t
map_spaces(const uint32_t *in, size_t n, uint32_t *out)
{
	size_t o = 0;
	bool space = false;

	for (size_t i = 0; i < n; i++) {
		if (precis_is_space(in[i])) {
			space = true;
			continue;
		}
		if (space && o > 0)
			out[o++] = ' ';
		space = false;
		out[o++] = in[i];
	}
	return o;
}

/*
 * One round of §2.3 (enforcement: Additional Mapping Rule, then NFKC) or
 * of §2.4 (comparison: Additional Mapping Rule, toLowerCase, NFKC), with
 * the FreeformClass of §2.2.  There is no width mapping rule (NFKC does
 * it) and no directionality rule; an empty result is refused.
 */
static long
rules(const uint32_t *in, size_t n, uint32_t *out, bool compare)
{
	uint32_t w[PRECIS_CAP];
	size_t o;
	long m;

	if (!compare) {
		o = map_spaces(in, n, out);
	} else {
		o = map_spaces(in, n, w);
		if ((m = precis_map_lower(w, o, out, PRECIS_CAP)) < 0)
			return -1;
		o = (size_t)m;
	}
	if (o == 0 || (m = precis_nfkc(out, o, PRECIS_CAP)) <= 0)
		return -1;
	if (precis_check(out, (size_t)m, PRECIS_FREEFORM) == -1)
		return -1;
	return m;
}

static long
nick_round(const uint32_t *in, size_t n, uint32_t *out)
{
	return rules(in, n, out, false);
}

long
mucnick_enforce(const char *in, size_t len, char *out, size_t cap)
{
	return precis_enforce(in, len, out, cap, nick_round);
}

static long
key_round(const uint32_t *in, size_t n, uint32_t *out)
{
	return rules(in, n, out, true);
}

long
mucnick_key(const char *nick, char *out, size_t cap)
{
	return precis_enforce(nick, strlen(nick), out, cap, key_round);
}
