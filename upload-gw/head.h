/*
 * head — everything upload-gw takes from a request's line and headers,
 * and every answer decided from them alone: message framing
 * (Content-Length, Transfer-Encoding), the upload's path, MAC and size,
 * and for downloads the conditional and range headers.
 *
 * libmicrohttpd hands the headers and query arguments over one by one
 * (http.c feeds them to upload_head_add); what follows is pure, so unit
 * tests and the fuzz target drive exactly the code that decides a real
 * request.  Only the store (does the name exist, is there space, the
 * file's identity) is consulted after these functions.
 */
#ifndef UPLOAD_HEAD_H
#define UPLOAD_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "mac.h"
#include "path.h"
#include "range.h"

enum head_kind {
	HEAD_HEADER,
	HEAD_QUERY,
};

enum head_method {
	HEAD_GET,
	HEAD_HEAD,
	HEAD_PUT,
	HEAD_OPTIONS,
	HEAD_OTHER,
};

/*
 * Values point into the caller's strings (libmicrohttpd's connection
 * pool), which outlive the request.  Names match ignoring case, as
 * libmicrohttpd's lookups do; the first occurrence of a name wins, except
 * that every Content-Length and Transfer-Encoding is counted.
 */
struct req_head {
	const char *mac_token, *mac_v, *mac_v2;
	const char *content_length;
	unsigned n_content_length;
	const char *transfer_encoding;
	unsigned n_transfer_encoding;
	const char *content_type;
	const char *range, *if_range, *if_none_match, *if_modified_since;
};

/* What a download is compared against (from the file's stat). */
struct head_file {
	uint64_t size;
	time_t mtime;
	const char *etag;		/* upload_etag_make form */
	const char *last_modified;	/* upload_http_date form */
};

enum head_method upload_head_method(const char *method);

/* Records one header (or query argument); value may be NULL ("?v"). */
void upload_head_add(struct req_head *h, enum head_kind kind, const char *key,
    const char *value);

/*
 * RFC 9112 §6.3: the body's length must be known one way.  0, or 400
 * with *note when Content-Length is repeated (even with one value: see
 * head.c) or comes with Transfer-Encoding, or Transfer-Encoding is
 * repeated.
 */
unsigned upload_head_framing(const struct req_head *h, const char **note);

/* True if the request announces a body (non-zero length or chunked). */
bool upload_head_has_body(const struct req_head *h);

/*
 * The MAC parameter by Filer's precedence (v2, then token, then v) and
 * the form its name stands for (*form: MAC_V2 for v2 and token, MAC_V1
 * for v); NULL when there is none.
 */
const char *upload_head_mac(const struct req_head *h, enum mac_kind *form);

/*
 * The whole header-only judgement of a PUT to url: 0 (rel holds the
 * store-relative name, *expected the length), or the status to answer
 * with *note: 400/404/403/414 (path), 403 (no or wrong MAC), 411 (no
 * usable length, chunked), 413 (over max_file_size).  A v2 MAC covers
 * the request's own Content-Type; only a request without one may carry
 * a MAC over Filer's type for the extension or application/octet-stream
 * (what Prosody and xmpp-core sign when the client declared no type).  rellen >=
 * PATH_MAX_LEN + 1.  Call after upload_head_framing accepted the request.
 */
unsigned upload_head_put(const struct upload_config *cf, const char *url,
    const struct req_head *h, char *rel, size_t rellen, uint64_t *expected,
    const char **note);

/*
 * A GET/HEAD of file f: 304 (If-None-Match / If-Modified-Since), 206
 * with *start and *len, 416 (unsatisfiable range), or 200 with the
 * whole file (*start = 0, *len = size).
 */
unsigned upload_head_get(const struct req_head *h, const struct head_file *f,
    uint64_t *start, uint64_t *len);

/* Maps a upload_path_parse failure to its status and note. */
unsigned upload_head_path_status(enum path_result pr, const char **note);

#endif
