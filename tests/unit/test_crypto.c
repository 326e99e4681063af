/* Unit tests for common/crypto.c: RFC 4231 / RFC 2202 vectors, codecs. */
#include "t.h"
#include "crypto.h"

TEST(crypto_hmac_vectors)
{
	uint8_t out[32];
	char hex[65];

	/* RFC 4231 test case 2 */
	CHECK_INT(hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, out), 0);
	CHECK_STR(hex_encode(out, 32, hex),
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	/* RFC 2202 test case 2 */
	CHECK_INT(hmac_sha1("Jefe", 4, "what do ya want for nothing?", 28, out), 0);
	CHECK_STR(hex_encode(out, 20, hex), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

TEST(crypto_codecs)
{
	uint8_t buf[16];
	char b64[base64_encoded_len(6)];

	CHECK_INT(hex_decode("00fFa1", 6, buf, sizeof(buf)), 3);
	CHECK(buf[1] == 0xff && buf[2] == 0xa1);
	CHECK_INT(hex_decode("0g", 2, buf, sizeof(buf)), -1);
	CHECK_INT(hex_decode("abc", 3, buf, sizeof(buf)), -1);
	CHECK_INT(base64_encode("foobar", 6, b64), 8);
	CHECK_STR(b64, "Zm9vYmFy");
	CHECK_INT(base64_encode("fo", 2, b64), 4);
	CHECK_STR(b64, "Zm8=");
	CHECK_INT(base64_decode("Zm8=", 4, buf, sizeof(buf)), 2);
	CHECK_MEM(buf, "fo", 2);
	CHECK_INT(base64_decode("Zg==", 4, buf, sizeof(buf)), 1);
	CHECK_INT(base64_decode("Zg=a", 4, buf, sizeof(buf)), -1);
	CHECK_INT(base64_decode("Z===", 4, buf, sizeof(buf)), -1);
	CHECK_INT(base64_decode("Zm9", 3, buf, sizeof(buf)), -1);
	CHECK(ct_equal("abc", "abc", 3));
	CHECK(!ct_equal("abc", "abd", 3));
}

TEST(crypto_random)
{
	char a[33], b[33];

	CHECK_INT(random_hex(a, 16), 0);
	CHECK_INT(random_hex(b, 16), 0);
	CHECK_INT(strlen(a), 32);
	CHECK(strcmp(a, b) != 0);
}
