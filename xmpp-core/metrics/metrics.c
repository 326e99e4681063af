/*
 * metrics — xmpp-core's Prometheus endpoint (issue 19): its [metrics]
 * table, the listener's lifecycle (common/metrics_http.c on the
 * server's loop) and the series, written when Prometheus scrapes.
 *
 * Where the numbers come from, without a module header (the layering
 * rule): sessions from the core's connection list, stanzas through the
 * registry's session watch (session_received / session_sent, which the
 * core calls for every stanza of a watched session: every bound session
 * is watched while the endpoint is on, none otherwise), failures, bans,
 * throttled registrations and database latency from core/route/corestats.h,
 * and the s2s and mam figures from the lines their modules add to
 * `xmppctl stats` (registry_stats), which are that interface already.
 *
 * The listener is bound at open (before privileges are dropped) from the
 * configuration of that moment; a reload does not move it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "c2s.h"
#include "corestats.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "router.h"
#include "server.h"

extern struct module metrics_module;

static struct metrics_server *server;
static struct metrics_conf bound;	/* what server listens on */
static uint64_t stanzas_in, stanzas_out;

static const struct metrics_conf *
cfg(void)
{
	static const struct metrics_conf off = { .max_connections = 1 };
	const struct metrics_conf *mc = module_cfg(&metrics_module);

	return mc ? mc : &off;
}

static int
config_load(struct conf_table *root, void **cfgp, struct conf_err *e)
{
	if ((*cfgp = calloc(1, sizeof(struct metrics_conf))) == NULL)
		return -1;
	return metrics_conf_load(root, *cfgp, e);
}

static void
config_free(void *c)
{
	free(c);
}

/* ---- counting stanzas ---- */

static void
session_bound(struct c2s *c)
{
	if (server)
		c2s_watch(c, &metrics_module, true);
}

static void
session_sent(struct c2s *c, const char *p, size_t len)
{
	(void)c;
	(void)p;
	(void)len;
	stanzas_out++;
}

static void
session_received(struct c2s *c)
{
	(void)c;
	stanzas_in++;
}

/* ---- the series ---- */

/* The value of "key\t<n>\n" in the modules' stats text, 0 if absent. */
static uint64_t
stat_value(const char *text, const char *key)
{
	size_t kl = strlen(key);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, key, kl) == 0 && l[kl] == '\t')
			return strtoull(l + kl + 1, NULL, 10);
	return 0;
}

static const char *
transport(const struct c2s *c)
{
	if (c->tr)
		return c->tr->name;	/* "websocket", "bosh" */
	return c->direct_tls ? "tls" : "tcp";
}

static void
sessions(struct metrics_out *o)
{
	static const char *const names[] = { "tcp", "tls", "websocket", "bosh" };
	uint64_t n[4] = { 0 }, conns = 0;

	for (struct c2s *c = c2s_first(); c; c = LIST_NEXT(c, all)) {
		if (c->dead)
			continue;
		conns++;
		if (c->state != C2S_BOUND)
			continue;
		for (size_t i = 0; i < 4; i++)
			if (strcmp(transport(c), names[i]) == 0)
				n[i]++;
	}
	metrics_family(o, "xmpp_sessions", "gauge",
	    "Bound client sessions by transport (tcp: port 5222 with STARTTLS, "
	    "tls: direct TLS, websocket, bosh).");
	for (size_t i = 0; i < 4; i++) {
		const char *const l[] = { "transport", names[i], NULL };

		metrics_u64(o, "xmpp_sessions", l, n[i]);
	}
	metrics_family(o, "xmpp_sessions_detached", "gauge",
	    "Sessions kept without a connection, waiting for resumption (XEP-0198).");
	metrics_u64(o, "xmpp_sessions_detached", NULL, c2s_ndetached());
	metrics_family(o, "xmpp_connections", "gauge",
	    "Client connections open, authenticated or not.");
	metrics_u64(o, "xmpp_connections", NULL, conns);
	metrics_family(o, "xmpp_users_online", "gauge", "Accounts with a bound session.");
	metrics_u64(o, "xmpp_users_online", NULL, router_nusers());
}

static void
counter(struct metrics_out *o, const char *name, const char *help, uint64_t v)
{
	metrics_family(o, name, "counter", help);
	metrics_u64(o, name, NULL, v);
}

