/*
 * throttle — how many accounts one address and one subnet (/24, /64 by
 * default) registered lately: the reference host allows one per address
 * per ten minutes.  In memory (a restart forgets; the captcha still
 * stands), bounded: the oldest records go first.
 */
#ifndef XMPP_THROTTLE_H
#define XMPP_THROTTLE_H

#include <stdbool.h>

struct reg_config;
struct sockaddr;

/* Whether sa may register one more account now under c's limits. */
bool throttle_allows(const struct reg_config *c, const struct sockaddr *sa);
/* Counts an account being registered from sa; throttle_uncount when
 * that registration failed. */
void throttle_count(const struct sockaddr *sa);
void throttle_uncount(const struct sockaddr *sa);
void throttle_clear(void);

#endif
