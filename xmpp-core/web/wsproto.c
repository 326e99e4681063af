/*
 * wsproto — RFC 6455 framing.  See wsproto.h.
 */
#include "wsproto.h"

#include <string.h>

#include <openssl/evp.h>

#include "crypto.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"	/* §1.3 */

int
ws_frame_parse(const uint8_t *p, size_t n, uint64_t max, struct ws_frame *f,
    uint16_t *close)
{
	size_t need = 2;
	uint64_t len;

	if (n < 2)
		return 0;
	f->fin = p[0] & 0x80;
	f->opcode = p[0] & 0x0f;
	f->masked = p[1] & 0x80;
	*close = WS_CLOSE_PROTOCOL;
	if (p[0] & 0x70)
		return -1;	/* no extension was negotiated (§5.2) */
	switch (f->opcode) {
	case WS_CONT: case WS_TEXT: case WS_BINARY:
		break;
	case WS_CLOSE: case WS_PING: case WS_PONG:
		if (!f->fin || (p[1] & 0x7f) > 125)
			return -1;	/* §5.5 */
		break;
	default:
		return -1;
	}
	if (!f->masked)
		return -1;	/* §5.1 */
	len = p[1] & 0x7f;
	if (len == 126)
		need += 2;
	else if (len == 127)
		need += 8;
	need += 4;
	if (n < need)
		return 0;
	if (len == 126) {
		len = (uint64_t)p[2] << 8 | p[3];
		if (len < 126)
			return -1;	/* §5.2: the minimal number of bytes */
	} else if (len == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | p[2 + i];
		if (len >> 63 || len <= 0xffff)
			return -1;
	}
	if (len > max) {
		*close = WS_CLOSE_TOO_BIG;
		return -1;
	}
	memcpy(f->mask, p + need - 4, 4);
	f->len = len;
	f->hdrlen = need;
	return 1;
}

void
ws_unmask(uint8_t *p, size_t len, const uint8_t mask[4], uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		p[i] ^= mask[(off + i) & 3];
}

size_t
ws_frame_header(uint8_t *out, uint8_t opcode, bool fin, uint64_t len)
{
	size_t n = 2;

	out[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
	if (len < 126) {
		out[1] = (uint8_t)len;
	} else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		n = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	return n;
}

int
ws_accept_key(const char *key, char out[WS_KEY_ACCEPT_LEN + 1])
{
	uint8_t raw[32], md[EVP_MAX_MD_SIZE];
	char cat[64 + sizeof(WS_GUID)];
	size_t klen = strlen(key);
	unsigned mdlen = 0;

	if (klen != 24 || base64_decode(key, klen, raw, sizeof(raw)) != 16)
		return -1;
	memcpy(cat, key, klen);
	memcpy(cat + klen, WS_GUID, sizeof(WS_GUID) - 1);
	if (EVP_Digest(cat, klen + sizeof(WS_GUID) - 1, md, &mdlen, EVP_sha1(),
	    NULL) != 1 || mdlen != 20)
		return -1;
	base64_encode(md, mdlen, out);
	out[WS_KEY_ACCEPT_LEN] = '\0';
	return 0;
}

bool
ws_close_code_valid(unsigned code)
{
	/* 1004-1006 and 1015 are never sent (§7.4.1); 1012-1014 are the
	 * IANA registry's later additions */
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	    (code >= 3000 && code <= 4999);
}

bool
ws_utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t b = p[i];
		uint32_t cp;
		size_t k;

		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			k = 1;
			cp = b & 0x1f;
		} else if (b >= 0xe0 && b <= 0xef) {
			k = 2;
			cp = b & 0x0f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			k = 3;
			cp = b & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += k + 1;
	}
	return true;
}
