/*
 * erlterm — a recursive-descent reader of Erlang term text.  See
 * erlterm.h.  ejabberd writes these with io_lib's ~p (or term_to_expr):
 * whitespace and newlines anywhere between tokens, binaries as
 * <<"...">> with Erlang string escapes, or as byte lists when they are
 * not printable, "/utf8" segments for non-ASCII text.
 */
#include "erlterm.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

struct rd {
	const char *p, *end;
	char *err;
	size_t errlen;
	unsigned depth;
};

static struct erl_term *term(struct rd *r);

static int
fail(struct rd *r, const char *what)
{
	if (r->err[0] == '\0')
		snprintf(r->err, r->errlen, "%s at offset %zu", what,
		    (size_t)(r->end - r->p));
	return -1;
}

static void
skip_ws(struct rd *r)
{
	while (r->p < r->end && isspace((unsigned char)*r->p))
		r->p++;
}

static bool
eat(struct rd *r, char c)
{
	skip_ws(r);
	if (r->p < r->end && *r->p == c) {
		r->p++;
		return true;
	}
	return false;
}

static struct erl_term *
node(enum erl_type type)
{
	struct erl_term *t = calloc(1, sizeof(*t));

	if (t)
		t->type = type;
	return t;
}

static int
push(struct erl_term *t, struct erl_term *c)
{
	struct erl_term **v = realloc(t->v, (t->n + 1) * sizeof(*v));

	if (v == NULL)
		return -1;
	t->v = v;
	t->v[t->n++] = c;
	return 0;
}

/* One code point as UTF-8 (Erlang's \x{...} and /utf8 integers). */
static int
put_utf8(struct buf *b, unsigned long cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else if (cp < 0x110000) {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	} else {
		return -1;
	}
	return buf_append(b, u, n);
}

/* An escape after the backslash (Erlang reference manual, "Escape
 * Sequences"): the byte or code point it stands for, into b. */
static int
escape(struct rd *r, struct buf *b, bool utf8)
{
	static const char from[] = "bdefnrstv\\\"'";
	static const char to[] = "\b\x7f\x1b\f\n\r \t\v\\\"'";
	const char *k;
	unsigned long v = 0;
	int n = 0;

	if (r->p >= r->end)
		return fail(r, "escape at end of text");
	if ((k = strchr(from, *r->p)) != NULL && *r->p) {
		r->p++;
		return buf_append(b, &to[k - from], 1);
	}
	if (*r->p >= '0' && *r->p <= '7') {
		while (n < 3 && r->p < r->end && *r->p >= '0' && *r->p <= '7') {
			v = v * 8 + (unsigned long)(*r->p++ - '0');
			n++;
		}
	} else if (*r->p == 'x') {
		bool brace;

		r->p++;
		brace = r->p < r->end && *r->p == '{';
		if (brace)
			r->p++;
		while (r->p < r->end && isxdigit((unsigned char)*r->p) && (brace || n < 2)) {
			v = v * 16 + (unsigned long)(isdigit((unsigned char)*r->p) ?
			    *r->p - '0' : (tolower((unsigned char)*r->p) - 'a' + 10));
			r->p++;
			if (++n > 8)
				return fail(r, "escape too long");
		}
		if (n == 0 || (brace && (r->p >= r->end || *r->p++ != '}')))
			return fail(r, "bad \\x escape");
	} else if (*r->p == '^' && r->p + 1 < r->end) {
		v = (unsigned long)(r->p[1] & 0x1f);
		r->p += 2;
	} else {
		v = (unsigned char)*r->p++;	/* \c is c */
	}
	if (utf8 || v > 0xff)
		return put_utf8(b, v);
	return buf_append(b, (char[]){ (char)v }, 1);
}

/* "..." into b (the opening quote already read). */
static int
quoted(struct rd *r, struct buf *b, char q, bool utf8)
{
	while (r->p < r->end && *r->p != q) {
		if (*r->p == '\\') {
			r->p++;
			if (escape(r, b, utf8) == -1)
				return -1;
		} else if (buf_append(b, r->p++, 1) == -1) {
			return fail(r, "out of memory");
		}
	}
	if (r->p >= r->end)
		return fail(r, "unterminated quote");
	r->p++;
	return 0;
}

