/*
 * mucstore — persistent rooms in PostgreSQL (sql/050_muc.sql) through
 * the async pool: loading a room on first use (configuration,
 * affiliations, subject, then its history: the newest rows of its
 * archive, or of muc_history when archiving is off), saving a configuration
 * (the answer to the owner waits for it), the subject, each history
 * message, deleting a room.  Every request is keyed by the room's JID,
 * so one room's statements run in the order they were issued.
 */
#ifndef XMPP_MUCSTORE_H
#define XMPP_MUCSTORE_H

#include <stdbool.h>
#include <stddef.h>

struct muc_room;
struct muc_roomcfg;

/*
 * Looks a room up: done(arg, r, err) once, with r a room now in memory
 * (loaded), or r NULL and err NULL when there is no such room, or err
 * set when the database failed.  -1: not queued (done not called).
 */
int mucstore_load(const char *jid, int host,
    void (*done)(void *arg, struct muc_room *r, const char *err), void *arg);
/*
 * Writes the room with configuration c (and its owner affiliations):
 * done(arg, 0) when stored, 1 when the creator is at its room limit,
 * -1 on a database failure.  -1: not queued.
 */
int mucstore_save(const struct muc_room *r, const struct muc_roomcfg *c,
    void (*done)(void *arg, int rc), void *arg);
/* One affiliation (MUC_AFF_NONE deletes it): done(arg, 0 / -1). */
int mucstore_aff(const struct muc_room *r, const char *bare, int aff,
    void (*done)(void *arg, int rc), void *arg);
/* Affiliations a room keeps at most (and reads when loaded). */
#define MUC_MAX_AFFS 10000
/* Public persistent rooms of a service between two JIDs ("": open),
 * in JID order (descending when backward), at most limit: rows (jid,
 * name, 0), and one row (NULL, NULL, how many public rooms the service
 * stores).  -1: not queued. */
#include "db.h"
int mucstore_public(const char *service, const char *after, const char *before,
    bool backward, unsigned limit, db_cb *cb, void *arg);
/* Every persistent room (of service; NULL: of all), in JID order: rows
 * (jid, public, members_only, password_protected) to cb.  -1: not queued. */
int mucstore_list(const char *service, db_cb *cb, void *arg);
/* The room's vCard (r->vcard): done(arg, 0 / -1).  -1: not queued. */
int mucstore_vcard(const struct muc_room *r, void (*done)(void *arg, int rc),
    void *arg);
void mucstore_subject(const struct muc_room *r);
void mucstore_history(const struct muc_room *r, const char *stanza);
void mucstore_delete(const char *jid);

#endif
