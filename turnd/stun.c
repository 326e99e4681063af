/*
 * stun — STUN/TURN message codec.  See stun.h.
 *
 * Integrity checks are computed over the received bytes with the header
 * length patched to end at the integrity attribute (RFC 8489 §14.5) and
 * restored afterwards, so no copy of the message is made.
 */
#include "stun.h"
#include "crypto.h"
#include "mac.h"

#include <string.h>

bool
stun_is_stun(const uint8_t *buf, size_t len)
{
	return len >= STUN_HDR_LEN && (buf[0] & 0xC0) == 0 &&
	    rd32(buf + 4) == STUN_MAGIC;
}

bool
stun_is_channeldata(const uint8_t *buf, size_t len)
{
	return len >= CHANNELDATA_HDR_LEN && (buf[0] & 0xC0) == 0x40;
}

ssize_t
stun_frame_len(const uint8_t *buf, size_t len)
{
	if (len < 1)
		return 0;
	if ((buf[0] & 0xC0) == 0) {
		if (len < 4)
			return 0;
		return STUN_HDR_LEN + (ssize_t)rd16(buf + 2);
	}
	if ((buf[0] & 0xC0) == 0x40) {
		if (len < 4)
			return 0;
		/* RFC 8656 §12.5: padded to a multiple of four over streams. */
		return CHANNELDATA_HDR_LEN + (((ssize_t)rd16(buf + 2) + 3) & ~3);
	}
	return -1;
}

static bool
attr_known(uint16_t t)
{
	switch (t) {
	case STUN_A_MAPPED_ADDRESS: case STUN_A_USERNAME:
	case STUN_A_MESSAGE_INTEGRITY: case STUN_A_ERROR_CODE:
	case STUN_A_UNKNOWN_ATTRIBUTES: case STUN_A_CHANNEL_NUMBER:
	case STUN_A_LIFETIME: case STUN_A_XOR_PEER_ADDRESS: case STUN_A_DATA:
	case STUN_A_REALM: case STUN_A_NONCE: case STUN_A_XOR_RELAYED_ADDRESS:
	case STUN_A_REQUESTED_ADDRESS_FAMILY: case STUN_A_EVEN_PORT:
	case STUN_A_REQUESTED_TRANSPORT: case STUN_A_DONT_FRAGMENT:
	case STUN_A_MESSAGE_INTEGRITY_SHA256: case STUN_A_PASSWORD_ALGORITHM:
	case STUN_A_USERHASH: case STUN_A_XOR_MAPPED_ADDRESS:
	case STUN_A_RESERVATION_TOKEN: case STUN_A_PRIORITY:
	case STUN_A_USE_CANDIDATE:
		return true;
	}
	return t >= 0x8000;	/* comprehension-optional */
}

int
stun_decode(uint8_t *buf, size_t len, struct stun_msg *m)
{
	size_t off;
	uint16_t type;
	bool after_mi = false, after_mi256 = false, too_many = false;

	m->too_many = false;
	if (!stun_is_stun(buf, len) || len > 0xFFFF + STUN_HDR_LEN)
		return -1;
	if (rd16(buf + 2) + (size_t)STUN_HDR_LEN != len || (len & 3) != 0)
		return -1;
	type = rd16(buf);
	m->buf = buf;
	m->len = len;
	m->method = (uint16_t)((type & 0x000F) | ((type & 0x00E0) >> 1) |
	    ((type & 0x3E00) >> 2));
	m->cls = type & 0x0110;
	m->tid = buf + 8;
	m->nattrs = 0;
	m->mi = m->mi256 = -1;
	m->fingerprint = false;
	m->nunknown = 0;
	for (off = STUN_HDR_LEN; off < len; ) {
		uint16_t at, al;
		size_t next;

		if (len - off < 4)
			return -1;
		at = rd16(buf + off);
		al = rd16(buf + off + 2);
		next = off + 4 + (((size_t)al + 3) & ~(size_t)3);
		if (next > len)
			return -1;
		if (at == STUN_A_FINGERPRINT) {
			/* §14.7: last attribute, CRC over everything before it. */
			if (al != 4 || next != len)
				return -1;
			if ((stun_crc32(buf, off) ^ STUN_FP_XOR) != rd32(buf + off + 4))
				return -1;
			m->fingerprint = true;
			break;
		}
		/* §14.5/14.6: after the integrity only the SHA-256 integrity
		 * (after SHA-1) and FINGERPRINT count; anything else is ignored. */
		if (after_mi256 || (after_mi && at != STUN_A_MESSAGE_INTEGRITY_SHA256)) {
			off = next;
			continue;
		}
		/* Past the cap, keep checking the framing (a malformed
		 * message stays unanswered) but record nothing. */
		if (m->nattrs == STUN_MAX_ATTRS) {
			too_many = true;
			off = next;
			continue;
		}
		if (at == STUN_A_MESSAGE_INTEGRITY) {
			if (al != HMAC_SHA1_LEN)
				return -1;
			m->mi = (int)m->nattrs;
			after_mi = true;
		} else if (at == STUN_A_MESSAGE_INTEGRITY_SHA256) {
			if (al < 16 || al > HMAC_SHA256_LEN || (al & 3) != 0)
				return -1;
			m->mi256 = (int)m->nattrs;
			after_mi256 = true;
		} else if (!attr_known(at) && m->nunknown < STUN_MAX_UNKNOWN) {
			m->unknown[m->nunknown++] = at;
		}
		m->attrs[m->nattrs].type = at;
		m->attrs[m->nattrs].len = al;
		m->attrs[m->nattrs].off = (uint16_t)off;
		m->attrs[m->nattrs].val = buf + off + 4;
		m->nattrs++;
		off = next;
	}
	m->too_many = too_many;
	return too_many ? -1 : 0;
}

