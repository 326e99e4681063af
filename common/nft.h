/*
 * nft — talking to nf_tables over netlink (libnftnl + libmnl) for tools
 * that each own one table and never touch anything else in the ruleset.
 *
 * Three layers, all policy-free (which rules a tool wants stays in the
 * tool):
 *   - a small rule vocabulary (struct nft_rulespec): match on family,
 *     layer-4 protocol, destination address, destination port (range),
 *     "fib daddr type local", "ct status dnat", conntrack original
 *     destination; then counter + dnat / snat / masquerade / accept, with
 *     a comment.  Each spec builds into a libnftnl rule and prints as the
 *     nft(8) syntax that means the same thing (for `check`).
 *   - batches: one NFNL_MSG_BATCH_BEGIN ... END per change, every message
 *     sent with NLM_F_ACK and a tag (the caller's config entry), so each
 *     ack the kernel returns maps back through its sequence number to the
 *     entry that caused it.  nft_batch_update() replaces a table's rules
 *     keeping its chains; nft_batch_replace() re-creates the table (add
 *     table so the delete cannot fail, delete, add table, chains, rules);
 *     both are one transaction.
 *   - a session: socket, send, read every ack, read a table's rules back
 *     with counters under a generation-id check, and nft_replace(), which
 *     picks one of the two batches from the live chains and pins it to
 *     the generation it read.
 * The vocabulary is in nft_rule.c, batches and sessions in nft.c.
 */
#ifndef EDGE_NFT_H
#define EDGE_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>

struct nftnl_rule;
struct mnl_socket;

/* An IPv4 or IPv6 address, family AF_INET / AF_INET6. */
struct nft_ip {
	int family;
	union {
		struct in_addr v4;
		struct in6_addr v6;
		uint8_t b[16];
	} u;
};

/* "192.0.2.1" or "2001:db8::1" (no brackets, no port): 0 or -1. */
int nft_ip_parse(const char *s, struct nft_ip *out);
const char *nft_ip_format(const struct nft_ip *ip, char *buf, size_t len);
bool nft_ip_equal(const struct nft_ip *a, const struct nft_ip *b);

enum nft_action {
	NFT_ACT_ACCEPT,
	NFT_ACT_DNAT,		/* to addr[:port] */
	NFT_ACT_SNAT,		/* to addr */
	NFT_ACT_MASQ,
};

/* One rule.  Unset match fields (0 / false) match anything. */
struct nft_rulespec {
	const char *chain;
	int family;		/* AF_INET / AF_INET6: meta nfproto match */
	uint8_t l4proto;	/* IPPROTO_TCP / IPPROTO_UDP, 0 = any */
	bool has_daddr;
	struct nft_ip daddr;	/* ip/ip6 daddr */
	uint16_t dport_min;	/* th dport, host order; 0 = any */
	uint16_t dport_max;	/* == dport_min for a single port */
	bool fib_local;		/* fib daddr type local */
	bool ct_dnat;		/* ct status dnat */
	bool ct_orig;		/* daddr / dport matched on the conntrack
				   original tuple instead of the packet,
				   so both directions of a flow match */
	enum nft_action action;
	struct nft_ip to;	/* DNAT / SNAT address */
	uint16_t to_port;	/* DNAT port, 0 = keep */
	const char *comment;	/* config entry name; NULL = none */
	int tag;		/* caller's id for error reports */
};

enum nft_chain_kind {
	NFT_CHAIN_NAT_PREROUTING,	/* type nat hook prerouting priority dstnat */
	NFT_CHAIN_NAT_OUTPUT,		/* type nat hook output priority -100 */
	NFT_CHAIN_NAT_POSTROUTING,	/* type nat hook postrouting priority srcnat */
	NFT_CHAIN_FILTER_FORWARD,	/* type filter hook forward priority filter */
};

struct nft_chainspec {
	const char *name;
	enum nft_chain_kind kind;
};

/* Largest comment kept (the kernel allows 256 bytes of user data). */
#define NFT_COMMENT_MAX 128

/*
 * Builds the libnftnl rule for spec in table (family inet).  NULL on
 * allocation failure or an inconsistent spec (errno EINVAL).
 */
struct nftnl_rule *nft_rule_build(const char *table,
    const struct nft_rulespec *spec);

/* The rule in nft(8) syntax (no newline); returns buf. */
const char *nft_rule_format(const struct nft_rulespec *spec, char *buf,
    size_t len);

/*
 * Writes "table inet NAME { chain ... { ... } }" — what nft_batch_replace
 * installs — as text nft -f accepts.  Rules go to the chain they name.
 */
void nft_table_print(FILE *f, const char *table,
    const struct nft_chainspec *chains, size_t nchains,
    const struct nft_rulespec *rules, size_t nrules);

/* A batch of messages being built. */
struct nft_batch {
	char *buf;
	size_t len, cap;
	uint32_t seq0;		/* sequence number of BATCH_BEGIN */
	uint32_t nmsg;		/* messages between BEGIN and END */
	int *tags;		/* tag of message i (seq0 + 1 + i) */
	uint16_t *types;	/* NFT_MSG_* of message i */
	size_t tagcap;
	bool ended;
	bool oom;
};

/* Tag for messages that belong to no config entry (table, chains). */
#define NFT_TAG_NONE (-1)

int nft_batch_init(struct nft_batch *b, uint32_t seq0);
void nft_batch_free(struct nft_batch *b);

/* Each returns 0 or -1 (out of memory; the batch is then unusable). */
int nft_batch_table(struct nft_batch *b, const char *table, bool del);
int nft_batch_chain(struct nft_batch *b, const char *table,
    const struct nft_chainspec *c);
