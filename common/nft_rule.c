/*
 * nft_rule — the rule vocabulary of nft.h: a struct nft_rulespec becomes
 * a libnftnl rule (the expressions nft(8) itself would generate for the
 * same text, so `nft list` shows it in its usual form) and prints as nft
 * syntax for `check`.  No sockets here; see nft.c for those.
 */
#include "nft.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/udata.h>

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
	uint32_t flags;

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
		/*
		 * Max registers and flags spelled out as the kernel stores
		 * them (it fills in max = min), so a rule read back compares
		 * equal to the one we build.
		 */
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MAX, NFT_REG_1);
		flags = NF_NAT_RANGE_MAP_IPS;
		if (s->action == NFT_ACT_DNAT && s->to_port) {
			nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN,
			    NFT_REG_2);
			nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MAX,
			    NFT_REG_2);
			flags |= NF_NAT_RANGE_PROTO_SPECIFIED;
		}
		nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, flags);
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

/* --- rules read back ---------------------------------------------------- */

static int
comment_cb(const struct nftnl_udata *attr, void *data)
{
	struct nft_live_rule *lr = data;
	uint8_t len = nftnl_udata_len(attr);
	const char *v = nftnl_udata_get(attr);

	if (nftnl_udata_type(attr) != NFTNL_UDATA_RULE_COMMENT || len == 0)
		return 0;
	if (len > NFT_COMMENT_MAX + 1)
		len = NFT_COMMENT_MAX + 1;
	memcpy(lr->comment, v, len);
	lr->comment[len - 1] = '\0';
	return 0;
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

/*
 * Same expressions, compared as libnftnl prints them, counters aside (their
 * values are the live ones).  Anything libnftnl prints differently — the
 * kernel filling in a default we leave unset, say — counts as different,
 * which only costs a real replace.
 */
static bool
exprs_equal(const struct nftnl_rule *a, const struct nftnl_rule *b)
{
	struct nftnl_expr_iter *ia = nftnl_expr_iter_create(a);
	struct nftnl_expr_iter *ib = nftnl_expr_iter_create(b);
	struct nftnl_expr *ea, *eb;
	char ta[512], tb[512];
	bool eq = ia && ib;

	while (eq) {
		ea = nftnl_expr_iter_next(ia);
		eb = nftnl_expr_iter_next(ib);
		if (ea == NULL || eb == NULL) {
			eq = ea == eb;
			break;
		}
		if (strcmp(nftnl_expr_get_str(ea, NFTNL_EXPR_NAME),
		    nftnl_expr_get_str(eb, NFTNL_EXPR_NAME)) != 0) {
			eq = false;
			break;
		}
		if (strcmp(nftnl_expr_get_str(ea, NFTNL_EXPR_NAME), "counter") == 0)
			continue;
		nftnl_expr_snprintf(ta, sizeof(ta), ea, NFTNL_OUTPUT_DEFAULT, 0);
		nftnl_expr_snprintf(tb, sizeof(tb), eb, NFTNL_OUTPUT_DEFAULT, 0);
		eq = strcmp(ta, tb) == 0;
	}
	if (ia)
		nftnl_expr_iter_destroy(ia);
	if (ib)
		nftnl_expr_iter_destroy(ib);
	return eq;
}

bool
nft_rule_matches(const struct nftnl_rule *live, const char *table,
    const struct nft_rulespec *want)
{
	struct nftnl_rule *r = nft_rule_build(table, want);
	const void *ua, *ub;
	uint32_t la = 0, lb = 0;
	const char *chain;
	bool eq = false;

	if (r == NULL)
		return false;
	chain = nftnl_rule_get_str(live, NFTNL_RULE_CHAIN);
	ua = nftnl_rule_get_data(live, NFTNL_RULE_USERDATA, &la);
	ub = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &lb);
	if (chain && strcmp(chain, want->chain) == 0 && la == lb &&
	    (la == 0 || memcmp(ua, ub, la) == 0))
		eq = exprs_equal(live, r);
	nftnl_rule_free(r);
	return eq;
}
