/* Unit tests for common/metrics.c: the text format and [metrics]. */
#include "t.h"
#include "conf.h"
#include "metrics.h"

#include <arpa/inet.h>

TEST(metrics_text_escaping)
{
	struct metrics_out o;
	const char *const l[] = { "path", "a\"b\\c\nd", "kind", "x", NULL };

	metrics_out_init(&o);
	metrics_family(&o, "edge_x_total", "counter", "back\\slash\nnewline \"kept\"");
	metrics_u64(&o, "edge_x_total", l, 18446744073709551615ULL);
	metrics_u64(&o, "edge_y", NULL, 0);
	metrics_double(&o, "edge_z", NULL, 0.25);
	CHECK(!o.failed);
	CHECK_STR(o.p,
	    "# HELP edge_x_total back\\\\slash\\nnewline \"kept\"\n"
	    "# TYPE edge_x_total counter\n"
	    "edge_x_total{path=\"a\\\"b\\\\c\\nd\",kind=\"x\"} 18446744073709551615\n"
	    "edge_y 0\n"
	    "edge_z 0.25\n");
	metrics_out_free(&o);
}

TEST(metrics_histogram)
{
	static const double b[] = { 0.001, 0.01, 0.1 };
	const char *const l[] = { "db", "main", NULL };
	struct metrics_hist h;
	struct metrics_out o;

	metrics_hist_init(&h, b, 3);
	metrics_hist_observe(&h, 0.0005);
	metrics_hist_observe(&h, 0.001);	/* le is inclusive */
	metrics_hist_observe(&h, 0.05);
	metrics_hist_observe(&h, 2);
	metrics_out_init(&o);
	metrics_hist_write(&o, "q_seconds", l, &h);
	CHECK(!o.failed);
	CHECK_STR(o.p,
	    "q_seconds_bucket{db=\"main\",le=\"0.001\"} 2\n"
	    "q_seconds_bucket{db=\"main\",le=\"0.01\"} 2\n"
	    "q_seconds_bucket{db=\"main\",le=\"0.1\"} 3\n"
	    "q_seconds_bucket{db=\"main\",le=\"+Inf\"} 4\n"
	    "q_seconds_sum{db=\"main\"} 2.0515\n"
	    "q_seconds_count{db=\"main\"} 4\n");
	metrics_out_free(&o);
}

static int
load(const char *text, struct metrics_conf *mc, struct conf_err *e)
{
	struct conf_doc *d = conf_parse_string("t.toml", text, 0, e);
	int rc;

	if (d == NULL)
		return -2;
	rc = metrics_conf_load(d->root, mc, e);
	conf_free(d);
	return rc;
}

TEST(metrics_conf)
{
	struct metrics_conf mc;
	struct conf_err e;

	CHECK_INT(load("", &mc, &e), 0);
	CHECK(!mc.enabled);
	CHECK_INT(load("[metrics]\nmax_connections = 4\n", &mc, &e), 0);
	CHECK(!mc.enabled);
	CHECK_INT(mc.max_connections, 4);
	/* a bare port is loopback */
	CHECK_INT(load("[metrics]\nlisten = \"9105\"\n", &mc, &e), 0);
	CHECK(mc.enabled);
	CHECK_INT(mc.listen.family, AF_INET);
	CHECK_INT(ntohl(mc.listen.u.sin.sin_addr.s_addr), 0x7f000001);
	CHECK_INT(addr_port(&mc.listen), 9105);
	CHECK_INT(mc.max_connections, 8);
	CHECK_INT(load("[metrics]\nlisten = \"[::1]:9106\"\n", &mc, &e), 0);
	CHECK_INT(mc.listen.family, AF_INET6);
	CHECK_INT(load("[metrics]\nlisten = \"unix:/run/m.sock\"\n", &mc, &e), -1);
	CHECK(strstr(e.msg, "t.toml:2: metrics.listen:") != NULL);
	CHECK_INT(load("[metrics]\nlisten = \"localhost:9105\"\n", &mc, &e), -1);
	CHECK_INT(load("[metrics]\nlisten = \"0\"\n", &mc, &e), -1);
	CHECK_INT(load("[metrics]\nlisten = \"70000\"\n", &mc, &e), -1);
	CHECK_INT(load("[metrics]\nmax_connections = 0\n", &mc, &e), -1);
	CHECK_INT(load("[metrics]\nlisten = 9105\n", &mc, &e), -1);
}
