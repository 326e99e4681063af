/*
 * urlform — form bodies.  See urlform.h.
 */
#include "urlform.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "wsproto.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes s[0..len) into out (room for len + 1): its length, or -1. */
static long
decode(const char *s, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			if (i + 2 >= len || (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
		if (out[o - 1] == '\0')
			return -1;
	}
	out[o] = '\0';
	if (!ws_utf8_valid((const uint8_t *)out, o))
		return -1;
	return (long)o;
}

void
urlform_free(struct urlform_field *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (f[i].value) {
			OPENSSL_cleanse(f[i].value, strlen(f[i].value));
			free(f[i].value);
		}
		f[i].value = NULL;
	}
}

const char *
urlform_get(const struct urlform_field *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].name, name) == 0)
			return f[i].value;
	return NULL;
}

int
urlform_parse(const char *body, size_t len, struct urlform_field *f, size_t n,
    const char **why)
{
	const char *p = body, *end = body + len;
	char *name = NULL;

	for (size_t i = 0; i < n; i++)
		f[i].value = NULL;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(pe - p));
		const char *ne = eq ? eq : pe, *v = eq ? eq + 1 : pe;
		struct urlform_field *fld = NULL;
		char *val;
		long vl;

		if (pe == p) {		/* "a=1&&b=2": an empty pair is skipped */
			p = pe + 1;
			continue;
		}
		if ((name = malloc((size_t)(ne - p) + 1)) == NULL)
			goto nomem;
		if (decode(p, (size_t)(ne - p), name) < 0) {
			*why = "a field name is not well-formed";
			goto bad;
		}
		for (size_t i = 0; i < n; i++)
			if (strcmp(f[i].name, name) == 0)
				fld = &f[i];
		free(name);
		name = NULL;
		if (fld) {
			if (fld->value) {
				*why = "a field is given twice";
				goto bad;
			}
			/* an escape is 3 bytes for 1: a bound on the text first */
			if ((size_t)(pe - v) > 3 * fld->max) {
				*why = "a field is too long";
				goto bad;
			}
			if ((val = malloc((size_t)(pe - v) + 1)) == NULL)
				goto nomem;
			if ((vl = decode(v, (size_t)(pe - v), val)) < 0) {
				/* what was decoded may be a password, and unended */
				OPENSSL_cleanse(val, (size_t)(pe - v) + 1);
				free(val);
				*why = "a field is not well-formed (escapes, UTF-8)";
				goto bad;
			}
			fld->value = val;
			if ((size_t)vl > fld->max) {
				*why = "a field is too long";
				goto bad;
			}
		}
		p = amp ? amp + 1 : end;
	}
	return 0;
nomem:
	*why = "out of memory";
bad:
	free(name);
	urlform_free(f, n);
	return -1;
}
