/*
 * xml — stanza trees, the serializer and the expat stream parser.
 * See xml.h.  The parser keeps one expat instance per stream (recreated on
 * restart) and builds a tree only for the element being parsed at depth 1;
 * the tree is handed to the owner once its end tag is seen and freed by it
 * after routing.
 */
#include "xml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "arena.h"
#include "crypto.h"

/*
 * Each expat parser lives in an arena of its own (arena.h), so a released
 * parser gives back whole pages instead of holes between the long-lived
 * blocks of sessions.  Under AddressSanitizer expat uses the C heap, which
 * ASan watches.
 */
#if defined(__SANITIZE_ADDRESS__)
#define XML_ARENA 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XML_ARENA 0
#endif
#endif
#ifndef XML_ARENA
#define XML_ARENA 1
#endif

/* ---- tree ---- */

static char *
xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	if (p)
		memcpy(p, s, n);
	return p;
}

/*
 * Allocation: a stanza's tree is built and freed once per stanza, so each
 * element carries its name and namespace in its own allocation, a text
 * node its first run of text, and an attribute its name and value in one
 * block ("name\0value\0"); the attribute array grows by doubling.
 */
/* Copies n bytes and a NUL; returns the byte after it. */
static char *
put(char *dst, const char *s, size_t n)
{
	memcpy(dst, s, n);
	dst[n] = '\0';
	return dst + n + 1;
}

/* A zeroed node with extra bytes after it. */
static struct xml_node *
node_alloc(size_t extra)
{
	struct xml_node *n = malloc(sizeof(*n) + extra);

	if (n)
		memset(n, 0, sizeof(*n));
	return n;
}

static struct xml_node *
node_new(const char *name, size_t nl, const char *ns, size_t nsl)
{
	struct xml_node *n = node_alloc(nl + nsl + 2);

	if (n == NULL)
		return NULL;
	n->name = (char *)(n + 1);
	n->ns = put(n->name, name, nl);
	put(n->ns, ns, nsl);
	return n;
}

static struct xml_node *
text_new(const char *text, size_t len)
{
	struct xml_node *t = node_alloc(len + 1);

	if (t == NULL)
		return NULL;
	t->text = (char *)(t + 1);
	put(t->text, text, len);
	t->textlen = len;
	return t;
}

static bool
text_inline(const struct xml_node *t)
{
	return t->text == (const char *)(t + 1);
}

struct xml_node *
xml_new(const char *name, const char *ns)
{
	if (ns == NULL)
		ns = "";
	return node_new(name, strlen(name), ns, strlen(ns));
}

void
xml_append_child(struct xml_node *parent, struct xml_node *child)
{
	child->parent = parent;
	child->next = NULL;
	if (parent->last)
		parent->last->next = child;
	else
		parent->children = child;
	parent->last = child;
}

void
xml_detach(struct xml_node *child)
{
	struct xml_node *p = child->parent, *c, *prev = NULL;

	if (p == NULL)
		return;
	for (c = p->children; c != NULL; prev = c, c = c->next) {
		if (c != child)
			continue;
		if (prev)
			prev->next = c->next;
		else
			p->children = c->next;
		if (p->last == c)
			p->last = prev;
		break;
	}
	child->parent = child->next = NULL;
}

struct xml_node *
xml_add(struct xml_node *parent, const char *name, const char *ns)
{
	struct xml_node *n;

	if (ns == NULL)
		ns = parent->ns;
	if ((n = xml_new(name, ns)) == NULL)
		return NULL;
	xml_append_child(parent, n);
	return n;
}

int
xml_add_text(struct xml_node *parent, const char *text, size_t len)
{
	struct xml_node *t = parent->last;
	char *p;

	if (t != NULL && t->name == NULL) {
		/* coalesce adjacent character data (expat splits at lines) */
		if (text_inline(t)) {
			if ((p = malloc(t->textlen + len + 1)) != NULL)
				memcpy(p, t->text, t->textlen);
		} else {
			p = realloc(t->text, t->textlen + len + 1);
		}
		if (p == NULL)
			return -1;
		memcpy(p + t->textlen, text, len);
		t->textlen += len;
		p[t->textlen] = '\0';
		t->text = p;
		return 0;
	}
	if ((t = text_new(text, len)) == NULL)
		return -1;
	xml_append_child(parent, t);
	return 0;
}

