/* Unit tests for the pure parts of xmpp-core's push notifications
 * (XEP-0357): what a stanza is worth notifying, body truncation, the
 * publish-options form, the publish IQ with its summary, and [push]. */
#include <stdlib.h>

#include "t.h"
#include "conf.h"
#include "buf.h"
#include "fragment.h"
#include "push.h"
#include "pushconf.h"
#include "server.h"
#include "xml.h"

static struct xml_node *
tree(const char *text)
{
	return fragment_parse(text, strlen(text), NS_CLIENT);
}

/* push_classify on text: the kind; sender and body into out params. */
static enum push_kind
kind_of(const char *text, char *sender, char **body)
{
	struct xml_node *n = tree(text);
	enum push_kind k;

	if (n == NULL)
		return (enum push_kind)-1;
	k = push_classify(n, sender, body);
	xml_free(n);
	return k;
}

TEST(xmpp_push_classify)
{
	char sender[JID_STR_MAX + 1], *body;

	CHECK_INT(kind_of("<message from='Juliet@Capulet.example/balcony' type='chat'>"
	    "<body>Wherefore art thou?</body></message>", sender, &body), PUSH_MESSAGE);
	CHECK_STR(sender, "juliet@capulet.example");
	CHECK_STR(body, "Wherefore art thou?");
	free(body);
	/* normal (no type) counts; an empty body does not */
	CHECK_INT(kind_of("<message from='a@b'><body>x</body></message>", sender, &body),
	    PUSH_MESSAGE);
	free(body);
	CHECK_INT(kind_of("<message from='a@b'><body/></message>", sender, &body), PUSH_NONE);
	CHECK(body == NULL);
	/* chat states, receipts, markers: nothing to wake a phone for */
	CHECK_INT(kind_of("<message from='a@b' type='chat'><composing "
	    "xmlns='http://jabber.org/protocol/chatstates'/></message>", sender, &body), PUSH_NONE);
	CHECK_INT(kind_of("<message from='a@b'><received xmlns='urn:xmpp:receipts' id='1'/>"
	    "</message>", sender, &body), PUSH_NONE);
	/* errors and headlines never */
	CHECK_INT(kind_of("<message from='a@b' type='error'><body>x</body></message>",
	    sender, &body), PUSH_NONE);
	CHECK_INT(kind_of("<message from='a@b' type='headline'><body>x</body></message>",
	    sender, &body), PUSH_NONE);
	/* OMEMO with a payload counts, without a body; key transport does not */
	CHECK_INT(kind_of("<message from='a@b/c' type='chat'><encrypted "
	    "xmlns='eu.siacs.conversations.axolotl'><header sid='1'/><payload>AA==</payload>"
	    "</encrypted></message>", sender, &body), PUSH_MESSAGE);
	CHECK(body == NULL);
	CHECK_STR(sender, "a@b");
	CHECK_INT(kind_of("<message from='a@b/c' type='chat'><encrypted "
	    "xmlns='eu.siacs.conversations.axolotl'><header sid='1'/></encrypted></message>",
	    sender, &body), PUSH_NONE);
	CHECK_INT(kind_of("<message from='a@b'><openpgp xmlns='urn:xmpp:openpgp:0'>AA"
	    "</openpgp></message>", sender, &body), PUSH_MESSAGE);
	/* a call proposal (XEP-0353) */
	CHECK_INT(kind_of("<message from='a@b/c'><propose xmlns='urn:xmpp:jingle-message:0' "
	    "id='x'/></message>", sender, &body), PUSH_MESSAGE);
	/* carbons: a received copy counts with the original sender, a sent one not */
	CHECK_INT(kind_of("<message from='me@h' to='me@h/phone'><received "
	    "xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message "
	    "xmlns='jabber:client' from='romeo@m/x' type='chat'><body>hi</body></message>"
	    "</forwarded></received></message>", sender, &body), PUSH_MESSAGE);
	CHECK_STR(sender, "romeo@m");
	CHECK_STR(body, "hi");
	free(body);
	CHECK_INT(kind_of("<message from='me@h' to='me@h/phone'><sent "
	    "xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message "
	    "xmlns='jabber:client' to='romeo@m' type='chat'><body>hi</body></message>"
	    "</forwarded></sent></message>", sender, &body), PUSH_NONE);
	/* presence: only subscription requests */
	CHECK_INT(kind_of("<presence from='a@b' type='subscribe'/>", sender, &body),
	    PUSH_SUBSCRIBE);
	CHECK_INT(kind_of("<presence from='a@b/c'/>", sender, &body), PUSH_NONE);
	CHECK_INT(kind_of("<presence from='a@b' type='subscribed'/>", sender, &body), PUSH_NONE);
	CHECK_INT(kind_of("<iq from='a@b/c' type='set' id='1'><query xmlns='jabber:iq:roster'/>"
	    "</iq>", sender, &body), PUSH_NONE);
}

