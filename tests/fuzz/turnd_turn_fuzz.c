/*
 * libFuzzer target for turnd's request handling (turn.c and what it
 * drives: auth, allocations, permissions, channels, reservations, relay).
 * Inputs are STUN or ChannelData messages from one of 256 UDP clients
 * (the first byte picks the client port).  So the fuzzer gets past
 * authentication, the harness rewrites a 32-byte NONCE into a valid one
 * and recomputes MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT under the
 * static user "u"/"p" of realm "r".  Relays are bound to 127.0.0.1 so
 * nothing leaves the machine.  Built and run by `make fuzz`.
 */
#include "../../turnd/alloc.h"
#include "../../turnd/auth.h"
#include "../../turnd/config.h"
#include "../../turnd/relay.h"
#include "../../turnd/stun.h"
#include "../../turnd/turn.h"
#include "../../turnd/turnd.h"
#include "crypto.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct turnd td;
static struct listener lst;
static uint8_t key[AUTH_KEY_MAX];
static size_t keylen;

static void
setup(void)
{
	char path[] = "/tmp/turnd-fuzz-XXXXXX";
	static const char conf[] =
	    "listen = [\"127.0.0.1:3478\"]\nrealm = \"r\"\nlog_level = \"error\"\n"
	    "[[user_static]]\nname = \"u\"\npassword = \"p\"\n"
	    "[relay]\nports = \"40000-40999\"\nallow_peers = [\"127.0.0.1\"]\n"
	    "[limits]\nmax_allocations = 16\nmax_allocations_per_user = 8\n"
	    "max_permissions = 4\nmax_channels = 4\n";
	struct conf_err e;
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, conf, sizeof(conf) - 1) != sizeof(conf) - 1)
		abort();
	close(fd);
	log_init("turnd-fuzz", LOG_LVL_ERR);
	if ((td.cfg = config_load(path, &e)) == NULL) {
		fprintf(stderr, "%s\n", e.msg);
		abort();
	}
	unlink(path);
	hash_seed_init();
	auth_init();
	hash_init(&td.allocs);
	hash_init(&td.users);
	hash_init(&td.perms);
	hash_init(&td.chan_num);
	hash_init(&td.chan_peer);
	hash_init(&td.reserved);
	td.loop = ev_loop_new();
	alloc_init(&td);
	lst.td = &td;
	lst.tp = TP_UDP;
	lst.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	lst.addr.family = AF_INET;
	keylen = auth_key("u", 1, "r", 1, "p", 1, false, key);
}

/* Makes the message authentic: valid nonce, integrity, fingerprint. */
static void
authenticate(uint8_t *buf, size_t len, const struct sockaddr *client)
{
	size_t off = STUN_HDR_LEN;

	if (!stun_is_stun(buf, len) || rd16(buf + 2) + (size_t)STUN_HDR_LEN != len)
		return;
	while (off + 4 <= len) {
		uint16_t t = rd16(buf + off), l = rd16(buf + off + 2);
		size_t next = off + 4 + (((size_t)l + 3) & ~(size_t)3);

		if (next > len)
			return;
		if (t == STUN_A_NONCE && l == AUTH_NONCE_LEN) {
			char n[AUTH_NONCE_LEN + 1];

			auth_nonce_make(client, turnd_now_s(), 600, n);
			memcpy(buf + off + 4, n, AUTH_NONCE_LEN);
		} else if ((t == STUN_A_MESSAGE_INTEGRITY && l == 20) ||
		    (t == STUN_A_MESSAGE_INTEGRITY_SHA256 && l == 32)) {
			uint8_t save[2], mac[32];

			memcpy(save, buf + 2, 2);
			wr16(buf + 2, (uint16_t)(off + 4 + l - STUN_HDR_LEN));
			if (l == 20)
				hmac_sha1(key, keylen, buf, off, mac);
			else
				hmac_sha256(key, keylen, buf, off, mac);
			memcpy(buf + 2, save, 2);
			memcpy(buf + off + 4, mac, l);
		} else if (t == STUN_A_FINGERPRINT && l == 4 && next == len) {
			wr32(buf + off + 4, stun_crc32(buf, off) ^ STUN_FP_XOR);
		}
		off = next;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[RELAY_MTU + 64];
	struct client_ep ep = { .tp = TP_UDP, .l = &lst };
	struct alloc *a;

	if (td.loop == NULL)
		setup();
	if (size < 1 || size - 1 > sizeof(buf))
		return 0;
	ep.addr.sin.sin_family = AF_INET;
	ep.addr.sin.sin_addr.s_addr = htonl(0x7F000001);
	ep.addr.sin.sin_port = htons((uint16_t)(20000 + data[0]));
	memcpy(buf, data + 1, size - 1);
	size--;
	a = alloc_find(&td, &ep);
	if (stun_is_channeldata(buf, size)) {
		if (a != NULL)
			relay_channeldata(a, buf, size);
	} else {
		authenticate(buf, size, &ep.addr.sa);
		turn_handle(&td, &ep, a, buf, size);
	}
	relay_flush();
	return 0;
}
