/*
 * webpage — what the listener's HTML pages share (regpage.c uses it):
 * HTML escaping and form fields, the token against cross-site requests
 * (an HMAC under a key of the process over a page, a value it binds —
 * the captcha challenge, an invitation — the time and the browser's
 * cookie, valid for an hour), the check of Origin and Sec-Fetch-Site,
 * and answers carrying the pages' security headers.
 */
#ifndef WEB_WEBPAGE_H
#define WEB_WEBPAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "regpage.h"

struct buf;
struct MHD_Connection;

#define WEBPAGE_COOKIE_LEN 32	/* hex */

/* The token key (random per process: a restart expires open forms). */
void webpage_init(void);

void webpage_esc(struct buf *b, const char *s);
/* <p class=cls id=message> text (nothing when text is NULL) */
void webpage_message(struct buf *b, const char *cls, const char *text);
/* A labelled, required input of at most max bytes (value: escaped). */
void webpage_input(struct buf *b, const char *name, const char *label, const char *type,
    const char *value, const char *autocomplete, size_t max);

/* The hidden "csrf" field for page, bound to cookie and bind (NULL: ""). */
void webpage_token_field(struct buf *b, const char *page, const char *cookie,
    const char *bind);
bool webpage_token_ok(const char *page, const char *cookie, const char *bind,
    const char *tok);
/* Whether the request's Origin / Sec-Fetch-Site, when given, are this site. */
bool webpage_same_site(struct MHD_Connection *conn);
/* The browser's cookie into out (false), or a new one (true). */
bool webpage_cookie(struct MHD_Connection *conn, char out[WEBPAGE_COOKIE_LEN + 1]);
/* application/x-www-form-urlencoded, with at most a UTF-8 charset. */
bool webpage_form_type_ok(const char *ct);

/* b (freed) as an HTML page with the security headers; cookie_new: set it. */
void webpage_html(struct regpage_answer *a, unsigned status, struct buf *b,
    const char *cookie_new, bool https, const char *note);
void webpage_text(struct regpage_answer *a, unsigned status, const char *text,
    const char *hname, const char *hval);
void webpage_style(struct regpage_answer *a);

#endif
