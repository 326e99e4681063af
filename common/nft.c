/*
 * nft — batches, sessions and read-back for nf_tables.  See nft.h; the
 * rule vocabulary lives in nft_rule.c.
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
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
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
/* Receive buffer for dumps: the kernel fills up to 32 KiB per datagram. */
#define NFT_DUMP_BUF 32768

/* --- batches ------------------------------------------------------------- */

/* The base chain each kind is (nft_batch_chain; compared by nft_replace). */
static const struct {
	const char *type;
	uint32_t hook;
	int32_t prio;
} chain_kinds[] = {
	[NFT_CHAIN_NAT_PREROUTING] = { "nat", NF_INET_PRE_ROUTING, -100 },
	[NFT_CHAIN_NAT_OUTPUT] = { "nat", NF_INET_LOCAL_OUT, -100 },
	[NFT_CHAIN_NAT_POSTROUTING] = { "nat", NF_INET_POST_ROUTING, 100 },
	[NFT_CHAIN_FILTER_FORWARD] = { "filter", NF_INET_FORWARD, 0 },
};


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
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, chain_kinds[c->kind].hook);
	nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, chain_kinds[c->kind].prio);
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	if (nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, table) < 0 ||
	    nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, c->name) < 0 ||
	    nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, chain_kinds[c->kind].type) < 0) {
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

int
nft_batch_set_genid(struct nft_batch *b, uint32_t genid)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)(void *)b->buf;

	/* Only right after init: BEGIN must still be the last message. */
	if (b->nmsg != 0 || b->ended || b->oom)
		return -1;
	mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
	b->len = NLMSG_ALIGN(nlh->nlmsg_len);
	return 0;
}

/* DELRULE with only the table: every rule of every chain in it. */
static int
batch_flush_rules(struct nft_batch *b, const char *table)
{
	struct nftnl_rule *r;
	struct nlmsghdr *nlh;
	char *p;

	if ((p = batch_room(b, NFT_TAG_NONE, NFT_MSG_DELRULE)) == NULL)
		return -1;
	if ((r = nftnl_rule_alloc()) == NULL) {
		b->oom = true;
		return -1;
	}
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table) < 0) {
		nftnl_rule_free(r);
		b->oom = true;
		return -1;
	}
	nlh = nftnl_nlmsg_build_hdr(p, NFT_MSG_DELRULE, NFPROTO_INET, NLM_F_ACK,
	    batch_seq(b));
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	batch_commit(b, nlh);
	return 0;
}

static int
batch_del_chain(struct nft_batch *b, const char *table, const char *name)
{
	struct nftnl_chain *ch;
	struct nlmsghdr *nlh;
	char *p;

	if ((p = batch_room(b, NFT_TAG_NONE, NFT_MSG_DELCHAIN)) == NULL)
		return -1;
	if ((ch = nftnl_chain_alloc()) == NULL) {
		b->oom = true;
		return -1;
	}
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	if (nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, table) < 0 ||
	    nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, name) < 0) {
		nftnl_chain_free(ch);
		b->oom = true;
		return -1;
	}
	nlh = nftnl_nlmsg_build_hdr(p, NFT_MSG_DELCHAIN, NFPROTO_INET, NLM_F_ACK,
	    batch_seq(b));
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	nftnl_chain_free(ch);
	batch_commit(b, nlh);
	return 0;
}

int
nft_batch_update(struct nft_batch *b, const char *table,
    const struct nft_chainspec *chains, size_t nchains,
    const struct nft_rulespec *rules, size_t nrules,
    const char *const *drop, size_t ndrop)
{
	size_t i;

	if (nft_batch_table(b, table, false) < 0)
		return -1;
	for (i = 0; i < nchains; i++)
		if (nft_batch_chain(b, table, &chains[i]) < 0)
			return -1;
	if (batch_flush_rules(b, table) < 0)
		return -1;
	for (i = 0; i < ndrop; i++)
		if (batch_del_chain(b, table, drop[i]) < 0)
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

/*
 * Drops whatever an earlier exchange left unread (acks that followed a
 * refused batch, say), so every answer read next belongs to the request
 * about to be sent; libmnl refuses messages with another sequence number.
 */
static void
drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0 || errno == EINTR)
		;
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

