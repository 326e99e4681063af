/*
 * regpage — the /register pages and the invitations' /invite/<token>.
 * See regpage.h; what the pages share is webpage.c's.
 *
 * A GET draws a form (for a new account with a fresh challenge from
 * register/, so each costs one of the address's captchas a minute); a
 * POST is checked here for what is the web's (method, body, token,
 * origin, the password typed twice) and handed to register/regweb.h for
 * the rest.  Its answer may come later (PBKDF2 off the loop, the
 * database): then the connection is suspended, and resumed by the
 * callback.  Every error re-draws the form with the message and what
 * the user typed but passwords.  An invitation's page is drawn once the
 * database said the token is there (a GET is suspended too); its form
 * registers through regweb_register_invited().
 */
#include "regpage.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "log.h"
#include "regweb.h"
#include "router.h"
#include "server.h"
#include "urlform.h"
#include "webconf.h"
#include "web.h"
#include "webpage.h"

#define FIELD_MAX	1023		/* username, passwords: register.h's bound */
#define ANSWER_MAX	64

enum page { PAGE_REGISTER, PAGE_PASSWORD, PAGE_DELETE, PAGE_INVITE };

static const char *const page_path[] = { "/register", "/register/password",
	"/register/delete", "/invite" };
static const char *const page_title[] = { "Create an account", "Change your password",
	"Delete your account", "Invitation" };

struct regpage_op {
	TAILQ_ENTRY(regpage_op) q;
	struct MHD_Connection *conn;
	enum page page;
	struct sockaddr_storage addr;
	char ip[64], peer[128];
	bool https;
	char user[FIELD_MAX + 1];	/* to draw the form again */
	char cookie[WEBPAGE_COOKIE_LEN + 1];
	bool done, released, aborted;
	enum regweb_rc rc;
	char jid[2 * 1024 + 2];
	char token[64];			/* PAGE_INVITE: from the path */
	bool lookup;			/* a GET of an invitation */
	bool fresh;			/* ... by a browser without our cookie */
	struct regweb_invite inv;	/* what the lookup found */
};

static TAILQ_HEAD(, regpage_op) ops = TAILQ_HEAD_INITIALIZER(ops);
static void (*kick_mhd)(void);

void
regpage_init(void (*kick)(void))
{
	kick_mhd = kick;
	webpage_init();
}

static int
page_of(const char *url)
{
	if (strcmp(url, "/register/") == 0)
		return PAGE_REGISTER;
	if (strncmp(url, "/invite/", 8) == 0)
		return PAGE_INVITE;	/* the token: regweb.h checks it */
	for (size_t i = 0; i < sizeof(page_path) / sizeof(page_path[0]); i++)
		if (strcmp(url, page_path[i]) == 0)
			return (int)i;
	return -1;
}

bool
regpage_path(const char *url)
{
	return page_of(url) >= 0 || strcmp(url, "/register/style.css") == 0;
}

/* The host accounts are made on: [web] register_host, else the first. */
static int
reg_host(void)
{
	const char *h = web_cfg()->register_host;

	return h ? router_host_index(h) : 0;
}

/* ---- HTML ---- */

static void
head(struct buf *b, enum page p)
{
	buf_puts(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	    "<meta name=\"referrer\" content=\"same-origin\"><title>");
	buf_puts(b, page_title[p]);
	buf_puts(b, " - ");
	webpage_esc(b, srv.cfg->hosts[reg_host() < 0 ? 0 : reg_host()]);
	buf_puts(b, "</title><link rel=\"stylesheet\" href=\"/register/style.css\">"
	    "</head>\n<body><main>\n<h1>");
	buf_puts(b, page_title[p]);
	buf_puts(b, "</h1>\n");
}

static void
tail(struct buf *b)
{
	buf_puts(b, "<nav><a href=\"/register\">Create an account</a>"
	    "<a href=\"/register/password\">Change your password</a>"
	    "<a href=\"/register/delete\">Delete your account</a></nav>\n"
	    "</main></body></html>\n");
}

