/*
 * fastctl — xmppctl's fast-tokens and fast-revoke (the core's module
 * table, coremod.c, lists them).
 */
#ifndef XMPP_FASTCTL_H
#define XMPP_FASTCTL_H

#include "registry.h"

extern const struct ctl_command fastctl_commands[];

#endif
