/*
 * pushconf — configuration of push notifications (XEP-0357, push.c):
 * the [push] table.  Loaded as part of xmpp_config, so SIGHUP swaps it
 * with the rest; documented in deploy/XMPP-CORE.md ("Push notifications").
 */
#ifndef XMPP_PUSHCONF_H
#define XMPP_PUSHCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf_table;
struct conf_err;

struct push_config {
	bool enabled;			/* advertise urn:xmpp:push:0, notify */
	bool include_sender;		/* last-message-sender in the summary */
	bool include_body;		/* last-message-body: the real text */
	const char *body_text;		/* else this fixed text (NULL: no body field) */
	unsigned max_regs;		/* registrations per account */
	size_t max_form;		/* serialised publish-options form */
	uint64_t interval_ms;		/* at most one notification per registration per */
	uint64_t timeout_ms;		/* wait for the app server's answer */
	unsigned max_in_flight;		/* notifications awaiting an answer, server-wide */
	uint64_t keep_ms;		/* resume timeout of a detached push session, 0: [sm]'s */
	bool wake;			/* notify shortly before that timeout */
	uint64_t wake_before_ms;	/* how long before */
};

/* Reads [push] from root into p; 0, or -1 with the message in e. */
int push_config_load(struct push_config *p, struct conf_table *root,
    struct conf_err *e);

#endif
