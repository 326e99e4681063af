/*
 * accountrm — account removal on a running server.  See accountrm.h.
 *
 * The modules get ready first (registry: account_prepare; the roster is
 * loaded so that contacts can be told after its rows are gone), then the
 * account row goes (the modules' rows with it: foreign keys), then every
 * module hears of it (account_removed: contacts unsubscribed, push
 * registrations dropped), then the sessions end.  A removal that fails
 * on the way (a module, the database) tells them account_kept instead.
 */
#include "accountrm.h"

#include <stdlib.h>
#include <string.h>

#include "account.h"
#include "c2s.h"
#include "db.h"
#include "log.h"
#include "registry.h"
#include "router.h"
#include "server.h"

struct rm_ctx {
	struct user *u;
	accountrm_cb *cb;
	void *arg;
};

/* The removal did not happen: the modules undo what they made ready. */
static void
finish(struct rm_ctx *x, int result, const char *err)
{
	registry_account_kept(x->u);
	x->cb(x->arg, result, err);
	router_user_unref(x->u);
	free(x);
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
	registry_account_removed(u);
	x->cb(x->arg, 1, NULL);
	/* XEP-0077 §3.2: the account's sessions end (a closed one is skipped) */
	for (s = u->sessions; s; s = next) {
		next = s->next_session;
		c2s_stream_error(s, "not-authorized", "account removed");
	}
	router_user_unref(u);
	free(x);
}

static void
prepared(void *arg, const char *err)
{
	struct rm_ctx *x = arg;
	struct user *u = x->u;

	if (err)
		finish(x, -1, err);
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
	registry_account_prepare(u, prepared, x);
	return 0;
}
