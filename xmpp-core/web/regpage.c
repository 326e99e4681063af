/*
 * regpage — the /register pages.  See regpage.h.
 *
 * A GET draws a form (for a new account with a fresh challenge from
 * register/, so each costs one of the address's captchas a minute); a
 * POST is checked here for what is the web's (method, body, token,
 * origin, the password typed twice) and handed to register/regweb.h for
 * the rest.  Its answer may come later (PBKDF2 off the loop, the
 * database): then the connection is suspended, and resumed by the
 * callback.  Every error re-draws the form with the message and what
 * the user typed but passwords.
 */
#include "regpage.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "crypto.h"
#include "log.h"
#include "regweb.h"
#include "router.h"
#include "server.h"
#include "urlform.h"
#include "webconf.h"
#include "web.h"

#define COOKIE_NAME	"edge_reg"
#define COOKIE_LEN	32		/* hex */
#define TOKEN_TTL_S	3600
#define FIELD_MAX	1023		/* username, passwords: register.h's bound */
#define ANSWER_MAX	64

enum page { PAGE_REGISTER, PAGE_PASSWORD, PAGE_DELETE };

static const char *const page_path[] = { "/register", "/register/password",
	"/register/delete" };
static const char *const page_title[] = { "Create an account", "Change your password",
	"Delete your account" };

static const char CSP[] = "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

static const char STYLE[] =
    "body{font-family:system-ui,sans-serif;max-width:34em;margin:2em auto;"
    "padding:0 1em;line-height:1.4;color:#222;background:#fafafa}"
    "h1{font-size:1.5em}label{display:block;margin-top:.9em;font-weight:600}"
    "input[type=text],input[type=password]{width:100%;box-sizing:border-box;"
    "padding:.45em;font-size:1em;border:1px solid #999;border-radius:4px}"
    "button{margin-top:1.2em;padding:.55em 1.4em;font-size:1em}"
    ".error{background:#fde2e1;border:1px solid #d33;padding:.6em;border-radius:4px}"
    ".ok{background:#e3f6e3;border:1px solid #393;padding:.6em;border-radius:4px}"
    ".hint{color:#555;font-size:.9em;margin:.3em 0}"
    ".check{font-weight:400}.check input{margin-right:.5em}"
    "img.captcha{display:block;margin-top:.5em;border:1px solid #999;background:#fff}"
    "nav{margin-top:2.5em;font-size:.9em}nav a{margin-right:1em}";

struct regpage_op {
	TAILQ_ENTRY(regpage_op) q;
	struct MHD_Connection *conn;
	enum page page;
	struct sockaddr_storage addr;
	char ip[64], peer[128];
	bool https;
	char user[FIELD_MAX + 1];	/* to draw the form again */
	char cookie[COOKIE_LEN + 1];
	bool done, released, aborted;
	enum regweb_rc rc;
	char jid[2 * 1024 + 2];
};

static TAILQ_HEAD(, regpage_op) ops = TAILQ_HEAD_INITIALIZER(ops);
static void (*kick_mhd)(void);
static uint8_t token_key[32];
static bool have_key;

void
regpage_init(void (*kick)(void))
{
	kick_mhd = kick;
	if (!have_key && random_bytes(token_key, sizeof(token_key)) == 0)
		have_key = true;
}

static int
page_of(const char *url)
{
	if (strcmp(url, "/register/") == 0)
		return PAGE_REGISTER;
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
esc(struct buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': buf_puts(b, "&amp;"); break;
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		case '\'': buf_puts(b, "&#39;"); break;
		default: buf_append(b, s, 1);
		}
	}
}

