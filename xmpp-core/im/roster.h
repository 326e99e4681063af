/*
 * roster — RFC 6121 rosters: the in-memory copy of an account's roster
 * while it is online (or needed by a subscription update), loaded from
 * and written through to PostgreSQL, roster get/set/push with versioning
 * (XEP-0237: an unchanged version answers with an empty result).
 *
 * Writes for one account are pinned to one database connection, so they
 * reach the database in the order they were made.
 */
#ifndef XMPP_ROSTER_H
#define XMPP_ROSTER_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "c2s.h"
#include "router.h"

struct xml_node;

/*
 * The interface mam/ and pubsub/ build on (their README.md): an
 * account's roster (access models, archiving preferences), read through
 * USER_ROSTER after roster_load.
 */
extern struct module roster_module;

/* u's roster: NULL until roster_load starts loading it */
#define USER_ROSTER(u) (*(struct roster **)user_priv((u), &roster_module))
/* the session asked for the roster (RFC 6121 §2.1.6: it gets pushes) */
#define ROSTER_REQUESTED(c) (*(bool *)c2s_priv((c), &roster_module))

struct roster_item {
	char *jid;		/* bare JID */
	char *name;
	char **groups;
	size_t ngroups;
	bool sub_to, sub_from, ask_out, ask_in, approved, visible;
};

struct roster_waiter;

struct roster {
	bool loaded;
	bool exists;		/* the account exists */
	long long version;
	struct roster_item *items;
	size_t n, cap;
	uint32_t *index;	/* open addressing: item index + 1, 0 free */
	size_t index_cap;	/* a power of two >= 2 n; 0: no index (scan) */
	struct roster_waiter *waiters;
};

typedef void roster_cb(void *arg, struct user *u);

/* Calls cb once u->roster is loaded (at once if it is); holds a user ref
 * meanwhile.  On a database error cb is called with u->roster->loaded
 * false. */
void roster_load(struct user *u, roster_cb *cb, void *arg);
void roster_free(struct roster *r);

struct roster_item *roster_find(struct roster *r, const char *jid);
/* Adds an empty invisible item (NULL on ENOMEM). */
struct roster_item *roster_add(struct roster *r, const char *jid);
/* Persists an item after a change, bumps the version and pushes it to
 * the interested resources (only visible items are pushed).  Items that
 * no longer mean anything are deleted. */
void roster_commit(struct user *u, struct roster_item *it);
/* Deletes an item (pushing subscription='remove' if it was visible). */
void roster_remove(struct user *u, const char *jid);

const char *roster_subscription(const struct roster_item *it);

#endif