const char *
nft_msg_what(uint16_t type)
{
	switch (type) {
	case NFNL_MSG_BATCH_BEGIN: return "the batch";
	case NFT_MSG_NEWTABLE: return "creating the table";
	case NFT_MSG_DELTABLE: return "deleting the table";
	case NFT_MSG_NEWCHAIN: return "creating a chain";
	case NFT_MSG_DELCHAIN: return "deleting a stray chain";
	case NFT_MSG_DELRULE: return "flushing the old rules";
	case NFT_MSG_NEWRULE: return "adding a rule";
	default: return "a message";
	}
}

bool
nft_batch_acks(struct nft_batch *b, struct nft_result *res, const void *buf,
    int left)
{
	const struct nlmsghdr *nlh;
	bool whole = false;

	for (nlh = (const struct nlmsghdr *)(const void *)buf;
	    mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		const struct nlmsgerr *e;

		if (nlh->nlmsg_type != NLMSG_ERROR ||
		    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
			continue;
		e = mnl_nlmsg_get_payload(nlh);
		if (nlh->nlmsg_seq < b->seq0 ||
		    nlh->nlmsg_seq > b->seq0 + b->nmsg + 1)
			continue;	/* stale, from an earlier request */
		note_ack(b, res, nlh->nlmsg_seq, -e->error);
		/* An ack for BEGIN or END: the batch as a whole was refused. */
		if ((nlh->nlmsg_seq == b->seq0 ||
		    nlh->nlmsg_seq == b->seq0 + b->nmsg + 1) && e->error != 0)
			whole = true;
	}
	return whole;
}

#define ACK_VEC 64
#define ACK_BUF 1024	/* one ack: header + nlmsgerr + extack text */

int
nft_batch_send(struct nft_sess *s, struct nft_batch *b, struct nft_result *res)
{
	int fd = mnl_socket_get_fd(s->nl);
	char bufs[ACK_VEC][ACK_BUF];
	struct mmsghdr mv[ACK_VEC];
	struct iovec iov[ACK_VEC];
	bool whole = false;
	int i, n;

	memset(res, 0, sizeof(*res));
	if (!b->ended || b->oom) {
		snprintf(res->msg, sizeof(res->msg), "batch incomplete (out of memory)");
		return -1;
	}
	sock_bufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF, b->len + 4096);
	/* All acks arrive after the whole batch ran: room for each of them. */
	sock_bufsize(fd, SO_RCVBUFFORCE, SO_RCVBUF,
	    (size_t)b->nmsg * 1024 + (256 << 10));
	drain(fd);
	if (mnl_socket_sendto(s->nl, b->buf, b->len) < 0) {
		snprintf(res->msg, sizeof(res->msg), "netlink send: %s",
		    strerror(errno));
		return -1;
	}
	/* One ack per datagram: take up to ACK_VEC of them per system call. */
	while (res->acked < b->nmsg && !whole) {
		memset(mv, 0, sizeof(mv));
		for (i = 0; i < ACK_VEC; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = ACK_BUF;
			mv[i].msg_hdr.msg_iov = &iov[i];
			mv[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(fd, mv, ACK_VEC, MSG_DONTWAIT, NULL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = wait_readable(fd, NFT_ACK_TIMEOUT_MS);

			if (rc <= 0) {
				snprintf(res->msg, sizeof(res->msg),
				    "netlink: %s after %u of %u acks",
				    rc == 0 ? "timed out" : strerror(errno),
				    res->acked, b->nmsg);
				return -1;
			}
			continue;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(res->msg, sizeof(res->msg),
			    "netlink receive: %s after %u of %u acks (the "
			    "change may have been committed)", strerror(errno),
			    res->acked, b->nmsg);
			return -1;
		}
		for (i = 0; i < n; i++)
			if (nft_batch_acks(b, res, bufs[i], (int)mv[i].msg_len))
				whole = true;
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

	drain(fd);
	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
		return -1;
	for (;;) {
		if ((rc = wait_readable(fd, NFT_ACK_TIMEOUT_MS)) <= 0) {
			if (rc == 0)
				errno = ETIMEDOUT;
			return -1;
		}
		if ((n = mnl_socket_recvfrom(s->nl, buf, NFT_DUMP_BUF)) < 0)
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
	char buf[NFT_DUMP_BUF];
	struct nlmsghdr *nlh;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK,
	    nft_next_seq(s, 1));
	*out = 0;
	return request(s, buf, nlh, gen_cb, out) < 0 ? -1 : 0;
}

static int
table_flags_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_table *t = nftnl_table_alloc();

	if (t == NULL)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) == 0)
		*(uint32_t *)data = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
	nftnl_table_free(t);
	return MNL_CB_OK;
}

