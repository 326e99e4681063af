/*
 * mamprefs — the archiving preferences of an account (XEP-0441; XEP-0313
 * clients send <prefs/> in the urn:xmpp:mam:N namespace of their query):
 * a default ('always', 'never', 'roster') and always/never JID lists,
 * one row of mam_prefs, read and written here; mam.c keeps them in memory
 * for accounts with sessions and applies them.
 */
#ifndef XMPP_MAMPREFS_H
#define XMPP_MAMPREFS_H

#include <stddef.h>

#include <libpq-fe.h>

#include "buf.h"
#include "hmap.h"
#include "jid.h"

struct c2s;
struct db_stmt;
struct xml_node;

enum mam_mode { MAM_ALWAYS, MAM_NEVER, MAM_ROSTER };

struct mam_prefs {
	enum mam_mode mode;
	struct hmap always, never;	/* normalised JID -> (void *)1 */
};

/* SELECT of one account's preferences ($1 host, $2 username): rows for
 * mam_prefs_from_rows. */
extern struct db_stmt mamprefs_st_load;

/* <prefs/> get or set to one's own bare JID (takes iq). */
void mamprefs_iq(struct c2s *c, struct xml_node *iq, const struct xml_node *q);

/* Fills p from mamprefs_st_load rows (none: the defaults). */
void mam_prefs_from_rows(struct mam_prefs *p, PGresult *res);
/* Back to the defaults, lists freed. */
void mam_prefs_clear(struct mam_prefs *p);

/* 1 archive, 0 do not, 2 it depends on the roster (default 'roster'). */
int mam_prefs_match(const struct mam_prefs *p, const struct jid *contact);
const char *mam_mode_name(enum mam_mode m);
int mam_mode_parse(const char *s, enum mam_mode *out);
/* A PostgreSQL array literal of the strings (each quoted). */
int mam_pg_array(struct buf *out, char *const *v, size_t n);

#endif
