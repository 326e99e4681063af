/*
 * get — downloads (GET and HEAD).  The file is sent with sendfile(2) by
 * libmicrohttpd from an fd response; single byte ranges, conditional
 * requests (ETag / Last-Modified, 304) and the headers that keep the
 * upload host from serving active content: a content type from the
 * extension only, nosniff, a CSP that forbids everything, and
 * "attachment" for any type a browser would run.
 */
#include "log.h"
#include "mime.h"
#include "range.h"
#include "request.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CSP "default-src 'none'; img-src 'self'; media-src 'self'; " \
	"style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox"

struct file_meta {
	char etag[64];
	char last_modified[32];
	const char *type;
};

static const char *
hdr(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since. */
static bool
not_modified(struct req *r, const struct stat *st, const struct file_meta *m)
{
	const char *inm = hdr(r, MHD_HTTP_HEADER_IF_NONE_MATCH);
	const char *ims;
	time_t t;

	if (inm != NULL)
		return upload_etag_match_any(inm, m->etag);
	ims = hdr(r, MHD_HTTP_HEADER_IF_MODIFIED_SINCE);
	return ims != NULL && upload_http_date_parse(ims, &t) == 0 && st->st_mtime <= t;
}

/* If-Range (§13.1.5): the range applies only to the same representation. */
static bool
if_range_ok(struct req *r, const struct file_meta *m)
{
	const char *ir = hdr(r, MHD_HTTP_HEADER_IF_RANGE);

	if (ir == NULL)
		return true;
	if (ir[0] == '"')
		return strcmp(ir, m->etag) == 0;
	return strcmp(ir, m->last_modified) == 0;
}

/* RFC 5987/6266 filename*: attr-chars kept, the rest percent-encoded. */
static void
disposition(const char *name, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = (size_t)snprintf(out, len, "attachment; filename*=UTF-8''");

	for (; *name && o + 4 < len; name++) {
		unsigned char c = (unsigned char)*name;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("!#$&+-.^_`|~", c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

static void
add_file_headers(struct req *r, struct MHD_Response *resp,
    const struct file_meta *m)
{
	upload_req_add_common(r, resp);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, m->etag);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED,
	    m->last_modified);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_SECURITY_POLICY, CSP);
}

static enum MHD_Result
send_file(struct req *r, int fd, const struct stat *st,
    const struct file_meta *m)
{
	uint64_t size = (uint64_t)st->st_size, start = 0, len = size;
	unsigned status = 200;
	struct MHD_Response *resp;
	char cr[80];

	switch (if_range_ok(r, m) ? upload_range_parse(hdr(r, MHD_HTTP_HEADER_RANGE),
	    size, &start, &len) : RANGE_NONE) {
	case RANGE_OK:
		status = 206;
		break;
	case RANGE_UNSATISFIABLE:
		close(fd);
		snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
		resp = MHD_create_response_from_buffer(0, (void *)"",
		    MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
		add_file_headers(r, resp, m);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
		r->note = "range not satisfiable";
		return upload_req_queue(r, 416, resp);
	case RANGE_NONE:
		break;
	}
	if (len == 0) {
		close(fd);
		resp = MHD_create_response_from_buffer(0, (void *)"",
		    MHD_RESPMEM_PERSISTENT);
	} else {
		/* Takes fd; libmicrohttpd sends it with sendfile(2). */
		resp = MHD_create_response_from_fd_at_offset64(len, fd, start);
		if (resp == NULL)
			close(fd);
	}
	if (resp == NULL)
		return MHD_NO;
	add_file_headers(r, resp, m);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, m->type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
	if (!upload_mime_is_inline(m->type)) {
		char cd[PATH_MAX_SEGMENT * 3 + 64];

		disposition(upload_path_basename(r->rel), cd, sizeof(cd));
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, cd);
	}
	if (status == 206) {
		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
		    start, start + len - 1, size);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	r->bytes = r->method == REQ_HEAD ? 0 : len;
	return upload_req_queue(r, status, resp);
}

enum MHD_Result
upload_get_handle(struct req *r, const char *url)
{
	struct file_meta m;
	enum path_result pr;
	struct stat st;
	int fd;

	if ((pr = upload_path_parse(url, r->cf->prefix, r->rel, sizeof(r->rel))) != PATH_OK)
		return upload_req_path_error(r, pr);
	if ((fd = upload_store_open_read(r->cf->store_fd, r->rel, &st)) < 0) {
		switch (-fd) {
		case ENOENT:
		case ENOTDIR:
		case ENAMETOOLONG:
			return upload_req_error(r, 404, NULL);
		case EISDIR:
			return upload_req_error(r, 403, "directory");
		case ELOOP:
		case EXDEV:
		case EACCES:
		case EPERM:
			return upload_req_error(r, 403, "not a plain file in the store");
		default:
			log_err("open %s: %s", r->logpath, strerror(-fd));
			return upload_req_error(r, 500, NULL);
		}
	}
	upload_etag_make((uint64_t)st.st_ino, (uint64_t)st.st_size, st.st_mtime,
	    m.etag, sizeof(m.etag));
	upload_http_date(st.st_mtime, m.last_modified, sizeof(m.last_modified));
	if ((m.type = upload_mime_by_name(r->rel)) == NULL)
		m.type = "application/octet-stream";
	if (not_modified(r, &st, &m)) {
		struct MHD_Response *resp;

		close(fd);
		resp = MHD_create_response_from_buffer(0, (void *)"",
		    MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
		add_file_headers(r, resp, &m);
		return upload_req_queue(r, 304, resp);
	}
	return send_file(r, fd, &st, &m);
}
