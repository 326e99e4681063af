/*
 * imconf — the config tables of the IM modules, one struct each, loaded
 * by the registry with the rest of the file (so SIGHUP swaps them):
 * [csi] (XEP-0352), [sm] (XEP-0198), [offline], [roster], [vcard],
 * [private], [blocking].  Each module reads its own with its *_cfg().
 * Documented in deploy/XMPP-CORE.md.
 */
#ifndef XMPP_IMCONF_H
#define XMPP_IMCONF_H

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

struct conf_table;
struct conf_err;

struct csi_config {
	unsigned max_queue;		/* stanzas held back per session */
};

struct sm_config {
	uint64_t resume_timeout_ms;	/* 0: resumption not offered */
	unsigned max_unacked;		/* unacked stanzas before cut-off */
	unsigned request_every;		/* server <r/> after that many */
};

struct offline_config {
	unsigned max_messages;		/* per account */
};

struct roster_config {
	unsigned max_items;
};

struct vcard_config {
	size_t max_size;		/* serialised vCard bytes */
};

struct private_config {
	size_t max_size;		/* serialised bytes per namespace */
	unsigned max_items;		/* namespaces per account */
};

struct blocking_config {
	unsigned max_items;		/* blocked JIDs per account */
};

/* registry.h config_load / config_free of each */
int csi_config_load(struct conf_table *root, void **cfg, struct conf_err *e);
int sm_config_load(struct conf_table *root, void **cfg, struct conf_err *e);
int offline_config_load(struct conf_table *root, void **cfg, struct conf_err *e);
int roster_config_load(struct conf_table *root, void **cfg, struct conf_err *e);
int vcard_config_load(struct conf_table *root, void **cfg, struct conf_err *e);
int private_config_load(struct conf_table *root, void **cfg, struct conf_err *e);
int blocking_config_load(struct conf_table *root, void **cfg, struct conf_err *e);
void im_config_free(void *cfg);

extern struct module csi_module, sm_module, offline_module, roster_module,
    vcard_module, private_module, blocking_module;

#define IM_CFG(mod, type) ((const struct type *)module_cfg(&mod##_module))
#define csi_cfg() IM_CFG(csi, csi_config)
#define sm_cfg() IM_CFG(sm, sm_config)
#define offline_cfg() IM_CFG(offline, offline_config)
#define roster_cfg() IM_CFG(roster, roster_config)
#define vcard_cfg() IM_CFG(vcard, vcard_config)
#define private_cfg() IM_CFG(private, private_config)
#define blocking_cfg() IM_CFG(blocking, blocking_config)

#endif
