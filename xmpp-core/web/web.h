/*
 * web — the module: [web] config, the listener's lifecycle, stats.
 * Private to this folder.
 */
#ifndef WEB_WEB_H
#define WEB_WEB_H

#include "registry.h"

struct web_config;

extern struct module web_module;

/* The current [web] config (never NULL while the server runs). */
const struct web_config *web_cfg(void);

#endif