static void
head(struct buf *b, enum page p)
{
	buf_puts(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	    "<meta name=\"referrer\" content=\"same-origin\"><title>");
	buf_puts(b, page_title[p]);
	buf_puts(b, " - ");
	esc(b, srv.cfg->hosts[reg_host() < 0 ? 0 : reg_host()]);
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

static void
message(struct buf *b, const char *cls, const char *text)
{
	if (text == NULL)
		return;
	buf_printf(b, "<p class=\"%s\" role=\"%s\" id=\"message\">", cls,
	    strcmp(cls, "error") == 0 ? "alert" : "status");
	esc(b, text);
	buf_puts(b, "</p>\n");
}

static void
text_input(struct buf *b, const char *name, const char *label, const char *type,
    const char *value, const char *autocomplete, size_t max)
{
	buf_printf(b, "<label for=\"%s\">%s</label><input type=\"%s\" id=\"%s\" "
	    "name=\"%s\" required maxlength=\"%zu\" autocomplete=\"%s\"", name, label,
	    type, name, name, max, autocomplete);
	if (value && *value) {
		buf_puts(b, " value=\"");
		esc(b, value);
		buf_puts(b, "\"");
	}
	buf_puts(b, ">\n");
}

/* ---- the token ---- */

static bool
hex_ok(const char *s, size_t len)
{
	if (s == NULL || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

static void
token_mac(enum page p, const char *cookie, const char *challenge, uint64_t t,
    char hex[65])
{
	uint8_t mac[32];
	struct buf m;

	buf_init(&m);
	buf_printf(&m, "csrf%c%s%c%s%c%s%c%" PRIu64, 0, page_path[p], 0, cookie, 0,
	    challenge ? challenge : "", 0, t);
	hmac_sha256(token_key, sizeof(token_key), buf_data(&m), buf_pending(&m), mac);
	buf_free(&m);
	hex_encode(mac, sizeof(mac), hex);
}

static void
token_field(struct buf *b, enum page p, const char *cookie, const char *challenge)
{
	uint64_t t = (uint64_t)time(NULL);
	char hex[65];

	token_mac(p, cookie, challenge, t, hex);
	buf_printf(b, "<input type=\"hidden\" name=\"csrf\" value=\"%" PRIu64 ".%s\">\n", t,
	    hex);
}

static bool
token_ok(enum page p, const char *cookie, const char *challenge, const char *tok)
{
	uint64_t t, now = (uint64_t)time(NULL);
	char hex[65];
	const char *dot;
	char *end;

	if (!have_key || !hex_ok(cookie, COOKIE_LEN) || tok == NULL ||
	    (dot = strchr(tok, '.')) == NULL || !hex_ok(dot + 1, 64) ||
	    !isdigit((unsigned char)tok[0]))
		return false;
	t = strtoull(tok, &end, 10);
	if (end != dot || t > now || now - t > TOKEN_TTL_S)
		return false;
	token_mac(p, cookie, challenge, t, hex);
	return CRYPTO_memcmp(hex, dot + 1, 64) == 0;
}

/* The host of an Origin ("https://xmpp.example.org:8443") or Host
 * header, without port, into out; false when there is none. */
static bool
host_part(const char *v, bool origin, char *out, size_t len)
{
	const char *s = v, *e;
	size_t n;

	if (v == NULL)
		return false;
	if (origin) {
		if ((s = strstr(v, "://")) == NULL)
			return false;
		s += 3;
	}
	if (*s == '[') {
		if ((e = strchr(s, ']')) == NULL)
			return false;
		e++;
	} else {
		e = s + strcspn(s, ":/");
	}
	n = (size_t)(e - s);
	if (n == 0 || n >= len)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

/*
 * Where a POST comes from: a browser names the page's origin (Origin,
 * Fetch Metadata); a request without those headers (curl, an old
 * browser) has only the token to show.  Ports are not compared: behind
 * nginx the Host header is the name alone.
 */
static bool
same_site(struct MHD_Connection *conn)
{
	const char *o = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
	const char *sfs = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	char oh[256], hh[256];

	if (sfs && strcmp(sfs, "same-origin") != 0 && strcmp(sfs, "none") != 0)
		return false;
	if (o == NULL)
		return true;
	if (!host_part(o, true, oh, sizeof(oh)) || !host_part(h, false, hh, sizeof(hh)))
		return false;
	return strcasecmp(oh, hh) == 0;
}

/* ---- answers ---- */

static void
answer(struct regpage_answer *a, unsigned status, struct buf *b, const char *cookie_new,
    bool https, const char *note)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(buf_pending(b),
	    (void *)buf_data(b), MHD_RESPMEM_MUST_COPY);

	buf_free(b);
	a->status = status;
	a->resp = r;
	a->note = note;
	if (r == NULL)
		return;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "Content-Security-Policy", CSP);
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	/* not no-referrer: under it a browser's form POST says Origin: null
	 * (Fetch §3.2.5), which same_site() must refuse */
	MHD_add_response_header(r, "Referrer-Policy", "same-origin");
	if (cookie_new) {
		char c[160];

		snprintf(c, sizeof(c), COOKIE_NAME "=%s; Path=/register; HttpOnly; "
		    "SameSite=Strict%s", cookie_new, https ? "; Secure" : "");
		MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, c);
	}
}

static void
plain_answer(struct regpage_answer *a, unsigned status, const char *text,
    const char *hname, const char *hval)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text),
	    (void *)text, MHD_RESPMEM_PERSISTENT);

	a->status = status;
	a->resp = r;
	a->note = text;
	if (r == NULL)
		return;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (hname)
		MHD_add_response_header(r, hname, hval);
}

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
static void
form(struct regpage_answer *a, enum page p, const struct regpage_client *cl,
    const char *cookie, bool cookie_new, unsigned status, const char *error,
    const char *user)
{
	struct regweb_client rc = { cl->addr, cl->ip, cl->peer };
	struct regweb_form f = { 0 };
	const char *host;
	int hi = reg_host();
	struct buf b;

	buf_init(&b);
	head(&b, p);
	if (hi < 0) {
		message(&b, "error", "This page is not set up ([web] register_host is not "
		    "a host of this server).");
		tail(&b);
		answer(a, MHD_HTTP_SERVICE_UNAVAILABLE, &b, NULL, cl->https,
		    "register_host unknown");
		return;
	}
	host = srv.cfg->hosts[hi];
	if (p == PAGE_REGISTER) {
		enum regweb_rc r = regweb_form(&rc, &f);

		if (r != REGWEB_OK) {
			message(&b, "error", error);
			message(&b, "error", regweb_text(r));
			tail(&b);
			answer(a, error ? status : status_of(r), &b,
			    cookie_new ? cookie : NULL, cl->https, regweb_text(r));
			return;
		}
	}
	message(&b, "error", error);
	buf_printf(&b, "<form method=\"post\" action=\"%s\">\n", page_path[p]);
	token_field(&b, p, cookie, f.captcha ? f.challenge : NULL);
	switch (p) {
	case PAGE_REGISTER:
		buf_puts(&b, "<p>Your address will be <em>username</em>@");
		esc(&b, host);
		buf_puts(&b, ".</p>\n");
		text_input(&b, "username", "Username", "text", user, "username", FIELD_MAX);
		text_input(&b, "password", "Password", "password", NULL, "new-password",
		    FIELD_MAX);
		buf_printf(&b, "<p class=\"hint\">At least %u bits of strength: a long "
		    "password, or several words, mixing letters, digits and other "
		    "characters.</p>\n", f.min_entropy);
		text_input(&b, "password2", "Password again", "password", NULL,
		    "new-password", FIELD_MAX);
		if (f.captcha) {
			buf_printf(&b, "<input type=\"hidden\" name=\"challenge\" "
			    "value=\"%s\">\n", f.challenge);
			if (f.picture) {
				buf_printf(&b, "<img class=\"captcha\" src=\"/captcha/%s.png\" "
				    "width=\"%d\" height=\"%d\" alt=\"A picture of six letters "
				    "and digits\">\n", f.challenge, CAPTCHA_W, CAPTCHA_H);
				text_input(&b, "answer", "The text in the picture", "text",
				    NULL, "off", ANSWER_MAX);
				buf_puts(&b, "<p class=\"hint\">Letters and digits, case does "
				    "not matter. <a href=\"/register\">Another picture</a></p>\n");
			} else {
				buf_puts(&b, "<label for=\"answer\">");
				esc(&b, f.question);
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
		esc(&b, host);
		buf_puts(&b, ".</p>\n");
		text_input(&b, "username", "Username", "text", user, "username", FIELD_MAX);
		if (p == PAGE_PASSWORD) {
			text_input(&b, "old", "Current password", "password", NULL,
			    "current-password", FIELD_MAX);
			text_input(&b, "password", "New password", "password", NULL,
			    "new-password", FIELD_MAX);
			buf_printf(&b, "<p class=\"hint\">At least %u bits of strength.</p>\n",
			    regweb_min_entropy());
			text_input(&b, "password2", "New password again", "password", NULL,
			    "new-password", FIELD_MAX);
			buf_puts(&b, "<p class=\"hint\">Clients signed in now stay signed in; "
			    "give them the new password when they ask.</p>\n"
			    "<button type=\"submit\">Change the password</button>\n");
			break;
		}
		text_input(&b, "password", "Password", "password", NULL, "current-password",
		    FIELD_MAX);
		buf_puts(&b, "<label class=\"check\"><input type=\"checkbox\" name=\"confirm\" "
		    "value=\"yes\" required>I understand that the account, its contacts, "
		    "messages and everything stored for it are deleted for good.</label>\n"
		    "<button type=\"submit\">Delete the account</button>\n");
		break;
	}
	buf_puts(&b, "</form>\n");
	tail(&b);
	answer(a, status, &b, cookie_new ? cookie : NULL, cl->https, error);
}

/* ---- requests ---- */

static bool
content_type_ok(const char *ct)
{
	static const char t[] = "application/x-www-form-urlencoded";
	const char *p;

	if (ct == NULL || strncasecmp(ct, t, sizeof(t) - 1) != 0)
		return false;
	p = ct + sizeof(t) - 1;
	if (*p == '\0')
		return true;
	/* a charset parameter, UTF-8 only (what the page is) */
	while (*p == ' ')
		p++;
	if (*p++ != ';')
		return false;
	while (*p == ' ')
		p++;
	return strcasecmp(p, "charset=utf-8") == 0 || strcasecmp(p, "charset=\"utf-8\"") == 0;
}

bool
regpage_precheck(struct MHD_Connection *conn, struct regpage_answer *a)
{
	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end;
	unsigned long long n;

	if (!content_type_ok(ct)) {
		plain_answer(a, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "the forms are sent as "
		    "application/x-www-form-urlencoded\n", "Accept-Post",
		    "application/x-www-form-urlencoded");
		return false;
	}
	if (cl == NULL || !isdigit((unsigned char)cl[0]) ||
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL) {
		plain_answer(a, MHD_HTTP_LENGTH_REQUIRED, "a form needs a Content-Length\n",
		    NULL, NULL);
		return false;
	}
	n = strtoull(cl, &end, 10);
	if (*end != '\0' || n > REGPAGE_BODY_MAX) {
		plain_answer(a, MHD_HTTP_CONTENT_TOO_LARGE, "the form is too large\n", NULL,
		    NULL);
		return false;
	}
	return true;
}

/* The browser's cookie, or a new one (true). */
static bool
cookie_of(struct MHD_Connection *conn, char out[COOKIE_LEN + 1])
{
	const char *c = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, COOKIE_NAME);

	if (hex_ok(c, COOKIE_LEN)) {
		memcpy(out, c, COOKIE_LEN + 1);
		return false;
	}
	if (random_hex(out, COOKIE_LEN / 2) == -1)
		memset(out, 0, COOKIE_LEN + 1);
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
		esc(&b, jid);
		buf_puts(&b, "</strong> is ready.</p>\n<p>Sign in with it in any XMPP client "
		    "(Conversations, Monal, Gajim, Dino, Snikket ...): the address above "
		    "and your password.</p>\n");
		break;
	case PAGE_PASSWORD:
		buf_puts(&b, "<p class=\"ok\" role=\"status\" id=\"message\">The password of "
		    "<strong>");
		esc(&b, jid);
		buf_puts(&b, "</strong> was changed.</p>\n");
		break;
	case PAGE_DELETE:
		buf_puts(&b, "<p class=\"ok\" role=\"status\" id=\"message\">The account "
		    "<strong>");
		esc(&b, jid);
		buf_puts(&b, "</strong> and everything stored for it were deleted.</p>\n");
		break;
	}
	tail(&b);
	answer(a, MHD_HTTP_OK, &b, NULL, https, NULL);
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
		plain_answer(a, MHD_HTTP_SERVICE_UNAVAILABLE, "the server is stopping\n",
		    NULL, NULL);
	else if (op->rc == REGWEB_OK)
		done_page(a, op->page, op->jid, op->https);
	else
		form(a, op->page, &cl, op->cookie, false, status_of(op->rc),
		    regweb_text(op->rc), op->user);
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

static void
style(struct regpage_answer *a)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(sizeof(STYLE) - 1,
	    (void *)STYLE, MHD_RESPMEM_PERSISTENT);

	a->status = MHD_HTTP_OK;
	a->resp = r;
	a->note = NULL;
	if (r == NULL)
		return;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/css; charset=utf-8");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "max-age=86400");
}

