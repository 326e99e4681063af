/*
 * Unit tests for dumbclient-redirect: DNS answer parsing (SRV choice,
 * A/AAAA with CNAMEs, TTLs, malformed answers), config, and the rules for
 * a target.
 */
#include "t.h"
#include "../../dumbclient-redirect/config.h"
#include "../../dumbclient-redirect/resolve.h"
#include "../../dumbclient-redirect/rules.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <unistd.h>

struct msg {
	unsigned char b[1024];
	int len;
	int ancount;
};

static void
put(struct msg *m, const void *p, int n)
{
	memcpy(m->b + m->len, p, (size_t)n);
	m->len += n;
}

static void
put16(struct msg *m, unsigned v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	put(m, b, 2);
}

static void
put32(struct msg *m, unsigned long v)
{
	put16(m, (unsigned)(v >> 16));
	put16(m, (unsigned)(v & 0xffff));
}

static void
put_name(struct msg *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		int n = dot ? (int)(dot - name) : (int)strlen(name);
		unsigned char l = (unsigned char)n;

		put(m, &l, 1);
		put(m, name, n);
		name += n + (dot ? 1 : 0);
	}
	put(m, "", 1);
}

static void
begin(struct msg *m, const char *qname, unsigned qtype)
{
	memset(m, 0, sizeof(*m));
	put16(m, 0x1234);
	put16(m, 0x8180);
	put16(m, 1);
	put16(m, 0);	/* ancount, patched in end() */
	put16(m, 0);
	put16(m, 0);
	put_name(m, qname);
	put16(m, qtype);
	put16(m, 1);
}

/* An answer record owned by the question name (pointer 0xc00c). */
static void
rr(struct msg *m, unsigned type, unsigned long ttl, const void *rdata, int rdlen)
{
	put16(m, 0xc00c);
	put16(m, type);
	put16(m, 1);
	put32(m, ttl);
	put16(m, (unsigned)rdlen);
	put(m, rdata, rdlen);
	m->ancount++;
	m->b[6] = (unsigned char)(m->ancount >> 8);
	m->b[7] = (unsigned char)m->ancount;
}

static void
srv(struct msg *m, unsigned long ttl, unsigned prio, unsigned weight,
    unsigned port, const char *target)
{
	struct msg rd = { .len = 0 };

	put16(&rd, prio);
	put16(&rd, weight);
	put16(&rd, port);
	put_name(&rd, target);
	rr(m, 33, ttl, rd.b, rd.len);
}

TEST(redirect_srv_best_record)
{
	struct msg m;
	char host[256];
	uint16_t port = 0;
	uint32_t ttl = 0;

	begin(&m, "_xmpp-client._tcp.example.org", 33);
	srv(&m, 300, 20, 100, 5222, "backup.example.org");
	srv(&m, 60, 10, 1, 5222, "low.example.org");
	srv(&m, 120, 10, 50, 5223, "xmpp.example.org");
	CHECK_INT(resolve_parse_srv(m.b, m.len, host, sizeof(host), &port, &ttl), 0);
	CHECK_STR(host, "xmpp.example.org");
	CHECK_INT(port, 5223);
	CHECK_INT(ttl, 120);
}

TEST(redirect_srv_target_never_truncated)
{
	struct msg m, rd = { .len = 0 };
	char label[64], name[3 * 64], host[256];
	uint16_t port = 0;
	uint32_t ttl = 0;

	/*
	 * 193 bytes on the wire, 759 in presentation form (each byte \001):
	 * cut to fit host, it would name another host.  Skipped instead.
	 */
	memset(label, 1, 63);
	label[63] = '\0';
	snprintf(name, sizeof(name), "%s.%s.%s", label, label, label);
	begin(&m, "_xmpp-client._tcp.example.org", 33);
	srv(&m, 300, 0, 0, 5222, name);
	srv(&m, 300, 10, 0, 5223, "xmpp.example.org");
	CHECK_INT(resolve_parse_srv(m.b, m.len, host, sizeof(host), &port, &ttl), 0);
	CHECK_STR(host, "xmpp.example.org");
	CHECK_INT(port, 5223);
	/* A target that does not end where the record does is malformed. */
	begin(&m, "_xmpp-client._tcp.example.org", 33);
	put16(&rd, 0);
	put16(&rd, 0);
	put16(&rd, 5222);
	put_name(&rd, "evil.example.org");
	put16(&rd, 0);
	rr(&m, 33, 300, rd.b, rd.len);
	srv(&m, 300, 10, 0, 5223, "xmpp.example.org");
	CHECK_INT(resolve_parse_srv(m.b, m.len, host, sizeof(host), &port, &ttl), 0);
	CHECK_STR(host, "xmpp.example.org");
}

