/* Unit tests for xmpp-core/core/sasl/scram.c: RFC 5802 and RFC 7677 vectors, PLUS, PLAIN. */
#include "t.h"
#include "scram.h"
#include "crypto.h"

static void
vector(enum scram_hash h, const char *salt64, const char *cfirst,
    const char *snonce, const char *sfirst, const char *cfinal,
    const char *sfinal, int *ok)
{
	struct scram_server s;
	struct scram_keys k;
	uint8_t salt[64];
	ssize_t sl = base64_decode(salt64, strlen(salt64), salt, sizeof(salt));
	const char *err, *first;
	char out[128];

	*ok = 0;
	if (sl <= 0 || scram_derive(h, "pencil", 6, salt, (size_t)sl, 4096, &k) == -1)
		return;
	if (scram_server_start(&s, h, false, false, cfirst, strlen(cfirst), &err) == -1)
		return;
	if (strcmp(s.user, "user") != 0)
		return;
	first = scram_server_first(&s, &k, snonce);
	if (first == NULL || strcmp(first, sfirst) != 0)
		goto out;
	if (scram_server_final(&s, cfinal, strlen(cfinal), NULL, 0, out,
	    sizeof(out), &err) == -1)
		goto out;
	if (strcmp(out, sfinal) != 0)
		goto out;
	*ok = 1;
out:
	scram_server_clear(&s);
}

TEST(scram_rfc5802_sha1)
{
	int ok;

	vector(SCRAM_SHA1, "QSXCR+Q6sek8bf92", "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
	    "3rfcNHYJY1ZVvWVs7j",
	    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
	    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
	    "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", &ok);
	CHECK(ok);
}

