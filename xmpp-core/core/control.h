/*
 * control — the local admin socket (unix, mode 0600) that xmppctl uses for
 * what only the running server knows: `sessions` lists the bound sessions
 * (JID, peer address, TLS version, seconds connected, the SASL2 user
 * agent's software and device), `stats` prints
 * counters, `deluser USER@HOST` removes an account as in-band removal does
 * (accountrm.c) and answers "ok", "error: no such account" or "error: ..."
 * once the rows are gone, `help` lists the modules' commands
 * (registry.h: struct ctl_command).  One command per connection, a line
 * "NAME ARGS", answered, then closed.
 */
#ifndef XMPP_CONTROL_H
#define XMPP_CONTROL_H

#include <stddef.h>

int control_listen(const char *path, char *err, size_t errlen);
void control_shutdown(void);

/*
 * A module command's answer: what the handler writes into ctl_out(req)
 * is sent once the command is done, at once when the handler returned 0,
 * else when it calls ctl_done(req) (exactly once; req is freed then).  A
 * client that left meanwhile gets nothing; the command still completes.
 */
struct ctl_req;
struct buf *ctl_out(struct ctl_req *req);
void ctl_done(struct ctl_req *req);

#endif