struct xml_node *
xml_add_with_text(struct xml_node *parent, const char *name, const char *ns,
    const char *text)
{
	struct xml_node *n = xml_add(parent, name, ns);

	if (n && text && xml_add_text(n, text, strlen(text)) == -1)
		return NULL;
	return n;
}

/* One block holding "name\0value\0"; a's name points at it. */
static int
attr_fill(struct xml_attr *a, const char *name, size_t nl, const char *value)
{
	size_t vl = strlen(value);
	char *p = malloc(nl + vl + 2);

	if (p == NULL)
		return -1;
	a->name = p;
	a->value = put(p, name, nl);
	put(a->value, value, vl);
	return 0;
}

/* A new attribute, known not to be there yet (the parser's: expat
 * refuses duplicates; a copy's); name: nl bytes, not necessarily
 * NUL-terminated. */
static int
attr_append(struct xml_node *n, const char *name, size_t nl, const char *value)
{
	struct xml_attr *a;
	size_t cap;

	/* capacity: 4, then doubled whenever a power of two is reached */
	if (n->nattrs == 0 || (n->nattrs >= 4 && (n->nattrs & (n->nattrs - 1)) == 0)) {
		cap = n->nattrs < 4 ? 4 : n->nattrs * 2;
		if ((a = realloc(n->attrs, cap * sizeof(*a))) == NULL)
			return -1;
		n->attrs = a;
	}
	if (attr_fill(&n->attrs[n->nattrs], name, nl, value) == -1)
		return -1;
	n->nattrs++;
	return 0;
}

static int
attr_set(struct xml_node *n, const char *name, size_t nl, const char *value)
{
	struct xml_attr old;

	for (size_t i = 0; i < n->nattrs; i++) {
		if (strncmp(n->attrs[i].name, name, nl) == 0 && n->attrs[i].name[nl] == '\0') {
			old = n->attrs[i];
			if (attr_fill(&n->attrs[i], name, nl, value) == -1)
				return -1;
			free(old.name);
			return 0;
		}
	}
	return attr_append(n, name, nl, value);
}

int
xml_set_attr(struct xml_node *n, const char *name, const char *value)
{
	return attr_set(n, name, strlen(name), value);
}

void
xml_del_attr(struct xml_node *n, const char *name)
{
	for (size_t i = 0; i < n->nattrs; i++) {
		if (strcmp(n->attrs[i].name, name) == 0) {
			free(n->attrs[i].name);
			n->attrs[i] = n->attrs[--n->nattrs];
			return;
		}
	}
}

const char *
xml_attr(const struct xml_node *n, const char *name)
{
	for (size_t i = 0; i < n->nattrs; i++)
		if (strcmp(n->attrs[i].name, name) == 0)
			return n->attrs[i].value;
	return NULL;
}

void
xml_free(struct xml_node *n)
{
	struct xml_node *c, *next;

	if (n == NULL)
		return;
	for (c = n->children; c != NULL; c = next) {
		next = c->next;
		xml_free(c);
	}
	for (size_t i = 0; i < n->nattrs; i++)
		free(n->attrs[i].name);	/* the value is in the same block */
	free(n->attrs);
	if (n->name == NULL && !text_inline(n))
		free(n->text);
	free(n);
}

struct xml_node *
xml_copy(const struct xml_node *n)
{
	struct xml_node *c, *cc;

	if (n->name == NULL)
		return text_new(n->text, n->textlen);
	if ((c = xml_new(n->name, n->ns)) == NULL)
		return NULL;
	for (size_t i = 0; i < n->nattrs; i++) {
		if (attr_append(c, n->attrs[i].name, strlen(n->attrs[i].name),
		    n->attrs[i].value) == -1)
			goto fail;
	}
	for (const struct xml_node *k = n->children; k != NULL; k = k->next) {
		if ((cc = xml_copy(k)) == NULL)
			goto fail;
		xml_append_child(c, cc);
	}
	return c;
fail:
	xml_free(c);
	return NULL;
}

bool
xml_is(const struct xml_node *n, const char *name, const char *ns)
{
	/* first bytes before the calls: most children differ there */
	return n && n->name &&
	    (name == NULL || (n->name[0] == name[0] && strcmp(n->name, name) == 0)) &&
	    (ns == NULL || strcmp(n->ns, ns) == 0);
}

