/*
 * records — DNS against the configs.  See records.h.
 */
#include "records.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dns.h"
#include "local.h"
#include "report.h"

enum need {
	OPTIONAL,		/* checked when it exists */
	WANTED,			/* a warning when it does not */
};

static bool
listener_serves(const struct listener *l, const struct sockaddr_storage *ip, int port)
{
	const struct sockaddr_storage *la = &l->a.u.ss;

	if (l->a.family != AF_INET && l->a.family != AF_INET6)
		return false;
	if (addr_port(&l->a) != port)
		return false;
	if (!ip_is_any(la))
		return ip_equal(la, ip);
	/* a wildcard serves this host's addresses of its family, and a
	 * dual-stack [::] the IPv4 ones too */
	return local_has(ip) && (la->ss_family == ip->ss_family ||
	    (l->a.dualstack && ip->ss_family == AF_INET));
}

static const struct listener *
direct(const struct site *s, enum svc v, const struct sockaddr_storage *ip, int port)
{
	for (size_t i = 0; i < s->nls; i++)
		if (s->ls[i].svc == v && listener_serves(&s->ls[i], ip, port))
			return &s->ls[i];
	return NULL;
}

static bool
fwd_catches(const struct fwd *f, enum svc v, const struct sockaddr_storage *ip, int port)
{
	if (!(v == SVC_TURN_UDP ? f->udp : f->tcp))
		return false;
	if (port < f->port_min || port > f->port_max)
		return false;
	if (f->nlisten == 0)
		return local_has(ip);
	for (size_t i = 0; i < f->nlisten; i++)
		if (ip_equal(&f->listen[i], ip))
			return true;
	return false;
}

/*
 * Does ip:port reach a listener of kind v on this host?  true with how in
 * how; false with why in how.
 */
static bool
served(const struct site *s, enum svc v, const struct sockaddr_storage *ip, int port,
    char *how, size_t len)
{
	const struct listener *l;
	char a[64], b[64];

	if ((l = direct(s, v, ip, port)) != NULL) {
		snprintf(how, len, "%s %s", svc_name(v), addr_format(&l->a, b, sizeof(b)));
		return true;
	}
	for (size_t i = 0; i < s->nfwd; i++) {
		const struct fwd *f = &s->fwd[i];

		if (!fwd_catches(f, v, ip, port))
			continue;
		for (size_t j = 0; j < f->nto; j++) {
			int to_port = f->to_port ? f->to_port : port;

			if (f->to[j].ss_family != ip->ss_family)
				continue;	/* DNAT keeps the family */
			if ((l = direct(s, v, &f->to[j], to_port)) != NULL) {
				snprintf(how, len, "portmap forward %s to %s, %s", f->name,
				    ip_str(&f->to[j], to_port, a, sizeof(a)), svc_name(v));
				return true;
			}
			snprintf(how, len, "portmap forward %s sends it to %s, where no "
			    "%s listens", f->name, ip_str(&f->to[j], to_port, a, sizeof(a)),
			    svc_name(v));
			return false;
		}
		snprintf(how, len, "portmap forward %s has no %s destination", f->name,
		    ip->ss_family == AF_INET ? "IPv4" : "IPv6");
		return false;
	}
	if (!local_has(ip))
		snprintf(how, len, "%s is no address of this host", ip_str(ip, 0, a, sizeof(a)));
	else
		snprintf(how, len, "no %s listens on %s", svc_name(v),
		    ip_str(ip, port, a, sizeof(a)));
	return false;
}

static bool
have(const struct site *s, enum svc v)
{
	for (size_t i = 0; i < s->nls; i++)
		if (s->ls[i].svc == v)
			return true;
	return false;
}

