/*
 * Unit tests for common/nft.c: rules are built into netlink messages and
 * parsed back with libnftnl, no kernel involved (as libnftnl's own tests
 * do); batches are walked message by message.
 */
#include "t.h"
#include "nft.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdlib.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

static struct nft_rulespec
dnat_spec(void)
{
	struct nft_rulespec s = {
		.chain = "prerouting", .family = AF_INET6,
		.l4proto = IPPROTO_TCP, .has_daddr = true,
		.dport_min = 443, .dport_max = 443,
		.action = NFT_ACT_DNAT, .to_port = 5223,
		.comment = "xmpps", .tag = 7,
	};

	nft_ip_parse("2001:db8::2", &s.daddr);
	nft_ip_parse("2001:db8::1", &s.to);
	return s;
}

/* Serialises r into a NEWRULE message and parses it into a fresh rule. */
static struct nftnl_rule *
roundtrip(struct nftnl_rule *r, char *buf)
{
	struct nlmsghdr *nlh;
	struct nftnl_rule *back = nftnl_rule_alloc();

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_INET,
	    NLM_F_CREATE | NLM_F_ACK, 42);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	if (back && nftnl_rule_nlmsg_parse(nlh, back) < 0) {
		nftnl_rule_free(back);
		return NULL;
	}
	return back;
}

/* Expression names of r joined by spaces. */
static void
expr_names(struct nftnl_rule *r, char *out, size_t len)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	size_t off = 0;

	out[0] = '\0';
	while (it && (e = nftnl_expr_iter_next(it)) != NULL)
		off += (size_t)snprintf(out + off, len - off, "%s%s",
		    off ? " " : "", nftnl_expr_get_str(e, NFTNL_EXPR_NAME));
	if (it)
		nftnl_expr_iter_destroy(it);
}

static struct nftnl_expr *
nth_expr(struct nftnl_rule *r, int n)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e = NULL;

	while (it && n-- >= 0)
		e = nftnl_expr_iter_next(it);
	if (it)
		nftnl_expr_iter_destroy(it);
	return e;
}

TEST(nft_rule_dnat6_roundtrip)
{
	static char buf[8192];
	struct nft_rulespec s = dnat_spec();
	struct nftnl_rule *r = nft_rule_build("portmap", &s), *back;
	struct nftnl_expr *e;
	char names[256];
	const uint8_t *d;
	uint32_t len;

	CHECK(r != NULL);
	back = roundtrip(r, buf);
	nftnl_rule_free(r);
	CHECK(back != NULL);
	CHECK_STR(nftnl_rule_get_str(back, NFTNL_RULE_TABLE), "portmap");
	CHECK_STR(nftnl_rule_get_str(back, NFTNL_RULE_CHAIN), "prerouting");
	expr_names(back, names, sizeof(names));
	CHECK_STR(names, "meta cmp meta cmp payload cmp payload cmp counter "
	    "immediate immediate nat");
	/* ip6 daddr: network header offset 24, 16 bytes */
	e = nth_expr(back, 4);
	CHECK_INT(nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET), 24);
	CHECK_INT(nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN), 16);
	e = nth_expr(back, 7);
	d = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len);
	CHECK_INT(len, 2);
	CHECK_INT(d[0] << 8 | d[1], 443);
	e = nth_expr(back, 11);
	CHECK_INT(nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_TYPE), NFT_NAT_DNAT);
	CHECK_INT(nftnl_expr_get_u32(e, NFTNL_EXPR_NAT_FAMILY), NFPROTO_IPV6);
	CHECK(nftnl_expr_is_set(e, NFTNL_EXPR_NAT_REG_PROTO_MIN));
	e = nth_expr(back, 10);
	d = nftnl_expr_get(e, NFTNL_EXPR_IMM_DATA, &len);
	CHECK_INT(len, 2);
	CHECK_INT(d[0] << 8 | d[1], 5223);
	nftnl_rule_free(back);
}

TEST(nft_rule_comment_and_counter_parse)
{
	static char buf[8192];
	struct nft_rulespec s = dnat_spec();
	struct nftnl_rule *r = nft_rule_build("portmap", &s);
	struct nft_live_rule lr;
	struct nlmsghdr *nlh;

	CHECK(r != NULL);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_INET, 0, 1);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	CHECK_INT(nft_live_rule_from_nlmsg(nlh, &lr), 0);
	CHECK_STR(lr.chain, "prerouting");
	CHECK_STR(lr.comment, "xmpps");
	CHECK(lr.has_counter);
	CHECK_INT(lr.packets, 0);
}

