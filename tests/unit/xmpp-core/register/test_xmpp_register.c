/*
 * register: the [registration] table, the throttle, the PNG encoder
 * (checksum vectors, the stored deflate blocks read back), captcha
 * texts and the life of a challenge.
 *
 * xmpp_captcha_sample is the test-only way to get pictures with their
 * answers: with EDGE_CAPTCHA_SAMPLE=DIR (and EDGE_CAPTCHA_SAMPLE_N) it
 * writes DIR/NNN.png and DIR/answers.txt (EDGE_CAPTCHA_SAMPLE_PLAIN: the
 * undistorted control pictures); the OCR integration test runs it.  It exists only in the unit-test binary.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "t.h"
#include "buf.h"
#include "captcha.h"
#include "crypto.h"
#include "png.h"
#include "conf.h"
#include "regconf.h"
#include "throttle.h"

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

TEST(xmpp_png_checksums)
{
	/* the check values of the CRC catalogue and of RFC 1950's example */
	CHECK_INT(png_crc32(0, "123456789", 9), 0xcbf43926u);
	CHECK_INT(png_crc32(png_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
	CHECK_INT(png_adler32(1, "Wikipedia", 9), 0x11e60398u);
	CHECK_INT(png_adler32(1, "", 0), 1);
}

/* Reads the PNG back: chunk CRCs, IHDR, stored blocks, Adler-32, pixels. */
static int
png_check(const uint8_t *p, size_t n, unsigned w, unsigned h, const uint8_t *pix)
{
	static uint8_t raw[400 * 400 + 400];
	size_t off = 8, rawlen = 0;
	uint8_t z[200000];
	size_t zlen = 0;
	bool iend = false;

	if (n < 8 || memcmp(p, "\x89PNG\r\n\x1a\n", 8) != 0)
		return -1;
	while (off + 12 <= n && !iend) {
		uint32_t len = rd32(p + off);
		const uint8_t *type = p + off + 4, *data = p + off + 8;

		if (off + 12 + len > n)
			return -2;
		if (png_crc32(0, type, 4 + len) != rd32(data + len))
			return -3;
		if (memcmp(type, "IHDR", 4) == 0) {
			if (len != 13 || rd32(data) != w || rd32(data + 4) != h ||
			    data[8] != 8 || data[9] != 0)
				return -4;
		} else if (memcmp(type, "IDAT", 4) == 0) {
			if (zlen + len > sizeof(z))
				return -5;
			memcpy(z + zlen, data, len);
			zlen += len;
		} else if (memcmp(type, "IEND", 4) == 0) {
			iend = true;
		}
		off += 12 + len;
	}
	if (!iend || off != n || zlen < 6 || z[0] != 0x78 || (z[0] << 8 | z[1]) % 31)
		return -6;
	for (size_t q = 2;;) {
		unsigned final = z[q] & 1, btype = z[q] >> 1 & 3;
		unsigned len = z[q + 1] | z[q + 2] << 8, nlen = z[q + 3] | z[q + 4] << 8;

		if (btype != 0 || (len ^ 0xffff) != nlen || q + 5 + len > zlen ||
		    rawlen + len > sizeof(raw))
			return -7;
		memcpy(raw + rawlen, z + q + 5, len);
		rawlen += len;
		q += 5 + len;
		if (final) {
			if (q + 4 != zlen || rd32(z + q) != png_adler32(1, raw, rawlen))
				return -8;
			break;
		}
	}
	if (rawlen != (size_t)h * (w + 1))
		return -9;
	for (unsigned y = 0; y < h; y++)
		if (raw[y * (w + 1)] != 0 || memcmp(raw + y * (w + 1) + 1, pix + y * w, w))
			return -10;
	return 0;
}

TEST(xmpp_png_roundtrip)
{
	static uint8_t pix[400 * 400];
	const unsigned sizes[][2] = { { 1, 1 }, { 3, 2 }, { 240, 90 }, { 400, 400 } };
	struct buf b;

	for (size_t i = 0; i < sizeof(pix); i++)
		pix[i] = (uint8_t)(i * 7 + (i >> 9));
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		buf_init(&b);
		CHECK_INT(png_gray(pix, sizes[s][0], sizes[s][1], &b), 0);
		CHECK_INT(png_check((uint8_t *)b.p, b.len, sizes[s][0], sizes[s][1], pix), 0);
		buf_free(&b);
	}
	buf_init(&b);
	CHECK_INT(png_gray(pix, 0, 5, &b), -1);
	CHECK_INT(png_gray(pix, 5000, 5, &b), -1);
	buf_free(&b);
}

