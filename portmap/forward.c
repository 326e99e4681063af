/*
 * forward — reads portmap's [[forward]] entries and derives their rules.
 *
 * One entry, for each address family it covers and each protocol:
 *   prerouting   [ip daddr LISTEN] th dport PORT  dnat to TO[:TO_PORT]
 *   output       same, for connections made on this host (local = true);
 *                without listen addresses restricted to "fib daddr type
 *                local" so outgoing traffic to other hosts is left alone
 *   postrouting  ct status dnat ip daddr TO th dport TO_PORT  masquerade
 *                or snat (only when asked)
 *   forward      accept the DNATed flow in both directions (remote = true,
 *                implied by masquerade / snat_to: destination on another
 *                host, which is also what turns on IP forwarding)
 * Replies need no rule: conntrack reverses the DNAT on its own, which is
 * why the seed's "SNAT --to-source PRIMARY:PORT" rules for same-host
 * forwards are not needed (see deploy/PORTMAP.md).
 */
#include "forward.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

const struct nft_chainspec portmap_chains[] = {
	{ "prerouting", NFT_CHAIN_NAT_PREROUTING },
	{ "output", NFT_CHAIN_NAT_OUTPUT },
	{ "postrouting", NFT_CHAIN_NAT_POSTROUTING },
	{ "forward", NFT_CHAIN_FILTER_FORWARD },
};
const size_t portmap_nchains = sizeof(portmap_chains) / sizeof(portmap_chains[0]);

static bool
valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		    *s == '.'))
			return false;
	return true;
}

/* port = 443 or port = "60000-60100" */
static int
get_port(struct conf_table *t, struct forward *f, struct conf_err *e)
{
	struct conf_value *v = conf_lookup(t, "port");
	unsigned long a, b;
	char *end;

	if (v == NULL) {
		conf_errf(e, t, "port", "forward \"%s\": missing", f->name);
		return -1;
	}
	if (v->type == CONF_INT) {
		if (v->u.i < 1 || v->u.i > 65535)
			goto bad;
		f->port_min = f->port_max = (uint16_t)v->u.i;
		return 0;
	}
	if (v->type != CONF_STRING)
		goto bad;
	a = strtoul(v->u.s, &end, 10);
	if (end == v->u.s || (*end != '-' && *end != '\0'))
		goto bad;
	b = a;
	if (*end == '-') {
		const char *p = end + 1;

		b = strtoul(p, &end, 10);
		if (end == p || *end != '\0')
			goto bad;
	}
	if (a < 1 || b > 65535 || b < a)
		goto bad;
	f->port_min = (uint16_t)a;
	f->port_max = (uint16_t)b;
	return 0;
bad:
	conf_errf(e, t, "port", "forward \"%s\": expected a port (1-65535) or "
	    "a range \"LOW-HIGH\"", f->name);
	return -1;
}

/* A list of addresses, at most one per family when per_family. */
static int
get_addrs(struct conf_table *t, const char *key, struct forward *f,
    struct nft_ip *out, size_t max, size_t *n, bool per_family,
    struct conf_err *e)
{
	char *const *v;
	size_t i, j, cnt;
	int rc;

