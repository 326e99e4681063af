/*
 * mime — the extension table.  See mime.h.
 *
 * Entries marked "go" are Go's built-in table (mime/type.go), which wins
 * over the system database; the rest are what Debian's shared-mime-info
 * gives Go for the same extensions.  Sorted for bsearch.
 */
#include "mime.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct mime_ent {
	const char *ext;
	const char *type;
};

#define UTF8 "; charset=utf-8"

static const struct mime_ent mime_table[] = {
	{ "3g2", "video/3gpp2" },
	{ "3gp", "video/3gpp" },
	{ "7z", "application/x-7z-compressed" },
	{ "aac", "audio/aac" },
	{ "amr", "audio/AMR" },
	{ "apk", "application/vnd.android.package-archive" },
	{ "asc", "application/pgp-encrypted" },
	{ "avi", "video/x-msvideo" },
	{ "avif", "image/avif" },			/* go */
	{ "bmp", "image/bmp" },
	{ "bz2", "application/x-bzip2" },
	{ "css", "text/css" UTF8 },			/* go */
	{ "csv", "text/csv" UTF8 },
	{ "doc", "application/msword" },
	{ "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
	{ "epub", "application/epub+zip" },
	{ "flac", "audio/flac" },
	{ "gif", "image/gif" },			/* go */
	{ "gpx", "application/gpx+xml" },
	{ "gz", "application/gzip" },
	{ "heic", "image/heif" },
	{ "heif", "image/heif" },
	{ "htm", "text/html" UTF8 },			/* go */
	{ "html", "text/html" UTF8 },			/* go */
	{ "ico", "image/vnd.microsoft.icon" },
	{ "ics", "text/calendar" UTF8 },
	{ "jpeg", "image/jpeg" },			/* go */
	{ "jpg", "image/jpeg" },			/* go */
	{ "js", "text/javascript" UTF8 },		/* go */
	{ "json", "application/json" },		/* go */
	{ "jxl", "image/jxl" },
	{ "kml", "application/vnd.google-earth.kml+xml" },
	{ "log", "text/x-log" UTF8 },
	{ "m4a", "audio/mp4" },
	{ "m4v", "video/mp4" },
	{ "md", "text/markdown" UTF8 },
	{ "mjs", "text/javascript" UTF8 },		/* go */
	{ "mkv", "video/x-matroska" },
	{ "mov", "video/quicktime" },
	{ "mp3", "audio/mpeg" },
	{ "mp4", "video/mp4" },
	{ "mpeg", "video/mpeg" },
	{ "mpg", "video/mpeg" },
	{ "odp", "application/vnd.oasis.opendocument.presentation" },
	{ "ods", "application/vnd.oasis.opendocument.spreadsheet" },
	{ "odt", "application/vnd.oasis.opendocument.text" },
	{ "oga", "audio/ogg" },
	{ "ogg", "audio/ogg" },
	{ "ogv", "video/ogg" },
	{ "opus", "audio/x-opus+ogg" },
	{ "pdf", "application/pdf" },			/* go */
	{ "pgp", "application/pgp-encrypted" },
	{ "png", "image/png" },			/* go */
	{ "ppt", "application/vnd.ms-powerpoint" },
	{ "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation" },
	{ "rar", "application/vnd.rar" },
	{ "rtf", "application/rtf" },
	{ "svg", "image/svg+xml" },			/* go */
	{ "svgz", "image/svg+xml-compressed" },
	{ "tar", "application/x-tar" },
	{ "tif", "image/tiff" },
	{ "tiff", "image/tiff" },
	{ "txt", "text/plain" UTF8 },
	{ "vcf", "text/vcard" UTF8 },
	{ "wasm", "application/wasm" },		/* go */
	{ "wav", "audio/x-wav" },
	{ "weba", "audio/webm" },
	{ "webm", "video/webm" },
	{ "webp", "image/webp" },			/* go */
	{ "xhtml", "application/xhtml+xml" },
	{ "xls", "application/vnd.ms-excel" },
	{ "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
	{ "xml", "text/xml" UTF8 },			/* go */
	{ "xz", "application/x-xz" },
	{ "zip", "application/zip" },
};

static int
ent_cmp(const void *k, const void *e)
{
	return strcmp(k, ((const struct mime_ent *)e)->ext);
}

const char *
upload_mime_by_name(const char *name)
{
	const char *dot = strrchr(name, '.'), *slash = strrchr(name, '/');
	const struct mime_ent *m;
	char ext[8];
	size_t n;

	if (dot == NULL || (slash && slash > dot) || (n = strlen(dot + 1)) == 0 ||
	    n >= sizeof(ext))
		return NULL;
	for (size_t i = 0; i <= n; i++) {
		char c = dot[1 + i];

		ext[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	m = bsearch(ext, mime_table, sizeof(mime_table) / sizeof(mime_table[0]),
	    sizeof(mime_table[0]), ent_cmp);
	return m ? m->type : NULL;
}

bool
upload_mime_is_inline(const char *type)
{
	if (type == NULL)
		return false;
	if (strncasecmp(type, "image/", 6) == 0)
		return strncasecmp(type + 6, "svg", 3) != 0;
	if (strncasecmp(type, "audio/", 6) == 0 || strncasecmp(type, "video/", 6) == 0)
		return true;
	return strncasecmp(type, "text/plain", 10) == 0 &&
	    (type[10] == '\0' || type[10] == ';');
}