static void
loopback(struct sockaddr_in *sin, const char *ip)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &sin->sin_addr);
}

TEST(xmpp_captcha_challenge)
{
	uint8_t k[CAPTCHA_KEY_LEN];
	struct captcha_limits l = { .per_minute = 3, .ttl_s = 60 };
	struct sockaddr_in a, b;
	char id[CAPTCHA_ID_LEN + 1], id2[CAPTCHA_ID_LEN + 1], cid[CAPTCHA_CID_LEN + 1];
	char text[CAPTCHA_TEXT_LEN + 1], lower[CAPTCHA_TEXT_LEN + 3];
	struct buf png;

	memset(k, 7, sizeof(k));
	captcha_set_key(k);
	captcha_clear();
	loopback(&a, "192.0.2.1");
	loopback(&b, "192.0.2.2");
	CHECK_INT(captcha_new((struct sockaddr *)&a, &l, id, cid, NULL), CAPTCHA_OK);
	CHECK_INT(strlen(id), CAPTCHA_ID_LEN);
	CHECK(strncmp(cid, "sha1+", 5) == 0 && strstr(cid, "@bob.xmpp.org"));
	captcha_text(id, text);
	CHECK_INT(strlen(text), CAPTCHA_TEXT_LEN);
	for (int i = 0; i < CAPTCHA_TEXT_LEN; i++)
		CHECK(strchr(CAPTCHA_ALPHABET, text[i]) != NULL);
	/* the same picture by id and by cid, while it is pending */
	buf_init(&png);
	CHECK_INT(captcha_png(id, &png), 0);
	CHECK(png.len > 8 && memcmp(png.p, "\x89PNG", 4) == 0);
	size_t len = png.len;
	buf_reset(&png);
	CHECK_INT(captcha_png_cid(cid, &png), 0);
	CHECK_INT(png.len, len);
	buf_free(&png);
	/* blanks and case do not matter; one answer per challenge */
	snprintf(lower, sizeof(lower), " %c%c%c %c%c%c", text[0] | 0x20, text[1] | 0x20,
	    text[2], text[3], text[4], text[5]);
	CHECK_INT(captcha_check(id, lower, NULL), CAPTCHA_OK);
	CHECK_INT(captcha_check(id, text, NULL), CAPTCHA_UNKNOWN);
	buf_init(&png);
	CHECK_INT(captcha_png(id, &png), -1);
	buf_free(&png);
	/* a wrong answer uses the challenge up too */
	CHECK_INT(captcha_new((struct sockaddr *)&a, &l, id2, cid, NULL), CAPTCHA_OK);
	captcha_text(id2, text);
	CHECK_INT(captcha_check(id2, strcmp(text, "AAAAAA") ? "AAAAAA" : "CCCCCC", NULL),
	    CAPTCHA_WRONG);
	CHECK_INT(captcha_check(id2, "AAAAAA", NULL), CAPTCHA_UNKNOWN);
	CHECK_INT(captcha_check("nope", "AAAAAA", NULL), CAPTCHA_UNKNOWN);
	/* per address and minute, answered ones included */
	CHECK_INT(captcha_new((struct sockaddr *)&a, &l, id2, cid, NULL), CAPTCHA_OK);
	CHECK_INT(captcha_new((struct sockaddr *)&a, &l, id2, cid, NULL), CAPTCHA_LIMITED);
	CHECK_INT(captcha_new((struct sockaddr *)&b, &l, id2, cid, NULL), CAPTCHA_OK);
	/* an expired challenge is unknown */
	l.ttl_s = 0;
	CHECK_INT(captcha_new((struct sockaddr *)&b, &l, id2, cid, NULL), CAPTCHA_OK);
	captcha_text(id2, text);
	CHECK_INT(captcha_check(id2, text, NULL), CAPTCHA_UNKNOWN);
	captcha_clear();
}

