/*
 * rules — what dumbclient-redirect installs.  See rules.h.
 *
 * For each redirected port and address family with a target:
 *   prerouting   ip daddr LISTEN (or fib daddr type local) tcp dport P
 *                dnat to TARGET:P
 *   postrouting  ct status dnat ip daddr TARGET tcp dport P
 *                snat to SNAT_TO (or masquerade)
 *   forward      accept the flow in both directions
 * The SNAT makes replies come back through this host (so conntrack can undo
 * the DNAT); the price is that the XMPP host sees this host's address as
 * the client's (deploy/REDIRECT.md).
 */
#include "rules.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

static const struct nft_chainspec chains[] = {
	{ "prerouting", NFT_CHAIN_NAT_PREROUTING },
	{ "postrouting", NFT_CHAIN_NAT_POSTROUTING },
	{ "forward", NFT_CHAIN_FILTER_FORWARD },
};
#define NCHAINS (sizeof(chains) / sizeof(chains[0]))

static const struct nft_ip *
dest(const struct redirect_target *t, uint16_t port, int fam)
{
	const struct nft_ip *ip;

	if (redirect_port_is_s2s(port))
		ip = fam == AF_INET ? &t->server4 : &t->server6;
	else
		ip = fam == AF_INET ? &t->client4 : &t->client6;
	return ip->family ? ip : NULL;
}

/* The port a connection to port goes to on the XMPP host. */
static uint16_t
dest_port(const struct redirect_target *t, uint16_t port)
{
	if (port == 5222 && t->client_port)
		return t->client_port;
	if (port == 5269 && t->server_port)
		return t->server_port;
	return port;
}

/* prerouting: one DNAT rule per listen address of fam (or fib local). */
static size_t
dnat_rules(const struct redirect_conf *c, struct nft_rulespec r,
    const struct nft_ip *to, uint16_t to_port, struct nft_rulespec *v)
{
	size_t k = 0, l;

	r.action = NFT_ACT_DNAT;
	r.to = *to;
	r.to_port = to_port;
	if (c->nlisten == 0) {
		r.fib_local = true;	/* only connections to this host */
		v[k++] = r;
		return k;
	}
	r.has_daddr = true;
	for (l = 0; l < c->nlisten; l++) {
		if (c->listen[l].family != r.family)
			continue;
		r.daddr = c->listen[l];
		v[k++] = r;
	}
	return k;
}

/* postrouting SNAT, or the forward accept, of the DNATed flow. */
static void
flow_rule(const struct redirect_conf *c, struct nft_rulespec *r,
    const struct nft_ip *to, uint16_t to_port, bool snat)
{
	const struct nft_ip *sn = r->family == AF_INET ? &c->snat4 : &c->snat6;

	r->ct_dnat = true;
	r->has_daddr = true;
	r->daddr = *to;
	r->dport_min = r->dport_max = to_port;
	if (snat) {
		r->action = sn->family ? NFT_ACT_SNAT : NFT_ACT_MASQ;
		r->to = *sn;
	} else {
		r->ct_orig = true;	/* both directions */
		r->action = NFT_ACT_ACCEPT;
	}
}

int
redirect_rules(const struct redirect_conf *c, const struct redirect_target *t,
    struct nft_rulespec **out, size_t *n, char (*comments)[32])
{
	static const int fams[] = { AF_INET, AF_INET6 };
	size_t max = c->nports * 2 * (c->nlisten + 3), k = 0, ch, i, fi;
	struct nft_rulespec *v = calloc(max ? max : 1, sizeof(*v));

	if (v == NULL)
		return -1;
	for (i = 0; i < c->nports; i++)
		snprintf(comments[i], sizeof(comments[i]), "%s:%u",
		    redirect_port_is_s2s(c->ports[i]) ? "xmpp-server" :
		    "xmpp-client", c->ports[i]);
	/* Chain by chain, so the list reads in the order nft prints it. */
	for (ch = 0; ch < NCHAINS; ch++) {
		for (i = 0; i < c->nports; i++) {
			for (fi = 0; fi < 2; fi++) {
				const struct nft_ip *to = dest(t, c->ports[i], fams[fi]);
				uint16_t to_port = dest_port(t, c->ports[i]);
				struct nft_rulespec r = {
					.chain = chains[ch].name,
					.family = fams[fi], .l4proto = IPPROTO_TCP,
					.dport_min = c->ports[i],
					.dport_max = c->ports[i],
					.comment = comments[i], .tag = (int)i,
				};

				if (to == NULL)
					continue;
				if (ch == 0) {
					k += dnat_rules(c, r, to, to_port, v + k);
					continue;
				}
				flow_rule(c, &r, to, to_port, ch == 1);
				v[k++] = r;
			}
		}
	}
	*out = v;
	*n = k;
	return 0;
}