/* Where records for v may point: "[::]:5222, portmap xmpps 192.0.2.2:443". */
static const char *
where(const struct site *s, enum svc v, char *buf, size_t len)
{
	char a[64];

	buf[0] = '\0';
	for (size_t i = 0; i < s->nls; i++)
		if (s->ls[i].svc == v)
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
			    buf[0] ? ", " : "", addr_format(&s->ls[i].a, a, sizeof(a)));
	for (size_t i = 0; i < s->nfwd; i++) {
		const struct fwd *f = &s->fwd[i];

		for (size_t j = 0; j < f->nto; j++) {
			int to_port = f->to_port ? f->to_port : f->port_min;

			if (direct(s, v, &f->to[j], to_port) == NULL)
				continue;
			for (size_t k = 0; k < f->nlisten; k++)
				if (f->listen[k].ss_family == f->to[j].ss_family)
					snprintf(buf + strlen(buf), len - strlen(buf),
					    "%sportmap %s %s", buf[0] ? ", " : "", f->name,
					    ip_str(&f->listen[k], f->port_min, a, sizeof(a)));
		}
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "nowhere: no %s is configured", svc_name(v));
	return buf;
}

/* The port a record for v should name: a forward's (443) or the listener's. */
static int
public_port(const struct site *s, enum svc v)
{
	for (size_t i = 0; i < s->nfwd; i++)
		for (size_t j = 0; j < s->fwd[i].nto; j++) {
			const struct fwd *f = &s->fwd[i];

			if (direct(s, v, &f->to[j], f->to_port ? f->to_port : f->port_min))
				return f->port_min;
		}
	for (size_t i = 0; i < s->nls; i++)
		if (s->ls[i].svc == v)
			return addr_port(&s->ls[i].a);
	return 0;
}

/*
 * Every address of host at port reaches v.  label says which record led
 * here.  true when all do.
 */
static bool
check_host(const struct site *s, const char *label, const char *host, int port,
    enum svc v, bool quiet_ok)
{
	struct sockaddr_storage ips[DNS_MAX_ANSWERS];
	char why[256], how[384], fix[768], wbuf[512], okl[1024], a[64];
	size_t n;
	bool all = true;
	int rc;

	if (ip_parse(host, &ips[0]) == 0)
		n = 1;
	else if ((rc = dns_addrs(host, ips, DNS_MAX_ANSWERS, &n, why, sizeof(why))) != 1) {
		snprintf(fix, sizeof(fix), "add %s. A/AAAA records with the addresses "
		    "of %s (%s)", host, svc_name(v), where(s, v, wbuf, sizeof(wbuf)));
		report(V_FAIL, rc == 0 ? fix :
		    "check the nameserver (/etc/resolv.conf) and the zone",
		    "dns: %s: %s: %s", label, host, why);
		return false;
	}
	okl[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (served(s, v, &ips[i], port, how, sizeof(how))) {
			snprintf(okl + strlen(okl), sizeof(okl) - strlen(okl), "%s%s (%s)",
			    okl[0] ? ", " : "", ip_str(&ips[i], 0, a, sizeof(a)), how);
			continue;
		}
		all = false;
		snprintf(fix, sizeof(fix), "point %s at an address where %s listens, "
		    "or change the record (%s listens at %s)", host, svc_name(v),
		    svc_name(v), where(s, v, wbuf, sizeof(wbuf)));
		report(V_FAIL, fix, "dns: %s: %s %s port %d: %s", label, host,
		    ip_str(&ips[i], 0, a, sizeof(a)), port, how);
	}
	if (all && !quiet_ok)
		report(V_OK, NULL, "dns: %s: %s port %d: %s", label, host, port, okl);
	return all;
}

/*
 * One SRV name.  fallback: the domain clients try without SRV (RFC 6120
 * §3.2.2), with its port; NULL for services that have none.
 */
