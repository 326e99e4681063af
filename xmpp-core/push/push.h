/*
 * push — Push Notifications (XEP-0357) and keeping push sessions alive,
 * as ejabberd's mod_push and mod_push_keepalive do.
 *
 * A client registers an app server (<enable jid node/> with an optional
 * publish-options form) for its account; registrations are stored in
 * PostgreSQL, at most [push] max_registrations per account, one per
 * (app server JID, node), and remember the session that enabled them.
 * While that session is not online, an incoming message with content
 * that goes to offline storage, or that joins the unacked queue of the
 * session while it is detached by stream management (a subscription
 * request there too), makes the server publish a <notification/> with an
 * urn:xmpp:push:summary form to the app server, from the account's bare
 * JID, through the router.  Bursts coalesce (one notification per
 * registration per [push] min_interval, one in flight at a time, a bound
 * on all in flight); an error answer of a type other than wait disables
 * the registration.  A detached session with push enabled stays resumable
 * for [push] resume_timeout instead of [sm]'s until a message for it
 * comes (then the normal timeout runs from there), and is woken by a
 * notification shortly before that longer timeout ends.
 *
 * The classification and summary helpers below are pure (unit-tested).
 */
#ifndef XMPP_PUSH_H
#define XMPP_PUSH_H

#include <stdbool.h>
#include <stddef.h>

#include "jid.h"

#define NS_PUSH "urn:xmpp:push:0"
/* carbons' namespaces (XEP-0280), which summaries look into */
#define PUSH_NS_CARBONS "urn:xmpp:carbons:2"
#define PUSH_NS_FORWARD "urn:xmpp:forward:0"

struct buf;
struct c2s;
struct xml_node;

/* Stream management: the session of c was detached, a stanza (serialised)
 * joined its queue while detached, it was resumed on c. */
void push_detached(struct c2s *c);
void push_detached_stanza(struct c2s *c, const char *p, size_t len);
void push_resumed(struct c2s *c);
/* The session of c ends (router_unbind). */
void push_session_end(struct c2s *c);

/* ---- pure parts ---- */

enum push_kind {
	PUSH_NONE,
	PUSH_MESSAGE,		/* a message a user would want to know of */
	PUSH_SUBSCRIBE,		/* a presence subscription request */
};

#define PUSH_BODY_MAX 512	/* bytes of last-message-body */

/* What a stanza to the account is worth; for a message, its sender's bare
 * JID (into sender, JID_STR_MAX + 1) and body text (malloc'd into *body,
 * NULL when it has none, e.g. only an encrypted payload). */
enum push_kind push_classify(const struct xml_node *n, char *sender,
    char **body);
/* The same for a serialised stanza (as sm.c keeps them). */
enum push_kind push_classify_raw(const char *p, size_t len, char *sender,
    char **body);
/* Cuts s to at most max bytes without splitting a UTF-8 sequence. */
void push_truncate(char *s, size_t max);
/* Checks a publish-options form from <enable/> (FORM_TYPE absent or
 * pubsub#publish-options): 0, or -1. */
int push_form_check(const struct xml_node *x);
/* The form as stored and sent back: a copy with type='submit' (XEP-0004
 * §3.1), serialised into b; 0, or -1. */
int push_form_text(const struct xml_node *x, struct buf *b);

struct push_summary {
	unsigned messages;		/* message-count */
	unsigned subscriptions;		/* pending-subscription-count, when > 0 */
	const char *sender;		/* last-message-sender, or NULL */
	const char *body;		/* last-message-body, or NULL */
};

/* The publish IQ (XEP-0357 §7) with the summary and, when given, the
 * stored publish-options form (form: an <x/> tree, copied). */
struct xml_node *push_notification(const char *from, const char *to,
    const char *id, const char *node, const struct push_summary *s,
    const struct xml_node *form);

#endif
