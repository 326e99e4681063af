/*
 * range — the parts of HTTP that GET needs beyond sending a file: single
 * byte ranges (RFC 9110 §14), entity tags and dates for conditional
 * requests (§13).  Pure functions over header strings, unit-tested.
 */
#ifndef UPLOAD_RANGE_H
#define UPLOAD_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum range_result {
	RANGE_NONE,		/* absent, unsupported or invalid: send it all */
	RANGE_OK,		/* 206 with *start, *len */
	RANGE_UNSATISFIABLE,	/* 416 */
};

/*
 * A single "bytes=" range against a representation of size bytes.
 * Several ranges are answered with the whole file (allowed by §14.2).
 */
enum range_result upload_range_parse(const char *h, uint64_t size, uint64_t *start,
    uint64_t *len);

/* IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT"; buf >= 30. */
void upload_http_date(time_t t, char *buf, size_t len);
/* Parses an IMF-fixdate; -1 if it is anything else. */
int upload_http_date_parse(const char *s, time_t *out);

/* Strong tag from file identity: "\"<mtime>-<size>-<ino>\"" (hex). */
void upload_etag_make(uint64_t ino, uint64_t size, int64_t mtime_s, char *buf,
    size_t len);
/* If-None-Match list match (weak comparison, "*" matches). */
bool upload_etag_match_any(const char *header, const char *etag);

#endif
