/*
 * db — xmpp-core's PostgreSQL: reachable with its conninfo (and
 * password_file), as its own user (Debian's peer authentication maps the
 * OS user to the role: edge-check, run as root, connects from a child
 * that has become that user), and its schema_migrations hold exactly the
 * migrations the installed xmpp-core carries (`xmpp-core
 * --schema-version`).
 */
#ifndef CHECK_DB_H
#define CHECK_DB_H

#include "site.h"

void db_check(const struct site *s, const char *sbin);

#endif