struct xml_node *
xml_child(const struct xml_node *n, const char *name, const char *ns)
{
	for (struct xml_node *c = n->children; c != NULL; c = c->next)
		if (xml_is(c, name, ns))
			return c;
	return NULL;
}

struct xml_node *
xml_first_elem(const struct xml_node *n)
{
	return xml_child(n, NULL, NULL);
}

struct xml_node *
xml_next_elem(const struct xml_node *n)
{
	for (struct xml_node *c = n->next; c != NULL; c = c->next)
		if (c->name)
			return c;
	return NULL;
}

char *
xml_text(const struct xml_node *n)
{
	struct buf b;

	buf_init(&b);
	for (struct xml_node *c = n->children; c != NULL; c = c->next) {
		if (c->name == NULL && buf_append(&b, c->text, c->textlen) == -1) {
			buf_free(&b);
			return NULL;
		}
	}
	if (b.p == NULL)
		return xstrdup("");
	return buf_steal(&b);
}

/* ---- serializer ---- */

int
xml_escape(struct buf *out, const char *s, size_t len, bool attr)
{
	/* 1: escaped in text and attributes, 2: in attributes only */
	static const uint8_t special[256] = {
		['&'] = 1, ['<'] = 1, ['>'] = 1, ['\r'] = 1,
		['"'] = 2, ['\''] = 2, ['\n'] = 2, ['\t'] = 2,
	};
	const uint8_t mask = attr ? 3 : 1;
	const unsigned char *u = (const unsigned char *)s;
	size_t start = 0, i = 0;
	const char *rep;

	/* most text has nothing to escape: one reservation, one copy */
	if (buf_reserve(out, len) == -1)
		return -1;
	for (;;) {
		/* strcspn is vectorised; it needs the NUL every string here
		 * has at len (an attribute's namespace part has not) */
		if (s[len] == '\0') {
			i += strcspn(s + i, attr ? "&<>\r\"'\n\t" : "&<>\r");
			if (i < len && s[i] == '\0') {	/* a NUL inside: not special */
				i++;
				continue;
			}
		} else {
			while (i < len && !(special[u[i]] & mask))
				i++;
		}
		if (i >= len)
			break;
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		case '\r': rep = "&#13;"; break;
		case '\n': rep = "&#10;"; break;
		default: rep = "&#9;"; break;
		}
		if (buf_append(out, s + start, i - start) == -1 ||
		    buf_puts(out, rep) == -1)
			return -1;
		start = ++i;
	}
	return buf_append(out, s + start, len - start);
}

static int
serialize_attr(struct buf *out, const struct xml_attr *a, unsigned *nsn)
{
	const char *sp = strchr(a->name, ' ');
	int rc;

	if (sp == NULL) {
		size_t nl = strlen(a->name);

		if ((rc = buf_reserve(out, nl + 3)) == 0) {
			out->p[out->len] = ' ';
			memcpy(out->p + out->len + 1, a->name, nl);
			memcpy(out->p + out->len + 1 + nl, "='", 3);
			out->len += nl + 3;
		}
	} else if ((size_t)(sp - a->name) == strlen(XML_NS_XMLURI) &&
	    strncmp(a->name, XML_NS_XMLURI, (size_t)(sp - a->name)) == 0) {
		rc = buf_printf(out, " xml:%s='", sp + 1);
	} else {
		/* a foreign-namespace attribute gets a private prefix */
		if (buf_printf(out, " xmlns:a%u='", *nsn) == -1 ||
		    xml_escape(out, a->name, (size_t)(sp - a->name), true) == -1)
			return -1;
		rc = buf_printf(out, "' a%u:%s='", *nsn, sp + 1);
		(*nsn)++;
	}
	if (rc == -1 || xml_escape(out, a->value, strlen(a->value), true) == -1)
		return -1;
	return buf_append(out, "'", 1);
}

