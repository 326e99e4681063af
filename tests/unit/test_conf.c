/* Unit tests for common/conf.c: the TOML subset and its errors. */
#include "t.h"
#include "conf.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static struct conf_doc *
parse(const char *text, int flags, struct conf_err *e)
{
	return conf_parse_string("t.toml", text, flags, e);
}

TEST(conf_scalars)
{
	struct conf_err e;
	struct conf_doc *d = parse(
	    "# comment\n"
	    "a = \"x\\ty\\u00e9\" # trailing\n"
	    "b = 'lit\\n'\n"
	    "c = 1_000\n"
	    "d = -5\n"
	    "e = 0x1F\n"
	    "f = true\n"
	    "\"quoted key\" = false\n", 0, &e);
	const char *s;
	long long i;
	bool b;

	CHECK(d != NULL);
	CHECK_INT(conf_str(d->root, "a", &s, &e), 1);
	CHECK_STR(s, "x\ty\xc3\xa9");
	CHECK_INT(conf_str(d->root, "b", &s, &e), 1);
	CHECK_STR(s, "lit\\n");
	CHECK_INT(conf_int(d->root, "c", 0, 2000, &i, &e), 1);
	CHECK_INT(i, 1000);
	CHECK_INT(conf_int(d->root, "d", -10, 10, &i, &e), 1);
	CHECK_INT(i, -5);
	CHECK_INT(conf_int(d->root, "e", 0, 100, &i, &e), 1);
	CHECK_INT(i, 31);
	CHECK_INT(conf_bool(d->root, "f", &b, &e), 1);
	CHECK(b);
	CHECK_INT(conf_bool(d->root, "quoted key", &b, &e), 1);
	CHECK(!b);
	CHECK_INT(conf_str(d->root, "missing", &s, &e), 0);
	CHECK_INT(conf_check_unused(d->root, &e), 0);
	conf_free(d);
}

TEST(conf_tables_and_arrays)
{
	struct conf_err e;
	struct conf_doc *d = parse(
	    "top = 1\n"
	    "[server]\n"
	    "listen = [ \"a\",\n  \"b\", # c\n ]\n"
	    "[server.tls]\n"
	    "cert = \"c.pem\"\n"
	    "[[forward]]\n"
	    "name = \"one\"\n"
	    "[[forward]]\n"
	    "name = \"two\"\n", 0, &e);
	struct conf_table *srv, *tls;
	struct conf_table *const *fw;
	char *const *arr;
	size_t n;
	const char *s;
	long long i;
	int rc;

	CHECK(d != NULL);
	CHECK_INT(conf_int(d->root, "top", 0, 9, &i, &e), 1);
	srv = conf_table(d->root, "server", &e, &rc);
	CHECK(srv != NULL);
	CHECK_INT(conf_strarr(srv, "listen", &arr, &n, &e), 1);
	CHECK_INT(n, 2);
	CHECK_STR(arr[1], "b");
	tls = conf_table(srv, "tls", &e, &rc);
	CHECK(tls != NULL);
	CHECK_INT(conf_str(tls, "cert", &s, &e), 1);
	CHECK_INT(conf_tables(d->root, "forward", &fw, &n, &e), 1);
	CHECK_INT(n, 2);
	CHECK_INT(conf_str(fw[1], "name", &s, &e), 1);
	CHECK_STR(s, "two");
	/* forward[0].name was never read */
	CHECK_INT(conf_check_unused(d->root, &e), -1);
	CHECK_STR(e.msg, "t.toml:9: forward.name: unknown key");
	conf_free(d);
}

static void
expect_error(const char *text, const char *msg)
{
	struct conf_err e;
	struct conf_doc *d = parse(text, 0, &e);

	if (d != NULL) {
		t_fail(__FILE__, __LINE__, "parsed: %s", text);
		conf_free(d);
		return;
	}
	if (strcmp(e.msg, msg) != 0)
		t_fail(__FILE__, __LINE__, "got \"%s\", expected \"%s\"", e.msg, msg);
}

