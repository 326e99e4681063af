/*
 * pushint — what push.c (registrations, notifications, answers) and
 * pushkeep.c (push sessions, stream management hooks, the keepalive)
 * share.  Not for other modules: they use push.h.
 */
#ifndef XMPP_PUSHINT_H
#define XMPP_PUSHINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evloop.h"
#include "push.h"
#include "pushconf.h"
#include "registry.h"

extern struct module push_module;

struct c2s;
struct db_req;
struct push_flight;
struct push_acct;

struct push_reg {
	struct push_reg *next;
	struct push_acct *a;
	char *jid, *node, *form, *session;
	unsigned msgs, subs;		/* since its session was last online */
	char *sender, *body;		/* of the last message */
	bool due;			/* a notification is wanted */
	bool sent_once;
	uint64_t last_sent;
	struct push_flight *fl;		/* in flight */
	struct ev_timer timer;		/* when the next one may go */
};

struct push_acct {
	char *bare, *local;
	int host;
	struct push_reg *regs;
	unsigned pins;			/* live push sessions */
	bool loaded;
	bool reload;			/* load again once the running load is done */
	struct db_req *load;
	unsigned ev_msgs;		/* offline messages before the first load */
	char *ev_sender, *ev_body;
	uint64_t used;
	uint64_t loaded_at;
};

const struct push_config *push_conf(void);
void push_set_str(char **dst, const char *src);
/* Session keys: "<boot id>-<c2s id>", unique across restarts. */
void push_session_key(const struct c2s *c, char *buf, size_t len);
struct push_acct *push_acct_get(int host, const char *local);
/* A message or subscription request for r; r wants a notification. */
void push_reg_event(struct push_reg *r, enum push_kind kind, const char *sender,
    const char *body);
void push_reg_schedule(struct push_reg *r);
/* r's device is online: nothing pending for it. */
void push_reg_reset(struct push_reg *r);

/* pushkeep.c: the session named key is connected now (not detached). */
bool push_session_online(const char *key);
/* c enabled push: its session is one registrations may name. */
void push_session_enabled(struct c2s *c);
void push_sessions_cleanup(void);

#endif
