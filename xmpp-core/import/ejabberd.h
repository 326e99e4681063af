/*
 * ejabberd — private to the ejabberd reader (ejabberd.c: accounts,
 * ejabberdroom.c: rooms and the rows that belong to nobody).
 */
#ifndef XMPP_EJABBERD_H
#define XMPP_EJABBERD_H

#include <stdbool.h>

#include <libpq-fe.h>

struct imp;

enum { T_PUSH, T_RVER, T_PREFS, T_LAST, T_PUBSUB, T_MUC, T_PRIVACY, T_NTABLES };

struct src {
	PGconn *c;
	bool multi;			/* pg.new.sql: server_host columns */
	bool has[T_NTABLES];		/* optional tables */
	const char *host;		/* pg.sql: the one host */
};

/* A read on the source: the result, or NULL (im->err, im->failed set). */
PGresult *src_exec(struct imp *im, struct src *s, const char *sql, int n,
    const char *const *v);
/* Every persistent room of the imported host(s), with its archive. */
void ejabberd_rooms(struct imp *im, struct src *s);
/* Rows whose account (or room) does not exist: reported, never imported. */
void ejabberd_orphans(struct imp *im, struct src *s);

#endif
