/*
 * http — libmicrohttpd on the server's loop.  See http.h.
 *
 * One MHD daemon per listen address, each handed its socket (bound by
 * addr_listen before privileges are dropped).  Requests are answered
 * when complete (only BOSH requests and the /register forms have a body,
 * a form's checked before it is read; other methods get 405 at once and
 * the connection closes), and one log line per request names the client
 * as proxy.c found it ("client via proxy").
 */
#include "http.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <microhttpd.h>

#include "accept.h"
#include "addr.h"
#include "bosh.h"
#include "buf.h"
#include "captcha.h"
#include "evloop.h"
#include "hostmeta.h"
#include "log.h"
#include "mhdloop.h"
#include "proxy.h"
#include "regpage.h"
#include "server.h"
#include "web.h"
#include "webconf.h"
#include "wsproto.h"
#include "wsxmpp.h"

#define HTTP_TIMEOUT_S 30	/* an HTTP request (not a WebSocket) */
/*
 * MHD's memory pool per connection (its default is 32 KiB), which an
 * upgraded WebSocket keeps for its whole life: most of an idle
 * WebSocket session's memory (200 idle sessions measured: 16 KiB gives
 * ~17 KiB per session, 8 KiB ~12.6, 4 KiB ~8.6; TCP+TLS ~4.5).  MHD reads the
 * request head into about half of it, so 16 KiB still takes ~7 KiB of
 * headers (a browser's cookies through nginx); more gets 431.
 */
#define HTTP_CONN_MEMORY (16 * 1024)

struct web_daemon {
	struct MHD_Daemon *d;
	struct mhd_loop ml;	/* MHD on the server's loop (common/mhdloop.h) */
	char name[ADDR_STRLEN];
};

struct req {
	uint64_t t0;
	unsigned status;
	const char *note;
	char method[8], path[48];
	struct sockaddr_storage client;
	char ip[48];		/* the client (proxy.h) */
	char peer[128];		/* for logs: "client via proxy" or the peer */
	bool secure;		/* from a trusted proxy or loopback */
	bool https;		/* a trusted proxy said X-Forwarded-Proto: https */
	bool regpost;		/* a POST to a /register page */
	struct buf body;	/* a BOSH request's or a form's body */
	struct bosh_req *bosh;	/* held by its session (bosh.h) */
	struct regpage_op *regop;	/* a form being worked on (regpage.h) */
};

static struct web_daemon daemons[WEB_MAX_LISTEN];
static size_t ndaemons;
static size_t nrequests;

size_t
web_http_requests(void)
{
	return nrequests;
}

/* MHD has work after an action of ours (a closed upgraded socket). */
static void
kick_all(void)
{
	for (size_t i = 0; i < ndaemons; i++)
		mhd_loop_kick(&daemons[i].ml);
}

/* ---- requests ---- */

static void
copy_for_log(char *dst, size_t len, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < len; i++)
		dst[i] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[i] = '\0';
}

/* Every value of a header, joined with commas (a second X-Forwarded-For
 * header is the last hop's as much as a comma is). */
struct joined {
	const char *name;
	struct buf b;
	bool any;
};

static enum MHD_Result
join_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct joined *j = cls;

	(void)kind;
	if (strcasecmp(key, j->name) != 0 || value == NULL)
		return MHD_YES;
	if (j->any)
		buf_puts(&j->b, ",");
	buf_puts(&j->b, value);
	j->any = true;
	return MHD_YES;
}

static const char *
joined(struct MHD_Connection *conn, struct joined *j, const char *name)
{
	j->name = name;
	j->any = false;
	buf_init(&j->b);
	MHD_get_connection_values(conn, MHD_HEADER_KIND, join_header, j);
	if (!j->any)
		return NULL;
	buf_append(&j->b, "", 1);
	return buf_data(&j->b);
}

static bool
is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;

	if (sa->sa_family == AF_INET)
		return ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr)
		    >> 24 == 127;
	if (sa->sa_family != AF_INET6)
		return false;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return s6->sin6_addr.s6_addr[12] == 127;
	return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
}

