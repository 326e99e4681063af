/*
 * nft — rule vocabulary, batches and sessions for nf_tables.  See nft.h.
 *
 * Shaped after nftables' src/mnl.c and libnftnl's examples: every change
 * is one NFNL_MSG_BATCH_BEGIN ... END transaction, every message carries
 * NLM_F_ACK, and every ack is read back and matched to its message by
 * sequence number.  The kernel delivers the acks of a batch only after
 * processing all of it, so the receive buffer is sized for all of them
 * (and NETLINK_CAP_ACK keeps error acks from echoing whole messages).
 */
#include "nft.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

/* Room reserved for one message; our largest rule is well under 1 KiB. */
#define NFT_MSG_ROOM 8192
/* How long the kernel may take to answer a batch or a dump. */
#define NFT_ACK_TIMEOUT_MS 30000

/* --- addresses ---------------------------------------------------------- */

int
nft_ip_parse(const char *s, struct nft_ip *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, &out->u.v4) == 1) {
		out->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &out->u.v6) == 1) {
		out->family = AF_INET6;
		return 0;
	}
	return -1;
}

const char *
nft_ip_format(const struct nft_ip *ip, char *buf, size_t len)
{
	if (inet_ntop(ip->family, ip->u.b, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

bool
nft_ip_equal(const struct nft_ip *a, const struct nft_ip *b)
{
	if (a->family != b->family)
		return false;
	return memcmp(a->u.b, b->u.b, a->family == AF_INET ? 4 : 16) == 0;
}

static uint32_t
ip_len(const struct nft_ip *ip)
{
	return ip->family == AF_INET ? 4 : 16;
}

/* --- rule building ------------------------------------------------------- */

static int
add_expr(struct nftnl_rule *r, struct nftnl_expr *e)
{
	if (e == NULL)
		return -1;
	nftnl_rule_add_expr(r, e);
	return 0;
}

static int
add_meta(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (e == NULL)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	return add_expr(r, e);
}

static int
add_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (e == NULL)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	return add_expr(r, e);
}

static int
add_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (e == NULL)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	return add_expr(r, e);
}

static int
add_ct(struct nftnl_rule *r, uint32_t key, bool original)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");

	if (e == NULL)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	if (original)
		nftnl_expr_set_u8(e, NFTNL_EXPR_CT_DIR, IP_CT_DIR_ORIGINAL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	return add_expr(r, e);
}

static int
add_imm(struct nftnl_rule *r, uint32_t reg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e == NULL)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, reg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
	return add_expr(r, e);
}

static int
add_dport(struct nftnl_rule *r, const struct nft_rulespec *s)
{
	uint16_t lo = htons(s->dport_min), hi = htons(s->dport_max);

	if (s->ct_orig) {
		if (add_ct(r, NFT_CT_PROTO_DST, true) < 0)
			return -1;
	} else if (add_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2) < 0) {
		return -1;
	}
	if (s->dport_max == s->dport_min)
		return add_cmp(r, NFT_CMP_EQ, &lo, 2);
	/* Big-endian bytes compare like the numbers (memcmp in the kernel). */
	if (add_cmp(r, NFT_CMP_GTE, &lo, 2) < 0)
		return -1;
	return add_cmp(r, NFT_CMP_LTE, &hi, 2);
}

static int
add_daddr(struct nftnl_rule *r, const struct nft_rulespec *s)
{
	bool v4 = s->daddr.family == AF_INET;
	int rc;

	if (s->ct_orig)
		rc = add_ct(r, v4 ? NFT_CT_DST_IP : NFT_CT_DST_IP6, true);
	else
		rc = add_payload(r, NFT_PAYLOAD_NETWORK_HEADER, v4 ? 16 : 24,
		    v4 ? 4 : 16);
	if (rc < 0)
		return -1;
	return add_cmp(r, NFT_CMP_EQ, s->daddr.u.b, ip_len(&s->daddr));
}

static int
add_fib_local(struct nftnl_rule *r)
{
	struct nftnl_expr *e = nftnl_expr_alloc("fib");
	uint32_t local = RTN_LOCAL;

	if (e == NULL)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
	if (add_expr(r, e) < 0)
		return -1;
	return add_cmp(r, NFT_CMP_EQ, &local, sizeof(local));
}

