/*
 * corestats — the core's counters for the metrics module.  See corestats.h.
 *
 * The latency buckets span a local PostgreSQL answering from memory
 * (under a millisecond) to one waiting for the disk or a lock, up to
 * db request_timeout's order of magnitude.
 */
#include "corestats.h"

#include <time.h>

static const double db_bounds[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

struct core_stats core_stats = {
	.db_latency = {
		.bounds = db_bounds,
		.nbounds = sizeof(db_bounds) / sizeof(db_bounds[0]),
	},
};

uint64_t
corestats_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void
corestats_db_done(uint64_t t0_us)
{
	metrics_hist_observe(&core_stats.db_latency,
	    (double)(corestats_now_us() - t0_us) / 1e6);
}