int
xml_serialize(struct buf *out, const struct xml_node *n, const char *parent_ns)
{
	unsigned nsn = 0;
	bool xmlns_xml;

	if (n->name == NULL)
		return xml_escape(out, n->text, n->textlen, false);
	/* an element in the XML namespace keeps the xml: prefix: that
	 * namespace cannot be declared as a default (Namespaces in XML §3),
	 * and its children keep the default in force around it */
	xmlns_xml = strcmp(n->ns, XML_NS_XMLURI) == 0;
	/* appends, not printf: this runs for every element written */
	if (buf_append(out, "<", 1) == -1 || (xmlns_xml && buf_puts(out, "xml:") == -1) ||
	    buf_puts(out, n->name) == -1)
		return -1;
	if (!xmlns_xml && (parent_ns == NULL || strcmp(parent_ns, n->ns) != 0)) {
		if (buf_puts(out, " xmlns='") == -1 ||
		    xml_escape(out, n->ns, strlen(n->ns), true) == -1 ||
		    buf_append(out, "'", 1) == -1)
			return -1;
	}
	for (size_t i = 0; i < n->nattrs; i++)
		if (serialize_attr(out, &n->attrs[i], &nsn) == -1)
			return -1;
	if (n->children == NULL)
		return buf_puts(out, "/>");
	if (buf_append(out, ">", 1) == -1)
		return -1;
	for (const struct xml_node *c = n->children; c != NULL; c = c->next)
		if (xml_serialize(out, c, xmlns_xml ? parent_ns : n->ns) == -1)
			return -1;
	return buf_append(out, "</", 2) == -1 ||
	    (xmlns_xml && buf_puts(out, "xml:") == -1) || buf_puts(out, n->name) == -1 ?
	    -1 : buf_append(out, ">", 1);
}

/* ---- stream parser ---- */

struct xml_stream {
	XML_Parser p;
	struct arena *arena;	/* the parser's memory (XML_ARENA) */
	struct xml_limits lim;
	const struct xml_stream_cb *cb;
	void *arg;
	unsigned depth;		/* 0: before the root, 1: inside the root */
	struct xml_node *cur;	/* element being built (depth >= 2) */
	struct xml_node *top;	/* its top-level ancestor */
	long long boundary;	/* byte index where the current stanza may begin */
	long long fed;		/* bytes fed to this parser */
	long long stop_at;	/* restart: index right after the element */
	unsigned root_decls;	/* namespace declarations seen on the root */
	bool opened;		/* the root's start tag is complete */
	const char *error;
	bool stopped;
	bool restart;
	bool restarted;		/* this feed ended in a restart */
	bool in_feed;
	bool parked;		/* parser released while idle (xml_stream_park) */
	bool resuming;		/* feeding the synthetic root after a park */
	struct buf root;	/* "<qname xmlns...>" of the stream root, for resuming */
};

static void
stream_fail(struct xml_stream *s, const char *cond)
{
	if (s->error == NULL)
		s->error = cond;
	if (!s->stopped) {
		s->stopped = true;
		XML_StopParser(s->p, XML_FALSE);
	}
}

/*
 * Names arrive as "URI local prefix" triplets (XML_SetReturnNSTriplet), or
 * "URI local", or "local".  Returns the local name (malloc'd) and the
 * namespace (malloc'd or NULL) and, if wanted, the prefix (or NULL).
 */
static char *
split_name(const char *full, char **ns, char **prefix)
{
	const char *sp = strchr(full, ' '), *sp2;

	*ns = NULL;
	if (prefix)
		*prefix = NULL;
	if (sp == NULL)
		return strdup(full);
	*ns = strndup(full, (size_t)(sp - full));
	if ((sp2 = strchr(sp + 1, ' ')) == NULL)
		return strdup(sp + 1);
	if (prefix)
		*prefix = strdup(sp2 + 1);
	return strndup(sp + 1, (size_t)(sp2 - sp - 1));
}

/* Attribute names are kept as "URI local" (the prefix is not kept). */
static int
set_attr(struct xml_node *n, const char *name, const char *value)
{
	const char *sp = strchr(name, ' '), *sp2 = sp ? strchr(sp + 1, ' ') : NULL;

	return attr_append(n, name, sp2 ? (size_t)(sp2 - name) : strlen(name), value);
}

/* An element's "URI local [prefix]" or "local", in place. */
static void
name_parts(const char *full, const char **ns, size_t *nsl, const char **local, size_t *ll)
{
	const char *sp = strchr(full, ' '), *sp2;

	if (sp == NULL) {
		*ns = "";
		*nsl = 0;
		*local = full;
		*ll = strlen(full);
		return;
	}
	*ns = full;
	*nsl = (size_t)(sp - full);
	*local = sp + 1;
	sp2 = strchr(sp + 1, ' ');
	*ll = sp2 ? (size_t)(sp2 - sp - 1) : strlen(sp + 1);
}