static int
add_ct_dnat(struct nftnl_rule *r)
{
	struct nftnl_expr *e;
	uint32_t mask = IPS_DST_NAT, zero = 0;

	if (add_ct(r, NFT_CT_STATUS, false) < 0)
		return -1;
	if ((e = nftnl_expr_alloc("bitwise")) == NULL)
		return -1;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(mask));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
	if (add_expr(r, e) < 0)
		return -1;
	return add_cmp(r, NFT_CMP_NEQ, &zero, sizeof(zero));
}

static int
add_action(struct nftnl_rule *r, const struct nft_rulespec *s)
{
	struct nftnl_expr *e;
	uint16_t port = htons(s->to_port);

	switch (s->action) {
	case NFT_ACT_ACCEPT:
		if ((e = nftnl_expr_alloc("immediate")) == NULL)
			return -1;
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_ACCEPT);
		return add_expr(r, e);
	case NFT_ACT_MASQ:
		return add_expr(r, nftnl_expr_alloc("masq"));
	case NFT_ACT_DNAT:
	case NFT_ACT_SNAT:
		if (s->to.family != s->family) {
			errno = EINVAL;
			return -1;
		}
		if (add_imm(r, NFT_REG_1, s->to.u.b, ip_len(&s->to)) < 0)
			return -1;
		if (s->action == NFT_ACT_DNAT && s->to_port &&
		    add_imm(r, NFT_REG_2, &port, sizeof(port)) < 0)
			return -1;
		if ((e = nftnl_expr_alloc("nat")) == NULL)
			return -1;
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE,
		    s->action == NFT_ACT_DNAT ? NFT_NAT_DNAT : NFT_NAT_SNAT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY,
		    s->family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
		if (s->action == NFT_ACT_DNAT && s->to_port)
			nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN,
			    NFT_REG_2);
		return add_expr(r, e);
	}
	errno = EINVAL;
	return -1;
}

static int
set_comment(struct nftnl_rule *r, const char *comment)
{
	struct nftnl_udata_buf *u;
	int rc = -1;

	if ((u = nftnl_udata_buf_alloc(NFT_COMMENT_MAX + 16)) == NULL)
		return -1;
	if (nftnl_udata_put_strz(u, NFTNL_UDATA_RULE_COMMENT, comment) &&
	    nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(u),
	    nftnl_udata_buf_len(u)) == 0)
		rc = 0;
	nftnl_udata_buf_free(u);
	return rc;
}

static int
rule_fill(struct nftnl_rule *r, const struct nft_rulespec *s)
{
	uint8_t nfproto = s->family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;

	if (s->family != AF_INET && s->family != AF_INET6) {
		errno = EINVAL;
		return -1;
	}
	if (s->has_daddr && s->daddr.family != s->family) {
		errno = EINVAL;
		return -1;
	}
	if (add_meta(r, NFT_META_NFPROTO) < 0 ||
	    add_cmp(r, NFT_CMP_EQ, &nfproto, 1) < 0)
		return -1;
	if (s->l4proto && (add_meta(r, NFT_META_L4PROTO) < 0 ||
	    add_cmp(r, NFT_CMP_EQ, &s->l4proto, 1) < 0))
		return -1;
	if (s->fib_local && add_fib_local(r) < 0)
		return -1;
	if (s->ct_dnat && add_ct_dnat(r) < 0)
		return -1;
	if (s->has_daddr && add_daddr(r, s) < 0)
		return -1;
	if (s->dport_min) {
		if (!s->l4proto || s->dport_max < s->dport_min) {
			errno = EINVAL;	/* th dport needs a protocol */
			return -1;
		}
		if (add_dport(r, s) < 0)
			return -1;
	}
	if (add_expr(r, nftnl_expr_alloc("counter")) < 0)
		return -1;
	if (add_action(r, s) < 0)
		return -1;
	if (s->comment && strlen(s->comment) > NFT_COMMENT_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (s->comment && set_comment(r, s->comment) < 0)
		return -1;
	return 0;
}

struct nftnl_rule *
nft_rule_build(const char *table, const struct nft_rulespec *s)
{
	struct nftnl_rule *r;

	if ((r = nftnl_rule_alloc()) == NULL)
		return NULL;
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table) < 0 ||
	    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, s->chain) < 0 ||
	    rule_fill(r, s) < 0) {
		int e = errno;

		nftnl_rule_free(r);
		errno = e;
		return NULL;
	}
	return r;
}

