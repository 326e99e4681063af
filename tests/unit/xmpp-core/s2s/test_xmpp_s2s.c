/*
 * s2s: SRV ordering (RFC 2782, XEP-0368), A-labels for DNS, dialback
 * keys (XEP-0185) and the [s2s] table.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "dialback.h"
#include "resolve.h"
#include "s2sconf.h"
#include "t.h"

/* python3: hmac.new(sha256(b"edge-secret").hexdigest().encode(),
 * b"b.example a.example 1234abcd", sha256).hexdigest() */
#define KEY_VECTOR "efb24fcd0acfd7df3d4d5b68511ff3dc00443d9c1b79feceff411a14759971b1"

struct seq {
	const uint32_t *v;
	size_t n, i;
};

static uint32_t
seq_next(void *arg)
{
	struct seq *s = arg;

	return s->v[s->i++ % s->n];
}

static void
rec(struct srv_rec *r, uint16_t prio, uint16_t weight, bool tls, const char *t)
{
	memset(r, 0, sizeof(*r));
	r->prio = prio;
	r->weight = weight;
	r->port = 5269;
	r->direct_tls = tls;
	snprintf(r->target, sizeof(r->target), "%s", t);
}

TEST(xmpp_s2s_srv_priority_first)
{
	struct srv_rec r[4];
	uint32_t zero = 0;
	struct seq s = { &zero, 1, 0 };

	rec(&r[0], 20, 0, false, "c");
	rec(&r[1], 10, 5, false, "b");
	rec(&r[2], 30, 5, false, "d");
	rec(&r[3], 10, 0, true, "a");	/* direct TLS first at its priority */
	CHECK_INT(resolve_srv_order(r, 4, seq_next, &s), 4);
	CHECK_STR(r[0].target, "a");
	CHECK_STR(r[1].target, "b");
	CHECK_STR(r[2].target, "c");
	CHECK_STR(r[3].target, "d");
}

TEST(xmpp_s2s_srv_weights)
{
	struct srv_rec r[3];
	/* sum 0+10+30 = 40: draw 0 picks the weight-0 record (RFC 2782
	 * puts it first), 5 the weight-10 one, 25 the weight-30 one */
	uint32_t draws[] = { 25 };
	struct seq s = { draws, 1, 0 };
	int heavy_first = 0;

	rec(&r[0], 5, 10, false, "light");
	rec(&r[1], 5, 30, false, "heavy");
	rec(&r[2], 5, 0, false, "zero");
	resolve_srv_order(r, 3, seq_next, &s);
	CHECK_STR(r[0].target, "heavy");
	/* then among zero (0) and light (10): 25 % 11 = 3 -> light */
	CHECK_STR(r[1].target, "light");
	CHECK_STR(r[2].target, "zero");

	draws[0] = 0;
	s.i = 0;
	rec(&r[0], 5, 10, false, "light");
	rec(&r[1], 5, 30, false, "heavy");
	rec(&r[2], 5, 0, false, "zero");
	resolve_srv_order(r, 3, seq_next, &s);
	CHECK_STR(r[0].target, "zero");

	/* over many draws the weight-30 record leads about 3/4 of the time */
	for (uint32_t k = 0; k < 4100; k++) {
		uint32_t d = k;
		struct seq one = { &d, 1, 0 };

		rec(&r[0], 5, 10, false, "light");
		rec(&r[1], 5, 30, false, "heavy");
		resolve_srv_order(r, 2, seq_next, &one);
		heavy_first += strcmp(r[0].target, "heavy") == 0;
	}
	CHECK(heavy_first > 2900 && heavy_first < 3300);
}

TEST(xmpp_s2s_alabel)
{
	char out[256];

	CHECK(resolve_alabel("example.org", out, sizeof(out)) > 0);
	CHECK_STR(out, "example.org");
	CHECK(resolve_alabel("b\xc3\xbc" "cher.example", out, sizeof(out)) > 0);
	CHECK_STR(out, "xn--bcher-kva.example");
	CHECK_INT(resolve_alabel("bad\xff.example", out, sizeof(out)), -1);
	CHECK_INT(resolve_alabel("example.org", out, 5), -1);
}

TEST(xmpp_s2s_dialback_key)
{
	char k[DIALBACK_KEY_LEN + 1];
	CHECK_INT(dialback_key_with("edge-secret", 11, "b.example", "a.example",
	    "1234abcd", k), 0);
	CHECK_STR(k, KEY_VECTOR);
	CHECK_INT(dialback_set_secret("edge-secret", 11), 0);
	CHECK(dialback_check("b.example", "a.example", "1234abcd", KEY_VECTOR));
	CHECK(!dialback_check("a.example", "b.example", "1234abcd", KEY_VECTOR));
	CHECK(!dialback_check("b.example", "a.example", "1234abce", KEY_VECTOR));
	CHECK(!dialback_check("b.example", "a.example", "1234abcd", "00"));
	dialback_clear();
	CHECK(!dialback_check("b.example", "a.example", "1234abcd", KEY_VECTOR));
}

