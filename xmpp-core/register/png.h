/*
 * png — the smallest PNG encoder that every viewer accepts: 8-bit
 * greyscale, no interlace, the image data in stored (uncompressed)
 * deflate blocks inside a zlib stream (RFC 1950/1951 §3.2.4), so no
 * compression library is needed.  Captchas are a few kilobytes either
 * way.  CRC-32 (PNG chunks) and Adler-32 (zlib) are here too, exported
 * for their unit tests.
 */
#ifndef XMPP_PNG_H
#define XMPP_PNG_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* Appends the PNG of a w x h greyscale image (row-major, 0 black, 255
 * white) to out: 0, or -1 when memory ran out or the size is silly. */
int png_gray(const uint8_t *pix, unsigned w, unsigned h, struct buf *out);

/* The checksums, continued from crc / adler (start with 0 / 1). */
uint32_t png_crc32(uint32_t crc, const void *p, size_t n);
uint32_t png_adler32(uint32_t adler, const void *p, size_t n);

#endif