TEST(xmpp_push_classify_raw)
{
	static const char *const yes[] = {
		"<message from='a@b' type='chat'><body>x</body></message>",
		"<presence from='a@b' type='subscribe'/>",
	};
	static const char *const no[] = {
		"<message from='a@b' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
		"<presence from='a@b/r'><status>subscribe'</status></presence>",
		"<presence from='a@b' type='unsubscribe'/>",
		"<iq type='get' id='1'/>",
		"<message",	/* does not parse */
	};
	char sender[JID_STR_MAX + 1], *body;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		CHECK(push_classify_raw(yes[i], strlen(yes[i]), sender, &body) != PUSH_NONE);
		free(body);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		CHECK(push_classify_raw(no[i], strlen(no[i]), sender, &body) == PUSH_NONE);
		CHECK(body == NULL);
	}
}

TEST(xmpp_push_truncate)
{
	char s[32];

	strcpy(s, "short");
	push_truncate(s, 10);
	CHECK_STR(s, "short");
	strcpy(s, "abcdef");
	push_truncate(s, 3);
	CHECK_STR(s, "abc");
	/* "é" is two bytes: never cut inside it */
	strcpy(s, "a\xc3\xa9\xc3\xa9");
	push_truncate(s, 2);
	CHECK_STR(s, "a");
	strcpy(s, "a\xc3\xa9\xc3\xa9");
	push_truncate(s, 3);
	CHECK_STR(s, "a\xc3\xa9");
	/* a four-byte sequence */
	strcpy(s, "\xf0\x9f\x98\x80z");
	push_truncate(s, 3);
	CHECK_STR(s, "");
}

TEST(xmpp_push_form)
{
	struct xml_node *x;
	struct buf b;

	x = tree("<x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>"
	    "http://jabber.org/protocol/pubsub#publish-options</value></field>"
	    "<field var='secret'><value>s</value></field></x>");
	CHECK(x != NULL);
	CHECK_INT(push_form_check(x), 0);
	buf_init(&b);
	CHECK_INT(push_form_text(x, &b), 0);
	/* stored (and sent) as a submitted form */
	CHECK_STR(b.p, "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"
	    "http://jabber.org/protocol/pubsub#publish-options</value></field>"
	    "<field var='secret'><value>s</value></field></x>");
	buf_free(&b);
	xml_free(x);
	x = tree("<x xmlns='jabber:x:data'><field var='secret'><value>s</value></field></x>");
	CHECK_INT(push_form_check(x), 0);
	xml_free(x);
	x = tree("<x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>urn:other</value>"
	    "</field></x>");
	CHECK_INT(push_form_check(x), -1);
	xml_free(x);
	x = tree("<x xmlns='jabber:x:data'><field var='FORM_TYPE'/></x>");
	CHECK_INT(push_form_check(x), -1);
	xml_free(x);
	x = tree("<y xmlns='jabber:x:data'/>");
	CHECK_INT(push_form_check(x), -1);
	xml_free(x);
}

