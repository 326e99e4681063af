/*
 * libFuzzer target: upload-gw's request handling from the request line
 * and headers to the decision, as on_request takes it (http.c), without a
 * live libmicrohttpd: the input is a request head ("METHOD /path?query
 * HTTP/1.1", header lines, an empty line), split here the way
 * libmicrohttpd splits it (query at '&' and '=', headers at the first
 * ':', leading blanks trimmed) and handed to upload_head_add; then the
 * framing check, and the PUT decision (path, MAC, Content-Length,
 * Content-Type, size) or the GET decision (path, conditionals, Range)
 * against a file whose size comes from the input.
 */
#include "../../upload-gw/head.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void
add_query(struct req_head *h, char *q)
{
	char *arg, *save = NULL;

	for (arg = strtok_r(q, "&", &save); arg != NULL; arg = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(arg, '=');

		if (eq != NULL)
			*eq++ = '\0';
		upload_head_add(h, HEAD_QUERY, arg, eq);
	}
}

/* Line by line ("\r\n" or "\n"), up to the empty line; returns the line. */
static char *
next_line(char **p)
{
	char *s = *p, *e;

	if (s == NULL)
		return NULL;
	if ((e = strchr(s, '\n')) != NULL) {
		*p = e + 1;
		if (e > s && e[-1] == '\r')
			e--;
		*e = '\0';
	} else {
		*p = NULL;
	}
	return s;
}

static void
check_put(const struct req_head *h, const char *url)
{
	static const struct upload_config cf = { .secret = "k", .secret_len = 1,
	    .prefix = "/upload/", .prefix_len = 8, .max_file_size = 1 << 20 };
	char rel[PATH_MAX_LEN + 1];
	const char *note = NULL;
	uint64_t len = 0;
	unsigned st = upload_head_put(&cf, url, h, rel, sizeof(rel), &len, &note);

	if (st != 0 && note == NULL)
		abort();
	if (st == 0 && (len > cf.max_file_size || rel[0] == '/' ||
	    strlen(rel) > PATH_MAX_LEN || strstr(rel, "//") != NULL ||
	    h->transfer_encoding != NULL))
		abort();
}

static void
check_get(const struct req_head *h, const char *url, uint64_t size)
{
	struct head_file f = { .size = size, .mtime = 784111777,
	    .etag = "\"2ebc3c21-3e8-1\"", .last_modified = "Sun, 06 Nov 1994 08:49:37 GMT" };
	char rel[PATH_MAX_LEN + 1];
	const char *note = NULL;
	uint64_t start = 7, len = 7;
	unsigned st;

	if (upload_head_path_status(upload_path_parse(url, "/upload/", rel,
	    sizeof(rel)), &note) != 0)
		return;
	st = upload_head_get(h, &f, &start, &len);
	if (st == 206 && (len == 0 || start >= size || len > size - start))
		abort();
	if ((st == 200 || st == 304 || st == 416) && (start != 0 || len != size))
		abort();
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct req_head h = { 0 };
	char *buf, *p, *line, *method, *url, *q, *sp;
	const char *note = NULL;
	enum head_method m;

	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	p = buf;
	if ((line = next_line(&p)) == NULL || (sp = strchr(line, ' ')) == NULL)
		goto out;
	*sp = '\0';
	method = line;
	url = sp + 1;
	if ((sp = strchr(url, ' ')) != NULL)
		*sp = '\0';
	if ((q = strchr(url, '?')) != NULL) {
		*q++ = '\0';
		add_query(&h, q);
	}
	while ((line = next_line(&p)) != NULL && line[0] != '\0') {
		char *colon = strchr(line, ':'), *v;

		if (colon == NULL)
			continue;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		upload_head_add(&h, HEAD_HEADER, line, v);
	}
	m = upload_head_method(method);
	if (upload_head_framing(&h, &note) != 0) {
		if (note == NULL || h.n_content_length + h.n_transfer_encoding < 2)
			abort();
		goto out;
	}
	upload_head_has_body(&h);
	if (m == HEAD_PUT)
		check_put(&h, url);
	else if (m == HEAD_GET || m == HEAD_HEAD)
		check_get(&h, url, size * 37);
out:
	free(buf);
	return 0;
}
