/*
 * dns — res_nquery with a private resolver state.  See dns.h.
 */
#include "dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* after this many lookups in a row without an answer the server is
 * taken as down: the remaining checks say so at once instead of each
 * waiting out its own timeouts */
#define DNS_GIVE_UP 3

static struct __res_state rs;
static int opened, timeouts;

int
dns_open(const char *nameserver, char *err, size_t errlen)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(53) };
	char host[64];
	const char *colon;

	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) < 0) {
		snprintf(err, errlen, "resolver initialisation failed");
		return -1;
	}
	opened = 1;
	timeouts = 0;
	rs.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
	rs.retrans = 2;
	rs.retry = 2;
	if (nameserver == NULL)
		return 0;
	colon = strchr(nameserver, ':');
	snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - nameserver) :
	    (int)strlen(nameserver), nameserver);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1 ||
	    (colon && (atoi(colon + 1) < 1 || atoi(colon + 1) > 65535))) {
		snprintf(err, errlen, "--nameserver %s: expected IPv4[:PORT]", nameserver);
		return -1;
	}
	if (colon)
		sin.sin_port = htons((uint16_t)atoi(colon + 1));
	/* glibc takes an IPv4 server from nsaddr_list when its family is
	 * set (as dumbclient-redirect's resolver does) */
	rs.nscount = 1;
	rs.nsaddr_list[0] = sin;
	return 0;
}

void
dns_close(void)
{
	if (opened)
		res_nclose(&rs);
	opened = 0;
}

static void
absolute(const char *name, char *out, size_t len)
{
	size_t n = strlen(name);

	snprintf(out, len, "%s%s", name, n && name[n - 1] == '.' ? "" : ".");
}

/* res_nquery into ans: length, 0 for no records, -1 failed; why set. */
static int
query(const char *name, int type, unsigned char *ans, size_t cap, char *why,
    size_t whylen)
{
	char q[NAME_MAX_LEN + 2];
	int len;

	absolute(name, q, sizeof(q));
	if (timeouts >= DNS_GIVE_UP) {
		snprintf(why, whylen, "lookup skipped: the nameserver did not answer "
		    "%d lookups in a row", DNS_GIVE_UP);
		return -1;
	}
	if ((len = res_nquery(&rs, q, ns_c_in, type, ans, (int)cap)) >= 0) {
		timeouts = 0;
		return len;
	}
	timeouts = rs.res_h_errno == TRY_AGAIN ? timeouts + 1 : 0;
	switch (rs.res_h_errno) {
	case HOST_NOT_FOUND:
		snprintf(why, whylen, "no such name");
		return 0;
	case NO_DATA:
		snprintf(why, whylen, "no %s record", type == ns_t_a ? "A" :
		    type == ns_t_aaaa ? "AAAA" : "SRV");
		return 0;
	case TRY_AGAIN:
		snprintf(why, whylen, "lookup failed (timeout or SERVFAIL)");
		return -1;
	default:
		snprintf(why, whylen, "lookup failed (refused or malformed answer)");
		return -1;
	}
}

int
dns_addrs(const char *name, struct sockaddr_storage *out, size_t max,
    size_t *n, char *why, size_t whylen)
{
	static const int types[] = { ns_t_a, ns_t_aaaa };
	unsigned char ans[4096];
	int failed = 0, nxdomain = 0;

	*n = 0;
	for (int t = 0; t < 2; t++) {
		ns_msg msg;
		ns_rr rr;
		int len = query(name, types[t], ans, sizeof(ans), why, whylen);

		if (len < 0)
			failed = 1;
		if (len == 0 && rs.res_h_errno == HOST_NOT_FOUND)
			nxdomain = 1;
		if (len <= 0 || ns_initparse(ans, len, &msg) < 0)
			continue;
		for (int i = 0; i < ns_msg_count(msg, ns_s_an) && *n < max; i++) {
			struct sockaddr_storage *ss = &out[*n];

			if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
				break;
			memset(ss, 0, sizeof(*ss));
			if (ns_rr_type(rr) == ns_t_a && ns_rr_rdlen(rr) == 4) {
				struct sockaddr_in *sin = (struct sockaddr_in *)ss;

				sin->sin_family = AF_INET;
				memcpy(&sin->sin_addr, ns_rr_rdata(rr), 4);
				(*n)++;
			} else if (ns_rr_type(rr) == ns_t_aaaa && ns_rr_rdlen(rr) == 16) {
				struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

				sin6->sin6_family = AF_INET6;
				memcpy(&sin6->sin6_addr, ns_rr_rdata(rr), 16);
				(*n)++;
			}
		}
	}
	if (*n > 0)
		return 1;
	if (failed)
		return -1;
	snprintf(why, whylen, nxdomain ? "no such name" : "no A or AAAA record");
	return 0;
}

int
dns_srv(const char *name, struct dns_srv *out, size_t max, size_t *n,
    char *why, size_t whylen)
{
	unsigned char ans[4096];
	ns_msg msg;
	ns_rr rr;
	int len;

	*n = 0;
	if ((len = query(name, ns_t_srv, ans, sizeof(ans), why, whylen)) <= 0)
		return len;
	if (ns_initparse(ans, len, &msg) < 0) {
		snprintf(why, whylen, "malformed answer");
		return -1;
	}
	for (int i = 0; i < ns_msg_count(msg, ns_s_an) && *n < max; i++) {
		const unsigned char *rd;
		struct dns_srv *o = &out[*n];

		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			break;
		if (ns_rr_type(rr) != ns_t_srv || ns_rr_rdlen(rr) < 7)
			continue;
		rd = ns_rr_rdata(rr);
		o->prio = ns_get16(rd);
		o->weight = ns_get16(rd + 2);
		o->port = ns_get16(rd + 4);
		if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), rd + 6,
		    o->target, sizeof(o->target)) < 0)
			continue;
		(*n)++;
	}
	if (*n > 0)
		return 1;
	snprintf(why, whylen, "no SRV record");
	return 0;
}
