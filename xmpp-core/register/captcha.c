/*
 * captcha — challenges, their pictures and answers.  See captcha.h.
 *
 * Drawing (captcha_draw): letters of a 5x7 bitmap font with round
 * strokes, each one scaled, rotated and shifted on its own and set
 * close enough to touch its neighbours (OCR segments glyphs first); the
 * whole picture warped by two sine waves; a blotchy background, curves
 * as dark as the letters crossing them, and salt-and-pepper noise.  The
 * tesseract test (tests/integration/test_xmpp_register_ocr.py) measures
 * what that costs OCR.
 *
 * Pending challenges live in one bounded table (CAPTCHA_MAX): a
 * registration rate is small, and a table full of one address's
 * challenges cannot happen as each address gets per_minute of them.
 */
#include "captcha.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <ctype.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "buf.h"
#include "crypto.h"
#include "png.h"

#define CAPTCHA_MAX	4096	/* ~0.6 MB; full: resource-constraint */
#define RATE_WINDOW_MS	60000

struct challenge {
	char id[CAPTCHA_ID_LEN + 1];
	char cid[CAPTCHA_CID_LEN + 1];
	uint8_t who[16];	/* IPv4, or the /64 of IPv6 */
	uint64_t created, expires;
	unsigned question;
	bool picture, used;
};

static struct challenge table[CAPTCHA_MAX];
static size_t ntable;
static uint8_t key[CAPTCHA_KEY_LEN];
static bool have_key;

/* ---- the font ---- */

/* 5x7, rows top down, bit 4 the leftmost column; the order of
 * CAPTCHA_ALPHABET (no 0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B: letters a human
 * confuses under distortion) */
static const uint8_t font[][7] = {
	{ 0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11 },	/* A */
	{ 0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e },	/* C */
	{ 0x1e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1e },	/* D */
	{ 0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f },	/* E */
	{ 0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10 },	/* F */
	{ 0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11 },	/* H */
	{ 0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c },	/* J */
	{ 0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11 },	/* K */
	{ 0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11 },	/* M */
	{ 0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11 },	/* N */
	{ 0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10 },	/* P */
	{ 0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11 },	/* R */
	{ 0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04 },	/* T */
	{ 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e },	/* U */
	{ 0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04 },	/* V */
	{ 0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a },	/* W */
	{ 0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11 },	/* X */
	{ 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04 },	/* Y */
	{ 0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e },	/* 3 */
	{ 0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02 },	/* 4 */
	{ 0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08 },	/* 7 */
	{ 0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c },	/* 9 */
};

_Static_assert(sizeof(font) / sizeof(font[0]) == sizeof(CAPTCHA_ALPHABET) - 1,
    "one glyph per letter of the alphabet");

static bool
font_bit(int g, int col, int row)
{
	if (col < 0 || col > 4 || row < 0 || row > 6)
		return false;
	return font[g][row] >> (4 - col) & 1;
}

static float
seg_dist(float u, float v, float ax, float ay, float bx, float by)
{
	float dx = bx - ax, dy = by - ay, t;

	t = ((u - ax) * dx + (v - ay) * dy) / (dx * dx + dy * dy);
	t = t < 0 ? 0 : t > 1 ? 1 : t;
	dx = u - (ax + t * dx);
	dy = v - (ay + t * dy);
	return sqrtf(dx * dx + dy * dy);
}

/* Ink of glyph g at font coordinates (u, v): strokes of half-width
 * ~0.45 cell along the segments joining neighbouring lit cells (a
 * diagonal only where no orthogonal neighbour joins them), soft at the
 * rim, so letters look drawn rather than dotted. */
static float
glyph_ink(int g, float u, float v)
{
	int cu = (int)floorf(u), cv = (int)floorf(v);
	float best = 9;

	for (int r = cv - 2; r <= cv + 1; r++)
		for (int c = cu - 2; c <= cu + 1; c++) {
			if (!font_bit(g, c, r))
				continue;
			float x = c + 0.5f, y = r + 0.5f, d;
			bool rt = font_bit(g, c + 1, r), dn = font_bit(g, c, r + 1);

			d = seg_dist(u, v, x, y, x, y + 0.001f);
			if (rt)
				d = fminf(d, seg_dist(u, v, x, y, x + 1, y));
			if (dn)
				d = fminf(d, seg_dist(u, v, x, y, x, y + 1));
			if (font_bit(g, c + 1, r + 1) && !rt && !dn)
				d = fminf(d, seg_dist(u, v, x, y, x + 1, y + 1));
			if (font_bit(g, c - 1, r + 1) && !font_bit(g, c - 1, r) && !dn)
				d = fminf(d, seg_dist(u, v, x, y, x - 1, y + 1));
			best = fminf(best, d);
		}
	if (best <= 0.42f)
		return 1;
	if (best >= 0.6f)
		return 0;
	return (0.6f - best) / 0.18f;
}

