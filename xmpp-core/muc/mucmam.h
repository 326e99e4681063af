/*
 * mucmam — the archive of a room (XEP-0313 on the room JID): what is
 * archived, the archive ids that are also the room's stanza-ids
 * (XEP-0359), writing the archive (sql/051_muc_archive.sql, async, keyed
 * by room so a room's rows and queries keep their order), and the MAM
 * queries of occupants and visitors.
 *
 * Archived: a persistent room with `mam` on stores its groupchat
 * messages that carry a conversation payload (mucmam_archivable), and
 * the moderation announcements of mucmod.c.  Subject changes are not
 * archived (the subject is kept with the room and sent on join), nor is
 * anything of temporary rooms (as ejabberd).  The same messages make the
 * room's history ring, loaded from the archive's newest rows when the
 * room is first used, so history on join survives restarts at no cost
 * beyond those rows.
 *
 * Ids are microseconds since the epoch, strictly increasing in the
 * process and continued from the highest stored id at start (as mam.c
 * does for accounts), so time filters are id ranges and the id is known
 * before the row is written: the live message carries it at once.
 */
#ifndef XMPP_MUCMAM_H
#define XMPP_MUCMAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct muc_room;
struct muc_occ;
struct xml_node;

#define NS_MAM1		"urn:xmpp:mam:1"
#define NS_MAM2		"urn:xmpp:mam:2"
#define NS_MAM2_EXT	"urn:xmpp:mam:2#extended"
#define NS_RETRACT1	"urn:xmpp:message-retract:1"
#define NS_RETRACT0	"urn:xmpp:message-retract:0"
#define NS_MODERATE1	"urn:xmpp:message-moderate:1"
#define NS_MODERATE0	"urn:xmpp:message-moderate:0"
#define NS_FASTEN	"urn:xmpp:fasten:0"

/* Start-up: ids continue from the highest stored one. */
int mucmam_start(PGconn *pg, char *err, size_t errlen);
/* The expiry timer ([muc] archive_max_age): started, stopped. */
void mucmam_init(void);
void mucmam_shutdown(void);
/* The next id (a stanza-id of the room). */
int64_t mucmam_next_id(void);
/* Whether the room archives (persistent, stored, `mam` on). */
bool mucmam_on(const struct muc_room *r);
/* Writes one message as serialised (o NULL: from the room itself). */
void mucmam_store(const char *room, const struct muc_occ *o, int64_t id,
    const char *stanza);
/* A MAM request to the room (n taken): false when q is not one. */
bool mucmam_iq(struct muc_room *r, struct xml_node *n, const struct xml_node *q);
/* The room's archive features, for its disco#info. */
void mucmam_features(const struct muc_room *r, struct xml_node *query);

/* mucmod.c: XEP-0425 moderation (n taken): false when q is not one. */
bool mucmod_iq(struct muc_room *r, struct xml_node *n, const struct xml_node *q);

/* ---- pure parts (unit tests) ---- */

/* A groupchat message worth archiving and keeping as history. */
bool mucmam_archivable(const struct xml_node *m);
/* The next id after last for the time now_us. */
int64_t mucmam_id_after(int64_t last, int64_t now_us);
/*
 * A stored message with the sender's real JID added as XEP-0313 §5.1.2
 * shows it (<x xmlns='…muc#user'><item jid='…'/></x> as its last child):
 * rest is what follows "<message" in it; appended to out, -1 when rest
 * does not end the element.
 */
struct buf;
int mucmam_with_jid(struct buf *out, const char *rest, size_t len,
    const char *jid);

#endif
