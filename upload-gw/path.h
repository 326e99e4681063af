/*
 * path — turns the raw request path into a store-relative file name.
 *
 * The path is percent-decoded exactly once, here (libmicrohttpd's own
 * unescaping is switched off), and refused when it could name anything
 * outside the store or be read two ways: "." and ".." segments, empty
 * segments (so no absolute or doubled slashes), NUL and control bytes,
 * encoded slashes, backslashes (raw or %5c), malformed escapes, and
 * escapes left after the one decoding ("%252e%252e" arrives as "%2e%2e":
 * refused, never decoded twice).  Segments starting with a dot are
 * hidden: upload-gw's own temporary directory is one, and no upload may
 * create or read any.  The result is also what the upload
 * MAC covers, exactly as Prosody Filer computes it: the decoded path after
 * "/<uploadSubDir>/".
 */
#ifndef UPLOAD_PATH_H
#define UPLOAD_PATH_H

#include <stddef.h>

#define PATH_MAX_LEN 1024	/* decoded bytes */
#define PATH_MAX_DEPTH 16	/* segments */
#define PATH_MAX_SEGMENT 255	/* NAME_MAX */

/*
 * Name of the store's directory for temporary files: it starts with a
 * dot, which is what keeps it out of reach of every request.
 */
#define PATH_TMPDIR ".upload-gw.tmp"

enum path_result {
	PATH_OK = 0,
	PATH_NOT_FOUND,		/* not under the prefix: 404 */
	PATH_HIDDEN,		/* a segment starts with a dot: 403 */
	PATH_DIRECTORY,		/* empty or ends in '/': 403 */
	PATH_BAD,		/* unsafe or malformed: 400 */
	PATH_TOO_LONG,		/* 414 */
};

/*
 * raw: the request path as sent (no query).  prefix: "/upload/" or "/".
 * On PATH_OK, out (outlen >= PATH_MAX_LEN + 1) holds the relative name.
 */
enum path_result upload_path_parse(const char *raw, const char *prefix, char *out,
    size_t outlen);

/* The last segment of a relative name. */
const char *upload_path_basename(const char *rel);

/* Escapes a request path for a log line: printable ASCII kept, else \xNN. */
void upload_path_for_log(const char *s, char *out, size_t outlen);

#endif