int nft_batch_rule(struct nft_batch *b, const char *table,
    const struct nft_rulespec *r);
int nft_batch_end(struct nft_batch *b);

/*
 * The whole atomic replace of one table: add table, delete table, add
 * table, chains and rules, END.  With nchains == 0 it only deletes (flush).
 */
int nft_batch_replace(struct nft_batch *b, const char *table,
    const struct nft_chainspec *chains, size_t nchains,
    const struct nft_rulespec *rules, size_t nrules);

/*
 * The batch that keeps the table and its chains (so no hook is
 * unregistered and re-registered, which costs the kernel an RCU grace
 * period per chain): add table, add (or update) chains, flush every rule
 * in the table, delete the chains named in drop, add rules.  Atomic like
 * nft_batch_replace; the table's handle stays the same.
 */
int nft_batch_update(struct nft_batch *b, const char *table,
    const struct nft_chainspec *chains, size_t nchains,
    const struct nft_rulespec *rules, size_t nrules,
    const char *const *drop, size_t ndrop);

/*
 * Makes the kernel refuse the batch (ERESTART on BEGIN) unless the ruleset
 * is still at generation genid.  Right after nft_batch_init only.
 */
int nft_batch_set_genid(struct nft_batch *b, uint32_t genid);

/* What the kernel said about one message of a batch. */
struct nft_ack {
	uint32_t seq;
	int error;		/* 0 or a positive errno */
	int tag;		/* the message's tag, NFT_TAG_NONE for table/chain */
	uint16_t type;		/* NFT_MSG_*, or NFNL_MSG_BATCH_BEGIN */
};

/* "creating a chain", "adding a rule", ... for error messages. */
const char *nft_msg_what(uint16_t type);

struct nft_result {
	uint32_t acked;		/* acks read (success or error) */
	uint32_t nerr;
	struct nft_ack first;	/* first error, if nerr > 0 */
	uint32_t retries;	/* nft_replace: batches refused as stale */
	bool unchanged;		/* nft_replace: table already as wanted */
	char msg[256];		/* transport-level failure */
};

struct nft_sess {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
};

/* Opens and binds a NETLINK_NETFILTER socket.  0, or -1 with message. */
int nft_open(struct nft_sess *s, char *err, size_t errlen);
void nft_close(struct nft_sess *s);
/* Next sequence number to hand to nft_batch_init. */
uint32_t nft_next_seq(struct nft_sess *s, uint32_t count);

/*
 * Sends the ended batch and reads every ack.  0 when the kernel accepted
 * all messages (the change is committed); -1 otherwise with res filled:
 * res->nerr > 0 for kernel errors (res->first names the message), or
 * res->msg for socket failures.  Nothing is committed on -1 except when
 * the failure was in reading acks after a successful send (res->msg says so).
 */
int nft_batch_send(struct nft_sess *s, struct nft_batch *b,
    struct nft_result *res);

/*
 * Matches the acks in one received datagram to the batch's messages (by
 * sequence number, so to their tags), counting them into res.  True when
 * the kernel refused the batch as a whole (an error for BEGIN or END).
 * Used by nft_batch_send; public for the unit tests.
 */
bool nft_batch_acks(struct nft_batch *b, struct nft_result *res,
    const void *buf, int len);

/*
 * Installs table with exactly chains and rules, atomically: reads the
 * generation and the table's chains, then sends nft_batch_update (or, if
 * one of our chains has another hook or type, nft_batch_replace), pinned
 * to that generation and retried if the ruleset changed meanwhile.  When
 * the live table already holds exactly these chains and rules nothing is
 * sent (res->unchanged): counters and handles stay.  0, or -1 with res
 * filled as by nft_batch_send (res->first.tag names the rule).
 */
int nft_replace(struct nft_sess *s, const char *table,
    const struct nft_chainspec *chains, size_t nchains,
    const struct nft_rulespec *rules, size_t nrules, struct nft_result *res);

/* Removes table (absent is fine) in one batch: 0, or -1 with res. */
int nft_remove_table(struct nft_sess *s, const char *table,
    struct nft_result *res);

/* Ruleset generation id.  0, or -1 with errno. */
int nft_genid(struct nft_sess *s, uint32_t *out);

/* Does table (family inet) exist?  1 yes, 0 no, -1 with errno. */
int nft_table_exists(struct nft_sess *s, const char *table);

/* One rule as read back from the kernel. */
struct nft_live_rule {
	char chain[64];
	uint64_t handle;
	uint64_t packets, bytes;
	bool has_counter;
	char comment[NFT_COMMENT_MAX + 1];
};

/*
 * Reads every rule of table (family inet) with its counters.  The dump is
 * retried (up to 5 times) when the generation id changes while reading,
 * so the list is one consistent snapshot.  *out is malloc'd.
 * 0; 1 if the table does not exist; -1 with message.
 */
int nft_table_rules(struct nft_sess *s, const char *table,
    struct nft_live_rule **out, size_t *n, uint32_t *genid,
    char *err, size_t errlen);

/* A rule as dumped by the kernel (NEWRULE message): chain, counters, comment. */
int nft_live_rule_from_nlmsg(const void *nlh, struct nft_live_rule *out);

/*
 * Does live (a rule read back from the kernel) do exactly what want
 * describes in table?  Chain, comment and every expression must agree;
 * counter values are ignored.
 */
bool nft_rule_matches(const struct nftnl_rule *live, const char *table,
    const struct nft_rulespec *want);

#endif