	*n = 0;
	if ((rc = conf_strarr(t, key, &v, &cnt, e)) <= 0)
		return rc;
	if (cnt > max) {
		conf_errf(e, t, key, "forward \"%s\": at most %zu addresses%s",
		    f->name, max, per_family ? ", one IPv4 and one IPv6" : "");
		return -1;
	}
	for (i = 0; i < cnt; i++) {
		if (nft_ip_parse(v[i], &out[i]) < 0) {
			conf_errf(e, t, key, "forward \"%s\": \"%s\" is not an "
			    "IPv4 or IPv6 address", f->name, v[i]);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (per_family ? out[j].family == out[i].family :
			    nft_ip_equal(&out[j], &out[i])) {
				conf_errf(e, t, key, "forward \"%s\": %s", f->name,
				    per_family ? "more than one address of a "
				    "family" : "address listed twice");
				return -1;
			}
	}
	*n = cnt;
	return 1;
}

static void
split_family(const struct nft_ip *v, size_t n, struct nft_ip *v4,
    struct nft_ip *v6)
{
	for (size_t i = 0; i < n; i++)
		*(v[i].family == AF_INET ? v4 : v6) = v[i];
}

static int
get_protocols(struct conf_table *t, struct forward *f, struct conf_err *e)
{
	char *const *v;
	size_t i, n;
	int rc;

	f->tcp = true;
	if ((rc = conf_strarr(t, "protocols", &v, &n, e)) < 0)
		return -1;
	if (rc == 0)
		return 0;
	f->tcp = false;
	for (i = 0; i < n; i++) {
		if (strcmp(v[i], "tcp") == 0 && !f->tcp)
			f->tcp = true;
		else if (strcmp(v[i], "udp") == 0 && !f->udp)
			f->udp = true;
		else
			goto bad;
	}
	if (f->tcp || f->udp)
		return 0;
bad:
	conf_errf(e, t, "protocols", "forward \"%s\": expected a list of "
	    "\"tcp\" and/or \"udp\"", f->name);
	return -1;
}

static int
parse_forward(struct conf_table *t, struct forward *f, struct conf_err *e)
{
	struct nft_ip to[2], snat[2];
	const char *name = NULL;
	long long port;
	size_t n, i;
	int rc;

	f->line = t->line;
	f->local = true;
	if ((rc = conf_str(t, "name", &name, e)) <= 0) {
		if (rc == 0)
			conf_errf(e, t, "name", "missing (every forward needs "
			    "a name: it labels its rules and error messages)");
		return -1;
	}
	if (!valid_name(name, 64)) {
		conf_errf(e, t, "name", "\"%s\": use 1-64 letters, digits, "
		    "'-', '_' or '.'", name);
		return -1;
	}
	if ((f->name = strdup(name)) == NULL) {
		conf_errf(e, t, "name", "out of memory");
		return -1;
	}
	if (get_protocols(t, f, e) < 0 || get_port(t, f, e) < 0)
		return -1;
	if (get_addrs(t, "listen", f, f->listen, PORTMAP_MAX_ADDRS,
	    &f->nlisten, false, e) < 0)
		return -1;
	if ((rc = get_addrs(t, "to", f, to, 2, &n, true, e)) < 0)
		return -1;
	if (rc == 0) {
		conf_errf(e, t, "to", "forward \"%s\": missing (the destination "
		    "address, one IPv4 and/or one IPv6)", f->name);
		return -1;
	}
	split_family(to, n, &f->to4, &f->to6);
	for (i = 0; i < f->nlisten; i++)
		if ((f->listen[i].family == AF_INET ? f->to4 : f->to6).family == 0) {
			conf_errf(e, t, "to", "forward \"%s\": listens on an "
			    "IPv%c address but has no IPv%c destination",
			    f->name, f->listen[i].family == AF_INET ? '4' : '6',
			    f->listen[i].family == AF_INET ? '4' : '6');
			return -1;
		}
	port = 0;
	if (conf_int(t, "to_port", 1, 65535, &port, e) < 0)
		return -1;
	if (port && f->port_min != f->port_max) {
		conf_errf(e, t, "to_port", "forward \"%s\": a port range keeps "
		    "its ports; drop to_port", f->name);
		return -1;
	}
	f->to_port = (uint16_t)port;
	if (conf_bool(t, "local", &f->local, e) < 0 ||
	    conf_bool(t, "remote", &f->remote, e) < 0 ||
	    conf_bool(t, "masquerade", &f->masquerade, e) < 0)
		return -1;
	if ((rc = get_addrs(t, "snat_to", f, snat, 2, &n, true, e)) < 0)
		return -1;
	if (rc > 0 && f->masquerade) {
		conf_errf(e, t, "snat_to", "forward \"%s\": use either "
		    "masquerade or snat_to", f->name);
		return -1;
	}
	split_family(snat, n, &f->snat4, &f->snat6);
	if (rc > 0 && ((f->to4.family && !f->snat4.family) ||
	    (f->to6.family && !f->snat6.family))) {
		conf_errf(e, t, "snat_to", "forward \"%s\": needs a source "
		    "address for each destination family", f->name);
		return -1;
	}
	/* SNAT only makes sense towards another host. */
	if (f->masquerade || rc > 0)
		f->remote = true;
	return conf_check_unused(t, e);
}

/* Does f catch traffic of family fam at all? */
static bool
covers(const struct forward *f, int fam)
{
	size_t i;

	if ((fam == AF_INET ? f->to4 : f->to6).family == 0)
		return false;
	if (f->nlisten == 0)
		return true;
	for (i = 0; i < f->nlisten; i++)
		if (f->listen[i].family == fam)
			return true;
	return false;
}

/* Two forwards catching the same packets would make the second dead. */
static bool
overlaps(const struct forward *a, const struct forward *b, int fam)
{
	size_t i, j;

	if (!((a->tcp && b->tcp) || (a->udp && b->udp)))
		return false;
	if (a->port_max < b->port_min || b->port_max < a->port_min)
		return false;
	if (!covers(a, fam) || !covers(b, fam))
		return false;
	if (a->nlisten == 0 || b->nlisten == 0)
		return true;
	for (i = 0; i < a->nlisten; i++)
		for (j = 0; j < b->nlisten; j++)
			if (a->listen[i].family == fam &&
			    nft_ip_equal(&a->listen[i], &b->listen[j]))
				return true;
	return false;
}

/*
 * Duplicate names and overlapping forwards, in O(n log n) so 10,000
 * forwards check as fast as ten: sort, then compare neighbours.  The
 * conflict reported is the one whose later entry comes first in the file.
 */
static const struct forward *sort_base;

static int
by_name(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = strcmp(sort_base[i].name, sort_base[j].name);

	return c ? c : (i < j ? -1 : i > j);
}

static int
by_port(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const struct forward *x = &sort_base[i], *y = &sort_base[j];

	if (x->port_min != y->port_min)
		return x->port_min < y->port_min ? -1 : 1;
	return i < j ? -1 : i > j;
}

static void
note_conflict(size_t a, size_t b, size_t *later, size_t *earlier)
{
	size_t lo = a < b ? a : b, hi = a < b ? b : a;

	if (hi < *later) {
		*later = hi;
		*earlier = lo;
	}
}

static int
check_conflicts(struct portmap_conf *c, struct conf_table *const *tv,
    struct conf_err *e)
{
	size_t n = c->nfwd, i, j, *ix;
	size_t name_l = SIZE_MAX, name_e = 0, ov_l = SIZE_MAX, ov_e = 0;

