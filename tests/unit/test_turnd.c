/* Unit tests for turnd's pure parts: peer policy, REST credentials and
 * nonces, configuration, the hash table. */
#include "t.h"
#include "../../turnd/auth.h"
#include "../../turnd/config.h"
#include "../../turnd/hash.h"
#include "../../turnd/policy.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static struct sockaddr_storage ss;

static const struct sockaddr *
sa(const char *ip)
{
	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		s->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &s->sin6_addr);
	} else {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		s->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &s->sin_addr);
	}
	return (struct sockaddr *)&ss;
}

TEST(turnd_policy_defaults)
{
	struct policy p = { 0 };
	static const char *deny[] = { "127.0.0.1", "10.9.8.7", "172.31.0.1",
	    "192.168.0.1", "100.127.255.255", "169.254.0.1", "224.1.1.1",
	    "0.0.0.0", "0.1.2.3", "255.255.255.255", "::", "::1", "fe80::1",
	    "fc00::1", "fdff::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:8.8.8.8",
	    "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1",
	    /* issue 20: SIIT (::ffff:0:a.b.c.d), Teredo and the rest of
	     * 2001::/23, the 6to4 relay anycast, documentation, SRv6 SIDs,
	     * the dummy prefix. */
	    "::ffff:0:7f00:1", "::ffff:0:a00:1", "2001::5efe:7f00:1",
	    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:2::1", "2001:1ff::1",
	    "192.88.99.1", "192.0.2.1", "198.51.100.1", "203.0.113.1",
	    "2001:db8::1", "3fff::1", "5f00::1", "100:0:0:1::1" };
	static const char *allow[] = { "8.8.8.8", "100.128.0.1", "2a01:4f8::1",
	    "172.32.0.1", "192.88.100.1", "2001:200::1", "2003::1",
	    "::fffe:0:7f00:1", "2001:4860:4860::8888" };

	for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++) {
		if (policy_peer_allowed(&p, sa(deny[i])))
			t_fail(__FILE__, __LINE__, "%s allowed", deny[i]);
	}
	for (size_t i = 0; i < sizeof(allow) / sizeof(allow[0]); i++) {
		if (!policy_peer_allowed(&p, sa(allow[i])))
			t_fail(__FILE__, __LINE__, "%s denied", allow[i]);
	}
}

TEST(turnd_policy_lists)
{
	struct addr_cidr allow[2], deny[1];
	struct policy p = { .allow = allow, .nallow = 2, .deny = deny, .ndeny = 1 };

	CHECK_INT(addr_cidr_parse("127.0.0.1", &allow[0]), 0);
	CHECK_INT(addr_cidr_parse("10.0.0.0/8", &allow[1]), 0);
	CHECK_INT(addr_cidr_parse("10.1.0.0/16", &deny[0]), 0);
	CHECK(policy_peer_allowed(&p, sa("127.0.0.1")));
	CHECK(!policy_peer_allowed(&p, sa("127.0.0.2")));
	CHECK(policy_peer_allowed(&p, sa("10.2.3.4")));
	CHECK(!policy_peer_allowed(&p, sa("10.1.3.4")));	/* deny wins */
	/* A mapped form never reaches what the IPv4 form may not, and an
	 * IPv6-only relay cannot reach mapped peers at all. */
	CHECK(!policy_peer_allowed(&p, sa("::ffff:127.0.0.1")));
	policy_add_own(&p, sa("8.8.8.7"));
	CHECK(!policy_peer_allowed(&p, sa("8.8.8.7")));
	CHECK(policy_peer_allowed(&p, sa("8.8.8.8")));
	CHECK_INT(addr_cidr_parse("1.2.3.4/33", &deny[0]), -1);
	CHECK_INT(addr_cidr_parse("::/129", &deny[0]), -1);
	CHECK_INT(addr_cidr_parse("host.example", &deny[0]), -1);
	CHECK_INT(addr_cidr_parse("1.2.3.4/", &deny[0]), -1);
	CHECK_INT(addr_cidr_parse("2001:db8::/33", &deny[0]), 0);
	CHECK(addr_cidr_match(&deny[0], sa("2001:db8:7fff::1")));
	CHECK(!addr_cidr_match(&deny[0], sa("2001:db8:8000::1")));
}