static int
finish_text(struct erl_term *t, struct buf *b)
{
	if (buf_append(b, "", 1) == -1)
		return -1;
	t->len = b->len - 1;
	t->s = buf_steal(b);
	return t->s ? 0 : -1;
}

static bool
suffix(struct rd *r, const char *s)
{
	size_t n = strlen(s);

	skip_ws(r);
	if ((size_t)(r->end - r->p) >= n && memcmp(r->p, s, n) == 0) {
		r->p += n;
		return true;
	}
	return false;
}

/* << segment, ... >> after the "<<". */
static struct erl_term *
binary(struct rd *r)
{
	struct erl_term *t = node(ERL_BIN);
	struct buf b;

	buf_init(&b);
	if (t == NULL)
		goto bad;
	if (eat(r, '>')) {
		if (!eat(r, '>'))
			goto bad;
		goto done;
	}
	do {
		skip_ws(r);
		if (r->p < r->end && *r->p == '"') {
			const char *save;
			size_t at = b.len;

			r->p++;
			save = r->p;
			if (quoted(r, &b, '"', false) == -1)
				goto bad;
			if (suffix(r, "/utf8")) {
				/* the same text again, escapes as code points */
				b.len = at;
				r->p = save;
				if (quoted(r, &b, '"', true) == -1)
					goto bad;
				suffix(r, "/utf8");
			}
		} else {
			char *e;
			long v = strtol(r->p, &e, 10);

			if (e == r->p || e > r->end || v < 0)
				goto bad;
			r->p = e;
			if (suffix(r, "/utf8") ? put_utf8(&b, (unsigned long)v) == -1 :
			    (v > 255 || buf_append(&b, (char[]){ (char)v }, 1) == -1))
				goto bad;
		}
	} while (eat(r, ','));
	if (!eat(r, '>') || !eat(r, '>'))
		goto bad;
done:
	if (finish_text(t, &b) == -1)
		goto bad;
	return t;
bad:
	fail(r, "bad binary");
	buf_free(&b);
	erl_free(t);
	return NULL;
}

/* { ... } or [ ... ] after the opening bracket. */
static struct erl_term *
seq(struct rd *r, enum erl_type type, char close)
{
	struct erl_term *t = node(type), *c;

	if (t == NULL)
		return NULL;
	if (eat(r, close))
		return t;
	do {
		if ((c = term(r)) == NULL)
			goto bad;
		if (push(t, c) == -1) {
			erl_free(c);
			goto bad;
		}
		/* an improper list's tail joins the elements */
	} while (eat(r, ',') || (type == ERL_LIST && eat(r, '|')));
	if (!eat(r, close)) {
		fail(r, "missing bracket");
		goto bad;
	}
	return t;
bad:
	erl_free(t);
	return NULL;
}

