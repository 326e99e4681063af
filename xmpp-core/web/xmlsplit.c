/*
 * xmlsplit — cutting XML text at top-level elements.  See xmlsplit.h.
 */
#include "xmlsplit.h"

#include <string.h>

static bool
is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Offset just past the first occurrence of s at or after i, or 0. */
static size_t
past(const char *p, size_t n, size_t i, const char *s)
{
	size_t k = strlen(s);

	for (; i + k <= n; i++)
		if (memcmp(p + i, s, k) == 0)
			return i + k;
	return 0;
}

/*
 * A start tag from p[i] == '<': returns the offset of its closing '>'
 * (0: incomplete, (size_t)-1: malformed); name span, emptiness and a
 * default namespace declaration are reported when wanted.
 */
static size_t
start_tag(const char *p, size_t n, size_t i, struct xml_unit *u)
{
	size_t j = i + 1, a;

	while (j < n && !is_space(p[j]) && p[j] != '/' && p[j] != '>')
		j++;
	if (j >= n)
		return 0;
	if (j == i + 1)
		return (size_t)-1;
	if (u) {
		u->name = i + 1;
		u->namelen = j - i - 1;
		u->has_xmlns = false;
		u->empty = false;
	}
	for (;;) {
		while (j < n && is_space(p[j]))
			j++;
		if (j >= n)
			return 0;
		if (p[j] == '>')
			return j;
		if (p[j] == '/') {
			if (j + 1 >= n)
				return 0;
			if (p[j + 1] != '>')
				return (size_t)-1;
			if (u)
				u->empty = true;
			return j + 1;
		}
		a = j;
		while (j < n && !is_space(p[j]) && p[j] != '=' && p[j] != '>' && p[j] != '/')
			j++;
		if (u && j - a == 5 && memcmp(p + a, "xmlns", 5) == 0)
			u->has_xmlns = true;
		while (j < n && is_space(p[j]))
			j++;
		if (j >= n)
			return 0;
		if (p[j] != '=' || j == a)
			return (size_t)-1;
		j++;
		while (j < n && is_space(p[j]))
			j++;
		if (j >= n)
			return 0;
		if (p[j] != '\'' && p[j] != '"')
			return (size_t)-1;
		{
			const char *q = memchr(p + j + 1, p[j], n - j - 1);

			if (q == NULL)
				return 0;
			j = (size_t)(q - p) + 1;
		}
	}
}

int
xml_unit_next(const char *p, size_t n, bool stream_tag, struct xml_unit *u)
{
	size_t i = 0, e;
	unsigned depth;

	memset(u, 0, sizeof(*u));
	if (n == 0)
		return 0;
	if (is_space(p[0])) {
		while (i < n && is_space(p[i]))
			i++;
		u->kind = XU_SPACE;
		u->len = i;
		return 1;
	}
	if (p[0] != '<')
		return -1;
	if (n < 2)
		return 0;
	if (p[1] == '?') {
		if ((e = past(p, n, 2, "?>")) == 0)
			return 0;
		u->kind = XU_PI;
		u->len = e;
		return 1;
	}
	if (p[1] == '!')
		return -1;
	if (p[1] == '/') {
		const char *q = memchr(p, '>', n);

		if (q == NULL)
			return 0;
		u->kind = XU_END;
		u->name = 2;
		u->namelen = (size_t)(q - p) - 2;
		while (u->namelen > 0 && is_space(p[2 + u->namelen - 1]))
			u->namelen--;
		u->len = (size_t)(q - p) + 1;
		return 1;
	}
	if ((e = start_tag(p, n, 0, u)) == 0)
		return 0;
	if (e == (size_t)-1)
		return -1;
	u->stag_end = u->empty ? e - 1 : e;
	u->len = e + 1;
	u->kind = XU_ELEMENT;
	if (u->empty)
		return 1;
	if (stream_tag && u->namelen == 13 && memcmp(p + u->name, "stream:stream", 13) == 0) {
		u->kind = XU_START;
		return 1;
	}
	depth = 1;
	i = e + 1;
	while (depth > 0) {
		const char *q = i < n ? memchr(p + i, '<', n - i) : NULL;
		struct xml_unit t;

		if (q == NULL)
			return 0;
		i = (size_t)(q - p);
		if (i + 1 >= n)
			return 0;
		if (p[i + 1] == '!') {
			if (n - i >= 4 && memcmp(p + i, "<!--", 4) == 0)
				e = past(p, n, i + 4, "-->");
			else if (n - i >= 9 && memcmp(p + i, "<![CDATA[", 9) == 0)
				e = past(p, n, i + 9, "]]>");
			else if (n - i < 9)
				return 0;
			else
				return -1;
			if (e == 0)
				return 0;
			i = e;
		} else if (p[i + 1] == '?') {
			if ((e = past(p, n, i + 2, "?>")) == 0)
				return 0;
			i = e;
		} else if (p[i + 1] == '/') {
			if ((q = memchr(p + i, '>', n - i)) == NULL)
				return 0;
			i = (size_t)(q - p) + 1;
			depth--;
		} else {
			if ((e = start_tag(p, n, i, &t)) == 0)
				return 0;
			if (e == (size_t)-1)
				return -1;
			if (!t.empty)
				depth++;
			i = e + 1;
		}
	}
	u->len = i;
	return 1;
}

void
xml_unit_attrs(const char *p, const struct xml_unit *u,
    bool (*fn)(void *arg, const char *name, size_t nlen, const char *val,
    size_t vlen), void *arg)
{
	size_t j = u->name + u->namelen, n = u->stag_end, a, al, v;

	for (;;) {
		while (j < n && is_space(p[j]))
			j++;
		if (j >= n || p[j] == '>' || p[j] == '/')
			return;
		a = j;
		while (j < n && !is_space(p[j]) && p[j] != '=')
			j++;
		al = j - a;
		while (j < n && p[j] != '\'' && p[j] != '"')
			j++;
		if (j >= n)
			return;
		v = j + 1;
		{
			const char *q = memchr(p + v, p[j], n - v);

			if (q == NULL)
				return;
			j = (size_t)(q - p) + 1;
		}
		if (!fn(arg, p + a, al, p + v, j - 1 - v))
			return;
	}
}
