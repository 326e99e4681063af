/*
 * table — what portmap does to the kernel: install its table in one
 * atomic batch, read it back with counters, remove it, and turn on IP
 * forwarding where a destination lives on another host.
 */
#ifndef PORTMAP_TABLE_H
#define PORTMAP_TABLE_H

#include <stdio.h>

#include "forward.h"

/* Each returns 0 on success, -1 after logging what went wrong. */
int portmap_apply(const struct portmap_conf *c);
int portmap_flush(const struct portmap_conf *c);
int portmap_show(const struct portmap_conf *c, FILE *out);
/* Prints what apply would install, touching nothing. */
int portmap_check(const struct portmap_conf *c, FILE *out);
/*
 * The live table in Prometheus' text format (common/metrics.h), for
 * node_exporter's textfile collector: whether it is installed and as
 * configured, and every rule's packet and byte counters.  A table that
 * is not installed is a reading (portmap_table_installed 0), not an
 * error.
 */
int portmap_metrics(const struct portmap_conf *c, FILE *out);

#endif
