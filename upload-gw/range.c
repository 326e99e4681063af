/*
 * range — byte ranges, entity tags and HTTP dates.  See range.h.
 */
#include "range.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *
skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Decimal digits into *v; NULL on overflow or no digits. */
static const char *
parse_u64(const char *s, uint64_t *v)
{
	uint64_t n = 0;
	const char *p = s;

	while (*p >= '0' && *p <= '9') {
		unsigned d = (unsigned)(*p - '0');

		if (n > (UINT64_MAX - d) / 10)
			return NULL;
		n = n * 10 + d;
		p++;
	}
	if (p == s)
		return NULL;
	*v = n;
	return p;
}

enum range_result
upload_range_parse(const char *h, uint64_t size, uint64_t *start, uint64_t *len)
{
	uint64_t a, b;
	const char *p;

	if (h == NULL || strncasecmp(h, "bytes=", 6) != 0)
		return RANGE_NONE;
	p = skip_ws(h + 6);
	if (strchr(p, ',') != NULL)
		return RANGE_NONE;
	if (*p == '-') {
		/* suffix: the last b bytes */
		if ((p = parse_u64(p + 1, &b)) == NULL || *skip_ws(p) != '\0')
			return RANGE_NONE;
		if (b == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		if (b > size)
			b = size;
		*start = size - b;
		*len = b;
		return RANGE_OK;
	}
	if ((p = parse_u64(p, &a)) == NULL || *p != '-')
		return RANGE_NONE;
	p++;
	if (*skip_ws(p) == '\0') {
		b = UINT64_MAX;
	} else {
		if ((p = parse_u64(p, &b)) == NULL || *skip_ws(p) != '\0' || b < a)
			return RANGE_NONE;
	}
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	if (b >= size)
		b = size - 1;
	*start = a;
	*len = b - a + 1;
	return RANGE_OK;
}

void
upload_http_date(time_t t, char *buf, size_t len)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char mons[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
	    tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
}

int
upload_http_date_parse(const char *s, time_t *out)
{
	static const char mons[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char wd[4], mon[4], gmt[4];
	int d, y, h, mi, sec, n = 0;
	const char *m;
	struct tm tm;

	if (s == NULL || strlen(s) != 29 ||
	    sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n", wd, &d, mon, &y, &h,
	    &mi, &sec, gmt, &n) != 8 || n != 29 || strcmp(gmt, "GMT") != 0)
		return -1;
	if ((m = strstr(mons, mon)) == NULL || (m - mons) % 3 != 0 || d < 1 ||
	    d > 31 || y < 1970 || h > 23 || mi > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = (int)((m - mons) / 3);
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = timegm(&tm);
	return 0;
}

void
upload_etag_make(uint64_t ino, uint64_t size, int64_t mtime_s, char *buf, size_t len)
{
	snprintf(buf, len, "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"",
	    (uint64_t)mtime_s, size, ino);
}

bool
upload_etag_match_any(const char *h, const char *etag)
{
	size_t el = strlen(etag);
	const char *p = h;

	if (h == NULL)
		return false;
	p = skip_ws(p);
	if (*p == '*' && *skip_ws(p + 1) == '\0')
		return true;
	while (*p) {
		const char *q;

		p = skip_ws(p);
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p != '"')
			return false;
		if ((q = strchr(p + 1, '"')) == NULL)
			return false;
		if ((size_t)(q + 1 - p) == el && memcmp(p, etag, el) == 0)
			return true;
		p = skip_ws(q + 1);
		if (*p == ',')
			p++;
		else if (*p != '\0')
			return false;
	}
	return false;
}
