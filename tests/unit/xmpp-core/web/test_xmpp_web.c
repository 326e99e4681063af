/* Unit tests for xmpp-core/web/: the RFC 6455 codec (wsproto.c, with the
 * RFC's own examples), cutting XML at top-level elements (xmlsplit.c),
 * client addresses through proxies (proxy.c) and form bodies
 * (urlform.c). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "t.h"
#include "addr.h"
#include "proxy.h"
#include "urlform.h"
#include "wsproto.h"
#include "xmlsplit.h"

TEST(xmpp_web_ws_accept_key)
{
	char acc[WS_KEY_ACCEPT_LEN + 1];

	/* RFC 6455 §1.3 */
	CHECK_INT(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", acc), 0);
	CHECK_STR(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	CHECK_INT(ws_accept_key("short", acc), -1);
	CHECK_INT(ws_accept_key("dGhlIHNhbXBsZSBub25jZSE=", acc), -1);	/* 17 bytes */
	CHECK_INT(ws_accept_key("!!!!!!!!!!!!!!!!!!!!!!==", acc), -1);
}

TEST(xmpp_web_ws_frames)
{
	/* RFC 6455 §5.7: a masked "Hello" */
	uint8_t hello[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	uint8_t unmasked[] = { 0x81, 0x05, 'H', 'e', 'l', 'l', 'o' };
	uint8_t h[WS_HEADER_MAX], big[14] = { 0x82, 0xff, 0, 0, 0, 0, 0x01, 0, 0, 0 };
	struct ws_frame f;
	uint16_t code;

	for (size_t n = 0; n < 6; n++)
		CHECK_INT(ws_frame_parse(hello, n, 100, &f, &code), 0);
	CHECK_INT(ws_frame_parse(hello, sizeof(hello), 100, &f, &code), 1);
	CHECK(f.fin && f.opcode == WS_TEXT && f.masked && f.len == 5 && f.hdrlen == 6);
	ws_unmask(hello + 6, 5, f.mask, 0);
	CHECK_MEM(hello + 6, "Hello", 5);
	CHECK_INT(ws_frame_parse(unmasked, sizeof(unmasked), 100, &f, &code), -1);
	CHECK_INT(code, WS_CLOSE_PROTOCOL);
	/* a length over the limit is refused from the header alone */
	CHECK_INT(ws_frame_parse(big, sizeof(big), 65536, &f, &code), -1);
	CHECK_INT(code, WS_CLOSE_TOO_BIG);
	big[1] = 0xfe;
	big[2] = 0x00;
	big[3] = 0x7d;	/* 125 in the 16-bit form: not minimal */
	CHECK_INT(ws_frame_parse(big, 8, 65536, &f, &code), -1);
	big[2] = 0x01;
	CHECK_INT(ws_frame_parse(big, 8, 65536, &f, &code), 1);
	CHECK_INT(f.len, 0x17d);
	/* control frames: not fragmented, at most 125 bytes */
	{
		uint8_t p1[] = { 0x09, 0x80, 1, 2, 3, 4 }, p2[] = { 0x89, 0xfe, 0, 126, 1, 2, 3, 4 };
		uint8_t rsv[] = { 0xc1, 0x80, 1, 2, 3, 4 }, op3[] = { 0x83, 0x80, 1, 2, 3, 4 };

		CHECK_INT(ws_frame_parse(p1, sizeof(p1), 100, &f, &code), -1);
		CHECK_INT(ws_frame_parse(p2, sizeof(p2), 1000, &f, &code), -1);
		CHECK_INT(ws_frame_parse(rsv, sizeof(rsv), 100, &f, &code), -1);
		CHECK_INT(ws_frame_parse(op3, sizeof(op3), 100, &f, &code), -1);
		p1[0] = 0x89;
		CHECK_INT(ws_frame_parse(p1, sizeof(p1), 100, &f, &code), 1);
		CHECK(f.opcode == WS_PING && f.len == 0);
	}
	CHECK_INT(ws_frame_header(h, WS_TEXT, true, 5), 2);
	CHECK(h[0] == 0x81 && h[1] == 5);
	CHECK_INT(ws_frame_header(h, WS_TEXT, true, 256), 4);
	CHECK(h[1] == 126 && h[2] == 1 && h[3] == 0);
	CHECK_INT(ws_frame_header(h, WS_CLOSE, true, 70000), 10);
	CHECK(h[0] == 0x88 && h[1] == 127 && h[7] == 0x01 && h[8] == 0x11 && h[9] == 0x70);
}

TEST(xmpp_web_ws_utf8_and_codes)
{
	CHECK(ws_utf8_valid((const uint8_t *)"plain <ascii/>", 14));
	CHECK(ws_utf8_valid((const uint8_t *)"\xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80", 9));
	CHECK(!ws_utf8_valid((const uint8_t *)"\xc3\x28", 2));
	CHECK(!ws_utf8_valid((const uint8_t *)"\xc0\xaf", 2));		/* overlong */
	CHECK(!ws_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));	/* surrogate */
	CHECK(!ws_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4));	/* > 10FFFF */
	CHECK(!ws_utf8_valid((const uint8_t *)"\xe2\x82", 2));		/* cut */
	CHECK(ws_close_code_valid(1000) && ws_close_code_valid(1011) && ws_close_code_valid(4000));
	CHECK(!ws_close_code_valid(1005) && !ws_close_code_valid(1006) &&
	    !ws_close_code_valid(999) && !ws_close_code_valid(5000) && !ws_close_code_valid(1015));
}