TEST(scram_rfc7677_sha256)
{
	int ok;

	vector(SCRAM_SHA256, "W22ZaJ0SNY7soEsUEjb6gQ==", "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
	    "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
	    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", &ok);
	CHECK(ok);
}

TEST(scram_wrong_proof)
{
	struct scram_server s;
	struct scram_keys k;
	const char *err, *cf = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
	const char *fin = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
	char out[128];

	CHECK_INT(scram_derive(SCRAM_SHA1, "pencil2", 7, (const uint8_t *)"0123456789abcdef",
	    16, 4096, &k), 0);
	CHECK_INT(scram_server_start(&s, SCRAM_SHA1, false, false, cf, strlen(cf), &err), 0);
	CHECK(scram_server_first(&s, &k, "3rfcNHYJY1ZVvWVs7j") != NULL);
	CHECK_INT(scram_server_final(&s, fin, strlen(fin), NULL, 0, out, sizeof(out), &err), -1);
	CHECK_STR(err, "not-authorized");
	scram_server_clear(&s);
}

/* RFC 5802 §5.1: m= in the client's final message fails as malformed,
 * before any proof is looked at; other extensions are skipped. */
TEST(scram_final_mandatory_extension)
{
	struct scram_server s;
	struct scram_keys k;
	const char *err, *cf = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL";
	const char *fin = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,m=future,"
	    "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
	const char *ext = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,x=later,"
	    "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
	char out[128];
	uint8_t salt[16];

	CHECK(base64_decode("QSXCR+Q6sek8bf92", 16, salt, sizeof(salt)) == 12);
	CHECK_INT(scram_derive(SCRAM_SHA1, "pencil", 6, salt, 12, 4096, &k), 0);
	CHECK_INT(scram_server_start(&s, SCRAM_SHA1, false, false, cf, strlen(cf), &err), 0);
	CHECK(scram_server_first(&s, &k, "3rfcNHYJY1ZVvWVs7j") != NULL);
	CHECK_INT(scram_server_final(&s, fin, strlen(fin), NULL, 0, out, sizeof(out), &err), -1);
	CHECK_STR(err, "malformed-request");
	scram_server_clear(&s);
	/* an unknown optional extension is parsed over (the proof then no
	 * longer matches the RFC's vector: not-authorized, not malformed) */
	CHECK_INT(scram_server_start(&s, SCRAM_SHA1, false, false, cf, strlen(cf), &err), 0);
	CHECK(scram_server_first(&s, &k, "3rfcNHYJY1ZVvWVs7j") != NULL);
	CHECK_INT(scram_server_final(&s, ext, strlen(ext), NULL, 0, out, sizeof(out), &err), -1);
	CHECK_STR(err, "not-authorized");
	scram_server_clear(&s);
}

TEST(scram_client_first_parsing)
{
	struct scram_server s;
	const char *err;
	static const char *bad[] = {
		"", "x,,n=user,r=abc", "n,,r=abc", "n,,n=,r=abc", "n,,n=a=2,r=abc",
		"n,,n=user,r=", "n,,n=user,r=a,b", "n,a,n=user,r=abc", "p=tls-exporter,,n=u,r=a",
		"n,,m=ext,n=user,r=abc", "n,,n=user,r=abc,m=ext", "n,,n=user,r=abc,x=1,m=",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (scram_server_start(&s, SCRAM_SHA256, false, false, bad[i],
		    strlen(bad[i]), &err) == 0) {
			scram_server_clear(&s);
			CHECK(!bad[i]);
		}
	}
	CHECK_INT(scram_server_start(&s, SCRAM_SHA256, false, false,
	    "n,a=j=2Cx=3D,n=us=3Der,r=abc", 28, &err), 0);
	CHECK_STR(s.user, "us=er");
	CHECK_STR(s.authzid, "j,x=");
	scram_server_clear(&s);
	/* downgrade: client says "y" but we offered -PLUS */
	CHECK_INT(scram_server_start(&s, SCRAM_SHA256, false, true, "y,,n=u,r=abc", 12, &err), -1);
	CHECK_INT(scram_server_start(&s, SCRAM_SHA256, false, false, "y,,n=u,r=abc", 12, &err), 0);
	scram_server_clear(&s);
	/* -PLUS requires p= */
	CHECK_INT(scram_server_start(&s, SCRAM_SHA256, true, true, "n,,n=u,r=abc", 12, &err), -1);
}

TEST(scram_plus_binding)
{
	struct scram_server s;
	struct scram_keys k;
	const char *err, *cf = "p=tls-exporter,,n=user,r=abc";
	uint8_t cb[32], salted_dummy[1] = { 0 };
	char gs2cb[128], fin[256], out[128];

	(void)salted_dummy;
	memset(cb, 7, sizeof(cb));
	CHECK_INT(scram_make_keys(SCRAM_SHA256, "pencil", 4096, &k), 0);
	CHECK_INT(scram_server_start(&s, SCRAM_SHA256, true, true, cf, strlen(cf), &err), 0);
	CHECK_STR(s.cb_type, "tls-exporter");
	CHECK(scram_server_first(&s, &k, "xyz") != NULL);
	/* c= without the binding data must fail even before the proof */
	base64_encode("p=tls-exporter,,", 16, gs2cb);
	snprintf(fin, sizeof(fin), "c=%s,r=abcxyz,p=AAAA", gs2cb);
	CHECK_INT(scram_server_final(&s, fin, strlen(fin), cb, sizeof(cb), out,
	    sizeof(out), &err), -1);
	CHECK_STR(err, "not-authorized");
	scram_server_clear(&s);
}

TEST(scram_password_check)
{
	struct scram_keys k;

	CHECK_INT(scram_make_keys(SCRAM_SHA1, "s3cret", 4096, &k), 0);
	CHECK(scram_check_password(SCRAM_SHA1, &k, "s3cret", 6));
	CHECK(!scram_check_password(SCRAM_SHA1, &k, "s3creT", 6));
}

TEST(sasl_plain)
{
	char az[64], ac[64], pw[64];

	CHECK_INT(sasl_plain_parse("\0juliet\0pw", 10, az, 64, ac, 64, pw, 64), 0);
	CHECK_STR(az, "");
	CHECK_STR(ac, "juliet");
	CHECK_STR(pw, "pw");
	CHECK_INT(sasl_plain_parse("a@b\0juliet\0pw", 13, az, 64, ac, 64, pw, 64), 0);
	CHECK_STR(az, "a@b");
	CHECK_INT(sasl_plain_parse("\0juliet\0", 8, az, 64, ac, 64, pw, 64), -1);
	CHECK_INT(sasl_plain_parse("\0\0pw", 4, az, 64, ac, 64, pw, 64), -1);
	CHECK_INT(sasl_plain_parse("\0a\0p\0w", 6, az, 64, ac, 64, pw, 64), -1);
	CHECK_INT(sasl_plain_parse("juliet", 6, az, 64, ac, 64, pw, 64), -1);
}