TEST(xmpp_captcha_sample)
{
	const char *dir = getenv("EDGE_CAPTCHA_SAMPLE");
	const char *ns = getenv("EDGE_CAPTCHA_SAMPLE_N");
	struct captcha_limits l = { .per_minute = 100000, .ttl_s = 600 };
	struct sockaddr_in a;
	char path[4096], id[CAPTCHA_ID_LEN + 1], text[CAPTCHA_TEXT_LEN + 1];
	int n = ns ? atoi(ns) : 200;
	bool plain = getenv("EDGE_CAPTCHA_SAMPLE_PLAIN") != NULL;
	FILE *ans;

	if (dir == NULL)
		return;
	snprintf(path, sizeof(path), "%s/answers.txt", dir);
	CHECK((ans = fopen(path, "w")) != NULL);
	for (int i = 0; i < n; i++) {
		struct buf png;
		FILE *f;

		captcha_clear();
		loopback(&a, "192.0.2.3");
		CHECK_INT(captcha_new((struct sockaddr *)&a, &l, id, NULL, NULL), CAPTCHA_OK);
		captcha_text(id, text);
		buf_init(&png);
		if (plain) {
			static uint8_t pix[CAPTCHA_W * CAPTCHA_H];
			uint8_t seed[32] = { 0 };

			captcha_draw(text, seed, true, pix);
			CHECK_INT(png_gray(pix, CAPTCHA_W, CAPTCHA_H, &png), 0);
		} else {
			CHECK_INT(captcha_png(id, &png), 0);
		}
		snprintf(path, sizeof(path), "%s/%03d.png", dir, i);
		CHECK((f = fopen(path, "wb")) != NULL);
		CHECK_INT(fwrite(png.p, 1, png.len, f), png.len);
		fclose(f);
		buf_free(&png);
		fprintf(ans, "%03d.png %s\n", i, text);
	}
	fclose(ans);
	captcha_clear();
}

static struct reg_config *
load(const char *text, char *err, size_t errlen)
{
	struct conf_err e = { { 0 } };
	struct conf_doc *d = conf_parse_string("t.toml", text, 0, &e);
	void *cfg = NULL;

	if (d == NULL) {
		snprintf(err, errlen, "%s", e.msg);
		return NULL;
	}
	if (regconf_load(d->root, &cfg, &e) == -1) {
		snprintf(err, errlen, "%s", e.msg);
		regconf_free(cfg);
		cfg = NULL;
	}
	conf_free(d);
	return cfg;
}

