/*
 * metrics — Prometheus' text exposition format (version 0.0.4) and a
 * small HTTP endpoint serving it: GET /metrics on the daemon's own loop.
 *
 * A daemon writes its series into a struct metrics_out when scraped
 * (metrics.c: no I/O, so one-shot programs such as portmap print the
 * same text for node_exporter's textfile collector); metrics_http.c runs
 * libmicrohttpd without threads, driven by the evloop as xmpp-core's
 * web listener is.  The endpoint is off unless [metrics] listen is set,
 * and a bare port means loopback: the numbers say how busy the host is
 * and who is refused, which is nobody else's business.
 *
 *	[metrics]
 *	listen = "9105"			# 127.0.0.1:9105; or "[::1]:9105" ...
 *	max_connections = 8		# scrapes at once (1..64)
 */
#ifndef EDGE_METRICS_H
#define EDGE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct conf_table;
struct conf_err;
struct ev_loop;

/* ---- the text format ---- */

struct metrics_out {
	char *p;
	size_t len, cap;
	bool failed;		/* out of memory: the text is incomplete */
};

void metrics_out_init(struct metrics_out *o);
void metrics_out_free(struct metrics_out *o);

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void metrics_family(struct metrics_out *o, const char *name, const char *type,
    const char *help);
/*
 * One sample.  labels: name, value, name, value, ..., NULL (or NULL for
 * none); values are escaped as the format says (\\, \" and \n), names
 * are the caller's constants.
 */
void metrics_u64(struct metrics_out *o, const char *name,
    const char *const *labels, uint64_t v);
void metrics_double(struct metrics_out *o, const char *name,
    const char *const *labels, double v);

/*
 * A histogram with fixed upper bounds (seconds, bytes ...), ascending;
 * buckets[i] counts observations <= bounds[i] that were above the one
 * before, buckets[nbounds] those above the last (written cumulatively,
 * with le="+Inf").
 */
#define METRICS_MAX_BOUNDS 16
struct metrics_hist {
	const double *bounds;
	size_t nbounds;
	uint64_t buckets[METRICS_MAX_BOUNDS + 1];
	uint64_t count;
	double sum;
};

void metrics_hist_init(struct metrics_hist *h, const double *bounds, size_t n);
void metrics_hist_observe(struct metrics_hist *h, double v);
/* name_bucket, name_sum and name_count samples (family written by the caller). */
void metrics_hist_write(struct metrics_out *o, const char *name,
    const char *const *labels, const struct metrics_hist *h);

/* ---- [metrics] ---- */

struct metrics_conf {
	bool enabled;			/* listen was given */
	struct edge_addr listen;
	unsigned max_connections;
};

/* Reads root's [metrics] table: 0, or -1 with "file:line: key: message". */
int metrics_conf_load(struct conf_table *root, struct metrics_conf *mc,
    struct conf_err *e);

/* ---- the endpoint (metrics_http.c, links libmicrohttpd) ---- */

struct metrics_server;
typedef void metrics_collect_fn(struct metrics_out *o, void *arg);

/* Binds the listener (before privileges are dropped): NULL with err. */
struct metrics_server *metrics_server_new(const struct metrics_conf *mc,
    char *err, size_t errlen);
/* Serves GET /metrics on loop, asking collect for the text each time. */
int metrics_server_start(struct metrics_server *s, struct ev_loop *loop,
    metrics_collect_fn *collect, void *arg, char *err, size_t errlen);
/* Stops and frees (NULL: nothing). */
void metrics_server_free(struct metrics_server *s);
/* "127.0.0.1:9105" for logs. */
const char *metrics_server_name(const struct metrics_server *s);

#endif