/* ---- answers ---- */

static unsigned
status_of(enum regweb_rc rc)
{
	switch (rc) {
	case REGWEB_OK:
	case REGWEB_PENDING:
		return MHD_HTTP_OK;
	case REGWEB_CLOSED:
	case REGWEB_AUTH:
		return MHD_HTTP_FORBIDDEN;
	case REGWEB_THROTTLED:
	case REGWEB_LIMITED:
	case REGWEB_BANNED:
		return MHD_HTTP_TOO_MANY_REQUESTS;
	case REGWEB_TAKEN:
		return MHD_HTTP_CONFLICT;
	case REGWEB_INVITE_GONE:
		return MHD_HTTP_NOT_FOUND;
	case REGWEB_BUSY:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	case REGWEB_ERROR:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	default:
		return MHD_HTTP_BAD_REQUEST;
	}
}

/* The form of page p with an error (NULL: none); for a new account a new
 * challenge, or the reason there is no form. */
static void invite_page(struct regpage_answer *a, const struct regpage_client *cl,
    const char *cookie, bool cookie_new, unsigned status, const char *error,
    const char *user, const char *token, const struct regweb_invite *inv);

static void
form(struct regpage_answer *a, enum page p, const struct regpage_client *cl,
    const char *cookie, bool cookie_new, unsigned status, const char *error,
    const char *user, const char *token)
{
	struct regweb_client rc = { cl->addr, cl->ip, cl->peer };
	struct regweb_form f = { 0 };
	const char *host;
	int hi = reg_host();
	struct buf b;

	if (p == PAGE_INVITE) {
		invite_page(a, cl, cookie, cookie_new, status, error, user, token, NULL);
		return;
	}
	buf_init(&b);
	head(&b, p);
	if (hi < 0) {
		webpage_message(&b, "error", "This page is not set up ([web] register_host is not "
		    "a host of this server).");
		tail(&b);
		webpage_html(a, MHD_HTTP_SERVICE_UNAVAILABLE, &b, NULL, cl->https,
		    "register_host unknown");
		return;
	}
	host = srv.cfg->hosts[hi];
	if (p == PAGE_REGISTER) {
		enum regweb_rc r = regweb_form(&rc, &f);

		if (r != REGWEB_OK) {
			webpage_message(&b, "error", error);
			webpage_message(&b, "error", regweb_text(r));
			tail(&b);
			webpage_html(a, error ? status : status_of(r), &b,
			    cookie_new ? cookie : NULL, cl->https, regweb_text(r));
			return;
		}
	}
	webpage_message(&b, "error", error);
	buf_printf(&b, "<form method=\"post\" action=\"%s\">\n", page_path[p]);
	webpage_token_field(&b, page_path[p], cookie, f.captcha ? f.challenge : NULL);
	switch (p) {
	case PAGE_REGISTER:
		buf_puts(&b, "<p>Your address will be <em>username</em>@");
		webpage_esc(&b, host);
		buf_puts(&b, ".</p>\n");
		webpage_input(&b, "username", "Username", "text", user, "username", FIELD_MAX);
		webpage_input(&b, "password", "Password", "password", NULL, "new-password",
		    FIELD_MAX);
		buf_printf(&b, "<p class=\"hint\">At least %u bits of strength: a long "
		    "password, or several words, mixing letters, digits and other "
		    "characters.</p>\n", f.min_entropy);
		webpage_input(&b, "password2", "Password again", "password", NULL,
		    "new-password", FIELD_MAX);
		if (f.captcha) {
			buf_printf(&b, "<input type=\"hidden\" name=\"challenge\" "
			    "value=\"%s\">\n", f.challenge);
			if (f.picture) {
				buf_printf(&b, "<img class=\"captcha\" src=\"/captcha/%s.png\" "
				    "width=\"%d\" height=\"%d\" alt=\"A picture of six letters "
				    "and digits\">\n", f.challenge, CAPTCHA_W, CAPTCHA_H);
				webpage_input(&b, "answer", "The text in the picture", "text",
				    NULL, "off", ANSWER_MAX);
				buf_puts(&b, "<p class=\"hint\">Letters and digits, case does "
				    "not matter. <a href=\"/register\">Another picture</a></p>\n");
			} else {
				buf_puts(&b, "<label for=\"answer\">");
				webpage_esc(&b, f.question);
				buf_printf(&b, "</label><input type=\"text\" id=\"answer\" "
				    "name=\"answer\" required maxlength=\"%d\" "
				    "autocomplete=\"off\">\n", ANSWER_MAX);
			}
		}
		buf_puts(&b, "<button type=\"submit\">Create the account</button>\n");
		break;
	case PAGE_PASSWORD:
	case PAGE_DELETE:
		buf_puts(&b, "<p>For an account <em>username</em>@");
		webpage_esc(&b, host);
		buf_puts(&b, ".</p>\n");
		webpage_input(&b, "username", "Username", "text", user, "username", FIELD_MAX);
		if (p == PAGE_PASSWORD) {
			webpage_input(&b, "old", "Current password", "password", NULL,
			    "current-password", FIELD_MAX);
			webpage_input(&b, "password", "New password", "password", NULL,
			    "new-password", FIELD_MAX);
			buf_printf(&b, "<p class=\"hint\">At least %u bits of strength.</p>\n",
			    regweb_min_entropy());
			webpage_input(&b, "password2", "New password again", "password", NULL,
			    "new-password", FIELD_MAX);
			buf_puts(&b, "<p class=\"hint\">Clients signed in now stay signed in; "
			    "give them the new password when they ask.</p>\n"
			    "<button type=\"submit\">Change the password</button>\n");
			break;
		}
		webpage_input(&b, "password", "Password", "password", NULL, "current-password",
		    FIELD_MAX);
		buf_puts(&b, "<label class=\"check\"><input type=\"checkbox\" name=\"confirm\" "
		    "value=\"yes\" required>I understand that the account, its contacts, "
		    "messages and everything stored for it are deleted for good.</label>\n"
		    "<button type=\"submit\">Delete the account</button>\n");
		break;
	case PAGE_INVITE:
		break;	/* invite_page */
	}
	buf_puts(&b, "</form>\n");
	tail(&b);
	webpage_html(a, status, &b, cookie_new ? cookie : NULL, cl->https, error);
}

