/*
 * table — portmap's effect on the kernel.  See table.h.
 *
 * apply builds one batch (add, delete, re-create the table with all its
 * chains and rules) so the kernel switches from the old rules to the new
 * ones in a single transaction and nothing outside our table is touched.
 * A kernel error is reported against the [[forward]] entry whose rule
 * caused it, found through the message's tag.
 */
#include "table.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "log.h"

static int
open_session(struct nft_sess *s)
{
	char err[256];

	if (nft_open(s, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return -1;
	}
	return 0;
}

static void
report(const struct portmap_conf *c, const struct nft_result *res)
{
	const struct nft_ack *a = &res->first;

	if (res->nerr == 0) {
		log_err("%s", res->msg);
		return;
	}
	if (a->error == EPERM && a->type == NFNL_MSG_BATCH_BEGIN)
		log_err("kernel refused the change: %s (portmap needs "
		    "CAP_NET_ADMIN)", strerror(a->error));
	else if (a->tag >= 0 && (size_t)a->tag < c->nfwd)
		log_err("%s:%d: forward \"%s\": kernel refused its rule: %s",
		    c->file, c->fwd[a->tag].line, c->fwd[a->tag].name,
		    strerror(a->error));
	else
		log_err("kernel refused %s of table inet %s: %s",
		    a->type == NFT_MSG_NEWCHAIN ? "a chain" : "the creation",
		    c->table, strerror(a->error));
	if (res->nerr > 1)
		log_err("%u errors in all; nothing was changed", res->nerr);
	else
		log_err("nothing was changed");
}

static int
send_batch(const struct portmap_conf *c, const struct nft_rulespec *rules,
    size_t nrules, size_t nchains)
{
	struct nft_sess s;
	struct nft_batch b;
	struct nft_result res;
	int rc = -1;

	if (open_session(&s) < 0)
		return -1;
	if (nft_batch_init(&b, nft_next_seq(&s, (uint32_t)nrules + 16)) < 0 ||
	    nft_batch_replace(&b, c->table, portmap_chains, nchains, rules,
	    nrules) < 0) {
		log_err("building the batch: out of memory");
		goto out;
	}
	if (nft_batch_send(&s, &b, &res) < 0) {
		report(c, &res);
		goto out;
	}
	rc = 0;
out:
	nft_batch_free(&b);
	nft_close(&s);
	return rc;
}

/* Is ip one of this host's addresses?  Binding to it says so. */
static bool
is_local(const struct nft_ip *ip)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;
	bool local;

	memset(&ss, 0, sizeof(ss));
	if (ip->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr = ip->u.v4;
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = ip->u.v6;
		len = sizeof(*sin6);
	}
	if ((fd = socket(ip->family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return true;	/* cannot tell: leave the sysctl alone */
	local = bind(fd, (struct sockaddr *)&ss, len) == 0 ||
	    errno != EADDRNOTAVAIL;
	close(fd);
	return local;
}

static int
sysctl_on(const char *path, const char *name, const char *why)
{
	char v = '0';
	int fd;

	if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
		log_err("%s: %s (needed: %s)", path, strerror(errno), why);
		return -1;
	}
	if (read(fd, &v, 1) == 1 && v == '1') {
		close(fd);
		return 0;
	}
	if (pwrite(fd, "1\n", 2, 0) != 2) {
		log_err("setting %s = 1: %s (needed: %s)", name, strerror(errno),
		    why);
		close(fd);
		return -1;
	}
	close(fd);
	log_notice("set %s = 1: %s", name, why);
	return 0;
}

/* IP forwarding for every family with a destination on another host. */
static int
enable_forwarding(const struct portmap_conf *c)
{
	bool done4 = false, done6 = false;
	char why[256], a[64];
	size_t i;

	for (i = 0; i < c->nfwd; i++) {
		const struct forward *f = &c->fwd[i];

		if (!done4 && f->to4.family && !is_local(&f->to4)) {
			snprintf(why, sizeof(why), "forward \"%s\" sends to %s "
			    "on another host", f->name,
			    nft_ip_format(&f->to4, a, sizeof(a)));
			if (sysctl_on("/proc/sys/net/ipv4/ip_forward",
			    "net.ipv4.ip_forward", why) < 0)
				return -1;
			done4 = true;
		}
		if (!done6 && f->to6.family && !is_local(&f->to6)) {
			snprintf(why, sizeof(why), "forward \"%s\" sends to %s "
			    "on another host", f->name,
			    nft_ip_format(&f->to6, a, sizeof(a)));
			if (sysctl_on("/proc/sys/net/ipv6/conf/all/forwarding",
			    "net.ipv6.conf.all.forwarding", why) < 0)
				return -1;
			done6 = true;
		}
	}
	return 0;
}

int
portmap_apply(const struct portmap_conf *c)
{
	struct nft_rulespec *rules = NULL;
	size_t n = 0;
	int rc;

	if (portmap_rules(c, &rules, &n) < 0) {
		log_err("out of memory");
		return -1;
	}
	if (enable_forwarding(c) < 0) {
		free(rules);
		return -1;
	}
	rc = send_batch(c, rules, n, portmap_nchains);
	free(rules);
	if (rc == 0)
		log_notice("table inet %s: %zu forward%s, %zu rule%s installed",
		    c->table, c->nfwd, c->nfwd == 1 ? "" : "s", n,
		    n == 1 ? "" : "s");
	return rc;
}

int
portmap_flush(const struct portmap_conf *c)
{
	if (send_batch(c, NULL, 0, 0) < 0)
		return -1;
	log_notice("table inet %s removed", c->table);
	return 0;
}

int
portmap_show(const struct portmap_conf *c, FILE *out)
{
	struct nft_live_rule *v = NULL;
	struct nft_sess s;
	char err[256];
	uint32_t genid = 0;
	size_t n = 0, i;
	int rc;

	if (open_session(&s) < 0)
		return -1;
	rc = nft_table_rules(&s, c->table, &v, &n, &genid, err, sizeof(err));
	nft_close(&s);
	if (rc < 0) {
		log_err("%s", err);
		return -1;
	}
	if (rc == 1) {
		log_err("table inet %s is not installed (run portmap apply)",
		    c->table);
		return -1;
	}
	fprintf(out, "# table inet %s, ruleset generation %u\n", c->table, genid);
	fprintf(out, "%-12s %-24s %12s %14s\n", "chain", "forward", "packets",
	    "bytes");
	for (i = 0; i < n; i++)
		fprintf(out, "%-12s %-24s %12llu %14llu\n", v[i].chain,
		    v[i].comment[0] ? v[i].comment : "-",
		    (unsigned long long)v[i].packets,
		    (unsigned long long)v[i].bytes);
	free(v);
	return 0;
}

int
portmap_check(const struct portmap_conf *c, FILE *out)
{
	struct nft_rulespec *rules = NULL;
	size_t n = 0;

	if (portmap_rules(c, &rules, &n) < 0) {
		log_err("out of memory");
		return -1;
	}
	fprintf(out, "# %s: %zu forward%s, %zu rule%s; portmap apply installs:\n",
	    c->file, c->nfwd, c->nfwd == 1 ? "" : "s", n, n == 1 ? "" : "s");
	nft_table_print(out, c->table, portmap_chains, portmap_nchains, rules, n);
	free(rules);
	return 0;
}