/* 1 and its flags if table exists, 0 if not, -1 with errno. */
static int
table_info(struct nft_sess *s, const char *table, uint32_t *flags)
{
	char buf[NFT_DUMP_BUF];
	struct nftnl_table *t;
	struct nlmsghdr *nlh;

	*flags = 0;
	if ((t = nftnl_table_alloc()) == NULL)
		return -1;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET,
	    NLM_F_ACK, nft_next_seq(s, 1));
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	if (request(s, buf, nlh, table_flags_cb, flags) < 0)
		return errno == ENOENT ? 0 : -1;
	return 1;
}

int
nft_table_exists(struct nft_sess *s, const char *table)
{
	uint32_t flags;

	return table_info(s, table, &flags);
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
	char buf[NFT_DUMP_BUF];
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
		if ((rc = nft_table_exists(s, table)) <= 0) {
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

/* --- replacing a table --------------------------------------------------- */

struct chain_scan {
	const char *table;
	const struct nft_chainspec *want;
	size_t nwant;
	bool mismatch;		/* a chain of ours with another hook/type */
	bool policy_changed;	/* a chain of ours not on policy accept */
	size_t found;		/* chains of ours present */
	const struct nft_rulespec *rules;
	size_t nrules;
	bool counts_differ;	/* a chain holds another number of rules */
	char (*drop)[64];	/* chains that are not ours */
	size_t ndrop, maxdrop;
};

static int
chain_scan_cb(const struct nlmsghdr *nlh, void *data)
{
	struct chain_scan *cs = data;
	struct nftnl_chain *c = nftnl_chain_alloc();
	const char *table, *name, *type;
	size_t i;

	if (c == NULL)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, c) < 0)
		goto out;
	table = nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE);
	name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
	if (!table || !name || strcmp(table, cs->table) != 0)
		goto out;
	for (i = 0; i < cs->nwant; i++)
		if (strcmp(cs->want[i].name, name) == 0)
			break;
	if (i == cs->nwant) {
		if (cs->ndrop < cs->maxdrop && strlen(name) < 64)
			snprintf(cs->drop[cs->ndrop++], 64, "%s", name);
		else
			cs->mismatch = true;	/* too odd: start afresh */
		goto out;
	}
	type = nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE);
	if (!nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM) || !type ||
	    strcmp(type, chain_kinds[cs->want[i].kind].type) != 0 ||
	    nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM) !=
	    chain_kinds[cs->want[i].kind].hook ||
	    nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO) !=
	    chain_kinds[cs->want[i].kind].prio)
		cs->mismatch = true;
	if (nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY) != NF_ACCEPT)
		cs->policy_changed = true;
	if (nftnl_chain_is_set(c, NFTNL_CHAIN_USE)) {
		/* "use" counts the chain's rules (and jumps to it: none). */
		uint32_t want = 0;

		for (size_t k = 0; k < cs->nrules; k++)
			want += strcmp(cs->rules[k].chain, name) == 0;
		if (nftnl_chain_get_u32(c, NFTNL_CHAIN_USE) != want)
			cs->counts_differ = true;
	}
	cs->found++;
out:
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

/* Lists the chains now in table: 0, or -1 with errno. */
static int
scan_chains(struct nft_sess *s, struct chain_scan *cs)
{
	char buf[NFT_DUMP_BUF];
	struct nlmsghdr *nlh;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, NFPROTO_INET,
	    NLM_F_DUMP, nft_next_seq(s, 1));
	return request(s, buf, nlh, chain_scan_cb, cs) < 0 ? -1 : 0;
}

struct rule_cmp {
	const char *table;
	const struct nft_rulespec *want;
	size_t nwant, idx;
	bool same;
};

/* Compares each dumped rule with the next wanted one, until one differs. */
static int
rule_cmp_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rule_cmp *rc = data;
	struct nftnl_rule *r;

	if (!rc->same)
		return MNL_CB_OK;	/* decided: just drain the dump */
	if (rc->idx >= rc->nwant || (r = nftnl_rule_alloc()) == NULL) {
		rc->same = false;
		return MNL_CB_OK;
	}
	rc->same = nftnl_rule_nlmsg_parse(nlh, r) == 0 &&
	    nft_rule_matches(r, rc->table, &rc->want[rc->idx]);
	rc->idx++;
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

/*
 * Does the live table already hold exactly these rules (in this order)?
 * Then there is nothing to send: the ruleset stays as it is, counters and
 * handles included.  1 / 0, or -1 with errno on failure to read.
 */
