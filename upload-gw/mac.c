/*
 * mac — upload URL verification.  See mac.h.
 */
#include "mac.h"
#include "crypto.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* message = path SEP size [SEP type]; NULL type means the v1 form. */
static int
mac_raw(const void *secret, size_t secret_len, const char *path, uint64_t size,
    const char *type, uint8_t out[HMAC_SHA256_LEN])
{
	char num[24];
	size_t pl = strlen(path), nl, tl = type ? strlen(type) : 0, len;
	char *msg;
	int rc;

	nl = (size_t)snprintf(num, sizeof(num), "%" PRIu64, size);
	len = pl + 1 + nl + (type ? 1 + tl : 0);
	if ((msg = malloc(len)) == NULL)
		return -1;
	memcpy(msg, path, pl);
	msg[pl] = type ? '\0' : ' ';
	memcpy(msg + pl + 1, num, nl);
	if (type) {
		msg[pl + 1 + nl] = '\0';
		memcpy(msg + pl + 2 + nl, type, tl);
	}
	rc = hmac_sha256(secret, secret_len, msg, len, out);
	free(msg);
	return rc;
}

int
upload_mac_compute(const void *secret, size_t secret_len, const char *path,
    uint64_t size, const char *type, char out[65])
{
	uint8_t m[HMAC_SHA256_LEN];

	if (mac_raw(secret, secret_len, path, size, type, m) < 0)
		return -1;
	hex_encode(m, sizeof(m), out);
	return 0;
}

enum mac_kind
upload_mac_verify(const void *secret, size_t secret_len, const char *path,
    uint64_t size, enum mac_kind form, const char *const *types, size_t ntypes,
    const char *given)
{
	uint8_t want[HMAC_SHA256_LEN], got[HMAC_SHA256_LEN];
	bool found = false;

	if (given == NULL || strlen(given) != 2 * HMAC_SHA256_LEN ||
	    hex_decode(given, 2 * HMAC_SHA256_LEN, got, sizeof(got)) !=
	    HMAC_SHA256_LEN)
		return MAC_NONE;
	if (form == MAC_V1)
		return mac_raw(secret, secret_len, path, size, NULL, want) == 0 &&
		    ct_equal(want, got, sizeof(got)) ? MAC_V1 : MAC_NONE;
	if (form != MAC_V2)
		return MAC_NONE;
	/* Every candidate type is computed and compared: no early exit. */
	for (size_t i = 0; i < ntypes; i++) {
		if (types[i] == NULL)
			continue;
		if (mac_raw(secret, secret_len, path, size, types[i], want) == 0 &&
		    ct_equal(want, got, sizeof(got)))
			found = true;
	}
	return found ? MAC_V2 : MAC_NONE;
}