const struct stun_attr *
stun_attr_get(const struct stun_msg *m, uint16_t type)
{
	for (size_t i = 0; i < m->nattrs; i++)
		if (m->attrs[i].type == type)
			return &m->attrs[i];
	return NULL;
}

int
stun_attr_u32(const struct stun_attr *a, uint32_t *out)
{
	if (a == NULL || a->len != 4)
		return -1;
	*out = rd32(a->val);
	return 0;
}

int
stun_xaddr_decode(const struct stun_attr *a, const uint8_t *tid,
    struct sockaddr_storage *out)
{
	const uint8_t *v = a->val;
	uint16_t port;

	if (a->len < 8 || v[0] != 0)
		return -1;
	port = rd16(v + 2) ^ (uint16_t)(STUN_MAGIC >> 16);
	memset(out, 0, sizeof(*out));
	if (v[1] == 0x01 && a->len == 8) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(rd32(v + 4) ^ STUN_MAGIC);
		return 0;
	}
	if (v[1] == 0x02 && a->len == 20) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
		uint8_t mask[16];

		wr32(mask, STUN_MAGIC);
		memcpy(mask + 4, tid, STUN_TID_LEN);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		for (int i = 0; i < 16; i++)
			sin6->sin6_addr.s6_addr[i] = v[4 + i] ^ mask[i];
		return 0;
	}
	return -1;
}

static int
check_mac(struct stun_msg *m, int idx, const uint8_t *key, size_t keylen,
    bool sha256)
{
	const struct stun_attr *a;
	uint8_t mac[HMAC_SHA256_LEN], save[2];
	int rc;

	if (idx < 0)
		return -1;
	a = &m->attrs[idx];
	memcpy(save, m->buf + 2, 2);
	wr16(m->buf + 2, (uint16_t)(a->off + 4 + a->len - STUN_HDR_LEN));
	rc = mac_hmac(sha256 ? MAC_SHA256 : MAC_SHA1, key, keylen, m->buf,
	    a->off, mac) == 0 ? -1 : 0;
	memcpy(m->buf + 2, save, 2);
	if (rc < 0)
		return 0;
	return ct_equal(mac, a->val, a->len) ? 1 : 0;
}

int
stun_check_integrity(struct stun_msg *m, const uint8_t *key, size_t keylen)
{
	return check_mac(m, m->mi, key, keylen, false);
}

int
stun_check_integrity_sha256(struct stun_msg *m, const uint8_t *key,
    size_t keylen)
{
	return check_mac(m, m->mi256, key, keylen, true);
}

static uint32_t crc_table[256];

