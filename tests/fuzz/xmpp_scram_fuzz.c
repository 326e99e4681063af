/*
 * libFuzzer target: SCRAM client messages and SASL PLAIN
 * (xmpp-core/core/sasl/scram.c).  The input is split at its first NUL into a
 * client-first and a client-final message.
 */
#include "scram.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static struct scram_keys k;
	static int init;
	struct scram_server s;
	const char *err, *p = (const char *)data, *nul;
	char az[256], ac[256], pw[256], out[256];
	size_t first;

	if (!init) {
		scram_derive(SCRAM_SHA256, "pencil", 6, (const unsigned char *)"saltsaltsaltsalt",
		    16, 4096, &k);
		init = 1;
	}
	sasl_plain_parse(p, size, az, sizeof(az), ac, sizeof(ac), pw, sizeof(pw));
	nul = memchr(p, '\0', size);
	first = nul ? (size_t)(nul - p) : size;
	if (scram_server_start(&s, SCRAM_SHA256, size % 2, size % 3 == 0, p, first, &err) == 0) {
		if (scram_server_first(&s, &k, "srvnonce") != NULL && nul)
			scram_server_final(&s, nul + 1, size - first - 1,
			    (const unsigned char *)"0123456789abcdef0123456789abcdef", 32,
			    out, sizeof(out), &err);
		scram_server_clear(&s);
	}
	return 0;
}