TEST(redirect_srv_dot_means_no_service)
{
	struct msg m;
	char host[256];
	uint16_t port;
	uint32_t ttl;

	begin(&m, "_xmpp-server._tcp.example.org", 33);
	srv(&m, 300, 0, 0, 0, "");
	CHECK_INT(resolve_parse_srv(m.b, m.len, host, sizeof(host), &port, &ttl), 1);
	begin(&m, "_xmpp-server._tcp.example.org", 33);
	CHECK_INT(resolve_parse_srv(m.b, m.len, host, sizeof(host), &port, &ttl), -1);
}

TEST(redirect_addr_answers)
{
	struct msg m;
	struct nft_ip ip;
	unsigned char a[4] = { 192, 0, 2, 7 }, aaaa[16] = { 0x20, 0x01, 0x0d, 0xb8 };
	uint32_t ttl = 0;
	char buf[64];

	begin(&m, "xmpp.example.org", 1);
	rr(&m, 5, 30, "\4xmpp\3net\0", 10);	/* a CNAME first */
	rr(&m, 1, 42, a, 4);
	CHECK_INT(resolve_parse_addr(m.b, m.len, AF_INET, &ip, &ttl), 0);
	CHECK_STR(nft_ip_format(&ip, buf, sizeof(buf)), "192.0.2.7");
	CHECK_INT(ttl, 42);
	CHECK_INT(resolve_parse_addr(m.b, m.len, AF_INET6, &ip, &ttl), -1);
	begin(&m, "xmpp.example.org", 28);
	aaaa[15] = 1;
	rr(&m, 28, 7, aaaa, 16);
	rr(&m, 28, 7, a, 4);		/* wrong length: ignored */
	CHECK_INT(resolve_parse_addr(m.b, m.len, AF_INET6, &ip, &ttl), 0);
	CHECK_STR(nft_ip_format(&ip, buf, sizeof(buf)), "2001:db8::1");
}

TEST(redirect_malformed_answers)
{
	struct msg m;
	struct nft_ip ip;
	char host[256];
	uint16_t port;
	uint32_t ttl;
	int cut;

	begin(&m, "_xmpp-client._tcp.example.org", 33);
	srv(&m, 300, 0, 0, 5222, "xmpp.example.org");
	/* every truncation is refused, never read past the end */
	for (cut = 0; cut < m.len; cut++) {
		unsigned char *copy = malloc((size_t)cut + 1);

		memcpy(copy, m.b, (size_t)cut);
		CHECK(resolve_parse_srv(copy, cut, host, sizeof(host), &port,
		    &ttl) != 0);
		CHECK(resolve_parse_addr(copy, cut, AF_INET, &ip, &ttl) == -1);
		free(copy);
	}
	/* a compression pointer loop */
	begin(&m, "x", 33);
	put16(&m, 0xc000 | (unsigned)m.len);
	CHECK(resolve_parse_srv(m.b, m.len, host, sizeof(host), &port, &ttl) != 0);
}

static struct redirect_conf *
conf_text(const char *text, struct conf_err *e)
{
	char path[] = "/tmp/edge-redirect-unit-XXXXXX";
	int fd = mkstemp(path);
	struct redirect_conf *c;

	if (fd < 0)
		return NULL;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		unlink(path);
		return NULL;
	}
	close(fd);
	c = redirect_conf_load(path, e);
	unlink(path);
	return c;
}

TEST(redirect_rules_for_target)
{
	struct conf_err e;
	struct redirect_conf *c = conf_text(
	    "ports = [\"5222\", \"5269\", \"5223\"]\n"
	    "listen = [\"198.51.100.1\"]\n"
	    "target = [\"192.0.2.1\", \"2001:db8::1\"]\n"
	    "snat_to = [\"198.51.100.1\"]\n", &e);
	char comments[REDIRECT_MAX_PORTS][32], buf[512];
	struct redirect_target t;
	struct nft_rulespec *r;
	size_t n;

	if (c == NULL) {
		t_fail(__FILE__, __LINE__, "%s", e.msg);
		return;
	}
	CHECK(c->has_static);
	t = c->target;
	nft_ip_parse("192.0.2.5", &t.server4);
	memset(&t.server6, 0, sizeof(t.server6));
	CHECK_INT(redirect_rules(c, &t, &r, &n, comments), 0);
	/* prerouting: v4 only (one listen address); postrouting and forward:
	   v4+v6 for 5222/5223, v4 for 5269 */
	CHECK_INT(n, 3 + 5 + 5);
	CHECK_STR(nft_rule_format(&r[1], buf, sizeof(buf)),
	    "meta nfproto ipv4 meta l4proto tcp ip daddr 198.51.100.1 th dport "
	    "5269 counter dnat ip to 192.0.2.5:5269 comment \"xmpp-server:5269\"");
	CHECK_INT(r[1].tag, 1);
	CHECK_STR(nft_rule_format(&r[3], buf, sizeof(buf)),
	    "meta nfproto ipv4 meta l4proto tcp ct status dnat ip daddr 192.0.2.1 "
	    "th dport 5222 counter snat ip to 198.51.100.1 comment \"xmpp-client:5222\"");
	/* no IPv6 source configured: masquerade */
	CHECK(r[4].action == NFT_ACT_MASQ);
	free(r);
	/* SRV ports: 5222 and 5269 go where the records say, 5223 stays */
	t.client_port = 15222;
	t.server_port = 15269;
	CHECK_INT(redirect_rules(c, &t, &r, &n, comments), 0);
	CHECK_INT(r[0].dport_min, 5222);
	CHECK_INT(r[0].to_port, 15222);
	CHECK_INT(r[1].to_port, 15269);
	CHECK_INT(r[2].to_port, 5223);
	CHECK_INT(r[3].dport_min, 15222);	/* postrouting matches the new port */
	free(r);
	redirect_conf_free(c);
}

