/*
 * rules — the nftables rules that send dumb clients on to the XMPP host,
 * and installing / removing them in one batch each.
 */
#ifndef REDIRECT_RULES_H
#define REDIRECT_RULES_H

#include <stdio.h>

#include "config.h"
#include "nft.h"

/*
 * The rules for target: 0 (*out malloc'd, tagged with the port's index)
 * or -1 (out of memory).  Ports whose service has no address in a family
 * get no rule in that family.
 */
int redirect_rules(const struct redirect_conf *c,
    const struct redirect_target *t, struct nft_rulespec **out, size_t *n,
    char (*comments)[32]);

/* Installs the table for target in one atomic batch; logs on failure. */
int redirect_apply(struct nft_sess *s, const struct redirect_conf *c,
    const struct redirect_target *t);
/* Removes our table only.  0 or -1 (logged). */
int redirect_flush(struct nft_sess *s, const struct redirect_conf *c);
void redirect_print(FILE *f, const struct redirect_conf *c,
    const struct redirect_target *t);

/* "192.0.2.1, 2001:db8::1 (s2s: ...)" for logs. */
const char *redirect_target_str(const struct redirect_target *t, char *buf,
    size_t len);
bool redirect_target_equal(const struct redirect_target *a,
    const struct redirect_target *b);
bool redirect_target_empty(const struct redirect_target *t);

#endif
