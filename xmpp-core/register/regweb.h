/*
 * regweb — registration, password change and account removal for a
 * client that is an HTTP request rather than a stream: the web
 * listener's /register pages (web/regpage.c).  The rules are in-band
 * registration's (register.h): who may register, reserved names,
 * password strength, the throttle per address and subnet, the captcha
 * (the same challenges and limit per address), the welcome message and
 * the watchers; a password change writes every SCRAM credential and
 * ends the account's FAST tokens (core/db/account.c), a removal is
 * XEP-0077 <remove/>'s (core/db/accountrm.c).  A wrong password counts
 * as an authentication failure of the address (its ban: accept.h).
 *
 * README.md names this header as an interface of register/.
 */
#ifndef XMPP_REGWEB_H
#define XMPP_REGWEB_H

#include <stdbool.h>

#include "captcha.h"
#include "jid.h"

struct sockaddr;

enum regweb_rc {
	REGWEB_OK,
	REGWEB_PENDING,		/* the answer comes through the callback */
	REGWEB_CLOSED,		/* registration is not open to this address */
	REGWEB_MISSING,		/* a required field is empty */
	REGWEB_BAD_USER,	/* not a valid localpart (RFC 7622) */
	REGWEB_RESERVED,
	REGWEB_WEAK,		/* below min_password_entropy */
	REGWEB_THROTTLED,	/* too many accounts from the address/subnet */
	REGWEB_LIMITED,		/* too many captchas from the address */
	REGWEB_CAPTCHA_MISSING,
	REGWEB_CAPTCHA_WRONG,
	REGWEB_CAPTCHA_EXPIRED,	/* unknown, answered before, or too late */
	REGWEB_TAKEN,
	REGWEB_AUTH,		/* no such account or a wrong password */
	REGWEB_BANNED,		/* the address failed too often lately */
	REGWEB_INVITE_GONE,	/* unknown, used or expired invitation */
	REGWEB_BUSY,		/* a queue is full, memory ran out */
	REGWEB_ERROR,		/* the database failed */
};

/* The password strength a new password needs, in bits. */
unsigned regweb_min_entropy(void);

/* A sentence for the page. */
const char *regweb_text(enum regweb_rc rc);

struct regweb_client {
	const struct sockaddr *addr;	/* as proxies said (web/proxy.h) */
	const char *ip;			/* its text, the key of per-IP limits */
	const char *peer;		/* for logs */
};

/* What a registration form asks of this client now. */
struct regweb_form {
	bool captcha;			/* a challenge to answer */
	bool picture;			/* its picture: /captcha/<id>.png */
	char challenge[CAPTCHA_ID_LEN + 1];
	char question[512];		/* a question challenge's text */
	unsigned min_entropy;		/* bits */
};

/* A new form (a new challenge when the host asks one): REGWEB_OK,
 * REGWEB_CLOSED, REGWEB_LIMITED or REGWEB_BUSY. */
enum regweb_rc regweb_form(const struct regweb_client *cl, struct regweb_form *f);

/* jid: the account's ("user@host"), NULL when rc is not REGWEB_OK. */
typedef void regweb_cb(void *arg, enum regweb_rc rc, const char *jid);

struct regweb_submit {
	const char *user, *password;
	const char *challenge, *answer;	/* NULL when absent */
};

/*
 * Each: REGWEB_PENDING and cb(arg, ...) exactly once later from the
 * loop, or another code at once (cb not called).  host: an index of
 * srv.cfg->hosts.
 */
enum regweb_rc regweb_register(int host, const struct regweb_client *cl,
    const struct regweb_submit *s, regweb_cb *cb, void *arg);
enum regweb_rc regweb_passwd(int host, const struct regweb_client *cl,
    const char *user, const char *old, const char *password, regweb_cb *cb,
    void *arg);
enum regweb_rc regweb_remove(int host, const struct regweb_client *cl,
    const char *user, const char *password, regweb_cb *cb, void *arg);

/* ---- invitations (invite.h: `xmppctl invite`, its url line) ---- */

struct regweb_invite {
	char host[JID_PART_MAX + 1];
	char inviter[JID_PART_MAX + 1];		/* localpart, "" for none */
	char uri[3 * JID_PART_MAX + 128];	/* the xmpp: URI (XEP-0401) */
};

/* inv: NULL unless rc is REGWEB_OK. */
typedef void regweb_invite_cb(void *arg, enum regweb_rc rc,
    const struct regweb_invite *inv);

/* Looks an invitation up by its token: REGWEB_PENDING (cb: REGWEB_OK,
 * REGWEB_INVITE_GONE or REGWEB_ERROR), else REGWEB_INVITE_GONE (not a
 * token) or REGWEB_BUSY at once. */
enum regweb_rc regweb_invite(const char *token, regweb_invite_cb *cb, void *arg);
/*
 * A new account with an invitation, on the invitation's host: allowed
 * where open registration is not, no captcha and no throttle (the
 * invitation vouches), the invitation used up with the account (freed
 * again if the name is taken), the account and the inviter subscribed
 * to each other; welcome and watchers as for any new account.
 */
enum regweb_rc regweb_register_invited(const struct regweb_client *cl,
    const char *token, const char *user, const char *password, regweb_cb *cb,
    void *arg);

#endif
