/* Unit tests for upload-gw/range.c: byte ranges, dates, entity tags. */
#include "t.h"
#include "../../upload-gw/range.h"

#include <stdint.h>

TEST(upload_range_single)
{
	uint64_t s = 0, l = 0;

	CHECK_INT(upload_range_parse("bytes=0-9", 100, &s, &l), RANGE_OK);
	CHECK_INT(s, 0);
	CHECK_INT(l, 10);
	CHECK_INT(upload_range_parse("bytes=90-", 100, &s, &l), RANGE_OK);
	CHECK_INT(s, 90);
	CHECK_INT(l, 10);
	CHECK_INT(upload_range_parse("bytes=90-1000", 100, &s, &l), RANGE_OK);
	CHECK_INT(l, 10);
	CHECK_INT(upload_range_parse("bytes=-5", 100, &s, &l), RANGE_OK);
	CHECK_INT(s, 95);
	CHECK_INT(l, 5);
	CHECK_INT(upload_range_parse("bytes=-500", 100, &s, &l), RANGE_OK);
	CHECK_INT(s, 0);
	CHECK_INT(l, 100);
	CHECK_INT(upload_range_parse("Bytes= 5-5 ", 100, &s, &l), RANGE_OK);
	CHECK_INT(s, 5);
	CHECK_INT(l, 1);
}

TEST(upload_range_refused)
{
	uint64_t s, l;

	CHECK_INT(upload_range_parse(NULL, 100, &s, &l), RANGE_NONE);
	CHECK_INT(upload_range_parse("items=0-1", 100, &s, &l), RANGE_NONE);
	CHECK_INT(upload_range_parse("bytes=0-1,3-4", 100, &s, &l), RANGE_NONE);
	CHECK_INT(upload_range_parse("bytes=5-1", 100, &s, &l), RANGE_NONE);
	CHECK_INT(upload_range_parse("bytes=a-b", 100, &s, &l), RANGE_NONE);
	CHECK_INT(upload_range_parse("bytes=-", 100, &s, &l), RANGE_NONE);
	CHECK_INT(upload_range_parse("bytes=1-2x", 100, &s, &l), RANGE_NONE);
	CHECK_INT(upload_range_parse("bytes=99999999999999999999-", 100, &s, &l),
	    RANGE_NONE);
	CHECK_INT(upload_range_parse("bytes=100-", 100, &s, &l), RANGE_UNSATISFIABLE);
	CHECK_INT(upload_range_parse("bytes=-0", 100, &s, &l), RANGE_UNSATISFIABLE);
	CHECK_INT(upload_range_parse("bytes=0-", 0, &s, &l), RANGE_UNSATISFIABLE);
	CHECK_INT(upload_range_parse("bytes=-1", 0, &s, &l), RANGE_UNSATISFIABLE);
}

TEST(upload_http_dates)
{
	char buf[40];
	time_t t;

	upload_http_date(784111777, buf, sizeof(buf));
	CHECK_STR(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
	CHECK_INT(upload_http_date_parse(buf, &t), 0);
	CHECK_INT(t, 784111777);
	CHECK_INT(upload_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t), -1);
	CHECK_INT(upload_http_date_parse("Sun Nov  6 08:49:37 1994", &t), -1);
	CHECK_INT(upload_http_date_parse("Sun, 06 Foo 1994 08:49:37 GMT", &t), -1);
	CHECK_INT(upload_http_date_parse("Sun, 06 Nov 1994 08:49:37 UTC", &t), -1);
	CHECK_INT(upload_http_date_parse("", &t), -1);
}

TEST(upload_etags)
{
	char tag[64];

	upload_etag_make(0xabc, 5, 0x10, tag, sizeof(tag));
	CHECK_STR(tag, "\"10-5-abc\"");
	CHECK(upload_etag_match_any("\"10-5-abc\"", tag));
	CHECK(upload_etag_match_any("W/\"10-5-abc\"", tag));
	CHECK(upload_etag_match_any("\"x\", \"10-5-abc\"", tag));
	CHECK(upload_etag_match_any(" * ", tag));
	CHECK(!upload_etag_match_any("\"10-5-abd\"", tag));
	CHECK(!upload_etag_match_any("10-5-abc", tag));
	CHECK(!upload_etag_match_any("\"10-5-abc", tag));
	CHECK(!upload_etag_match_any("", tag));
}
