/*
 * pubsubaccess — who may do what on a node (XEP-0060 §4.1 affiliations,
 * §4.5 access models): the requester's role from its affiliation, read
 * access by access model (presence: the node owner's roster says the
 * requester has a subscription to the owner's presence; the roster of an
 * offline owner is loaded for the check), and publish rights.
 */
#ifndef XMPP_PUBSUBACCESS_H
#define XMPP_PUBSUBACCESS_H

#include <stdbool.h>

#include "pubsub.h"

enum ps_role { PS_ROLE_OUTCAST, PS_ROLE_NONE, PS_ROLE_MEMBER, PS_ROLE_PUBLISHER,
	PS_ROLE_OWNER };

/* PEP: the account is the owner; else from the stored affiliation. */
enum ps_role ps_role(const struct ps_svc *svc, const char *requester_bare,
    const char *aff);
const char *ps_role_name(enum ps_role r);
/* "owner", "publisher", "member", "none", "outcast" -> role; -1 unknown */
int ps_role_parse(const char *s);

/* cond NULL: allowed; else the error (with an XEP-0060 app condition). */
typedef void ps_access_cb(void *arg, const char *type, const char *cond,
    const char *app);

/* May requester read (retrieve, subscribe to, be notified of) the node
 * owned by owner_host/owner_local?  cb may run at once. */
void ps_access_read(int owner_host, const char *owner_local,
    const struct ps_config *cfg, enum ps_role role, const char *requester_bare,
    ps_access_cb *cb, void *arg);
/* The same decision for the node's implicit PEP delivery, from the owner's
 * loaded roster: is contact allowed? */
bool ps_access_contact(const struct ps_config *cfg, bool sub_from);
bool ps_may_publish(const struct ps_config *cfg, enum ps_role role, bool subscribed);

#endif
