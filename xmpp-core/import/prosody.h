/*
 * prosody — private to the Prosody reader (prosody.c: accounts,
 * prosodyroom.c: rooms and the rows that belong to nobody).
 */
#ifndef XMPP_PROSODY_H
#define XMPP_PROSODY_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

struct imp;

struct psrc {
	PGconn *c;
	bool has_archive;		/* prosodyarchive (archive stores) */
};

/* A read on the source: the result, or NULL (im->err, im->failed set). */
PGresult *psrc_exec(struct imp *im, struct psrc *s, const char *sql, int n,
    const char *const *v);
/* BEGIN (a repeatable-read snapshot) / COMMIT on the source: 0 / -1. */
int psrc_tx(struct imp *im, struct psrc *s, bool begin);
/* An archive id from Prosody's row: its second ("when") in microseconds
 * plus the row's place (sort_id) within that second, kept strictly
 * increasing after prev (Prosody's ids are UUIDs; ours are times). */
int64_t prosody_archive_id(long long when, long long sort_id, int64_t prev);
/* Every persistent room of the imported host(s), with its archive. */
void prosody_rooms(struct imp *im, struct psrc *s);
/* Rows whose account (or room) does not exist: reported, never imported. */
void prosody_orphans(struct imp *im, struct psrc *s);

#endif
