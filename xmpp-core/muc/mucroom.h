/*
 * mucroom — the rooms of conference.<host> and who is in them
 * (XEP-0045): a room's configuration and affiliations, its occupants
 * (one per nick; one occupant may be several sessions of one bare JID,
 * as ejabberd and Prosody allow), its subject and its recent history.
 *
 * Rooms live in memory while someone is in them: a room is created by
 * the first join (mucpres.c) or loaded from the database on first use
 * (persistent rooms, mucstore.c), and leaves memory when the last
 * occupant leaves (a temporary room is then gone for good) or an owner
 * destroys it.  Each session in a room is one struct muc_sess,
 * linked both from its occupant and from the session (its per-session
 * state), so a session that ends leaves every room it was in without a
 * scan, and a resumed session (XEP-0198) takes its rooms along.
 *
 * Occupants from other servers: a session is then a remote full JID
 * (the stanzas came over s2s), its rooms kept by that JID here; what the
 * room sends it is routed (to s2s).  It leaves by its unavailable
 * presence, or when what the room sends it comes back as an error
 * (333: its server is gone, XEP-0045 §9.x).
 */
#ifndef XMPP_MUCROOM_H
#define XMPP_MUCROOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hmap.h"
#include "jid.h"

struct c2s;
struct xml_node;

#define NS_MUC		"http://jabber.org/protocol/muc"
#define NS_MUC_USER	NS_MUC "#user"
#define NS_MUC_OWNER	NS_MUC "#owner"
#define NS_MUC_CONFIG	NS_MUC "#roomconfig"
#define NS_MUC_INFO	NS_MUC "#roominfo"
#define NS_XDATA	"jabber:x:data"
#define NS_OCCUPANT_ID	"urn:xmpp:occupant-id:0"
#define NS_SID		"urn:xmpp:sid:0"

enum muc_role { MUC_ROLE_NONE, MUC_ROLE_VISITOR, MUC_ROLE_PARTICIPANT,
    MUC_ROLE_MODERATOR };
enum muc_aff { MUC_AFF_OUTCAST, MUC_AFF_NONE, MUC_AFF_MEMBER, MUC_AFF_ADMIN,
    MUC_AFF_OWNER };
/* muc#roomconfig_presencebroadcast: every role's presence is seen */
#define MUC_PB_ALL	((1u << MUC_ROLE_VISITOR) | (1u << MUC_ROLE_PARTICIPANT) | \
	(1u << MUC_ROLE_MODERATOR))
/* muc#roomconfig_allowpm */
enum muc_pm { MUC_PM_ANYONE, MUC_PM_PARTICIPANTS, MUC_PM_MODERATORS, MUC_PM_NONE };

struct muc_roomcfg {
	char *name, *desc, *password;	/* NULL when unset */
	bool persistent;		/* kept in the database, lives on empty */
	bool public_, members_only, moderated, password_protected;
	bool whois_anyone;		/* non-anonymous */
	bool change_subject;		/* participants may change it */
	bool allow_invites;		/* participants may invite */
	enum muc_pm allow_pm;
	unsigned max_users;
	char lang[36];			/* muc#roomconfig_lang (RFC 5646), "" */
	unsigned presence_broadcast;	/* roles others see: 1 << enum muc_role */
	bool archive;			/* `mam`: archived when persistent */
};

struct muc_room;
struct muc_occ;
struct muc_remote;

/* One session of an occupant: a local one (c) or another server's (rem). */
struct muc_sess {
	struct muc_sess *next;		/* the occupant's sessions */
	struct muc_sess *next_c2s;	/* the session's rooms */
	struct c2s *c;			/* NULL: remote */
	struct muc_remote *rem;		/* NULL: local */
	struct muc_occ *occ;
	struct muc_room *room;
};

struct muc_occ {
	struct muc_occ *next;		/* the room's occupants, in join order */
	struct muc_sess *sessions;
	unsigned nsessions;
	char *nick;			/* as shown (enforced) */
	char *key;			/* comparison key (mucnick_key) */
	char *bare;			/* the real bare JID */
	char *full;			/* room@service/nick */
	enum muc_role role;
	enum muc_aff aff;
	char occ_id[48];		/* XEP-0421: HMAC(room salt, bare JID) */
	struct xml_node *pres;		/* the latest presence, payload only */
	bool voice_requested;		/* a voice request is with the moderators */
	bool shown;			/* non-moderators have its presence */
	uint64_t rate_tokens;		/* message bucket, in 1/1000 messages */
	uint64_t rate_last;		/* ev_now() of its last refill */
};

struct muc_hist {
	struct xml_node *msg;		/* from room/nick, no 'to' */
	time_t at;
	size_t size;			/* serialised bytes */
	int64_t id;			/* its stanza-id, 0: none known */
};

struct muc_room {
	char *jid;			/* room@service */
	char *local;
	int host;
	char *creator;			/* bare JID counted against its room limit */
	struct muc_roomcfg cfg;
	bool locked;			/* created, not configured yet (§10.1.2) */
	bool stored;			/* has its row in muc_room */
	/* key of its occupant ids (XEP-0421): random, kept with the room */
	char salt[33];
	char *vcard;			/* its vCard as serialised, NULL: none */
	char avatar[41];		/* hex SHA-1 of its photo, "": none */
	char *subject;			/* NULL: none set */
	char *subject_by;		/* the nick that set it */
	struct muc_occ *occs, *occs_tail;
	unsigned nocc;
	struct hmap by_key;		/* nick key -> occupant */
	struct hmap affs;		/* bare JID -> (enum muc_aff + 1) */
	struct muc_hist *hist;		/* ring of cfg history entries */
	unsigned hist_first, hist_n, hist_cap;
	size_t hist_bytes;
};

