/*
 * accountrm — account removal on a running server.  See accountrm.h.
 */
#include "accountrm.h"

#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "c2s.h"
#include "db.h"
#include "log.h"
#include "presence.h"
#include "push.h"
#include "roster.h"
#include "router.h"
#include "server.h"

struct rm_ctx {
	struct user *u;
	accountrm_cb *cb;
	void *arg;
};

static void
finish(struct rm_ctx *x, int result, const char *err)
{
	x->cb(x->arg, result, err);
	router_user_unref(x->u);
	free(x);
}

/*
 * Contacts lose both directions of their subscriptions, as if the account
 * had removed them from its roster (ejabberd and Prosody do the same), so
 * that nobody's presence goes on to a new account of the same name.  JIDs
 * are copied: the jobs change the roster.
 */
static void
unsubscribe_contacts(struct user *u)
{
	struct roster *r = u->roster;
	struct roster_item *it;
	char **jids;
	size_t n = 0;

	if (r == NULL || !r->loaded || r->n == 0 ||
	    (jids = calloc(r->n, sizeof(*jids))) == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		it = &r->items[i];
		if ((it->sub_to || it->sub_from || it->ask_out || it->ask_in) &&
		    (jids[n] = strdup(it->jid)) != NULL)
			n++;
	}
	for (size_t i = 0; i < n; i++) {
		presence_user_roster_removed(u, jids[i]);
		free(jids[i]);
	}
	free(jids);
}

static void
deleted(void *arg, bool ok, const char *err)
{
	struct rm_ctx *x = arg;
	struct user *u = x->u;
	struct c2s *s, *next;

	if (err || !ok) {
		finish(x, err ? -1 : 0, err);
		return;
	}
	log_info("account %s removed", u->bare);
	push_account_removed(u->host, u->local);
	unsubscribe_contacts(u);
	x->cb(x->arg, 1, NULL);
	/* XEP-0077 §3.2: the account's sessions end (a closed one is skipped) */
	for (s = u->sessions; s; s = next) {
		next = s->next_session;
		c2s_stream_error(s, "not-authorized", "account removed");
	}
	router_user_unref(u);
	free(x);
}

/* The roster is in memory before its rows go (unsubscribe_contacts). */
static void
roster_ready(void *arg, struct user *u)
{
	struct rm_ctx *x = arg;

	if (u->roster == NULL || !u->roster->loaded)
		finish(x, -1, "the roster could not be loaded");
	else if (account_delete(srv.cfg->hosts[u->host], u->local, deleted, x) == NULL)
		finish(x, -1, "the database queue is full");
}

int
accountrm_start(struct user *u, accountrm_cb *cb, void *arg)
{
	struct rm_ctx *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return -1;
	x->u = u;
	x->cb = cb;
	x->arg = arg;
	router_user_ref(u);
	roster_load(u, roster_ready, x);
	return 0;
}
