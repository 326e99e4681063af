/*
 * capsver — the XEP-0115 §5.1 verification string and its hash over a
 * disco#info answer: the server's own caps (disco.c) and the check of
 * what clients announce (pubsub/caps.c).  See capsver.h.
 */
#include "capsver.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "crypto.h"
#include "server.h"
#include "xml.h"

#define MAX_FEATURES 1000
#define MAX_IDENTITIES 100
#define MAX_FORMS 20

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct ident {
	const char *cat, *type, *lang, *name;
};

static int
cmp_ident(const void *a, const void *b)
{
	const struct ident *x = a, *y = b;
	int r;

	if ((r = strcmp(x->cat, y->cat)) != 0 || (r = strcmp(x->type, y->type)) != 0 ||
	    (r = strcmp(x->lang, y->lang)) != 0)
		return r;
	return strcmp(x->name, y->name);
}

struct form {
	const char *type;
	const struct xml_node *x;
};

static int
cmp_form(const void *a, const void *b)
{
	return strcmp(((const struct form *)a)->type, ((const struct form *)b)->type);
}

static const char *
attr_or_empty(const struct xml_node *n, const char *a)
{
	const char *v = xml_attr(n, a);

	return v ? v : "";
}

/* The FORM_TYPE of an extended form, or NULL (such forms are skipped). */
static const char *
form_type(const struct xml_node *x, const struct xml_node **ftf)
{
	for (struct xml_node *f = xml_first_elem(x); f; f = xml_next_elem(f)) {
		const char *var = xml_attr(f, "var");
		struct xml_node *v;

		if (var && strcmp(var, "FORM_TYPE") == 0) {
			*ftf = f;
			v = xml_child(f, "value", "jabber:x:data");
			return v && v->children && v->children->text ? v->children->text : "";
		}
	}
	return NULL;
}

/* Appends one form's fields, sorted by var, each with sorted values. */
static int
add_form(struct buf *s, const struct form *fm, const struct xml_node *ftf)
{
	const struct xml_node *fields[MAX_FEATURES];
	const char *vals[MAX_FEATURES];
	size_t nf = 0, nv;
	char *t;
	int rc = 0;

	buf_printf(s, "%s<", fm->type);
	for (struct xml_node *f = xml_first_elem(fm->x); f; f = xml_next_elem(f))
		if (f != ftf && xml_is(f, "field", "jabber:x:data") && xml_attr(f, "var")) {
			if (nf == MAX_FEATURES)
				return -1;
			fields[nf++] = f;
		}
	/* sort fields by var (insertion sort: forms are small) */
	for (size_t i = 1; i < nf; i++)
		for (size_t j = i; j > 0 && strcmp(xml_attr(fields[j - 1], "var"),
		    xml_attr(fields[j], "var")) > 0; j--) {
			const struct xml_node *tmp = fields[j];

			fields[j] = fields[j - 1];
			fields[j - 1] = tmp;
		}
	for (size_t i = 0; i < nf && rc == 0; i++) {
		char *texts[MAX_FEATURES];

		buf_printf(s, "%s<", xml_attr(fields[i], "var"));
		nv = 0;
		for (struct xml_node *v = xml_first_elem(fields[i]); v; v = xml_next_elem(v)) {
			if (!xml_is(v, "value", "jabber:x:data"))
				continue;
			if (nv == MAX_FEATURES || (t = xml_text(v)) == NULL) {
				rc = -1;
				break;
			}
			texts[nv++] = t;
		}
		for (size_t k = 0; k < nv; k++)
			vals[k] = texts[k];
		qsort(vals, nv, sizeof(char *), cmp_str);
		for (size_t k = 0; k < nv; k++)
			buf_printf(s, "%s<", vals[k]);
		for (size_t k = 0; k < nv; k++)
			free(texts[k]);
	}
	return rc;
}

int
capsver(const struct xml_node *q, const char *hash, char *out, size_t outlen)
{
	struct ident ids[MAX_IDENTITIES];
	const char *feats[MAX_FEATURES];
	struct form forms[MAX_FORMS];
	const struct xml_node *ftfs[MAX_FORMS];
	size_t ni = 0, nf = 0, nx = 0;
	const EVP_MD *md = strcmp(hash, "sha-1") == 0 ? EVP_sha1() :
	    strcmp(hash, "sha-256") == 0 ? EVP_sha256() : NULL;
	uint8_t dig[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	struct buf s;
	int rc = -1;

	if (md == NULL)
		return -1;
	for (struct xml_node *e = xml_first_elem(q); e; e = xml_next_elem(e)) {
		if (xml_is(e, "identity", NS_DISCO_INFO)) {
			if (ni == MAX_IDENTITIES)
				return -1;
			ids[ni].cat = attr_or_empty(e, "category");
			ids[ni].type = attr_or_empty(e, "type");
			ids[ni].lang = attr_or_empty(e, XML_NS_LANG);
			ids[ni].name = attr_or_empty(e, "name");
			ni++;
		} else if (xml_is(e, "feature", NS_DISCO_INFO) && xml_attr(e, "var")) {
			if (nf == MAX_FEATURES)
				return -1;
			feats[nf++] = xml_attr(e, "var");
		} else if (xml_is(e, "x", "jabber:x:data")) {
			const struct xml_node *ftf = NULL;
			const char *t = form_type(e, &ftf);

			if (t == NULL)
				continue;
			if (nx == MAX_FORMS)
				return -1;
			forms[nx].type = t;
			forms[nx].x = e;
			ftfs[nx] = ftf;
			nx++;
		}
	}
	qsort(ids, ni, sizeof(ids[0]), cmp_ident);
	qsort(feats, nf, sizeof(feats[0]), cmp_str);
	/* §5.4 3.3-3.6: duplicates make the answer unusable */
	for (size_t i = 1; i < ni; i++)
		if (cmp_ident(&ids[i - 1], &ids[i]) == 0)
			return -1;
	for (size_t i = 1; i < nf; i++)
		if (strcmp(feats[i - 1], feats[i]) == 0)
			return -1;
	/* sort forms by FORM_TYPE, keeping each FORM_TYPE field with its form */
	for (size_t i = 1; i < nx; i++)
		for (size_t j = i; j > 0 && cmp_form(&forms[j - 1], &forms[j]) > 0; j--) {
			struct form tf = forms[j];
			const struct xml_node *tx = ftfs[j];

			forms[j] = forms[j - 1];
			ftfs[j] = ftfs[j - 1];
			forms[j - 1] = tf;
			ftfs[j - 1] = tx;
		}
	for (size_t i = 1; i < nx; i++)
		if (cmp_form(&forms[i - 1], &forms[i]) == 0)
			return -1;
	buf_init(&s);
	for (size_t i = 0; i < ni; i++)
		buf_printf(&s, "%s/%s/%s/%s<", ids[i].cat, ids[i].type, ids[i].lang, ids[i].name);
	for (size_t i = 0; i < nf; i++)
		buf_printf(&s, "%s<", feats[i]);
	for (size_t i = 0; i < nx; i++)
		if (add_form(&s, &forms[i], ftfs[i]) == -1)
			goto out;
	if (s.p == NULL || EVP_Digest(s.p, s.len, dig, &dlen, md, NULL) != 1 ||
	    base64_encoded_len(dlen) > outlen)
		goto out;
	base64_encode(dig, dlen, out);
	rc = 0;
out:
	buf_free(&s);
	return rc;
}
