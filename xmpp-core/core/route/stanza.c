/*
 * stanza — error and result helpers.  See stanza.h.
 */
#include "stanza.h"

#include <string.h>

#include "router.h"
#include "server.h"
#include "xml.h"

const char *
stanza_type(const struct xml_node *n)
{
	const char *t = xml_attr(n, "type");

	return t ? t : "";
}

int
stanza_jid(const struct xml_node *n, const char *attr, struct jid *out)
{
	const char *s = xml_attr(n, attr);

	if (s == NULL)
		return 0;
	return jid_parse(s, out) == 0 ? 1 : -1;
}

struct xml_node *
stanza_error(const struct xml_node *orig, const char *type, const char *cond,
    const char *text)
{
	struct xml_node *r, *e;
	const char *from = xml_attr(orig, "from"), *to = xml_attr(orig, "to");
	const char *id = xml_attr(orig, "id");

	if (strcmp(orig->name, "iq") == 0) {
		r = xml_new("iq", NS_CLIENT);
	} else {
		r = xml_copy(orig);
		xml_del_attr(r, "to");
		xml_del_attr(r, "from");
		xml_del_attr(r, "type");
	}
	if (r == NULL)
		return NULL;
	if (id)
		xml_set_attr(r, "id", id);
	if (from)
		xml_set_attr(r, "to", from);
	if (to)
		xml_set_attr(r, "from", to);
	xml_set_attr(r, "type", "error");
	e = xml_add(r, "error", NS_CLIENT);
	xml_set_attr(e, "type", type);
	xml_add(e, cond, NS_STANZAS);
	if (text) {
		struct xml_node *t = xml_add_with_text(e, "text", NS_STANZAS, text);

		if (t)
			xml_set_attr(t, XML_NS_LANG, "en");
	}
	return r;
}

struct xml_node *
stanza_iq_result(const struct xml_node *iq)
{
	struct xml_node *r = xml_new("iq", NS_CLIENT);
	const char *from = xml_attr(iq, "from"), *to = xml_attr(iq, "to");
	const char *id = xml_attr(iq, "id");

	if (r == NULL)
		return NULL;
	xml_set_attr(r, "type", "result");
	if (id)
		xml_set_attr(r, "id", id);
	if (from)
		xml_set_attr(r, "to", from);
	if (to)
		xml_set_attr(r, "from", to);
	return r;
}

void
stanza_bounce(const struct xml_node *orig, const char *type, const char *cond)
{
	struct xml_node *e;

	if (strcmp(stanza_type(orig), "error") == 0 ||
	    (strcmp(orig->name, "iq") == 0 && strcmp(stanza_type(orig), "result") == 0))
		return;
	if ((e = stanza_error(orig, type, cond, NULL)) != NULL)
		router_route(e);
}
