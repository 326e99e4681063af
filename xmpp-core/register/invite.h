/*
 * invite — invitations: `xmppctl invite [USER@]HOST [TTL]` makes one
 * (an xmpp: URI with a preauth token, XEP-0401/XEP-0379/XEP-0445), a
 * client presents the token before registering (<preauth
 * xmlns='urn:xmpp:pars:0'/>, XEP-0445 §4), and the registration that
 * follows is allowed even where open registration is off, needs no
 * captcha, uses the invitation up, and subscribes the new account and
 * the inviter to each other.  Someone with an account already sends the
 * token in a subscription request instead (XEP-0379 §3): pre-approved.
 */
#ifndef XMPP_INVITE_H
#define XMPP_INVITE_H

#include <stdbool.h>

struct c2s;
struct iq_req;
#include "registry.h"

#define INVITE_TOKEN_LEN 32	/* hex characters: 128 bits */

/* What a session carries once its token was accepted. */
struct reg_session {
	bool invited;
	char token[INVITE_TOKEN_LEN + 1];
};

struct reg_session *invite_session(struct c2s *c);

/* The <preauth/> IQ before authentication. */
bool invite_preauth_iq(struct iq_req *r);

/* Marks the session's invitation used by local: done(arg, 1) when it
 * was still free, 0 when not, -1 on a database error; inviter is the
 * inviting localpart ("" for none). */
int invite_consume(struct c2s *c, const char *local,
    void (*done)(void *arg, int ok, const char *inviter), void *arg);
/* Frees it again after a registration that failed. */
void invite_release(struct c2s *c, const char *local);
/* Subscribes host's accounts a and b to each other (both directions). */
void invite_subscribe(int host, const char *a, const char *b);

/*
 * The web's landing page (regweb.c), where the token alone names the
 * invitation.  done(arg, ok, host, inviter): ok 1 with the host index and
 * the inviting localpart ("" for none), 0 when the token is unknown, used
 * or expired, -1 on a database error.  invite_lookup only looks;
 * invite_take marks it used by local (one UPDATE, expiry checked), and
 * invite_give_back frees it again after a registration that failed.
 * 0, or -1 when the query could not be queued (done not called then).
 */
typedef void invite_found_cb(void *arg, int ok, int host, const char *inviter);
int invite_lookup(const char *token, invite_found_cb *done, void *arg);
int invite_take(const char *token, const char *local, invite_found_cb *done, void *arg);
void invite_give_back(const char *token, int host, const char *local);
/* Whether t looks like a token (INVITE_TOKEN_LEN hex digits). */
bool invite_token_ok(const char *t);

extern const struct ctl_command invite_commands[];
/* <presence type='subscribe'/> with a token (XEP-0379 §3). */
extern const struct hook invite_hooks[];

#endif
