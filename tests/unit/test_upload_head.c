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
	uint64_t len = 0;

	CHECK_INT(upload_head_put(&cf, "/upload/a/b.txt", &h, rel, sizeof(rel),
	    &len, &note), 403);
	CHECK_STR(note, "no MAC");
	CHECK_INT(upload_mac_compute("k", 1, "a/b.txt", 3, NULL, mac), 0);
	/* First of each name wins, token before v before v2, names caseless. */
	upload_head_add(&h, HEAD_QUERY, "V", mac);
	upload_head_add(&h, HEAD_QUERY, "v", "00");
	CHECK_STR(upload_head_mac(&h), mac);
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
