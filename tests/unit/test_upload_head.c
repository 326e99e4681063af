/* Unit tests for upload-gw/head.c: framing, the PUT and GET decisions. */
#include "t.h"
#include "../../upload-gw/head.h"
#include "../../upload-gw/mac.h"

#include <stdint.h>

static void
add_all(struct req_head *h, const char *const *kv)
{
	for (; kv[0] != NULL; kv += 2)
		upload_head_add(h, HEAD_HEADER, kv[0], kv[1]);
}

TEST(upload_head_two_content_lengths)
{
	static const char *const differ[] = { "Content-Length", "3",
	    "content-length", "300", NULL };
	static const char *const same[] = { "Content-Length", "3",
	    "Content-Length", "3", NULL };
	static const char *const one[] = { "Host", "x", "Content-Length", "3", NULL };
	struct req_head h = { 0 };
	const char *note = NULL;

	add_all(&h, differ);
	CHECK_INT(upload_head_framing(&h, &note), 400);
	CHECK_STR(note, "several Content-Length headers");
	/* Identical copies are refused too (RFC 9110 §8.6 allows either). */
	memset(&h, 0, sizeof(h));
	add_all(&h, same);
	CHECK_INT(upload_head_framing(&h, &note), 400);
	memset(&h, 0, sizeof(h));
	add_all(&h, one);
	CHECK_INT(upload_head_framing(&h, &note), 0);
	CHECK_STR(h.content_length, "3");
}

TEST(upload_head_length_with_chunked)
{
	static const char *const both[] = { "Transfer-Encoding", "chunked",
	    "Content-Length", "3", NULL };
	static const char *const two_te[] = { "Transfer-Encoding", "chunked",
	    "Transfer-Encoding", "identity", NULL };
	struct req_head h = { 0 };
	const char *note = NULL;

	add_all(&h, both);
	CHECK_INT(upload_head_framing(&h, &note), 400);
	memset(&h, 0, sizeof(h));
	add_all(&h, two_te);
	CHECK_INT(upload_head_framing(&h, &note), 400);
}

TEST(upload_head_put_decisions)
{
	struct upload_config cf = { .secret = "k", .secret_len = 1,
	    .prefix = "/upload/", .max_file_size = 10 };
	struct req_head h = { 0 };
	char rel[PATH_MAX_LEN + 1], mac[65];
	const char *note = NULL;
	enum mac_kind form;
	uint64_t len = 0;

	CHECK_INT(upload_head_put(&cf, "/upload/a/b.txt", &h, rel, sizeof(rel),
	    &len, &note), 403);
	CHECK_STR(note, "no MAC");
	CHECK(upload_head_mac(&h, &form) == NULL);
	CHECK_INT(upload_mac_compute("k", 1, "a/b.txt", 3, NULL, mac), 0);
	/* First of each name wins, names caseless. */
	upload_head_add(&h, HEAD_QUERY, "V", mac);
	upload_head_add(&h, HEAD_QUERY, "v", "00");
	CHECK_STR(upload_head_mac(&h, &form), mac);
	CHECK_INT(form, MAC_V1);
	CHECK_INT(upload_head_put(&cf, "/upload/a/b.txt", &h, rel, sizeof(rel),
	    &len, &note), 411);
	upload_head_add(&h, HEAD_HEADER, "Content-Length", "+3");
	CHECK_INT(upload_head_put(&cf, "/upload/a/b.txt", &h, rel, sizeof(rel),
	    &len, &note), 411);
	h.content_length = "3";
	CHECK_INT(upload_head_put(&cf, "/upload/a/b.txt", &h, rel, sizeof(rel),
	    &len, &note), 0);
	CHECK_STR(rel, "a/b.txt");
	CHECK_INT(len, 3);
	CHECK_INT(upload_head_put(&cf, "/upload/a/../b.txt", &h, rel, sizeof(rel),
	    &len, &note), 400);
	CHECK_INT(upload_head_put(&cf, "/other/b.txt", &h, rel, sizeof(rel),
	    &len, &note), 404);
	h.content_length = "4";
	CHECK_INT(upload_head_put(&cf, "/upload/a/b.txt", &h, rel, sizeof(rel),
	    &len, &note), 403);
	CHECK_STR(note, "invalid MAC");
	CHECK_INT(upload_mac_compute("k", 1, "a/b.txt", 11, NULL, mac), 0);
	h.content_length = "11";
	CHECK_INT(upload_head_put(&cf, "/upload/a/b.txt", &h, rel, sizeof(rel),
	    &len, &note), 413);
	upload_head_add(&h, HEAD_HEADER, "Transfer-Encoding", "chunked");
	CHECK_INT(upload_head_put(&cf, "/upload/a/b.txt", &h, rel, sizeof(rel),
	    &len, &note), 411);
}

