/*
 * png — greyscale PNG in stored deflate blocks.  See png.h.
 *
 * Layout (PNG spec §5, §11): the 8-byte signature, IHDR, one IDAT holding
 * the whole zlib stream, IEND.  Every scanline starts with filter type 0
 * (None).  The zlib stream is the 2-byte header 0x78 0x01 (deflate, 32K
 * window, FCHECK making it a multiple of 31), stored blocks of at most
 * 65535 bytes (BFINAL, BTYPE 00, LEN and its complement NLEN, both
 * little-endian), then the Adler-32 of the raw data, big-endian.
 */
#include "png.h"

#include "buf.h"

#define PNG_MAX_SIDE	4096	/* captchas are far smaller */
#define STORED_MAX	65535u

static uint32_t crc_table[256];

static void
crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
}

uint32_t
png_crc32(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *s = p;

	if (crc_table[1] == 0)
		crc_init();
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *s++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

uint32_t
png_adler32(uint32_t adler, const void *p, size_t n)
{
	const uint8_t *s = p;
	uint32_t a = adler & 0xffff, b = adler >> 16;

	/* 5552 bytes is the most before b can overflow 32 bits (zlib) */
	while (n > 0) {
		size_t k = n < 5552 ? n : 5552;

		n -= k;
		while (k--) {
			a += *s++;
			b += a;
		}
		a %= 65521;
		b %= 65521;
	}
	return b << 16 | a;
}

static void
be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* A chunk: length, type, data, CRC over type and data. */
static int
chunk(struct buf *out, const char *type, const uint8_t *data, size_t n)
{
	uint8_t hdr[8], crc[4];
	uint32_t c;

	be32(hdr, (uint32_t)n);
	memcpy(hdr + 4, type, 4);
	c = png_crc32(0, type, 4);
	c = png_crc32(c, data, n);
	be32(crc, c);
	if (buf_append(out, hdr, 8) == -1 ||
	    (n && buf_append(out, data, n) == -1) ||
	    buf_append(out, crc, 4) == -1)
		return -1;
	return 0;
}

/* The zlib stream of the filtered scanlines into z. */
static int
zlib_stored(const uint8_t *pix, unsigned w, unsigned h, struct buf *z)
{
	size_t raw = (size_t)h * (w + 1), left = raw, row = 0, col = 0;
	uint32_t adler = 1;
	uint8_t tail[4];
	static const uint8_t zhdr[2] = { 0x78, 0x01 };
	static const uint8_t filter = 0;

	if (buf_reserve(z, 2 + raw + 5 * (raw / STORED_MAX + 1) + 4) == -1 ||
	    buf_append(z, zhdr, 2) == -1)
		return -1;
	/* blocks cut the scanlines anywhere: deflate blocks do not care */
	while (left > 0) {
		unsigned len = left > STORED_MAX ? STORED_MAX : (unsigned)left;
		uint8_t bh[5] = { left == len ? 1 : 0, len & 0xff, len >> 8,
		    ~len & 0xff, (~len >> 8) & 0xff };

		if (buf_append(z, bh, 5) == -1)
			return -1;
		left -= len;
		while (len > 0) {
			if (col == 0) {
				if (buf_append(z, &filter, 1) == -1)
					return -1;
				adler = png_adler32(adler, &filter, 1);
				len--;
				col = 1;
				continue;
			}
			size_t k = w - (col - 1);

			if (k > len)
				k = len;
			const uint8_t *src = pix + row * w + (col - 1);

			if (buf_append(z, src, k) == -1)
				return -1;
			adler = png_adler32(adler, src, k);
			len -= k;
			col += k;
			if (col == w + 1) {
				col = 0;
				row++;
			}
		}
	}
	be32(tail, adler);
	return buf_append(z, tail, 4);
}

int
png_gray(const uint8_t *pix, unsigned w, unsigned h, struct buf *out)
{
	static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	uint8_t ihdr[13];
	struct buf z;
	int rc = -1;

	if (w == 0 || h == 0 || w > PNG_MAX_SIDE || h > PNG_MAX_SIDE)
		return -1;
	buf_init(&z);
	be32(ihdr, w);
	be32(ihdr + 4, h);
	ihdr[8] = 8;		/* bit depth */
	ihdr[9] = 0;		/* colour type: greyscale */
	ihdr[10] = 0;		/* compression: deflate */
	ihdr[11] = 0;		/* filter method 0 */
	ihdr[12] = 0;		/* no interlace */
	if (zlib_stored(pix, w, h, &z) == -1)
		goto out;
	if (buf_append(out, sig, 8) == -1 ||
	    chunk(out, "IHDR", ihdr, sizeof(ihdr)) == -1 ||
	    chunk(out, "IDAT", (const uint8_t *)z.p, z.len) == -1 ||
	    chunk(out, "IEND", NULL, 0) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&z);
	return rc;
}
