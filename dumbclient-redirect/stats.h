/*
 * stats — dumbclient-redirect's Prometheus endpoint ([metrics],
 * common/metrics.h): its table's rules and their nft counters, read
 * back from the kernel at each scrape, and where the rules point.
 */
#ifndef REDIRECT_STATS_H
#define REDIRECT_STATS_H

#include <stddef.h>

struct ev_loop;
struct follow;
struct redirect_conf;

/* Binds [metrics] listen if set (before privileges are dropped): 0 or -1. */
int redirect_stats_open(const struct redirect_conf *c, char *err, size_t errlen);
/* Serves it on loop, reading the table f installs: 0 or -1. */
int redirect_stats_start(struct ev_loop *loop, struct follow *f, char *err,
    size_t errlen);
void redirect_stats_close(void);

#endif
