/*
 * wsproto — the RFC 6455 codec, without sockets: the opening handshake's
 * accept key (§4.2.2), frame headers in both directions (§5.2), client
 * masking (§5.3), close codes (§7.4) and the UTF-8 check text messages
 * need (§8.1).  wsxmpp.c runs it on a connection; the unit tests feed it
 * the RFC's examples.
 */
#ifndef WEB_WSPROTO_H
#define WEB_WSPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
	WS_CONT = 0x0,
	WS_TEXT = 0x1,
	WS_BINARY = 0x2,
	WS_CLOSE = 0x8,
	WS_PING = 0x9,
	WS_PONG = 0xa,
};

/* Close codes (RFC 6455 §7.4.1) */
#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL	1002
#define WS_CLOSE_UNSUPPORTED	1003
#define WS_CLOSE_BAD_DATA	1007
#define WS_CLOSE_POLICY		1008
#define WS_CLOSE_TOO_BIG	1009

#define WS_KEY_ACCEPT_LEN 28	/* base64 of a SHA-1 */
#define WS_HEADER_MAX 14	/* 2 + 8 (length) + 4 (mask) */

struct ws_frame {
	bool fin;
	uint8_t opcode;
	bool masked;
	uint8_t mask[4];
	uint64_t len;		/* payload bytes */
	size_t hdrlen;		/* bytes of the header */
};

/*
 * A client frame's header at p: 1 parsed, 0 more bytes needed, -1 a
 * violation (*close the code to close with): reserved bits, unknown
 * opcodes, an unmasked frame (§5.1: the server MUST close), a control
 * frame fragmented or over 125 bytes (§5.5), a length over max (1009).
 */
int ws_frame_parse(const uint8_t *p, size_t n, uint64_t max, struct ws_frame *f,
    uint16_t *close);
/* Unmasks (or masks) len bytes that start at payload offset off. */
void ws_unmask(uint8_t *p, size_t len, const uint8_t mask[4], uint64_t off);
/* A server frame's header (unmasked) into out[WS_HEADER_MAX]: its length. */
size_t ws_frame_header(uint8_t *out, uint8_t opcode, bool fin, uint64_t len);
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: 0, or -1 for a key that is
 * not base64 of 16 bytes (§4.2.1). */
int ws_accept_key(const char *key, char out[WS_KEY_ACCEPT_LEN + 1]);
/* A close code a peer may send (§7.4.1-2). */
bool ws_close_code_valid(unsigned code);
/* Well-formed UTF-8 (no overlongs, surrogates or code points past 10FFFF). */
bool ws_utf8_valid(const uint8_t *p, size_t n);

#endif