/*
 * An invitation's landing page (XEP-0401 §5.2): the xmpp: URI to open in
 * an app, then the form that registers with it (no captcha: the
 * invitation vouches).  inv NULL: no invitation to show (the form alone
 * after an error, nothing at all when it is gone).
 */
static void
invite_page(struct regpage_answer *a, const struct regpage_client *cl,
    const char *cookie, bool cookie_new, unsigned status, const char *error,
    const char *user, const char *token, const struct regweb_invite *inv)
{
	bool with_form = token && cookie && status != MHD_HTTP_NOT_FOUND &&
	    status < MHD_HTTP_INTERNAL_SERVER_ERROR;
	struct buf b;

	buf_init(&b);
	head(&b, PAGE_INVITE);
	webpage_message(&b, "error", error);
	if (inv) {
		buf_puts(&b, "<p id=\"invitation\">");
		if (inv->inviter[0]) {
			buf_puts(&b, "<strong>");
			webpage_esc(&b, inv->inviter);
			buf_puts(&b, "@");
			webpage_esc(&b, inv->host);
			buf_puts(&b, "</strong> invites you to chat");
		} else {
			buf_puts(&b, "You are invited to make an account on <strong>");
			webpage_esc(&b, inv->host);
			buf_puts(&b, "</strong>");
		}
		buf_puts(&b, ", on XMPP, the open chat network.</p>\n<h2>With a chat app</h2>\n"
		    "<p><a class=\"button\" id=\"uri\" href=\"");
		webpage_esc(&b, inv->uri);
		buf_puts(&b, "\">Open the invitation in your app</a></p>\n<p class=\"hint\">"
		    "With Conversations (Android), Snikket, Monal or Siskin (iOS), Gajim or "
		    "Dino (desktop) installed, the link opens the app, which creates your "
		    "account on ");
		webpage_esc(&b, inv->host);
		if (inv->inviter[0])
			buf_puts(&b, " with the person who invited you in your contacts; with "
			    "an account somewhere already, the app adds them to your contacts "
			    "instead");
		buf_puts(&b, ". No app yet? Install one from your app store, then come back "
		    "here and tap the link.</p>\n<p class=\"hint\">The invitation as text, to "
		    "paste into an app: <code>");
		webpage_esc(&b, inv->uri);
		buf_puts(&b, "</code></p>\n<h2>Or make the account on this page</h2>\n");
	}
	if (with_form) {
		buf_puts(&b, "<form method=\"post\" action=\"/invite/");
		webpage_esc(&b, token);
		buf_puts(&b, "\">\n");
		webpage_token_field(&b, page_path[PAGE_INVITE], cookie, token);
		webpage_input(&b, "username", "Username", "text", user, "username", FIELD_MAX);
		webpage_input(&b, "password", "Password", "password", NULL, "new-password",
		    FIELD_MAX);
		buf_printf(&b, "<p class=\"hint\">At least %u bits of strength.</p>\n",
		    regweb_min_entropy());
		webpage_input(&b, "password2", "Password again", "password", NULL,
		    "new-password", FIELD_MAX);
		buf_puts(&b, "<button type=\"submit\">Create the account</button>\n</form>\n"
		    "<p class=\"hint\">The invitation works once, and expires.</p>\n");
	}
	tail(&b);
	webpage_html(a, status, &b, cookie_new ? cookie : NULL, cl->https, error);
}