TEST(xmpp_register_config)
{
	char err[700];
	struct reg_config *c;

	/* public: captcha and throttle; trusted networks: neither */
	CHECK((c = load("[registration]\nenabled = true\n", err, sizeof(err))) != NULL);
	CHECK_INT(c->captcha, CAPTCHA_IMAGE);
	CHECK_INT(c->throttle_ip, 1);
	CHECK_INT(c->throttle_subnet, 3);
	CHECK_INT(c->limits.per_minute, 10);
	CHECK_INT(c->min_password_entropy, 64);
	CHECK(regconf_reserved(c, "admin") && regconf_reserved(c, "postmaster"));
	CHECK(!regconf_reserved(c, "alice"));
	regconf_free(c);
	CHECK((c = load("[registration]\nenabled = true\nallow_from = [\"127.0.0.0/8\"]\n"
	    "reserved = [\"Boss\"]\nwatchers = [\"a@b.example\"]\n", err, sizeof(err))) != NULL);
	CHECK_INT(c->captcha, CAPTCHA_OFF);
	CHECK_INT(c->throttle_ip, 0);
	CHECK_INT(c->min_password_entropy, 32);
	CHECK(regconf_reserved(c, "boss") && !regconf_reserved(c, "admin"));
	CHECK_INT(c->nwatchers, 1);
	CHECK_STR(c->watchers[0], "a@b.example");
	regconf_free(c);
	/* errors name the key */
	CHECK(load("[registration]\ncaptcha = \"question\"\n", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "captcha") != NULL);
	CHECK(load("[registration]\ncaptcha = \"maybe\"\n", err, sizeof(err)) == NULL);
	CHECK(load("[registration]\nwatchers = [\"a@b/c\"]\n", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "watchers") != NULL);
	CHECK(load("[registration]\nreserved = [\"a@b\"]\n", err, sizeof(err)) == NULL);
	CHECK(load("[registration]\ninvite_url = \"ftp://x\"\n", err, sizeof(err)) == NULL);
	CHECK((c = load("[registration]\ncaptcha = \"question\"\n[[registration.question]]\n"
	    "text = \"2 + 2?\"\nanswers = [\"4\", \"four\"]\n", err, sizeof(err))) != NULL);
	CHECK_INT(c->captcha, CAPTCHA_QUESTION);
	CHECK_INT(c->nquestions, 1);
	CHECK_INT(c->questions[0].nanswers, 2);
	regconf_free(c);
}

TEST(xmpp_register_throttle)
{
	struct reg_config c = { .throttle_ip = 1, .throttle_subnet = 2, .prefix4 = 24,
	    .prefix6 = 64, .throttle_period_ms = 600000 };
	struct sockaddr_in a, b, far;
	struct sockaddr_in6 s6a, s6b, s6c;

	throttle_clear();
	loopback(&a, "192.0.2.10");
	loopback(&b, "192.0.2.11");
	loopback(&far, "198.51.100.1");
	CHECK(throttle_allows(&c, (struct sockaddr *)&a));
	throttle_count((struct sockaddr *)&a);
	CHECK(!throttle_allows(&c, (struct sockaddr *)&a));
	CHECK(throttle_allows(&c, (struct sockaddr *)&b));
	throttle_count((struct sockaddr *)&b);
	/* two in 192.0.2.0/24 now: the subnet is full, another is not */
	loopback(&b, "192.0.2.99");
	CHECK(!throttle_allows(&c, (struct sockaddr *)&b));
	CHECK(throttle_allows(&c, (struct sockaddr *)&far));
	/* IPv6 by /64 */
	memset(&s6a, 0, sizeof(s6a));
	s6a.sin6_family = AF_INET6;
	s6b = s6c = s6a;
	inet_pton(AF_INET6, "2001:db8:1:2::1", &s6a.sin6_addr);
	inet_pton(AF_INET6, "2001:db8:1:2::2", &s6b.sin6_addr);
	inet_pton(AF_INET6, "2001:db8:1:3::1", &s6c.sin6_addr);
	throttle_count((struct sockaddr *)&s6a);
	CHECK(!throttle_allows(&c, (struct sockaddr *)&s6a));
	CHECK(throttle_allows(&c, (struct sockaddr *)&s6b));
	throttle_count((struct sockaddr *)&s6b);
	inet_pton(AF_INET6, "2001:db8:1:2::3", &s6b.sin6_addr);
	CHECK(!throttle_allows(&c, (struct sockaddr *)&s6b));
	CHECK(throttle_allows(&c, (struct sockaddr *)&s6c));
	/* a registration that failed does not count */
	throttle_uncount((struct sockaddr *)&a);
	CHECK(throttle_allows(&c, (struct sockaddr *)&a));
	throttle_count((struct sockaddr *)&a);
	CHECK(!throttle_allows(&c, (struct sockaddr *)&a));
	/* off */
	c.throttle_ip = c.throttle_subnet = 0;
	CHECK(throttle_allows(&c, (struct sockaddr *)&a));
	throttle_clear();
}
