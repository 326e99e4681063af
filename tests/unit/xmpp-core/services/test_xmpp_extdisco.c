/* Unit tests for xmpp-core/services/extdisco.c (TURN REST credentials) and the
 * [extdisco] table of xmpp-core/services/svcconf.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"
#include "conf.h"
#include "extdisco.h"
#include "svcconf.h"

TEST(xmpp_extdisco_credential)
{
	char user[128], pass[64];

	/* vector computed with Python's hmac, as test_turnd_stun.py does */
	CHECK_INT(extdisco_credential("turnsecret", "alice@localhost", 1700000000,
	    user, sizeof(user), pass, sizeof(pass)), 0);
	CHECK_STR(user, "1700000000:alice@localhost");
	CHECK_STR(pass, "h8bImAvErMAk+K10l2LAOVLgxa4=");
	CHECK_INT(extdisco_credential("turnsecret", "alice@localhost", 1700000000,
	    user, 12, pass, sizeof(pass)), -1);
	CHECK_INT(extdisco_credential("turnsecret", "alice@localhost", 1700000000,
	    user, sizeof(user), pass, 10), -1);
}

/* the parsed document the strings of the last load point into */
static struct conf_doc *doc;

static int
load(const char *text, struct svc_config *s, struct conf_err *e)
{
	struct conf_doc *d;
	int rc;

	memset(s, 0, sizeof(*s));
	conf_free(doc);
	if ((doc = d = conf_parse_string("t.toml", text, 0, e)) == NULL)
		return -2;
	rc = svc_config_load(s, d->root, e);
	if (rc == 0)
		rc = conf_check_unused(d->root, e);
	return rc;
}

TEST(xmpp_extdisco_config)
{
	char path[64], text[1024];
	struct svc_config s;
	struct conf_err e;
	int fd;

	snprintf(path, sizeof(path), "/tmp/xmpp-turn-secret-XXXXXX");
	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, "t\n", 2) == 2);
	fchmod(fd, 0600);
	close(fd);
	snprintf(text, sizeof(text), "[extdisco]\nsecret_file = \"%s\"\nttl = \"12h\"\n"
	    "[[extdisco.service]]\ntype = \"stun\"\nhost = \"localhost\"\n"
	    "[[extdisco.service]]\ntype = \"turns\"\nhost = \"turn.example.org\"\n"
	    "port = 443\ntransport = \"tcp\"\nname = \"relay\"\n", path);
	CHECK_INT(load(text, &s, &e), 0);
	CHECK_INT((int)s.nservices, 2);
	CHECK(s.turn_ttl == 12 * 3600);
	CHECK_STR(s.turn_secret, "t");
	CHECK_INT((int)s.services[0].port, 3478);
	CHECK(!s.services[0].restricted);
	CHECK_INT((int)s.services[1].port, 443);
	CHECK(s.services[1].restricted);
	CHECK_STR(s.services[1].transport, "tcp");
	svc_config_free(&s);
	unlink(path);

	/* TURN without a secret cannot hand out credentials */
	CHECK_INT(load("[extdisco]\n[[extdisco.service]]\ntype = \"turn\"\nhost = \"h\"\n",
	    &s, &e), -1);
	CHECK(strstr(e.msg, "secret_file") != NULL);
	svc_config_free(&s);
	/* ... unless it is declared unrestricted */
	CHECK_INT(load("[extdisco]\n[[extdisco.service]]\ntype = \"turn\"\nhost = \"h\"\n"
	    "restricted = false\n", &s, &e), 0);
	svc_config_free(&s);
	CHECK_INT(load("[extdisco]\n[[extdisco.service]]\ntype = \"ftp\"\nhost = \"h\"\n",
	    &s, &e), -1);
	CHECK(strstr(e.msg, "type: one of stun") != NULL);
	svc_config_free(&s);
	CHECK_INT(load("[extdisco]\n[[extdisco.service]]\ntype = \"stun\"\nhost = \"a b\"\n",
	    &s, &e), -1);
	svc_config_free(&s);
	CHECK_INT(load("[extdisco]\n[[extdisco.service]]\ntype = \"stun\"\nhost = \"h\"\n"
	    "transport = \"sctp\"\n", &s, &e), -1);
	svc_config_free(&s);
	CHECK_INT(load("[extdisco]\nttl = 5\n", &s, &e), -1);
	svc_config_free(&s);
	conf_free(doc);
	doc = NULL;
}
