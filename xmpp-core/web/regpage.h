/*
 * regpage — the account pages under /register (ejabberd's
 * mod_register_web): a new account (username, the password twice, the
 * captcha picture or question of in-band registration), a password
 * change (username, old and new password) and the removal of an account
 * (username, password, a confirmation box).  Plain HTML forms that work
 * without JavaScript; the rules are register/'s (register/regweb.h).
 * And the landing page of an invitation, /invite/<token> (the URL
 * `xmppctl invite` prints): its xmpp: URI for an app (XEP-0401), and a
 * form that registers with it, no captcha; unknown, used or expired
 * tokens get a 404 page that says so.
 *
 * Every form carries a token against cross-site requests: an HMAC, under
 * a key of the process, over the page, the challenge, the time and a
 * random cookie of the browser (SameSite=Strict, HttpOnly).  A POST needs
 * the cookie, a token for it that is at most an hour old, and no Origin
 * or Sec-Fetch-Site header naming another site.  Bodies are
 * application/x-www-form-urlencoded with a Content-Length of at most
 * REGPAGE_BODY_MAX; pages are sent with a Content-Security-Policy that
 * allows no script, no framing and forms to this origin only, and are
 * never cached.
 */
#ifndef WEB_REGPAGE_H
#define WEB_REGPAGE_H

#include <stdbool.h>
#include <stddef.h>

struct MHD_Connection;
struct MHD_Response;
struct sockaddr;

#define REGPAGE_BODY_MAX 8192

struct regpage_client {
	const struct sockaddr *addr;	/* the client (proxy.h) */
	const char *ip, *peer;
	bool secure;		/* loopback or a trusted proxy (TLS is its) */
	bool https;		/* the proxy said X-Forwarded-Proto: https */
};

/* A POST whose answer is being worked out (the connection suspended). */
struct regpage_op;

struct regpage_answer {
	unsigned status;
	struct MHD_Response *resp;	/* NULL: out of memory */
	const char *note;		/* for the log line */
};

/* kick: MHD has work (a connection resumed). */
void regpage_init(void (*kick)(void));
bool regpage_path(const char *url);
/* Before a POST's body: true to read it, false with the answer. */
bool regpage_precheck(struct MHD_Connection *conn, struct regpage_answer *a);
/* The request complete: 0 with the answer, 1 suspended (*op; then
 * regpage_finish once MHD calls again, or regpage_release). */
int regpage_request(struct MHD_Connection *conn, const struct regpage_client *cl,
    const char *url, const char *method, const char *body, size_t len,
    struct regpage_op **op, struct regpage_answer *a);
/* The answer of a resumed operation; op is released. */
void regpage_finish(struct regpage_op *op, struct regpage_answer *a);
/* The request ended without an answer. */
void regpage_release(struct regpage_op *op);
/* Shutdown: every suspended connection resumes (answered 503). */
void regpage_abort_all(void);

#endif
