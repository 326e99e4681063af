/*
 * xmppimport — what xmppctl calls (the one interface header of import/):
 * `xmppctl import ejabberd|prosody|xep0227 ...` and `xmppctl export`.
 */
#ifndef XMPP_XMPPIMPORT_H
#define XMPP_XMPPIMPORT_H

#include <libpq-fe.h>

struct xmpp_config;

/* argv[0] is "import" or "export": the exit code (0 done, 1 failed or
 * rows skipped with --strict, 2 usage). */
int import_command(const struct xmpp_config *cfg, PGconn *dst, int argc, char **argv);

#define IMPORT_USAGE \
	"import ejabberd|prosody --from CONNINFO [--host H] [--dry-run] | " \
	"import xep0227 [--host H] [--dry-run] FILE... | " \
	"export (--user JID | --all) [--ejabberd] --out FILE"

#endif
