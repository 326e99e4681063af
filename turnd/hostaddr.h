/*
 * hostaddr — the host's own addresses, kept current: read with
 * getifaddrs(3) at start-up and on every reload, and again whenever the
 * kernel reports an address added or removed (an rtnetlink
 * RTMGRP_IPV4_IFADDR/RTMGRP_IPV6_IFADDR subscription on the event loop).
 * The policy refuses them as peers (policy.h).
 */
#ifndef TURND_HOSTADDR_H
#define TURND_HOSTADDR_H

#include <stddef.h>

struct policy;
struct turnd;

/* Reads the host's addresses into p.  0, or -1 with the reason in err. */
int hostaddr_load(struct policy *p, char *err, size_t errlen);
/* Follows address changes into td->cfg's policy.  0 / -1 with err. */
int hostaddr_watch(struct turnd *td, char *err, size_t errlen);
void hostaddr_unwatch(struct turnd *td);

#endif
