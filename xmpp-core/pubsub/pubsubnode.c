/*
 * pubsubnode — node configuration (XEP-0060 §8.2, §16.4.4): defaults,
 * the options PEP forces, the stored text form, the node_config data form
 * and how submitted forms (configure and publish-options, §7.1.5) apply.
 * Pure functions: no I/O, unit tested in tests/unit/test_xmpp_pubsub.c.
 */
#include "pubsub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "form.h"
#include "xml.h"

static const char *const access_names[] = { "open", "presence", "whitelist" };
static const char *const publish_names[] = { "publishers", "subscribers", "open" };
static const char *const sendlast_names[] = { "never", "on_sub", "on_sub_and_presence" };

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

bool
ps_name_valid(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

void
ps_config_force(struct ps_config *cfg, bool pep, const char *node)
{
	if (!pep)
		return;
	/* OMEMO: devices and bundles of a contact must be readable before any
	 * subscription exists (what ejabberd's force_node_config does on the
	 * reference host) */
	if (strncmp(node, "eu.siacs.conversations.axolotl.", 31) == 0)
		cfg->access = PS_ACCESS_OPEN;
	/* legacy bookmarks hold room passwords: never anyone else's */
	if (strcmp(node, "storage:bookmarks") == 0)
		cfg->access = PS_ACCESS_WHITELIST;
}

void
ps_config_default(struct ps_config *cfg, bool pep, const char *node)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->access = pep ? PS_ACCESS_PRESENCE : PS_ACCESS_OPEN;
	cfg->publish = PS_PUBLISH_PUBLISHERS;
	cfg->send_last = pep ? PS_SENDLAST_ON_SUB_AND_PRESENCE : PS_SENDLAST_NEVER;
	cfg->max_items = pep ? 1 : 10;
	cfg->persist = true;
	cfg->deliver_notifications = true;
	cfg->deliver_payloads = true;
	cfg->notify_retract = true;
	cfg->notify_delete = true;
	ps_config_force(cfg, pep, node);
}

int
ps_config_encode(const struct ps_config *c, struct buf *out)
{
	return buf_printf(out, "access_model=%s\npublish_model=%s\n"
	    "send_last_published_item=%s\nmax_items=%u\npersist_items=%d\n"
	    "deliver_notifications=%d\ndeliver_payloads=%d\nnotify_retract=%d\n"
	    "notify_delete=%d\ntitle=%s\ntype=%s\n",
	    access_names[c->access], publish_names[c->publish],
	    sendlast_names[c->send_last], c->max_items, c->persist,
	    c->deliver_notifications, c->deliver_payloads, c->notify_retract,
	    c->notify_delete, c->title, c->type);
}

static int
lookup(const char *const *names, size_t n, const char *v)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], v) == 0)
			return (int)i;
	return -1;
}

static int
parse_bool(const char *v)
{
	if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
		return 1;
	if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
		return 0;
	return -1;
}

/* One option by its short name; -1 when the value does not fit. */
static int
set_option(struct ps_config *c, const char *key, const char *v, unsigned max)
{
	int i;
	char *end;
	unsigned long n;

	if (strcmp(key, "access_model") == 0) {
		if ((i = lookup(access_names, NELEM(access_names), v)) < 0)
			return -1;
		c->access = (enum ps_access)i;
	} else if (strcmp(key, "publish_model") == 0) {
		if ((i = lookup(publish_names, NELEM(publish_names), v)) < 0)
			return -1;
		c->publish = (enum ps_publish)i;
	} else if (strcmp(key, "send_last_published_item") == 0) {
		if ((i = lookup(sendlast_names, NELEM(sendlast_names), v)) < 0)
			return -1;
		c->send_last = (enum ps_sendlast)i;
	} else if (strcmp(key, "max_items") == 0) {
		if (strcmp(v, "max") == 0) {
			c->max_items = max;
			return 0;
		}
		n = strtoul(v, &end, 10);
		if (v[0] < '0' || v[0] > '9' || *end || n == 0 || n > max)
			return -1;
		c->max_items = (unsigned)n;
	} else if (strcmp(key, "title") == 0 || strcmp(key, "type") == 0) {
		char *dst = key[1] == 'i' ? c->title : c->type;

		if (strlen(v) > PS_TEXT_MAX || (v[0] && !ps_name_valid(v, PS_TEXT_MAX)))
			return -1;
		snprintf(dst, PS_TEXT_MAX + 1, "%s", v);
	} else {
		bool *b = strcmp(key, "persist_items") == 0 ? &c->persist :
		    strcmp(key, "deliver_notifications") == 0 ? &c->deliver_notifications :
		    strcmp(key, "deliver_payloads") == 0 ? &c->deliver_payloads :
		    strcmp(key, "notify_retract") == 0 ? &c->notify_retract :
		    strcmp(key, "notify_delete") == 0 ? &c->notify_delete : NULL;

		if (b == NULL)
			return 1;	/* not ours */
		if ((i = parse_bool(v)) < 0)
			return -1;
		*b = i == 1;
	}
	return 0;
}

