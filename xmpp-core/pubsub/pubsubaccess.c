/*
 * pubsubaccess — roles and access models.  See pubsubaccess.h.
 */
#include "pubsubaccess.h"

#include <stdlib.h>
#include <string.h>

#include "roster.h"
#include "router.h"

static const char *const role_names[] = { "outcast", "none", "member",
	"publisher", "owner" };

const char *
ps_role_name(enum ps_role r)
{
	return role_names[r];
}

int
ps_role_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
		if (strcmp(s, role_names[i]) == 0)
			return (int)i;
	return -1;
}

enum ps_role
ps_role(const struct ps_svc *svc, const char *requester_bare, const char *aff)
{
	int r;

	if (svc->pep && strcmp(svc->jid, requester_bare) == 0)
		return PS_ROLE_OWNER;
	if (aff && (r = ps_role_parse(aff)) >= 0)
		return (enum ps_role)r;
	return PS_ROLE_NONE;
}

bool
ps_access_contact(const struct ps_config *cfg, bool sub_from)
{
	switch (cfg->access) {
	case PS_ACCESS_OPEN:
	case PS_ACCESS_PRESENCE:
		/* implicit delivery goes to presence subscribers either way */
		return sub_from;
	case PS_ACCESS_WHITELIST:
		return false;
	}
	return false;
}

bool
ps_may_publish(const struct ps_config *cfg, enum ps_role role, bool subscribed)
{
	if (role == PS_ROLE_OUTCAST)
		return false;
	if (role >= PS_ROLE_PUBLISHER)
		return true;
	if (cfg->publish == PS_PUBLISH_OPEN)
		return true;
	return cfg->publish == PS_PUBLISH_SUBSCRIBERS && subscribed;
}

struct check {
	char *requester;
	ps_access_cb *cb;
	void *arg;
};

static void
roster_ready(void *arg, struct user *u)
{
	struct check *k = arg;
	struct roster_item *it = NULL;

	if (USER_ROSTER(u) && USER_ROSTER(u)->loaded)
		it = roster_find(USER_ROSTER(u), k->requester);
	if (USER_ROSTER(u) == NULL || !USER_ROSTER(u)->loaded)
		k->cb(k->arg, "wait", "internal-server-error", NULL);
	else if (it && it->sub_from)
		k->cb(k->arg, NULL, NULL, NULL);
	else
		k->cb(k->arg, "auth", "not-authorized", "presence-subscription-required");
	router_user_unref(u);
	free(k->requester);
	free(k);
}

void
ps_access_read(int owner_host, const char *owner_local, const struct ps_config *cfg,
    enum ps_role role, const char *requester_bare, ps_access_cb *cb, void *arg)
{
	struct check *k;
	struct user *u;

	if (role == PS_ROLE_OUTCAST) {
		cb(arg, "auth", "forbidden", NULL);
		return;
	}
	if (role >= PS_ROLE_MEMBER || cfg->access == PS_ACCESS_OPEN) {
		cb(arg, NULL, NULL, NULL);
		return;
	}
	if (cfg->access == PS_ACCESS_WHITELIST) {
		cb(arg, "cancel", "not-allowed", "closed-node");
		return;
	}
	/* presence: the owner's roster decides */
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->requester = strdup(requester_bare)) == NULL ||
	    (u = router_user_get(owner_host, owner_local)) == NULL) {
		if (k)
			free(k->requester);
		free(k);
		cb(arg, "wait", "resource-constraint", NULL);
		return;
	}
	k->cb = cb;
	k->arg = arg;
	roster_load(u, roster_ready, k);
}