uint32_t
stun_crc32(const uint8_t *buf, size_t len)
{
	uint32_t c = 0xFFFFFFFFu;

	if (crc_table[1] == 0) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t k = i;

			for (int j = 0; j < 8; j++)
				k = (k & 1) ? 0xEDB88320u ^ (k >> 1) : k >> 1;
			crc_table[i] = k;
		}
	}
	for (size_t i = 0; i < len; i++)
		c = crc_table[(c ^ buf[i]) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

void
stun_build(struct stun_buf *b, uint8_t *mem, size_t cap, uint16_t method,
    uint16_t cls, const uint8_t tid[STUN_TID_LEN])
{
	uint16_t type;

	b->p = mem;
	b->cap = cap;
	b->len = 0;
	b->err = cap < STUN_HDR_LEN;
	if (b->err)
		return;
	type = (uint16_t)((method & 0x000F) | ((method & 0x0070) << 1) |
	    ((method & 0x0F80) << 2) | cls);
	wr16(mem, type);
	wr16(mem + 2, 0);
	wr32(mem + 4, STUN_MAGIC);
	memcpy(mem + 8, tid, STUN_TID_LEN);
	b->len = STUN_HDR_LEN;
}

static uint8_t *
add_hdr(struct stun_buf *b, uint16_t type, size_t len)
{
	size_t padded = (len + 3) & ~(size_t)3;
	uint8_t *p;

	if (b->err || len > 0xFFFF || b->cap - b->len < 4 + padded ||
	    b->len + 4 + padded - STUN_HDR_LEN > 0xFFFF) {
		b->err = true;
		return NULL;
	}
	p = b->p + b->len;
	wr16(p, type);
	wr16(p + 2, (uint16_t)len);
	memset(p + 4 + len, 0, padded - len);
	b->len += 4 + padded;
	wr16(b->p + 2, (uint16_t)(b->len - STUN_HDR_LEN));
	return p + 4;
}

void
stun_add(struct stun_buf *b, uint16_t type, const void *val, size_t len)
{
	uint8_t *p = add_hdr(b, type, len);

	if (p != NULL && len > 0)
		memcpy(p, val, len);
}

void
stun_add_u32(struct stun_buf *b, uint16_t type, uint32_t v)
{
	uint8_t *p = add_hdr(b, type, 4);

	if (p != NULL)
		wr32(p, v);
}

void
stun_add_xaddr(struct stun_buf *b, uint16_t type, const struct sockaddr *sa)
{
	uint8_t *p;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		if ((p = add_hdr(b, type, 8)) == NULL)
			return;
		p[0] = 0;
		p[1] = 0x01;
		wr16(p + 2, ntohs(sin->sin_port) ^ (uint16_t)(STUN_MAGIC >> 16));
		wr32(p + 4, ntohl(sin->sin_addr.s_addr) ^ STUN_MAGIC);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		uint8_t mask[16];

		if ((p = add_hdr(b, type, 20)) == NULL)
			return;
		wr32(mask, STUN_MAGIC);
		memcpy(mask + 4, b->p + 8, STUN_TID_LEN);
		p[0] = 0;
		p[1] = 0x02;
		wr16(p + 2, ntohs(sin6->sin6_port) ^ (uint16_t)(STUN_MAGIC >> 16));
		for (int i = 0; i < 16; i++)
			p[4 + i] = sin6->sin6_addr.s6_addr[i] ^ mask[i];
	} else {
		b->err = true;
	}
}

void
stun_add_error(struct stun_buf *b, int code, const char *reason)
{
	size_t rl = strlen(reason);
	uint8_t *p;

	if (rl > 763)		/* §14.8: reason < 128 characters, 763 bytes */
		rl = 763;
	if ((p = add_hdr(b, STUN_A_ERROR_CODE, 4 + rl)) == NULL)
		return;
	p[0] = p[1] = 0;
	p[2] = (uint8_t)(code / 100);
	p[3] = (uint8_t)(code % 100);
	memcpy(p + 4, reason, rl);
}

static void
add_mac(struct stun_buf *b, const uint8_t *key, size_t keylen, bool sha256)
{
	size_t maclen = sha256 ? HMAC_SHA256_LEN : HMAC_SHA1_LEN;
	size_t start = b->len;
	uint8_t mac[HMAC_SHA256_LEN];
	uint8_t *p;
	int rc;

	if ((p = add_hdr(b, sha256 ? STUN_A_MESSAGE_INTEGRITY_SHA256 :
	    STUN_A_MESSAGE_INTEGRITY, maclen)) == NULL)
		return;
	/* The length field already covers the integrity attribute. */
	rc = mac_hmac(sha256 ? MAC_SHA256 : MAC_SHA1, key, keylen, b->p, start,
	    mac) == 0 ? -1 : 0;
	if (rc < 0) {
		b->err = true;
		return;
	}
	memcpy(p, mac, maclen);
}

void
stun_add_integrity(struct stun_buf *b, const uint8_t *key, size_t keylen)
{
	add_mac(b, key, keylen, false);
}

void
stun_add_integrity_sha256(struct stun_buf *b, const uint8_t *key,
    size_t keylen)
{
	add_mac(b, key, keylen, true);
}

void
stun_add_fingerprint(struct stun_buf *b)
{
	size_t start = b->len;
	uint8_t *p;

	if ((p = add_hdr(b, STUN_A_FINGERPRINT, 4)) == NULL)
		return;
	wr32(p, stun_crc32(b->p, start) ^ STUN_FP_XOR);
}

const char *
stun_reason(int code)
{
	switch (code) {
	case 300: return "Try Alternate";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 420: return "Unknown Attribute";
	case 437: return "Allocation Mismatch";
	case 438: return "Stale Nonce";
	case 440: return "Address Family not Supported";
	case 441: return "Wrong Credentials";
	case 442: return "Unsupported Transport Protocol";
	case 443: return "Peer Address Family Mismatch";
	case 486: return "Allocation Quota Reached";
	case 500: return "Server Error";
	case 508: return "Insufficient Capacity";
	}
	return "Error";
}