static void XMLCALL
on_nsdecl(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
	struct xml_stream *s = ud;

	/* remember the root's declarations so a parked parser can resume */
	if (s->depth != 0 || s->resuming || s->stopped)
		return;
	if (++s->root_decls > s->lim.max_root_decls) {
		stream_fail(s, "policy-violation");
		return;
	}
	if (prefix)
		buf_printf(&s->root, " xmlns:%s='", prefix);
	else
		buf_puts(&s->root, " xmlns='");
	xml_escape(&s->root, uri ? uri : "", uri ? strlen(uri) : 0, true);
	buf_puts(&s->root, "'");
}

/* The stream root: opened by the owner, remembered for resuming. */
static void
root_start(struct xml_stream *s, const XML_Char *name, const XML_Char **attrs)
{
	char *ns, *local, *prefix;

	if ((local = split_name(name, &ns, &prefix)) == NULL) {
		free(ns);
		free(prefix);
		stream_fail(s, "resource-constraint");
		return;
	}
	s->depth = 1;
	s->opened = true;
	s->boundary = XML_GetCurrentByteIndex(s->p) +
	    XML_GetCurrentByteCount(s->p);
	if (!s->resuming && s->boundary > (long long)s->lim.max_header) {
		free(local);
		free(ns);
		free(prefix);
		stream_fail(s, "policy-violation");
		return;
	}
	if (!s->resuming) {
		/* "<prefix:local" + declarations + ">" */
		struct buf decls = s->root;

		buf_init(&s->root);
		buf_printf(&s->root, "<%s%s%s", prefix ? prefix : "", prefix ? ":" : "",
		    local);
		if (decls.p)
			buf_append(&s->root, decls.p, decls.len);
		buf_puts(&s->root, ">");
		buf_free(&decls);
		s->cb->open(s->arg, local, ns ? ns : "", (const char **)attrs);
	}
	free(local);
	free(ns);
	free(prefix);
}

static void XMLCALL
on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct xml_stream *s = ud;
	struct xml_node *n;
	const char *ns, *local;
	size_t nsl, ll;
	unsigned na = 0;

	if (s->stopped)
		return;
	while (attrs[2 * na])
		na++;
	if (na > s->lim.max_attrs) {
		stream_fail(s, "policy-violation");
		return;
	}
	if (s->depth >= 1 &&
	    XML_GetCurrentByteIndex(s->p) - s->boundary > (long long)s->lim.max_stanza) {
		stream_fail(s, "policy-violation");
		return;
	}
	if (s->depth == 0) {
		root_start(s, name, attrs);
		return;
	}
	if (s->depth > s->lim.max_depth) {
		stream_fail(s, "policy-violation");
		return;
	}
	name_parts(name, &ns, &nsl, &local, &ll);
	if ((n = node_new(local, ll, ns, nsl)) == NULL) {
		stream_fail(s, "resource-constraint");
		return;
	}
	if (s->cur)
		xml_append_child(s->cur, n);
	if (s->cur == NULL)
		s->top = n;
	s->cur = n;
	s->depth++;
	for (unsigned i = 0; i < na; i++) {
		if (set_attr(n, attrs[2 * i], attrs[2 * i + 1]) == -1) {
			stream_fail(s, "resource-constraint");
			return;
		}
	}
}

static void XMLCALL
on_end(void *ud, const XML_Char *name)
{
	struct xml_stream *s = ud;
	struct xml_node *top;

	(void)name;
	if (s->stopped)
		return;
	if (s->depth == 1) {
		s->depth = 0;
		s->cb->close(s->arg);
		return;
	}
	s->depth--;
	s->cur = s->cur->parent;
	if (s->depth > 1)
		return;
	top = s->top;
	s->top = s->cur = NULL;
	s->boundary = XML_GetCurrentByteIndex(s->p) + XML_GetCurrentByteCount(s->p);
	s->cb->stanza(s->arg, top);
	if (s->restart && !s->stopped) {
		s->stop_at = s->boundary;
		s->stopped = true;
		XML_StopParser(s->p, XML_FALSE);
	}
}

