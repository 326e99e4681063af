/*
 * throttle — recent registrations by address.  See throttle.h.
 *
 * A ring of the last THROTTLE_MAX registrations (address and time),
 * counted when the account is asked for, so that parallel sessions from
 * one address cannot all pass; one that fails is struck out again.
 * Checking scans it: registrations are rare next to everything else a
 * server does, and a ring cannot grow.  An address is compared in full
 * (IPv4, IPv6 /128) for throttle_per_ip and under its prefix for
 * throttle_per_subnet; a v4-mapped IPv6 address counts as IPv4.
 */
#include "throttle.h"

#include <stdint.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "corestats.h"
#include "regconf.h"

#define THROTTLE_MAX 4096

struct rec {
	uint8_t a[16];
	bool v4;
	bool gone;	/* that registration failed */
	uint64_t at;
};

static struct rec ring[THROTTLE_MAX];
static size_t head, count;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool
addr_of(const struct sockaddr *sa, struct rec *r)
{
	memset(r, 0, sizeof(*r));
	if (sa->sa_family == AF_INET) {
		memcpy(r->a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		r->v4 = true;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;

		if (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
			memcpy(r->a, a + 12, 4);
			r->v4 = true;
		} else {
			memcpy(r->a, a, 16);
		}
		return true;
	}
	return false;
}

static bool
prefix_eq(const uint8_t *x, const uint8_t *y, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(x, y, bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));

	return (x[bytes] & mask) == (y[bytes] & mask);
}

bool
throttle_allows(const struct reg_config *c, const struct sockaddr *sa)
{
	struct rec me;
	uint64_t now = now_ms();
	unsigned same = 0, near = 0;

	if ((c->throttle_ip == 0 && c->throttle_subnet == 0) || !addr_of(sa, &me))
		return true;
	for (size_t i = 0; i < count; i++) {
		const struct rec *r = &ring[(head + THROTTLE_MAX - 1 - i) % THROTTLE_MAX];

		if (now - r->at >= c->throttle_period_ms)
			break;		/* newest first: the rest are older */
		if (r->v4 != me.v4 || r->gone)
			continue;
		if (prefix_eq(r->a, me.a, me.v4 ? 32 : 128))
			same++;
		if (prefix_eq(r->a, me.a, me.v4 ? c->prefix4 : c->prefix6))
			near++;
	}
	if ((c->throttle_ip && same >= c->throttle_ip) ||
	    (c->throttle_subnet && near >= c->throttle_subnet)) {
		core_stats.reg_throttled++;	/* every caller refuses on false */
		return false;
	}
	return true;
}

void
throttle_count(const struct sockaddr *sa)
{
	struct rec r;

	if (!addr_of(sa, &r))
		return;
	r.at = now_ms();
	ring[head] = r;
	head = (head + 1) % THROTTLE_MAX;
	if (count < THROTTLE_MAX)
		count++;
}

void
throttle_uncount(const struct sockaddr *sa)
{
	struct rec me;

	if (!addr_of(sa, &me))
		return;
	for (size_t i = 0; i < count; i++) {
		struct rec *r = &ring[(head + THROTTLE_MAX - 1 - i) % THROTTLE_MAX];

		if (!r->gone && r->v4 == me.v4 && memcmp(r->a, me.a, 16) == 0) {
			r->gone = true;
			return;
		}
	}
}

void
throttle_clear(void)
{
	head = count = 0;
}