/* --- nft(8) syntax ------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, off;
};

static void sb_add(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->off >= b->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->off, b->len - b->off, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->off += (size_t)n;
}

static const char *
l4name(uint8_t p)
{
	return p == IPPROTO_TCP ? "tcp" : p == IPPROTO_UDP ? "udp" : "?";
}

const char *
nft_rule_format(const struct nft_rulespec *s, char *buf, size_t len)
{
	struct sbuf b = { buf, len, 0 };
	const char *ipw = s->family == AF_INET ? "ip" : "ip6";
	char a[INET6_ADDRSTRLEN];

	buf[0] = '\0';
	sb_add(&b, "meta nfproto %s", s->family == AF_INET ? "ipv4" : "ipv6");
	if (s->l4proto)
		sb_add(&b, " meta l4proto %s", l4name(s->l4proto));
	if (s->fib_local)
		sb_add(&b, " fib daddr type local");
	if (s->ct_dnat)
		sb_add(&b, " ct status dnat");
	if (s->has_daddr)
		sb_add(&b, " %s%s daddr %s", s->ct_orig ? "ct original " : "",
		    ipw, nft_ip_format(&s->daddr, a, sizeof(a)));
	if (s->dport_min) {
		sb_add(&b, s->ct_orig ? " ct original proto-dst %u" :
		    " th dport %u", s->dport_min);
		if (s->dport_max != s->dport_min)
			sb_add(&b, "-%u", s->dport_max);
	}
	sb_add(&b, " counter");
	switch (s->action) {
	case NFT_ACT_ACCEPT:
		sb_add(&b, " accept");
		break;
	case NFT_ACT_MASQ:
		sb_add(&b, " masquerade");
		break;
	case NFT_ACT_DNAT:
	case NFT_ACT_SNAT:
		nft_ip_format(&s->to, a, sizeof(a));
		sb_add(&b, " %s %s to ", s->action == NFT_ACT_DNAT ? "dnat" :
		    "snat", ipw);
		if (s->action == NFT_ACT_DNAT && s->to_port)
			sb_add(&b, s->to.family == AF_INET6 ? "[%s]:%u" : "%s:%u",
			    a, s->to_port);
		else
			sb_add(&b, "%s", a);
		break;
	}
	if (s->comment)
		sb_add(&b, " comment \"%s\"", s->comment);
	return buf;
}

static const char *
chain_decl(enum nft_chain_kind k)
{
	switch (k) {
	case NFT_CHAIN_NAT_PREROUTING:
		return "type nat hook prerouting priority dstnat; policy accept;";
	case NFT_CHAIN_NAT_OUTPUT:
		return "type nat hook output priority -100; policy accept;";
	case NFT_CHAIN_NAT_POSTROUTING:
		return "type nat hook postrouting priority srcnat; policy accept;";
	case NFT_CHAIN_FILTER_FORWARD:
		return "type filter hook forward priority filter; policy accept;";
	}
	return "";
}

void
nft_table_print(FILE *f, const char *table, const struct nft_chainspec *chains,
    size_t nchains, const struct nft_rulespec *rules, size_t nrules)
{
	char line[1024];
	size_t i, j;

	fprintf(f, "table inet %s {\n", table);
	for (i = 0; i < nchains; i++) {
		fprintf(f, "%s\tchain %s {\n\t\t%s\n", i ? "\n" : "",
		    chains[i].name, chain_decl(chains[i].kind));
		for (j = 0; j < nrules; j++)
			if (strcmp(rules[j].chain, chains[i].name) == 0)
				fprintf(f, "\t\t%s\n", nft_rule_format(&rules[j],
				    line, sizeof(line)));
		fprintf(f, "\t}\n");
	}
	fprintf(f, "}\n");
}

/* --- batches ------------------------------------------------------------- */

int
nft_batch_init(struct nft_batch *b, uint32_t seq0)
{
	memset(b, 0, sizeof(*b));
	b->seq0 = seq0;
	b->cap = 4 * NFT_MSG_ROOM;
	if ((b->buf = malloc(b->cap)) == NULL)
		return -1;
	nftnl_batch_begin(b->buf, seq0);
	b->len = ((struct nlmsghdr *)(void *)b->buf)->nlmsg_len;
	return 0;
}

