/*
 * libFuzzer target: FAST's HT initial response and mechanism names
 * (xmpp-core/core/sasl/fast.c) and Bind2's resource from a tag and a
 * user-agent id (sasl2.c).  The input is split at its first NUL: what
 * comes before is a mechanism name, a tag and an agent id; all of it is
 * an HT message.
 */
#include "fast.h"
#include "sasl2.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char user[1024], word[256], res[1100];
	uint8_t mac[FAST_MAC_LEN], key[FAST_KEY_LEN];
	const char *nul = memchr(data, '\0', size);
	size_t n = nul ? (size_t)(nul - (const char *)data) : size;
	enum fast_cb cb;

	(void)fast_ht_parse((const char *)data, size, user, sizeof(user), mac);
	if (n >= sizeof(word))
		n = sizeof(word) - 1;
	memcpy(word, data, n);
	word[n] = '\0';
	if (fast_mech_parse(word, &cb) == 0 && fast_cb_type(cb) == NULL && cb != FAST_NONE)
		abort();
	(void)sasl2_resource("user", word, word, res, sizeof(res));
	(void)sasl2_resource("user", word, word, res, 8);
	fast_token_key(word, n, key);
	fast_ht_mac(key, "Initiator", data, size < 128 ? size : 128, mac);
	return 0;
}
