/* Unit tests for xmpp-core's PubSub node configuration (pubsubnode.c) and
 * the XEP-0115 verification string of the caps cache (caps.c). */
#include <string.h>

#include "conf.h"
#include "t.h"
#include "buf.h"
#include "caps.h"
#include "capsver.h"
#include "config.h"
#include "fragment.h"
#include "pubsub.h"
#include "pubsubconf.h"
#include "pubsubsvc.h"
#include "server.h"
#include "xml.h"

static struct xml_node *
parse(const char *s)
{
	return fragment_parse(s, strlen(s), "jabber:client");
}

TEST(xmpp_pubsub_defaults_and_forced)
{
	struct ps_config c;

	ps_config_default(&c, true, "urn:xmpp:avatar:data");
	CHECK_INT(c.access, PS_ACCESS_PRESENCE);
	CHECK_INT(c.max_items, 1);
	CHECK_INT(c.send_last, PS_SENDLAST_ON_SUB_AND_PRESENCE);
	ps_config_default(&c, true, "eu.siacs.conversations.axolotl.devicelist");
	CHECK_INT(c.access, PS_ACCESS_OPEN);
	ps_config_default(&c, true, "storage:bookmarks");
	CHECK_INT(c.access, PS_ACCESS_WHITELIST);
	/* forced whatever is stored */
	ps_config_decode("access_model=presence\n", true,
	    "eu.siacs.conversations.axolotl.bundles:1", &c);
	CHECK_INT(c.access, PS_ACCESS_OPEN);
	/* the pubsub service forces nothing */
	ps_config_default(&c, false, "storage:bookmarks");
	CHECK_INT(c.access, PS_ACCESS_OPEN);
	CHECK_INT(c.send_last, PS_SENDLAST_NEVER);
}

TEST(xmpp_pubsub_config_round_trip)
{
	struct ps_config a, b;
	struct buf t;

	ps_config_default(&a, true, "n");
	a.access = PS_ACCESS_WHITELIST;
	a.max_items = 42;
	a.persist = false;
	a.notify_retract = false;
	strcpy(a.title, "My = title");
	buf_init(&t);
	CHECK_INT(ps_config_encode(&a, &t), 0);
	ps_config_decode(t.p, true, "n", &b);
	buf_free(&t);
	CHECK(ps_config_equal(&a, &b));
	/* unknown and broken lines are ignored, the rest is defaults */
	ps_config_decode("junk\nmax_items=x\nfuture_key=1\n", true, "n", &b);
	ps_config_default(&a, true, "n");
	CHECK(ps_config_equal(&a, &b));
}

TEST(xmpp_pubsub_publish_options)
{
	struct ps_config cur, want;
	const char *bad = NULL;
	struct xml_node *x = parse("<x xmlns='jabber:x:data' type='submit'>"
	    "<field var='FORM_TYPE' type='hidden'><value>"
	    "http://jabber.org/protocol/pubsub#publish-options</value></field>"
	    "<field var='pubsub#access_model'><value>open</value></field>"
	    "<field var='pubsub#max_items'><value>max</value></field>"
	    "<field var='pubsub#persist_items'><value>true</value></field>"
	    "<field var='urn:example:other'><value>x</value></field></x>");

	CHECK(x != NULL);
	CHECK_STR(ps_form_type(x), "http://jabber.org/protocol/pubsub#publish-options");
	ps_config_default(&cur, true, "n");
	want = cur;
	CHECK_INT(ps_config_apply(&want, x, 256, &bad), 0);
	CHECK_INT(want.access, PS_ACCESS_OPEN);
	CHECK_INT(want.max_items, 256);
	CHECK(!ps_config_equal(&want, &cur));	/* precondition not met */
	cur.access = PS_ACCESS_OPEN;
	cur.max_items = 256;
	want = cur;
	CHECK_INT(ps_config_apply(&want, x, 256, &bad), 0);
	CHECK(ps_config_equal(&want, &cur));	/* met */
	xml_free(x);
	x = parse("<x xmlns='jabber:x:data' type='submit'>"
	    "<field var='pubsub#max_items'><value>257</value></field></x>");
	CHECK_INT(ps_config_apply(&want, x, 256, &bad), -1);
	CHECK_STR(bad, "pubsub#max_items");
	xml_free(x);
	x = parse("<x xmlns='jabber:x:data' type='submit'>"
	    "<field var='pubsub#access_model'><value>roster-ish</value></field></x>");
	CHECK_INT(ps_config_apply(&want, x, 256, &bad), -1);
	xml_free(x);
}

TEST(xmpp_pubsub_names)
{
	CHECK(ps_name_valid("urn:xmpp:bookmarks:1", PS_NODE_MAX));
	CHECK(!ps_name_valid("", PS_NODE_MAX));
	CHECK(!ps_name_valid("a\nb", PS_NODE_MAX));
	CHECK(!ps_name_valid("abc", 2));
}