TEST(redirect_config_refusals)
{
	struct conf_err e;
	struct redirect_conf *c;

	c = conf_text("domain = \"example.org\"\ntarget = [\"192.0.2.1\"]\n", &e);
	CHECK(c == NULL);
	CHECK(strstr(e.msg, "either target or domain") != NULL);
	c = conf_text("domain = \"exa mple\"\n", &e);
	CHECK(c == NULL && strstr(e.msg, "domain") != NULL);
	c = conf_text("domain = \"example.org\"\nnameserver = \"[::1]:53\"\n", &e);
	CHECK(c == NULL && strstr(e.msg, "nameserver") != NULL);
	c = conf_text("domain = \"example.org\"\nmin_ttl = \"2h\"\nmax_ttl = \"1h\"\n", &e);
	CHECK(c == NULL && strstr(e.msg, "max_ttl") != NULL);
	c = conf_text("target = [\"192.0.2.1\"]\nports = [\"5222\", \"5222\"]\n", &e);
	CHECK(c == NULL && strstr(e.msg, "listed twice") != NULL);
	c = conf_text("domain = \"example.org\"\nnameserver = \"127.0.0.1:5353\"\n", &e);
	CHECK(c != NULL);
	CHECK(c->has_nameserver);
	CHECK_INT(ntohs(c->nameserver.sin_port), 5353);
	CHECK_INT(c->nports, 2);
	CHECK_INT(c->min_ttl, 30);
	redirect_conf_free(c);
}

TEST(redirect_target_compare)
{
	struct redirect_target a, b;
	char buf[256];

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	CHECK(redirect_target_empty(&a));
	nft_ip_parse("192.0.2.1", &a.client4);
	CHECK(!redirect_target_equal(&a, &b));
	b = a;
	CHECK(redirect_target_equal(&a, &b));
	nft_ip_parse("192.0.2.2", &b.server4);
	CHECK(!redirect_target_equal(&a, &b));
	CHECK_STR(redirect_target_str(&b, buf, sizeof(buf)),
	    "c2s 192.0.2.1, s2s 192.0.2.2");
	nft_ip_parse("2001:db8::1", &b.client6);
	memset(&b.server4, 0, sizeof(b.server4));
	CHECK_STR(redirect_target_str(&b, buf, sizeof(buf)),
	    "c2s 192.0.2.1 2001:db8::1, s2s none");
	memset(&b.client4, 0, sizeof(b.client4));
	CHECK_STR(redirect_target_str(&b, buf, sizeof(buf)),
	    "c2s 2001:db8::1, s2s none");
	a = b;
	b.client_port = 15222;
	CHECK(!redirect_target_equal(&a, &b));
	CHECK_STR(redirect_target_str(&b, buf, sizeof(buf)),
	    "c2s 2001:db8::1 port 15222, s2s none");
}

TEST(redirect_random_answers_never_crash)
{
	unsigned char buf[600];
	struct nft_ip ip;
	char host[256];
	uint16_t port;
	uint32_t ttl, seed = 12345;
	int i, j, len;
	struct msg m;

	/* Mutations of a valid answer, then plain noise (run under ASan). */
	begin(&m, "_xmpp-client._tcp.example.org", 33);
	srv(&m, 300, 0, 0, 5222, "xmpp.example.org");
	for (i = 0; i < 20000; i++) {
		seed = seed * 1103515245u + 12345u;
		if (i < 10000) {
			memcpy(buf, m.b, (size_t)m.len);
			len = m.len;
			for (j = 0; j < 1 + (int)(seed >> 28); j++) {
				seed = seed * 1103515245u + 12345u;
				buf[(seed >> 8) % (unsigned)len] = (unsigned char)(seed >> 24);
			}
		} else {
			len = (int)((seed >> 16) % sizeof(buf));
			for (j = 0; j < len; j++) {
				seed = seed * 1103515245u + 12345u;
				buf[j] = (unsigned char)(seed >> 24);
			}
		}
		host[0] = '\0';
		if (resolve_parse_srv(buf, len, host, sizeof(host), &port, &ttl) == 0)
			CHECK(strlen(host) < sizeof(host));
		resolve_parse_addr(buf, len, AF_INET, &ip, &ttl);
		resolve_parse_addr(buf, len, AF_INET6, &ip, &ttl);
	}
}
