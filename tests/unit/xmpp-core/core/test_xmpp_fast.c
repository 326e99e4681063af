/*
 * Unit tests for xmpp-core/core/sasl: FAST's HT mechanisms and tokens
 * (fast.c), XEP-0474's downgrade-protection hash (scram.c), Bind2's
 * resource (sasl2.c).  Vectors computed independently with Python's
 * hashlib/hmac.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "t.h"
#include "crypto.h"
#include "fast.h"
#include "sasl2.h"
#include "scram.h"

TEST(xmpp_fast_mechanism_names)
{
	enum fast_cb cb;

	for (int i = 0; i < FAST_NCB; i++) {
		CHECK_INT(fast_mech_parse(fast_mech_name((enum fast_cb)i), &cb), 0);
		CHECK_INT(cb, i);
	}
	CHECK_STR(fast_cb_type(FAST_ENDP), "tls-server-end-point");
	CHECK_STR(fast_cb_type(FAST_EXPR), "tls-exporter");
	CHECK_STR(fast_cb_type(FAST_UNIQ), "tls-unique");
	CHECK(fast_cb_type(FAST_NONE) == NULL);
	CHECK_INT(fast_mech_parse("HT-SHA-256-none", &cb), -1);
	CHECK_INT(fast_mech_parse("HT-SHA-512-NONE", &cb), -1);
	CHECK_INT(fast_mech_parse("", &cb), -1);
}

/* The stored SHA-256 of a token is as good as the token for HMAC: keys
 * longer than the block are hashed first (RFC 2104 §2). */
TEST(xmpp_fast_token_hashed_key_equals_token)
{
	char token[FAST_TOKEN_LEN + 1];
	uint8_t key[FAST_KEY_LEN], a[32], b[32], k2[FAST_KEY_LEN];
	unsigned n = 0;

	CHECK_INT(fast_token_new(token, key), 0);
	CHECK_INT(strlen(token), FAST_TOKEN_LEN);
	CHECK(FAST_TOKEN_LEN > 64);
	fast_token_key(token, strlen(token), k2);
	CHECK_MEM(key, k2, FAST_KEY_LEN);
	HMAC(EVP_sha256(), token, FAST_TOKEN_LEN, (const uint8_t *)"Initiator", 9, a, &n);
	fast_ht_mac(key, "Initiator", NULL, 0, b);
	CHECK_MEM(a, b, 32);
	/* and with channel-binding data appended */
	HMAC(EVP_sha256(), token, FAST_TOKEN_LEN, (const uint8_t *)"Responderxyz", 12, a, &n);
	fast_ht_mac(key, "Responder", (const uint8_t *)"xyz", 3, b);
	CHECK_MEM(a, b, 32);
}

TEST(xmpp_fast_ht_vector)
{
	/* hmac.new(b"A" * 72, b"Initiator", "sha256") */
	static const char want[] =
	    "df389a4a27b17455d0c15c0347596c64c26b3cf40df293ff9762e324ecf0eb58";
	char t[73], hex[65];
	uint8_t key[FAST_KEY_LEN], mac[32];

	memset(t, 'A', 72);
	t[72] = '\0';
	fast_token_key(t, 72, key);
	fast_ht_mac(key, "Initiator", NULL, 0, mac);
	hex_encode(mac, 32, hex);
	CHECK_STR(hex, want);
}

TEST(xmpp_fast_ht_parse)
{
	char msg[64], user[16];
	uint8_t mac[FAST_MAC_LEN];

	memcpy(msg, "bob", 3);
	msg[3] = '\0';
	memset(msg + 4, 0x5a, 32);
	CHECK_INT(fast_ht_parse(msg, 36, user, sizeof(user), mac), 0);
	CHECK_STR(user, "bob");
	CHECK(mac[0] == 0x5a && mac[31] == 0x5a);
	CHECK_INT(fast_ht_parse(msg, 35, user, sizeof(user), mac), -1);	/* short MAC */
	CHECK_INT(fast_ht_parse(msg, 3, user, sizeof(user), mac), -1);	/* no NUL */
	CHECK_INT(fast_ht_parse(msg + 3, 33, user, sizeof(user), mac), -1);	/* no authcid */
	CHECK_INT(fast_ht_parse(msg, 36, user, 3, mac), -1);	/* too long for us */
	memset(msg + 4, 0, 32);	/* NULs inside the MAC are data */
	CHECK_INT(fast_ht_parse(msg, 36, user, sizeof(user), mac), 0);
}

TEST(xmpp_ssdp_hash)
{
	const char *m[] = { "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN" };
	const char *cb[] = { "tls-server-end-point", "tls-exporter" };
	char out[64];

	CHECK_INT(scram_ssdp(SCRAM_SHA256, m, 3, cb, 2, out, sizeof(out)), 0);
	CHECK_STR(out, "rrrrN5rU/UKksJIvYlUfue20YTYnIuFeX/mjtCaO8B4=");
	CHECK_INT(scram_ssdp(SCRAM_SHA1, m, 3, NULL, 0, out, sizeof(out)), 0);
	CHECK_STR(out, "uYJXMaNHTMxSJNZes6xsLrR+vu0=");
	CHECK_INT(scram_ssdp(SCRAM_SHA256, m, 3, cb, 2, out, 10), -1);
}

TEST(xmpp_ssdp_in_server_first)
{
	struct scram_server s;
	struct scram_keys k;
	const char *err, *first;
	static const uint8_t salt[16] = { 1 };

	CHECK_INT(scram_derive(SCRAM_SHA256, "pw", 2, salt, sizeof(salt), 4096, &k), 0);
	CHECK_INT(scram_server_start(&s, SCRAM_SHA256, false, false, "n,,n=u,r=abc", 12,
	    &err), 0);
	snprintf(s.ssdp, sizeof(s.ssdp), "HASH=");
	first = scram_server_first(&s, &k, "def");
	CHECK(first != NULL && strstr(first, "r=abcdef,s=") == first);
	CHECK(first != NULL && strlen(first) > 15 &&
	    strcmp(first + strlen(first) - 15, ",i=4096,h=HASH=") == 0);
	scram_server_clear(&s);
}

TEST(xmpp_bind2_resource)
{
	char a[64], b[64], c[64];

	/* hashlib.sha256(b"alice\0agent-1").hexdigest()[:8] */
	CHECK_INT(sasl2_resource("alice", "agent-1", "Conv", a, sizeof(a)), 0);
	CHECK_STR(a, "Conv/00642346");
	CHECK_INT(sasl2_resource("alice", "agent-1", "Conv", b, sizeof(b)), 0);
	CHECK_STR(a, b);
	CHECK_INT(sasl2_resource("alice", "agent-2", "Conv", c, sizeof(c)), 0);
	CHECK(strcmp(a, c) != 0);
	CHECK_INT(sasl2_resource("alice", "agent-1", NULL, c, sizeof(c)), 0);
	CHECK_STR(c, "00642346");
	/* a tag that is no valid resource part is left out */
	CHECK_INT(sasl2_resource("alice", "agent-1", "\xff\xfe", c, sizeof(c)), 0);
	CHECK_STR(c, "00642346");
	/* without an id: random each time */
	CHECK_INT(sasl2_resource("alice", NULL, "x", a, sizeof(a)), 0);
	CHECK_INT(sasl2_resource("alice", NULL, "x", b, sizeof(b)), 0);
	CHECK(strncmp(a, "x/", 2) == 0 && strcmp(a, b) != 0);
	CHECK_INT(sasl2_resource("alice", "agent-1", "Conv", a, 4), -1);
}
