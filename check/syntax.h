/*
 * syntax — every present config through its daemon's own `-t`: syntax,
 * unknown keys, values, files it names (file:line: key: message).  The
 * daemons are those installed next to edge-check (or --sbin DIR), so the
 * verdict is the one the running binaries would give.
 */
#ifndef CHECK_SYNTAX_H
#define CHECK_SYNTAX_H

#include "site.h"

void syntax_check(const struct site *s, const char *sbin);

#endif
