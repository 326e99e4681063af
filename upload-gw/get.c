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
	struct head_file f = { .size = (uint64_t)st->st_size, .mtime = st->st_mtime,
	    .etag = m->etag, .last_modified = m->last_modified };
	uint64_t start, len;
	unsigned status;
	struct MHD_Response *resp;
	char cr[80];

	status = upload_head_get(&r->head, &f, &start, &len);
	if (status == 304 || status == 416) {
		close(fd);
		resp = MHD_create_response_from_buffer(0, (void *)"",
		    MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
		add_file_headers(r, resp, m);
		if (status == 416) {
			snprintf(cr, sizeof(cr), "bytes */%" PRIu64, f.size);
			MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
			r->note = "range not satisfiable";
		}
		return upload_req_queue(r, status, resp);
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
		    start, start + len - 1, f.size);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
	}
	r->bytes = r->method == HEAD_HEAD ? 0 : len;
	return upload_req_queue(r, status, resp);
}

enum MHD_Result
upload_get_handle(struct req *r, const char *url)
{
	struct file_meta m;
	const char *note = NULL;
	struct stat st;
	unsigned pst;
	int fd;

	if ((pst = upload_head_path_status(upload_path_parse(url, r->cf->prefix,
	    r->rel, sizeof(r->rel)), &note)) != 0)
		return upload_req_error(r, pst, note);
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
	return send_file(r, fd, &st, &m);
}
