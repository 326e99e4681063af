/*
 * libFuzzer target: everything upload-gw parses from a request line and
 * headers — the URL path (decoding, traversal rules), the MAC parameter,
 * Range, If-None-Match and HTTP dates.  The input is split at the first
 * newline: the first part is the path, the rest the header value.
 */
#include "../../upload-gw/mac.h"
#include "../../upload-gw/mime.h"
#include "../../upload-gw/path.h"
#include "../../upload-gw/range.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char out[PATH_MAX_LEN + 1], log[256], tag[64];
	const char *types[2] = { NULL, "application/octet-stream" };
	char *s = malloc(size + 1), *hdr;
	uint64_t start, len;
	time_t t;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	hdr = strchr(s, '\n');
	if (hdr != NULL)
		*hdr++ = '\0';
	else
		hdr = s;
	upload_path_for_log(s, log, sizeof(log));
	if (upload_path_parse(s, "/upload/", out, sizeof(out)) == PATH_OK) {
		/* A parsed path is relative, bounded and free of traversal. */
		if (out[0] == '/' || out[0] == '.' || strlen(out) > PATH_MAX_LEN ||
		    strstr(out, "/.") != NULL || strchr(out, '\\') != NULL ||
		    strstr(out, "//") != NULL || strcmp(out, "..") == 0 ||
		    strncmp(out, "../", 3) == 0 || strstr(out, "/../") != NULL)
			abort();
		types[0] = upload_mime_by_name(out);
		upload_mime_is_inline(types[0]);
		upload_path_basename(out);
		upload_mac_verify("k", 1, out, size, MAC_V2, types, 2, hdr);
		upload_mac_verify("k", 1, out, size, MAC_V1, types, 2, hdr);
	}
	upload_path_parse(s, "/", out, sizeof(out));
	if (upload_range_parse(hdr, size, &start, &len) == RANGE_OK &&
	    (len == 0 || start + len > size))
		abort();
	upload_etag_make(1, size, 2, tag, sizeof(tag));
	upload_etag_match_any(hdr, tag);
	upload_http_date_parse(hdr, &t);
	free(s);
	return 0;
}
