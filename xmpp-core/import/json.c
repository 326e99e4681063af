/*
 * json — a JSON reader for Prosody's stored values.  See json.h.
 *
 * RFC 8259, recursive descent over a bounded text (the caller bounds the
 * length, JSON_DEPTH_MAX the nesting); \u escapes become UTF-8, a lone
 * surrogate half is an error (Prosody writes none; a broken row is
 * reported rather than guessed at).
 */
#include "json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xml.h"

struct jp {
	const char *start, *p, *end;
	char *err;
	size_t errlen;
	unsigned depth;
};

static struct json *value(struct jp *jp);

static void
ws(struct jp *jp)
{
	while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' ||
	    *jp->p == '\r'))
		jp->p++;
}

static struct json *
fail(struct jp *jp, const char *why)
{
	if (jp->err[0] == '\0')
		snprintf(jp->err, jp->errlen, "%s at byte %zu", why,
		    (size_t)(jp->p - jp->start));
	return NULL;
}

static struct json *
new(enum json_type t)
{
	struct json *j = calloc(1, sizeof(*j));

	if (j)
		j->type = t;
	return j;
}

void
json_free(struct json *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->n; i++) {
		json_free(j->v[i]);
		if (j->k)
			free(j->k[i]);
	}
	free(j->v);
	free(j->k);
	free(j->s);
	free(j);
}

