/*
 * conf_priv — what the parser (conf.c) and the getters (conf_get.c) share;
 * not for daemons.
 */
#ifndef EDGE_CONF_PRIV_H
#define EDGE_CONF_PRIV_H

#include "conf.h"

/* The value stored under key in t (no "used" marking), or NULL. */
struct conf_value *conf_table_find(const struct conf_table *t, const char *key);

#endif
