/*
 * conf — the TOML subset every daemon's configuration is written in.
 *
 * Supported: comments, bare and quoted keys, [table] and [a.b] headers,
 * [[array.of.tables]], basic and literal strings, integers (decimal with
 * '_' separators, 0x hex), booleans, and arrays of strings (which may span
 * lines).  Anything else (floats, dates, inline tables, dotted keys,
 * multi-line strings) is refused with a message rather than misread.
 *
 * Errors read "file:line: key: message".  Getters mark what they read so
 * conf_check_unused() can name keys nobody asked for (typos).  A parsed
 * document is immutable; reload parses a new one and swaps it in.
 */
#ifndef EDGE_CONF_H
#define EDGE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum conf_type {
	CONF_STRING,
	CONF_INT,
	CONF_BOOL,
	CONF_STRARRAY,
	CONF_TABLE,
	CONF_TABLEARRAY,
};

struct conf_table;

struct conf_value {
	char *key;
	int line;
	enum conf_type type;
	bool used;
	union {
		char *s;
		long long i;
		bool b;
		struct {
			char **v;
			size_t n;
		} arr;
		struct conf_table *t;
		struct {
			struct conf_table **v;
			size_t n;
		} tarr;
	} u;
};

struct conf_table {
	const char *file;	/* owned by the document */
	char *name;		/* dotted path, "" for the root */
	int line;		/* line of the header, 0 for the root */
	bool nocase;		/* keys compared case-insensitively */
	bool explicit_hdr;	/* defined by its own [header] */
	struct conf_value *vals;
	size_t n, cap;
};

struct conf_doc {
	char *file;
	struct conf_table *root;
};

struct conf_err {
	char msg[640];
};

/* Flags for conf_parse_*. */
#define CONF_KEYS_NOCASE 0x1	/* as Go's TOML decoders match struct fields */

struct conf_doc *conf_parse_file(const char *path, int flags, struct conf_err *e);
struct conf_doc *conf_parse_string(const char *name, const char *text,
    int flags, struct conf_err *e);
void conf_free(struct conf_doc *doc);

/*
 * Getters return 1 when the key is present and valid, 0 when absent (out
 * untouched, so callers preset defaults), -1 on a type/range error with
 * the message in *e.
 */
int conf_str(struct conf_table *t, const char *key, const char **out,
    struct conf_err *e);
int conf_int(struct conf_table *t, const char *key, long long min,
    long long max, long long *out, struct conf_err *e);
int conf_bool(struct conf_table *t, const char *key, bool *out,
    struct conf_err *e);
int conf_strarr(struct conf_table *t, const char *key, char *const **out,
    size_t *n, struct conf_err *e);
/* Integer, or a string with a K/M/G/T suffix (powers of 1024). */
int conf_size(struct conf_table *t, const char *key, uint64_t *out,
    struct conf_err *e);
/* Integer seconds, or a string like "90s", "10m", "12h", "30d", "0". */
int conf_duration(struct conf_table *t, const char *key, uint64_t *out,
    struct conf_err *e);
/* conf_duration, refused outside [min, max] seconds with a message. */
int conf_duration_range(struct conf_table *t, const char *key, uint64_t min,
    uint64_t max, uint64_t *out, struct conf_err *e);
/* conf_size, refused outside [min, max] bytes with a message. */
int conf_size_range(struct conf_table *t, const char *key, uint64_t min,
    uint64_t max, uint64_t *out, struct conf_err *e);
struct conf_table *conf_table(struct conf_table *t, const char *key,
    struct conf_err *e, int *rc);
int conf_tables(struct conf_table *t, const char *key,
    struct conf_table *const **out, size_t *n, struct conf_err *e);

/* The value itself (marks it used), or NULL. */
struct conf_value *conf_lookup(struct conf_table *t, const char *key);

/* First key in t (recursively) that no getter read: -1 with message. */
int conf_check_unused(struct conf_table *t, struct conf_err *e);

/* Format "file:line: key: message" for a key of t (line of the key). */
void conf_errf(struct conf_err *e, struct conf_table *t, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Read a secret from a file: refused unless a regular file that neither
 * group nor other may access.  Trailing newlines are stripped.  *out is
 * malloc'd; free it with conf_secret_free (which wipes it).
 */
int conf_read_secret_file(const char *path, char **out, struct conf_err *e);
void conf_secret_free(char *s);

#endif
