/*
 * forward — portmap's configuration ([[forward]] entries) and the nftables
 * rules each entry turns into.
 */
#ifndef PORTMAP_FORWARD_H
#define PORTMAP_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "nft.h"

#define PORTMAP_DEFAULT_CONF "/etc/edge/portmap.toml"
#define PORTMAP_DEFAULT_TABLE "portmap"
#define PORTMAP_MAX_FORWARDS 10000
#define PORTMAP_MAX_ADDRS 16

struct forward {
	char *name;
	int line;			/* of the [[forward]] header */
	bool tcp, udp;
	struct nft_ip listen[PORTMAP_MAX_ADDRS];
	size_t nlisten;			/* 0: any address of this host */
	uint16_t port_min, port_max;
	struct nft_ip to4, to6;		/* family 0 when absent */
	uint16_t to_port;		/* 0: keep the port */
	bool local;			/* nat output chain too */
	bool remote;			/* destination on another host */
	bool masquerade;
	struct nft_ip snat4, snat6;	/* family 0 when absent */
};

struct portmap_conf {
	char *file;
	char *table;
	struct forward *fwd;
	size_t nfwd;
};

/* Parses and validates; NULL with "file:line: key: message" in e. */
struct portmap_conf *portmap_conf_load(const char *path, struct conf_err *e);
struct portmap_conf *portmap_conf_from_doc(struct conf_doc *doc,
    struct conf_err *e);
void portmap_conf_free(struct portmap_conf *c);

/* The table layout every apply installs. */
extern const struct nft_chainspec portmap_chains[];
extern const size_t portmap_nchains;

/*
 * All rules of the config, in chain order, each tagged with its forward's
 * index and commented with its name.  *out is malloc'd (NULL, 0 if none).
 * 0 or -1 (out of memory).
 */
int portmap_rules(const struct portmap_conf *c, struct nft_rulespec **out,
    size_t *n);

#endif