/* Issue 20: every address of the host is the relay's own. */
static struct sockaddr_storage ifa_ss[8][3];

static void
fake_ifa(struct ifaddrs *v, size_t i, const char *name, unsigned flags,
    const char *addr, const char *mask, const char *brd)
{
	const char *s[3] = { addr, mask, brd };

	for (size_t k = 0; k < 3; k++) {
		if (s[k] != NULL)
			memcpy(&ifa_ss[i][k], sa(s[k]), sizeof(ss));
	}
	memset(&v[i], 0, sizeof(v[i]));
	v[i].ifa_name = (char *)name;
	v[i].ifa_flags = flags;
	v[i].ifa_addr = addr ? (struct sockaddr *)&ifa_ss[i][0] : NULL;
	v[i].ifa_netmask = mask ? (struct sockaddr *)&ifa_ss[i][1] : NULL;
	v[i].ifa_broadaddr = brd ? (struct sockaddr *)&ifa_ss[i][2] : NULL;
	if (i > 0)
		v[i - 1].ifa_next = &v[i];
}

TEST(turnd_policy_host_addresses)
{
	struct addr_cidr allow[4];
	struct policy p = { .allow = allow, .nallow = 4 };
	struct ifaddrs ifa[6];

	/* The host's LAN and documentation ranges opened, as an operator
	 * reaching an internal media server would: the host stays closed. */
	CHECK_INT(addr_cidr_parse("198.51.100.0/24", &allow[0]), 0);
	CHECK_INT(addr_cidr_parse("2001:db8::/32", &allow[1]), 0);
	CHECK_INT(addr_cidr_parse("127.0.0.0/8", &allow[2]), 0);
	CHECK_INT(addr_cidr_parse("127.0.0.1", &allow[3]), 0);
	fake_ifa(ifa, 0, "lo", IFF_UP | IFF_LOOPBACK, "127.0.0.1", "255.0.0.0", NULL);
	fake_ifa(ifa, 1, "lo", IFF_UP | IFF_LOOPBACK, "::1",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL);
	fake_ifa(ifa, 2, "eth0", IFF_UP | IFF_BROADCAST, "198.51.100.1",
	    "255.255.255.0", "198.51.100.255");
	fake_ifa(ifa, 3, "eth0", IFF_UP, "2001:db8:b::1", "ffff:ffff:ffff:ffff::", NULL);
	fake_ifa(ifa, 4, "eth1", IFF_UP, NULL, NULL, NULL);	/* no address */
	fake_ifa(ifa, 5, "eth1", 0, "8.8.8.7", "255.255.255.255", NULL); /* down */

	CHECK(policy_peer_allowed(&p, sa("198.51.100.1")));	/* before */
	CHECK_INT(policy_set_host(&p, ifa), 0);
	CHECK_INT(p.nhost, 6);
	CHECK(!policy_peer_allowed(&p, sa("198.51.100.1")));
	CHECK(!policy_peer_allowed(&p, sa("198.51.100.255")));	/* broadcast */
	CHECK(policy_peer_allowed(&p, sa("198.51.100.2")));	/* a neighbour */
	CHECK(!policy_peer_allowed(&p, sa("2001:db8:b::1")));
	CHECK(policy_peer_allowed(&p, sa("2001:db8:b::2")));
	CHECK(!policy_peer_allowed(&p, sa("8.8.8.7")));	/* link down: still ours */
	CHECK(policy_peer_allowed(&p, sa("8.8.8.8")));
	/* Loopback's whole prefix is the host's; naming one address opens it. */
	CHECK(!policy_peer_allowed(&p, sa("127.0.0.2")));
	CHECK(policy_peer_allowed(&p, sa("127.0.0.1")));
	CHECK(!policy_peer_allowed(&p, sa("::1")));
	CHECK(!policy_peer_allowed(&p, sa("::ffff:198.51.100.1")));
	/* A refresh replaces the list: an address gone is no longer ours. */
	ifa[2].ifa_next = NULL;
	CHECK_INT(policy_set_host(&p, ifa), 0);
	CHECK_INT(p.nhost, 4);
	CHECK(policy_peer_allowed(&p, sa("2001:db8:b::1")));
	CHECK(!policy_peer_allowed(&p, sa("198.51.100.1")));
	/* Configured own addresses follow the same rule. */
	policy_add_own(&p, sa("198.51.100.7"));
	CHECK(!policy_peer_allowed(&p, sa("198.51.100.7")));
	CHECK_INT(policy_set_host(&p, NULL), 0);
	CHECK_INT(p.nhost, 0);
	CHECK(policy_peer_allowed(&p, sa("198.51.100.1")));
	free(p.host);
}

