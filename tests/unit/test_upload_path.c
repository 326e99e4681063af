/* Unit tests for upload-gw/path.c: decoding once, and every refusal. */
#include "t.h"
#include "../../upload-gw/path.h"

#include <stdlib.h>

static enum path_result
parse(const char *raw, char *out)
{
	return upload_path_parse(raw, "/upload/", out, PATH_MAX_LEN + 1);
}

TEST(upload_path_ok)
{
	char out[PATH_MAX_LEN + 1];

	CHECK_INT(parse("/upload/abc/def/file.jpg", out), PATH_OK);
	CHECK_STR(out, "abc/def/file.jpg");
	CHECK_INT(parse("/upload/x/Fot%C3%B3%201%20(2).jpg", out), PATH_OK);
	CHECK_STR(out, "x/Fot\xc3\xb3 1 (2).jpg");
	/* A percent sign that is no escape after decoding is a name. */
	CHECK_INT(parse("/upload/a/100%25%20sure.txt", out), PATH_OK);
	CHECK_STR(out, "a/100% sure.txt");
	CHECK_INT(parse("/upload/a/b%25", out), PATH_OK);
	CHECK_STR(out, "a/b%");
	CHECK_INT(parse("/upload/a/b%25z", out), PATH_OK);
	CHECK_INT(parse("/upload/a+b", out), PATH_OK);
	CHECK_STR(out, "a+b");
	CHECK_INT(parse("/upload/a/b.c.", out), PATH_OK);
	CHECK_INT(upload_path_parse("/f/x", "/", out, sizeof(out)), PATH_OK);
	CHECK_STR(out, "f/x");
}

TEST(upload_path_refused)
{
	static const struct { const char *raw; enum path_result want; } cases[] = {
		{ "/upload/../x", PATH_BAD },
		{ "/upload/a/..", PATH_BAD },
		{ "/upload/%2e%2e/x", PATH_BAD },
		{ "/upload/%2E./x", PATH_BAD },
		{ "/upload/./x", PATH_BAD },
		{ "/upload/a%2fb", PATH_BAD },
		{ "/upload/a%2Fb", PATH_BAD },
		{ "/upload/a%00b", PATH_BAD },
		{ "/upload/a%0ab", PATH_BAD },
		{ "/upload/a\tb", PATH_BAD },
		{ "/upload//x", PATH_BAD },
		{ "/upload/a//b", PATH_BAD },
		{ "/upload/a%", PATH_BAD },
		{ "/upload/a%4", PATH_BAD },
		{ "/upload/a%g0", PATH_BAD },
		{ "/upload/", PATH_DIRECTORY },
		{ "/upload/a/", PATH_DIRECTORY },
		{ "/upload/../", PATH_BAD },
		{ "/upload", PATH_NOT_FOUND },
		{ "/uploadx/a", PATH_NOT_FOUND },
		{ "/other/a", PATH_NOT_FOUND },
		{ "/upload/" PATH_TMPDIR "/abc", PATH_HIDDEN },
		{ "/upload/%2eupload-gw.tmp/abc", PATH_HIDDEN },
		{ "/upload/.tmp/x", PATH_HIDDEN },
		{ "/upload/a/.hidden", PATH_HIDDEN },
		{ "/upload/...", PATH_HIDDEN },
		{ "/upload/.x/", PATH_HIDDEN },
		/* Backslash, raw or encoded: a separator somewhere else. */
		{ "/upload/a%5cb", PATH_BAD },
		{ "/upload/a%5Cb", PATH_BAD },
		{ "/upload/a\\b", PATH_BAD },
		{ "/upload/%5c..%5cx", PATH_BAD },
		/* Escapes left after decoding once: never decoded twice. */
		{ "/upload/%252e%252e/x", PATH_BAD },
		{ "/upload/a/%252e%252e", PATH_BAD },
		{ "/upload/a/b%2525", PATH_BAD },
		{ "/upload/a/%252fb", PATH_BAD },
		{ "/upload/a/%255c", PATH_BAD },
		{ "/upload/a/x%25AF", PATH_BAD },
	};
	char out[PATH_MAX_LEN + 1];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(cases[i].raw, out) != cases[i].want) {
			t_fail(__FILE__, __LINE__, "%s: got %d, want %d", cases[i].raw,
			    parse(cases[i].raw, out), cases[i].want);
			return;
		}
	}
}

TEST(upload_path_limits)
{
	char raw[4096], out[PATH_MAX_LEN + 1];
	size_t o;

	/* A 255-byte segment is fine, 256 is not. */
	o = (size_t)snprintf(raw, sizeof(raw), "/upload/");
	memset(raw + o, 'a', 255);
	raw[o + 255] = '\0';
	CHECK_INT(parse(raw, out), PATH_OK);
	raw[o + 255] = 'a';
	raw[o + 256] = '\0';
	CHECK_INT(parse(raw, out), PATH_BAD);
	/* Depth. */
	o = (size_t)snprintf(raw, sizeof(raw), "/upload/");
	for (int i = 0; i < PATH_MAX_DEPTH; i++)
		o += (size_t)snprintf(raw + o, sizeof(raw) - o, "d/");
	raw[o - 1] = '\0';
	CHECK_INT(parse(raw, out), PATH_OK);
	snprintf(raw + o - 1, sizeof(raw) - o + 1, "/x");
	CHECK_INT(parse(raw, out), PATH_BAD);
	/* Total length. */
	o = (size_t)snprintf(raw, sizeof(raw), "/upload/");
	for (int i = 0; i < 8; i++) {
		memset(raw + o, 'b', 200);
		o += 200;
		raw[o++] = '/';
	}
	raw[o - 1] = '\0';
	CHECK_INT(parse(raw, out), PATH_TOO_LONG);
	/* Output buffer too small is refused, not overrun. */
	CHECK_INT(upload_path_parse("/upload/a", "/upload/", out, 10), PATH_NOT_FOUND);
}

TEST(upload_path_helpers)
{
	char buf[32];

	CHECK_STR(upload_path_basename("a/b/c.txt"), "c.txt");
	CHECK_STR(upload_path_basename("c.txt"), "c.txt");
	upload_path_for_log("/a b\n\"\xff", buf, sizeof(buf));
	CHECK_STR(buf, "/a b\\x0a\\x22\\xff");
	upload_path_for_log("0123456789012345678901234567890123456789", buf, 16);
	CHECK_STR(buf, "01234567890...");
}
