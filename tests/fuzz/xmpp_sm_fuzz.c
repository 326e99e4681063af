/*
 * libFuzzer target: XEP-0198 attribute handling (xmpp-core/im/sm.c): the
 * bytes as stream-management nonzas through the restricted parser, each
 * 'h' through sm_parse_h, and the first 12 bytes as (sent, unacked, h)
 * through sm_ack_window.  A parsed h printed back must parse to itself;
 * an ack may drop at most what is unacked, and exactly h - first.
 */
#include "fragment.h"
#include "sm.h"
#include "xml.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static uint32_t
u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
check_h(const char *s)
{
	uint32_t h, back;
	char out[16];

	if (sm_parse_h(s, &h) != 0)
		return;
	if (s[0] < '0' || s[0] > '9')
		abort();
	snprintf(out, sizeof(out), "%" PRIu32, h);
	if (sm_parse_h(out, &back) != 0 || back != h)
		abort();
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct xml_node *n;
	uint32_t drop;
	char s[32];

	if (size >= 12) {
		uint32_t sent = u32(data), unacked = u32(data + 4) % 100001, h = u32(data + 8);

		if (sm_ack_window(sent, unacked, h, &drop) == 0) {
			if (drop > unacked || h - (sent - unacked) != drop)
				abort();
		} else if (h - (sent - unacked) <= unacked) {
			abort();
		}
		/* acknowledging exactly what was sent always works and drops all */
		if (sm_ack_window(sent, unacked, sent, &drop) != 0 || drop != unacked)
			abort();
	}
	if (size > 65536)
		return 0;
	if (size < sizeof(s)) {
		memcpy(s, data, size);
		s[size] = '\0';
		check_h(s);
	}
	if ((n = fragment_parse((const char *)data, size, "urn:xmpp:sm:3")) != NULL) {
		check_h(xml_attr(n, "h") ? xml_attr(n, "h") : "");
		for (struct xml_node *e = xml_first_elem(n); e; e = xml_next_elem(e)) {
			check_h(xml_attr(e, "h") ? xml_attr(e, "h") : "");
			(void)xml_attr(e, "previd");
			(void)xml_attr(e, "resume");
		}
		xml_free(n);
	}
	return 0;
}