static int
unit(const char *s, bool st, struct xml_unit *u)
{
	return xml_unit_next(s, strlen(s), st, u);
}

static bool
first_attr(void *arg, const char *name, size_t nlen, const char *val, size_t vlen)
{
	char *out = arg;

	snprintf(out, 64, "%.*s=%.*s", (int)nlen, name, (int)vlen, val);
	return false;
}

TEST(xmpp_web_xmlsplit)
{
	struct xml_unit u;
	char a[64];
	const char *hdr = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
	    "id='x>y' version='1.0'><stream:features/>";

	CHECK_INT(unit(hdr, true, &u), 1);
	CHECK_INT(u.kind, XU_PI);
	CHECK_INT(unit(hdr + u.len, true, &u), 1);
	CHECK_INT(u.kind, XU_START);
	CHECK(u.has_xmlns && u.namelen == 13);
	xml_unit_attrs(hdr + 21, &u, first_attr, a);
	CHECK_STR(a, "xmlns=jabber:client");
	CHECK_INT(unit("<message to='a'><body>x &lt; y</body><x/></message><iq/>", false, &u), 1);
	CHECK_INT(u.kind, XU_ELEMENT);
	CHECK_INT(u.len, 51);
	CHECK(!u.has_xmlns && !u.empty);
	CHECK_INT(unit("<iq xmlns:x='y' a=\"'>'\"/>", false, &u), 1);
	CHECK(u.empty && !u.has_xmlns && u.len == 25);
	CHECK_INT(unit("<a><![CDATA[</a>]]><!-- </a> --></a>", false, &u), 1);
	CHECK_INT(u.len, 36);
	CHECK_INT(unit("</stream:stream>", true, &u), 1);
	CHECK(u.kind == XU_END && u.namelen == 13);
	CHECK_INT(unit("  \n<a/>", false, &u), 1);
	CHECK(u.kind == XU_SPACE && u.len == 3);
	/* incomplete, and what cannot be cut */
	CHECK_INT(unit("<message><body>half", false, &u), 0);
	CHECK_INT(unit("<message to='a", false, &u), 0);
	CHECK_INT(unit("<a><b></b>", false, &u), 0);
	CHECK_INT(unit("text", false, &u), -1);
	CHECK_INT(unit("<!-- c --><a/>", false, &u), -1);
	CHECK_INT(unit("<a b=c/>", false, &u), -1);
	CHECK_INT(unit("< a/>", false, &u), -1);
}

static bool
client(const char *peer, const char *xff, const char *fwd, const char *const *trusted,
    size_t nt, const char *want)
{
	struct addr_cidr cidr[8];
	struct sockaddr_storage p, out;
	char txt[64];

	for (size_t i = 0; i < nt; i++)
		if (addr_cidr_parse(trusted[i], &cidr[i]) == -1)
			return false;
	if (proxy_parse_addr(peer, strlen(peer), &p) == -1)
		return false;
	(void)proxy_client_addr((struct sockaddr *)&p, sizeof(p), xff, fwd, cidr, nt, &out);
	proxy_addr_text((struct sockaddr *)&out, txt, sizeof(txt));
	if (strcmp(txt, want) != 0) {
		fprintf(stderr, "  peer %s xff %s fwd %s: got %s, want %s\n", peer,
		    xff ? xff : "-", fwd ? fwd : "-", txt, want);
		return false;
	}
	return true;
}