static int
rules_match(struct nft_sess *s, const char *table,
    const struct nft_rulespec *rules, size_t nrules)
{
	struct rule_cmp rc = { table, rules, nrules, 0, true };
	char buf[NFT_DUMP_BUF];
	struct nftnl_rule *q;
	struct nlmsghdr *nlh;

	if ((q = nftnl_rule_alloc()) == NULL)
		return -1;
	nftnl_rule_set_u32(q, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(q, NFTNL_RULE_TABLE, table);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET,
	    NLM_F_DUMP, nft_next_seq(s, 1));
	nftnl_rule_nlmsg_build_payload(nlh, q);
	nftnl_rule_free(q);
	if (request(s, buf, nlh, rule_cmp_cb, &rc) < 0)
		return -1;
	return rc.same && rc.idx == nrules;
}

#define MAX_FOREIGN_CHAINS 16

int
nft_replace(struct nft_sess *s, const char *table,
    const struct nft_chainspec *chains, size_t nchains,
    const struct nft_rulespec *rules, size_t nrules, struct nft_result *res)
{
	char drop[MAX_FOREIGN_CHAINS][64];
	const char *dropv[MAX_FOREIGN_CHAINS];
	struct nft_batch b;
	uint32_t retries = 0;
	int attempt, rc = -1;
	size_t i;

	memset(res, 0, sizeof(*res));
	for (attempt = 0; attempt < 5; attempt++) {
		struct chain_scan cs = { .table = table, .want = chains,
		    .nwant = nchains, .drop = drop,
		    .maxdrop = MAX_FOREIGN_CHAINS, .rules = rules,
		    .nrules = nrules };
		uint32_t genid, genid2, tflags;
		int exists, same;

		/*
		 * Read the generation, then the chains (and, when they are all
		 * as wanted, the rules: a table that already matches is left
		 * alone, counters and all); the batch carries the
		 * generation, so the kernel refuses it (ERESTART) if anything
		 * changed in between, and we look again.
		 */
		if (nft_genid(s, &genid) < 0 || scan_chains(s, &cs) < 0 ||
		    (exists = table_info(s, table, &tflags)) < 0 ||
		    (same = exists && !cs.mismatch && !cs.policy_changed &&
		    !cs.counts_differ && cs.ndrop == 0 &&
		    cs.found == nchains && tflags == 0 ?
		    rules_match(s, table, rules, nrules) : 0) < 0 ||
		    nft_genid(s, &genid2) < 0) {
			if (errno == EINTR) {	/* dump interrupted by a change */
				retries++;
				continue;
			}
			snprintf(res->msg, sizeof(res->msg), "reading the "
			    "ruleset: %s", strerror(errno));
			return -1;
		}
		if (same && genid2 == genid) {
			res->unchanged = true;
			return 0;
		}
		for (i = 0; i < cs.ndrop; i++)
			dropv[i] = drop[i];
		if (nft_batch_init(&b, nft_next_seq(s, (uint32_t)(nrules +
		    nchains + cs.ndrop + 8))) < 0 ||
		    nft_batch_set_genid(&b, genid) < 0 ||
		    (cs.mismatch ?
		    nft_batch_replace(&b, table, chains, nchains, rules, nrules) :
		    nft_batch_update(&b, table, chains, nchains, rules, nrules,
		    dropv, cs.ndrop)) < 0) {
			nft_batch_free(&b);
			snprintf(res->msg, sizeof(res->msg), "building the "
			    "batch: out of memory");
			return -1;
		}
		rc = nft_batch_send(s, &b, res);
		nft_batch_free(&b);
		if (rc == 0 || res->nerr == 0 || res->first.error != ERESTART ||
		    res->first.type != NFNL_MSG_BATCH_BEGIN)
			break;
		retries++;
	}
	res->retries = retries;
	return rc;
}

int
nft_remove_table(struct nft_sess *s, const char *table, struct nft_result *res)
{
	struct nft_batch b;
	int rc;

	memset(res, 0, sizeof(*res));
	if (nft_batch_init(&b, nft_next_seq(s, 4)) < 0 ||
	    nft_batch_replace(&b, table, NULL, 0, NULL, 0) < 0) {
		nft_batch_free(&b);
		snprintf(res->msg, sizeof(res->msg), "building the batch: out "
		    "of memory");
		return -1;
	}
	rc = nft_batch_send(s, &b, res);
	nft_batch_free(&b);
	return rc;
}
