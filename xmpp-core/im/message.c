/*
 * message — message delivery to local accounts.  See message.h.
 */
#include "message.h"

#include <string.h>

#include "c2s.h"
#include "carbons.h"
#include "offline.h"
#include "registry.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

static void
deliver_bare(struct xml_node *n, const struct jid *to, int host, const char *type)
{
	char bare[2 * JID_PART_MAX + 2];
	struct user *u;

	if (strcmp(type, "error") == 0) {
		xml_free(n);
		return;
	}
	if (strcmp(type, "groupchat") == 0) {
		stanza_bounce(n, "cancel", "service-unavailable");
		xml_free(n);
		return;
	}
	u = router_user_find(jid_bare(to, bare, sizeof(bare)));
	if (u && router_send_available(u, n, true) > 0) {
		carbons_received(u, n, NULL);
		xml_free(n);
		return;
	}
	if (strcmp(type, "headline") == 0) {
		xml_free(n);
		return;
	}
	offline_store(n, host, to->local);
}

static void
deliver(struct xml_node *n, const struct jid *to, int host)
{
	char bare[2 * JID_PART_MAX + 2];
	const char *type = stanza_type(n);
	struct user *u;
	struct c2s *s;

	if (type[0] == '\0')
		type = "normal";
	if (to->local[0] == '\0') {
		/* the server itself takes no messages */
		stanza_bounce(n, "cancel", "service-unavailable");
		xml_free(n);
		return;
	}
	if (to->resource[0]) {
		u = router_user_find(jid_bare(to, bare, sizeof(bare)));
		if (u && (s = router_session(u, to->resource)) != NULL) {
			c2s_send(s, n);
			carbons_received(u, n, s);
			xml_free(n);
			return;
		}
		/* RFC 6121 §8.5.3.2.1: no such resource */
		if (strcmp(type, "normal") != 0 && strcmp(type, "chat") != 0) {
			if (strcmp(type, "groupchat") == 0)
				stanza_bounce(n, "cancel", "service-unavailable");
			xml_free(n);
			return;
		}
	}
	deliver_bare(n, to, host, type);
}

static enum hook_rc
in_hook(struct hook_args *a)
{
	deliver(a->n, a->to, a->host);
	return HOOK_TAKEN;
}

static const struct hook hooks[] = {
	{ EV_MESSAGE_IN, 0, in_hook },
	{ EV_MAX, 0, NULL },
};

struct module message_module = {
	.name = "message",
	.folder = "im",
	.hooks = hooks,
};