static int
hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static int
utf8(struct buf *b, unsigned cp)
{
	char o[4];
	size_t n;

	if (cp < 0x80) {
		o[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		o[0] = (char)(0xf0 | (cp >> 18));
		o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return buf_append(b, o, n);
}

/* A string at jp->p (the opening quote): malloc'd text, or NULL. */
static char *
string(struct jp *jp, size_t *lenp)
{
	struct buf b;

	buf_init(&b);
	jp->p++;
	while (jp->p < jp->end && *jp->p != '"') {
		unsigned char c = (unsigned char)*jp->p;

		if (c < 0x20) {
			fail(jp, "control character in a string");
			goto bad;
		}
		if (c != '\\') {
			const char *s = jp->p;

			while (jp->p < jp->end && *jp->p != '"' && *jp->p != '\\' &&
			    (unsigned char)*jp->p >= 0x20)
				jp->p++;
			if (buf_append(&b, s, (size_t)(jp->p - s)) == -1)
				goto oom;
			continue;
		}
		if (++jp->p >= jp->end)
			break;
		switch (*jp->p) {
		case '"': case '\\': case '/':
			if (buf_append(&b, jp->p, 1) == -1)
				goto oom;
			break;
		case 'b': if (buf_puts(&b, "\b") == -1) goto oom; break;
		case 'f': if (buf_puts(&b, "\f") == -1) goto oom; break;
		case 'n': if (buf_puts(&b, "\n") == -1) goto oom; break;
		case 'r': if (buf_puts(&b, "\r") == -1) goto oom; break;
		case 't': if (buf_puts(&b, "\t") == -1) goto oom; break;
		case 'u': {
			unsigned cp, lo;

			if (jp->end - jp->p < 5 || hex4(jp->p + 1, &cp) == -1) {
				fail(jp, "bad \\u escape");
				goto bad;
			}
			jp->p += 4;
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				fail(jp, "lone low surrogate");
				goto bad;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (jp->end - jp->p < 7 || jp->p[1] != '\\' || jp->p[2] != 'u' ||
				    hex4(jp->p + 3, &lo) == -1 || lo < 0xdc00 || lo > 0xdfff) {
					fail(jp, "lone high surrogate");
					goto bad;
				}
				jp->p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp == 0) {
				fail(jp, "NUL in a string");
				goto bad;
			}
			if (utf8(&b, cp) == -1)
				goto oom;
			break;
		}
		default:
			fail(jp, "bad escape");
			goto bad;
		}
		jp->p++;
	}
	if (jp->p >= jp->end) {
		fail(jp, "unterminated string");
		goto bad;
	}
	jp->p++;
	if (buf_append(&b, "", 1) == -1)
		goto oom;
	*lenp = b.len - 1;
	return b.p;
oom:
	fail(jp, "out of memory");
bad:
	buf_free(&b);
	return NULL;
}

static int
push(struct json *j, struct json *v, char *key)
{
	struct json **nv;
	char **nk;

	if ((j->n & (j->n - 1)) == 0) {	/* 0, 1, 2, 4 ...: grow */
		size_t cap = j->n ? 2 * j->n : 1;

		if ((nv = realloc(j->v, cap * sizeof(*nv))) == NULL)
			return -1;
		j->v = nv;
		if (j->type == JSON_OBJ) {
			if ((nk = realloc(j->k, cap * sizeof(*nk))) == NULL)
				return -1;
			j->k = nk;
		}
	}
	j->v[j->n] = v;
	if (j->type == JSON_OBJ)
		j->k[j->n] = key;
	j->n++;
	return 0;
}

static struct json *
container(struct jp *jp, bool obj)
{
	struct json *j = new(obj ? JSON_OBJ : JSON_ARR), *v;
	char close = obj ? '}' : ']';

	if (j == NULL)
		return fail(jp, "out of memory");
	if (++jp->depth > JSON_DEPTH_MAX) {
		json_free(j);
		return fail(jp, "nested too deeply");
	}
	jp->p++;
	ws(jp);
	if (jp->p < jp->end && *jp->p == close) {
		jp->p++;
		jp->depth--;
		return j;
	}
	for (;;) {
		char *key = NULL;
		size_t kl;

		ws(jp);
		if (obj) {
			if (jp->p >= jp->end || *jp->p != '"' || (key = string(jp, &kl)) == NULL)
				goto bad;
			ws(jp);
			if (jp->p >= jp->end || *jp->p != ':') {
				free(key);
				fail(jp, "':' expected");
				goto bad;
			}
			jp->p++;
		}
		if ((v = value(jp)) == NULL) {
			free(key);
			goto bad;
		}
		if (push(j, v, key) == -1) {
			json_free(v);
			free(key);
			fail(jp, "out of memory");
			goto bad;
		}
		ws(jp);
		if (jp->p < jp->end && *jp->p == ',') {
			jp->p++;
			continue;
		}
		if (jp->p < jp->end && *jp->p == close) {
			jp->p++;
			jp->depth--;
			return j;
		}
		fail(jp, obj ? "',' or '}' expected" : "',' or ']' expected");
		goto bad;
	}
bad:
	if (jp->err[0] == '\0')
		fail(jp, "bad member");
	json_free(j);
	return NULL;
}

static struct json *
number(struct jp *jp)
{
	const char *s = jp->p;
	struct json *j;
	char *e;

	/* not strchr alone: it finds a NUL byte too (the terminator) */
	while (jp->p < jp->end && *jp->p != '\0' && strchr("+-0123456789.eE", *jp->p))
		jp->p++;
	if ((j = new(JSON_NUM)) == NULL || (j->s = strndup(s, (size_t)(jp->p - s))) == NULL) {
		json_free(j);
		return fail(jp, "out of memory");
	}
	j->len = strlen(j->s);
	j->num = strtod(j->s, &e);
	if (j->len == 0 || *e != '\0') {
		json_free(j);
		return fail(jp, "bad number");
	}
	return j;
}

static struct json *
word(struct jp *jp, const char *w, enum json_type t)
{
	size_t n = strlen(w);

	if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, w, n) != 0)
		return fail(jp, "unexpected character");
	jp->p += n;
	return new(t) ?: fail(jp, "out of memory");
}