void
nft_batch_free(struct nft_batch *b)
{
	free(b->buf);
	free(b->tags);
	free(b->types);
	memset(b, 0, sizeof(*b));
}

/* Makes room for one more message; its header is at the returned offset. */
static char *
batch_room(struct nft_batch *b, int tag, uint16_t type)
{
	if (b->oom || b->ended)
		return NULL;
	if (b->cap - b->len < NFT_MSG_ROOM) {
		size_t ncap = b->cap * 2;
		char *n = realloc(b->buf, ncap);

		if (n == NULL)
			goto oom;
		b->buf = n;
		b->cap = ncap;
	}
	if (b->nmsg == b->tagcap) {
		size_t ncap = b->tagcap ? b->tagcap * 2 : 64;
		int *t = realloc(b->tags, ncap * sizeof(*t));
		uint16_t *ty;

		if (t == NULL)
			goto oom;
		b->tags = t;
		if ((ty = realloc(b->types, ncap * sizeof(*ty))) == NULL)
			goto oom;
		b->types = ty;
		b->tagcap = ncap;
	}
	b->tags[b->nmsg] = tag;
	b->types[b->nmsg] = type;
	return b->buf + b->len;
oom:
	b->oom = true;
	return NULL;
}

static void
batch_commit(struct nft_batch *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	b->nmsg++;
}

static uint32_t
batch_seq(const struct nft_batch *b)
{
	return b->seq0 + 1 + b->nmsg;
}

int
nft_batch_table(struct nft_batch *b, const char *table, bool del)
{
	uint16_t type = del ? NFT_MSG_DELTABLE : NFT_MSG_NEWTABLE;
	struct nftnl_table *t;
	struct nlmsghdr *nlh;
	char *p;

	if ((p = batch_room(b, NFT_TAG_NONE, type)) == NULL)
		return -1;
	if ((t = nftnl_table_alloc()) == NULL) {
		b->oom = true;
		return -1;
	}
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	if (nftnl_table_set_str(t, NFTNL_TABLE_NAME, table) < 0) {
		nftnl_table_free(t);
		b->oom = true;
		return -1;
	}
	nlh = nftnl_nlmsg_build_hdr(p, type, NFPROTO_INET,
	    (del ? 0 : NLM_F_CREATE) | NLM_F_ACK, batch_seq(b));
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	batch_commit(b, nlh);
	return 0;
}

int
nft_batch_chain(struct nft_batch *b, const char *table,
    const struct nft_chainspec *c)
{
	static const struct {
		const char *type;
		uint32_t hook;
		int32_t prio;
	} kinds[] = {
		[NFT_CHAIN_NAT_PREROUTING] = { "nat", NF_INET_PRE_ROUTING, -100 },
		[NFT_CHAIN_NAT_OUTPUT] = { "nat", NF_INET_LOCAL_OUT, -100 },
		[NFT_CHAIN_NAT_POSTROUTING] = { "nat", NF_INET_POST_ROUTING, 100 },
		[NFT_CHAIN_FILTER_FORWARD] = { "filter", NF_INET_FORWARD, 0 },
	};
	struct nftnl_chain *ch;
	struct nlmsghdr *nlh;
	char *p;

	if ((p = batch_room(b, NFT_TAG_NONE, NFT_MSG_NEWCHAIN)) == NULL)
		return -1;
	if ((ch = nftnl_chain_alloc()) == NULL) {
		b->oom = true;
		return -1;
	}
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, kinds[c->kind].hook);
	nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, kinds[c->kind].prio);
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	if (nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, table) < 0 ||
	    nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, c->name) < 0 ||
	    nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, kinds[c->kind].type) < 0) {
		nftnl_chain_free(ch);
		b->oom = true;
		return -1;
	}
	nlh = nftnl_nlmsg_build_hdr(p, NFT_MSG_NEWCHAIN, NFPROTO_INET,
	    NLM_F_CREATE | NLM_F_ACK, batch_seq(b));
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	nftnl_chain_free(ch);
	batch_commit(b, nlh);
	return 0;
}