void
ps_config_decode(const char *text, bool pep, const char *node, struct ps_config *cfg)
{
	char line[PS_TEXT_MAX + 64], *eq;
	const char *p = text, *nl;
	size_t n;

	ps_config_default(cfg, pep, node);
	while (*p) {
		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			if ((eq = strchr(line, '=')) != NULL) {
				*eq = '\0';
				set_option(cfg, line, eq + 1, 1000000);
			}
		}
		p += n;
		if (*p == '\n')
			p++;
	}
	ps_config_force(cfg, pep, node);
}

const char *
ps_form_type(const struct xml_node *x)
{
	for (struct xml_node *f = xml_first_elem(x); f; f = xml_next_elem(f)) {
		const char *var = xml_attr(f, "var");
		struct xml_node *v;

		if (f->name && strcmp(f->name, "field") == 0 && var &&
		    strcmp(var, "FORM_TYPE") == 0 &&
		    (v = xml_child(f, "value", NS_XDATA)) != NULL && v->children &&
		    v->children->text)
			return v->children->text;
	}
	return NULL;
}

static void
list_field(struct xml_node *x, const char *var, const char *label,
    const char *const *names, size_t n, unsigned cur)
{
	struct xml_node *f = form_field(x, var, "list-single", label, names[cur]), *o;

	for (size_t i = 0; f && i < n; i++)
		if ((o = xml_add(f, "option", NULL)) != NULL)
			xml_add_with_text(o, "value", NULL, names[i]);
}

struct xml_node *
ps_config_form(const struct ps_config *c, const char *type)
{
	struct xml_node *x = xml_new("x", NS_XDATA);
	char n[16];

	if (x == NULL)
		return NULL;
	xml_set_attr(x, "type", type);
	form_field(x, "FORM_TYPE", "hidden", NULL, NS_PUBSUB_NODE_CONFIG);
	list_field(x, "pubsub#access_model", "Who may subscribe and retrieve items",
	    access_names, NELEM(access_names), c->access);
	list_field(x, "pubsub#publish_model", "Who may publish",
	    publish_names, NELEM(publish_names), c->publish);
	list_field(x, "pubsub#send_last_published_item", "When to send the last item",
	    sendlast_names, NELEM(sendlast_names), c->send_last);
	snprintf(n, sizeof(n), "%u", c->max_items);
	form_field(x, "pubsub#max_items", "text-single", "Items to keep", n);
	form_field(x, "pubsub#persist_items", "boolean", "Store items", c->persist ? "1" : "0");
	form_field(x, "pubsub#deliver_notifications", "boolean", "Deliver event notifications",
	    c->deliver_notifications ? "1" : "0");
	form_field(x, "pubsub#deliver_payloads", "boolean", "Deliver payloads with notifications",
	    c->deliver_payloads ? "1" : "0");
	form_field(x, "pubsub#notify_retract", "boolean", "Notify when items are retracted",
	    c->notify_retract ? "1" : "0");
	form_field(x, "pubsub#notify_delete", "boolean", "Notify when the node is deleted",
	    c->notify_delete ? "1" : "0");
	form_field(x, "pubsub#title", "text-single", "Title", c->title);
	form_field(x, "pubsub#type", "text-single", "Payload type", c->type);
	return x;
}

int
ps_config_apply(struct ps_config *cfg, const struct xml_node *x, unsigned max,
    const char **bad)
{
	for (struct xml_node *f = xml_first_elem(x); f; f = xml_next_elem(f)) {
		const char *var = xml_attr(f, "var");
		struct xml_node *v;
		char *val;
		int rc;

		if (strcmp(f->name, "field") != 0 || var == NULL ||
		    strncmp(var, "pubsub#", 7) != 0)
			continue;
		v = xml_child(f, "value", NS_XDATA);
		val = v ? xml_text(v) : strdup("");
		if (val == NULL)
			return -1;
		rc = set_option(cfg, var + 7, val, max);
		free(val);
		if (rc == -1) {
			*bad = var;
			return -1;
		}
	}
	return 0;
}

bool
ps_config_equal(const struct ps_config *a, const struct ps_config *b)
{
	return a->access == b->access && a->publish == b->publish &&
	    a->send_last == b->send_last && a->max_items == b->max_items &&
	    a->persist == b->persist &&
	    a->deliver_notifications == b->deliver_notifications &&
	    a->deliver_payloads == b->deliver_payloads &&
	    a->notify_retract == b->notify_retract &&
	    a->notify_delete == b->notify_delete &&
	    strcmp(a->title, b->title) == 0 && strcmp(a->type, b->type) == 0;
}
