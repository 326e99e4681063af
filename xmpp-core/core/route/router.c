/*
 * router — online users and stanza dispatch.  See router.h.
 */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "c2s.h"
#include "hmap.h"
#include "iq.h"
#include "log.h"
#include "registry.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

static struct hmap users;	/* bare JID -> struct user */

size_t
router_nusers(void)
{
	return users.n;
}

int
router_host_index(const char *domain)
{
	for (size_t i = 0; i < srv.cfg->nhosts; i++)
		if (strcmp(srv.cfg->hosts[i], domain) == 0)
			return (int)i;
	return -1;
}

bool
router_local_domain(const char *domain)
{
	size_t dl = strlen(domain), hl;

	for (size_t i = 0; i < srv.cfg->nhosts; i++) {
		const char *h = srv.cfg->hosts[i];

		hl = strlen(h);
		if (dl == hl && strcmp(domain, h) == 0)
			return true;
		if (dl > hl && domain[dl - hl - 1] == '.' && strcmp(domain + dl - hl, h) == 0)
			return true;
	}
	return false;
}

struct user *
router_user_find(const char *bare)
{
	return hmap_get(&users, bare);
}

struct user *
router_user_get(int host, const char *local)
{
	char bare[2 * JID_PART_MAX + 2];
	struct user *u;

	snprintf(bare, sizeof(bare), "%s@%s", local, srv.cfg->hosts[host]);
	if ((u = hmap_get(&users, bare)) != NULL) {
		u->refs++;
		return u;
	}
	if ((u = calloc(1, sizeof(*u) + registry_user_size())) == NULL)
		return NULL;
	u->bare = strdup(bare);
	u->local = strdup(local);
	u->host = host;
	u->refs = 1;
	if (u->bare == NULL || u->local == NULL || hmap_put(&users, bare, u) == -1) {
		free(u->bare);
		free(u->local);
		free(u);
		return NULL;
	}
	return u;
}

void
router_user_ref(struct user *u)
{
	u->refs++;
}

void
router_user_unref(struct user *u)
{
	if (--u->refs > 0)
		return;
	hmap_del(&users, u->bare);
	registry_user_free(u);
	free(u->bare);
	free(u->local);
	free(u);
}

struct c2s *
router_session(const struct user *u, const char *resource)
{
	for (struct c2s *s = u->sessions; s; s = s->next_session)
		if (strcmp(s->resource, resource) == 0)
			return s;
	return NULL;
}

int
router_bind(struct c2s *c, const char *resource, const char **cond)
{
	struct user *u = router_user_get(c->host, c->local);
	struct c2s *old;
	size_t n;

	if (u == NULL) {
		*cond = "internal-server-error";
		return -1;
	}
	/* RFC 6120 §7.7.2.2: a new session with a taken resource wins */
	if ((old = router_session(u, resource)) != NULL)
		c2s_stream_error(old, "conflict", "replaced by a new session");
	if (u->nsessions >= srv.cfg->max_sessions) {
		router_user_unref(u);
		*cond = "resource-constraint";
		return -1;
	}
	n = strlen(u->bare) + strlen(resource) + 2;
	if ((c->full = malloc(n)) == NULL) {
		router_user_unref(u);
		*cond = "internal-server-error";
		return -1;
	}
	snprintf(c->full, n, "%s/%s", u->bare, resource);
	c->resource = c->full + strlen(u->bare) + 1;
	c->user = u;
	c->next_session = u->sessions;
	u->sessions = c;
	u->nsessions++;
	registry_session_bound(c);
	return 0;
}

void
router_unbind(struct c2s *c)
{
	struct user *u = c->user;
	struct c2s **pp;

	if (u == NULL)
		return;
	registry_session_unbound(c);
	for (pp = &u->sessions; *pp; pp = &(*pp)->next_session) {
		if (*pp == c) {
			*pp = c->next_session;
			u->nsessions--;
			break;
		}
	}
	if (u->nsessions == 0)
		registry_user_offline(u, c);
	c->user = NULL;
	router_user_unref(u);
}

void
router_send_session(struct c2s *c, const struct xml_node *n)
{
	c2s_send(c, n);
}