int
nft_batch_rule(struct nft_batch *b, const char *table,
    const struct nft_rulespec *s)
{
	struct nftnl_rule *r;
	struct nlmsghdr *nlh;
	char *p;

	if ((p = batch_room(b, s->tag, NFT_MSG_NEWRULE)) == NULL)
		return -1;
	if ((r = nft_rule_build(table, s)) == NULL) {
		b->oom = true;
		return -1;
	}
	nlh = nftnl_nlmsg_build_hdr(p, NFT_MSG_NEWRULE, NFPROTO_INET,
	    NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, batch_seq(b));
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	batch_commit(b, nlh);
	return 0;
}

int
nft_batch_end(struct nft_batch *b)
{
	struct nlmsghdr *nlh;

	if (b->oom || b->ended)
		return -1;
	if (b->cap - b->len < NFT_MSG_ROOM) {
		char *n = realloc(b->buf, b->cap + NFT_MSG_ROOM);

		if (n == NULL) {
			b->oom = true;
			return -1;
		}
		b->buf = n;
		b->cap += NFT_MSG_ROOM;
	}
	nlh = nftnl_batch_end(b->buf + b->len, batch_seq(b));
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	b->ended = true;
	return 0;
}

int
nft_batch_replace(struct nft_batch *b, const char *table,
    const struct nft_chainspec *chains, size_t nchains,
    const struct nft_rulespec *rules, size_t nrules)
{
	size_t i;

	/* add + delete: the delete never fails for a missing table. */
	if (nft_batch_table(b, table, false) < 0 ||
	    nft_batch_table(b, table, true) < 0)
		return -1;
	if (nchains == 0)
		return nft_batch_end(b);
	if (nft_batch_table(b, table, false) < 0)
		return -1;
	for (i = 0; i < nchains; i++)
		if (nft_batch_chain(b, table, &chains[i]) < 0)
			return -1;
	for (i = 0; i < nrules; i++)
		if (nft_batch_rule(b, table, &rules[i]) < 0)
			return -1;
	return nft_batch_end(b);
}

/* --- session ------------------------------------------------------------- */

int
nft_open(struct nft_sess *s, char *err, size_t errlen)
{
	int one = 1;

	memset(s, 0, sizeof(*s));
	if ((s->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC)) == NULL) {
		snprintf(err, errlen, "netlink socket: %s", strerror(errno));
		return -1;
	}
	if (mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "netlink bind: %s", strerror(errno));
		mnl_socket_close(s->nl);
		s->nl = NULL;
		return -1;
	}
	/* Error acks carry only the header, not the whole message. */
	setsockopt(mnl_socket_get_fd(s->nl), SOL_NETLINK, NETLINK_CAP_ACK,
	    &one, sizeof(one));
	s->portid = mnl_socket_get_portid(s->nl);
	s->seq = (uint32_t)time(NULL);
	return 0;
}

void
nft_close(struct nft_sess *s)
{
	if (s->nl)
		mnl_socket_close(s->nl);
	s->nl = NULL;
}

uint32_t
nft_next_seq(struct nft_sess *s, uint32_t count)
{
	uint32_t seq = s->seq;

	s->seq += count;
	return seq;
}

static void
sock_bufsize(int fd, int opt_force, int opt, size_t want)
{
	int cur = 0, v;
	socklen_t l = sizeof(cur);

	if (want > (size_t)(1 << 30))
		want = (size_t)1 << 30;
	if (getsockopt(fd, SOL_SOCKET, opt, &cur, &l) == 0 &&
	    (size_t)cur >= want)
		return;
	v = (int)want;
	if (setsockopt(fd, SOL_SOCKET, opt_force, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v));
}

/* Waits for the socket to be readable: 1, 0 on timeout, -1 on error. */
static int
wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int rc;

	do
		rc = poll(&p, 1, ms);
	while (rc < 0 && errno == EINTR);
	return rc;
}

static void
note_ack(struct nft_batch *b, struct nft_result *res, uint32_t seq, int error)
{
	struct nft_ack a = { .seq = seq, .error = error, .tag = NFT_TAG_NONE,
	    .type = NFNL_MSG_BATCH_BEGIN };

	if (seq > b->seq0 && seq <= b->seq0 + b->nmsg) {
		a.tag = b->tags[seq - b->seq0 - 1];
		a.type = b->types[seq - b->seq0 - 1];
	}
	res->acked++;
	if (error && res->nerr++ == 0)
		res->first = a;
}