/* The rooms a session is in: per-session state (registry:
 * session_size), or a remote full JID's (mucroom.c). */
struct muc_c2s {
	struct muc_sess *rooms;
	unsigned nrooms;
};

/*
 * Who sent a stanza to the room: a bound local session (c), or an entity
 * of another server (c NULL, its stanzas came over s2s).  A local JID
 * without a session (a service, an account offline) is nobody.
 */
struct muc_from {
	struct c2s *c;
	const char *full;		/* c->full, or the normalised 'from' */
	char bare[2 * JID_PART_MAX + 2];
	char buf[JID_STR_MAX];
};

/* ---- rooms ---- */

struct muc_room *mucroom_find(const char *jid);
/* A new room owned by creator, locked: NULL on ENOMEM. */
struct muc_room *mucroom_create(const char *jid, const char *local, int host,
    const char *creator);
/* Frees a room nobody is in (its state stays in the database). */
void mucroom_evict(struct muc_room *r);
/* mucroom_evict when nobody is left. */
void mucroom_release(struct muc_room *r);
/* Unavailable presence to everyone (with destroy when dx is set: the
 * <destroy/> of muc#user), then gone. */
void mucroom_destroy(struct muc_room *r, const struct xml_node *dx);
size_t mucroom_count(void);
unsigned mucroom_count_by(const char *creator);
/* Calls fn on every room (fn may not destroy rooms). */
void mucroom_each(void (*fn)(struct muc_room *r, void *arg), void *arg);
void mucroom_cleanup(void);

enum muc_aff mucroom_aff(const struct muc_room *r, const char *bare);
int mucroom_set_aff(struct muc_room *r, const char *bare, enum muc_aff a);
const char *muc_aff_name(enum muc_aff a);
const char *muc_role_name(enum muc_role r);

/* ---- occupants ---- */

struct muc_occ *mucroom_occ_by_nick(const struct muc_room *r, const char *key);
/* The sender of a stanza ('from', may be NULL): 0, or -1 for nobody. */
int muc_from(const char *from, struct muc_from *f);
/* The occupant a sender is in the room as, and its muc_sess (NULL: none). */
struct muc_sess *mucroom_sess_of(const struct muc_room *r, const struct muc_from *f);
/* The rooms a sender is in (0 for a remote JID in none). */
unsigned muc_from_nrooms(const struct muc_from *f);
/* The full JID a session's stanzas go to. */
const char *muc_sess_jid(const struct muc_sess *s);
/* The session of a full JID (a bound local session), or NULL. */
struct c2s *muc_session_of(const char *full);
struct muc_c2s *muc_c2s(const struct c2s *c);

struct muc_occ *mucroom_occ_new(struct muc_room *r, const char *nick,
    const char *key, const char *bare);
int mucroom_occ_add_session(struct muc_room *r, struct muc_occ *o,
    const struct muc_from *f);
/* Drops one session; the occupant stays while it has others. */
void mucroom_occ_drop_session(struct muc_sess *s);
void mucroom_occ_free(struct muc_room *r, struct muc_occ *o);
int mucroom_occ_rename(struct muc_room *r, struct muc_occ *o, const char *nick,
    const char *key);

/* ---- output ---- */

/*
 * Sends n (no 'to') to every session of every occupant but skip: it is
 * serialised once and each copy gets its own 'to' spliced in.
 */
void mucroom_fanout(struct muc_room *r, const struct xml_node *n,
    const struct muc_occ *skip);
/* The same to the occupants for which want(o, arg) is true. */
void mucroom_fanout_if(struct muc_room *r, const struct xml_node *n,
    bool (*want)(const struct muc_occ *o, void *arg), void *arg);
/* n to every session of o ('to' set on n for each). */
void mucroom_send_occ(const struct muc_occ *o, struct xml_node *n);
void mucroom_send_sess(const struct muc_sess *s, struct xml_node *n);

/* An occupant's presence as recipient sees it: with its real JID when
 * the room is non-anonymous or recipient is a moderator; self adds 110.
 * type NULL: available.  codes: status codes to add, 0-ended. */
struct xml_node *mucroom_presence(const struct muc_room *r,
    const struct muc_occ *o, bool with_jid, const char *type,
    const unsigned *codes);

/* Removes any occupant-id a client put into n and adds o's (XEP-0421 §4:
 * only the room's may reach the others). */
void mucroom_stamp_occ_id(struct xml_node *n, const struct muc_occ *o);

/* ---- history ---- */

/* Keeps msg (sent at 'at'); out, when set, gets its serialisation. */
struct buf;
void mucroom_hist_add(struct muc_room *r, const struct xml_node *msg,
    time_t at, struct buf *out);
/* The same for a message with the room's stanza-id id. */
void mucroom_hist_add_id(struct muc_room *r, const struct xml_node *msg,
    time_t at, int64_t id, struct buf *out);
/* The kept message with stanza-id id becomes msg (a tombstone). */
void mucroom_hist_replace(struct muc_room *r, int64_t id,
    const struct xml_node *msg);
struct muc_histreq {
	long maxstanzas, maxchars;	/* -1: no limit */
	time_t since;			/* 0: any */
};
void mucroom_hist_send(const struct muc_room *r, const struct muc_sess *s,
    const struct muc_histreq *q);

#endif