static void
check_srv(const struct site *s, const char *name, enum svc v, enum need need,
    const char *fallback, int fallback_port)
{
	struct dns_srv srv[DNS_MAX_ANSWERS];
	char why[256], fix[512], label[NAME_MAX_LEN + 16];
	size_t n;
	int rc;

	snprintf(label, sizeof(label), "%s SRV", name);
	if ((rc = dns_srv(name, srv, DNS_MAX_ANSWERS, &n, why, sizeof(why))) < 0) {
		report(V_FAIL, "check the nameserver (/etc/resolv.conf) and the zone",
		    "dns: %s: %s", label, why);
		return;
	}
	if (rc == 0) {
		snprintf(fix, sizeof(fix), "add %s. SRV 0 5 %d <name of this host>.",
		    name, public_port(s, v));
		if (fallback && have(s, v)) {
			char fl[2 * NAME_MAX_LEN + 320];

			/* a failing address says so itself, with this label */
			snprintf(fl, sizeof(fl), "%s: %s, so clients use %s:%d", label, why,
			    fallback, fallback_port);
			if (check_host(s, fl, fallback, fallback_port, v, true))
				report(V_OK, NULL, "dns: %s: %s; %s:%d reaches %s", label, why,
				    fallback, fallback_port, svc_name(v));
		} else if (need == WANTED && have(s, v))
			report(V_WARN, fix, "dns: %s: %s", label, why);
		return;
	}
	if (n == 1 && strcmp(srv[0].target, ".") == 0) {
		if (have(s, v))
			report(V_FAIL, "replace the \".\" target with this host's name",
			    "dns: %s: \".\" says the service is not offered, but %s is configured",
			    label, svc_name(v));
		else
			report(V_OK, NULL, "dns: %s: \".\" (not offered)", label);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char l2[NAME_MAX_LEN * 2 + 32];

		snprintf(l2, sizeof(l2), "%s -> %s:%d", label, srv[i].target, srv[i].port);
		check_host(s, l2, srv[i].target, srv[i].port, v, false);
	}
}

static void
check_resolves(const char *label, const char *host)
{
	struct sockaddr_storage ips[DNS_MAX_ANSWERS];
	char why[256], list[512], a[64], fix[NAME_MAX_LEN + 64];
	size_t n;
	int rc;

	if ((rc = dns_addrs(host, ips, DNS_MAX_ANSWERS, &n, why, sizeof(why))) != 1) {
		snprintf(fix, sizeof(fix), "add %s. A/AAAA records (the nginx host)", host);
		report(V_FAIL, rc == 0 ? fix :
		    "check the nameserver (/etc/resolv.conf) and the zone",
		    "dns: %s: %s: %s", label, host, why);
		return;
	}
	list[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
		    list[0] ? ", " : "", ip_str(&ips[i], 0, a, sizeof(a)));
	report(V_OK, NULL, "dns: %s: %s: %s", label, host, list);
}

static void
check_xmpp(const struct site *s)
{
	char name[NAME_MAX_LEN + 32];

	for (size_t i = 0; i < s->nhosts; i++) {
		const char *d = s->hosts[i];

		snprintf(name, sizeof(name), "_xmpp-client._tcp.%s", d);
		check_srv(s, name, SVC_C2S, WANTED, d, 5222);
		snprintf(name, sizeof(name), "_xmpps-client._tcp.%s", d);
		check_srv(s, name, SVC_C2S_TLS, WANTED, NULL, 0);
		snprintf(name, sizeof(name), "_xmpp-server._tcp.%s", d);
		check_srv(s, name, SVC_S2S, WANTED, s->s2s ? d : NULL, 5269);
		snprintf(name, sizeof(name), "_xmpps-server._tcp.%s", d);
		check_srv(s, name, SVC_S2S_TLS, WANTED, NULL, 0);
	}
	/* other servers reach the services (conference. ...) over s2s */
	for (size_t i = 0; s->s2s && i < s->nnames; i++) {
		const struct sitename *nm = &s->names[i];
		bool hosted = false;

		for (size_t j = 0; j < s->nhosts; j++)
			hosted |= strcasecmp(s->hosts[j], nm->name) == 0;
		if (!nm->xmpp || hosted)
			continue;
		snprintf(name, sizeof(name), "_xmpp-server._tcp.%s", nm->name);
		check_srv(s, name, SVC_S2S, WANTED, nm->name, 5269);
	}
	for (size_t i = 0; i < s->nnames; i++)
		if (s->names[i].web)
			check_resolves(s->names[i].what, s->names[i].name);
	if (s->proxy_host)
		check_host(s, "[proxy65] host", s->proxy_host, s->proxy_port, SVC_PROXY65, false);
}

