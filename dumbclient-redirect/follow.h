/*
 * follow — keeps the installed rules in line with where the XMPP host is:
 * a static target at once, or the SRV answer, looked up again when its TTL
 * runs out, the table swapped when the answer changes, the last good rules
 * kept (and the failure logged once) when DNS fails, and the table put
 * back if someone removed it.
 */
#ifndef REDIRECT_FOLLOW_H
#define REDIRECT_FOLLOW_H

#include <stdbool.h>

#include "evloop.h"
#include "nft.h"

#include "config.h"
#include "resolve.h"

struct follow {
	struct ev_loop *loop;
	struct nft_sess *nft;
	const struct redirect_conf *conf;	/* the caller's, swapped on reload */
	struct resolver *resolver;
	struct ev_timer timer;			/* next lookup */
	struct redirect_target current;		/* what is installed */
	bool installed;
	bool failing;				/* last lookup failed (logged) */
	bool lookup_again;			/* config changed mid-lookup */
};

/* 0, or -1 with errno (no resolver). */
int follow_init(struct follow *f, struct ev_loop *loop, struct nft_sess *nft,
    const struct redirect_conf *conf);
/* Installs the static target now (0 / -1) or starts a lookup (0). */
int follow_start(struct follow *f);
/* Switches to a new config (the old one is the caller's to free after). */
int follow_reconf(struct follow *f, const struct redirect_conf *conf);
/* Stops lookups and the timer; the table stays (the caller flushes). */
void follow_stop(struct follow *f);

/* --once: resolve synchronously if needed, install, return 0 / -1. */
int follow_once(struct nft_sess *nft, const struct redirect_conf *conf);

#endif
