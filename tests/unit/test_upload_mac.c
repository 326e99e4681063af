/*
 * Unit tests for upload-gw/mac.c.  Expected values were computed with
 * openssl dgst -sha256 -hmac, independently of the code under test.
 */
#include "t.h"
#include "../../upload-gw/mac.h"

#include <string.h>

#define SECRET "s3cret"
#define UPLOAD_MAC_V1_VECTOR \
	"1f0f0ab76e24e3d11761f1dbebb3515b10db682d65a23661ced899e83f520cba"
#define UPLOAD_MAC_V2_VECTOR \
	"42a614afc1ee6d510b8ecf8fbe5cbc08711b8102bb4105e2fe37e7248ff6b2a3"

TEST(upload_mac_vectors)
{
	char out[65];

	/* printf 'a/b.txt 5' | openssl dgst -sha256 -hmac s3cret */
	CHECK_INT(upload_mac_compute(SECRET, 6, "a/b.txt", 5, NULL, out), 0);
	CHECK_STR(out, UPLOAD_MAC_V1_VECTOR);
	/* printf 'a/b.txt\0005\000text/plain; charset=utf-8' | openssl ... */
	CHECK_INT(upload_mac_compute(SECRET, 6, "a/b.txt", 5,
	    "text/plain; charset=utf-8", out), 0);
	CHECK_STR(out, UPLOAD_MAC_V2_VECTOR);
}

TEST(upload_mac_verify_forms)
{
	const char *types[] = { "image/png", NULL, "text/plain; charset=utf-8" };
	char upper[65];

	CHECK_INT(upload_mac_verify(SECRET, 6, "a/b.txt", 5, MAC_V1, types, 3,
	    UPLOAD_MAC_V1_VECTOR), MAC_V1);
	CHECK_INT(upload_mac_verify(SECRET, 6, "a/b.txt", 5, MAC_V2, types, 3,
	    UPLOAD_MAC_V2_VECTOR), MAC_V2);
	/* The form is the parameter's: a v1 MAC is no v2 MAC, nor back. */
	CHECK_INT(upload_mac_verify(SECRET, 6, "a/b.txt", 5, MAC_V2, types, 3,
	    UPLOAD_MAC_V1_VECTOR), MAC_NONE);
	CHECK_INT(upload_mac_verify(SECRET, 6, "a/b.txt", 5, MAC_V1, types, 3,
	    UPLOAD_MAC_V2_VECTOR), MAC_NONE);
	CHECK_INT(upload_mac_verify(SECRET, 6, "a/b.txt", 5, MAC_NONE, types, 3,
	    UPLOAD_MAC_V1_VECTOR), MAC_NONE);
	/* Hex in either case. */
	strcpy(upper, UPLOAD_MAC_V1_VECTOR);
	for (char *p = upper; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	CHECK_INT(upload_mac_verify(SECRET, 6, "a/b.txt", 5, MAC_V1, types, 3,
	    upper), MAC_V1);
	/* Wrong size, path, secret, type set, garbage. */
	CHECK_INT(upload_mac_verify(SECRET, 6, "a/b.txt", 6, MAC_V1, types, 3,
	    UPLOAD_MAC_V1_VECTOR), MAC_NONE);
	CHECK_INT(upload_mac_verify(SECRET, 6, "a/c.txt", 5, MAC_V1, types, 3,
	    UPLOAD_MAC_V1_VECTOR), MAC_NONE);
	CHECK_INT(upload_mac_verify("other!", 6, "a/b.txt", 5, MAC_V1, types, 3,
	    UPLOAD_MAC_V1_VECTOR), MAC_NONE);
	CHECK_INT(upload_mac_verify(SECRET, 6, "a/b.txt", 5, MAC_V2, types, 2,
	    UPLOAD_MAC_V2_VECTOR), MAC_NONE);
	CHECK_INT(upload_mac_verify(SECRET, 6, "a/b.txt", 5, MAC_V1, types, 3, ""),
	    MAC_NONE);
	CHECK_INT(upload_mac_verify(SECRET, 6, "a/b.txt", 5, MAC_V2, types, 3, NULL),
	    MAC_NONE);
	upper[0] = 'z';
	CHECK_INT(upload_mac_verify(SECRET, 6, "a/b.txt", 5, MAC_V1, types, 3, upper),
	    MAC_NONE);
	CHECK_INT(upload_mac_verify(SECRET, 6, "a/b.txt", 5, MAC_V1, types, 3,
	    UPLOAD_MAC_V1_VECTOR "00"), MAC_NONE);
}
