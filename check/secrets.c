/*
 * secrets — comparing and permission-checking shared secrets.  See
 * secrets.h.  Values are compared in constant time and never printed.
 */
#include "secrets.h"

#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "access.h"
#include "report.h"
#include "users.h"

static bool
same_file(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	return realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

static bool
same_value(const char *a, const char *b, size_t blen)
{
	return strlen(a) == blen && CRYPTO_memcmp(a, b, blen) == 0;
}

static void
readable(const struct site *s, enum daemon_id d, const char *file, const char *group,
    const char *what)
{
	struct ident id;
	char why[512], fix[256];

	if (file == NULL || file[0] == '\0' || users_ident(s, d, &id) == -1)
		return;
	if (ident_can_access(&id, file, false, why, sizeof(why))) {
		report(V_OK, NULL, "secrets: %s (user %s) can read the %s secret %s",
		    s->d[d].name, id.name, what, file);
		return;
	}
	snprintf(fix, sizeof(fix), "chgrp %s %s; chmod 0640 %s (deploy/README.md, "
	    "\"Who reads what\")", group, file, file);
	report(V_FAIL, fix, "secrets: %s (user %s) cannot read the %s secret: %s",
	    s->d[d].name, id.name, what, why);
}

static void
check_upload(const struct site *s)
{
	const char *xf = s->upload_secret_file;
	struct conf_err e;
	char *xv = NULL;

	if (!s->d[D_XMPP].loaded || !s->d[D_UPLOAD].loaded) {
		if (s->d[D_XMPP].loaded)
			readable(s, D_XMPP, xf, "edge-upload", "upload");
		return;
	}
	if (xf == NULL) {
		report(V_WARN, "add [upload] to xmpp-core.toml with upload-gw's secret_file "
		    "and url", "secrets: upload-gw is configured but xmpp-core hands out "
		    "no upload slots (no [upload])");
		return;
	}
	if (conf_read_secret_file(xf, &xv, &e) == -1)
		report(V_FAIL, "see xmpp-core -t", "secrets: upload: %s", e.msg);
	else if (s->u_secret_file[0] && same_file(xf, s->u_secret_file))
		report(V_OK, NULL, "secrets: upload: xmpp-core and upload-gw read the same file %s", xf);
	else if (same_value(xv, s->u_secret, s->u_secret_len))
		report(V_OK, NULL, "secrets: upload: xmpp-core's %s equals upload-gw's %s", xf,
		    s->u_secret_file[0] ? s->u_secret_file : "secret");
	else
		report(V_FAIL, "give both the same file: upload-gw.toml secret_file = "
		    "xmpp-core's [upload] secret_file", "secrets: upload: xmpp-core's %s and "
		    "upload-gw's %s differ: every upload would be refused (403)", xf,
		    s->u_secret_file[0] ? s->u_secret_file : "secret");
	conf_secret_free(xv);
	readable(s, D_XMPP, xf, "edge-upload", "upload");
	readable(s, D_UPLOAD, s->u_secret_file, "edge-upload", "upload");
}

static bool
shared_turn_file(const struct site *s, const char *xf)
{
	for (size_t i = 0; i < s->nt_secret_files; i++)
		if (same_file(xf, s->t_secret_files[i]))
			return true;
	return false;
}

static void
check_turn(const struct site *s)
{
	const char *xf = s->turn_secret_file;
	struct conf_err e;
	char *xv = NULL;
	size_t i;

	if (!s->d[D_XMPP].loaded || !s->d[D_TURND].loaded) {
		if (s->d[D_XMPP].loaded)
			readable(s, D_XMPP, xf, "edge-turn", "TURN");
		return;
	}
	if (xf == NULL) {
		report(V_WARN, "add [extdisco] to xmpp-core.toml with turnd's secret_file "
		    "and its services", "secrets: turnd is configured but xmpp-core hands "
		    "out no TURN credentials (no [extdisco] secret_file)");
		return;
	}
	if (conf_read_secret_file(xf, &xv, &e) == -1)
		report(V_FAIL, "see xmpp-core -t", "secrets: TURN: %s", e.msg);
	else {
		for (i = 0; i < s->nt_secrets; i++)
			if (same_value(xv, s->t_secrets[i], strlen(s->t_secrets[i])))
				break;
		if (i == s->nt_secrets)
			report(V_FAIL, "give both the same file: turnd.toml secret_file = "
			    "xmpp-core's [extdisco] secret_file", "secrets: TURN: xmpp-core's %s "
			    "is none of turnd's secrets: every TURN allocation would be "
			    "refused (401)", xf);
		else if (shared_turn_file(s, xf))
			report(V_OK, NULL, "secrets: TURN: xmpp-core and turnd read the same "
			    "file %s", xf);
		else
			report(V_OK, NULL, "secrets: TURN: xmpp-core's %s equals turnd's "
			    "secret %zu of %zu", xf, i + 1, s->nt_secrets);
	}
	conf_secret_free(xv);
	readable(s, D_XMPP, xf, "edge-turn", "TURN");
	for (i = 0; i < s->nt_secret_files; i++)
		readable(s, D_TURND, s->t_secret_files[i], "edge-turn", "TURN");
}

void
secrets_check(const struct site *s)
{
	check_upload(s);
	check_turn(s);
}
