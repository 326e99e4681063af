/*
 * control — the local admin socket (unix, mode 0600) that xmppctl uses for
 * what only the running server knows: `sessions` lists the bound sessions
 * (JID, peer address, TLS version, seconds connected), `stats` prints
 * counters, `deluser USER@HOST` removes an account as in-band removal does
 * (accountrm.c) and answers "ok", "error: no such account" or "error: ..."
 * once the rows are gone.  One command per connection, answered, then
 * closed.
 */
#ifndef XMPP_CONTROL_H
#define XMPP_CONTROL_H

#include <stddef.h>

int control_listen(const char *path, char *err, size_t errlen);
void control_shutdown(void);

#endif
