/*
 * http — the libmicrohttpd front: one MHD daemon per listening socket
 * (a thread per connection, or a pool of epoll threads), method dispatch,
 * the request log line, and a graceful stop that lets requests in flight
 * finish.
 */
#ifndef UPLOAD_HTTP_H
#define UPLOAD_HTTP_H

#include <stddef.h>

#include "config.h"

struct ev_loop;

/* Serves on the bound sockets fds[n] with c's limits: 0, or -1 with message. */
int upload_http_start(const struct upload_config *c, struct ev_loop *loop,
    const int *fds, size_t n, char *err, size_t errlen);
/* Stops accepting, waits up to grace_s for requests in flight, stops. */
void upload_http_stop(unsigned grace_s);

#endif
