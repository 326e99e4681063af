/*
 * conf — parser and typed getters for the TOML subset (see conf.h).
 *
 * The parser is a single pass over the text with a cursor that knows its
 * line.  Tables form a tree; [[x]] appends a fresh table to array x.
 * Limits: 1 MiB per file, 4096 bytes per string, 64 nesting levels.
 */
#include "conf.h"
#include "conf_priv.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>


#define CONF_MAX_FILE	(1024 * 1024)
#define CONF_MAX_STR	4096
#define CONF_MAX_PATH	64

struct parser {
	const char *file;
	const char *p;
	int line;
	int flags;
	struct conf_doc *doc;
	struct conf_err *e;
};

static void
perr(struct parser *ps, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
perr(struct parser *ps, const char *key, const char *fmt, ...)
{
	char buf[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (key != NULL)
		snprintf(ps->e->msg, sizeof(ps->e->msg), "%.200s:%d: %.100s: %s",
		    ps->file, ps->line, key, buf);
	else
		snprintf(ps->e->msg, sizeof(ps->e->msg), "%.200s:%d: %s",
		    ps->file, ps->line, buf);
}

static struct conf_table *
table_new(const char *file, const char *name, int line, int flags)
{
	struct conf_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->file = file;
	t->name = strdup(name);
	t->line = line;
	t->nocase = (flags & CONF_KEYS_NOCASE) != 0;
	if (t->name == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

static void table_free(struct conf_table *t);

static void
value_clear(struct conf_value *v)
{
	free(v->key);
	switch (v->type) {
	case CONF_STRING:
		free(v->u.s);
		break;
	case CONF_STRARRAY:
		for (size_t i = 0; i < v->u.arr.n; i++)
			free(v->u.arr.v[i]);
		free(v->u.arr.v);
		break;
	case CONF_TABLE:
		table_free(v->u.t);
		break;
	case CONF_TABLEARRAY:
		for (size_t i = 0; i < v->u.tarr.n; i++)
			table_free(v->u.tarr.v[i]);
		free(v->u.tarr.v);
		break;
	default:
		break;
	}
}

static void
table_free(struct conf_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		value_clear(&t->vals[i]);
	free(t->vals);
	free(t->name);
	free(t);
}

void
conf_free(struct conf_doc *doc)
{
	if (doc == NULL)
		return;
	table_free(doc->root);
	free(doc->file);
	free(doc);
}

struct conf_value *
conf_table_find(const struct conf_table *t, const char *key)
{
	for (size_t i = 0; i < t->n; i++) {
		int eq = t->nocase ? strcasecmp(t->vals[i].key, key) == 0 :
		    strcmp(t->vals[i].key, key) == 0;
		if (eq)
			return &t->vals[i];
	}
	return NULL;
}

/* Appends a value slot; the key is taken over.  NULL on ENOMEM. */
static struct conf_value *
table_add(struct conf_table *t, char *key, int line, enum conf_type type)
{
	struct conf_value *v;

	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 8;
		struct conf_value *nv = realloc(t->vals, ncap * sizeof(*nv));
		if (nv == NULL)
			return NULL;
		t->vals = nv;
		t->cap = ncap;
	}
	v = &t->vals[t->n++];
	memset(v, 0, sizeof(*v));
	v->key = key;
	v->line = line;
	v->type = type;
	return v;
}

static void
skip_ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t')
		ps->p++;
}

/* Skips blanks, comments and newlines (for use inside arrays). */
static void
skip_ws_nl(struct parser *ps)
{
	for (;;) {
		skip_ws(ps);
		if (*ps->p == '#') {
			while (*ps->p && *ps->p != '\n')
				ps->p++;
		}
		if (*ps->p == '\r' && ps->p[1] == '\n')
			ps->p++;
		if (*ps->p == '\n') {
			ps->p++;
			ps->line++;
			continue;
		}
		return;
	}
}

/* After a statement: only blanks and a comment may follow on the line. */
static int
expect_eol(struct parser *ps, const char *key)
{
	skip_ws(ps);
	if (*ps->p == '#')
		while (*ps->p && *ps->p != '\n')
			ps->p++;
	if (*ps->p == '\r' && ps->p[1] == '\n')
		ps->p++;
	if (*ps->p == '\n') {
		ps->p++;
		ps->line++;
		return 0;
	}
	if (*ps->p == '\0')
		return 0;
	perr(ps, key, "unexpected '%c' after value", *ps->p);
	return -1;
}

static int
is_bare(int c)
{
	return isalnum(c) || c == '_' || c == '-';
}

static int
put_utf8(char *out, size_t *n, unsigned long cp)
{
	if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0)
		return -1;
	if (cp < 0x80) {
		out[(*n)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*n)++] = (char)(0xC0 | (cp >> 6));
		out[(*n)++] = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		out[(*n)++] = (char)(0xE0 | (cp >> 12));
		out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*n)++] = (char)(0x80 | (cp & 0x3F));
	} else {
		out[(*n)++] = (char)(0xF0 | (cp >> 18));
		out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*n)++] = (char)(0x80 | (cp & 0x3F));
	}
	return 0;
}