static void
check_turn(const struct site *s)
{
	static const struct {
		const char *prefix;
		enum svc v;
		enum need need;
	} recs[] = {
		{ "_stun._udp", SVC_TURN_UDP, WANTED },
		{ "_turn._udp", SVC_TURN_UDP, WANTED },
		{ "_turn._tcp", SVC_TURN_TCP, OPTIONAL },
		{ "_stuns._tcp", SVC_TURN_TLS, OPTIONAL },
		{ "_turns._tcp", SVC_TURN_TLS, WANTED },
	};
	const char *doms[SITE_MAX_HOSTS];
	char name[NAME_MAX_LEN + 32];
	size_t nd = 0;

	for (size_t i = 0; i < s->nhosts; i++)
		doms[nd++] = s->hosts[i];
	if (nd == 0 && s->t_realm)
		doms[nd++] = s->t_realm;
	for (size_t i = 0; s->d[D_TURND].loaded && i < nd; i++)
		for (size_t j = 0; j < sizeof(recs) / sizeof(recs[0]); j++) {
			snprintf(name, sizeof(name), "%s.%s", recs[j].prefix, doms[i]);
			check_srv(s, name, recs[j].v, recs[j].need, NULL, 0);
		}
	/* what XEP-0215 hands to clients must lead to turnd too */
	for (size_t i = 0; i < s->next; i++) {
		const struct extdisco *x = &s->ext[i];
		enum svc v = x->type[strlen(x->type) - 1] == 's' ? SVC_TURN_TLS :
		    x->tcp ? SVC_TURN_TCP : SVC_TURN_UDP;
		char label[64];

		snprintf(label, sizeof(label), "[extdisco] %s %s", x->type, x->tcp ? "tcp" : "udp");
		if (s->d[D_TURND].loaded)
			check_host(s, label, x->host, x->port, v, false);
		else
			check_resolves(label, x->host);
	}
}

static void
check_redirect(const struct site *s)
{
	struct sockaddr_storage ips[DNS_MAX_ANSWERS];
	char why[256], a[64], fix[512];
	size_t n;
	int rc;

	if (!s->d[D_REDIRECT].loaded || s->r_domain == NULL)
		return;
	if ((rc = dns_addrs(s->r_domain, ips, DNS_MAX_ANSWERS, &n, why, sizeof(why))) != 1) {
		report(V_FAIL, "add the domain's A/AAAA records (the web host)",
		    "dns: dumbclient-redirect domain %s: %s", s->r_domain, why);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		bool mine = s->nr_listen == 0 ? local_has(&ips[i]) : false;

		for (size_t j = 0; j < s->nr_listen; j++)
			mine |= ip_equal(&s->r_listen[j], &ips[i]);
		snprintf(fix, sizeof(fix), "point %s at this host, or add the address to "
		    "dumbclient-redirect.toml's listen", s->r_domain);
		if (mine)
			report(V_OK, NULL, "dns: dumbclient-redirect domain %s: %s is redirected",
			    s->r_domain, ip_str(&ips[i], 0, a, sizeof(a)));
		else
			report(V_FAIL, fix, "dns: dumbclient-redirect domain %s: %s is not "
			    "one of its listen addresses", s->r_domain, ip_str(&ips[i], 0, a, sizeof(a)));
	}
}

void
records_check(const struct site *s)
{
	if (s->d[D_XMPP].loaded)
		check_xmpp(s);
	check_turn(s);
	check_redirect(s);
}