static struct erl_term *
number(struct rd *r)
{
	const char *s = r->p;
	char *e;
	struct erl_term *t;
	bool flt = false;

	if (*r->p == '-' || *r->p == '+')
		r->p++;
	while (r->p < r->end && (isdigit((unsigned char)*r->p) || *r->p == '.' ||
	    *r->p == 'e' || *r->p == 'E' || *r->p == '#' ||
	    ((*r->p == '-' || *r->p == '+') && (r->p[-1] == 'e' || r->p[-1] == 'E')))) {
		if (*r->p == '.' || *r->p == 'e' || *r->p == 'E')
			flt = true;
		r->p++;
	}
	char tmp[64];
	size_t n = (size_t)(r->p - s);

	if (n == 0 || n >= sizeof(tmp) || memchr(s, '#', n) != NULL) {
		fail(r, "bad number");
		return NULL;
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if ((t = node(flt ? ERL_FLOAT : ERL_INT)) == NULL)
		return NULL;
	if (flt)
		t->f = strtod(tmp, &e);
	else
		t->i = strtoll(tmp, &e, 10);
	if (*e != '\0') {
		erl_free(t);
		fail(r, "bad number");
		return NULL;
	}
	return t;
}

static struct erl_term *
atom(struct rd *r)
{
	struct erl_term *t = node(ERL_ATOM);
	struct buf b;

	buf_init(&b);
	if (t == NULL)
		return NULL;
	if (*r->p == '\'') {
		r->p++;
		if (quoted(r, &b, '\'', false) == -1)
			goto bad;
	} else {
		while (r->p < r->end && (isalnum((unsigned char)*r->p) || *r->p == '_' ||
		    *r->p == '@'))
			if (buf_append(&b, r->p++, 1) == -1)
				goto bad;
	}
	if (finish_text(t, &b) == -1)
		goto bad;
	return t;
bad:
	buf_free(&b);
	erl_free(t);
	return NULL;
}

static struct erl_term *
term(struct rd *r)
{
	struct erl_term *t = NULL;
	struct buf b;

	skip_ws(r);
	if (r->p >= r->end) {
		fail(r, "unexpected end of term");
		return NULL;
	}
	if (++r->depth > ERL_DEPTH_MAX) {
		fail(r, "term nested too deeply");
		return NULL;
	}
	if (r->p + 1 < r->end && r->p[0] == '<' && r->p[1] == '<') {
		r->p += 2;
		t = binary(r);
	} else if (*r->p == '{') {
		r->p++;
		t = seq(r, ERL_TUPLE, '}');
	} else if (*r->p == '[') {
		r->p++;
		t = seq(r, ERL_LIST, ']');
	} else if (*r->p == '"') {
		r->p++;
		buf_init(&b);
		if ((t = node(ERL_STR)) == NULL || quoted(r, &b, '"', true) == -1 ||
		    finish_text(t, &b) == -1) {
			buf_free(&b);
			erl_free(t);
			t = NULL;
		}
	} else if (isdigit((unsigned char)*r->p) || *r->p == '-' || *r->p == '+') {
		t = number(r);
	} else if (islower((unsigned char)*r->p) || *r->p == '\'') {
		t = atom(r);
	} else {
		fail(r, "unexpected character");
	}
	r->depth--;
	return t;
}

struct erl_term *
erl_parse(const char *text, size_t len, char *err, size_t errlen)
{
	struct rd r = { text, text + len, err, errlen, 0 };
	struct erl_term *t;

	err[0] = '\0';
	if ((t = term(&r)) == NULL) {
		if (err[0] == '\0')
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	eat(&r, '.');
	skip_ws(&r);
	if (r.p != r.end) {
		snprintf(err, errlen, "text after the term");
		erl_free(t);
		return NULL;
	}
	return t;
}

void
erl_free(struct erl_term *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		erl_free(t->v[i]);
	free(t->v);
	free(t->s);
	free(t);
}

bool
erl_atom_is(const struct erl_term *t, const char *name)
{
	return t && t->type == ERL_ATOM && strcmp(t->s, name) == 0;
}

const struct erl_term *
erl_prop(const struct erl_term *list, const char *key)
{
	if (list == NULL || list->type != ERL_LIST)
		return NULL;
	for (size_t i = 0; i < list->n; i++) {
		const struct erl_term *e = list->v[i];

		if (e->type == ERL_TUPLE && e->n >= 2 && erl_atom_is(e->v[0], key))
			return e->n == 2 ? e->v[1] : e;
	}
	return NULL;
}

const char *
erl_str(const struct erl_term *t)
{
	if (t == NULL)
		return NULL;
	if (t->type == ERL_BIN || t->type == ERL_STR || t->type == ERL_ATOM)
		return t->s;
	if (t->type == ERL_LIST && t->n == 0)
		return "";	/* "" is the empty list */
	return NULL;
}

int
erl_bool(const struct erl_term *t)
{
	if (erl_atom_is(t, "true"))
		return 1;
	if (erl_atom_is(t, "false"))
		return 0;
	return -1;
}

int
erl_jid(const struct erl_term *t, char *out, size_t outlen)
{
	const char *u, *s, *res;
	int n;

	if (t == NULL || t->type != ERL_TUPLE || t->n != 3 ||
	    (u = erl_str(t->v[0])) == NULL || (s = erl_str(t->v[1])) == NULL ||
	    (res = erl_str(t->v[2])) == NULL || s[0] == '\0')
		return -1;
	n = snprintf(out, outlen, "%s%s%s%s%s", u, u[0] ? "@" : "", s,
	    res[0] ? "/" : "", res);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
