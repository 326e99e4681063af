/*
 * svcconf — configuration of the discovery services: [upload]
 * (XEP-0363, the upload module) and [extdisco] with its
 * [[extdisco.service]] entries (XEP-0215, the extdisco module); each
 * module holds a struct svc_config with its own part filled in.  Loaded as part of
 * xmpp_config (so SIGHUP swaps it with the rest) and documented in
 * deploy/XMPP-CORE.md.
 */
#ifndef XMPP_SVCCONF_H
#define XMPP_SVCCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

struct conf_table;
struct conf_err;

struct extdisco_service {
	const char *type;	/* stun, turn, stuns, turns */
	const char *host;
	const char *transport;	/* udp, tcp or NULL */
	const char *name;	/* optional display name */
	unsigned port;
	bool restricted;	/* needs credentials */
};

struct svc_config {
	/* [upload] (enabled when present) */
	bool upload;
	const char *upload_service;	/* NULL: upload.<host> for every host */
	char *upload_url;		/* public base URL, ends with '/' */
	char *upload_secret;
	uint64_t upload_max;		/* bytes */
	bool upload_v2;			/* sign with v2 (path\0size\0type) */

	/* [extdisco] */
	char *turn_secret;		/* REST secret shared with turnd */
	uint64_t turn_ttl;		/* seconds a credential is valid */
	struct extdisco_service *services;
	size_t nservices;
};

/* Reads the tables from root into s; 0, or -1 with the message in e. */
int svc_config_load(struct svc_config *s, struct conf_table *root,
    struct conf_err *e);
void svc_config_free(struct svc_config *s);
/* registry.h config_load / config_free of the upload and extdisco modules */
int upload_config_load(struct conf_table *root, void **cfg, struct conf_err *e);
int extdisco_config_load(struct conf_table *root, void **cfg, struct conf_err *e);
void svc_module_config_free(void *cfg);

extern struct module upload_module, extdisco_module;
#define upload_cfg() ((const struct svc_config *)module_cfg(&upload_module))
#define extdisco_cfg() ((const struct svc_config *)module_cfg(&extdisco_module))

#endif