/* Parses a basic "..." or literal '...' string at the cursor. */
static char *
parse_string(struct parser *ps, const char *key)
{
	char quote = *ps->p++;
	char *out;
	size_t n = 0;

	if (quote == ps->p[0] && quote == ps->p[1]) {
		perr(ps, key, "multi-line strings are not supported");
		return NULL;
	}
	if ((out = malloc(CONF_MAX_STR + 8)) == NULL) {
		perr(ps, key, "out of memory");
		return NULL;
	}
	for (;;) {
		unsigned char c = (unsigned char)*ps->p;

		if (c == '\0' || c == '\n' || c == '\r') {
			perr(ps, key, "unterminated string");
			goto fail;
		}
		if (n >= CONF_MAX_STR) {
			perr(ps, key, "string longer than %d bytes", CONF_MAX_STR);
			goto fail;
		}
		ps->p++;
		if (c == (unsigned char)quote)
			break;
		if (c < 0x20 && c != '\t') {
			perr(ps, key, "control character in string");
			goto fail;
		}
		if (c != '\\' || quote == '\'') {
			out[n++] = (char)c;
			continue;
		}
		c = (unsigned char)*ps->p++;
		switch (c) {
		case 'b': out[n++] = '\b'; break;
		case 't': out[n++] = '\t'; break;
		case 'n': out[n++] = '\n'; break;
		case 'f': out[n++] = '\f'; break;
		case 'r': out[n++] = '\r'; break;
		case '"': out[n++] = '"'; break;
		case '\\': out[n++] = '\\'; break;
		case 'u':
		case 'U': {
			int len = c == 'u' ? 4 : 8;
			unsigned long cp = 0;

			for (int i = 0; i < len; i++) {
				int h = (unsigned char)ps->p[i];
				if (!isxdigit(h)) {
					perr(ps, key, "bad \\%c escape", c);
					goto fail;
				}
				cp = cp * 16 + (unsigned long)(isdigit(h) ? h - '0' :
				    tolower(h) - 'a' + 10);
			}
			ps->p += len;
			if (put_utf8(out, &n, cp) < 0) {
				perr(ps, key, "invalid code point in \\%c escape", c);
				goto fail;
			}
			break;
		}
		default:
			perr(ps, key, "unknown escape '\\%c'", c ? c : '0');
			goto fail;
		}
	}
	out[n] = '\0';
	return out;
fail:
	free(out);
	return NULL;
}

/* A key: bare or quoted.  Returns malloc'd text. */
static char *
parse_key(struct parser *ps)
{
	const char *s = ps->p;

	if (*s == '"' || *s == '\'') {
		char *k = parse_string(ps, NULL);
		if (k != NULL && *k == '\0') {
			perr(ps, NULL, "empty key");
			free(k);
			return NULL;
		}
		return k;
	}
	while (is_bare((unsigned char)*ps->p))
		ps->p++;
	if (ps->p == s) {
		perr(ps, NULL, "expected a key, found '%c'", *s ? *s : ' ');
		return NULL;
	}
	return strndup(s, (size_t)(ps->p - s));
}

