/* Unit tests for upload-gw/mime.c: Go's types, and what may run inline. */
#include "t.h"
#include "../../upload-gw/mime.h"

TEST(upload_mime_types)
{
	static const char *const all[] = {
	    "3g2", "3gp", "7z", "aac", "amr", "apk", "asc", "avi",
	    "avif", "bmp", "bz2", "css", "csv", "doc", "docx", "epub",
	    "flac", "gif", "gpx", "gz", "heic", "heif", "htm", "html",
	    "ico", "ics", "jpeg", "jpg", "js", "json", "jxl", "kml",
	    "log", "m4a", "m4v", "md", "mjs", "mkv", "mov", "mp3",
	    "mp4", "mpeg", "mpg", "odp", "ods", "odt", "oga", "ogg",
	    "ogv", "opus", "pdf", "pgp", "png", "ppt", "pptx", "rar",
	    "rtf", "svg", "svgz", "tar", "tif", "tiff", "txt", "vcf",
	    "wasm", "wav", "weba", "webm", "webp", "xhtml", "xls", "xlsx",
	    "xml", "xz", "zip",
	};

	/* Go's built-in table, which Filer's MAC check uses. */
	CHECK_STR(upload_mime_by_name("a.jpg"), "image/jpeg");
	CHECK_STR(upload_mime_by_name("a.JPG"), "image/jpeg");
	CHECK_STR(upload_mime_by_name("x/y.png"), "image/png");
	CHECK_STR(upload_mime_by_name("a.html"), "text/html; charset=utf-8");
	CHECK_STR(upload_mime_by_name("a.svg"), "image/svg+xml");
	CHECK_STR(upload_mime_by_name("a.js"), "text/javascript; charset=utf-8");
	CHECK_STR(upload_mime_by_name("a.webp"), "image/webp");
	/* From the system database, with Go's charset for text. */
	CHECK_STR(upload_mime_by_name("a.txt"), "text/plain; charset=utf-8");
	CHECK_STR(upload_mime_by_name("a.mp4"), "video/mp4");
	CHECK_STR(upload_mime_by_name("a.m4a"), "audio/mp4");
	CHECK_STR(upload_mime_by_name("a.3gp"), "video/3gpp");
	CHECK_STR(upload_mime_by_name("a.zip"), "application/zip");
	/* Every table entry is reachable (the table is sorted for bsearch). */
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		char name[16];

		snprintf(name, sizeof(name), "f.%s", all[i]);
		if (upload_mime_by_name(name) == NULL) {
			t_fail(__FILE__, __LINE__, "%s not found", name);
			return;
		}
	}
	CHECK_STR(upload_mime_by_name("a.3g2"), "video/3gpp2");
	CHECK_STR(upload_mime_by_name("a.zip"), "application/zip");
	CHECK_STR(upload_mime_by_name("a.xz"), "application/x-xz");
	CHECK_STR(upload_mime_by_name("a.heic"), "image/heif");
	CHECK_STR(upload_mime_by_name("a.ogg"), "audio/ogg");
	CHECK(upload_mime_by_name("a") == NULL);
	CHECK(upload_mime_by_name("a.") == NULL);
	CHECK(upload_mime_by_name("a.unknownext") == NULL);
	CHECK(upload_mime_by_name("dir.jpg/file") == NULL);
}

TEST(upload_mime_inline)
{
	CHECK(upload_mime_is_inline("image/jpeg"));
	CHECK(upload_mime_is_inline("video/mp4"));
	CHECK(upload_mime_is_inline("audio/ogg"));
	CHECK(upload_mime_is_inline("text/plain; charset=utf-8"));
	CHECK(!upload_mime_is_inline("image/svg+xml"));
	CHECK(!upload_mime_is_inline("text/html; charset=utf-8"));
	CHECK(!upload_mime_is_inline("text/plainx"));
	CHECK(!upload_mime_is_inline("application/xhtml+xml"));
	CHECK(!upload_mime_is_inline("application/octet-stream"));
	CHECK(!upload_mime_is_inline(NULL));
}
