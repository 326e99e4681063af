/*
 * stats — turnd's Prometheus series.  See stats.h and deploy/METRICS.md.
 *
 * Everything is a counter turnd keeps anyway (struct turnd_stats, bumped
 * on the data path with one add each) or a count it holds: nothing is
 * computed until Prometheus asks.  The endpoint runs on the relay's own
 * loop (metrics_http.c), so a scrape reads the counters without locks.
 */
#include "stats.h"

#include "config.h"
#include "metrics.h"
#include "turnd.h"

static void
family(struct metrics_out *o, const char *name, const char *type, const char *help,
    uint64_t v)
{
	metrics_family(o, name, type, help);
	metrics_u64(o, name, NULL, v);
}

static void
collect(struct metrics_out *o, void *arg)
{
	const struct turnd *td = arg;
	const struct turnd_stats *s = &td->stats;
	const char *const to_peer[] = { "direction", "to_peer", NULL };
	const char *const to_client[] = { "direction", "to_client", NULL };

	family(o, "turnd_allocations", "gauge",
	    "TURN allocations (relay ports) open now.", td->nallocs);
	family(o, "turnd_allocations_total", "counter",
	    "TURN allocations created since start.", s->allocs_total);
	family(o, "turnd_connections", "gauge",
	    "TCP and TLS client connections open now.", td->nconns);
	metrics_family(o, "turnd_relayed_packets_total", "counter",
	    "Datagrams relayed, from clients to peers and from peers to clients.");
	metrics_u64(o, "turnd_relayed_packets_total", to_peer, s->relayed_to_peer);
	metrics_u64(o, "turnd_relayed_packets_total", to_client, s->relayed_to_client);
	metrics_family(o, "turnd_relayed_bytes_total", "counter",
	    "Application data relayed (UDP payload bytes), by direction.");
	metrics_u64(o, "turnd_relayed_bytes_total", to_peer, s->bytes_to_peer);
	metrics_u64(o, "turnd_relayed_bytes_total", to_client, s->bytes_to_client);
	family(o, "turnd_dropped_packets_total", "counter",
	    "Datagrams discarded: no permission or channel, over the bandwidth cap, "
	    "truncated.", s->dropped);
	family(o, "turnd_peers_refused_total", "counter",
	    "Permissions or channels refused (403) because the peer address is "
	    "denied (deny_peers, private and own addresses).", s->peers_refused);
	family(o, "turnd_auth_failures_total", "counter",
	    "Requests whose credentials did not verify (401).", s->auth_failures);
}

int
stats_open(struct turnd *td, char *err, size_t errlen)
{
	if (!td->cfg->metrics.enabled)
		return 0;
	td->metrics = metrics_server_new(&td->cfg->metrics, err, errlen);
	return td->metrics ? 0 : -1;
}

int
stats_start(struct turnd *td, char *err, size_t errlen)
{
	if (td->metrics == NULL)
		return 0;
	return metrics_server_start(td->metrics, td->loop, collect, td, err, errlen);
}

void
stats_close(struct turnd *td)
{
	metrics_server_free(td->metrics);
	td->metrics = NULL;
}