/* ---- a deterministic generator for the distortions ---- */

struct rng {
	uint64_t s;
};

static uint64_t
rng_next(struct rng *r)		/* splitmix64 */
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* uniform in [lo, hi) */
static float
rng_f(struct rng *r, float lo, float hi)
{
	return lo + (hi - lo) * (float)(rng_next(r) >> 40) / (float)(1 << 24);
}

/* ---- drawing ---- */

struct glyph {
	int g;
	float cx, cy, scale_x, scale_y, cos_a, sin_a, shear;
	float ink;	/* its grey */
};

#define GRID_X 13
#define GRID_Y 6

void
captcha_draw(const char *text, const uint8_t seed[32], bool plain, uint8_t *pix)
{
	struct rng r;
	struct glyph gl[CAPTCHA_TEXT_LEN];
	float grid[GRID_Y][GRID_X];
	float a1, f1, p1, a2, f2, p2;
	struct { float y0, slope, amp, f, p, w; } ln[3];
	size_t n = strlen(text);
	const float W = CAPTCHA_W, H = CAPTCHA_H;

	memcpy(&r.s, seed, sizeof(r.s));
	if (n > CAPTCHA_TEXT_LEN)
		n = CAPTCHA_TEXT_LEN;
	for (int y = 0; y < GRID_Y; y++)
		for (int x = 0; x < GRID_X; x++)
			grid[y][x] = rng_f(&r, 150, 255);
	a1 = rng_f(&r, 3, 6);
	f1 = rng_f(&r, 0.05f, 0.11f);
	p1 = rng_f(&r, 0, 6.283f);
	a2 = rng_f(&r, 3, 7);
	f2 = rng_f(&r, 0.02f, 0.06f);
	p2 = rng_f(&r, 0, 6.283f);
	float pitch = (W - 36) / (float)(n ? n : 1), x0 = 18 + pitch / 2;

	for (size_t i = 0; i < n; i++) {
		const char *p = strchr(CAPTCHA_ALPHABET, toupper((unsigned char)text[i]));
		float a = rng_f(&r, -0.4f, 0.4f), s = rng_f(&r, 5.2f, 6.8f);

		gl[i].g = p && *p ? (int)(p - CAPTCHA_ALPHABET) : 0;
		gl[i].cx = x0 + pitch * (float)i + rng_f(&r, -4, 4);
		gl[i].cy = H / 2 + rng_f(&r, -9, 9);
		gl[i].scale_x = s * rng_f(&r, 0.8f, 1.15f);
		gl[i].scale_y = s * rng_f(&r, 0.85f, 1.2f);
		gl[i].cos_a = cosf(a);
		gl[i].sin_a = sinf(a);
		gl[i].shear = rng_f(&r, -0.35f, 0.35f);
		gl[i].ink = rng_f(&r, 10, 80);
		if (plain) {
			gl[i].cx = x0 + pitch * (float)i;
			gl[i].cy = H / 2;
			gl[i].scale_x = gl[i].scale_y = 5.5f;
			gl[i].cos_a = 1;
			gl[i].sin_a = gl[i].shear = gl[i].ink = 0;
		}
	}
	if (plain) {
		a1 = a2 = 0;
		for (int y = 0; y < GRID_Y; y++)
			for (int x = 0; x < GRID_X; x++)
				grid[y][x] = 255;
	}
	for (size_t i = 0; i < sizeof(ln) / sizeof(ln[0]); i++) {
		ln[i].y0 = rng_f(&r, H * 0.2f, H * 0.8f);
		ln[i].slope = rng_f(&r, -0.25f, 0.25f);
		ln[i].amp = rng_f(&r, 2, 12);
		ln[i].f = rng_f(&r, 0.02f, 0.09f);
		ln[i].p = rng_f(&r, 0, 6.283f);
		ln[i].w = i == 0 ? rng_f(&r, 1.6f, 2.4f) : rng_f(&r, 0.7f, 1.2f);
	}
	for (int y = 0; y < CAPTCHA_H; y++) {
		for (int x = 0; x < CAPTCHA_W; x++) {
			/* background: bilinear over the coarse grid */
			float gx = (float)x / W * (GRID_X - 1), gy = (float)y / H * (GRID_Y - 1);
			int ix = (int)gx, iy = (int)gy;
			float fx = gx - ix, fy = gy - iy;
			float bg = (grid[iy][ix] * (1 - fx) + grid[iy][ix + 1] * fx) * (1 - fy) +
			    (grid[iy + 1][ix] * (1 - fx) + grid[iy + 1][ix + 1] * fx) * fy;
			/* the warp, then each glyph's own transform */
			float xw = x + a1 * sinf(y * f1 + p1);
			float yw = y + a2 * sinf(x * f2 + p2);
			float ink = 0, grey = 0;

			for (size_t i = 0; i < n; i++) {
				float dx = xw - gl[i].cx, dy = yw - gl[i].cy;

				if (fabsf(dx) > 40 || fabsf(dy) > 45)
					continue;
				float u = (gl[i].cos_a * dx + gl[i].sin_a * dy) / gl[i].scale_x;
				float v = (-gl[i].sin_a * dx + gl[i].cos_a * dy) / gl[i].scale_y;
				float k = glyph_ink(gl[i].g, u + gl[i].shear * v + 2.5f, v + 3.5f);

				if (k > ink) {
					ink = k;
					grey = gl[i].ink;
				}
			}
			for (size_t i = 0; !plain && i < sizeof(ln) / sizeof(ln[0]); i++) {
				float ly = ln[i].y0 + ln[i].slope * (x - W / 2) +
				    ln[i].amp * sinf(x * ln[i].f + ln[i].p);
				float d = fabsf(yw - ly), k = d < ln[i].w ? 1 :
				    d < ln[i].w + 0.8f ? (ln[i].w + 0.8f - d) / 0.8f : 0;

				if (k > ink) {
					ink = k;
					grey = 40;
				}
			}
			float v = bg * (1 - ink) + grey * ink;
			uint64_t z = rng_next(&r);
			unsigned sp = z & 0xff;

			if (plain)
				sp = 255;
			else
				v += (float)((int)(z >> 8 & 0x3f) - 32);	/* grain */
			if (sp < 10)
				v = 30;		/* pepper */
			else if (sp < 18)
				v = 255;	/* salt */
			pix[y * CAPTCHA_W + x] = v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
		}
	}
}