static void XMLCALL
on_text(void *ud, const XML_Char *text, int len)
{
	struct xml_stream *s = ud;

	if (s->stopped)
		return;
	if (s->cur == NULL) {
		/* whitespace keepalives between stanzas */
		s->boundary = XML_GetCurrentByteIndex(s->p) + XML_GetCurrentByteCount(s->p);
		return;
	}
	if (XML_GetCurrentByteIndex(s->p) - s->boundary > (long long)s->lim.max_stanza) {
		stream_fail(s, "policy-violation");
		return;
	}
	if (xml_add_text(s->cur, text, (size_t)len) == -1)
		stream_fail(s, "resource-constraint");
}

/* RFC 6120 §11.1: these constructs are forbidden on an XMPP stream. */
static void XMLCALL
on_comment(void *ud, const XML_Char *data)
{
	(void)data;
	stream_fail(ud, "restricted-xml");
}

static void XMLCALL
on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
	(void)target;
	(void)data;
	stream_fail(ud, "restricted-xml");
}

static void XMLCALL
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int has_internal)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal;
	stream_fail(ud, "restricted-xml");
}

static void XMLCALL
on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
    int value_len, const XML_Char *base, const XML_Char *sysid,
    const XML_Char *pubid, const XML_Char *notation)
{
	(void)name; (void)is_param; (void)value; (void)value_len; (void)base;
	(void)sysid; (void)pubid; (void)notation;
	stream_fail(ud, "restricted-xml");
}

/*
 * expat's memory suite carries no context: the arena of the parser being
 * created or fed is this one (saved and restored around every call into
 * expat, so a callback may use another stream).  free and realloc find the
 * arena from the block itself.
 */
static struct arena *cur_arena;

static void *
xm_malloc(size_t n)
{
	return arena_malloc(cur_arena, n);
}

static void *
xm_realloc(void *p, size_t n)
{
	return arena_realloc(cur_arena, p, n);
}

static const XML_Memory_Handling_Suite xml_mm = {
	xm_malloc, xm_realloc, arena_release
};

static enum XML_Status
parse(struct xml_stream *s, const char *data, int len)
{
	struct arena *saved = cur_arena;
	enum XML_Status st;

	cur_arena = s->arena;
	st = XML_Parse(s->p, data, len, XML_FALSE);
	cur_arena = saved;
	return st;
}

static void
parser_destroy(struct xml_stream *s);

static int
parser_create(struct xml_stream *s)
{
	unsigned long salt;
	struct arena *saved = cur_arena;

	if (XML_ARENA) {
		if ((s->arena = arena_new()) == NULL)
			return -1;
		cur_arena = s->arena;
		s->p = XML_ParserCreate_MM("UTF-8", &xml_mm, " ");
		cur_arena = saved;
	} else {
		s->p = XML_ParserCreateNS("UTF-8", ' ');
	}
	if (s->p == NULL || random_bytes(&salt, sizeof(salt)) == -1) {
		parser_destroy(s);
		return -1;
	}
	XML_SetHashSalt(s->p, salt);
	XML_SetUserData(s->p, s);
	XML_SetReturnNSTriplet(s->p, XML_TRUE);
	XML_SetStartNamespaceDeclHandler(s->p, on_nsdecl);
	XML_SetElementHandler(s->p, on_start, on_end);
	XML_SetCharacterDataHandler(s->p, on_text);
	XML_SetCommentHandler(s->p, on_comment);
	XML_SetProcessingInstructionHandler(s->p, on_pi);
	XML_SetStartDoctypeDeclHandler(s->p, on_doctype);
	XML_SetEntityDeclHandler(s->p, on_entity);
	XML_SetParamEntityParsing(s->p, XML_PARAM_ENTITY_PARSING_NEVER);
	/* stanzas must be handed over as soon as their end tag arrives */
	XML_SetReparseDeferralEnabled(s->p, XML_FALSE);
	s->depth = 0;
	s->root_decls = 0;
	s->opened = false;
	s->boundary = s->fed = 0;
	s->stop_at = -1;
	s->stopped = s->restart = false;
	return 0;
}

static void
parser_destroy(struct xml_stream *s)
{
	xml_free(s->top);
	s->top = s->cur = NULL;
	if (s->p)
		XML_ParserFree(s->p);
	s->p = NULL;
	arena_free(s->arena);
	s->arena = NULL;
}