static int
parse_int(struct parser *ps, const char *key, long long *out)
{
	char digits[64];
	size_t n = 0;
	int base = 10;
	const char *p = ps->p;
	char *end;

	if (*p == '+' || *p == '-')
		digits[n++] = *p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (; isxdigit((unsigned char)*p) || *p == '_'; p++) {
		if (*p == '_')
			continue;
		if (base == 10 && !isdigit((unsigned char)*p))
			break;
		if (n >= sizeof(digits) - 1) {
			perr(ps, key, "integer too long");
			return -1;
		}
		digits[n++] = *p;
	}
	digits[n] = '\0';
	if (*p == '.' || *p == 'e' || *p == 'E') {
		perr(ps, key, "floats are not supported");
		return -1;
	}
	if (is_bare((unsigned char)*p) || *p == ':') {
		perr(ps, key, "invalid value (strings must be quoted)");
		return -1;
	}
	errno = 0;
	*out = strtoll(digits, &end, base);
	if (errno != 0 || *end != '\0' || end == digits ||
	    (end == digits + 1 && (digits[0] == '+' || digits[0] == '-'))) {
		perr(ps, key, "invalid integer");
		return -1;
	}
	ps->p = p;
	return 0;
}

static int
parse_strarray(struct parser *ps, struct conf_value *v)
{
	size_t cap = 0;

	ps->p++;	/* '[' */
	for (;;) {
		char *s, **nv;

		skip_ws_nl(ps);
		if (*ps->p == ']') {
			ps->p++;
			return 0;
		}
		if (*ps->p != '"' && *ps->p != '\'') {
			perr(ps, v->key, *ps->p == '\0' ? "unterminated array" :
			    "only arrays of strings are supported");
			return -1;
		}
		if ((s = parse_string(ps, v->key)) == NULL)
			return -1;
		if (v->u.arr.n == cap) {
			cap = cap ? cap * 2 : 4;
			if ((nv = realloc(v->u.arr.v, cap * sizeof(*nv))) == NULL) {
				free(s);
				perr(ps, v->key, "out of memory");
				return -1;
			}
			v->u.arr.v = nv;
		}
		v->u.arr.v[v->u.arr.n++] = s;
		skip_ws_nl(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p != ']') {
			perr(ps, v->key, "expected ',' or ']' in array");
			return -1;
		}
	}
}

static int
parse_keyval(struct parser *ps, struct conf_table *t)
{
	char *key = parse_key(ps);
	struct conf_value *v;
	int line = ps->line;

	if (key == NULL)
		return -1;
	skip_ws(ps);
	if (*ps->p == '.') {
		perr(ps, key, "dotted keys are not supported; use a [table]");
		free(key);
		return -1;
	}
	if (*ps->p != '=') {
		perr(ps, key, "expected '=' after key");
		free(key);
		return -1;
	}
	ps->p++;
	skip_ws(ps);
	if (conf_table_find(t, key) != NULL) {
		perr(ps, key, "duplicate key");
		free(key);
		return -1;
	}
	if ((v = table_add(t, key, line, CONF_STRING)) == NULL) {
		free(key);
		perr(ps, NULL, "out of memory");
		return -1;
	}
	switch (*ps->p) {
	case '"':
	case '\'':
		if ((v->u.s = parse_string(ps, v->key)) == NULL) {
			v->type = CONF_INT;	/* nothing to free */
			return -1;
		}
		break;
	case '[':
		v->type = CONF_STRARRAY;
		if (parse_strarray(ps, v) < 0)
			return -1;
		break;
	case '{':
		v->type = CONF_INT;
		perr(ps, v->key, "inline tables are not supported; use a [table]");
		return -1;
	case 't':
	case 'f':
		v->type = CONF_BOOL;
		if (strncmp(ps->p, "true", 4) == 0 && !is_bare((unsigned char)ps->p[4])) {
			v->u.b = true;
			ps->p += 4;
		} else if (strncmp(ps->p, "false", 5) == 0 &&
		    !is_bare((unsigned char)ps->p[5])) {
			v->u.b = false;
			ps->p += 5;
		} else {
			perr(ps, v->key, "invalid value (strings must be quoted)");
			return -1;
		}
		break;
	default:
		v->type = CONF_INT;
		if (*ps->p == '\0' || *ps->p == '\n' || *ps->p == '#') {
			perr(ps, v->key, "missing value");
			return -1;
		}
		if (!(isdigit((unsigned char)*ps->p) || *ps->p == '+' || *ps->p == '-')) {
			perr(ps, v->key, "invalid value (strings must be quoted)");
			return -1;
		}
		if (parse_int(ps, v->key, &v->u.i) < 0)
			return -1;
		break;
	}
	return expect_eol(ps, v->key);
}

