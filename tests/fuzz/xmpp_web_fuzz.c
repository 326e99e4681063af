/*
 * libFuzzer target: the network parsers of xmpp-core/web/.  The first
 * byte picks one: RFC 6455 client frames (wsproto.c: headers, unmasking,
 * close codes, UTF-8) read one after the other as wsxmpp.c reads them;
 * XML text cut at top-level elements (xmlsplit.c) with every start tag's
 * attributes walked; or X-Forwarded-For / Forwarded values (proxy.c,
 * the rest of the input split at the first newline) from a trusted peer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "proxy.h"
#include "wsproto.h"
#include "xmlsplit.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void
frames(uint8_t *p, size_t n)
{
	struct ws_frame f;
	uint16_t code;

	while (n > 0) {
		if (ws_frame_parse(p, n, 65536, &f, &code) != 1)
			return;
		if (n - f.hdrlen < f.len)
			return;
		ws_unmask(p + f.hdrlen, (size_t)f.len, f.mask, 0);
		(void)ws_utf8_valid(p + f.hdrlen, (size_t)f.len);
		if (f.opcode == WS_CLOSE && f.len >= 2)
			(void)ws_close_code_valid((unsigned)(p[f.hdrlen] << 8 | p[f.hdrlen + 1]));
		p += f.hdrlen + f.len;
		n -= f.hdrlen + (size_t)f.len;
	}
}

static bool
attr(void *arg, const char *name, size_t nlen, const char *val, size_t vlen)
{
	size_t *sum = arg;

	*sum += nlen + vlen + (size_t)(name[0] == val[0]);
	return true;
}

static void
split(const char *p, size_t n, bool stream_tag)
{
	struct xml_unit u;
	size_t sum = 0;

	while (n > 0 && xml_unit_next(p, n, stream_tag, &u) == 1) {
		if (u.len == 0 || u.len > n)
			abort();	/* a unit is never empty nor past the input */
		if (u.kind == XU_ELEMENT || u.kind == XU_START) {
			if (u.stag_end >= u.len || u.name + u.namelen > u.stag_end)
				abort();
			xml_unit_attrs(p, &u, attr, &sum);
		}
		p += u.len;
		n -= u.len;
	}
}

static void
proxies(const char *p, size_t n)
{
	static const char *const nets[] = { "127.0.0.1", "198.51.100.0/24", "2001:db8::/32" };
	struct addr_cidr c[3];
	struct sockaddr_storage peer, out;
	char *buf = malloc(n + 1), *nl, txt[64];

	if (buf == NULL)
		return;
	memcpy(buf, p, n);
	buf[n] = '\0';
	for (int i = 0; i < 3; i++)
		addr_cidr_parse(nets[i], &c[i]);
	(void)proxy_parse_addr("127.0.0.1", 9, &peer);
	nl = strchr(buf, '\n');
	if (nl)
		*nl++ = '\0';
	(void)proxy_client_addr((struct sockaddr *)&peer, sizeof(peer), buf, nl, c, 3, &out);
	proxy_addr_text((struct sockaddr *)&out, txt, sizeof(txt));
	(void)proxy_parse_addr(buf, strlen(buf), &out);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	uint8_t *copy;

	if (size < 1)
		return 0;
	if ((copy = malloc(size)) == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	switch (data[0] % 4) {
	case 0:
		frames(copy, size - 1);
		break;
	case 1:
	case 2:
		split((const char *)copy, size - 1, data[0] % 4 == 2);
		break;
	default:
		proxies((const char *)copy, size - 1);
		break;
	}
	free(copy);
	return 0;
}
