/*
 * http — libmicrohttpd daemons, dispatch and the request log.  See http.h.
 *
 * Shape follows libmicrohttpd's largepost example: the access handler
 * decides the answer on its first call, before any body byte is read
 * (so a refused PUT costs nothing and gets no "100 Continue"), and the
 * per-request state is freed in the completion callback, which runs for
 * finished, aborted and timed-out requests alike.
 */
#include "http.h"
#include "conn.h"
#include "evloop.h"
#include "log.h"
#include "request.h"
#include "stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HTTP_MAX_DAEMONS UPLOAD_MAX_LISTEN
#define HTTP_THREAD_STACK ((size_t)1 << 20)	/* reserved, touched as used */

static struct MHD_Daemon *daemons[HTTP_MAX_DAEMONS];
static int quiesced_fds[HTTP_MAX_DAEMONS];
static size_t ndaemons;
static atomic_int active_requests;
static bool http_started;

static const char *
status_text(unsigned status)
{
	switch (status) {
	case 400: return "400 Bad Request\n";
	case 403: return "403 Forbidden\n";
	case 404: return "404 Not Found\n";
	case 405: return "405 Method Not Allowed\n";
	case 409: return "409 Conflict\n";
	case 411: return "411 Length Required\n";
	case 413: return "413 Request Entity Too Large\n";
	case 414: return "414 Request URI Too Long\n";
	case 416: return "416 Requested Range Not Satisfiable\n";
	case 507: return "507 Insufficient Storage\n";
	default: return "500 Internal Server Error\n";
	}
}

void
upload_req_add_common(struct req *r, struct MHD_Response *resp)
{
	(void)r;
	/* Prosody Filer's CORS headers, on every response as Filer sends them. */
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
	MHD_add_response_header(resp, "Access-Control-Allow-Methods",
	    REQ_ALLOWED_METHODS);
	MHD_add_response_header(resp, "Access-Control-Allow-Headers",
	    "Authorization, Content-Type");
	MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
	MHD_add_response_header(resp, "Access-Control-Max-Age", "7200");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

enum MHD_Result
upload_req_queue(struct req *r, unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result rc;

	if (resp == NULL)
		return MHD_NO;
	r->status = status;
	rc = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

enum MHD_Result
upload_req_error(struct req *r, unsigned status, const char *note)
{
	const char *text = status_text(status);
	struct MHD_Response *resp;

	r->note = note;
	resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
	    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	upload_req_add_common(r, resp);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain; charset=utf-8");
	if (status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
		    REQ_ALLOWED_METHODS);
	return upload_req_queue(r, status, resp);
}

static enum MHD_Result
options_handle(struct req *r)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	upload_req_add_common(r, resp);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, REQ_ALLOWED_METHODS);
	return upload_req_queue(r, 200, resp);
}

static enum MHD_Result
collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	upload_head_add(cls, kind == MHD_GET_ARGUMENT_KIND ? HEAD_QUERY : HEAD_HEADER,
	    key, value);
	return MHD_YES;
}

static struct req *
req_new(struct MHD_Connection *conn, const char *url, const char *method)
{
	struct req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	if ((r->cf = upload_config_current()) == NULL) {
		free(r);
		return NULL;
	}
	r->conn = conn;
	r->t0 = ev_clock_ms();
	r->method = upload_head_method(method);
	MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &r->head);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_header,
	    &r->head);
	r->tmp.fd = -1;
	upload_path_for_log(method, r->method_name, sizeof(r->method_name));
	upload_path_for_log(url, r->logpath, sizeof(r->logpath));
	atomic_fetch_add(&active_requests, 1);
	return r;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct req *r = *con_cls;
	const char *note = NULL;
	unsigned st;

	(void)cls;
	(void)version;
	if (r == NULL) {
		upload_conn_request_begins(conn);
		if ((r = req_new(conn, url, method)) == NULL)
			return MHD_NO;
		*con_cls = r;
		/* Answered before any body byte; the connection then closes. */
		if ((st = upload_head_framing(&r->head, &note)) != 0)
			return upload_req_error(r, st, note);
		/*
		 * Uploads are judged now, before the body.  Other methods are
		 * answered once the (normally empty) request is complete:
		 * answering earlier would cost the keep-alive connection.  A
		 * body sent with them is never read: answered now, and the
		 * connection closes.
		 */
		if (r->method == HEAD_PUT)
			return upload_put_begin(r, url);
		if (!upload_head_has_body(&r->head))
			return MHD_YES;
	} else if (r->method == HEAD_PUT) {
		if (!r->receiving)
			return MHD_NO;
		if (*upload_data_size != 0)
			return upload_put_data(r, upload_data, upload_data_size);
		return upload_put_finish(r);
	} else if (*upload_data_size != 0) {
		return MHD_NO;	/* cannot happen: answered before the body */
	}
	switch (r->method) {
	case HEAD_GET:
	case HEAD_HEAD:
		return upload_get_handle(r, url);
	case HEAD_OPTIONS:
		return options_handle(r);
	default:
		return upload_req_error(r, 405, NULL);
	}
}

/*
 * Behind nginx every peer is the proxy: for peers on loopback or a unix
 * socket, the log names the client from X-Real-IP / X-Forwarded-For (its
 * last entry, the one the proxy added).  Used for the log only.
 */
