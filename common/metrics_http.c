/*
 * metrics_http — GET /metrics through libmicrohttpd on the daemon's loop.
 * See metrics.h.
 *
 * MHD runs without threads of its own, driven by the daemon's evloop
 * (mhdloop.h, as xmpp-core's web listener is), so collect() runs on the
 * loop and reads the daemon's counters without locks.  Every answer is
 * decided on the first call for a request, before any body is read
 * (nothing here takes one); connections time out and each keeps a small
 * memory pool.  Beyond max_connections a new connection is closed at
 * once (the accept policy): MHD's own connection limit instead stops
 * accepting, and in this external-epoll mode (libmicrohttpd 0.9.75) it
 * was seen not to accept again once connections went away.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "evloop.h"
#include "log.h"
#include "mhdloop.h"

#define METRICS_TIMEOUT_S 10
#define METRICS_CONN_MEMORY (8 * 1024)
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_server {
	int fd;
	char name[ADDR_STRLEN];
	unsigned max_connections;
	unsigned nconns;	/* connections open (notify_connection) */
	struct MHD_Daemon *d;
	struct mhd_loop ml;
	metrics_collect_fn *collect;
	void *arg;
};

static enum MHD_Result
answer_text(struct MHD_Connection *conn, unsigned status, const char *text,
    const char *hname, const char *hval)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text),
	    (void *)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc;

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "text/plain; charset=utf-8");
	if (hname)
		MHD_add_response_header(resp, hname, hval);
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result
answer_metrics(struct metrics_server *s, struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	struct metrics_out o;
	enum MHD_Result rc;

	metrics_out_init(&o);
	s->collect(&o, s->arg);
	if (o.failed) {
		metrics_out_free(&o);
		return answer_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "out of memory\n", NULL, NULL);
	}
	/* MHD frees the text with the response */
	resp = MHD_create_response_from_buffer_with_free_callback(o.len,
	    o.p ? o.p : strdup(""), free);
	if (resp == NULL) {
		metrics_out_free(&o);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CONTENT_TYPE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct metrics_server *s = cls;

	(void)version;
	(void)upload_data;
	if (*con_cls == NULL && *upload_data_size == 0) {
		/* first call: answered at once, a body is never read */
		*con_cls = s;
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return answer_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "GET /metrics only\n", MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
		if (strcmp(url, "/metrics") != 0)
			return answer_text(conn, MHD_HTTP_NOT_FOUND,
			    "not found (the metrics are at /metrics)\n", NULL, NULL);
		return answer_metrics(s, conn);
	}
	/* a body after an answer was queued: MHD drops it with the connection */
	return MHD_NO;
}

static enum MHD_Result
accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	const struct metrics_server *s = cls;

	(void)addr;
	(void)addrlen;
	return s->nconns < s->max_connections ? MHD_YES : MHD_NO;
}

static void
notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct metrics_server *s = cls;

	(void)conn;
	(void)socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		s->nconns++;
	else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && s->nconns > 0)
		s->nconns--;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("metrics: %s", msg);
}

struct metrics_server *
metrics_server_new(const struct metrics_conf *mc, char *err, size_t errlen)
{
	struct metrics_server *s;
	char e2[256];

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "metrics: out of memory");
		return NULL;
	}
	addr_format(&mc->listen, s->name, sizeof(s->name));
	s->max_connections = mc->max_connections;
	if ((s->fd = addr_listen(&mc->listen, SOCK_STREAM, 64, 0, e2, sizeof(e2))) < 0) {
		snprintf(err, errlen, "metrics listen %s: %s", s->name, e2);
		free(s);
		return NULL;
	}
	return s;
}

int
metrics_server_start(struct metrics_server *s, struct ev_loop *loop,
    metrics_collect_fn *collect, void *arg, char *err, size_t errlen)
{
	char e2[128];

	s->collect = collect;
	s->arg = arg;
	s->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, accept_policy, s,
	    on_request, s,
	    MHD_OPTION_NOTIFY_CONNECTION, notify_connection, s,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->fd,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_LIMIT, s->max_connections + 1,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_CONN_MEMORY,
	    MHD_OPTION_END);
	if (s->d == NULL) {
		snprintf(err, errlen, "metrics listen %s: libmicrohttpd did not start",
		    s->name);
		return -1;
	}
	s->fd = -1;	/* MHD's now */
	if (mhd_loop_attach(&s->ml, loop, s->d, e2, sizeof(e2)) < 0) {
		snprintf(err, errlen, "metrics listen %s: %s", s->name, e2);
		return -1;
	}
	log_notice("metrics: serving /metrics on %s", s->name);
	return 0;
}

void
metrics_server_free(struct metrics_server *s)
{
	if (s == NULL)
		return;
	if (s->d) {
		mhd_loop_detach(&s->ml);
		MHD_stop_daemon(s->d);
	}
	if (s->fd >= 0)
		close(s->fd);
	free(s);
}

const char *
metrics_server_name(const struct metrics_server *s)
{
	return s->name;
}