TEST(conf_errors)
{
	expect_error("a = 1\na = 2\n", "t.toml:2: a: duplicate key");
	expect_error("a = \"x\n", "t.toml:1: a: unterminated string");
	expect_error("\n\nb = 1.5\n", "t.toml:3: b: floats are not supported");
	expect_error("c = bare\n", "t.toml:1: c: invalid value (strings must be quoted)");
	expect_error("d.e = 1\n", "t.toml:1: d: dotted keys are not supported; use a [table]");
	expect_error("[t]\n[t]\n", "t.toml:2: t: table defined twice");
	expect_error("x = 1\n[x]\n", "t.toml:2: x: already defined as a value");
	expect_error("a = [1, 2]\n", "t.toml:1: a: only arrays of strings are supported");
	expect_error("a = 1 2\n", "t.toml:1: a: unexpected '2' after value");
	expect_error("a = \"\\q\"\n", "t.toml:1: a: unknown escape '\\q'");
	expect_error("a = { b = 1 }\n", "t.toml:1: a: inline tables are not supported; use a [table]");
	expect_error("[a\n", "t.toml:1: expected ']' to close table header");
	expect_error("a =\n", "t.toml:1: a: missing value");
	expect_error("a = 99999999999999999999\n", "t.toml:1: a: invalid integer");
}

TEST(conf_type_errors_and_nocase)
{
	struct conf_err e;
	struct conf_doc *d = parse("listenPort = \"[::]:5050\"\nn = \"5\"\nbig = 70000\n",
	    CONF_KEYS_NOCASE, &e);
	const char *s;
	long long i;

	CHECK(d != NULL);
	CHECK_INT(conf_str(d->root, "listenport", &s, &e), 1);
	CHECK_STR(s, "[::]:5050");
	CHECK_INT(conf_int(d->root, "n", 0, 10, &i, &e), -1);
	CHECK_STR(e.msg, "t.toml:2: n: expected an integer, found a string");
	CHECK_INT(conf_int(d->root, "big", 1, 65535, &i, &e), -1);
	CHECK_STR(e.msg, "t.toml:3: big: must be between 1 and 65535");
	conf_free(d);
}

TEST(conf_size_duration)
{
	struct conf_err e;
	struct conf_doc *d = parse("a = \"100M\"\nb = 4096\nc = \"1GiB\"\nd = \"30d\"\n"
	    "f = \"10m\"\ng = \"5x\"\nh = 90\n", 0, &e);
	uint64_t v;

	CHECK(d != NULL);
	CHECK_INT(conf_size(d->root, "a", &v, &e), 1);
	CHECK(v == 100ULL << 20);
	CHECK_INT(conf_size(d->root, "b", &v, &e), 1);
	CHECK(v == 4096);
	CHECK_INT(conf_size(d->root, "c", &v, &e), 1);
	CHECK(v == 1ULL << 30);
	CHECK_INT(conf_duration(d->root, "d", &v, &e), 1);
	CHECK(v == 30 * 86400);
	CHECK_INT(conf_duration(d->root, "f", &v, &e), 1);
	CHECK(v == 600);
	CHECK_INT(conf_size(d->root, "g", &v, &e), -1);
	CHECK_INT(conf_duration(d->root, "h", &v, &e), 1);
	CHECK(v == 90);
	/* ranges: inside, outside (the message names the bounds), absent */
	v = 7;
	CHECK_INT(conf_size_range(d->root, "b", 1024, 8192, &v, &e), 1);
	CHECK(v == 4096);
	v = 7;
	CHECK_INT(conf_size_range(d->root, "a", 0, 1ULL << 20, &v, &e), -1);
	CHECK(strstr(e.msg, "a: must be between 0 and 1048576 bytes") != NULL);
	CHECK(v == 7);
	CHECK_INT(conf_size_range(d->root, "zz", 0, 1, &v, &e), 0);
	CHECK(v == 7);
	conf_free(d);
}

TEST(conf_secret_file_mode)
{
	char path[] = "/tmp/edge-secret-XXXXXX";
	struct conf_err e;
	char *s = NULL;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	CHECK(write(fd, "s3cret\n", 7) == 7);
	close(fd);
	chmod(path, 0600);
	CHECK_INT(conf_read_secret_file(path, &s, &e), 0);
	CHECK_STR(s, "s3cret");
	conf_secret_free(s);
	/* group read: a secret shared by the daemons of one group */
	chmod(path, 0640);
	CHECK_INT(conf_read_secret_file(path, &s, &e), 0);
	CHECK_STR(s, "s3cret");
	conf_secret_free(s);
	s = NULL;
	chmod(path, 0660);
	CHECK_INT(conf_read_secret_file(path, &s, &e), -1);
	CHECK(strstr(e.msg, "writable by group") != NULL);
	chmod(path, 0604);
	CHECK_INT(conf_read_secret_file(path, &s, &e), -1);
	CHECK(strstr(e.msg, "accessible by others") != NULL);
	unlink(path);
}
