/* Unit tests for xmpp-core/services/upload.c (slot names, upload-gw MACs) and the
 * [upload] table of xmpp-core/services/svcconf.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"
#include "conf.h"
#include "svcconf.h"
#include "upload.h"

static const char *
enc_of(const char *in, char *dec)
{
	static char out[700];

	upload_name(in, out, sizeof(out), dec, 220);
	return out;
}

TEST(xmpp_upload_name)
{
	char dec[220], big[400];
	const char *e;

	CHECK_STR(enc_of("photo.jpg", dec), "photo.jpg");
	CHECK_STR(dec, "photo.jpg");
	CHECK_STR(enc_of("holiday photo \xc3\xa9t\xc3\xa9.jpg", dec),
	    "holiday%20photo%20%C3%A9t%C3%A9.jpg");
	CHECK_STR(dec, "holiday photo \xc3\xa9t\xc3\xa9.jpg");
	/* directories, traversal and controls never reach the path */
	CHECK_STR(enc_of("../../etc/passwd", dec), "passwd");
	CHECK_STR(enc_of("C:\\Users\\x\\a b.png", dec), "a%20b.png");
	CHECK_STR(enc_of("..", dec), "file");
	CHECK_STR(enc_of("dir/", dec), "file");
	CHECK_STR(enc_of("", dec), "file");
	CHECK_STR(enc_of("a\r\nb\x7f.txt", dec), "ab.txt");
	CHECK_STR(enc_of("100%?#&.txt", dec), "100%25%3F%23%26.txt");
	/* names upload-gw refuses to store: hidden ones, escapes */
	CHECK_STR(enc_of(".bashrc", dec), "_bashrc");
	CHECK_STR(dec, "_bashrc");
	CHECK_STR(enc_of("dir/.hidden.txt", dec), "_hidden.txt");
	CHECK_STR(enc_of("a%2e%2E%zz.txt", dec), "a_2e_2E%25zz.txt");
	CHECK_STR(dec, "a_2e_2E%zz.txt");
	/* long names keep their end (the extension) on a UTF-8 boundary */
	memset(big, 'a', sizeof(big));
	for (int i = 0; i < 190; i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	strcpy(big + 300, ".tar.gz");
	e = enc_of(big, dec);
	CHECK(strlen(dec) <= 200);
	CHECK(strcmp(dec + strlen(dec) - 7, ".tar.gz") == 0);
	CHECK(((unsigned char)dec[0] & 0xC0) != 0x80);
	CHECK(strchr(e, '/') == NULL);
}

TEST(xmpp_upload_mac_matches_upload_gw)
{
	char mac[65];

	/* vectors computed with Python's hmac, as test_upload_gw.py signs */
	CHECK_INT(upload_mac("sekrit", "abc/f.txt", 1234, NULL, mac), 0);
	CHECK_STR(mac, "a7aca33f0ac4527bddb16cde1c2dfa0edc7790c15c71662fb6ed40b7d96b6b6f");
	CHECK_INT(upload_mac("sekrit", "abc/f.txt", 1234, "text/plain", mac), 0);
	CHECK_STR(mac, "901a7f83ec0d3b319545a4db3737c96fe88c0c4893c96cb771fc2fd00d451704");
}

static char secret_path[64];

static void
write_secret(const char *value, mode_t mode)
{
	int fd;

	snprintf(secret_path, sizeof(secret_path), "/tmp/xmpp-upload-secret-XXXXXX");
	fd = mkstemp(secret_path);
	if (fd >= 0) {
		if (write(fd, value, strlen(value)) < 0)
			secret_path[0] = '\0';
		fchmod(fd, mode);
		close(fd);
	}
}

/* the parsed document the strings of the last load point into */
static struct conf_doc *doc;

static int
load(const char *fmt, struct svc_config *s, struct conf_err *e)
{
	char text[1024];
	struct conf_doc *d;
	int rc;

	snprintf(text, sizeof(text), fmt, secret_path);
	memset(s, 0, sizeof(*s));
	conf_free(doc);
	if ((doc = d = conf_parse_string("t.toml", text, 0, e)) == NULL)
		return -2;
	rc = svc_config_load(s, d->root, e);
	if (rc == 0)
		rc = conf_check_unused(d->root, e);
	return rc;
}

TEST(xmpp_upload_config)
{
	struct svc_config s;
	struct conf_err e;

	write_secret("s3cret\n", 0600);
	CHECK_INT(load("[upload]\nurl = \"https://up.example.org/upload\"\n"
	    "secret_file = \"%s\"\nmax_file_size = \"10M\"\n", &s, &e), 0);
	CHECK(s.upload);
	CHECK_STR(s.upload_url, "https://up.example.org/upload/");
	CHECK_STR(s.upload_secret, "s3cret");
	CHECK(s.upload_max == 10 * 1024 * 1024);
	CHECK(!s.upload_v2);
	CHECK(s.upload_service == NULL);
	svc_config_free(&s);

	CHECK_INT(load("[upload]\nurl = \"ftp://x/\"\nsecret_file = \"%s\"\n", &s, &e), -1);
	CHECK(strstr(e.msg, "url:") != NULL);
	CHECK(strstr(e.msg, "t.toml:") == e.msg);
	svc_config_free(&s);
	CHECK_INT(load("[upload]\nurl = \"https://x/\"\nsecret_file = \"%s\"\nmac = \"v3\"\n",
	    &s, &e), -1);
	CHECK(strstr(e.msg, "mac") != NULL);
	svc_config_free(&s);
	CHECK_INT(load("[upload]\nurl = \"https://x/\"\n", &s, &e), -1);
	CHECK(strstr(e.msg, "secret_file") != NULL);
	svc_config_free(&s);
	CHECK_INT(load("[upload]\nurl = \"https://x/\"\nsecret_file = \"%s\"\nservice = \"Up.X\"\n",
	    &s, &e), -1);
	svc_config_free(&s);
	CHECK_INT(load("[upload]\nurl = \"https://x/\"\nsecret_file = \"%s\"\ntypo = 1\n",
	    &s, &e), -1);
	svc_config_free(&s);
	unlink(secret_path);
	/* a secret others can read is refused */
	write_secret("s3cret\n", 0644);
	CHECK_INT(load("[upload]\nurl = \"https://x/\"\nsecret_file = \"%s\"\n", &s, &e), -1);
	svc_config_free(&s);
	unlink(secret_path);
	conf_free(doc);
	doc = NULL;
}
