/*
 * json — JSON text as Prosody's mod_storage_sql writes it into its
 * `value` column (type 'json'): objects, arrays, strings, numbers,
 * booleans, null; and Prosody's two conventions on top of JSON: a table
 * with non-string keys as {"__hash": [k1, v1, k2, v2 ...]} (the roster's
 * `false` key holding the pending requests and the version), and a
 * stanza as {"name", "attr", "__array": [children or text]}
 * (util.stanza's preserialised form: private XML, push options, room
 * messages).  Pure functions: no I/O, unit tested in
 * tests/unit/xmpp-core/import/.  Input is bounded (depth, length).
 */
#ifndef XMPP_JSON_H
#define XMPP_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define JSON_DEPTH_MAX 64

struct buf;

enum json_type { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ };

struct json {
	enum json_type type;
	char *s;		/* string (NUL-terminated, UTF-8), number text */
	size_t len;
	double num;
	struct json **v;	/* array elements, object values */
	char **k;		/* object keys */
	size_t n;
};

/* The value text holds (nothing but white space after it), or NULL with
 * why in err. */
struct json *json_parse(const char *text, size_t len, char *err, size_t errlen);
void json_free(struct json *j);

/* An object's member, or NULL (also when j is no object). */
const struct json *json_get(const struct json *j, const char *key);
/* A string member's text, or NULL. */
const char *json_str(const struct json *j, const char *key);
/* true / false: 1 / 0; anything else -1. */
int json_bool(const struct json *j);
/* The value Prosody keeps under the key `false` of a __hash table
 * ({"__hash": [false, V, ...]}), or NULL. */
const struct json *json_hash_false(const struct json *j);
/* A preserialised stanza as XML text appended to out (escaped, with its
 * xmlns attributes): 0, or -1 when j is not one (or out of memory). */
int json_stanza_xml(const struct json *j, struct buf *out);

#endif
