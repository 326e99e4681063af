/*
 * pubsubnotify — event delivery.  See pubsubnotify.h.
 *
 * PEP delivery walks the owner's roster (loaded if the owner is offline)
 * and only the sessions that are online: nothing is stored for offline
 * contacts, they get the last item when they come online (pep.c).
 * Other servers' contacts get it at the resources that sent the owner
 * presence with caps wanting the node (caps.c).
 * Explicit subscribers are addressed by the JID they subscribed with and
 * routed like any message; a PEP contact that also subscribed explicitly
 * is served by its subscription only.
 */
#include "pubsubnotify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "caps.h"
#include "hmap.h"
#include "pubsubaccess.h"
#include "roster.h"
#include "router.h"
#include "server.h"
#include "xml.h"

struct fanout {
	struct ps_svc svc;
	struct ps_config cfg;
	char notify[PS_NODE_MAX + 8];	/* "<node>+notify" */
	struct xml_node *msg;		/* from set, to set per session */
	struct hmap explicit;		/* JIDs already served by subscriptions */
};

struct xml_node *
ps_items_event(const char *node, const char *id, const struct xml_node *payload)
{
	struct xml_node *items = xml_new("items", NS_PUBSUB_EVENT), *it, *pl;

	if (items == NULL)
		return NULL;
	xml_set_attr(items, "node", node);
	if ((it = xml_add(items, "item", NULL)) == NULL) {
		xml_free(items);
		return NULL;
	}
	xml_set_attr(it, "id", id);
	if (payload && (pl = xml_copy(payload)) != NULL)
		xml_append_child(it, pl);
	return items;
}

struct xml_node *
ps_event_message(const char *from, const char *to, struct xml_node *ev)
{
	struct xml_node *m, *e;

	if (ev == NULL)
		return NULL;
	if ((m = xml_new("message", NS_CLIENT)) == NULL ||
	    (e = xml_add(m, "event", NS_PUBSUB_EVENT)) == NULL) {
		xml_free(m);
		xml_free(ev);
		return NULL;
	}
	xml_set_attr(m, "from", from);
	if (to)
		xml_set_attr(m, "to", to);
	xml_set_attr(m, "type", "headline");
	xml_append_child(e, ev);
	return m;
}

static void
to_sessions(struct fanout *f, struct user *u)
{
	for (struct c2s *s = u->sessions; s; s = s->next_session) {
		if (!s->available || !caps_has(s, f->notify) ||
		    hmap_get(&f->explicit, s->full) || hmap_get(&f->explicit, u->bare))
			continue;
		xml_set_attr(f->msg, "to", s->full);
		c2s_send(s, f->msg);
	}
}

static void
fanout_end(struct fanout *f)
{
	xml_free(f->msg);
	hmap_free(&f->explicit);
	free(f);
}

struct remote_fanout {
	struct fanout *f;
	struct roster *r;
};

/* A resource of another server's contact whose caps want the node: as a
 * local contact's session would be, by its roster item. */
static void
to_remote(void *arg, const char *full)
{
	struct remote_fanout *rf = arg;
	struct roster_item *it;
	struct xml_node *copy;
	struct jid j;
	char bare[2 * JID_PART_MAX + 2];

	if (jid_parse(full, &j) == -1 || hmap_get(&rf->f->explicit, full) ||
	    hmap_get(&rf->f->explicit, jid_bare(&j, bare, sizeof(bare))) ||
	    (it = roster_find(rf->r, bare)) == NULL ||
	    !ps_access_contact(&rf->f->cfg, it->sub_from) ||
	    (copy = xml_copy(rf->f->msg)) == NULL)
		return;
	xml_set_attr(copy, "to", full);
	router_route(copy);
}

static void
roster_ready(void *arg, struct user *u)
{
	struct fanout *f = arg;
	struct roster *r = USER_ROSTER(u);
	struct remote_fanout rf = { f, r };
	struct user *cu;

	to_sessions(f, u);
	if (r && r->loaded) {
		for (size_t i = 0; i < r->n; i++) {
			if (!ps_access_contact(&f->cfg, r->items[i].sub_from) ||
			    (cu = router_user_find(r->items[i].jid)) == NULL)
				continue;
			if (!router_deliverable(cu, f->msg))
				continue;
			to_sessions(f, cu);
		}
		caps_remote_each(u->bare, f->notify, to_remote, &rf);
	}
	router_user_unref(u);
	fanout_end(f);
}

void
ps_notify(const struct ps_svc *svc, const char *node, const struct ps_config *cfg,
    struct xml_node *ev, const char *subscribers)
{
	struct fanout *f;
	struct xml_node *m;
	struct user *u;
	const char *p, *nl;
	char jid[JID_STR_MAX + 1];
	size_t n;

	if ((m = ps_event_message(svc->jid, NULL, ev)) == NULL)
		return;
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		xml_free(m);
		return;
	}
	hmap_init(&f->explicit);
	f->svc = *svc;
	f->cfg = *cfg;
	f->msg = m;
	snprintf(f->notify, sizeof(f->notify), "%s+notify", node);
	for (p = subscribers; p && *p; p = nl ? nl + 1 : p + n) {
		struct xml_node *copy;

		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		if (n == 0 || n >= sizeof(jid))
			continue;
		memcpy(jid, p, n);
		jid[n] = '\0';
		hmap_put(&f->explicit, jid, f);
		if ((copy = xml_copy(m)) != NULL) {
			xml_set_attr(copy, "to", jid);
			router_route(copy);
		}
	}
	if (!svc->pep || (u = router_user_get(svc->host, svc->local)) == NULL) {
		fanout_end(f);
		return;
	}
	roster_load(u, roster_ready, f);
}
