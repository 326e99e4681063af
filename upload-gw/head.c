/*
 * head — request line and headers to decisions.  See head.h.
 */
#include "head.h"
#include "mac.h"
#include "mime.h"

#include <string.h>
#include <strings.h>

#define OCTET_STREAM "application/octet-stream"

enum head_method
upload_head_method(const char *m)
{
	/* Methods are case-sensitive (RFC 9110 §9.1). */
	if (strcmp(m, "GET") == 0)
		return HEAD_GET;
	if (strcmp(m, "HEAD") == 0)
		return HEAD_HEAD;
	if (strcmp(m, "PUT") == 0)
		return HEAD_PUT;
	if (strcmp(m, "OPTIONS") == 0)
		return HEAD_OPTIONS;
	return HEAD_OTHER;
}

static void
first(const char **slot, const char *value)
{
	if (*slot == NULL)
		*slot = value != NULL ? value : "";
}

void
upload_head_add(struct req_head *h, enum head_kind kind, const char *key,
    const char *value)
{
	if (key == NULL)
		return;
	if (kind == HEAD_QUERY) {
		if (strcasecmp(key, "token") == 0)
			first(&h->mac_token, value);
		else if (strcasecmp(key, "v") == 0)
			first(&h->mac_v, value);
		else if (strcasecmp(key, "v2") == 0)
			first(&h->mac_v2, value);
		return;
	}
	if (strcasecmp(key, "Content-Length") == 0) {
		first(&h->content_length, value);
		h->n_content_length++;
	} else if (strcasecmp(key, "Transfer-Encoding") == 0) {
		first(&h->transfer_encoding, value);
		h->n_transfer_encoding++;
	} else if (strcasecmp(key, "Content-Type") == 0) {
		first(&h->content_type, value);
	} else if (strcasecmp(key, "Range") == 0) {
		first(&h->range, value);
	} else if (strcasecmp(key, "If-Range") == 0) {
		first(&h->if_range, value);
	} else if (strcasecmp(key, "If-None-Match") == 0) {
		first(&h->if_none_match, value);
	} else if (strcasecmp(key, "If-Modified-Since") == 0) {
		first(&h->if_modified_since, value);
	}
}

unsigned
upload_head_framing(const struct req_head *h, const char **note)
{
	/*
	 * RFC 9112 §6.3: differing Content-Length values make the framing
	 * invalid, and a server MUST answer 400 and close; libmicrohttpd
	 * reads the body by the first one, a proxy in front might use the
	 * last (request smuggling).  RFC 9110 §8.6 lets a recipient fold
	 * identical copies instead; we refuse those too: nginx, the proxy in
	 * front, refuses any repeated Content-Length ("duplicate header
	 * line"), no client sends one, and refusing means no two readers of
	 * the message can ever disagree on where it ends.
	 */
	if (h->n_content_length > 1) {
		*note = "several Content-Length headers";
		return 400;
	}
	/* §6.3 item 3: both may be a smuggling attempt; refuse outright. */
	if (h->n_content_length > 0 && h->n_transfer_encoding > 0) {
		*note = "Content-Length with Transfer-Encoding";
		return 400;
	}
	if (h->n_transfer_encoding > 1) {
		*note = "several Transfer-Encoding headers";
		return 400;
	}
	return 0;
}

bool
upload_head_has_body(const struct req_head *h)
{
	return (h->content_length != NULL && strcmp(h->content_length, "0") != 0) ||
	    h->transfer_encoding != NULL;
}

const char *
upload_head_mac(const struct req_head *h, enum mac_kind *form)
{
	/* Filer's order: a URL carrying several names is judged by the first. */
	*form = MAC_V2;
	if (h->mac_v2 != NULL)
		return h->mac_v2;
	if (h->mac_token != NULL)
		return h->mac_token;
	*form = MAC_V1;
	return h->mac_v;
}

/* Strict decimal Content-Length (no sign, no spaces, no list): 0, or -1. */
static int
parse_length(const char *s, uint64_t *out)
{
	uint64_t n = 0;

	if (s == NULL || *s == '\0' || strlen(s) > 19)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*out = n;
	return 0;
}

unsigned
upload_head_path_status(enum path_result pr, const char **note)
{
	switch (pr) {
	case PATH_OK:
		return 0;
	case PATH_NOT_FOUND:
		*note = "outside the upload path";
		return 404;
	case PATH_DIRECTORY:
		*note = "directory";
		return 403;
	case PATH_HIDDEN:
		*note = "hidden name";
		return 403;
	case PATH_TOO_LONG:
		*note = "path too long";
		return 414;
	default:
		*note = "unsafe path";
		return 400;
	}
}

unsigned
upload_head_put(const struct upload_config *cf, const char *url,
    const struct req_head *h, char *rel, size_t rellen, uint64_t *expected,
    const char **note)
{
	const char *given, *types[2] = { NULL, NULL };
	enum mac_kind form;
	unsigned st;

	if ((st = upload_head_path_status(upload_path_parse(url, cf->prefix, rel,
	    rellen), note)) != 0)
		return st;
	if ((given = upload_head_mac(h, &form)) == NULL) {
		*note = "no MAC";
		return 403;
	}
	if (h->transfer_encoding != NULL) {
		*note = "chunked upload";
		return 411;
	}
	if (parse_length(h->content_length, expected) < 0) {
		*note = "no Content-Length";
		return 411;
	}
	/*
	 * v2 binds the type: the one the request declares, else Filer's
	 * (by extension) or the default a server signs for no type.
	 */
	if (h->content_type != NULL && h->content_type[0] != '\0') {
		types[0] = h->content_type;
	} else {
		types[0] = upload_mime_by_name(rel);
		types[1] = OCTET_STREAM;
	}
	if (upload_mac_verify(cf->secret, cf->secret_len, rel, *expected, form,
	    types, 2, given) == MAC_NONE) {
		*note = "invalid MAC";
		return 403;
	}
	if (cf->max_file_size && *expected > cf->max_file_size) {
		*note = "over max_file_size";
		return 413;
	}
	return 0;
}

/* RFC 9110 §13.2.2: If-None-Match wins over If-Modified-Since. */
static bool
not_modified(const struct req_head *h, const struct head_file *f)
{
	time_t t;

	if (h->if_none_match != NULL)
		return upload_etag_match_any(h->if_none_match, f->etag);
	return h->if_modified_since != NULL &&
	    upload_http_date_parse(h->if_modified_since, &t) == 0 && f->mtime <= t;
}

/* If-Range (§13.1.5): the range applies only to the same representation. */
static bool
if_range_ok(const struct req_head *h, const struct head_file *f)
{
	if (h->if_range == NULL)
		return true;
	if (h->if_range[0] == '"')
		return strcmp(h->if_range, f->etag) == 0;
	return strcmp(h->if_range, f->last_modified) == 0;
}

unsigned
upload_head_get(const struct req_head *h, const struct head_file *f,
    uint64_t *start, uint64_t *len)
{
	*start = 0;
	*len = f->size;
	if (not_modified(h, f))
		return 304;
	if (!if_range_ok(h, f))
		return 200;
	switch (upload_range_parse(h->range, f->size, start, len)) {
	case RANGE_OK:
		return 206;
	case RANGE_UNSATISFIABLE:
		return 416;
	default:
		*start = 0;
		*len = f->size;
		return 200;
	}
}
