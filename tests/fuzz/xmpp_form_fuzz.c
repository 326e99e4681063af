/*
 * libFuzzer target: data forms from clients (XEP-0004) as xmpp-core's
 * PubSub and push take them: the bytes as a form (<x xmlns='jabber:x:data'/>,
 * and any <x/> inside it) through the restricted parser, then each through ps_form_type, ps_config_apply (node_config and
 * publish-options, xmpp-core/pubsub/pubsubnode.c) and push_form_check /
 * push_form_text (xmpp-core/push/pushsum.c).  Invariants: a configuration
 * survives its stored text form unchanged; the stored text of an
 * accepted publish-options form is itself accepted; the node_config
 * form of any configuration applies back to the same configuration.
 */
#include "buf.h"
#include "fragment.h"
#include "pubsub.h"
#include "push.h"
#include "server.h"
#include "xml.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void
roundtrip(const struct ps_config *c, bool pep, const char *node)
{
	struct ps_config back, again;
	struct xml_node *form;
	const char *bad = NULL;
	struct buf b;

	buf_init(&b);
	if (ps_config_encode(c, &b) == -1)
		abort();
	ps_config_decode(b.p ? b.p : "", pep, node, &back);
	if (!ps_config_equal(c, &back))
		abort();
	buf_free(&b);
	/* the form we would show applies back to what it shows */
	if ((form = ps_config_form(c, "form")) == NULL)
		return;
	again = *c;
	if (ps_config_apply(&again, form, 1000000, &bad) != 0 || !ps_config_equal(c, &again))
		abort();
	xml_free(form);
}

static void
one_form(const struct xml_node *x)
{
	struct ps_config c;
	const char *bad = NULL, *node = "urn:xmpp:microblog:0";
	struct xml_node *t;
	struct buf b;

	(void)ps_form_type(x);
	for (int pep = 0; pep < 2; pep++) {
		ps_config_default(&c, pep, node);
		if (ps_config_apply(&c, x, 1000, &bad) == 0) {
			ps_config_force(&c, pep, node);
			roundtrip(&c, pep, node);
		}
	}
	if (push_form_check(x) != 0)
		return;
	buf_init(&b);
	if (push_form_text(x, &b) == 0) {
		if ((t = fragment_parse(b.p, b.len, NS_CLIENT)) == NULL || push_form_check(t) != 0)
			abort();
		xml_free(t);
	}
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct xml_node *n;

	if (size > 65536)
		return 0;
	if ((n = fragment_parse((const char *)data, size, "jabber:x:data")) == NULL)
		return 0;
	if (strcmp(n->name, "x") == 0)
		one_form(n);
	for (struct xml_node *e = xml_first_elem(n); e; e = xml_next_elem(e))
		if (strcmp(e->name, "x") == 0)
			one_form(e);
	xml_free(n);
	return 0;
}
