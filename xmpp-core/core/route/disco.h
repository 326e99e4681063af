/*
 * disco — service discovery (XEP-0030) of the hosts and of accounts'
 * bare JIDs, assembled from what the modules register (registry.h), and
 * the hosts' entity capabilities (XEP-0115) for the stream features.
 */
#ifndef XMPP_DISCO_H
#define XMPP_DISCO_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct iq_req;

/* Builds every host's disco#info and its caps ver (at start and after a
 * reload): 0, or -1 with the reason in err. */
int disco_init(char *err, size_t errlen);
void disco_cleanup(void);
const char *disco_ver(int host);
/* The <c/> of the host's caps, for the stream features. */
void disco_caps(struct buf *b, int host);
/* The core's IQ handlers (coremod.c): disco#info of a host or of one's
 * own account, disco#items of a host. */
bool disco_iq_info(struct iq_req *r);
bool disco_iq_items(struct iq_req *r);

#endif