static bool
forwarded_for(struct req *r, const union MHD_ConnectionInfo *ci, char *fwd,
    size_t len)
{
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	const char *h, *last;
	bool local;

	if (sa == NULL)
		return false;
	local = sa->sa_family == AF_UNIX ||
	    (sa->sa_family == AF_INET && ntohl(((const struct sockaddr_in *)
	    (const void *)sa)->sin_addr.s_addr) >> 24 == 127) ||
	    (sa->sa_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(
	    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr));
	if (!local)
		return false;
	h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Real-IP");
	if (h == NULL && (h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    "X-Forwarded-For")) != NULL && (last = strrchr(h, ',')) != NULL)
		h = last + 1;
	if (h == NULL)
		return false;
	while (*h == ' ')
		h++;
	upload_path_for_log(h, fwd, len);
	return true;
}

static void
log_request(struct req *r, enum MHD_RequestTerminationCode toe)
{
	const union MHD_ConnectionInfo *ci;
	char addr[ADDR_STRLEN] = "-", status[16], fwd[64];
	bool proxied;
	const char *why = r->note;

	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL && ci->client_addr != NULL) {
		if (ci->client_addr->sa_family == AF_UNIX)
			snprintf(addr, sizeof(addr), "unix");
		else
			addr_format_sa(ci->client_addr, sizeof(struct sockaddr_in6),
			    addr, sizeof(addr));
	}
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		why = toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout" :
		    toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown" :
		    "connection closed";
		if (r->method == HEAD_PUT && r->receiving)
			why = toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ?
			    "upload timed out, discarded" : "upload aborted, discarded";
	}
	proxied = forwarded_for(r, ci, fwd, sizeof(fwd));
	if (r->status)
		snprintf(status, sizeof(status), "%u", r->status);
	else
		snprintf(status, sizeof(status), "-");
	log_info("%s%s%s \"%s %s\" %s %llu %llums%s%s%s", proxied ? fwd : "",
	    proxied ? " via " : "", addr, r->method_name,
	    r->logpath, status, (unsigned long long)r->bytes,
	    (unsigned long long)(ev_clock_ms() - r->t0), why ? " (" : "",
	    why ? why : "", why ? ")" : "");
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	(void)cls;
	upload_conn_request_ends(conn);
	if (r == NULL)
		return;
	*con_cls = NULL;
	if (r->method == HEAD_PUT)
		upload_put_cleanup(r);
	log_request(r, toe);
	upload_stats_request(r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	upload_config_put(r->cf);
	free(r);
	atomic_fetch_sub(&active_requests, 1);
}

/* Percent-decoding happens once, in upload_path_parse: MHD leaves URLs raw. */
static size_t
unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_debug("libmicrohttpd: %s", buf);
}

int
upload_http_start(const struct upload_config *c, struct ev_loop *loop,
    const int *fds, size_t n, char *err, size_t errlen)
{
	/*
	 * Default: a thread per connection, so a request waiting on the disk
	 * (write, fsync of a large upload) never stalls another connection,
	 * and sendfile moves 2 MiB per call instead of 128 KiB.  threads = N
	 * selects a pool of N epoll threads instead.  Both are bounded by
	 * max_connections.
	 */
	bool per_conn = c->threads == 0;
	unsigned flags = per_conn ?
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC :
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC |
	    MHD_USE_TURBO;
	enum MHD_OPTION threads_opt = per_conn ? MHD_OPTION_THREAD_STACK_SIZE :
	    MHD_OPTION_THREAD_POOL_SIZE;
	size_t threads_val = per_conn ? HTTP_THREAD_STACK : (size_t)c->threads;

	/* Per-client limits and the header deadline are conn.c's. */
	if (upload_conn_start(c, loop, err, errlen) < 0)
		return -1;

	for (size_t i = 0; i < n && i < HTTP_MAX_DAEMONS; i++) {
		struct MHD_Daemon *d;

		d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
		    MHD_OPTION_LISTEN_SOCKET, fds[i],
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		    MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, NULL,
		    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		    MHD_OPTION_CONNECTION_LIMIT, c->max_connections,
		    MHD_OPTION_NOTIFY_CONNECTION, upload_conn_notify, NULL,
		    MHD_OPTION_CONNECTION_TIMEOUT, c->connection_timeout,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, c->connection_memory,
		    threads_opt, threads_val,
		    MHD_OPTION_END);
		if (d == NULL) {
			snprintf(err, errlen, "libmicrohttpd failed to start on listener %zu",
			    i + 1);
			http_started = true;
			upload_http_stop(0);
			return -1;
		}
		daemons[ndaemons] = d;
		quiesced_fds[ndaemons] = -1;
		ndaemons++;
	}
	http_started = true;
	return 0;
}

void
upload_http_stop(unsigned grace_s)
{
	uint64_t deadline = ev_clock_ms() + (uint64_t)grace_s * 1000;

	for (size_t i = 0; i < ndaemons; i++)
		quiesced_fds[i] = MHD_quiesce_daemon(daemons[i]);
	/* Idle keep-alive connections do not count; requests do. */
	while (atomic_load(&active_requests) > 0 && ev_clock_ms() < deadline)
		usleep(20 * 1000);
	if (atomic_load(&active_requests) > 0)
		log_notice("stopping with %d request(s) in flight",
		    atomic_load(&active_requests));
	for (size_t i = 0; i < ndaemons; i++) {
		MHD_stop_daemon(daemons[i]);
		if (quiesced_fds[i] >= 0)
			close(quiesced_fds[i]);
	}
	ndaemons = 0;
	if (http_started)
		upload_conn_stop();
	http_started = false;
}
