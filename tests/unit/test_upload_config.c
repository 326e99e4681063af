/* Unit tests for upload-gw/config.c: Filer's keys and edge's extras. */
#include "t.h"
#include "../../upload-gw/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static struct upload_config *
load(const char *text, struct conf_err *e)
{
	char path[] = "/tmp/upload-conf-XXXXXX";
	int fd = mkstemp(path);
	struct upload_config *c;

	if (fd < 0)
		return NULL;
	if (write(fd, text, strlen(text)) < 0) {
		close(fd);
		unlink(path);
		return NULL;
	}
	close(fd);
	c = upload_config_load(path, e);
	unlink(path);
	return c;
}

TEST(upload_config_prefix)
{
	char *p;

	CHECK_INT(upload_config_prefix("upload/", &p), 0);
	CHECK_STR(p, "/upload/");
	free(p);
	CHECK_INT(upload_config_prefix("/a//b/", &p), 0);
	CHECK_STR(p, "/a/b/");
	free(p);
	CHECK_INT(upload_config_prefix("", &p), 0);
	CHECK_STR(p, "/");
	free(p);
	CHECK_INT(upload_config_prefix("../x", &p), -1);
	CHECK_INT(upload_config_prefix("a b", &p), -1);
	CHECK_INT(upload_config_prefix("a%2f", &p), -1);
}

TEST(upload_config_filer_keys)
{
	struct conf_err e;
	struct upload_config *c = load(
	    "listenport = \"[::]:5050\"\n"
	    "Secret = \"mysecret\"\n"
	    "storedir = \"./upload/\"\n"
	    "UPLOADSUBDIR = \"upload/\"\n", &e);

	CHECK(c != NULL);
	CHECK_INT(c->nlisten, 1);
	CHECK(c->listen[0].dualstack);
	CHECK_STR(c->secret, "mysecret");
	CHECK_STR(c->store_dir, "./upload/");
	CHECK_STR(c->prefix, "/upload/");
	CHECK_INT(c->max_file_size, 100 << 20);
	CHECK_INT(c->expire_after, 0);
	CHECK(c->fsync);
	upload_config_free(c);
}

TEST(upload_config_extras)
{
	struct conf_err e;
	struct upload_config *c = load(
	    "listenport = \"localhost:5050\"\n"
	    "secret = \"x\"\n"
	    "storeDir = \"/s\"\n"
	    "max_file_size = \"1G\"\n"
	    "expire_after = \"30d\"\n"
	    "expire_interval = \"10m\"\n"
	    "threads = 3\n"
	    "socket_mode = \"0600\"\n", &e);

	CHECK(c != NULL);
	CHECK_INT(c->nlisten, 2);	/* localhost: both loopbacks */
	CHECK_INT(c->listen[0].family, AF_INET);
	CHECK_INT(c->listen[1].family, AF_INET6);
	CHECK_STR(c->prefix, "/");
	CHECK_INT(c->max_file_size, 1ULL << 30);
	CHECK_INT(c->expire_after, 30 * 86400);
	CHECK_INT(c->expire_interval, 600);
	CHECK_INT(c->threads, 3);
	CHECK_INT(c->socket_mode, 0600);
	upload_config_free(c);

	c = load("listenport = 5050\nsecret = \"x\"\nstoreDir = \"/s\"\n", &e);
	CHECK(c != NULL);
	CHECK(c->listen[0].dualstack);
	upload_config_free(c);
	c = load("listenport = \"/run/f.sock\"\nUnixSocket = true\nsecret = \"x\"\n"
	    "storeDir = \"/s\"\n", &e);
	CHECK(c != NULL);
	CHECK_INT(c->listen[0].family, AF_UNIX);
	CHECK_STR(c->listen[0].u.sun.sun_path, "/run/f.sock");
	upload_config_free(c);
}

