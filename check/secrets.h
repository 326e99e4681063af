/*
 * secrets — the two secrets daemons share: the upload secret (xmpp-core
 * [upload] signs slots, upload-gw checks them) and the TURN REST secret
 * (xmpp-core [extdisco] hands out credentials, turnd checks them).  Each
 * pair must hold the same value (one file, or equal contents; turnd may
 * list several for rotation, xmpp-core's must be one of them), and each
 * daemon's user must be able to read its file.
 */
#ifndef CHECK_SECRETS_H
#define CHECK_SECRETS_H

#include "site.h"

void secrets_check(const struct site *s);

#endif