TEST(nft_rule_postrouting_v4)
{
	static char buf[8192];
	struct nft_rulespec s = {
		.chain = "postrouting", .family = AF_INET,
		.l4proto = IPPROTO_UDP, .has_daddr = true, .ct_dnat = true,
		.dport_min = 3478, .dport_max = 3480, .action = NFT_ACT_MASQ,
	};
	struct nftnl_rule *r, *back;
	char names[256], text[512];

	nft_ip_parse("192.0.2.1", &s.daddr);
	CHECK((r = nft_rule_build("t", &s)) != NULL);
	back = roundtrip(r, buf);
	nftnl_rule_free(r);
	CHECK(back != NULL);
	expr_names(back, names, sizeof(names));
	CHECK_STR(names, "meta cmp meta cmp ct bitwise cmp payload cmp "
	    "payload cmp cmp counter masq");
	nftnl_rule_free(back);
	CHECK_STR(nft_rule_format(&s, text, sizeof(text)),
	    "meta nfproto ipv4 meta l4proto udp ct status dnat ip daddr "
	    "192.0.2.1 th dport 3478-3480 counter masquerade");
}

TEST(nft_rule_format_forms)
{
	struct nft_rulespec s = dnat_spec();
	char text[512];

	CHECK_STR(nft_rule_format(&s, text, sizeof(text)),
	    "meta nfproto ipv6 meta l4proto tcp ip6 daddr 2001:db8::2 "
	    "th dport 443 counter dnat ip6 to [2001:db8::1]:5223 "
	    "comment \"xmpps\"");
	s.family = s.to.family = s.daddr.family = AF_INET;
	nft_ip_parse("192.0.2.1", &s.to);
	s.has_daddr = false;
	s.fib_local = true;
	s.chain = "output";
	CHECK_STR(nft_rule_format(&s, text, sizeof(text)),
	    "meta nfproto ipv4 meta l4proto tcp fib daddr type local "
	    "th dport 443 counter dnat ip to 192.0.2.1:5223 comment \"xmpps\"");
	s.fib_local = false;
	s.ct_orig = true;
	s.ct_dnat = true;
	s.has_daddr = true;
	s.daddr = s.to;
	s.action = NFT_ACT_ACCEPT;
	s.comment = NULL;
	CHECK_STR(nft_rule_format(&s, text, sizeof(text)),
	    "meta nfproto ipv4 meta l4proto tcp ct status dnat ct original ip "
	    "daddr 192.0.2.1 ct original proto-dst 443 counter accept");
	s.action = NFT_ACT_SNAT;
	nft_ip_parse("198.51.100.1", &s.to);
	s.ct_orig = false;
	s.has_daddr = false;
	s.dport_min = 0;
	CHECK_STR(nft_rule_format(&s, text, sizeof(text)),
	    "meta nfproto ipv4 meta l4proto tcp ct status dnat counter "
	    "snat ip to 198.51.100.1");
}

TEST(nft_rule_rejects_inconsistent)
{
	struct nft_rulespec s = dnat_spec();

	nft_ip_parse("192.0.2.1", &s.to);	/* v4 target in a v6 rule */
	CHECK(nft_rule_build("t", &s) == NULL);
	s = dnat_spec();
	s.l4proto = 0;			/* port without protocol */
	CHECK(nft_rule_build("t", &s) == NULL);
	s = dnat_spec();
	s.family = 0;
	CHECK(nft_rule_build("t", &s) == NULL);
}

TEST(nft_batch_replace_layout)
{
	struct nft_chainspec ch[] = {
		{ "prerouting", NFT_CHAIN_NAT_PREROUTING },
		{ "output", NFT_CHAIN_NAT_OUTPUT },
	};
	struct nft_rulespec r[2] = { dnat_spec(), dnat_spec() };
	struct nft_batch b;
	const struct nlmsghdr *nlh;
	uint16_t want[] = { NFNL_MSG_BATCH_BEGIN,
	    NFT_MSG_NEWTABLE, NFT_MSG_DELTABLE, NFT_MSG_NEWTABLE,
	    NFT_MSG_NEWCHAIN, NFT_MSG_NEWCHAIN, NFT_MSG_NEWRULE,
	    NFT_MSG_NEWRULE, NFNL_MSG_BATCH_END };
	int left, i = 0;

	r[1].chain = "output";
	r[1].tag = 9;
	CHECK_INT(nft_batch_init(&b, 1000), 0);
	CHECK_INT(nft_batch_replace(&b, "portmap", ch, 2, r, 2), 0);
	CHECK_INT(b.nmsg, 7);
	CHECK_INT(b.tags[0], NFT_TAG_NONE);
	CHECK_INT(b.tags[5], 7);
	CHECK_INT(b.tags[6], 9);
	left = (int)b.len;
	for (nlh = (const struct nlmsghdr *)(void *)b.buf; mnl_nlmsg_ok(nlh, left);
	    nlh = mnl_nlmsg_next(nlh, &left), i++) {
		uint16_t type = nlh->nlmsg_type;

		if (i > 0 && i < 8) {
			CHECK_INT(type >> 8, NFNL_SUBSYS_NFTABLES);
			type &= 0xff;
			CHECK(nlh->nlmsg_flags & NLM_F_ACK);
		}
		CHECK(i < 9);
		CHECK_INT(type, want[i]);
		CHECK_INT(nlh->nlmsg_seq, 1000u + (unsigned)i);
	}
	CHECK_INT(i, 9);
	CHECK_INT(left, 0);
	/* A second end, or messages after the end, are refused. */
	CHECK_INT(nft_batch_end(&b), -1);
	CHECK_INT(nft_batch_rule(&b, "portmap", &r[0]), -1);
	nft_batch_free(&b);
}

