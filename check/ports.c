/*
 * ports — connect() and STUN probes.  See ports.h.
 */
#include "ports.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "local.h"
#include "report.h"

#define STUN_COOKIE 0x2112A442u

/* 0 connected, or -1 with why. */
static int
tcp_probe(const struct sockaddr *sa, socklen_t len, char *why, size_t whylen)
{
	struct pollfd p;
	socklen_t el = sizeof(int);
	int fd, err = 0, rc = -1;

	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, sa, len) == 0)
		rc = 0;
	else if (errno != EINPROGRESS)
		snprintf(why, whylen, "%s", strerror(errno));
	else {
		p.fd = fd;
		p.events = POLLOUT;
		if (poll(&p, 1, PORT_TIMEOUT_MS) != 1)
			snprintf(why, whylen, "no answer within %d s", PORT_TIMEOUT_MS / 1000);
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)
			rc = 0;
		else
			snprintf(why, whylen, "%s", strerror(err ? err : errno));
	}
	close(fd);
	return rc;
}

/* A Binding request and its answer (any class): 0, or -1 with why. */
static int
stun_probe(const struct sockaddr *sa, socklen_t len, char *why, size_t whylen)
{
	unsigned char req[20], ans[1500];
	struct pollfd p;
	ssize_t n;
	int fd, rc = -1;

	req[0] = 0x00;
	req[1] = 0x01;		/* Binding request */
	req[2] = req[3] = 0;	/* no attributes */
	req[4] = STUN_COOKIE >> 24;
	req[5] = (STUN_COOKIE >> 16) & 0xff;
	req[6] = (STUN_COOKIE >> 8) & 0xff;
	req[7] = STUN_COOKIE & 0xff;
	if (random_bytes(req + 8, 12) == -1) {
		snprintf(why, whylen, "no randomness");
		return -1;
	}
	if ((fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, sa, len) == -1 || send(fd, req, sizeof(req), 0) != sizeof(req)) {
		snprintf(why, whylen, "%s", strerror(errno));
		goto out;
	}
	p.fd = fd;
	p.events = POLLIN;
	for (;;) {
		if (poll(&p, 1, PORT_TIMEOUT_MS) != 1) {
			snprintf(why, whylen, "no STUN answer within %d s", PORT_TIMEOUT_MS / 1000);
			break;
		}
		if ((n = recv(fd, ans, sizeof(ans), 0)) < 0) {
			/* ECONNREFUSED: the ICMP port unreachable of a closed port */
			snprintf(why, whylen, "%s", strerror(errno));
			break;
		}
		if (n >= 20 && (ans[0] & 0xc0) == 0 && memcmp(ans + 4, req + 4, 16) == 0) {
			rc = 0;
			break;
		}
	}
out:
	close(fd);
	return rc;
}

static void
probe(const struct site *s, const struct listener *l)
{
	struct edge_addr to = l->a;
	char where[128], at[128], why[256], fix[256];
	const char *dname = s->d[l->daemon].name;
	bool udp = l->svc == SVC_TURN_UDP;
	int rc;

	addr_format(&l->a, where, sizeof(where));
	if (l->a.family == AF_INET && ip_is_any(&l->a.u.ss))
		to.u.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (l->a.family == AF_INET6 && ip_is_any(&l->a.u.ss))
		to.u.sin6.sin6_addr = in6addr_loopback;
	else if (l->a.family != AF_UNIX && !local_has(&l->a.u.ss)) {
		report(V_FAIL, "add the address to this host, or listen on one it has",
		    "port: %s %s (%s): not an address of this host", svc_name(l->svc),
		    where, l->key);
		return;
	}
	addr_format(&to, at, sizeof(at));
	rc = udp ? stun_probe(&to.u.sa, to.len, why, sizeof(why)) :
	    tcp_probe(&to.u.sa, to.len, why, sizeof(why));
	if (rc == 0) {
		report(V_OK, NULL, "port: %s %s (%s): %s answers%s%s", svc_name(l->svc),
		    where, l->key, udp ? "STUN" : "something", strcmp(at, where) ? " on " : "",
		    strcmp(at, where) ? at : "");
		return;
	}
	snprintf(fix, sizeof(fix), "start %s (systemctl start %s; journalctl -u %s "
	    "says why it is not up)", dname, dname, dname);
	report(V_FAIL, fix, "port: %s %s (%s): nothing listens (%s%s%s)", svc_name(l->svc),
	    where, l->key, strcmp(at, where) ? at : "", strcmp(at, where) ? ": " : "", why);
}

void
ports_check(const struct site *s)
{
	for (size_t i = 0; i < s->nls; i++)
		probe(s, &s->ls[i]);
}