unsigned
router_send_available(struct user *u, const struct xml_node *n, bool nonneg_only)
{
	struct buf b;
	unsigned count = 0;

	if (!router_deliverable(u, n))
		return 0;
	buf_init(&b);
	for (struct c2s *s = u->sessions; s; s = s->next_session) {
		if (!s->available || (nonneg_only && s->priority < 0))
			continue;
		if (s->watch && registry_session_send(s, n)) {
			count++;
			continue;
		}
		if (b.p == NULL && xml_serialize(&b, n, NS_CLIENT) == -1)
			break;
		c2s_send_stanza_raw(s, b.p, b.len);
		count++;
	}
	buf_free(&b);
	return count;
}

bool
router_deliverable(struct user *u, const struct xml_node *n)
{
	struct hook_args a = { .u = u, .n = (struct xml_node *)n };

	return !hooks_any(EV_DELIVER) || hooks_run(EV_DELIVER, &a) == HOOK_NEXT;
}

/* A stanza for an entity of a local host, past EV_STANZA_IN. */
static void
deliver_local(struct hook_args *a)
{
	struct xml_node *n = a->n;

	if (strcmp(n->name, "message") == 0) {
		if (hooks_run(EV_MESSAGE_IN, a) == HOOK_NEXT)
			router_unhandled(n);
	} else if (strcmp(n->name, "presence") == 0) {
		if (hooks_run(EV_PRESENCE_IN, a) == HOOK_NEXT)
			xml_free(n);
	} else {
		iq_deliver(n, a->to, a->host);
	}
}

/*
 * Where a stanza goes: a service's JID (the services take theirs on
 * EV_ROUTE), a local host (EV_STANZA_IN first, then the message/presence
 * hooks or the IQ dispatch), or nowhere yet for remote domains.
 */
void
router_route(struct xml_node *n)
{
	struct hook_args a = { .n = n };
	struct jid to;
	int host;

	if (stanza_jid(n, "to", &to) != 1) {
		xml_free(n);
		return;
	}
	a.to = &to;
	if (hooks_run(EV_ROUTE, &a) == HOOK_TAKEN)
		return;
	if ((host = router_host_index(to.domain)) < 0) {
		/* no server-to-server yet: remote domains are unreachable */
		stanza_bounce(n, "cancel", "remote-server-not-found");
		xml_free(n);
		return;
	}
	a.host = host;
	if (hooks_run(EV_STANZA_IN, &a) == HOOK_NEXT)
		deliver_local(&a);
}

void
router_resume(struct hook_args *a)
{
	if (hooks_resume(a) == HOOK_TAKEN)
		return;
	if (a->ev == EV_STANZA_IN)
		deliver_local(a);
	else if (a->ev == EV_MESSAGE_IN)
		router_unhandled(a->n);
	else if (a->ev == EV_MESSAGE_OUT || a->ev == EV_PRESENCE_OUT)
		router_route(a->n);
	else
		xml_free(a->n);
}

void
router_unhandled(struct xml_node *n)
{
	/* nobody here takes it (RFC 6121 §8.5.2.1.1, §8.5.3.2.1) */
	stanza_bounce(n, "cancel", "service-unavailable");
	xml_free(n);
}

void
router_from_client(struct c2s *c, struct xml_node *n)
{
	struct hook_args a = { 0 };
	struct jid to;
	struct xml_node *e;

	xml_set_attr(n, "from", c->full);	/* RFC 6120 §8.1.2.1 */
	if (stanza_jid(n, "to", &to) == -1) {
		if ((e = stanza_error(n, "modify", "jid-malformed", NULL)) != NULL) {
			xml_del_attr(e, "from");
			c2s_send(c, e);
			xml_free(e);
		}
		xml_free(n);
		return;
	}
	if (strcmp(n->name, "iq") == 0) {
		iq_from_client(c, n);
		return;
	}
	a.c = c;
	a.n = n;
	if (strcmp(n->name, "message") == 0) {
		/* RFC 6121 §8.5.x: no 'to' means the sender's own bare JID */
		if (xml_attr(n, "to") == NULL)
			xml_set_attr(n, "to", c->user->bare);
		if (hooks_run(EV_MESSAGE_OUT, &a) == HOOK_NEXT)
			router_route(n);
	} else if (hooks_run(EV_PRESENCE_OUT, &a) == HOOK_NEXT) {
		router_route(n);
	}
}

void
router_cleanup(void)
{
	hmap_free(&users);
}