TEST(turnd_rest_password)
{
	char pw[32];

	auth_rest_password("s3cret", "1700000000:alice", 16, pw);
	CHECK_STR(pw, "TtElzSjT0GdnTQ9xdcRNxx96yQs=");
	CHECK_STR(auth_display_user("1700000000:alice"), "alice");
	CHECK_STR(auth_display_user("static"), "static");
	CHECK_STR(auth_display_user("123"), "123");
}

TEST(turnd_nonce)
{
	char n[AUTH_NONCE_LEN + 1];
	char other[sizeof(ss)];

	auth_init();
	auth_nonce_make(sa("192.0.2.1"), 1000, 60, n);
	CHECK_INT(strlen(n), AUTH_NONCE_LEN);
	CHECK_INT(auth_nonce_check(sa("192.0.2.1"), 1000, (uint8_t *)n, AUTH_NONCE_LEN), 0);
	CHECK_INT(auth_nonce_check(sa("192.0.2.1"), 1059, (uint8_t *)n, AUTH_NONCE_LEN), 0);
	CHECK_INT(auth_nonce_check(sa("192.0.2.1"), 1060, (uint8_t *)n, AUTH_NONCE_LEN), -1);
	CHECK_INT(auth_nonce_check(sa("192.0.2.2"), 1000, (uint8_t *)n, AUTH_NONCE_LEN), -1);
	memcpy(other, n, sizeof(n));
	other[3] ^= 1;		/* a later expiry, same MAC: refused */
	CHECK_INT(auth_nonce_check(sa("192.0.2.1"), 1000, (uint8_t *)other, AUTH_NONCE_LEN), -1);
	CHECK_INT(auth_nonce_check(sa("192.0.2.1"), 1000, (uint8_t *)n, 10), -1);
}

static char *
write_conf(const char *text)
{
	static char path[] = "/tmp/turnd-unit-XXXXXX";
	int fd;

	strcpy(path, "/tmp/turnd-unit-XXXXXX");
	if ((fd = mkstemp(path)) < 0)
		return NULL;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return NULL;
	}
	close(fd);
	return path;
}