/* ---- requests ---- */

bool
regpage_precheck(struct MHD_Connection *conn, struct regpage_answer *a)
{
	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end;
	unsigned long long n;

	if (!webpage_form_type_ok(ct)) {
		webpage_text(a, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "the forms are sent as "
		    "application/x-www-form-urlencoded\n", "Accept-Post",
		    "application/x-www-form-urlencoded");
		return false;
	}
	if (cl == NULL || !isdigit((unsigned char)cl[0]) ||
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL) {
		webpage_text(a, MHD_HTTP_LENGTH_REQUIRED, "a form needs a Content-Length\n",
		    NULL, NULL);
		return false;
	}
	n = strtoull(cl, &end, 10);
	if (*end != '\0' || n > REGPAGE_BODY_MAX) {
		webpage_text(a, MHD_HTTP_CONTENT_TOO_LARGE, "the form is too large\n", NULL,
		    NULL);
		return false;
	}
	return true;
}

static void
op_cb(void *arg, enum regweb_rc rc, const char *jid)
{
	struct regpage_op *op = arg;

	op->done = true;
	op->rc = rc;
	snprintf(op->jid, sizeof(op->jid), "%s", jid ? jid : "");
	if (op->released) {
		TAILQ_REMOVE(&ops, op, q);
		OPENSSL_cleanse(op, sizeof(*op));
		free(op);
		return;
	}
	if (!op->aborted) {
		MHD_resume_connection(op->conn);
		kick_mhd();
	}
}

static void
invite_cb(void *arg, enum regweb_rc rc, const struct regweb_invite *inv)
{
	struct regpage_op *op = arg;

	if (inv)
		op->inv = *inv;
	op_cb(op, rc, NULL);
}