/* Resolves one path component for a header, creating tables as needed. */
static struct conf_table *
header_step(struct parser *ps, struct conf_table *t, const char *comp,
    const char *fullname, int last, int is_array)
{
	struct conf_value *v = conf_table_find(t, comp);
	char *k;

	if (v != NULL) {
		if (last && is_array) {
			struct conf_table **nv, *nt;

			if (v->type != CONF_TABLEARRAY) {
				perr(ps, fullname, "already defined as a %s",
				    v->type == CONF_TABLE ? "table" : "value");
				return NULL;
			}
			nt = table_new(ps->file, fullname, ps->line, ps->flags);
			nv = realloc(v->u.tarr.v, (v->u.tarr.n + 1) * sizeof(*nv));
			if (nt == NULL || nv == NULL) {
				table_free(nt);
				perr(ps, NULL, "out of memory");
				return NULL;
			}
			v->u.tarr.v = nv;
			nv[v->u.tarr.n++] = nt;
			nt->explicit_hdr = true;
			return nt;
		}
		if (v->type == CONF_TABLEARRAY && !last)
			return v->u.tarr.v[v->u.tarr.n - 1];
		if (v->type != CONF_TABLE) {
			perr(ps, fullname, "already defined as %s",
			    v->type == CONF_TABLEARRAY ? "an array of tables" :
			    "a value");
			return NULL;
		}
		if (last) {
			if (v->u.t->explicit_hdr) {
				perr(ps, fullname, "table defined twice");
				return NULL;
			}
			v->u.t->explicit_hdr = true;
			v->u.t->line = ps->line;
		}
		return v->u.t;
	}
	if ((k = strdup(comp)) == NULL ||
	    (v = table_add(t, k, ps->line, CONF_TABLE)) == NULL) {
		free(k);
		perr(ps, NULL, "out of memory");
		return NULL;
	}
	if (last && is_array) {
		v->type = CONF_TABLEARRAY;
		v->u.tarr.v = calloc(1, sizeof(*v->u.tarr.v));
		if (v->u.tarr.v == NULL ||
		    (v->u.tarr.v[0] = table_new(ps->file, fullname, ps->line,
		    ps->flags)) == NULL) {
			perr(ps, NULL, "out of memory");
			return NULL;
		}
		v->u.tarr.n = 1;
		v->u.tarr.v[0]->explicit_hdr = true;
		return v->u.tarr.v[0];
	}
	if ((v->u.t = table_new(ps->file, fullname, ps->line, ps->flags)) == NULL) {
		perr(ps, NULL, "out of memory");
		return NULL;
	}
	v->u.t->explicit_hdr = last;
	return v->u.t;
}

