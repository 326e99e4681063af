/*
 * conn — connections before and between requests, where libmicrohttpd
 * alone would let a few peers starve everyone: the limit of open
 * connections per client (an IPv4 address, an IPv6 /64, since one IPv6
 * host holds a whole /64; the local proxy exempt), and the header
 * deadline (a connection must complete its request headers within
 * header_timeout of opening or of its previous request ending, however
 * slowly it trickles bytes; libmicrohttpd's own timeout is for
 * inactivity only).
 *
 * libmicrohttpd's connection notifications call upload_conn_notify in
 * its threads; the deadline is enforced from the main loop by shutting
 * the socket down, after which libmicrohttpd closes the connection as
 * if the peer had.  One lock guards everything here.
 */
#ifndef UPLOAD_CONN_H
#define UPLOAD_CONN_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

struct ev_loop;

/* Takes c's limits (fixed until exit) and arms the deadline timer. */
int upload_conn_start(const struct upload_config *c, struct ev_loop *loop,
    char *err, size_t errlen);
void upload_conn_stop(void);

/* MHD_OPTION_NOTIFY_CONNECTION callback. */
void upload_conn_notify(void *cls, struct MHD_Connection *conn,
    void **socket_context, enum MHD_ConnectionNotificationCode code);
/* Headers complete: the deadline no longer applies. */
void upload_conn_request_begins(struct MHD_Connection *conn);
/* Request over: the connection gets header_timeout for the next one. */
void upload_conn_request_ends(struct MHD_Connection *conn);

#define CONN_KEY_LEN 9
/*
 * The client a connection counts against: family byte, then the IPv4
 * address (IPv4-mapped IPv6 included) or the IPv6 /64.  0, or -1 for
 * peers never counted (unix sockets, unknown families).
 */
int upload_conn_key(const struct sockaddr *sa, uint8_t key[CONN_KEY_LEN]);

#endif
