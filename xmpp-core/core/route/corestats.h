/*
 * corestats — the few counters the core keeps for the metrics module
 * (xmpp-core/metrics/): events that happen deep in the core and that no
 * registry hook reports.  Plain increments on the loop; read when
 * Prometheus scrapes.  Everything else the metrics show is state the
 * core already exposes (c2s_first, db_queued ...) or a module's stats.
 */
#ifndef XMPP_CORESTATS_H
#define XMPP_CORESTATS_H

#include <stdint.h>

#include "metrics.h"

struct core_stats {
	uint64_t auth_failures;		/* SASL failures (sasl/auth.c) */
	uint64_t bans;			/* addresses banned (stream/accept.c) */
	uint64_t reg_throttled;		/* registrations refused (register/) */
	struct metrics_hist db_latency;	/* queued to answered, seconds (db/db.c) */
};

extern struct core_stats core_stats;

/* CLOCK_MONOTONIC in microseconds (the loop's clock is milliseconds). */
uint64_t corestats_now_us(void);
/* A database request queued at t0_us was answered or failed. */
void corestats_db_done(uint64_t t0_us);

#endif
