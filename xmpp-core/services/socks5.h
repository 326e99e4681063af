/*
 * socks5 — the part of SOCKS5 (RFC 1928) a XEP-0065 proxy speaks: the
 * method greeting (only "no authentication", XEP-0065 §5.3.2 leaves
 * authentication out of scope) and a CONNECT request whose address is a
 * domain name (ATYP 3) of 40 hex digits, SHA1(SID + initiator JID +
 * target JID).  Pure codec, no I/O, so unit tests and the fuzzer can
 * drive it byte by byte.
 */
#ifndef XMPP_SOCKS5_H
#define XMPP_SOCKS5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S5_VERSION 5
#define S5_METHOD_NONE 0x00
#define S5_METHOD_UNACCEPTABLE 0xFF
#define S5_CMD_CONNECT 1
#define S5_ATYP_IPV4 1
#define S5_ATYP_DOMAIN 3
#define S5_ATYP_IPV6 4

/* Reply codes (RFC 1928 §6). */
#define S5_REP_SUCCEEDED 0x00
#define S5_REP_FAILURE 0x01		/* general SOCKS server failure */
#define S5_REP_NOT_ALLOWED 0x02		/* connection not allowed by ruleset */
#define S5_REP_HOST_UNREACHABLE 0x04
#define S5_REP_COMMAND 0x07		/* command not supported */
#define S5_REP_ADDRESS_TYPE 0x08	/* address type not supported */

#define S5_HASH_LEN 40
#define S5_GREETING_MAX (2 + 255)
#define S5_REQUEST_MAX (4 + 1 + 255 + 2)
#define S5_REPLY_MAX S5_REQUEST_MAX

/*
 * VER NMETHODS METHODS...: bytes consumed (> 0), 0 when more are needed,
 * -1 when this is not SOCKS5 (no reply makes sense).  *noauth: method 0
 * was offered.
 */
long s5_greeting(const uint8_t *p, size_t n, bool *noauth);

struct s5_request {
	uint8_t rep;		/* S5_REP_SUCCEEDED, or the error to answer */
	uint8_t cmd, atyp;
	uint8_t addrlen;	/* raw address as sent (echoed in the reply) */
	uint8_t addr[255];
	uint16_t port;
	char hash[S5_HASH_LEN + 1];	/* lower-case; valid when rep == 0 */
};

/*
 * VER CMD RSV ATYP DST.ADDR DST.PORT: bytes consumed (> 0), 0 when more
 * are needed, -1 when not SOCKS5.  r->rep tells whether the request is
 * one we serve; for an unknown ATYP only the 4-byte header is consumed.
 */
long s5_request(const uint8_t *p, size_t n, struct s5_request *r);

/*
 * The reply to r with code rep: BND.ADDR/BND.PORT echo the request
 * (XEP-0065 §5.3.2), or 0.0.0.0:0 for an address type we cannot echo.
 * out holds S5_REPLY_MAX bytes; returns the length.
 */
size_t s5_reply(const struct s5_request *r, uint8_t rep, uint8_t *out);

#endif