/* ---- challenges ---- */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
captcha_set_key(const uint8_t k[CAPTCHA_KEY_LEN])
{
	memcpy(key, k, CAPTCHA_KEY_LEN);
	have_key = true;
}

static int
ensure_key(void)
{
	if (have_key)
		return 0;
	if (random_bytes(key, sizeof(key)) == -1)
		return -1;
	have_key = true;
	return 0;
}

static void
derive(const char *label, const char *id, uint8_t out[HMAC_SHA256_LEN])
{
	char msg[16 + CAPTCHA_ID_LEN + 1];
	int n = snprintf(msg, sizeof(msg), "%s:%s", label, id);

	hmac_sha256(key, sizeof(key), msg, (size_t)n, out);
}

void
captcha_text(const char *id, char text[CAPTCHA_TEXT_LEN + 1])
{
	uint8_t h[HMAC_SHA256_LEN];
	const size_t na = sizeof(CAPTCHA_ALPHABET) - 1;

	derive("text", id, h);
	for (int i = 0; i < CAPTCHA_TEXT_LEN; i++)
		text[i] = CAPTCHA_ALPHABET[h[i] % na];
	text[CAPTCHA_TEXT_LEN] = '\0';
	OPENSSL_cleanse(h, sizeof(h));
}

static int
render(const char *id, struct buf *out)
{
	static uint8_t pix[CAPTCHA_W * CAPTCHA_H];
	uint8_t seed[HMAC_SHA256_LEN];
	char text[CAPTCHA_TEXT_LEN + 1];

	captcha_text(id, text);
	derive("draw", id, seed);
	captcha_draw(text, seed, false, pix);
	OPENSSL_cleanse(text, sizeof(text));
	return png_gray(pix, CAPTCHA_W, CAPTCHA_H, out);
}

static void
who_of(const struct sockaddr *sa, uint8_t who[16])
{
	memset(who, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(who, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
			memcpy(who, a + 12, 4);	/* v4-mapped: the IPv4 address */
		} else {
			/* a host has a whole /64 to pick addresses from */
			who[4] = 6;
			memcpy(who + 8, a, 8);
		}
	}
}

/* Drops entries past their expiry and past the rate window. */
static void
purge(uint64_t now)
{
	size_t j = 0;

	for (size_t i = 0; i < ntable; i++) {
		struct challenge *e = &table[i];
		bool keep = now < e->expires || now < e->created + RATE_WINDOW_MS;

		if (keep) {
			if (j != i)
				table[j] = *e;
			j++;
		}
	}
	for (size_t i = j; i < ntable; i++)
		OPENSSL_cleanse(&table[i], sizeof(table[i]));
	ntable = j;
}