/* The page after an operation went through. */
static void
done_page(struct regpage_answer *a, enum page p, const char *jid, bool https)
{
	struct buf b;

	buf_init(&b);
	head(&b, p);
	switch (p) {
	case PAGE_REGISTER:
		buf_puts(&b, "<p class=\"ok\" role=\"status\" id=\"message\">Your account <strong>");
		webpage_esc(&b, jid);
		buf_puts(&b, "</strong> is ready.</p>\n<p>Sign in with it in any XMPP client "
		    "(Conversations, Monal, Gajim, Dino, Snikket ...): the address above "
		    "and your password.</p>\n");
		break;
	case PAGE_PASSWORD:
		buf_puts(&b, "<p class=\"ok\" role=\"status\" id=\"message\">The password of "
		    "<strong>");
		webpage_esc(&b, jid);
		buf_puts(&b, "</strong> was changed.</p>\n");
		break;
	case PAGE_DELETE:
		buf_puts(&b, "<p class=\"ok\" role=\"status\" id=\"message\">The account "
		    "<strong>");
		webpage_esc(&b, jid);
		buf_puts(&b, "</strong> and everything stored for it were deleted.</p>\n");
		break;
	case PAGE_INVITE:
		buf_puts(&b, "<p class=\"ok\" role=\"status\" id=\"message\">Your account "
		    "<strong>");
		webpage_esc(&b, jid);
		buf_puts(&b, "</strong> is ready, and the person who invited you is in "
		    "your contacts.</p>\n<p>Sign in with it in any XMPP client "
		    "(Conversations, Monal, Gajim, Dino, Snikket ...): the address above "
		    "and your password.</p>\n");
		break;
	}
	tail(&b);
	webpage_html(a, MHD_HTTP_OK, &b, NULL, https, NULL);
}

static void
client_of_op(const struct regpage_op *op, struct regpage_client *cl)
{
	cl->addr = (const struct sockaddr *)&op->addr;
	cl->ip = op->ip;
	cl->peer = op->peer;
	cl->secure = true;
	cl->https = op->https;
}

void
regpage_finish(struct regpage_op *op, struct regpage_answer *a)
{
	struct regpage_client cl;

	client_of_op(op, &cl);
	if (op->aborted && !op->done)
		webpage_text(a, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is stopping\n",
		    NULL, NULL);
	else if (op->lookup)
		invite_page(a, &cl, op->cookie, op->fresh, op->rc == REGWEB_OK ?
		    MHD_HTTP_OK : status_of(op->rc), op->rc == REGWEB_OK ? NULL :
		    regweb_text(op->rc), NULL, op->token, op->rc == REGWEB_OK ? &op->inv : NULL);
	else if (op->rc == REGWEB_OK)
		done_page(a, op->page, op->jid, op->https);
	else
		form(a, op->page, &cl, op->cookie, false, status_of(op->rc),
		    regweb_text(op->rc), op->user, op->token);
	regpage_release(op);
}

void
regpage_release(struct regpage_op *op)
{
	if (op == NULL)
		return;
	op->released = true;
	if (op->done) {
		TAILQ_REMOVE(&ops, op, q);
		OPENSSL_cleanse(op, sizeof(*op));
		free(op);
	}
	/* else: freed by op_cb (register/ always calls back while the loop
	 * runs; at shutdown it stays on the list) */
}

void
regpage_abort_all(void)
{
	struct regpage_op *op;

	TAILQ_FOREACH(op, &ops, q) {
		if (op->done || op->released || op->aborted)
			continue;
		op->aborted = true;
		MHD_resume_connection(op->conn);
	}
}

enum { F_CSRF, F_USER, F_OLD, F_PASSWORD, F_PASSWORD2, F_CHALLENGE, F_ANSWER, F_CONFIRM,
	NFIELDS };