static struct req *
req_new(struct MHD_Connection *conn, const char *url, const char *method)
{
	const struct web_config *cf = web_cfg();
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;
	struct joined xff, fwd;
	char ptxt[ADDR_STRLEN];
	struct req *r;
	bool proxied;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->t0 = ev_now(srv.loop);
	copy_for_log(r->method, sizeof(r->method), method);
	copy_for_log(r->path, sizeof(r->path), url);
	proxied = proxy_client_addr(sa, sa->sa_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6),
	    joined(conn, &xff, "X-Forwarded-For"), joined(conn, &fwd, "Forwarded"),
	    cf->trusted, cf->ntrusted, &r->client);
	buf_free(&xff.b);
	buf_free(&fwd.b);
	proxy_addr_text((struct sockaddr *)&r->client, r->ip, sizeof(r->ip));
	addr_format_sa(sa, sizeof(struct sockaddr_in6), ptxt, sizeof(ptxt));
	if (proxied)
		snprintf(r->peer, sizeof(r->peer), "%.47s via %.70s", r->ip, ptxt);
	else
		snprintf(r->peer, sizeof(r->peer), "%.120s", ptxt);
	/* TLS is the proxy's: a session is as safe as the path to it */
	r->secure = is_loopback(sa) || addr_cidr_match_any(cf->trusted, cf->ntrusted, sa);
	if (addr_cidr_match_any(cf->trusted, cf->ntrusted, sa)) {
		const char *proto = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    "X-Forwarded-Proto");

		r->https = proto && strcasecmp(proto, "https") == 0;
	}
	buf_init(&r->body);
	nrequests++;
	return r;
}

static enum MHD_Result
queue(struct MHD_Connection *conn, struct req *r, unsigned status,
    struct MHD_Response *resp)
{
	enum MHD_Result rc;

	if (resp == NULL)
		return MHD_NO;
	r->status = status;
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result
answer_text(struct MHD_Connection *conn, struct req *r, unsigned status,
    const char *text, const char *hname, const char *hval)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text),
	    (void *)text, MHD_RESPMEM_PERSISTENT);

	if (resp == NULL)
		return MHD_NO;
	r->note = text;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain; charset=utf-8");
	if (hname)
		MHD_add_response_header(resp, hname, hval);
	return queue(conn, r, status, resp);
}

/* GET /captcha/<id>.png: a pending registration challenge's picture
 * (register/captcha.h), the http alternative to its XEP-0231 data */
static enum MHD_Result
captcha(struct MHD_Connection *conn, struct req *r, const char *url)
{
	const char *id = url + sizeof("/captcha/") - 1;
	size_t n = strlen(id);
	char sid[CAPTCHA_ID_LEN + 1];
	struct MHD_Response *resp;
	struct buf b;

	if (n != CAPTCHA_ID_LEN + 4 || strcmp(id + CAPTCHA_ID_LEN, ".png") != 0)
		return answer_text(conn, r, MHD_HTTP_NOT_FOUND, "not found\n", NULL, NULL);
	memcpy(sid, id, CAPTCHA_ID_LEN);
	sid[CAPTCHA_ID_LEN] = '\0';
	buf_init(&b);
	if (captcha_png(sid, &b) == -1) {
		buf_free(&b);
		return answer_text(conn, r, MHD_HTTP_NOT_FOUND,
		    "no such challenge (answered, expired or never issued)\n", NULL, NULL);
	}
	resp = MHD_create_response_from_buffer(buf_pending(&b), (void *)buf_data(&b),
	    MHD_RESPMEM_MUST_COPY);
	buf_free(&b);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "image/png");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return queue(conn, r, MHD_HTTP_OK, resp);
}

