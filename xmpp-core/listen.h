/*
 * listen — the c2s listening sockets (the STARTTLS and direct-TLS ports,
 * dual-stack), accepting, and what is kept per peer address: the
 * connection limit per IP and the temporary ban after repeated
 * authentication failures (ejabberd's mod_fail2ban).
 */
#ifndef XMPP_LISTEN_H
#define XMPP_LISTEN_H

#include <stddef.h>
#include <stdint.h>

int listen_open(char *err, size_t errlen);
/* Stops accepting (graceful shutdown). */
void listen_close(void);
void listen_cleanup(void);
/* An authentication failure from ip; bans it when there were too many. */
void listen_auth_failed(const char *ip, uint64_t conn_id);
/* A connection from ip ended. */
void listen_release(const char *ip);

#endif