TEST(upload_config_errors)
{
	struct conf_err e;

	CHECK(load("secret = \"x\"\nstoreDir = \"/s\"\nsecret_file = \"/nonexistent\"\n",
	    &e) == NULL);
	CHECK(strstr(e.msg, ":3: secret_file:") != NULL);
	CHECK(load("secret = \"\"\nstoreDir = \"/s\"\n", &e) == NULL);
	CHECK(strstr(e.msg, ":1: secret: must not be empty") != NULL);
	CHECK(load("secret = \"x\"\nstoreDir = \"/s\"\nlistenport = 70000\n", &e) == NULL);
	CHECK(strstr(e.msg, ":3: listenport:") != NULL);
	CHECK(load("secret = \"x\"\nstoreDir = \"/s\"\nlisten = []\n", &e) == NULL);
	CHECK(strstr(e.msg, ":3: listen:") != NULL);
	CHECK(load("secret = \"x\"\nstoreDir = \"/s\"\nsocket_mode = \"999\"\n", &e) == NULL);
	CHECK(strstr(e.msg, ":3: socket_mode:") != NULL);
	CHECK(load("secret = \"x\"\nstoreDir = \"/s\"\nexpire_interval = 0\n", &e) == NULL);
	CHECK(strstr(e.msg, ":3: expire_interval:") != NULL);
	CHECK(load("secret = \"x\"\nstoreDir = \"/s\"\nlog_level = \"loud\"\n", &e) == NULL);
	CHECK(strstr(e.msg, ":3: log_level:") != NULL);
}

TEST(upload_config_exposure_defaults)
{
	struct conf_err e;
	struct upload_config *c;

	/* Filer's usual [::]:5050 is reachable from anywhere: limits on. */
	c = load("listenport = \"[::]:5050\"\nsecret = \"s\"\nstoreDir = \"x\"\n", &e);
	CHECK(c != NULL);
	CHECK(upload_config_exposed(c));
	CHECK_INT(c->max_connections_per_ip, UPLOAD_PER_IP_EXPOSED);
	CHECK_INT(c->header_timeout, 10);
	CHECK_INT(c->nexempt, 2);
	upload_config_free(c);
	/* Loopback and unix sockets only (behind nginx): no per-client limit. */
	c = load("listen = [\"127.0.0.1:5050\", \"[::1]:5050\", \"unix:/tmp/u.sock\"]\n"
	    "secret = \"s\"\nstoreDir = \"x\"\nconnection_timeout = \"5s\"\n", &e);
	CHECK(c != NULL);
	CHECK(!upload_config_exposed(c));
	CHECK_INT(c->max_connections_per_ip, 0);
	CHECK_INT(c->header_timeout, 5);	/* never above connection_timeout */
	upload_config_free(c);
	c = load("listen = [\"127.0.0.1:5050\", \"192.0.2.1:5050\"]\nsecret = \"s\"\n"
	    "storeDir = \"x\"\nmax_connections_per_ip = 0\nheader_timeout = \"3s\"\n"
	    "per_ip_exempt = [\"2001:db8::/32\"]\n", &e);
	CHECK(c != NULL);
	CHECK(upload_config_exposed(c));
	CHECK_INT(c->max_connections_per_ip, 0);
	CHECK_INT(c->header_timeout, 3);
	CHECK_INT(c->nexempt, 1);
	upload_config_free(c);
}

TEST(upload_config_connection_key_errors)
{
	struct conf_err e;

	CHECK(load("secret = \"s\"\nstoreDir = \"x\"\nheader_timeout = \"2m\"\n", &e) == NULL);
	CHECK(strstr(e.msg, "header_timeout: must not exceed connection_timeout (60s)") != NULL);
	CHECK(load("secret = \"s\"\nstoreDir = \"x\"\nheader_timeout = 0\n", &e) == NULL);
	CHECK(strstr(e.msg, "header_timeout") != NULL);
	CHECK(load("secret = \"s\"\nstoreDir = \"x\"\nper_ip_exempt = [\"nginx\"]\n", &e) == NULL);
	CHECK(strstr(e.msg, ":3: per_ip_exempt: \"nginx\": expected an address") != NULL);
}
