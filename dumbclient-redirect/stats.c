/*
 * stats — dumbclient-redirect's Prometheus series.  See stats.h and
 * deploy/METRICS.md.
 *
 * The counters live in the kernel (a `counter` in every rule), so a
 * scrape dumps the table over the netlink session the daemon already
 * holds (nft_table_rules: one consistent snapshot by generation id).
 * That is a synchronous request on the loop, as the rule swaps of
 * follow.c are: a dump of one small table from the local kernel, not a
 * network round trip.  One series per rule, told apart by chain, the
 * rule's comment (the port it redirects, "xmpp-client:5222") and its
 * kernel handle (a rule per family).
 */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>

#include "follow.h"
#include "log.h"
#include "metrics.h"
#include "nft.h"
#include "rules.h"

static struct metrics_server *server;

static void
rules(struct metrics_out *o, const char *table, const struct nft_live_rule *v, size_t n)
{
	static const char *const what[] = { "packets", "bytes" };
	char handle[24], name[64];

	for (int k = 0; k < 2; k++) {
		snprintf(name, sizeof(name), "redirect_rule_%s_total", what[k]);
		metrics_family(o, name, "counter", k == 0 ?
		    "Packets that matched the rule (nft counter; the first packet of "
		    "each redirected connection in the nat chains)." :
		    "Bytes of the packets that matched the rule (nft counter).");
		for (size_t i = 0; i < n; i++) {
			const char *const l[] = { "table", table, "chain", v[i].chain,
				"port", v[i].comment[0] ? v[i].comment : "-",
				"handle", handle, NULL };

			if (!v[i].has_counter)
				continue;
			snprintf(handle, sizeof(handle), "%llu",
			    (unsigned long long)v[i].handle);
			metrics_u64(o, name, l, k == 0 ? v[i].packets : v[i].bytes);
		}
	}
}

static void
collect(struct metrics_out *o, void *arg)
{
	struct follow *f = arg;
	const char *table = f->conf->table;
	const char *const l[] = { "table", table, NULL };
	struct nft_live_rule *v = NULL;
	char err[256], ts[256];
	uint32_t genid = 0;
	size_t n = 0;
	int rc;

	rc = nft_table_rules(f->nft, table, &v, &n, &genid, err, sizeof(err));
	if (rc < 0)
		log_warn("metrics: reading table inet %s: %s", table, err);
	metrics_family(o, "redirect_table_installed", "gauge",
	    "1 if the redirect table is in the kernel's ruleset.");
	metrics_u64(o, "redirect_table_installed", l, rc == 0);
	metrics_family(o, "redirect_rules", "gauge", "Rules in the live table.");
	metrics_u64(o, "redirect_rules", l, n);
	metrics_family(o, "redirect_dns_failing", "gauge",
	    "1 while the last SRV lookup failed (the last good rules stay).");
	metrics_u64(o, "redirect_dns_failing", l, f->failing);
	if (f->installed) {
		const char *const tl[] = { "table", table, "target",
			redirect_target_str(&f->current, ts, sizeof(ts)), NULL };

		metrics_family(o, "redirect_target_info", "gauge",
		    "1, with where the installed rules send clients and servers.");
		metrics_u64(o, "redirect_target_info", tl, 1);
	}
	rules(o, table, v, n);
	free(v);
}

int
redirect_stats_open(const struct redirect_conf *c, char *err, size_t errlen)
{
	if (!c->metrics.enabled)
		return 0;
	return (server = metrics_server_new(&c->metrics, err, errlen)) ? 0 : -1;
}

int
redirect_stats_start(struct ev_loop *loop, struct follow *f, char *err, size_t errlen)
{
	if (server == NULL)
		return 0;
	return metrics_server_start(server, loop, collect, f, err, errlen);
}

void
redirect_stats_close(void)
{
	metrics_server_free(server);
	server = NULL;
}
