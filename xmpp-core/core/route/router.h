/*
 * router — who is online and where a stanza goes.
 *
 * A struct user exists for every account with a bound session, and
 * temporarily for an offline account whose roster a subscription update
 * needs (reference-counted).  Sessions of a user form a short list (at
 * most max_sessions_per_user).  Stanzas from a client are stamped with
 * its full JID here and handed to the modules' hooks (EV_MESSAGE_OUT,
 * EV_PRESENCE_OUT) or the IQ dispatch (iq.c); stanzas to an entity go
 * through EV_ROUTE, EV_STANZA_IN and EV_MESSAGE_IN / EV_PRESENCE_IN.
 */
#ifndef XMPP_ROUTER_H
#define XMPP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jid.h"
#include "registry.h"

struct c2s;
struct xml_node;

struct user {
	char *bare;		/* "local@host" */
	char *local;
	int host;
	unsigned refs;
	struct c2s *sessions;
	unsigned nsessions;
	/* the modules' per-user state (registry.h: user_size) */
	uint64_t priv[];
};

/* A module's state in a user. */
static inline void *
user_priv(const struct user *u, const struct module *m)
{
	return (char *)u->priv + m->user_off;
}

/* Bind a resource: 0, or -1 with an RFC 6120 §7.6.2 condition. */
int router_bind(struct c2s *c, const char *resource, const char **cond);
void router_unbind(struct c2s *c);
/* A stanza from a bound session (ownership passes). */
void router_from_client(struct c2s *c, struct xml_node *n);

/* Users: lookup (NULL when nobody is online), get-or-create with a ref. */
struct user *router_user_find(const char *bare);
struct user *router_user_get(int host, const char *local);
void router_user_ref(struct user *u);
void router_user_unref(struct user *u);
struct c2s *router_session(const struct user *u, const char *resource);
int router_host_index(const char *domain);
/* A local host or a subdomain of one (conference.<host>, upload ...):
 * what is not, is another server's. */
bool router_local_domain(const char *domain);
size_t router_nusers(void);
void router_cleanup(void);

/* Sends n to one session / to all available sessions of u (prio >= min). */
void router_send_session(struct c2s *c, const struct xml_node *n);
/* Serialised once, written to every matching session; returns the count. */
unsigned router_send_available(struct user *u, const struct xml_node *n,
    bool nonneg_only);

/* Delivers n (from already stamped) to the entity in 'to' (local or not). */
void router_route(struct xml_node *n);
/* Whether n may go to u's sessions (EV_DELIVER: blocking). */
bool router_deliverable(struct user *u, const struct xml_node *n);
/* Goes on with a stanza chain a module took for a while (registry.h:
 * hooks_resume), with the core's default when nobody else takes it. */
void router_resume(struct hook_args *a);
/* A message or IQ request nothing local takes: service-unavailable. */
void router_unhandled(struct xml_node *n);

#endif