TEST(turnd_config)
{
	struct conf_err e;
	struct turnd_config *c;
	char *p;

	p = write_conf("listen = [\"127.0.0.1:3478\", \"[::1]:3478\"]\n"
	    "realm = \"example.org\"\nsecrets = [\"a\", \"b\"]\n"
	    "[relay]\nexternal_v4 = \"203.0.113.5\"\nports = \"50000-50100\"\n"
	    "[limits]\nbandwidth = \"1M\"\n");
	CHECK(p != NULL);
	c = config_load(p, &e);
	unlink(p);
	CHECK(c != NULL);
	CHECK_INT(c->nlisten, 2);
	CHECK_INT(c->nsecrets, 2);
	CHECK(c->relay4_set && c->relay6_set);
	CHECK_INT(ntohl(c->relay4.sin_addr.s_addr), 0x7F000001);
	CHECK_INT(ntohl(c->ext4.sin_addr.s_addr), 0xCB007105);
	CHECK_INT(c->port_min, 50000);
	CHECK_INT(c->lifetime_default, 600);
	CHECK_INT(c->perm_lifetime, 300);
	CHECK_INT(c->channel_lifetime, 600);
	CHECK_INT(c->bandwidth, 1 << 20);
	/* Own addresses (relay, advertised) are refused as peers. */
	CHECK(!policy_peer_allowed(&c->policy, sa("203.0.113.5")));
	config_free(c);

	/* Wildcard listen without relay addresses: refused with the key. */
	p = write_conf("listen = [\"*:3478\"]\nrealm = \"r\"\nsecret = \"x\"\n");
	c = config_load(p, &e);
	unlink(p);
	CHECK(c == NULL);
	CHECK(strstr(e.msg, "address_v4") != NULL);

	/* No credentials. */
	p = write_conf("listen = [\"127.0.0.1:3478\"]\nrealm = \"r\"\n");
	c = config_load(p, &e);
	unlink(p);
	CHECK(c == NULL);
	CHECK(strstr(e.msg, "no credentials") != NULL);

	/* Bad peer prefix names file, line and key. */
	p = write_conf("listen = [\"127.0.0.1:3478\"]\nrealm = \"r\"\nsecret = \"x\"\n"
	    "[relay]\nallow_peers = [\"10.0.0.0/99\"]\n");
	c = config_load(p, &e);
	unlink(p);
	CHECK(c == NULL);
	CHECK(strstr(e.msg, ":5: relay.allow_peers: ") != NULL);
}

struct item {
	struct hnode node;
	int v;
};

TEST(turnd_hash)
{
	struct hash h;
	struct item items[1000];
	size_t found = 0;

	hash_init(&h);
	for (int i = 0; i < 1000; i++) {
		items[i].v = i;
		hash_insert(&h, &items[i].node, hash_bytes(&i, sizeof(i), 7));
	}
	CHECK_INT(h.n, 1000);
	CHECK(h.mask >= 1023);
	for (int i = 0; i < 1000; i += 2)
		hash_remove(&h, &items[i].node);
	for (int i = 0; i < 1000; i++) {
		uint32_t k = hash_bytes(&i, sizeof(i), 7);

		for (struct hnode *n = hash_first(&h, k); n; n = hash_next(n, k))
			if (container_of(n, struct item, node)->v == i)
				found++;
	}
	CHECK_INT(found, 500);
	hash_free(&h);
}

#include "../../turnd/mac.h"
#include "crypto.h"

static void
hexeq(const uint8_t *got, size_t len, const char *want)
{
	char h[2 * MAC_MAX_LEN + 1];

	hex_encode(got, len, h);
	if (strcmp(h, want) != 0)
		t_fail(__FILE__, __LINE__, "%s, expected %s", h, want);
}

TEST(turnd_mac_vectors)
{
	uint8_t k[80], out[MAC_MAX_LEN];
	const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
	struct iovec none = { (void *)"", 0 };

	/* RFC 2202 §3 cases 1 and 6, RFC 4231 §4.2 case 1. */
	memset(k, 0x0b, 20);
	CHECK_INT(mac_hmac(MAC_SHA1, k, 20, "Hi There", 8, out), 20);
	hexeq(out, 20, "b617318655057264e28bc0b6fb378c8ef146be00");
	memset(k, 0xaa, 80);
	CHECK_INT(mac_hmac(MAC_SHA1, k, 80, d6, strlen(d6), out), 20);
	hexeq(out, 20, "aa4ae5e15272d00e95705637ce8a3b55ed402112");
	memset(k, 0x0b, 20);
	CHECK_INT(mac_hmac(MAC_SHA256, k, 20, "Hi There", 8, out), 32);
	hexeq(out, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	CHECK_INT(mac_digest(MAC_MD5, &none, 1, out), 16);
	hexeq(out, 16, "d41d8cd98f00b204e9800998ecf8427e");
}
