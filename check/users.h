/*
 * users — who each daemon runs as: the config's `user`, else the user of
 * its packaged unit (User=xmpp-core, turnd, upload-gw; portmap and
 * dumbclient-redirect run as root).  Groups are those /etc/group gives
 * the user (edge-common's sysusers.d puts each daemon in the groups of
 * the secrets it shares, as the units' SupplementaryGroups= do).
 */
#ifndef CHECK_USERS_H
#define CHECK_USERS_H

#include "access.h"
#include "site.h"

/* One line per daemon checked: its user exists. */
void users_check(const struct site *s);
/* 0, or -1 when the user does not exist (users_check has said so). */
int users_ident(const struct site *s, enum daemon_id d, struct ident *id);

#endif