enum { F_CSRF, F_USER, F_OLD, F_PASSWORD, F_PASSWORD2, F_CHALLENGE, F_ANSWER, F_CONFIRM,
	NFIELDS };

static int
submit(struct MHD_Connection *conn, const struct regpage_client *cl, enum page p,
    const char *body, size_t len, struct regpage_op **opp, struct regpage_answer *a)
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
	char cookie[COOKIE_LEN + 1];
	bool fresh = cookie_of(conn, cookie);
	const char *why, *user;
	struct regpage_op *op;
	enum regweb_rc r;

	if (!cl->secure) {
		plain_answer(a, MHD_HTTP_FORBIDDEN, "passwords only through the TLS proxy "
		    "or from loopback\n", NULL, NULL);
		return 0;
	}
	if (urlform_parse(body, len, f, NFIELDS, &why) == -1) {
		form(a, p, cl, cookie, fresh, MHD_HTTP_BAD_REQUEST,
		    strcmp(why, "a field is too long") == 0 ?
		    "A field was too long." : "The form could not be read.", NULL);
		return 0;
	}
	user = f[F_USER].value;
	if (user && strlen(user) > FIELD_MAX)
		user = NULL;
	if ((why = fresh ? "no cookie" : !same_site(conn) ? "another origin" :
	    !token_ok(p, cookie, f[F_CHALLENGE].value, f[F_CSRF].value) ?
	    "no valid token" : NULL) != NULL) {
		log_info("web: %s: %s refused: %s", cl->peer, page_path[p], why);
		form(a, p, cl, cookie, fresh, MHD_HTTP_FORBIDDEN, "This form has expired or "
		    "did not come from this site (the page needs its cookie); please fill "
		    "it in again.", user);
		urlform_free(f, NFIELDS);
		return 0;
	}
	if (p != PAGE_DELETE && f[F_PASSWORD].value && f[F_PASSWORD2].value &&
	    strcmp(f[F_PASSWORD].value, f[F_PASSWORD2].value) != 0) {
		form(a, p, cl, cookie, false, MHD_HTTP_BAD_REQUEST, "The two passwords "
		    "differ.", user);
		urlform_free(f, NFIELDS);
		return 0;
	}
	if ((p != PAGE_DELETE && f[F_PASSWORD2].value == NULL) ||
	    (p == PAGE_DELETE && (f[F_CONFIRM].value == NULL ||
	    strcmp(f[F_CONFIRM].value, "yes") != 0))) {
		form(a, p, cl, cookie, false, MHD_HTTP_BAD_REQUEST, p == PAGE_DELETE ?
		    "Please tick the box to confirm the deletion." :
		    "Please type the password twice.", user);
		urlform_free(f, NFIELDS);
		return 0;
	}
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		urlform_free(f, NFIELDS);
		plain_answer(a, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n", NULL, NULL);
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
	default:
		r = regweb_remove(reg_host(), &rc, f[F_USER].value, f[F_PASSWORD].value,
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

int
regpage_request(struct MHD_Connection *conn, const struct regpage_client *cl,
    const char *url, const char *method, const char *body, size_t len,
    struct regpage_op **op, struct regpage_answer *a)
{
	int p = page_of(url);
	char cookie[COOKIE_LEN + 1];
	bool fresh;

	*op = NULL;
	if (strcmp(url, "/register/style.css") == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			plain_answer(a, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
			    MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		else
			style(a);
		return 0;
	}
	if (strcmp(method, "POST") == 0) {
		if (reg_host() < 0) {
			form(a, (enum page)p, cl, "", false, MHD_HTTP_SERVICE_UNAVAILABLE,
			    NULL, NULL);
			return 0;
		}
		return submit(conn, cl, (enum page)p, body, len, op, a);
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		plain_answer(a, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
		    MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST");
		return 0;
	}
	fresh = cookie_of(conn, cookie);
	form(a, (enum page)p, cl, cookie, fresh, MHD_HTTP_OK, NULL, NULL);
	return 0;
}
