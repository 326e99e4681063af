/*
 * libFuzzer target for turnd's decoders of network input: stream framing,
 * STUN messages (attributes, integrity, fingerprint, XOR addresses) and
 * the re-encoding of what was decoded.  Build and run:
 *
 *   make fuzz        (every tests/fuzz/NAME_fuzz.c, see tests/fuzz/module.mk)
 */
#include "../../turnd/stun.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[16] = "0123456789abcdef";
	uint8_t *buf, out[2048];
	struct stun_msg m;
	struct stun_buf b;
	size_t off = 0;

	if (size > 70000)
		return 0;
	/* Stream framing over the whole input, as conn.c walks it. */
	while (off < size) {
		ssize_t fl = stun_frame_len(data + off, size - off);

		if (fl <= 0)
			break;
		off += (size_t)fl;
	}
	if ((buf = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	(void)stun_is_channeldata(buf, size);
	if (stun_decode(buf, size, &m) == 0) {
		stun_check_integrity(&m, key, sizeof(key));
		stun_check_integrity_sha256(&m, key, sizeof(key));
		/* The checks restore the buffer. */
		if (memcmp(buf, data, size) != 0)
			abort();
		stun_build(&b, out, sizeof(out), m.method, STUN_SUCCESS, m.tid);
		for (size_t i = 0; i < m.nattrs; i++) {
			const struct stun_attr *a = &m.attrs[i];
			struct sockaddr_storage ss;
			uint32_t v;

			if (a->val + a->len > buf + size)
				abort();
			if (a->type == STUN_A_MESSAGE_INTEGRITY ||
			    a->type == STUN_A_MESSAGE_INTEGRITY_SHA256)
				continue;
			if (stun_xaddr_decode(a, m.tid, &ss) == 0)
				stun_add_xaddr(&b, a->type, (struct sockaddr *)&ss);
			else if (stun_attr_u32(a, &v) == 0)
				stun_add_u32(&b, a->type, v);
			else
				stun_add(&b, a->type, a->val, a->len);
		}
		stun_add_integrity(&b, key, sizeof(key));
		stun_add_fingerprint(&b);
		/* (With MI and FINGERPRINT added the copy may exceed the
		 * attribute cap, which the decoder rightly refuses.) */
		if (!b.err && m.nattrs + 2 <= STUN_MAX_ATTRS) {
			struct stun_msg m2;

			if (stun_decode(out, b.len, &m2) != 0 ||
			    stun_check_integrity(&m2, key, sizeof(key)) != 1)
				abort();
		}
	}
	free(buf);
	return 0;
}
