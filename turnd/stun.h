/*
 * stun — the STUN message codec (RFC 8489) with the TURN attributes
 * (RFC 8656, RFC 6156) and ChannelData framing.
 *
 * Decoding never copies: a parsed message points into the caller's buffer.
 * Encoding appends attributes to a caller-provided buffer and records an
 * error instead of overflowing it.  Nothing here allocates or logs.
 */
#ifndef TURND_STUN_H
#define TURND_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>

#define STUN_MAGIC		0x2112A442u
#define STUN_HDR_LEN		20
#define STUN_TID_LEN		12
#define STUN_MAX_ATTRS		40
#define STUN_FP_XOR		0x5354554Eu
#define CHANNELDATA_HDR_LEN	4
#define CHANNEL_MIN		0x4000
/*
 * RFC 8656 §12 narrowed channel numbers to 0x4000-0x4FFF; RFC 5766 allowed
 * up to 0x7FFF and deployed clients (coturn's among them) still pick from
 * that range, so it is accepted, as coturn does.
 */
#define CHANNEL_MAX		0x7FFF

/* Methods. */
#define STUN_BINDING		0x001
#define TURN_ALLOCATE		0x003
#define TURN_REFRESH		0x004
#define TURN_SEND		0x006
#define TURN_DATA		0x007
#define TURN_CREATE_PERMISSION	0x008
#define TURN_CHANNEL_BIND	0x009

/* Classes. */
#define STUN_REQUEST		0x000
#define STUN_INDICATION		0x010
#define STUN_SUCCESS		0x100
#define STUN_ERROR		0x110

/* Attributes. */
#define STUN_A_MAPPED_ADDRESS		0x0001
#define STUN_A_USERNAME			0x0006
#define STUN_A_MESSAGE_INTEGRITY	0x0008
#define STUN_A_ERROR_CODE		0x0009
#define STUN_A_UNKNOWN_ATTRIBUTES	0x000A
#define STUN_A_CHANNEL_NUMBER		0x000C
#define STUN_A_LIFETIME			0x000D
#define STUN_A_XOR_PEER_ADDRESS		0x0012
#define STUN_A_DATA			0x0013
#define STUN_A_REALM			0x0014
#define STUN_A_NONCE			0x0015
#define STUN_A_XOR_RELAYED_ADDRESS	0x0016
#define STUN_A_REQUESTED_ADDRESS_FAMILY	0x0017
#define STUN_A_EVEN_PORT		0x0018
#define STUN_A_REQUESTED_TRANSPORT	0x0019
#define STUN_A_DONT_FRAGMENT		0x001A
#define STUN_A_MESSAGE_INTEGRITY_SHA256	0x001C
#define STUN_A_PASSWORD_ALGORITHM	0x001D
#define STUN_A_USERHASH			0x001E
#define STUN_A_XOR_MAPPED_ADDRESS	0x0020
#define STUN_A_RESERVATION_TOKEN	0x0022
#define STUN_A_PRIORITY			0x0024
#define STUN_A_USE_CANDIDATE		0x0025
#define STUN_A_ADDITIONAL_ADDRESS_FAMILY 0x8000
#define STUN_A_ADDRESS_ERROR_CODE	0x8001
#define STUN_A_PASSWORD_ALGORITHMS	0x8002
#define STUN_A_ALTERNATE_DOMAIN		0x8003
#define STUN_A_ICMP			0x8004
#define STUN_A_SOFTWARE			0x8022
#define STUN_A_ALTERNATE_SERVER		0x8023
#define STUN_A_TRANSACTION_TRANSMIT_COUNTER 0x8025
#define STUN_A_CACHE_TIMEOUT		0x8027
#define STUN_A_FINGERPRINT		0x8028
#define STUN_A_ICE_CONTROLLED		0x8029
#define STUN_A_ICE_CONTROLLING		0x802A
#define STUN_A_RESPONSE_ORIGIN		0x802B
#define STUN_A_OTHER_ADDRESS		0x802C

#define STUN_MAX_UNKNOWN	8