/* XEP-0115 §5.2 and §5.3 examples */
TEST(xmpp_caps_ver_vectors)
{
	char ver[64];
	struct xml_node *q = parse("<query xmlns='http://jabber.org/protocol/disco#info'>"
	    "<identity category='client' name='Exodus 0.9.1' type='pc'/>"
	    "<feature var='http://jabber.org/protocol/disco#items'/>"
	    "<feature var='http://jabber.org/protocol/caps'/>"
	    "<feature var='http://jabber.org/protocol/disco#info'/>"
	    "<feature var='http://jabber.org/protocol/muc'/></query>");

	CHECK(q != NULL);
	CHECK_INT(capsver(q, "sha-1", ver, sizeof(ver)), 0);
	CHECK_STR(ver, "QgayPKawpkPSDYmwT/WM94uAlu0=");
	CHECK_INT(capsver(q, "md5", ver, sizeof(ver)), -1);
	xml_free(q);
	q = parse("<query xmlns='http://jabber.org/protocol/disco#info'>"
	    "<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>"
	    "<identity xml:lang='el' category='client' name='&#936; 0.11' type='pc'/>"
	    "<feature var='http://jabber.org/protocol/caps'/>"
	    "<feature var='http://jabber.org/protocol/disco#info'/>"
	    "<feature var='http://jabber.org/protocol/disco#items'/>"
	    "<feature var='http://jabber.org/protocol/muc'/>"
	    "<x xmlns='jabber:x:data' type='result'>"
	    "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>"
	    "<field var='ip_version'><value>ipv4</value><value>ipv6</value></field>"
	    "<field var='os'><value>Mac</value></field>"
	    "<field var='os_version'><value>10.5.1</value></field>"
	    "<field var='software'><value>Psi</value></field>"
	    "<field var='software_version'><value>0.11</value></field></x></query>");
	CHECK(q != NULL);
	CHECK_INT(capsver(q, "sha-1", ver, sizeof(ver)), 0);
	CHECK_STR(ver, "q07IKJEyjvHSyhy//CH0CxmKi8w=");
	xml_free(q);
	/* §5.4: a duplicate feature makes it unusable */
	q = parse("<query xmlns='http://jabber.org/protocol/disco#info'>"
	    "<feature var='a'/><feature var='a'/></query>");
	CHECK_INT(capsver(q, "sha-1", ver, sizeof(ver)), -1);
	xml_free(q);
}

/* Node creation on pubsub.<host>: this server's accounts only (no s2s
 * peer is there to test a remote one end to end). */
TEST(xmpp_pubsub_service_creation_rule)
{
	struct xmpp_config cfg;
	struct xmpp_config *saved = srv.cfg;
	char *hosts[] = { "example.org", "other.example" };

	memset(&cfg, 0, sizeof(cfg));
	cfg.hosts = hosts;
	cfg.nhosts = 2;
	srv.cfg = &cfg;
	CHECK(pubsubsvc_may_create("alice@example.org"));
	CHECK(pubsubsvc_may_create("bob@other.example"));
	CHECK(!pubsubsvc_may_create("mallory@remote.example"));
	CHECK(!pubsubsvc_may_create("example.org"));
	CHECK(!pubsubsvc_may_create("@example.org"));
	srv.cfg = saved;
}

static int
load_pubsub(const char *text, struct pubsub_config *p, struct conf_err *e)
{
	struct conf_doc *d = conf_parse_string("t.toml", text, 0, e);
	int rc;

	if (d == NULL)
		return -1;
	rc = pubsub_config_load(p, d->root, e);
	conf_free(d);
	return rc;
}

TEST(xmpp_pubsub_config_keys)
{
	struct pubsub_config p;
	struct conf_err e;

	CHECK_INT(load_pubsub("", &p, &e), 0);
	CHECK_INT(p.max_nodes, 100);
	CHECK_INT(p.max_items, 256);
	CHECK_INT(p.max_item_size, 128 * 1024);
	CHECK(p.service);
	CHECK_INT(load_pubsub("[pubsub]\nmax_nodes = 5\nmax_item_size = \"4K\"\n"
	    "service = false\n", &p, &e), 0);
	CHECK_INT(p.max_nodes, 5);
	CHECK_INT(p.max_item_size, 4096);
	CHECK(!p.service);
	CHECK_INT(load_pubsub("[pubsub]\nmax_nodes = 0\n", &p, &e), -1);
	CHECK_INT(load_pubsub("[pubsub]\nmax_item_size = \"100\"\n", &p, &e), -1);
	CHECK(strstr(e.msg, "max_item_size") != NULL);
	CHECK_INT(load_pubsub("[pubsub]\nservice_jid = \"Bad Domain\"\n", &p, &e), -1);
}