int
nft_batch_send(struct nft_sess *s, struct nft_batch *b, struct nft_result *res)
{
	int fd = mnl_socket_get_fd(s->nl);
	char rbuf[MNL_SOCKET_BUFFER_SIZE * 4];
	bool begin_failed = false;
	ssize_t n;

	memset(res, 0, sizeof(*res));
	if (!b->ended || b->oom) {
		snprintf(res->msg, sizeof(res->msg), "batch incomplete (out of memory)");
		return -1;
	}
	sock_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF, b->len + 4096);
	/* All acks arrive after the whole batch ran: room for each of them. */
	sock_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF,
	    (size_t)b->nmsg * 1024 + (256 << 10));
	if (mnl_socket_sendto(s->nl, b->buf, b->len) < 0) {
		snprintf(res->msg, sizeof(res->msg), "netlink send: %s",
		    strerror(errno));
		return -1;
	}
	while (res->acked < b->nmsg && !begin_failed) {
		const struct nlmsghdr *nlh;
		int rc = wait_readable(fd, NFT_ACK_TIMEOUT_MS), left;

		if (rc <= 0) {
			snprintf(res->msg, sizeof(res->msg),
			    "netlink: %s after %u of %u acks",
			    rc == 0 ? "timed out" : strerror(errno),
			    res->acked, b->nmsg);
			return -1;
		}
		if ((n = recv(fd, rbuf, sizeof(rbuf), 0)) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(res->msg, sizeof(res->msg),
			    "netlink receive: %s after %u of %u acks (the "
			    "change may have been committed)", strerror(errno),
			    res->acked, b->nmsg);
			return -1;
		}
		left = (int)n;
		for (nlh = (const struct nlmsghdr *)(void *)rbuf;
		    mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			const struct nlmsgerr *e;

			if (nlh->nlmsg_type != NLMSG_ERROR ||
			    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			if (nlh->nlmsg_seq < b->seq0 ||
			    nlh->nlmsg_seq > b->seq0 + b->nmsg + 1)
				continue;	/* stale, from an earlier request */
			if (nlh->nlmsg_seq == b->seq0 ||
			    nlh->nlmsg_seq == b->seq0 + b->nmsg + 1) {
				/* The batch as a whole was refused. */
				note_ack(b, res, nlh->nlmsg_seq, -e->error);
				begin_failed = e->error != 0;
				continue;
			}
			note_ack(b, res, nlh->nlmsg_seq, -e->error);
		}
	}
	return res->nerr ? -1 : 0;
}

/* --- reading back -------------------------------------------------------- */

/* Sends one request and runs cb over the answer until done. */
static int
request(struct nft_sess *s, char *buf, const struct nlmsghdr *nlh,
    mnl_cb_t cb, void *data)
{
	int fd = mnl_socket_get_fd(s->nl);
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t n;
	int rc;

	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	for (;;) {
		if ((rc = wait_readable(fd, NFT_ACK_TIMEOUT_MS)) <= 0) {
			if (rc == 0)
				errno = ETIMEDOUT;
			return -1;
		}
		if ((n = mnl_socket_recvfrom(s->nl, buf, MNL_SOCKET_BUFFER_SIZE)) < 0)
			return -1;
		rc = mnl_cb_run(buf, (size_t)n, seq, s->portid, cb, data);
		if (rc <= MNL_CB_STOP)
			return rc;
	}
}

static int
gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *g = nftnl_gen_alloc();

	if (g == NULL)
		return MNL_CB_ERROR;
	if (nftnl_gen_nlmsg_parse(nlh, g) == 0)
		*(uint32_t *)data = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	nftnl_gen_free(g);
	return MNL_CB_OK;
}

int
nft_genid(struct nft_sess *s, uint32_t *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK,
	    nft_next_seq(s, 1));
	*out = 0;
	return request(s, buf, nlh, gen_cb, out) < 0 ? -1 : 0;
}

static int
ignore_cb(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(void)data;
	return MNL_CB_OK;
}