static int
submit(struct MHD_Connection *conn, const struct regpage_client *cl, enum page p,
    const char *token, const char *body, size_t len, struct regpage_op **opp,
    struct regpage_answer *a)
{
	struct urlform_field f[NFIELDS] = {
		[F_CSRF] = { "csrf", 128, NULL },
		[F_USER] = { "username", FIELD_MAX, NULL },
		[F_OLD] = { "old", FIELD_MAX, NULL },
		[F_PASSWORD] = { "password", FIELD_MAX, NULL },
		[F_PASSWORD2] = { "password2", FIELD_MAX, NULL },
		[F_CHALLENGE] = { "challenge", CAPTCHA_ID_LEN, NULL },
		[F_ANSWER] = { "answer", ANSWER_MAX, NULL },
		[F_CONFIRM] = { "confirm", 8, NULL },
	};
	struct regweb_client rc = { cl->addr, cl->ip, cl->peer };
	char cookie[WEBPAGE_COOKIE_LEN + 1];
	bool fresh = webpage_cookie(conn, cookie);
	const char *why, *user;
	struct regpage_op *op;
	enum regweb_rc r;

	if (!cl->secure) {
		webpage_text(a, MHD_HTTP_FORBIDDEN, "passwords only through the TLS proxy "
		    "or from loopback\n", NULL, NULL);
		return 0;
	}
	if (urlform_parse(body, len, f, NFIELDS, &why) == -1) {
		form(a, p, cl, cookie, fresh, MHD_HTTP_BAD_REQUEST,
		    strcmp(why, "a field is too long") == 0 ?
		    "A field was too long." : "The form could not be read.", NULL, token);
		return 0;
	}
	user = f[F_USER].value;
	if (user && strlen(user) > FIELD_MAX)
		user = NULL;
	if ((why = fresh ? "no cookie" : !webpage_same_site(conn) ? "another origin" :
	    !webpage_token_ok(page_path[p], cookie, p == PAGE_INVITE ? token : f[F_CHALLENGE].value,
	    f[F_CSRF].value) ?
	    "no valid token" : NULL) != NULL) {
		log_info("web: %s: %s refused: %s", cl->peer, page_path[p], why);
		form(a, p, cl, cookie, fresh, MHD_HTTP_FORBIDDEN, "This form has expired or "
		    "did not come from this site (the page needs its cookie); please fill "
		    "it in again.", user, token);
		urlform_free(f, NFIELDS);
		return 0;
	}
	if (p != PAGE_DELETE && f[F_PASSWORD].value && f[F_PASSWORD2].value &&
	    strcmp(f[F_PASSWORD].value, f[F_PASSWORD2].value) != 0) {
		form(a, p, cl, cookie, false, MHD_HTTP_BAD_REQUEST, "The two passwords "
		    "differ.", user, token);
		urlform_free(f, NFIELDS);
		return 0;
	}
	if ((p != PAGE_DELETE && f[F_PASSWORD2].value == NULL) ||
	    (p == PAGE_DELETE && (f[F_CONFIRM].value == NULL ||
	    strcmp(f[F_CONFIRM].value, "yes") != 0))) {
		form(a, p, cl, cookie, false, MHD_HTTP_BAD_REQUEST, p == PAGE_DELETE ?
		    "Please tick the box to confirm the deletion." :
		    "Please type the password twice.", user, token);
		urlform_free(f, NFIELDS);
		return 0;
	}
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		urlform_free(f, NFIELDS);
		webpage_text(a, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n", NULL, NULL);
		return 0;
	}
	op->conn = conn;
	op->page = p;
	memcpy(&op->addr, cl->addr, cl->addr->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	snprintf(op->ip, sizeof(op->ip), "%s", cl->ip);
	snprintf(op->peer, sizeof(op->peer), "%s", cl->peer);
	op->https = cl->https;
	snprintf(op->user, sizeof(op->user), "%s", user ? user : "");
	memcpy(op->cookie, cookie, sizeof(cookie));
	snprintf(op->token, sizeof(op->token), "%s", token ? token : "");
	switch (p) {
	case PAGE_REGISTER: {
		struct regweb_submit s = { f[F_USER].value, f[F_PASSWORD].value,
			f[F_CHALLENGE].value, f[F_ANSWER].value };

		r = regweb_register(reg_host(), &rc, &s, op_cb, op);
		break;
	}
	case PAGE_PASSWORD:
		r = regweb_passwd(reg_host(), &rc, f[F_USER].value, f[F_OLD].value,
		    f[F_PASSWORD].value, op_cb, op);
		break;
	case PAGE_DELETE:
		r = regweb_remove(reg_host(), &rc, f[F_USER].value, f[F_PASSWORD].value,
		    op_cb, op);
		break;
	default:
		r = regweb_register_invited(&rc, token, f[F_USER].value, f[F_PASSWORD].value,
		    op_cb, op);
		break;
	}
	urlform_free(f, NFIELDS);
	TAILQ_INSERT_TAIL(&ops, op, q);
	if (r == REGWEB_PENDING) {
		MHD_suspend_connection(conn);
		*opp = op;
		return 1;
	}
	op->done = true;
	op->rc = r;
	regpage_finish(op, a);
	return 0;
}

/* An invitation's token as xmppctl makes them (invite.h); anything else
 * is not looked up, nor ever written into a page. */
static bool
token_shape_ok(const char *t)
{
	if (strlen(t) != 32)
		return false;
	for (; *t; t++)
		if (!isxdigit((unsigned char)*t))
			return false;
	return true;
}

/* GET of an invitation: its page once the database has answered. */
static int
invite_get(struct MHD_Connection *conn, const struct regpage_client *cl,
    const char *token, struct regpage_op **opp, struct regpage_answer *a)
{
	struct regpage_op *op;
	enum regweb_rc r;

	if ((op = calloc(1, sizeof(*op))) == NULL) {
		webpage_text(a, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n", NULL, NULL);
		return 0;
	}
	op->conn = conn;
	op->page = PAGE_INVITE;
	op->lookup = true;
	memcpy(&op->addr, cl->addr, cl->addr->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	snprintf(op->ip, sizeof(op->ip), "%s", cl->ip);
	snprintf(op->peer, sizeof(op->peer), "%s", cl->peer);
	op->https = cl->https;
	op->fresh = webpage_cookie(conn, op->cookie);
	snprintf(op->token, sizeof(op->token), "%s", token);
	TAILQ_INSERT_TAIL(&ops, op, q);
	if ((r = regweb_invite(token, invite_cb, op)) == REGWEB_PENDING) {
		MHD_suspend_connection(conn);
		*opp = op;
		return 1;
	}
	op->done = true;
	op->rc = r;
	regpage_finish(op, a);
	return 0;
}

int
regpage_request(struct MHD_Connection *conn, const struct regpage_client *cl,
    const char *url, const char *method, const char *body, size_t len,
    struct regpage_op **op, struct regpage_answer *a)
{
	int p = page_of(url);
	const char *token = p == PAGE_INVITE ? url + 8 : NULL;
	char cookie[WEBPAGE_COOKIE_LEN + 1];
	bool fresh;

	*op = NULL;
	if (strcmp(url, "/register/style.css") == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			webpage_text(a, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
			    MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		else
			webpage_style(a);
		return 0;
	}
	if (strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0 &&
	    strcmp(method, "HEAD") != 0) {
		webpage_text(a, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
		    MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST");
		return 0;
	}
	if (token && !token_shape_ok(token)) {
		invite_page(a, cl, NULL, false, MHD_HTTP_NOT_FOUND,
		    regweb_text(REGWEB_INVITE_GONE), NULL, NULL, NULL);
		return 0;
	}
	if (strcmp(method, "POST") == 0) {
		if (!token && reg_host() < 0) {
			form(a, (enum page)p, cl, "", false, MHD_HTTP_SERVICE_UNAVAILABLE,
			    NULL, NULL, NULL);
			return 0;
		}
		return submit(conn, cl, (enum page)p, token, body, len, op, a);
	}
	if (token)
		return invite_get(conn, cl, token, op, a);
	fresh = webpage_cookie(conn, cookie);
	form(a, (enum page)p, cl, cookie, fresh, MHD_HTTP_OK, NULL, NULL, NULL);
	return 0;
}
