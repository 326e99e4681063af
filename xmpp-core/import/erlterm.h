/*
 * erlterm — Erlang terms as ejabberd writes them into SQL text columns
 * (muc_room.opts, archive_prefs.always/never, privacy values): atoms,
 * integers, floats, binaries (<<"text">>, <<"text"/utf8>>, <<1,2,3>>),
 * strings, tuples and lists.  Pure functions: no I/O, unit tested in
 * tests/unit/xmpp-core/import/.  Input is bounded (depth, length).
 */
#ifndef XMPP_ERLTERM_H
#define XMPP_ERLTERM_H

#include <stdbool.h>
#include <stddef.h>

#define ERL_DEPTH_MAX 64

enum erl_type { ERL_ATOM, ERL_INT, ERL_FLOAT, ERL_BIN, ERL_STR, ERL_TUPLE, ERL_LIST };

struct erl_term {
	enum erl_type type;
	char *s;		/* atom, binary, string: NUL-terminated (binaries may hold NULs) */
	size_t len;		/* bytes of s */
	long long i;
	double f;
	struct erl_term **v;	/* tuple / list elements */
	size_t n;
};

/* The term text holds (a trailing '.' allowed), or NULL with why in err. */
struct erl_term *erl_parse(const char *text, size_t len, char *err, size_t errlen);
void erl_free(struct erl_term *t);

bool erl_atom_is(const struct erl_term *t, const char *name);
/* The value of {key, Value} (or {key, V1, ...}: the tuple) in a list, or NULL. */
const struct erl_term *erl_prop(const struct erl_term *list, const char *key);
/* A binary or string as text (atoms too): the term's own bytes, or NULL. */
const char *erl_str(const struct erl_term *t);
/* true / false atoms: 1 / 0, else -1. */
int erl_bool(const struct erl_term *t);
/* {User, Server, Resource} binaries as a JID "user@server/resource" into
 * out (parts left out when empty): 0, or -1 when it is not such a tuple. */
int erl_jid(const struct erl_term *t, char *out, size_t outlen);

#endif