static struct challenge *
find(const char *id, uint64_t now)
{
	if (id == NULL || strlen(id) != CAPTCHA_ID_LEN)
		return NULL;
	for (size_t i = 0; i < ntable; i++) {
		struct challenge *e = &table[i];

		if (!e->used && now < e->expires &&
		    CRYPTO_memcmp(e->id, id, CAPTCHA_ID_LEN) == 0)
			return e;
	}
	return NULL;
}

enum captcha_rc
captcha_new(const struct sockaddr *peer, const struct captcha_limits *l,
    char id[CAPTCHA_ID_LEN + 1], char cid[CAPTCHA_CID_LEN + 1], unsigned *question)
{
	uint64_t now = now_ms();
	uint8_t who[16];
	unsigned recent = 0;
	struct challenge *e;

	if (ensure_key() == -1)
		return CAPTCHA_NOMEM;
	purge(now);
	who_of(peer, who);
	for (size_t i = 0; i < ntable; i++)
		if (memcmp(table[i].who, who, 16) == 0 &&
		    now < table[i].created + RATE_WINDOW_MS)
			recent++;
	if (recent >= l->per_minute)
		return CAPTCHA_LIMITED;
	if (ntable == CAPTCHA_MAX)
		return CAPTCHA_FULL;
	e = &table[ntable];
	memset(e, 0, sizeof(*e));
	if (random_hex(e->id, CAPTCHA_ID_LEN / 2) == -1)
		return CAPTCHA_NOMEM;
	memcpy(e->who, who, 16);
	e->created = now;
	e->expires = now + (uint64_t)l->ttl_s * 1000;
	e->picture = !l->question;
	if (l->question) {
		uint32_t rnd;

		if (random_bytes(&rnd, sizeof(rnd)) == -1)
			return CAPTCHA_NOMEM;
		e->question = rnd % (l->nquestions ? l->nquestions : 1);
	} else {
		struct buf png;
		unsigned char md[20];
		char hex[41];

		buf_init(&png);
		if (render(e->id, &png) == -1 ||
		    EVP_Digest(png.p, png.len, md, NULL, EVP_sha1(), NULL) != 1) {
			buf_free(&png);
			return CAPTCHA_NOMEM;
		}
		buf_free(&png);
		/* XEP-0231 §2: cid is algo+hash@bob.xmpp.org */
		snprintf(e->cid, sizeof(e->cid), "sha1+%s@bob.xmpp.org",
		    hex_encode(md, sizeof(md), hex));
	}
	ntable++;
	memcpy(id, e->id, CAPTCHA_ID_LEN + 1);
	if (cid)
		memcpy(cid, e->cid, CAPTCHA_CID_LEN + 1);
	if (question)
		*question = e->question;
	return CAPTCHA_OK;
}

/* The answer without blanks, upper case, at most 32 characters. */
static bool
normalise(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	for (; *in; in++) {
		if (isspace((unsigned char)*in))
			continue;
		if (n + 1 >= cap)
			return false;
		out[n++] = (char)toupper((unsigned char)*in);
	}
	out[n] = '\0';
	return true;
}

enum captcha_rc
captcha_check(const char *id, const char *answer,
    bool (*match)(const char *answer, unsigned question))
{
	uint64_t now = now_ms();
	struct challenge *e = find(id, now);
	char text[CAPTCHA_TEXT_LEN + 1], got[33];
	bool ok;

	if (e == NULL)
		return CAPTCHA_UNKNOWN;
	e->used = true;		/* one answer per challenge, right or wrong */
	if (answer == NULL)
		return CAPTCHA_WRONG;
	if (!e->picture)
		return match && match(answer, e->question) ? CAPTCHA_OK : CAPTCHA_WRONG;
	captcha_text(e->id, text);
	ok = normalise(answer, got, sizeof(got)) && strlen(got) == CAPTCHA_TEXT_LEN &&
	    CRYPTO_memcmp(got, text, CAPTCHA_TEXT_LEN) == 0;
	OPENSSL_cleanse(text, sizeof(text));
	return ok ? CAPTCHA_OK : CAPTCHA_WRONG;
}

int
captcha_png(const char *id, struct buf *out)
{
	struct challenge *e = find(id, now_ms());

	if (e == NULL || !e->picture)
		return -1;
	return render(e->id, out);
}

int
captcha_png_cid(const char *cid, struct buf *out)
{
	uint64_t now = now_ms();

	if (cid == NULL)
		return -1;
	for (size_t i = 0; i < ntable; i++) {
		struct challenge *e = &table[i];

		if (e->picture && !e->used && now < e->expires &&
		    strcmp(e->cid, cid) == 0)
			return render(e->id, out);
	}
	return -1;
}

void
captcha_clear(void)
{
	OPENSSL_cleanse(table, sizeof(table));
	ntable = 0;
}