static int
load(const char *text, struct s2s_config *c, struct conf_err *e, struct conf_doc **doc)
{
	memset(c, 0, sizeof(*c));
	if ((*doc = conf_parse_string("t.toml", text, 0, e)) == NULL)
		return -1;
	return s2s_config_load(c, (*doc)->root, e);
}

TEST(xmpp_s2s_config)
{
	struct s2s_config c;
	struct conf_err e;
	struct conf_doc *d;
	const struct s2s_route *r;

	CHECK_INT(load("", &c, &e, &d), 0);
	CHECK(!c.enabled);
	CHECK_INT(c.connect_timeout_ms, 60000);
	CHECK_INT(c.max_stanza, 524288);
	CHECK_INT(c.shaper_rate, 50000);
	CHECK(c.bidi);
	s2s_config_free(&c);
	conf_free(d);

	/* durations in seconds, kept in ms; bidi off; ranges enforced */
	CHECK_INT(load("[s2s]\nbidi = false\nidle_timeout = \"2m\"\nauth_timeout = 7\n",
	    &c, &e, &d), 0);
	CHECK(!c.bidi);
	CHECK_INT(c.idle_timeout_ms, 120000);
	CHECK_INT(c.auth_timeout_ms, 7000);
	CHECK_INT(c.connect_timeout_ms, 60000);
	s2s_config_free(&c);
	conf_free(d);
	CHECK_INT(load("[s2s]\nmax_out_buffer = \"1K\"\n", &c, &e, &d), -1);
	CHECK(strstr(e.msg, "max_out_buffer: must be between 65536 and") != NULL);
	s2s_config_free(&c);
	conf_free(d);
	CHECK_INT(load("[s2s]\nlisten = [\"127.0.0.1\"]\n", &c, &e, &d), 0);
	CHECK_INT(c.nlisten, 1);	/* the default port: 5269 */
	s2s_config_free(&c);
	conf_free(d);

	CHECK_INT(load("[s2s]\nenabled = true\nverify = \"certificate\"\n"
	    "connect_timeout = \"5s\"\nqueue_max_stanzas = 10\n"
	    "blocklist = [\"evil.example\"]\n"
	    "[s2s.routes]\n\"a.example\" = \"127.0.0.1:5270\"\n"
	    "\"b.example\" = \"[::1]:5271\"\n\"c.example\" = \"xmpp.c.example\"\n"
	    "\"e.example\" = \"tls:192.0.2.7:5270\"\n",
	    &c, &e, &d), 0);
	CHECK(c.enabled);
	CHECK_INT(c.nlisten, 1);	/* [::]:5269 */
	CHECK_INT(c.verify, S2S_VERIFY_CERT);
	CHECK_INT(c.connect_timeout_ms, 5000);
	CHECK_INT(c.queue_max_stanzas, 10);
	CHECK((r = s2s_config_route(&c, "b.example")) != NULL);
	CHECK_STR(r->host, "::1");
	CHECK_INT(r->port, 5271);
	CHECK(!r->direct_tls);
	CHECK((r = s2s_config_route(&c, "c.example")) != NULL);
	CHECK_INT(r->port, 5269);
	CHECK((r = s2s_config_route(&c, "e.example")) != NULL);
	CHECK(r->direct_tls);
	CHECK_STR(r->host, "192.0.2.7");
	CHECK_INT(r->port, 5270);
	CHECK(s2s_config_route(&c, "d.example") == NULL);
	CHECK(s2s_config_blocked(&c, "evil.example"));
	CHECK(s2s_config_blocked(&c, "muc.evil.example"));
	CHECK(!s2s_config_blocked(&c, "notevil.example"));
	s2s_config_free(&c);
	conf_free(d);

	CHECK_INT(load("[s2s]\nverify = \"maybe\"\n", &c, &e, &d), -1);
	CHECK(strstr(e.msg, "verify") != NULL);
	s2s_config_free(&c);
	conf_free(d);
	CHECK_INT(load("[s2s.routes]\n\"a.example\" = \"::1:5\"\n", &c, &e, &d), -1);
	CHECK(strstr(e.msg, "[v6]:port") != NULL);
	s2s_config_free(&c);
	conf_free(d);
	CHECK_INT(load("[s2s.routes]\n\"A.Example\" = \"h:5\"\n", &c, &e, &d), -1);
	CHECK(strstr(e.msg, "normalised") != NULL);
	s2s_config_free(&c);
	conf_free(d);
	CHECK_INT(load("[s2s]\nconnect_timeout = \"0\"\n", &c, &e, &d), -1);
	s2s_config_free(&c);
	conf_free(d);
}
