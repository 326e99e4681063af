/*
 * request — per-request state shared by the HTTP front (http.c) and the
 * method handlers (put.c, get.c): the configuration reference held for
 * the request's life, what the log line needs, and the upload in flight.
 */
#ifndef UPLOAD_REQUEST_H
#define UPLOAD_REQUEST_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "head.h"
#include "path.h"
#include "store.h"

struct req {
	struct upload_config *cf;
	struct MHD_Connection *conn;
	uint64_t t0;			/* monotonic ms */
	enum head_method method;
	struct req_head head;		/* collected once, on the first call */
	char method_name[16];
	char logpath[256];		/* escaped path, never the query */
	unsigned status;		/* 0 until a response is queued */
	uint64_t bytes;			/* body bytes received or sent */
	const char *note;		/* why, for the log line */

	/* PUT */
	bool receiving;
	struct store_tmp tmp;
	uint64_t expected, received;
	uint64_t flushed;		/* bytes handed to writeback so far */
	int write_err;			/* errno of the first failed write */
	char rel[PATH_MAX_LEN + 1];
};

/* The methods answered, for Allow and CORS (Filer's list and order). */
#define REQ_ALLOWED_METHODS "OPTIONS, HEAD, GET, PUT"

/* Adds the headers every response carries (CORS as Filer, nosniff). */
void upload_req_add_common(struct req *r, struct MHD_Response *resp);
/* Queues resp with status (and destroys it); records the status. */
enum MHD_Result upload_req_queue(struct req *r, unsigned status,
    struct MHD_Response *resp);
/* A short text/plain answer as Go's http.Error writes it. */
enum MHD_Result upload_req_error(struct req *r, unsigned status, const char *note);

enum MHD_Result upload_put_begin(struct req *r, const char *url);
enum MHD_Result upload_put_data(struct req *r, const char *data, size_t *size);
enum MHD_Result upload_put_finish(struct req *r);
void upload_put_cleanup(struct req *r);

enum MHD_Result upload_get_handle(struct req *r, const char *url);

#endif