TEST(xmpp_web_proxy)
{
	const char *const lo[] = { "127.0.0.1", "::1" };
	const char *const chain[] = { "127.0.0.1", "198.51.100.0/24" };
	struct sockaddr_storage ss;

	CHECK_INT(proxy_parse_addr("192.0.2.1", 9, &ss), 0);
	CHECK_INT(proxy_parse_addr(" 192.0.2.1:8080 ", 16, &ss), 0);
	CHECK_INT(proxy_parse_addr("\"[2001:db8::1]:443\"", 19, &ss), 0);
	CHECK_INT(ss.ss_family, AF_INET6);
	CHECK_INT(proxy_parse_addr("2001:db8::1", 11, &ss), 0);
	CHECK_INT(proxy_parse_addr("unknown", 7, &ss), -1);
	CHECK_INT(proxy_parse_addr("_hidden", 7, &ss), -1);
	CHECK_INT(proxy_parse_addr("192.0.2.1:x", 11, &ss), -1);
	CHECK_INT(proxy_parse_addr("[2001:db8::1]x", 14, &ss), -1);
	/* untrusted peer: headers ignored */
	CHECK(client("203.0.113.5", "192.0.2.9", NULL, lo, 2, "203.0.113.5"));
	{
		struct addr_cidr c[2];
		struct sockaddr_storage p, out;

		addr_cidr_parse("127.0.0.1", &c[0]);
		proxy_parse_addr("203.0.113.5", 11, &p);
		CHECK(!proxy_client_addr((struct sockaddr *)&p, sizeof(p), "192.0.2.9", NULL,
		    c, 1, &out));
		CHECK_MEM(&out, &p, sizeof(struct sockaddr_in));
	}
	/* the last hop's entry is the client; what the client wrote is left of it */
	CHECK(client("127.0.0.1", "192.0.2.66, 203.0.113.7", NULL, lo, 2, "203.0.113.7"));
	CHECK(client("127.0.0.1", "203.0.113.7:5555", NULL, lo, 2, "203.0.113.7"));
	/* a chain of trusted proxies is walked */
	CHECK(client("127.0.0.1", "192.0.2.66, 203.0.113.7, 198.51.100.4", NULL, chain, 2,
	    "203.0.113.7"));
	/* all trusted: the leftmost */
	CHECK(client("127.0.0.1", "198.51.100.8, 198.51.100.4", NULL, chain, 2, "198.51.100.8"));
	/* an unreadable hop: the last one known */
	CHECK(client("127.0.0.1", "203.0.113.7, unknown, 198.51.100.4", NULL, chain, 2,
	    "198.51.100.4"));
	CHECK(client("127.0.0.1", "unknown", NULL, lo, 2, "127.0.0.1"));
	/* Forwarded (RFC 7239 §4) wins over X-Forwarded-For */
	CHECK(client("::1", "192.0.2.1", "for=192.0.2.43, for=\"[2001:db8:cafe::17]:4711\";"
	    "proto=https;by=203.0.113.43", lo, 2, "2001:db8:cafe::17"));
	CHECK(client("::1", NULL, "proto=https;For=198.51.100.17", lo, 2, "198.51.100.17"));
	/* IPv4-mapped IPv6 reads as IPv4 */
	CHECK(client("::ffff:127.0.0.1", "203.0.113.9", NULL, lo, 2, "203.0.113.9"));
}

static int
form(const char *body, struct urlform_field *f, size_t n)
{
	const char *why = NULL;
	int rc = urlform_parse(body, strlen(body), f, n, &why);

	return rc == -1 && why == NULL ? -2 : rc;	/* a failure says why */
}

TEST(xmpp_web_urlform)
{
	struct urlform_field f[] = { { "user", 8, NULL }, { "pw", 16, NULL } };

	CHECK_INT(form("user=al+ice&pw=a%26b%3D%C3%A9&submit=go", f, 2), 0);
	CHECK_STR(f[0].value, "al ice");
	CHECK_STR(f[1].value, "a&b=\xc3\xa9");
	CHECK_STR(urlform_get(f, 2, "pw"), "a&b=\xc3\xa9");
	urlform_free(f, 2);
	CHECK(f[0].value == NULL && f[1].value == NULL);
	/* absent fields stay NULL; an empty pair and a name alone are fine */
	CHECK_INT(form("&&user&x=1", f, 2), 0);
	CHECK_STR(f[0].value, "");
	CHECK(f[1].value == NULL);
	urlform_free(f, 2);
	CHECK_INT(form("", f, 2), 0);
	/* the bound is on the decoded bytes */
	CHECK_INT(form("user=%41%41%41%41%41%41%41%41", f, 2), 0);
	urlform_free(f, 2);
	CHECK_INT(form("user=123456789", f, 2), -1);
	CHECK(f[0].value == NULL);
	/* twice, bad escapes, NUL, invalid UTF-8 */
	CHECK_INT(form("user=a&user=b", f, 2), -1);
	CHECK_INT(form("user=%4", f, 2), -1);
	CHECK_INT(form("user=%zz", f, 2), -1);
	CHECK_INT(form("user=a%00b", f, 2), -1);
	CHECK_INT(form("user=%C3%28", f, 2), -1);
	CHECK_INT(form("us%er=a", f, 2), -1);
	/* a field nobody asked for is skipped, however long */
	CHECK_INT(form("other=0123456789012345678901234567890123456789&pw=x", f, 2), 0);
	CHECK_STR(f[1].value, "x");
	urlform_free(f, 2);
}