static struct conf_table *
parse_header(struct parser *ps)
{
	char *comps[CONF_MAX_PATH];
	char fullname[1024] = "";
	size_t ncomp = 0, fl = 0;
	int is_array = 0;
	struct conf_table *t = NULL;

	ps->p++;
	if (*ps->p == '[') {
		is_array = 1;
		ps->p++;
	}
	for (;;) {
		skip_ws(ps);
		if (ncomp == CONF_MAX_PATH) {
			perr(ps, NULL, "table name too deep");
			goto out;
		}
		if ((comps[ncomp] = parse_key(ps)) == NULL)
			goto out;
		fl += (size_t)snprintf(fullname + fl, fl < sizeof(fullname) ?
		    sizeof(fullname) - fl : 0, "%s%s", ncomp ? "." : "", comps[ncomp]);
		ncomp++;
		skip_ws(ps);
		if (*ps->p == '.') {
			ps->p++;
			continue;
		}
		break;
	}
	if (*ps->p != ']' || (is_array && ps->p[1] != ']')) {
		perr(ps, NULL, "expected '%s' to close table header",
		    is_array ? "]]" : "]");
		goto out;
	}
	ps->p += is_array ? 2 : 1;
	t = ps->doc->root;
	for (size_t i = 0; i < ncomp && t != NULL; i++)
		t = header_step(ps, t, comps[i], fullname, i + 1 == ncomp, is_array);
	if (t != NULL && expect_eol(ps, fullname) < 0)
		t = NULL;
out:
	for (size_t i = 0; i < ncomp; i++)
		free(comps[i]);
	return t;
}

struct conf_doc *
conf_parse_string(const char *name, const char *text, int flags,
    struct conf_err *e)
{
	struct parser ps = { .p = text, .line = 1, .flags = flags, .e = e };
	struct conf_table *cur;

	e->msg[0] = '\0';
	if ((ps.doc = calloc(1, sizeof(*ps.doc))) == NULL ||
	    (ps.doc->file = strdup(name)) == NULL) {
		snprintf(e->msg, sizeof(e->msg), "%s: out of memory", name);
		if (ps.doc)
			free(ps.doc);
		return NULL;
	}
	ps.file = ps.doc->file;
	if ((ps.doc->root = table_new(ps.file, "", 0, flags)) == NULL) {
		snprintf(e->msg, sizeof(e->msg), "%s: out of memory", name);
		goto fail;
	}
	cur = ps.doc->root;
	/* UTF-8 byte order mark. */
	if (strncmp(ps.p, "\xEF\xBB\xBF", 3) == 0)
		ps.p += 3;
	for (;;) {
		skip_ws_nl(&ps);
		if (*ps.p == '\0')
			break;
		if (*ps.p == '[') {
			if ((cur = parse_header(&ps)) == NULL)
				goto fail;
			continue;
		}
		if (parse_keyval(&ps, cur) < 0)
			goto fail;
	}
	return ps.doc;
fail:
	conf_free(ps.doc);
	return NULL;
}

struct conf_doc *
conf_parse_file(const char *path, int flags, struct conf_err *e)
{
	struct conf_doc *doc = NULL;
	struct stat st;
	char *text = NULL;
	size_t n = 0;
	ssize_t r;
	int fd;

	e->msg[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(e->msg, sizeof(e->msg), "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(e->msg, sizeof(e->msg), "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > CONF_MAX_FILE) {
		snprintf(e->msg, sizeof(e->msg), "%s: larger than %d bytes", path,
		    CONF_MAX_FILE);
		goto out;
	}
	if ((text = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(e->msg, sizeof(e->msg), "%s: out of memory", path);
		goto out;
	}
	while (n < (size_t)st.st_size &&
	    (r = read(fd, text + n, (size_t)st.st_size - n)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			snprintf(e->msg, sizeof(e->msg), "%s: %s", path, strerror(errno));
			goto out;
		}
		n += (size_t)r;
	}
	text[n] = '\0';
	if (strlen(text) != n) {
		snprintf(e->msg, sizeof(e->msg), "%s: contains a NUL byte", path);
		goto out;
	}
	doc = conf_parse_string(path, text, flags, e);
out:
	free(text);
	close(fd);
	return doc;
}
