/*
 * stats — upload-gw's Prometheus endpoint ([metrics], common/metrics.h):
 * counters the HTTP threads bump as requests end and the expiry sweep
 * reports, and the store's file system, written when it is scraped.
 */
#ifndef UPLOAD_STATS_H
#define UPLOAD_STATS_H

#include <stdbool.h>
#include <stddef.h>

#include "expire.h"

struct ev_loop;
struct metrics_conf;
struct req;

/* A request ended (http.c's completion callback; any thread). */
void upload_stats_request(const struct req *r, bool completed);
/* An expiry sweep finished (the main loop). */
void upload_stats_expired(const struct expire_stats *st);

/* Binds [metrics] listen if set (before privileges are dropped): 0 or -1. */
int upload_stats_open(const struct metrics_conf *mc, char *err, size_t errlen);
/* Serves it on the main loop: 0 or -1. */
int upload_stats_start(struct ev_loop *loop, char *err, size_t errlen);
void upload_stats_close(void);

#endif
