/*
 * dns — the lookups the record checks make: A, AAAA and SRV through the
 * libc resolver (res_nquery, /etc/resolv.conf), or through one given
 * IPv4 nameserver and port (--nameserver, the tests' lab server).  No
 * search list: every name is absolute.
 */
#ifndef CHECK_DNS_H
#define CHECK_DNS_H

#include <stddef.h>
#include <sys/socket.h>

#include "site.h"

#define DNS_MAX_ANSWERS 16

struct dns_srv {
	int prio, weight, port;
	char target[NAME_MAX_LEN];	/* "." means: no such service */
};

/* nameserver: NULL, or "192.0.2.53" / "192.0.2.53:5353".  0 or -1. */
int dns_open(const char *nameserver, char *err, size_t errlen);
void dns_close(void);

/*
 * 1 with the records (ports 0), 0 when the name has none (why: "no such
 * name", "no A/AAAA record"), -1 when the lookup failed (why).
 */
int dns_addrs(const char *name, struct sockaddr_storage *out, size_t max,
    size_t *n, char *why, size_t whylen);
int dns_srv(const char *name, struct dns_srv *out, size_t max, size_t *n,
    char *why, size_t whylen);

#endif
