/*
 * libFuzzer target: the JSON reader of `xmppctl import prosody`
 * (xmpp-core/import/json.c), which reads every `value` of Prosody's
 * tables as found, from a database the sysadmin may have edited by hand
 * or that an older Prosody wrote.  The bytes go through json_parse; a
 * value that parses is walked (every pointer the reader handed out is
 * used), asked for what the Prosody reader asks (json_get, json_str,
 * json_bool, json_hash_false) and written as XML where it looks like a
 * stored stanza (json_stanza_xml, as private XML, vCards and push forms
 * are).  Invariants: a refusal says why; the same text parses to the
 * same XML twice; text after the value is refused; XML written is either
 * refused by the restricted parser (the writer re-parses before it
 * stores, target.c) or has the element the JSON named at its root.
 */
#include "buf.h"
#include "fragment.h"
#include "json.h"
#include "server.h"
#include "xml.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* Every node the reader built is whole; one stanza attempt per object. */
static void
walk(const struct json *j, unsigned depth)
{
	struct buf b;

	if (j == NULL || depth > JSON_DEPTH_MAX + 1)
		abort();
	switch (j->type) {
	case JSON_STR:
	case JSON_NUM:
		if (j->s == NULL || strlen(j->s) != j->len)	/* no NUL inside */
			abort();
		break;
	case JSON_ARR:
		for (size_t i = 0; i < j->n; i++)
			walk(j->v[i], depth + 1);
		break;
	case JSON_OBJ:
		for (size_t i = 0; i < j->n; i++) {
			if (j->k[i] == NULL || json_get(j, j->k[i]) == NULL)
				abort();
			walk(j->v[i], depth + 1);
		}
		(void)json_str(j, "name");
		(void)json_bool(json_get(j, "persistent"));
		(void)json_hash_false(j);
		buf_init(&b);
		(void)json_stanza_xml(j, &b);
		buf_free(&b);
		break;
	default:
		break;
	}
}

/* The root as XML: twice the same, and what it names if it parses. */
static void
as_xml(const struct json *j, const struct json *again)
{
	const char *name = json_str(j, "name");
	struct xml_node *n;
	struct buf b, b2;
	int rc;

	buf_init(&b);
	buf_init(&b2);
	rc = json_stanza_xml(j, &b);
	if (rc != json_stanza_xml(again, &b2) || b.len != b2.len ||
	    (b.len && memcmp(b.p, b2.p, b.len) != 0))
		abort();
	if (rc == 0) {
		if (b.len == 0 || name == NULL)
			abort();
		n = fragment_parse(b.p, b.len, NS_CLIENT);
		if (n && strchr(name, ':') == NULL && strcmp(n->name, name) != 0)
			abort();
		xml_free(n);
	}
	buf_free(&b);
	buf_free(&b2);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct json *j, *again, *longer;
	char err[128], *tail;

	if (size > 65536)
		return 0;
	err[0] = '\0';
	if ((j = json_parse((const char *)data, size, err, sizeof(err))) == NULL) {
		if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		return 0;
	}
	walk(j, 0);
	if ((again = json_parse((const char *)data, size, err, sizeof(err))) == NULL)
		abort();
	as_xml(j, again);
	json_free(again);
	/* a value followed by more than white space is no value */
	if ((tail = malloc(size + 2)) == NULL)
		abort();
	memcpy(tail, data, size);
	memcpy(tail + size, " x", 2);
	if ((longer = json_parse(tail, size + 2, err, sizeof(err))) != NULL)
		abort();
	free(tail);
	json_free(j);
	return 0;
}
