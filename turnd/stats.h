/*
 * stats — turnd's Prometheus endpoint ([metrics], common/metrics.h): the
 * series written from struct turnd's counters when it is scraped.
 */
#ifndef TURND_STATS_H
#define TURND_STATS_H

#include <stddef.h>

struct turnd;

/* Binds [metrics] listen if set (before privileges are dropped): 0 or -1. */
int stats_open(struct turnd *td, char *err, size_t errlen);
/* Serves it on td->loop: 0 or -1. */
int stats_start(struct turnd *td, char *err, size_t errlen);
void stats_close(struct turnd *td);

#endif
