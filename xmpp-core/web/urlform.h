/*
 * urlform — application/x-www-form-urlencoded bodies, strictly: pairs
 * split at '&', name and value at the first '=', '+' a space, %XX an
 * octet (HTML's form submission, WHATWG URL §5.1).  The caller names the
 * fields it reads, each with a bound in bytes once decoded; a malformed
 * escape, a NUL, invalid UTF-8, a named field given twice or over its
 * bound makes the whole body invalid.  Fields the caller did not name
 * are skipped (a browser sends its submit button's name).
 */
#ifndef WEB_URLFORM_H
#define WEB_URLFORM_H

#include <stddef.h>

struct urlform_field {
	const char *name;
	size_t max;		/* bytes, decoded */
	char *value;		/* NUL-ended, malloc'd; NULL when absent */
};

/* 0, or -1 with why (a phrase for the page) and every value freed. */
int urlform_parse(const char *body, size_t len, struct urlform_field *f, size_t n,
    const char **why);
/* The value of name, NULL when absent. */
const char *urlform_get(const struct urlform_field *f, size_t n, const char *name);
/* Frees (and wipes: passwords) every value. */
void urlform_free(struct urlform_field *f, size_t n);

#endif
