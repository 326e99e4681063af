/*
 * ports — is something listening where each config says?  A TCP
 * connect() (unix sockets too) to every listener, on loopback for a
 * wildcard address; for turnd's UDP listeners a STUN Binding request
 * (RFC 8489) that must be answered.  Listener addresses that are not
 * this host's are reported as such.
 */
#ifndef CHECK_PORTS_H
#define CHECK_PORTS_H

#include "site.h"

#define PORT_TIMEOUT_MS 2000

void ports_check(const struct site *s);

#endif
