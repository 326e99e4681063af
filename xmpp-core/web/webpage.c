/*
 * webpage — what the listener's HTML pages share (regpage.c): escaping,
 * form fields, the token against cross-site requests and the cookie it
 * is bound to, the origin check, answers with the security headers, and
 * the stylesheet.  See regpage.h for why each is shaped as it is.
 */
#include "webpage.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "crypto.h"

#define COOKIE_NAME	"edge_reg"
#define TOKEN_TTL_S	3600

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
    "nav{margin-top:2.5em;font-size:.9em}nav a{margin-right:1em}"
    "h2{font-size:1.15em;margin-top:1.6em}code{word-break:break-all}"
    "a.button{display:inline-block;padding:.6em 1.2em;background:#2a6;color:#fff;"
    "border-radius:4px;text-decoration:none;font-weight:600}";

static uint8_t token_key[32];
static bool have_key;

void
webpage_init(void)
{
	if (!have_key && random_bytes(token_key, sizeof(token_key)) == 0)
		have_key = true;
}

/* ---- HTML ---- */

void
webpage_esc(struct buf *b, const char *s)
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


void
webpage_message(struct buf *b, const char *cls, const char *text)
{
	if (text == NULL)
		return;
	buf_printf(b, "<p class=\"%s\" role=\"%s\" id=\"message\">", cls,
	    strcmp(cls, "error") == 0 ? "alert" : "status");
	webpage_esc(b, text);
	buf_puts(b, "</p>\n");
}

void
webpage_input(struct buf *b, const char *name, const char *label, const char *type,
    const char *value, const char *autocomplete, size_t max)
{
	buf_printf(b, "<label for=\"%s\">%s</label><input type=\"%s\" id=\"%s\" "
	    "name=\"%s\" required maxlength=\"%zu\" autocomplete=\"%s\"", name, label,
	    type, name, name, max, autocomplete);
	if (value && *value) {
		buf_puts(b, " value=\"");
		webpage_esc(b, value);
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
token_mac(const char *page, const char *cookie, const char *challenge, uint64_t t,
    char hex[65])
{
	uint8_t mac[32];
	struct buf m;

	buf_init(&m);
	buf_printf(&m, "csrf%c%s%c%s%c%s%c%" PRIu64, 0, page, 0, cookie, 0,
	    challenge ? challenge : "", 0, t);
	hmac_sha256(token_key, sizeof(token_key), buf_data(&m), buf_pending(&m), mac);
	buf_free(&m);
	hex_encode(mac, sizeof(mac), hex);
}

void
webpage_token_field(struct buf *b, const char *page, const char *cookie, const char *challenge)
{
	uint64_t t = (uint64_t)time(NULL);
	char hex[65];

	token_mac(page, cookie, challenge, t, hex);
	buf_printf(b, "<input type=\"hidden\" name=\"csrf\" value=\"%" PRIu64 ".%s\">\n", t,
	    hex);
}

bool
webpage_token_ok(const char *page, const char *cookie, const char *challenge, const char *tok)
{
	uint64_t t, now = (uint64_t)time(NULL);
	char hex[65];
	const char *dot;
	char *end;

	if (!have_key || !hex_ok(cookie, WEBPAGE_COOKIE_LEN) || tok == NULL ||
	    (dot = strchr(tok, '.')) == NULL || !hex_ok(dot + 1, 64) ||
	    !isdigit((unsigned char)tok[0]))
		return false;
	t = strtoull(tok, &end, 10);
	if (end != dot || t > now || now - t > TOKEN_TTL_S)
		return false;
	token_mac(page, cookie, challenge, t, hex);
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
bool
webpage_same_site(struct MHD_Connection *conn)
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

void
webpage_html(struct regpage_answer *a, unsigned status, struct buf *b, const char *cookie_new,
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

		snprintf(c, sizeof(c), COOKIE_NAME "=%s; Path=/; HttpOnly; "
		    "SameSite=Strict%s", cookie_new, https ? "; Secure" : "");
		MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, c);
	}
}

void
webpage_text(struct regpage_answer *a, unsigned status, const char *text,
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


bool
webpage_form_type_ok(const char *ct)
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


/* The browser's cookie, or a new one (true). */
bool
webpage_cookie(struct MHD_Connection *conn, char out[WEBPAGE_COOKIE_LEN + 1])
{
	const char *c = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, COOKIE_NAME);

	if (hex_ok(c, WEBPAGE_COOKIE_LEN)) {
		memcpy(out, c, WEBPAGE_COOKIE_LEN + 1);
		return false;
	}
	if (random_hex(out, WEBPAGE_COOKIE_LEN / 2) == -1)
		memset(out, 0, WEBPAGE_COOKIE_LEN + 1);
	return true;
}


void
webpage_style(struct regpage_answer *a)
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