struct stun_attr {
	uint16_t type;
	uint16_t len;
	uint16_t off;		/* offset of the attribute header in the message */
	const uint8_t *val;
};

struct stun_msg {
	uint8_t *buf;		/* the message; integrity checks patch and restore it */
	size_t len;		/* header + attributes */
	uint16_t method;
	uint16_t cls;
	const uint8_t *tid;
	size_t nattrs;
	struct stun_attr attrs[STUN_MAX_ATTRS];
	int mi;			/* index of MESSAGE-INTEGRITY or -1 */
	int mi256;		/* index of MESSAGE-INTEGRITY-SHA256 or -1 */
	bool fingerprint;	/* a FINGERPRINT was present (and correct) */
	bool too_many;		/* well framed, more than STUN_MAX_ATTRS attributes */
	size_t nunknown;	/* comprehension-required attributes we don't know */
	uint16_t unknown[STUN_MAX_UNKNOWN];
};

/* Whether buf starts like a STUN message / a ChannelData message. */
bool stun_is_stun(const uint8_t *buf, size_t len);
bool stun_is_channeldata(const uint8_t *buf, size_t len);

/*
 * Bytes the frame at the start of buf occupies on a stream transport
 * (STUN: 20 + length; ChannelData: 4 + length padded to 4), 0 if more
 * bytes are needed to know, -1 if it is neither.
 */
ssize_t stun_frame_len(const uint8_t *buf, size_t len);

/*
 * Parses one STUN message occupying exactly len bytes.  -1 when it is
 * malformed (bad header, length, attribute framing, misplaced or wrong
 * FINGERPRINT); such packets are dropped without reply.  -1 with too_many
 * set when it is well framed but carries more than STUN_MAX_ATTRS
 * attributes: the header fields are valid then, and a request gets 400.
 */
int stun_decode(uint8_t *buf, size_t len, struct stun_msg *m);

/* First attribute of that type, or NULL (RFC 8489 §14: later ones ignored). */
const struct stun_attr *stun_attr_get(const struct stun_msg *m, uint16_t type);

/* XOR-*-ADDRESS value into a sockaddr (sin or sin6). 0 / -1. */
int stun_xaddr_decode(const struct stun_attr *a, const uint8_t *tid,
    struct sockaddr_storage *out);
int stun_attr_u32(const struct stun_attr *a, uint32_t *out);

/*
 * Verifies MESSAGE-INTEGRITY (HMAC-SHA1) or MESSAGE-INTEGRITY-SHA256 with
 * key.  1 valid, 0 invalid, -1 absent.
 */
int stun_check_integrity(struct stun_msg *m, const uint8_t *key, size_t keylen);
int stun_check_integrity_sha256(struct stun_msg *m, const uint8_t *key,
    size_t keylen);

uint32_t stun_crc32(const uint8_t *buf, size_t len);

/* Encoder. */
struct stun_buf {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool err;		/* ran out of room: the message must not be sent */
};

void stun_build(struct stun_buf *b, uint8_t *mem, size_t cap, uint16_t method,
    uint16_t cls, const uint8_t tid[STUN_TID_LEN]);
void stun_add(struct stun_buf *b, uint16_t type, const void *val, size_t len);
void stun_add_u32(struct stun_buf *b, uint16_t type, uint32_t v);
void stun_add_xaddr(struct stun_buf *b, uint16_t type, const struct sockaddr *sa);
void stun_add_error(struct stun_buf *b, int code, const char *reason);
void stun_add_integrity(struct stun_buf *b, const uint8_t *key, size_t keylen);
void stun_add_integrity_sha256(struct stun_buf *b, const uint8_t *key,
    size_t keylen);
void stun_add_fingerprint(struct stun_buf *b);

/* Standard reason phrase for an error code. */
const char *stun_reason(int code);

/* ChannelData header; returns 4.  Padding is the caller's (stream only). */
static inline size_t
channeldata_hdr(uint8_t *p, uint16_t chan, uint16_t len)
{
	p[0] = (uint8_t)(chan >> 8);
	p[1] = (uint8_t)chan;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	return CHANNELDATA_HDR_LEN;
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

#endif
