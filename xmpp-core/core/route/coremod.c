/*
 * coremod — the core's own entries in the registry: disco#info and
 * #items (disco.c), the RFC 3921 session IQ kept for old clients, and the
 * base schema (core/db/sql/001_init.sql: accounts, and the roster and
 * offline tables that came with the first schema; modules' tables are in
 * their folders; 002_fast.sql: the FAST tokens of core/sasl, 003: SHA-1-only
 * accounts for XEP-0480 upgrades), and the
 * FAST admin commands (fastctl.c).  It is the first module of xmpp-core/modules.c.
 */
#include <string.h>

#include "disco.h"
#include "fastctl.h"
#include "iq.h"
#include "registry.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

extern struct module core_module;

/* RFC 3921 session establishment: a no-op (RFC 6121 dropped it). */
static bool
session_iq(struct iq_req *r)
{
	if (strcmp(stanza_type(r->iq), "set") != 0)
		return false;
	iq_reply(r->c, stanza_iq_result(r->iq));
	xml_free(r->iq);
	return true;
}

static const struct iq_handler iqs[] = {
	{ "query", NS_DISCO_INFO, IQ_NOTO | IQ_HOST | IQ_SELF, disco_iq_info },
	{ "query", NS_DISCO_ITEMS, IQ_NOTO | IQ_HOST, disco_iq_items },
	{ "session", NS_SESSION, IQ_NOTO | IQ_SELF | IQ_SERVER, session_iq },
	{ NULL, NULL, 0, NULL },
};

static const char *const features[] = { NS_DISCO_INFO, NS_DISCO_ITEMS, NULL };
static const char *const migrations[] = { "001_init", "002_fast", "003_scram_upgrade",
    "004_scram_optional", "005_account_key", NULL };

struct module core_module = {
	.name = "core",
	.folder = "core",
	.migrations = migrations,
	.iqs = iqs,
	.commands = fastctl_commands,
	.server_features = features,
	.account_features = features,
};
