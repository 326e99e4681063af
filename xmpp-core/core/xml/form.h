/*
 * form — building data forms (XEP-0004): the one way every module adds a
 * <field/> to the forms it sends (disco extensions, node_config, room
 * configuration, MAM's search form, push summaries).
 */
#ifndef XMPP_FORM_H
#define XMPP_FORM_H

struct xml_node;

/* Appends <field var='var'/> to the form x, with type, label and one
 * <value/> when they are not NULL; the field, or NULL when memory ran
 * out (the form is then incomplete: the caller drops it). */
struct xml_node *form_field(struct xml_node *x, const char *var, const char *type,
    const char *label, const char *value);

#endif
