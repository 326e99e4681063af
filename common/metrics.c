/*
 * metrics — the Prometheus text format and [metrics].  See metrics.h.
 *
 * The format (Prometheus "Exposition formats", text 0.0.4): one
 * "# HELP" and one "# TYPE" line per family, then one line per sample,
 * `name{label="value",...} value`; in HELP text a backslash and a
 * newline are escaped, in label values a double quote too.  Integers are
 * written as integers (exact up to 2^64, where a double would round).
 */
#include "metrics.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

#define METRICS_DEFAULT_CONNS 8
#define METRICS_MAX_CONNS 64

void
metrics_out_init(struct metrics_out *o)
{
	memset(o, 0, sizeof(*o));
}

void
metrics_out_free(struct metrics_out *o)
{
	free(o->p);
	memset(o, 0, sizeof(*o));
}

static void
put(struct metrics_out *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *p;

		while (cap < o->len + n + 1)
			cap *= 2;
		if ((p = realloc(o->p, cap)) == NULL) {
			o->failed = true;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void
puts_(struct metrics_out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void
printf_(struct metrics_out *o, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* quote: label values also escape '"' */
static void
escaped(struct metrics_out *o, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(o, "\\\\");
		else if (*s == '\n')
			puts_(o, "\\n");
		else if (*s == '"' && quote)
			puts_(o, "\\\"");
		else
			put(o, s, 1);
	}
}

void
metrics_family(struct metrics_out *o, const char *name, const char *type,
    const char *help)
{
	puts_(o, "# HELP ");
	puts_(o, name);
	puts_(o, " ");
	escaped(o, help, false);
	puts_(o, "\n# TYPE ");
	puts_(o, name);
	puts_(o, " ");
	puts_(o, type);
	puts_(o, "\n");
}

/* name{k="v",...,extra_k="extra_v"} and the space before the value */
static void
head(struct metrics_out *o, const char *name, const char *suffix,
    const char *const *labels, const char *extra_k, const char *extra_v)
{
	bool any = false;

	puts_(o, name);
	if (suffix)
		puts_(o, suffix);
	for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
		puts_(o, any ? "," : "{");
		puts_(o, labels[i]);
		puts_(o, "=\"");
		escaped(o, labels[i + 1], true);
		puts_(o, "\"");
		any = true;
	}
	if (extra_k) {
		puts_(o, any ? "," : "{");
		puts_(o, extra_k);
		puts_(o, "=\"");
		escaped(o, extra_v, true);
		puts_(o, "\"");
		any = true;
	}
	puts_(o, any ? "} " : " ");
}

static void
value_double(struct metrics_out *o, double v)
{
	if (isnan(v))
		puts_(o, "NaN");
	else if (isinf(v))
		puts_(o, v > 0 ? "+Inf" : "-Inf");
	else
		printf_(o, "%.15g", v);
}

void
metrics_u64(struct metrics_out *o, const char *name, const char *const *labels,
    uint64_t v)
{
	head(o, name, NULL, labels, NULL, NULL);
	printf_(o, "%llu\n", (unsigned long long)v);
}

void
metrics_double(struct metrics_out *o, const char *name,
    const char *const *labels, double v)
{
	head(o, name, NULL, labels, NULL, NULL);
	value_double(o, v);
	puts_(o, "\n");
}

void
metrics_hist_init(struct metrics_hist *h, const double *bounds, size_t n)
{
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->nbounds = n > METRICS_MAX_BOUNDS ? METRICS_MAX_BOUNDS : n;
}

void
metrics_hist_observe(struct metrics_hist *h, double v)
{
	size_t i = 0;

	while (i < h->nbounds && v > h->bounds[i])
		i++;
	h->buckets[i]++;
	h->count++;
	h->sum += v;
}

void
metrics_hist_write(struct metrics_out *o, const char *name,
    const char *const *labels, const struct metrics_hist *h)
{
	uint64_t cum = 0;
	char le[32];

	for (size_t i = 0; i < h->nbounds; i++) {
		cum += h->buckets[i];
		snprintf(le, sizeof(le), "%.15g", h->bounds[i]);
		head(o, name, "_bucket", labels, "le", le);
		printf_(o, "%llu\n", (unsigned long long)cum);
	}
	cum += h->buckets[h->nbounds];
	head(o, name, "_bucket", labels, "le", "+Inf");
	printf_(o, "%llu\n", (unsigned long long)cum);
	head(o, name, "_sum", labels, NULL, NULL);
	value_double(o, h->sum);
	puts_(o, "\n");
	head(o, name, "_count", labels, NULL, NULL);
	printf_(o, "%llu\n", (unsigned long long)h->count);
}

/* ---- [metrics] ---- */

static bool
all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

int
metrics_conf_load(struct conf_table *root, struct metrics_conf *mc,
    struct conf_err *e)
{
	struct conf_table *t;
	const char *listen = NULL;
	long long conns = METRICS_DEFAULT_CONNS;
	char spec[64], err[160];
	int rc;

	memset(mc, 0, sizeof(*mc));
	mc->max_connections = METRICS_DEFAULT_CONNS;
	if ((t = conf_table(root, "metrics", e, &rc)) == NULL)
		return rc < 0 ? -1 : 0;
	if (conf_str(t, "listen", &listen, e) < 0 ||
	    conf_int(t, "max_connections", 1, METRICS_MAX_CONNS, &conns, e) < 0)
		return -1;
	mc->max_connections = (unsigned)conns;
	if (listen == NULL)
		return 0;
	/* a bare port is loopback here, not every address as elsewhere */
	if (all_digits(listen) && strlen(listen) < 8) {
		snprintf(spec, sizeof(spec), "127.0.0.1:%s", listen);
		listen = spec;
	}
	if (addr_parse(listen, -1, &mc->listen, err, sizeof(err)) < 0) {
		conf_errf(e, t, "listen", "%s", err);
		return -1;
	}
	if (mc->listen.family == AF_UNIX) {
		conf_errf(e, t, "listen", "an address and port (Prometheus scrapes "
		    "over TCP), not a unix socket");
		return -1;
	}
	mc->enabled = true;
	return 0;
}
