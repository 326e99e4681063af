/* Unit tests for portmap/forward.c: config -> rules, and refusals. */
#include "t.h"
#include "../../portmap/forward.h"

#include <stdlib.h>

static struct portmap_conf *
load(const char *text, struct conf_err *e)
{
	struct conf_doc *doc;
	struct portmap_conf *c;

	memset(e, 0, sizeof(*e));
	if ((doc = conf_parse_string("pm.toml", text, 0, e)) == NULL)
		return NULL;
	c = portmap_conf_from_doc(doc, e);
	conf_free(doc);
	return c;
}

static const char seed[] =
    "[[forward]]\n"
    "name = \"xmpps\"\n"
    "listen = [\"192.0.2.2\", \"2001:db8::2\"]\n"
    "port = 443\n"
    "to = [\"192.0.2.1\", \"2001:db8::1\"]\n"
    "to_port = 5223\n"
    "\n"
    "[[forward]]\n"
    "name = \"turn\"\n"
    "protocols = [\"udp\", \"tcp\"]\n"
    "port = \"3478-3480\"\n"
    "to = [\"198.51.100.9\"]\n"
    "local = false\n"
    "masquerade = true\n";

TEST(portmap_rules_from_seed)
{
	struct conf_err e;
	struct portmap_conf *c = load(seed, &e);
	struct nft_rulespec *r;
	size_t n, i, counts[4] = { 0 };
	char buf[512];

	if (c == NULL) {
		t_fail(__FILE__, __LINE__, "%s", e.msg);
		return;
	}
	CHECK_STR(c->table, "portmap");
	CHECK_INT(c->nfwd, 2);
	CHECK_INT(c->fwd[1].port_min, 3478);
	CHECK_INT(c->fwd[1].port_max, 3480);
	CHECK_INT(portmap_rules(c, &r, &n), 0);
	/* xmpps: 2 families x (prerouting + output); turn: 2 protocols x
	   (prerouting + postrouting + forward) */
	CHECK_INT(n, 4 + 6);
	for (i = 0; i < n; i++)
		for (size_t k = 0; k < portmap_nchains; k++)
			if (strcmp(r[i].chain, portmap_chains[k].name) == 0)
				counts[k]++;
	CHECK_INT(counts[0], 4);
	CHECK_INT(counts[1], 2);
	CHECK_INT(counts[2], 2);
	CHECK_INT(counts[3], 2);
	CHECK_STR(nft_rule_format(&r[0], buf, sizeof(buf)),
	    "meta nfproto ipv4 meta l4proto tcp ip daddr 192.0.2.2 th dport 443 "
	    "counter dnat ip to 192.0.2.1:5223 comment \"xmpps\"");
	CHECK_INT(r[0].tag, 0);
	CHECK_STR(nft_rule_format(&r[2], buf, sizeof(buf)),
	    "meta nfproto ipv4 meta l4proto tcp th dport 3478-3480 counter "
	    "dnat ip to 198.51.100.9 comment \"turn\"");
	CHECK_INT(r[2].tag, 1);
	CHECK_STR(nft_rule_format(&r[6], buf, sizeof(buf)),
	    "meta nfproto ipv4 meta l4proto tcp ct status dnat ip daddr "
	    "198.51.100.9 th dport 3478-3480 counter masquerade comment \"turn\"");
	free(r);
	portmap_conf_free(c);
}

static void
refused_at(const char *entry, const char *want, int line)
{
	char text[2048];
	struct conf_err e;
	struct portmap_conf *c;

	snprintf(text, sizeof(text), "%s\n[[forward]]\n%s", seed, entry);
	c = load(text, &e);
	if (c != NULL) {
		t_fail(__FILE__, line, "accepted: %s", entry);
		portmap_conf_free(c);
		return;
	}
	if (strstr(e.msg, want) == NULL)
		t_fail(__FILE__, line, "\"%s\" lacks \"%s\"", e.msg, want);
}

#define refused(entry, want) refused_at(entry, want, __LINE__)

TEST(portmap_refuses_bad_entries)
{
	refused("port = 1\nto = [\"192.0.2.1\"]\n", "pm.toml:16: forward.name: missing");
	refused("name = \"a b\"\nport = 1\nto = [\"192.0.2.1\"]\n", "forward.name");
	refused("name = \"x\"\nport = 0\nto = [\"192.0.2.1\"]\n", "forward \"x\"");
	refused("name = \"x\"\nport = \"5-\"\nto = [\"192.0.2.1\"]\n", "forward.port");
	refused("name = \"x\"\nport = 1\n", "forward \"x\": missing");
	refused("name = \"x\"\nport = 1\nto = [\"192.0.2.1\"]\nprotocols = [\"sctp\"]\n",
	    "forward.protocols");
	refused("name = \"x\"\nport = \"1-5\"\nto = [\"192.0.2.1\"]\nto_port = 9\n",
	    "a port range keeps its ports");
	refused("name = \"x\"\nport = 1\nto = [\"192.0.2.1\"]\nmasquerade = true\n"
	    "snat_to = [\"192.0.2.7\"]\n", "either masquerade or snat_to");
	refused("name = \"x\"\nport = 1\nto = [\"192.0.2.1\", \"2001:db8::1\"]\n"
	    "snat_to = [\"192.0.2.7\"]\n", "source address for each");
	refused("name = \"turn\"\nport = 1\nto = [\"192.0.2.1\"]\n", "already used");
	refused("name = \"x\"\nprotocols = [\"udp\"]\nport = 3479\nto = [\"192.0.2.1\"]\n",
	    "same traffic as forward \"turn\"");
	refused("name = \"x\"\nport = 1\nto = [\"192.0.2.1\"]\nlocal = \"yes\"\n",
	    "forward.local");
}

TEST(portmap_empty_config_is_valid)
{
	struct conf_err e;
	struct portmap_conf *c = load("table = \"pm2\"\n", &e);
	struct nft_rulespec *r = NULL;
	size_t n = 1;

	CHECK(c != NULL);
	CHECK_STR(c->table, "pm2");
	CHECK_INT(portmap_rules(c, &r, &n), 0);
	CHECK_INT(n, 0);
	free(r);
	portmap_conf_free(c);
	CHECK(load("table = \"a.b\"\n", &e) == NULL);
}

TEST(portmap_remote_without_snat)
{
	struct conf_err e;
	struct portmap_conf *c = load(
	    "[[forward]]\nname = \"routed\"\nport = 80\nto = [\"203.0.113.5\"]\n"
	    "remote = true\nlocal = false\n", &e);
	struct nft_rulespec *r;
	size_t n;

	CHECK(c != NULL);
	CHECK(c->fwd[0].remote);
	CHECK_INT(portmap_rules(c, &r, &n), 0);
	CHECK_INT(n, 2);	/* prerouting dnat + forward accept, no SNAT */
	CHECK_STR(r[0].chain, "prerouting");
	CHECK_STR(r[1].chain, "forward");
	CHECK(r[1].ct_orig && r[1].action == NFT_ACT_ACCEPT);
	free(r);
	portmap_conf_free(c);
	c = load("[[forward]]\nname = \"m\"\nport = 80\nto = [\"203.0.113.5\"]\n"
	    "masquerade = true\n", &e);
	CHECK(c != NULL);
	CHECK(c->fwd[0].remote);	/* implied */
	portmap_conf_free(c);
}