TEST(xmpp_push_notification)
{
	struct push_summary s = { 3, 0, "juliet@capulet.example", NULL };
	struct xml_node *iq, *form;
	struct buf b;

	/* XEP-0357 §7, Example 11 (with our type='submit' and hidden FORM_TYPE) */
	form = tree("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"
	    "http://jabber.org/protocol/pubsub#publish-options</value></field>"
	    "<field var='secret'><value>eruio234vzxc2kla-91</value></field></x>");
	iq = push_notification("user@example.com", "push-5.client.example", "n12",
	    "yxs32uqsflafdk3iuqo", &s, form);
	CHECK(iq != NULL);
	buf_init(&b);
	CHECK_INT(xml_serialize(&b, iq, NS_CLIENT), 0);
	CHECK_STR(b.p, "<iq type='set' from='user@example.com' to='push-5.client.example' "
	    "id='n12'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
	    "<publish node='yxs32uqsflafdk3iuqo'><item><notification xmlns='urn:xmpp:push:0'>"
	    "<x xmlns='jabber:x:data' type='submit'>"
	    "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:push:summary</value></field>"
	    "<field var='message-count'><value>3</value></field>"
	    "<field var='last-message-sender'><value>juliet@capulet.example</value></field>"
	    "</x></notification></item></publish><publish-options>"
	    "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>"
	    "http://jabber.org/protocol/pubsub#publish-options</value></field>"
	    "<field var='secret'><value>eruio234vzxc2kla-91</value></field></x>"
	    "</publish-options></pubsub></iq>");
	buf_free(&b);
	xml_free(iq);
	xml_free(form);
	/* no form, a subscription count, a body, no sender */
	s = (struct push_summary){ 0, 2, NULL, "a <b> & c" };
	iq = push_notification("u@h", "app.example", "i", "n", &s, NULL);
	buf_init(&b);
	CHECK_INT(xml_serialize(&b, iq, NS_CLIENT), 0);
	CHECK(strstr(b.p, "<field var='message-count'><value>0</value></field>"
	    "<field var='pending-subscription-count'><value>2</value></field>"
	    "<field var='last-message-body'><value>a &lt;b&gt; &amp; c</value></field></x>") != NULL);
	CHECK(strstr(b.p, "publish-options") == NULL);
	CHECK(strstr(b.p, "last-message-sender") == NULL);
	buf_free(&b);
	xml_free(iq);
}

static struct conf_doc *doc;

static int
load(const char *text, struct push_config *p, struct conf_err *e)
{
	int rc;

	conf_free(doc);
	if ((doc = conf_parse_string("t.toml", text, 0, e)) == NULL)
		return -2;
	rc = push_config_load(p, doc->root, e);
	if (rc == 0)
		rc = conf_check_unused(doc->root, e);
	return rc;
}

TEST(xmpp_push_config)
{
	static const char *const bad[] = {
		"[push]\ninclude_body = 3\n",
		"[push]\ninclude_body = \"\"\n",
		"[push]\nmax_registrations = 0\n",
		"[push]\nmax_registrations = 101\n",
		"[push]\nmax_form_size = 100\n",
		"[push]\nmax_form_size = \"1M\"\n",
		"[push]\nmin_interval = \"2h\"\n",
		"[push]\ntimeout = 0\n",
		"[push]\nresume_timeout = \"31d\"\n",
		"[push]\nwake_before = 0\n",
		"[push]\nmax_in_flight = 0\n",
		"[push]\ntypo = 1\n",
	};
	struct push_config p;
	struct conf_err e;

	/* defaults: ejabberd's mod_push / mod_push_keepalive where they apply */
	CHECK_INT(load("", &p, &e), 0);
	CHECK(p.enabled);
	CHECK(!p.include_sender && !p.include_body && p.body_text == NULL);
	CHECK_INT(p.max_regs, 10);
	CHECK_INT(p.max_form, 4096);
	CHECK_INT(p.interval_ms, 5000);
	CHECK_INT(p.timeout_ms, 30000);
	CHECK_INT(p.max_in_flight, 1000);
	CHECK_INT(p.keep_ms, 72ULL * 3600 * 1000);
	CHECK(p.wake);
	CHECK_INT(p.wake_before_ms, 120000);

	CHECK_INT(load("[push]\nenabled = false\ninclude_sender = true\ninclude_body = true\n"
	    "max_registrations = 3\nmax_form_size = \"8K\"\nmin_interval = 0\ntimeout = \"10s\"\n"
	    "max_in_flight = 5\nresume_timeout = \"1h\"\nwake_on_timeout = false\n"
	    "wake_before = \"5m\"\n", &p, &e), 0);
	CHECK(!p.enabled && p.include_sender && p.include_body && !p.wake);
	CHECK_INT(p.max_regs, 3);
	CHECK_INT(p.max_form, 8192);
	CHECK_INT(p.interval_ms, 0);
	CHECK_INT(p.timeout_ms, 10000);
	CHECK_INT(p.max_in_flight, 5);
	CHECK_INT(p.keep_ms, 3600000);
	CHECK_INT(p.wake_before_ms, 300000);

	CHECK_INT(load("[push]\ninclude_body = \"New message\"\n", &p, &e), 0);
	CHECK(!p.include_body);
	CHECK_STR(p.body_text, "New message");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(load(bad[i], &p, &e), -1);
		CHECK(strstr(e.msg, "t.toml:") == e.msg);
	}
	conf_free(doc);
	doc = NULL;
}
