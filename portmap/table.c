/*
 * table — portmap's effect on the kernel.  See table.h.
 *
 * apply installs the table with all its chains and rules in one batch
 * (nft_replace) so the kernel switches from the old rules to the new ones
 * in a single transaction and nothing outside our table is touched.
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
#include "metrics.h"

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
		log_err("%s%s", res->msg, strstr(res->msg, "not permitted") ?
		    " (portmap needs CAP_NET_ADMIN)" : "");
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
		log_err("table inet %s: kernel refused %s: %s", c->table,
		    nft_msg_what(a->type), strerror(a->error));
	if (res->nerr > 1)
		log_err("%u errors in all; nothing was changed", res->nerr);
	else
		log_err("nothing was changed");
}

/* apply (nchains > 0) or flush (nchains == 0), in one batch. */
static int
send_batch(const struct portmap_conf *c, const struct nft_rulespec *rules,
    size_t nrules, size_t nchains, bool *unchanged)
{
	struct nft_result res;
	struct nft_sess s;
	int rc;

	if (open_session(&s) < 0)
		return -1;
	if (nchains > 0) {
		rc = nft_replace(&s, c->table, portmap_chains, nchains, rules,
		    nrules, &res);
		if (res.retries)
			log_info("the ruleset changed while applying; tried "
			    "again %u time%s", res.retries,
			    res.retries == 1 ? "" : "s");
	} else
		rc = nft_remove_table(&s, c->table, &res);
	if (rc < 0)
		report(c, &res);
	if (unchanged)
		*unchanged = rc == 0 && res.unchanged;
	nft_close(&s);
	return rc;
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

/*
 * IP forwarding for every family that a forward with a destination on
 * another host (remote, masquerade or snat_to) sends to.  Declared in the
 * config rather than guessed from the host's addresses: at boot those may
 * not be configured yet, and turning a host into a router by mistake is
 * worse than a forward that does not work.
 */
static int
enable_forwarding(const struct portmap_conf *c)
{
	const char *path[2] = { "/proc/sys/net/ipv4/ip_forward",
	    "/proc/sys/net/ipv6/conf/all/forwarding" };
	const char *name[2] = { "net.ipv4.ip_forward",
	    "net.ipv6.conf.all.forwarding" };
	bool done[2] = { false, false };
	char why[256], a[64];
	size_t i;
	int k;

	for (i = 0; i < c->nfwd; i++) {
		const struct forward *f = &c->fwd[i];
		const struct nft_ip *to[2] = { &f->to4, &f->to6 };

		if (!f->remote)
			continue;
		for (k = 0; k < 2; k++) {
			if (done[k] || to[k]->family == 0)
				continue;
			snprintf(why, sizeof(why), "forward \"%s\" sends to %s "
			    "on another host", f->name,
			    nft_ip_format(to[k], a, sizeof(a)));
			if (sysctl_on(path[k], name[k], why) < 0)
				return -1;
			done[k] = true;
		}
	}
	return 0;
}

int
portmap_apply(const struct portmap_conf *c)
{
	struct nft_rulespec *rules = NULL;
	bool unchanged = false;
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
	rc = send_batch(c, rules, n, portmap_nchains, &unchanged);
	free(rules);
	if (rc == 0 && unchanged)
		log_notice("table inet %s: %zu forward%s, %zu rule%s already in "
		    "place; nothing changed", c->table, c->nfwd,
		    c->nfwd == 1 ? "" : "s", n, n == 1 ? "" : "s");
	else if (rc == 0)
		log_notice("table inet %s: %zu forward%s, %zu rule%s installed",
		    c->table, c->nfwd, c->nfwd == 1 ? "" : "s", n,
		    n == 1 ? "" : "s");
	return rc;
}

int
portmap_flush(const struct portmap_conf *c)
{
	if (send_batch(c, NULL, 0, 0, NULL) < 0)
		return -1;
	log_notice("table inet %s removed", c->table);
	return 0;
}

/* Does the live table hold exactly the rules the config asks for? */
static bool
live_matches(const struct nft_live_rule *v, size_t n,
    const struct nft_rulespec *want, size_t nwant)
{
	size_t i;

	if (n != nwant)
		return false;
	for (i = 0; i < n; i++)
		if (strcmp(v[i].chain, want[i].chain) != 0 ||
		    strcmp(v[i].comment, want[i].comment) != 0 || !v[i].has_counter)
			return false;
	return true;
}

int
portmap_show(const struct portmap_conf *c, FILE *out)
{
	struct nft_live_rule *v = NULL;
	struct nft_rulespec *want = NULL;
	struct nft_sess s;
	char err[256], text[1024];
	uint32_t genid = 0;
	size_t n = 0, nwant = 0, i;
	bool same;
	int rc;

	if (portmap_rules(c, &want, &nwant) < 0) {
		log_err("out of memory");
		return -1;
	}
	if (open_session(&s) < 0) {
		free(want);
		return -1;
	}
	rc = nft_table_rules(&s, c->table, &v, &n, &genid, err, sizeof(err));
	nft_close(&s);
	if (rc != 0) {
		if (rc < 0)
			log_err("%s", err);
		else
			log_err("table inet %s is not installed (run portmap "
			    "apply)", c->table);
		free(want);
		return -1;
	}
	/*
	 * Rules come back chain by chain in the order they were added, which
	 * is the order portmap_rules() produces: when chain and comment agree
	 * everywhere, print each rule's text next to its counters.
	 */
	same = live_matches(v, n, want, nwant);
	fprintf(out, "# table inet %s, ruleset generation %u, %zu rules%s\n",
	    c->table, genid, n, same ? "" : "; DIFFERS from the configuration "
	    "(run portmap apply)");
	fprintf(out, "%-12s %-20s %12s %14s%s\n", "chain", "forward", "packets",
	    "bytes", same ? "  rule" : "");
	for (i = 0; i < n; i++)
		fprintf(out, "%-12s %-20s %12llu %14llu%s%s\n", v[i].chain,
		    v[i].comment[0] ? v[i].comment : "-",
		    (unsigned long long)v[i].packets,
		    (unsigned long long)v[i].bytes, same ? "  " : "",
		    same ? nft_rule_format(&want[i], text, sizeof(text)) : "");
	if (!same)
		log_warn("table inet %s differs from %s", c->table, c->file);
	free(v);
	free(want);
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

/*
 * One series per rule, told apart by its chain, its [[forward]] name
 * (the rule's comment) and its kernel handle: a forward has a rule per
 * family and protocol, and the handle is what `nft -a list table` shows.
 * When the table is as configured, portmap_rule_info says what each
 * handle does in nft syntax.
 */
static void
metrics_rules(struct metrics_out *o, const char *table, const struct nft_live_rule *v,
    size_t n, const struct nft_rulespec *want, bool same)
{
	static const char *const fam[] = { "packets", "bytes" };
	char handle[24], text[1024];

	for (int k = 0; k < 2; k++) {
		char name[64];

		snprintf(name, sizeof(name), "portmap_rule_%s_total", fam[k]);
		metrics_family(o, name, "counter", k == 0 ?
		    "Packets that matched the rule (nft counter; a new connection's "
		    "first packet for the nat chains)." :
		    "Bytes of the packets that matched the rule (nft counter).");
		for (size_t i = 0; i < n; i++) {
			const char *const l[] = { "table", table, "chain", v[i].chain,
				"forward", v[i].comment[0] ? v[i].comment : "-",
				"handle", handle, NULL };

			if (!v[i].has_counter)
				continue;
			snprintf(handle, sizeof(handle), "%llu", (unsigned long long)v[i].handle);
			metrics_u64(o, name, l, k == 0 ? v[i].packets : v[i].bytes);
		}
	}
	if (!same)
		return;
	metrics_family(o, "portmap_rule_info", "gauge",
	    "1 for every rule of the table, with its text in nft syntax.");
	for (size_t i = 0; i < n; i++) {
		const char *const l[] = { "table", table, "chain", v[i].chain,
			"forward", v[i].comment, "handle", handle,
			"rule", nft_rule_format(&want[i], text, sizeof(text)), NULL };

		snprintf(handle, sizeof(handle), "%llu", (unsigned long long)v[i].handle);
		metrics_u64(o, "portmap_rule_info", l, 1);
	}
}

int
portmap_metrics(const struct portmap_conf *c, FILE *out)
{
	const char *const l[] = { "table", c->table, NULL };
	struct nft_live_rule *v = NULL;
	struct nft_rulespec *want = NULL;
	struct metrics_out o;
	struct nft_sess s;
	char err[256];
	uint32_t genid = 0;
	size_t n = 0, nwant = 0;
	bool same = false;
	int rc;

	if (portmap_rules(c, &want, &nwant) < 0) {
		log_err("out of memory");
		return -1;
	}
	if (open_session(&s) < 0) {
		free(want);
		return -1;
	}
	rc = nft_table_rules(&s, c->table, &v, &n, &genid, err, sizeof(err));
	nft_close(&s);
	if (rc < 0) {
		log_err("%s", err);
		free(want);
		return -1;
	}
	if (rc == 0)
		same = live_matches(v, n, want, nwant);
	metrics_out_init(&o);
	metrics_family(&o, "portmap_table_installed", "gauge",
	    "1 if portmap's table is in the kernel's ruleset.");
	metrics_u64(&o, "portmap_table_installed", l, rc == 0);
	metrics_family(&o, "portmap_table_as_configured", "gauge",
	    "1 if the live table holds exactly the configured rules.");
	metrics_u64(&o, "portmap_table_as_configured", l, same);
	metrics_family(&o, "portmap_rules", "gauge", "Rules in the live table.");
	metrics_u64(&o, "portmap_rules", l, n);
	metrics_family(&o, "portmap_forwards", "gauge", "[[forward]] entries configured.");
	metrics_u64(&o, "portmap_forwards", l, c->nfwd);
	metrics_rules(&o, c->table, v, n, want, same);
	rc = o.failed ? -1 : 0;
	if (o.failed)
		log_err("out of memory");
	else if (fwrite(o.p, 1, o.len, out) != o.len || fflush(out) != 0) {
		log_err("writing the metrics: %s", strerror(errno));
		rc = -1;
	}
	metrics_out_free(&o);
	free(v);
	free(want);
	return rc;
}