	if (n < 2)
		return 0;
	if ((ix = malloc(n * sizeof(*ix))) == NULL) {
		snprintf(e->msg, sizeof(e->msg), "%s: out of memory", c->file);
		return -1;
	}
	sort_base = c->fwd;
	for (i = 0; i < n; i++)
		ix[i] = i;
	qsort(ix, n, sizeof(*ix), by_name);
	for (i = 1; i < n; i++)
		if (strcmp(c->fwd[ix[i - 1]].name, c->fwd[ix[i]].name) == 0)
			note_conflict(ix[i - 1], ix[i], &name_l, &name_e);
	qsort(ix, n, sizeof(*ix), by_port);
	for (i = 0; i < n; i++) {
		const struct forward *a = &c->fwd[ix[i]];

		for (j = i + 1; j < n && c->fwd[ix[j]].port_min <= a->port_max; j++)
			if (overlaps(a, &c->fwd[ix[j]], AF_INET) ||
			    overlaps(a, &c->fwd[ix[j]], AF_INET6))
				note_conflict(ix[i], ix[j], &ov_l, &ov_e);
	}
	free(ix);
	if (name_l != SIZE_MAX && name_l <= ov_l) {
		conf_errf(e, tv[name_l], "name", "forward \"%s\": name already "
		    "used on line %d", c->fwd[name_l].name, c->fwd[name_e].line);
		return -1;
	}
	if (ov_l != SIZE_MAX) {
		conf_errf(e, tv[ov_l], "port", "forward \"%s\": catches the same "
		    "traffic as forward \"%s\" (line %d)", c->fwd[ov_l].name,
		    c->fwd[ov_e].name, c->fwd[ov_e].line);
		return -1;
	}
	return 0;
}

struct portmap_conf *
portmap_conf_from_doc(struct conf_doc *doc, struct conf_err *e)
{
	struct portmap_conf *c = calloc(1, sizeof(*c));
	struct conf_table *const *tv;
	const char *table = PORTMAP_DEFAULT_TABLE;
	size_t n = 0, i;

	if (c == NULL || (c->file = strdup(doc->file)) == NULL)
		goto oom;
	if (conf_str(doc->root, "table", &table, e) < 0)
		goto fail;
	if (!valid_name(table, 32) || strchr(table, '.')) {
		conf_errf(e, doc->root, "table", "\"%s\": use 1-32 letters, "
		    "digits, '-' or '_'", table);
		goto fail;
	}
	if ((c->table = strdup(table)) == NULL)
		goto oom;
	if (conf_tables(doc->root, "forward", &tv, &n, e) < 0)
		goto fail;
	if (n > PORTMAP_MAX_FORWARDS) {
		conf_errf(e, doc->root, "forward", "more than %d forwards",
		    PORTMAP_MAX_FORWARDS);
		goto fail;
	}
	if (n && (c->fwd = calloc(n, sizeof(*c->fwd))) == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		c->nfwd = i + 1;
		if (parse_forward(tv[i], &c->fwd[i], e) < 0)
			goto fail;
	}
	if (check_conflicts(c, tv, e) < 0)
		goto fail;
	if (conf_check_unused(doc->root, e) < 0)
		goto fail;
	return c;
oom:
	snprintf(e->msg, sizeof(e->msg), "%s: out of memory", doc->file);
fail:
	portmap_conf_free(c);
	return NULL;
}

struct portmap_conf *
portmap_conf_load(const char *path, struct conf_err *e)
{
	struct conf_doc *doc;
	struct portmap_conf *c;

	memset(e, 0, sizeof(*e));
	if ((doc = conf_parse_file(path, 0, e)) == NULL)
		return NULL;
	c = portmap_conf_from_doc(doc, e);
	conf_free(doc);
	return c;
}

void
portmap_conf_free(struct portmap_conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nfwd; i++)
		free(c->fwd[i].name);
	free(c->fwd);
	free(c->table);
	free(c->file);
	free(c);
}