/* 1 if table exists, 0 if not, -1 with errno. */
static int
table_exists(struct nft_sess *s, const char *table)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_table *t;
	struct nlmsghdr *nlh;

	if ((t = nftnl_table_alloc()) == NULL)
		return -1;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET,
	    NLM_F_ACK, nft_next_seq(s, 1));
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	if (request(s, buf, nlh, ignore_cb, NULL) < 0)
		return errno == ENOENT ? 0 : -1;
	return 1;
}

static int
comment_cb(const struct nftnl_udata *attr, void *data)
{
	struct nft_live_rule *lr = data;
	uint8_t len = nftnl_udata_len(attr);
	const char *v = nftnl_udata_get(attr);

	if (nftnl_udata_type(attr) != NFTNL_UDATA_RULE_COMMENT || len == 0)
		return MNL_CB_OK;
	if (len > NFT_COMMENT_MAX + 1)
		len = NFT_COMMENT_MAX + 1;
	memcpy(lr->comment, v, len);
	lr->comment[len - 1] = '\0';
	return MNL_CB_OK;
}

int
nft_live_rule_from_nlmsg(const void *nlh, struct nft_live_rule *out)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;
	const char *chain;
	const void *ud;
	uint32_t udlen = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (r == NULL)
		return -1;
	if (nftnl_rule_nlmsg_parse(nlh, r) < 0)
		goto out;
	chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
	snprintf(out->chain, sizeof(out->chain), "%s", chain ? chain : "");
	out->handle = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
	ud = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &udlen);
	if (ud && udlen)
		nftnl_udata_parse(ud, udlen, comment_cb, out);
	if ((it = nftnl_expr_iter_create(r)) == NULL)
		goto out;
	while ((e = nftnl_expr_iter_next(it)) != NULL) {
		const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

		if (name && strcmp(name, "counter") == 0) {
			out->has_counter = true;
			out->packets = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
			out->bytes = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
		}
	}
	nftnl_expr_iter_destroy(it);
	rc = 0;
out:
	nftnl_rule_free(r);
	return rc;
}

struct dump {
	struct nft_live_rule *v;
	size_t n, cap;
	bool oom;
};

static int
rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;

	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 32;
		struct nft_live_rule *v = realloc(d->v, ncap * sizeof(*v));

		if (v == NULL) {
			d->oom = true;
			return MNL_CB_ERROR;
		}
		d->v = v;
		d->cap = ncap;
	}
	if (nft_live_rule_from_nlmsg(nlh, &d->v[d->n]) == 0)
		d->n++;
	return MNL_CB_OK;
}

int
nft_table_rules(struct nft_sess *s, const char *table,
    struct nft_live_rule **out, size_t *n, uint32_t *genid, char *err,
    size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct dump d;
	int attempt;

	*out = NULL;
	*n = 0;
	for (attempt = 0; attempt < 5; attempt++) {
		struct nftnl_rule *r;
		struct nlmsghdr *nlh;
		uint32_t g0, g1;
		int rc;

		if (nft_genid(s, &g0) < 0) {
			snprintf(err, errlen, "reading generation id: %s",
			    strerror(errno));
			return -1;
		}
		if ((rc = table_exists(s, table)) <= 0) {
			if (rc == 0)
				return 1;
			snprintf(err, errlen, "reading table: %s", strerror(errno));
			return -1;
		}
		if ((r = nftnl_rule_alloc()) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
		nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET,
		    NLM_F_DUMP, nft_next_seq(s, 1));
		nftnl_rule_nlmsg_build_payload(nlh, r);
		nftnl_rule_free(r);
		memset(&d, 0, sizeof(d));
		rc = request(s, buf, nlh, rule_cb, &d);
		if (rc < 0 && errno == EINTR) {	/* NLM_F_DUMP_INTR */
			free(d.v);
			continue;
		}
		if (rc < 0 || d.oom) {
			snprintf(err, errlen, "reading rules: %s",
			    d.oom ? "out of memory" : strerror(errno));
			free(d.v);
			return -1;
		}
		if (nft_genid(s, &g1) < 0) {
			snprintf(err, errlen, "reading generation id: %s",
			    strerror(errno));
			free(d.v);
			return -1;
		}
		if (g0 != g1) {
			free(d.v);
			continue;
		}
		*out = d.v;
		*n = d.n;
		if (genid)
			*genid = g1;
		return 0;
	}
	snprintf(err, errlen, "ruleset kept changing while reading it");
	return -1;
}
