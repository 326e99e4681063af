/*
 * accept — the c2s listening sockets (the STARTTLS and direct-TLS ports,
 * dual-stack), accepting, and what is kept per peer address: the
 * connection limit per IP and the temporary ban after repeated
 * authentication failures (ejabberd's mod_fail2ban).
 */
#ifndef XMPP_ACCEPT_H
#define XMPP_ACCEPT_H

#include <stddef.h>
#include <stdint.h>

int accept_open(char *err, size_t errlen);
/* Stops accepting (graceful shutdown). */
void accept_close(void);
void accept_cleanup(void);
/* An authentication failure from ip; bans it when there were too many. */
void accept_auth_failed(const char *ip, uint64_t conn_id);
/* A new connection from ip (the client's address, also through a
 * proxy: web/): 0 and counted, or -1 with why (banned, too many). */
int accept_admit(const char *ip, const char **why);
/* A connection from ip ended. */
void accept_release(const char *ip);

#endif