static struct json *
value(struct jp *jp)
{
	struct json *j;

	ws(jp);
	if (jp->p >= jp->end)
		return fail(jp, "value expected");
	switch (*jp->p) {
	case '{':
		return container(jp, true);
	case '[':
		return container(jp, false);
	case '"':
		if ((j = new(JSON_STR)) == NULL)
			return fail(jp, "out of memory");
		if ((j->s = string(jp, &j->len)) == NULL) {
			json_free(j);
			return NULL;
		}
		return j;
	case 't':
		return word(jp, "true", JSON_TRUE);
	case 'f':
		return word(jp, "false", JSON_FALSE);
	case 'n':
		return word(jp, "null", JSON_NULL);
	default:
		if (*jp->p == '-' || (*jp->p >= '0' && *jp->p <= '9'))
			return number(jp);
		return fail(jp, "unexpected character");
	}
}

struct json *
json_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct jp jp = { text, text, text + len, err, errlen, 0 };
	struct json *j;

	err[0] = '\0';
	if ((j = value(&jp)) == NULL)
		return NULL;
	ws(&jp);
	if (jp.p != jp.end) {
		json_free(j);
		fail(&jp, "text after the value");
		return NULL;
	}
	return j;
}

const struct json *
json_get(const struct json *j, const char *key)
{
	if (j == NULL || j->type != JSON_OBJ)
		return NULL;
	for (size_t i = 0; i < j->n; i++)
		if (strcmp(j->k[i], key) == 0)
			return j->v[i];
	return NULL;
}

const char *
json_str(const struct json *j, const char *key)
{
	const struct json *v = json_get(j, key);

	return v && v->type == JSON_STR ? v->s : NULL;
}

int
json_bool(const struct json *j)
{
	if (j && j->type == JSON_TRUE)
		return 1;
	if (j && j->type == JSON_FALSE)
		return 0;
	return -1;
}

const struct json *
json_hash_false(const struct json *j)
{
	const struct json *h = json_get(j, "__hash");

	if (h == NULL || h->type != JSON_ARR)
		return NULL;
	for (size_t i = 0; i + 1 < h->n; i += 2)
		if (h->v[i]->type == JSON_FALSE)
			return h->v[i + 1];
	return NULL;
}

static bool
xml_name_ok(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++)
		if (strchr(" \t\r\n<>&'\"=/\1", *s))
			return false;
	return true;
}

static int
stanza(const struct json *j, struct buf *out, unsigned depth)
{
	const char *name = json_str(j, "name");
	const struct json *attr = json_get(j, "attr"), *kids = json_get(j, "__array");

	if (depth > JSON_DEPTH_MAX || !xml_name_ok(name) ||
	    (attr && attr->type != JSON_OBJ) || (kids && kids->type != JSON_ARR))
		return -1;
	if (buf_puts(out, "<") == -1 || buf_puts(out, name) == -1)
		return -1;
	for (size_t i = 0; attr && i < attr->n; i++) {
		/* util.stanza writes a namespaced attribute as "ns\1name": only
		 * xmlns and xml: ones are written by what we import */
		if (attr->v[i]->type != JSON_STR || !xml_name_ok(attr->k[i]))
			return -1;
		if (buf_puts(out, " ") == -1 || buf_puts(out, attr->k[i]) == -1 ||
		    buf_puts(out, "='") == -1 ||
		    xml_escape(out, attr->v[i]->s, attr->v[i]->len, true) == -1 ||
		    buf_puts(out, "'") == -1)
			return -1;
	}
	if (kids == NULL || kids->n == 0)
		return buf_puts(out, "/>");
	if (buf_puts(out, ">") == -1)
		return -1;
	for (size_t i = 0; i < kids->n; i++) {
		const struct json *k = kids->v[i];

		if (k->type == JSON_STR) {
			if (xml_escape(out, k->s, k->len, false) == -1)
				return -1;
		} else if (stanza(k, out, depth + 1) == -1) {
			return -1;
		}
	}
	if (buf_puts(out, "</") == -1 || buf_puts(out, name) == -1 || buf_puts(out, ">") == -1)
		return -1;
	return 0;
}

int
json_stanza_xml(const struct json *j, struct buf *out)
{
	if (j == NULL || j->type != JSON_OBJ)
		return -1;
	return stanza(j, out, 0);
}
