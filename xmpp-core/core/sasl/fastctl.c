/*
 * fastctl — the FAST commands of xmppctl (XEP-0484 tokens, token.h), on
 * the control socket (control.h), listed in coremod.c:
 *
 *   fast-tokens USER@HOST
 *	the clients holding a token, most recently used first, one per
 *	line: AGENT-ID  SOFTWARE  DEVICE  EXPIRES  LAST-USED
 *   fast-revoke USER@HOST [AGENT-ID]
 *	drops the client's tokens (every client's without AGENT-ID):
 *	"ok N" with the number of clients; the next FAST login of those
 *	clients fails and they fall back to their password
 *
 * Tabs separate fields; a value's control characters show as spaces.
 */
#include "fastctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "control.h"
#include "jid.h"
#include "registry.h"
#include "server.h"
#include "token.h"

static int
account_arg(struct buf *o, char **args, struct jid *j)
{
	char *w = *args + strspn(*args, " "), *end;

	end = w + strcspn(w, " ");
	*args = end + (*end != '\0');
	*end = '\0';
	if (jid_parse(w, j) == -1 || j->local[0] == '\0' || j->resource[0] ||
	    !xmpp_config_hosted(srv.cfg, j->domain)) {
		buf_puts(o, "error: not a local account (USER@HOST)\n");
		return -1;
	}
	return 0;
}

static void
listed(void *arg, const struct buf *lines, const char *err)
{
	struct ctl_req *req = arg;

	if (err)
		buf_printf(ctl_out(req), "error: %s\n", err);
	else
		buf_append(ctl_out(req), lines->p ? lines->p : "", lines->len);
	ctl_done(req);
}

static int
cmd_tokens(struct ctl_req *req, const char *args)
{
	char a[2 * JID_PART_MAX + 2];
	char *p = a;
	struct jid j;

	snprintf(a, sizeof(a), "%s", args);
	if (account_arg(ctl_out(req), &p, &j) == -1)
		return 0;
	if (token_list(j.domain, j.local, listed, req) == NULL) {
		buf_puts(ctl_out(req), "error: database busy\n");
		return 0;
	}
	return 1;
}

static void
revoked(void *arg, bool ok, const char *count, const char *err)
{
	struct ctl_req *req = arg;

	(void)ok;
	if (err)
		buf_printf(ctl_out(req), "error: %s\n", err);
	else
		buf_printf(ctl_out(req), "ok %s\n", count ? count : "0");
	ctl_done(req);
}

static int
cmd_revoke(struct ctl_req *req, const char *args)
{
	char a[2 * JID_PART_MAX + 2 + 1 + 128];
	char *p = a, *agent;
	struct jid j;

	snprintf(a, sizeof(a), "%s", args);
	if (account_arg(ctl_out(req), &p, &j) == -1)
		return 0;
	agent = p + strspn(p, " ");
	agent[strcspn(agent, " ")] = '\0';
	if (token_revoke_count(j.domain, j.local, agent[0] ? agent : NULL, revoked,
	    req) == NULL) {
		buf_puts(ctl_out(req), "error: database busy\n");
		return 0;
	}
	return 1;
}

const struct ctl_command fastctl_commands[] = {
	{ "fast-tokens", "fast-tokens USER@HOST",
	    "the clients holding FAST tokens (XEP-0484)", cmd_tokens },
	{ "fast-revoke", "fast-revoke USER@HOST [AGENT-ID]",
	    "revokes FAST tokens: one client's, or all", cmd_revoke },
	{ NULL, NULL, NULL, NULL },
};