TEST(nft_batch_flush_only_deletes)
{
	struct nft_batch b;

	CHECK_INT(nft_batch_init(&b, 1), 0);
	CHECK_INT(nft_batch_replace(&b, "portmap", NULL, 0, NULL, 0), 0);
	CHECK_INT(b.nmsg, 2);
	CHECK_INT(b.types[0], NFT_MSG_NEWTABLE);
	CHECK_INT(b.types[1], NFT_MSG_DELTABLE);
	nft_batch_free(&b);
}

TEST(nft_batch_grows)
{
	struct nft_chainspec ch = { "prerouting", NFT_CHAIN_NAT_PREROUTING };
	struct nft_rulespec *r = calloc(3000, sizeof(*r));
	struct nft_batch b;
	size_t i;

	CHECK(r != NULL);
	for (i = 0; i < 3000; i++) {
		r[i] = dnat_spec();
		r[i].tag = (int)i;
	}
	CHECK_INT(nft_batch_init(&b, 5), 0);
	CHECK_INT(nft_batch_replace(&b, "portmap", &ch, 1, r, 3000), 0);
	CHECK_INT(b.nmsg, 3004);
	CHECK_INT(b.tags[3003], 2999);
	nft_batch_free(&b);
	free(r);
}

TEST(nft_ip_forms)
{
	struct nft_ip a, b;
	char buf[64];

	CHECK_INT(nft_ip_parse("192.0.2.1", &a), 0);
	CHECK_INT(a.family, AF_INET);
	CHECK_INT(nft_ip_parse("2001:db8::1", &b), 0);
	CHECK_STR(nft_ip_format(&b, buf, sizeof(buf)), "2001:db8::1");
	CHECK(!nft_ip_equal(&a, &b));
	CHECK_INT(nft_ip_parse("[2001:db8::1]", &a), -1);
	CHECK_INT(nft_ip_parse("192.0.2.1:5", &a), -1);
	CHECK_INT(nft_ip_parse("example.org", &a), -1);
}

/* Appends an ack (NLMSG_ERROR) for seq with error (negative errno) to buf. */
static int
put_ack(char *buf, int off, uint32_t seq, int error)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)(void *)(buf + off);
	struct nlmsgerr *e;

	memset(nlh, 0, NLMSG_SPACE(sizeof(*e)));
	nlh->nlmsg_len = NLMSG_LENGTH(sizeof(*e));
	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_flags = NLM_F_CAPPED;
	nlh->nlmsg_seq = seq;
	e = mnl_nlmsg_get_payload(nlh);
	e->error = error;
	e->msg.nlmsg_seq = seq;
	return off + (int)NLMSG_SPACE(sizeof(*e));
}

TEST(nft_acks_map_to_tags)
{
	struct nft_chainspec ch = { "prerouting", NFT_CHAIN_NAT_PREROUTING };
	struct nft_rulespec r[3] = { dnat_spec(), dnat_spec(), dnat_spec() };
	static char buf[4096];
	struct nft_result res;
	struct nft_batch b;
	int off = 0;
	uint32_t i;

	r[0].tag = 10;
	r[1].tag = 11;
	r[2].tag = 12;
	CHECK_INT(nft_batch_init(&b, 500), 0);
	CHECK_INT(nft_batch_replace(&b, "t", &ch, 1, r, 3), 0);
	CHECK_INT(b.nmsg, 7);	/* table x3, chain, 3 rules */
	memset(&res, 0, sizeof(res));
	/* a stale ack from an earlier request is ignored */
	off = put_ack(buf, off, 499, -ENOENT);
	for (i = 1; i <= b.nmsg; i++)
		off = put_ack(buf, off, 500 + i, i == 6 ? -EOPNOTSUPP :
		    i == 7 ? -EINVAL : 0);
	CHECK(!nft_batch_acks(&b, &res, buf, off));
	CHECK_INT(res.acked, 7);
	CHECK_INT(res.nerr, 2);
	CHECK_INT(res.first.error, EOPNOTSUPP);
	CHECK_INT(res.first.tag, 11);	/* the second rule */
	CHECK_INT(res.first.type, NFT_MSG_NEWRULE);
	CHECK_INT(res.first.seq, 506);
	/* the batch refused as a whole: an error for BEGIN */
	memset(&res, 0, sizeof(res));
	off = put_ack(buf, 0, 500, -EPERM);
	CHECK(nft_batch_acks(&b, &res, buf, off));
	CHECK_INT(res.first.tag, NFT_TAG_NONE);
	CHECK_INT(res.first.type, NFNL_MSG_BATCH_BEGIN);
	CHECK_INT(res.first.error, EPERM);
	/* a truncated datagram is not read past its end */
	memset(&res, 0, sizeof(res));
	off = put_ack(buf, 0, 503, -EINVAL);
	CHECK(!nft_batch_acks(&b, &res, buf, off - 1));
	CHECK_INT(res.acked, 0);
	nft_batch_free(&b);
}