static void
collect(struct metrics_out *o, void *arg)
{
	const char *const in[] = { "direction", "in", NULL };
	const char *const out[] = { "direction", "out", NULL };
	struct buf b;
	const char *st;

	(void)arg;
	sessions(o);
	metrics_family(o, "xmpp_stanzas_total", "counter",
	    "Stanzas received from (in) and written to (out) client sessions.");
	metrics_u64(o, "xmpp_stanzas_total", in, stanzas_in);
	metrics_u64(o, "xmpp_stanzas_total", out, stanzas_out);
	counter(o, "xmpp_auth_failures_total",
	    "Failed SASL authentications (aborted ones not counted).",
	    core_stats.auth_failures);
	counter(o, "xmpp_bans_total",
	    "Client addresses banned for a while after repeated authentication failures.",
	    core_stats.bans);
	counter(o, "xmpp_registrations_throttled_total",
	    "In-band or web registrations refused by the per-address/subnet throttle.",
	    core_stats.reg_throttled);

	buf_init(&b);
	registry_stats(&b);
	buf_append(&b, "", 1);
	st = buf_data(&b);
	metrics_family(o, "xmpp_s2s_links", "gauge",
	    "Server-to-server streams by direction (in: accepted, out: initiated).");
	metrics_u64(o, "xmpp_s2s_links", in, stat_value(st, "s2s_in"));
	metrics_u64(o, "xmpp_s2s_links", out, stat_value(st, "s2s_out"));
	metrics_family(o, "xmpp_s2s_stanzas_total", "counter",
	    "Stanzas accepted from other servers (in) and written to them (out).");
	metrics_u64(o, "xmpp_s2s_stanzas_total", in, stat_value(st, "s2s_stanzas_in"));
	metrics_u64(o, "xmpp_s2s_stanzas_total", out, stat_value(st, "s2s_stanzas_out"));
	counter(o, "xmpp_s2s_bounced_total",
	    "Stanzas for other servers returned to their senders (no route, time-out, queue full).",
	    stat_value(st, "s2s_bounced"));
	counter(o, "xmpp_mam_rows_written_total",
	    "Message archive (XEP-0313) rows written to PostgreSQL.",
	    stat_value(st, "mam_rows_written"));
	buf_free(&b);

	metrics_family(o, "xmpp_db_query_duration_seconds", "histogram",
	    "PostgreSQL requests from queued to answered (or failed), seconds.");
	metrics_hist_write(o, "xmpp_db_query_duration_seconds", NULL,
	    &core_stats.db_latency);
	metrics_family(o, "xmpp_db_queue_depth", "gauge",
	    "Database requests waiting for a free connection of the pool.");
	metrics_u64(o, "xmpp_db_queue_depth", NULL, srv.db ? db_queued(srv.db) : 0);
	metrics_family(o, "xmpp_db_connections", "gauge",
	    "Pool connections to PostgreSQL that are up.");
	metrics_u64(o, "xmpp_db_connections", NULL, srv.db ? db_connected(srv.db) : 0);
	metrics_family(o, "xmpp_start_time_seconds", "gauge",
	    "When the server started, seconds since the epoch.");
	metrics_u64(o, "xmpp_start_time_seconds", NULL, (uint64_t)srv.started);
}

/* ---- lifecycle ---- */

static int
metrics_open(char *err, size_t errlen)
{
	const struct metrics_conf *mc = cfg();

	if (!mc->enabled)
		return 0;
	if ((server = metrics_server_new(mc, err, errlen)) == NULL)
		return -1;
	bound = *mc;
	if (metrics_server_start(server, srv.loop, collect, NULL, err, errlen) == -1) {
		metrics_server_free(server);
		server = NULL;
		return -1;
	}
	return 0;
}

static void
metrics_reload(void)
{
	const struct metrics_conf *mc = cfg();

	if (mc->enabled != (server != NULL) || (server &&
	    memcmp(&mc->listen, &bound.listen, sizeof(mc->listen)) != 0))
		log_warn("metrics: [metrics] listen changes take effect on restart");
}

static void
metrics_stop(void)
{
	metrics_server_free(server);
	server = NULL;
}

struct module metrics_module = {
	.name = "metrics",
	.folder = "metrics",
	.config_load = config_load,
	.config_free = config_free,
	.open = metrics_open,
	.reload = metrics_reload,
	.stop = metrics_stop,
	.session_bound = session_bound,
	.session_sent = session_sent,
	.session_received = session_received,
};
