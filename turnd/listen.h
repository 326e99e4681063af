/*
 * listen — the listening sockets: UDP and TCP on each `listen` address,
 * TLS on each `tls_listen` address, and the UDP receive path (recvmmsg
 * with the destination address of each datagram, so replies leave from
 * the address the client used even on a wildcard socket).
 */
#ifndef TURND_LISTEN_H
#define TURND_LISTEN_H

#include "turnd.h"

/* Binds every listener of td->cfg.  -1 with message. */
int listen_open(struct turnd *td, char *err, size_t errlen);
/* Starts watching them (after privileges are dropped). */
int listen_start(struct turnd *td);
void listen_close(struct turnd *td);

#endif