/* Filer's precedence (v2, token, v) and the form each name stands for. */
TEST(upload_head_mac_names)
{
	struct req_head h = { 0 };
	enum mac_kind form;

	upload_head_add(&h, HEAD_QUERY, "v", "1");
	CHECK_STR(upload_head_mac(&h, &form), "1");
	CHECK_INT(form, MAC_V1);
	upload_head_add(&h, HEAD_QUERY, "token", "2");
	CHECK_STR(upload_head_mac(&h, &form), "2");
	CHECK_INT(form, MAC_V2);
	upload_head_add(&h, HEAD_QUERY, "V2", "3");
	CHECK_STR(upload_head_mac(&h, &form), "3");
	CHECK_INT(form, MAC_V2);
}

static unsigned
put_with(const char *param, const char *mac, const char *ctype, const char *url)
{
	struct upload_config cf = { .secret = "k", .secret_len = 1,
	    .prefix = "/upload/" };
	struct req_head h = { 0 };
	char rel[PATH_MAX_LEN + 1];
	const char *note = NULL;
	uint64_t len;

	upload_head_add(&h, HEAD_QUERY, param, mac);
	upload_head_add(&h, HEAD_HEADER, "Content-Length", "3");
	if (ctype != NULL)
		upload_head_add(&h, HEAD_HEADER, "Content-Type", ctype);
	return upload_head_put(&cf, url, &h, rel, sizeof(rel), &len, &note);
}

TEST(upload_head_mac_form_and_type)
{
	char v1[65], png[65], foo[65], oct[65];

	CHECK_INT(upload_mac_compute("k", 1, "a/b.png", 3, NULL, v1), 0);
	CHECK_INT(upload_mac_compute("k", 1, "a/b.png", 3, "image/png", png), 0);
	CHECK_INT(upload_mac_compute("k", 1, "a/b.png", 3, "x/foo", foo), 0);
	CHECK_INT(upload_mac_compute("k", 1, "a/b.png", 3,
	    "application/octet-stream", oct), 0);
	/* v is v1 only; v2 and token are v2 only. */
	CHECK_INT(put_with("v", v1, NULL, "/upload/a/b.png"), 0);
	CHECK_INT(put_with("v2", v1, NULL, "/upload/a/b.png"), 403);
	CHECK_INT(put_with("token", v1, NULL, "/upload/a/b.png"), 403);
	CHECK_INT(put_with("v", png, NULL, "/upload/a/b.png"), 403);
	/* v2 covers the request's own Content-Type, and only it. */
	CHECK_INT(put_with("v2", foo, "x/foo", "/upload/a/b.png"), 0);
	CHECK_INT(put_with("token", foo, "x/foo", "/upload/a/b.png"), 0);
	CHECK_INT(put_with("v2", foo, "image/png", "/upload/a/b.png"), 403);
	CHECK_INT(put_with("v2", png, "x/foo", "/upload/a/b.png"), 403);
	CHECK_INT(put_with("v2", oct, "x/foo", "/upload/a/b.png"), 403);
	CHECK_INT(put_with("v2", png, "image/png", "/upload/a/b.png"), 0);
	/* Without one: Filer's type for the extension, or the default. */
	CHECK_INT(put_with("v2", png, NULL, "/upload/a/b.png"), 0);
	CHECK_INT(put_with("v2", oct, NULL, "/upload/a/b.png"), 0);
	CHECK_INT(put_with("v2", png, "", "/upload/a/b.png"), 0);
	CHECK_INT(put_with("v2", foo, NULL, "/upload/a/b.png"), 403);
}

TEST(upload_head_get_decisions)
{
	struct head_file f = { .size = 100, .mtime = 1000, .etag = "\"e\"",
	    .last_modified = "Thu, 01 Jan 1970 00:16:40 GMT" };
	struct req_head h = { 0 };
	uint64_t s, l;

	CHECK_INT(upload_head_get(&h, &f, &s, &l), 200);
	CHECK_INT(l, 100);
	upload_head_add(&h, HEAD_HEADER, "range", "bytes=10-19");
	CHECK_INT(upload_head_get(&h, &f, &s, &l), 206);
	CHECK_INT(s, 10);
	CHECK_INT(l, 10);
	upload_head_add(&h, HEAD_HEADER, "If-Range", "\"other\"");
	CHECK_INT(upload_head_get(&h, &f, &s, &l), 200);
	CHECK_INT(s, 0);
	CHECK_INT(l, 100);
	h.if_range = f.last_modified;
	h.range = "bytes=200-";
	CHECK_INT(upload_head_get(&h, &f, &s, &l), 416);
	upload_head_add(&h, HEAD_HEADER, "If-Modified-Since",
	    "Thu, 01 Jan 1970 00:16:40 GMT");
	CHECK_INT(upload_head_get(&h, &f, &s, &l), 304);
	/* If-None-Match wins over If-Modified-Since. */
	upload_head_add(&h, HEAD_HEADER, "If-None-Match", "\"x\"");
	CHECK_INT(upload_head_get(&h, &f, &s, &l), 416);
}