TEST(nft_batch_update_layout_and_genid)
{
	struct nft_chainspec ch[] = {
		{ "prerouting", NFT_CHAIN_NAT_PREROUTING },
		{ "forward", NFT_CHAIN_FILTER_FORWARD },
	};
	struct nft_rulespec r = dnat_spec();
	const char *drop[] = { "stray" };
	uint16_t want[] = { NFT_MSG_NEWTABLE, NFT_MSG_NEWCHAIN, NFT_MSG_NEWCHAIN,
	    NFT_MSG_DELRULE, NFT_MSG_DELCHAIN, NFT_MSG_NEWRULE };
	const struct nlmsghdr *nlh;
	const struct nlattr *a;
	struct nft_batch b;
	uint32_t i;
	int left;

	CHECK_INT(nft_batch_init(&b, 77), 0);
	CHECK_INT(nft_batch_set_genid(&b, 4242), 0);
	CHECK_INT(nft_batch_update(&b, "portmap", ch, 2, &r, 1, drop, 1), 0);
	CHECK_INT(b.nmsg, 6);
	for (i = 0; i < b.nmsg; i++)
		CHECK_INT(b.types[i], want[i]);
	CHECK_INT(b.tags[5], 7);
	/* BEGIN carries the generation (big-endian NFNL_BATCH_GENID) */
	nlh = (const struct nlmsghdr *)(void *)b.buf;
	CHECK_INT(nlh->nlmsg_type, NFNL_MSG_BATCH_BEGIN);
	a = mnl_nlmsg_get_payload_offset(nlh, sizeof(struct nfgenmsg));
	CHECK_INT(mnl_attr_get_type(a), NFNL_BATCH_GENID);
	CHECK_INT(ntohl(mnl_attr_get_u32(a)), 4242);
	/* every message is well formed and in sequence */
	left = (int)b.len;
	for (i = 0; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left), i++)
		CHECK_INT(nlh->nlmsg_seq, 77u + i);
	CHECK_INT(i, 8);
	CHECK_INT(left, 0);
	/* the generation can only be set right after init */
	CHECK_INT(nft_batch_set_genid(&b, 1), -1);
	nft_batch_free(&b);
}

TEST(nft_rule_matches_roundtrip)
{
	static char buf[8192];
	struct nft_rulespec s = dnat_spec(), t;
	struct nftnl_rule *r = nft_rule_build("portmap", &s), *back;
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;

	CHECK(r != NULL);
	back = roundtrip(r, buf);
	nftnl_rule_free(r);
	CHECK(back != NULL);
	CHECK(nft_rule_matches(back, "portmap", &s));
	/* live counter values do not matter */
	it = nftnl_expr_iter_create(back);
	while ((e = nftnl_expr_iter_next(it)) != NULL)
		if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "counter") == 0)
			nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_PACKETS, 12345);
	nftnl_expr_iter_destroy(it);
	CHECK(nft_rule_matches(back, "portmap", &s));
	/* anything else does */
	t = s;
	t.to_port = 5224;
	CHECK(!nft_rule_matches(back, "portmap", &t));
	t = s;
	t.comment = "other";
	CHECK(!nft_rule_matches(back, "portmap", &t));
	t = s;
	t.chain = "output";
	CHECK(!nft_rule_matches(back, "portmap", &t));
	t = s;
	t.dport_max = 444;
	CHECK(!nft_rule_matches(back, "portmap", &t));
	t = s;
	nft_ip_parse("2001:db8::3", &t.daddr);
	CHECK(!nft_rule_matches(back, "portmap", &t));
	nftnl_rule_free(back);
}
