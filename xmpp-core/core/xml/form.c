/*
 * form — building data forms.  See form.h.
 */
#include "form.h"

#include "xml.h"

struct xml_node *
form_field(struct xml_node *x, const char *var, const char *type, const char *label,
    const char *value)
{
	struct xml_node *f = xml_add(x, "field", NULL);

	if (f == NULL || xml_set_attr(f, "var", var) == -1 ||
	    (type && xml_set_attr(f, "type", type) == -1) ||
	    (label && xml_set_attr(f, "label", label) == -1) ||
	    (value && xml_add_with_text(f, "value", NULL, value) == NULL))
		return NULL;
	return f;
}
