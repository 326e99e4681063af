/*
 * libFuzzer target: the SOCKS5 handshake codec of the XEP-0065 proxy
 * (xmpp-core/services/socks5.c), driven as bytestream.c drives it: a greeting,
 * then a request from what follows.  A message parses the same from any
 * prefix that holds it whole, never reads past what it was given, and the
 * reply fits its buffer; an accepted address is 40 lower-case hex digits.
 */
#include "socks5.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct s5_request r, r2;
	uint8_t out[S5_REPLY_MAX];
	bool noauth, noauth2;
	long g, q;
	size_t n;

	g = s5_greeting(data, size, &noauth);
	if (g < 0 || g == 0)
		return 0;
	if ((size_t)g > size || s5_greeting(data, (size_t)g, &noauth2) != g ||
	    noauth2 != noauth || s5_greeting(data, (size_t)g - 1, &noauth2) != 0)
		abort();
	data += g;
	size -= (size_t)g;
	q = s5_request(data, size, &r);
	if (q <= 0)
		return 0;
	if ((size_t)q > size || s5_request(data, (size_t)q, &r2) != q ||
	    r2.rep != r.rep || memcmp(r2.hash, r.hash, sizeof(r.hash)) != 0)
		abort();
	if ((n = s5_reply(&r, r.rep, out)) > sizeof(out) || n < 8)
		abort();
	if (r.rep == S5_REP_SUCCEEDED) {
		if (strlen(r.hash) != S5_HASH_LEN ||
		    strspn(r.hash, "0123456789abcdef") != S5_HASH_LEN || n != 47)
			abort();
	}
	return 0;
}