/* --- rules --------------------------------------------------------------- */

struct rulevec {
	struct nft_rulespec *v;
	size_t n, cap;
	bool oom;
};

static void
push(struct rulevec *rv, const struct nft_rulespec *r)
{
	if (rv->oom)
		return;
	if (rv->n == rv->cap) {
		size_t ncap = rv->cap ? rv->cap * 2 : 16;
		struct nft_rulespec *v = realloc(rv->v, ncap * sizeof(*v));

		if (v == NULL) {
			rv->oom = true;
			return;
		}
		rv->v = v;
		rv->cap = ncap;
	}
	rv->v[rv->n++] = *r;
}

/* The dnat rules of one forward/family/protocol in chain. */
static void
dnat_rules(struct rulevec *rv, const struct forward *f, size_t idx,
    int fam, uint8_t proto, const char *chain)
{
	const struct nft_ip *to = fam == AF_INET ? &f->to4 : &f->to6;
	struct nft_rulespec r = {
		.chain = chain, .family = fam, .l4proto = proto,
		.dport_min = f->port_min, .dport_max = f->port_max,
		.action = NFT_ACT_DNAT, .to = *to, .to_port = f->to_port,
		.comment = f->name, .tag = (int)idx,
	};
	size_t i;

	if (f->nlisten == 0) {
		r.fib_local = strcmp(chain, "output") == 0;
		push(rv, &r);
		return;
	}
	r.has_daddr = true;
	for (i = 0; i < f->nlisten; i++) {
		if (f->listen[i].family != fam)
			continue;
		r.daddr = f->listen[i];
		push(rv, &r);
	}
}

static void
remote_rules(struct rulevec *rv, const struct forward *f, size_t idx,
    int fam, uint8_t proto, bool postrouting)
{
	const struct nft_ip *to = fam == AF_INET ? &f->to4 : &f->to6;
	const struct nft_ip *snat = fam == AF_INET ? &f->snat4 : &f->snat6;
	struct nft_rulespec r = {
		.family = fam, .l4proto = proto, .ct_dnat = true,
		.has_daddr = true, .daddr = *to,
		.dport_min = f->to_port ? f->to_port : f->port_min,
		.dport_max = f->to_port ? f->to_port : f->port_max,
		.comment = f->name, .tag = (int)idx,
	};

	if (postrouting) {
		r.chain = "postrouting";
		r.action = f->masquerade ? NFT_ACT_MASQ : NFT_ACT_SNAT;
		r.to = *snat;
	} else {
		r.chain = "forward";
		r.ct_orig = true;	/* both directions of the flow */
		r.action = NFT_ACT_ACCEPT;
	}
	push(rv, &r);
}

/* The rules of forward f (index idx) in chain number ch. */
static void
forward_rules(struct rulevec *rv, const struct forward *f, size_t idx,
    size_t ch)
{
	static const int fams[] = { AF_INET, AF_INET6 };
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP };
	const char *chain = portmap_chains[ch].name;
	bool snat = f->masquerade || f->snat4.family || f->snat6.family;
	size_t fi, pi;

	for (fi = 0; fi < 2; fi++) {
		if ((fams[fi] == AF_INET ? f->to4 : f->to6).family == 0)
			continue;
		for (pi = 0; pi < 2; pi++) {
			uint8_t p = protos[pi];

			if (p == IPPROTO_TCP ? !f->tcp : !f->udp)
				continue;
			if (ch == 0 || (ch == 1 && f->local))
				dnat_rules(rv, f, idx, fams[fi], p, chain);
			else if ((ch == 2 && snat) || (ch == 3 && f->remote))
				remote_rules(rv, f, idx, fams[fi], p, ch == 2);
		}
	}
}

int
portmap_rules(const struct portmap_conf *c, struct nft_rulespec **out,
    size_t *n)
{
	struct rulevec rv = { 0 };
	size_t ch, i;

	/* Chain by chain, so the list reads in the order nft prints it. */
	for (ch = 0; ch < portmap_nchains; ch++)
		for (i = 0; i < c->nfwd; i++)
			forward_rules(&rv, &c->fwd[i], i, ch);
	if (rv.oom) {
		free(rv.v);
		return -1;
	}
	*out = rv.v;
	*n = rv.n;
	return 0;
}