static enum MHD_Result
hostmeta(struct MHD_Connection *conn, struct req *r, bool json, bool options)
{
	struct MHD_Response *resp;
	struct buf b;

	buf_init(&b);
	if (!options)
		hostmeta_write(&b, web_cfg(), json);
	resp = MHD_create_response_from_buffer(buf_pending(&b), (void *)buf_data(&b),
	    MHD_RESPMEM_MUST_COPY);
	buf_free(&b);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
	if (options) {
		MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
		MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
		return queue(conn, r, MHD_HTTP_NO_CONTENT, resp);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, json ?
	    "application/json" : "application/xrd+xml; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "max-age=3600");
	return queue(conn, r, MHD_HTTP_OK, resp);
}

/* Whether a comma-separated header holds token (case-insensitive). */
static bool
has_token(const char *h, const char *token)
{
	size_t tl = strlen(token);

	while (h && *h) {
		const char *e;
		size_t n;

		while (*h == ' ' || *h == '\t' || *h == ',')
			h++;
		e = h;
		while (*e && *e != ',')
			e++;
		n = (size_t)(e - h);
		while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
			n--;
		if (n == tl && strncasecmp(h, token, tl) == 0)
			return true;
		h = e;
	}
	return false;
}

static void
release_cb(void *h)
{
	(void)MHD_upgrade_action(h, MHD_UPGRADE_ACTION_CLOSE);
	kick_all();
}

static void
upgraded(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra,
    size_t extralen, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct req *r = con_cls;
	struct ws_owner own = { release_cb, urh };
	const char *why;

	(void)cls;
	(void)conn;
	if (accept_admit(r->ip, &why) == -1) {
		log_info("web: websocket from %s refused (%s)", r->peer, why);
		release_cb(urh);
		return;
	}
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (wsxmpp_start(sock, &own, extra, extralen, &r->client, r->ip, r->peer,
	    r->secure) == -1) {
		log_warn("web: websocket from %s: out of memory", r->peer);
		accept_release(r->ip);
		release_cb(urh);
	}
}

/* RFC 6455 §4.2.1-2 and RFC 7395 §3.1 */
static enum MHD_Result
websocket(struct MHD_Connection *conn, struct req *r, const char *method,
    const char *version)
{
	const char *h, *why;
	char acc[WS_KEY_ACCEPT_LEN + 1];
	struct MHD_Response *resp;

	if (strcmp(method, "GET") != 0)
		return answer_text(conn, r, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "a WebSocket opens with GET\n", MHD_HTTP_HEADER_ALLOW, "GET");
	h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Upgrade");
	if (!has_token(h, "websocket") || strcmp(version, "HTTP/1.1") != 0 ||
	    !has_token(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Connection"),
	    "upgrade"))
		return answer_text(conn, r, MHD_HTTP_UPGRADE_REQUIRED,
		    "XMPP over WebSocket (RFC 7395): an HTTP/1.1 Upgrade to websocket\n",
		    "Upgrade", "websocket");
	h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Version");
	if (h == NULL || strcmp(h, "13") != 0)
		return answer_text(conn, r, MHD_HTTP_UPGRADE_REQUIRED,
		    "WebSocket version 13 only\n", "Sec-WebSocket-Version", "13");
	h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
	if (h == NULL || ws_accept_key(h, acc) == -1)
		return answer_text(conn, r, MHD_HTTP_BAD_REQUEST,
		    "no valid Sec-WebSocket-Key\n", NULL, NULL);
	if (!has_token(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "Sec-WebSocket-Protocol"), "xmpp"))
		return answer_text(conn, r, MHD_HTTP_BAD_REQUEST,
		    "the xmpp WebSocket subprotocol is required (RFC 7395 §3.1)\n", NULL, NULL);
	if (!r->secure)
		return answer_text(conn, r, MHD_HTTP_FORBIDDEN, "WebSocket sessions only "
		    "through a trusted proxy (TLS) or from loopback\n", NULL, NULL);
	/* refused now rather than after the upgrade (counted then: upgraded) */
	if (accept_admit(r->ip, &why) == -1)
		return answer_text(conn, r, MHD_HTTP_SERVICE_UNAVAILABLE,
		    strcmp(why, "banned") == 0 ? "address banned for a while\n" :
		    "too many connections from this address\n", NULL, NULL);
	accept_release(r->ip);
	if ((resp = MHD_create_response_for_upgrade(upgraded, NULL)) == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(resp, "Sec-WebSocket-Accept", acc);
	MHD_add_response_header(resp, "Sec-WebSocket-Protocol", "xmpp");
	return queue(conn, r, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
}

static void
add_cors(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
	MHD_add_response_header(resp, "Access-Control-Allow-Methods", "POST, OPTIONS");
	MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Content-Type");
	MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
}

static enum MHD_Result
bosh_reply(struct MHD_Connection *conn, struct req *r, unsigned status, struct buf *b)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(buf_pending(b),
	    (void *)buf_data(b), MHD_RESPMEM_MUST_COPY);

	buf_free(b);
	if (resp == NULL)
		return MHD_NO;
	add_cors(resp);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/xml; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return queue(conn, r, status, resp);
}

/* XEP-0124 over POST /bosh: the body complete, or the held request back */
static enum MHD_Result
bosh(struct MHD_Connection *conn, struct req *r, const char *method)
{
	struct bosh_client cl = { &r->client, r->ip, r->peer, r->secure };
	struct MHD_Response *resp;
	unsigned status;
	struct buf out;

	buf_init(&out);
	if (strcmp(method, "OPTIONS") == 0) {
		if ((resp = MHD_create_response_from_buffer(0, (void *)"",
		    MHD_RESPMEM_PERSISTENT)) == NULL)
			return MHD_NO;
		add_cors(resp);
		return queue(conn, r, MHD_HTTP_NO_CONTENT, resp);
	}
	if (strcmp(method, "POST") != 0)
		return answer_text(conn, r, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "BOSH (XEP-0124): POST only\n", MHD_HTTP_HEADER_ALLOW, "POST, OPTIONS");
	if (r->bosh) {
		bosh_answer(r->bosh, &out);
		return bosh_reply(conn, r, MHD_HTTP_OK, &out);
	}
	if (bosh_request(conn, buf_data(&r->body), buf_pending(&r->body), &cl, &r->bosh,
	    &out, &status) == 1) {
		buf_free(&r->body);
		return MHD_YES;	/* held: suspended until answered */
	}
	buf_free(&r->body);
	return bosh_reply(conn, r, status, &out);
}

static enum MHD_Result
reg_answer(struct MHD_Connection *conn, struct req *r, struct regpage_answer *a)
{
	if (a->resp == NULL)
		return MHD_NO;
	r->note = a->note;
	return queue(conn, r, a->status, a->resp);
}

/* The /register pages (regpage.c); forms are read in full first. */
static enum MHD_Result
register_page(struct MHD_Connection *conn, struct req *r, const char *url,
    const char *method)
{
	struct regpage_client cl = { (const struct sockaddr *)&r->client, r->ip, r->peer,
		r->secure, r->https };
	struct regpage_answer a = { 0 };

	if (r->regop) {
		regpage_finish(r->regop, &a);
		r->regop = NULL;
		return reg_answer(conn, r, &a);
	}
	if (regpage_request(conn, &cl, url, method, buf_data(&r->body),
	    buf_pending(&r->body), &r->regop, &a) == 1) {
		buf_free(&r->body);
		return MHD_YES;	/* suspended until register/ answers */
	}
	buf_free(&r->body);
	return reg_answer(conn, r, &a);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct req *r = *con_cls;
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool options = strcmp(method, "OPTIONS") == 0;

	(void)cls;
	(void)upload_data;
	if (r == NULL) {
		if ((r = req_new(conn, url, method)) == NULL)
			return MHD_NO;
		*con_cls = r;
		if (strcmp(url, "/bosh") == 0 && strcmp(method, "POST") == 0)
			return MHD_YES;	/* the only bodies read here: BOSH's ... */
		if (web_cfg()->register_pages && regpage_path(url) &&
		    strcmp(method, "POST") == 0) {
			struct regpage_answer a = { 0 };

			/* ... and forms, decided on before they are read */
			if (!regpage_precheck(conn, &a))
				return reg_answer(conn, r, &a);
			r->regpost = true;
			return MHD_YES;
		}
		if (!get && !options)
			return answer_text(conn, r, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "method not allowed\n", MHD_HTTP_HEADER_ALLOW, "GET, HEAD, OPTIONS");
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		size_t max = r->regpost ? REGPAGE_BODY_MAX : srv.cfg->max_stanza + 4096;

		if (!r->regpost && (strcmp(url, "/bosh") != 0 || strcmp(method, "POST") != 0))
			return MHD_NO;
		/* a stanza and the <body/> around it, or a form, no more */
		if (buf_pending(&r->body) + *upload_data_size > max ||
		    buf_append(&r->body, upload_data, *upload_data_size) == -1) {
			r->status = MHD_HTTP_CONTENT_TOO_LARGE;
			return MHD_NO;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/bosh") == 0)
		return bosh(conn, r, method);
	if (strcmp(url, "/.well-known/host-meta") == 0)
		return hostmeta(conn, r, false, options);
	if (strcmp(url, "/.well-known/host-meta.json") == 0)
		return hostmeta(conn, r, true, options);
	if (strcmp(url, "/ws") == 0)
		return websocket(conn, r, method, version);
	if (strncmp(url, "/captcha/", 9) == 0 && !options)
		return captcha(conn, r, url);
	if (web_cfg()->register_pages && regpage_path(url))
		return register_page(conn, r, url, method);
	return answer_text(conn, r, MHD_HTTP_NOT_FOUND, "not found\n", NULL, NULL);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	(void)cls;
	(void)conn;
	if (r == NULL)
		return;
	*con_cls = NULL;
	bosh_req_done(r->bosh);
	regpage_release(r->regop);
	buf_free(&r->body);
	log_info("web: %s \"%s %s\" %u %llums%s%s%s", r->peer, r->method, r->path,
	    r->status, (unsigned long long)(ev_now(srv.loop) - r->t0),
	    toe != MHD_REQUEST_TERMINATED_COMPLETED_OK ? " (connection ended)" : "",
	    r->note && r->status >= 400 ? " " : "",
	    r->note && r->status >= 400 ? r->note : "");
	free(r);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("web: %s", msg);
}

int
web_http_open(const struct web_config *cf, char *err, size_t errlen)
{
	char e2[256];

	bosh_init(kick_all);
	regpage_init(kick_all);
	for (size_t i = 0; i < cf->nlisten; i++) {
		struct web_daemon *wd = &daemons[ndaemons];
		int fd = addr_listen(&cf->listen[i], SOCK_STREAM, 1024, 0, e2, sizeof(e2));

		addr_format(&cf->listen[i], wd->name, sizeof(wd->name));
		if (fd < 0) {
			snprintf(err, errlen, "web listen %s: %s", wd->name, e2);
			return -1;
		}
		wd->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG,
		    0, NULL, NULL, on_request, wd,
		    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, wd,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S,
		    MHD_OPTION_CONNECTION_LIMIT, cf->max_connections,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
		    MHD_OPTION_END);
		if (wd->d == NULL) {
			close(fd);
			snprintf(err, errlen, "web listen %s: libmicrohttpd did not start",
			    wd->name);
			return -1;
		}
		if (mhd_loop_attach(&wd->ml, srv.loop, wd->d, e2, sizeof(e2)) == -1) {
			MHD_stop_daemon(wd->d);
			wd->d = NULL;
			snprintf(err, errlen, "web listen %s: %s", wd->name, e2);
			return -1;
		}
		ndaemons++;
		log_info("web: listening on %s (host-meta, WebSocket /ws, BOSH /bosh%s)",
		    wd->name, cf->register_pages ? ", /register" : "");
	}
	return 0;
}

void
web_http_quiesce(void)
{
	for (size_t i = 0; i < ndaemons; i++) {
		MHD_socket fd;

		if (daemons[i].d && (fd = MHD_quiesce_daemon(daemons[i].d)) != MHD_INVALID_SOCKET)
			close(fd);
	}
}

void
web_http_close(void)
{
	wsxmpp_abort_all();
	bosh_abort_all();
	regpage_abort_all();
	for (size_t i = 0; i < ndaemons; i++) {
		struct web_daemon *wd = &daemons[i];

		if (wd->d == NULL)
			continue;
		mhd_loop_run(&wd->ml);	/* the upgraded sockets just released */
		mhd_loop_detach(&wd->ml);
		MHD_stop_daemon(wd->d);
		wd->d = NULL;
	}
	ndaemons = 0;
}