struct xml_stream *
xml_stream_new(const struct xml_limits *lim, const struct xml_stream_cb *cb,
    void *arg)
{
	struct xml_stream *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->lim = *lim;
	if (s->lim.max_header == 0)
		s->lim.max_header = XML_MAX_HEADER;
	if (s->lim.max_root_decls == 0)
		s->lim.max_root_decls = XML_MAX_ROOT_DECLS;
	s->cb = cb;
	s->arg = arg;
	if (parser_create(s) == -1) {
		free(s);
		return NULL;
	}
	return s;
}

void
xml_stream_free(struct xml_stream *s)
{
	if (s == NULL)
		return;
	parser_destroy(s);
	buf_free(&s->root);
	free(s);
}

const char *
xml_stream_error(const struct xml_stream *s)
{
	return s->error ? s->error : "not-well-formed";
}

int
xml_stream_restart(struct xml_stream *s)
{
	if (s->in_feed) {
		s->restart = true;
		return 0;
	}
	parser_destroy(s);
	buf_reset(&s->root);
	s->parked = false;
	return parser_create(s);
}

/*
 * expat copies every input into its own buffer, which keeps the size of
 * the largest piece it was ever given; feeding small slices keeps that
 * buffer (and so an idle connection) small.
 */
#define FEED_SLICE 1024

static long
feed_slice(struct xml_stream *s, const char *data, size_t len)
{
	enum XML_Status st;
	long consumed;

	s->in_feed = true;
	st = parse(s, data, (int)len);
	s->in_feed = false;
	if (s->error)
		return -1;
	if (s->restart) {
		consumed = (long)(s->stop_at >= 0 ? s->stop_at - s->fed : (long long)len);
		if (consumed < 0 || (size_t)consumed > len)
			consumed = (long)len;
		parser_destroy(s);
		buf_reset(&s->root);
		if (parser_create(s) == -1) {
			s->error = "resource-constraint";
			return -1;
		}
		s->restarted = true;
		return consumed;
	}
	if (st != XML_STATUS_OK) {
		s->error = "not-well-formed";
		return -1;
	}
	s->fed += (long long)len;
	/* an unfinished token (a huge start tag) counts against the limit;
	 * before the root, against the header's */
	if ((s->depth >= 1 && s->fed - s->boundary > (long long)s->lim.max_stanza) ||
	    (!s->opened && s->fed > (long long)s->lim.max_header)) {
		s->error = "policy-violation";
		return -1;
	}
	return (long)len;
}

void
xml_stream_set_max_stanza(struct xml_stream *s, size_t max_stanza)
{
	s->lim.max_stanza = max_stanza;
}

bool
xml_stream_park(struct xml_stream *s)
{
	/* only between stanzas, with nothing buffered inside expat */
	if (s->p == NULL || s->error || s->in_feed || s->depth != 1 || s->cur ||
	    s->boundary != s->fed || s->root.len == 0 || s->root.len > 4096)
		return false;
	parser_destroy(s);
	s->parked = true;
	return true;
}

bool
xml_stream_parked(const struct xml_stream *s)
{
	return s->p == NULL;
}

size_t
xml_stream_mem(const struct xml_stream *s)
{
	return s->arena ? arena_mapped(s->arena) : 0;
}

static int
unpark(struct xml_stream *s)
{
	enum XML_Status st;

	if (parser_create(s) == -1)
		return -1;
	s->resuming = true;
	st = parse(s, s->root.p, (int)s->root.len);
	s->resuming = false;
	if (st != XML_STATUS_OK || s->depth != 1)
		return -1;
	s->fed = (long long)s->root.len;
	s->parked = false;
	return 0;
}

long
xml_stream_feed(struct xml_stream *s, const char *data, size_t len)
{
	size_t off = 0, n;
	long rc;

	if (s->error)
		return -1;
	if (s->parked && unpark(s) == -1) {
		s->error = "resource-constraint";
		return -1;
	}
	if (len > (size_t)INT32_MAX)
		len = INT32_MAX;
	s->restarted = false;
	while (off < len) {
		n = len - off < FEED_SLICE ? len - off : FEED_SLICE;
		if ((rc = feed_slice(s, data + off, n)) < 0)
			return -1;
		off += (size_t)rc;
		if (s->restarted)
			break;	/* the rest is the caller's */
	}
	return (long)off;
}
