/*
 * modules — the modules xmpp-core is made of, in the order their
 * lifecycle hooks run (registry.h).  Hooks on one stanza path run by
 * priority, not by this order.  The order matters where one module's
 * end of a session must come before another's: sm re-routes a session's
 * unacknowledged stanzas while it is still in the router, then presence
 * tells the contacts it is gone, then the others drop their state.
 *
 * This file is the composition of the server, the one place that names
 * every module; the core reaches them only through this table.
 */
#include "registry.h"

extern struct module core_module;
/* im/ */
extern struct module sm_module, csi_module, carbons_module, roster_module,
    presence_module, message_module, offline_module, blocking_module,
    last_module, vcard_module, private_module;
/* pubsub/ */
extern struct module pubsub_module, pep_module, caps_module, bookmarks_module,
    avatar_module;
/* push/ */
extern struct module push_module;
/* mam/ */
extern struct module mam_module;
/* services/ */
extern struct module upload_module, extdisco_module, proxy65_module,
    serverinfo_module;
/* register/ */
extern struct module register_module;
/* muc/ */
extern struct module muc_module;
/* web/ */
extern struct module web_module;
/* s2s/ */
extern struct module s2s_module;
/* metrics/ */
extern struct module metrics_module;

struct module *const registry_modules[] = {
	&core_module,
	&sm_module,
	&csi_module,
	&carbons_module,
	&roster_module,
	&presence_module,
	&message_module,
	&offline_module,
	&blocking_module,
	&last_module,
	&vcard_module,
	&private_module,
	&pubsub_module,
	&pep_module,
	&caps_module,
	&bookmarks_module,
	&avatar_module,
	&push_module,
	&mam_module,
	&upload_module,
	&extdisco_module,
	&proxy65_module,
	&serverinfo_module,
	&register_module,
	&muc_module,
	&web_module,
	&s2s_module,
	&metrics_module,
};

const size_t registry_nmodules = sizeof(registry_modules) / sizeof(registry_modules[0]);