int
redirect_apply(struct nft_sess *s, const struct redirect_conf *c,
    const struct redirect_target *t)
{
	char comments[REDIRECT_MAX_PORTS][32];
	struct nft_rulespec *rules;
	struct nft_result res;
	size_t n;
	int rc = -1;

	if (redirect_rules(c, t, &rules, &n, comments) < 0) {
		log_err("building rules: out of memory");
		return -1;
	}
	if (nft_replace(s, c->table, chains, NCHAINS, rules, n, &res) < 0) {
		if (res.nerr == 0)
			log_err("%s", res.msg);
		else if (res.first.tag >= 0 && (size_t)res.first.tag < c->nports)
			log_err("%s: ports: %u: kernel refused its rule: %s; "
			    "nothing was changed", c->file,
			    c->ports[res.first.tag], strerror(res.first.error));
		else
			log_err("table inet %s: kernel refused %s: %s; nothing "
			    "was changed", c->table, nft_msg_what(res.first.type),
			    strerror(res.first.error));
		goto out;
	}
	rc = 0;
out:
	free(rules);
	return rc;
}

int
redirect_flush(struct nft_sess *s, const struct redirect_conf *c)
{
	struct nft_result res;

	if (nft_remove_table(s, c->table, &res) < 0) {
		log_err("removing table inet %s: %s", c->table, res.nerr ?
		    strerror(res.first.error) : res.msg);
		return -1;
	}
	return 0;
}

void
redirect_print(FILE *f, const struct redirect_conf *c,
    const struct redirect_target *t)
{
	char comments[REDIRECT_MAX_PORTS][32];
	struct nft_rulespec *rules;
	size_t n;

	if (redirect_rules(c, t, &rules, &n, comments) < 0)
		return;
	nft_table_print(f, c->table, chains, NCHAINS, rules, n);
	free(rules);
}

bool
redirect_target_empty(const struct redirect_target *t)
{
	return !t->client4.family && !t->client6.family &&
	    !t->server4.family && !t->server6.family;
}

static bool
ip_same(const struct nft_ip *a, const struct nft_ip *b)
{
	if (a->family == 0 || b->family == 0)
		return a->family == b->family;
	return nft_ip_equal(a, b);
}

bool
redirect_target_equal(const struct redirect_target *a,
    const struct redirect_target *b)
{
	return ip_same(&a->client4, &b->client4) &&
	    ip_same(&a->client6, &b->client6) &&
	    ip_same(&a->server4, &b->server4) &&
	    ip_same(&a->server6, &b->server6) &&
	    a->client_port == b->client_port && a->server_port == b->server_port;
}

const char *
redirect_target_str(const struct redirect_target *t, char *buf, size_t len)
{
	const struct nft_ip *v[4] = { &t->client4, &t->client6, &t->server4,
	    &t->server6 };
	char a[4][64], cp[16] = "", sp[16] = "";

	for (int i = 0; i < 4; i++) {
		a[i][0] = '\0';
		if (v[i]->family)
			nft_ip_format(v[i], a[i], sizeof(a[i]));
	}
	if (t->client_port)
		snprintf(cp, sizeof(cp), " port %u", t->client_port);
	if (t->server_port)
		snprintf(sp, sizeof(sp), " port %u", t->server_port);
	snprintf(buf, len, "c2s %s%s%s%s, s2s %s%s%s%s",
	    a[0][0] || a[1][0] ? a[0] : "none", a[0][0] && a[1][0] ? " " : "",
	    a[1], cp,
	    a[2][0] || a[3][0] ? a[2] : "none", a[2][0] && a[3][0] ? " " : "",
	    a[3], sp);
	return buf;
}
