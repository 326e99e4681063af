/*
 * import — moving a live host into xmpp-core (`xmppctl import ...`,
 * `xmppctl export`): the readers of other servers' stores (ejabberd.c,
 * prosody.c, xep0227.c) hand every row to the writer (target.c), which
 * checks it and stores it in xmpp-core's tables, one transaction per
 * account and per room.  Counting and reporting (what was imported, what
 * was skipped and why) is import.c.  A tool, not part of the server: it
 * runs blocking libpq on its own connections (README.md).
 */
#ifndef XMPP_IMPORT_H
#define XMPP_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <libpq-fe.h>

#include "jid.h"
#include "scram.h"

struct xmpp_config;
struct ps_config;

enum imp_kind {
	IK_ACCOUNT, IK_ROSTER, IK_VCARD, IK_PRIVATE, IK_OFFLINE, IK_ARCHIVE,
	IK_MAMPREFS, IK_BLOCK, IK_PRIVACY, IK_PEPNODE, IK_PEPITEM, IK_PUSH,
	IK_LAST, IK_ROOM, IK_ROOMAFF, IK_ROOMMSG, IK_OTHER, IK_NKINDS
};

struct imp_count {
	unsigned long ok, skipped;
};

/* One credential as a source stores it: keys per hash, or a password. */
struct imp_cred {
	bool have[2];			/* [SCRAM_SHA1], [SCRAM_SHA256] */
	struct scram_keys k[2];
	char *plain;			/* a plain password (converted), or NULL */
	bool sha512_only_seen;		/* keys this server has no mechanism for */
};

struct imp_roster_item {
	const char *jid, *name;
	const char *const *groups;
	size_t ngroups;
	bool to, from, ask_out, ask_in, approved, visible;
};

/* A persistent room's configuration, in xmpp-core's terms. */
struct imp_room {
	const char *jid;		/* room@service */
	const char *name, *desc, *password, *subject, *subject_by, *lang, *vcard;
	bool public_, members_only, moderated, password_protected, whois_anyone,
	    change_subject, allow_invites, archive;
	int allow_pm;			/* muc_room.allow_pm: 0 anyone .. 3 none */
	unsigned max_users, presence_broadcast;
};

struct imp {
	const struct xmpp_config *cfg;
	PGconn *dst;
	bool dry_run;
	const char *only_host;		/* --host */
	/* the account (or room) being imported */
	char host[JID_PART_MAX + 1], user[JID_PART_MAX + 1];
	char bare[2 * JID_PART_MAX + 2];
	char room[2 * JID_PART_MAX + 2];
	char room_salt[33];
	bool failed;			/* a database error: roll back */
	char err[512];
	struct imp_count n[IK_NKINDS];
	struct imp_batch *archive;	/* rows waiting for one INSERT */
	unsigned long rows;		/* rows written, for the rate */
	unsigned long units, units_total;
	struct timespec started, last_progress;
};

/* ---- import.c: reporting ---- */

/* One row (or account, room) not imported, and why: on stderr, counted. */
void imp_skip(struct imp *im, enum imp_kind k, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void imp_done(struct imp *im, enum imp_kind k, unsigned long n);
/* The progress line (at most every second, and at the end). */
void imp_progress(struct imp *im, bool last);
const char *imp_kind_name(enum imp_kind k);
/* A read on a source database (whose: "ejabberd's", "Prosody's" for the
 * message): the result, or NULL with im->err and im->failed set. */
PGresult *imp_src_exec(struct imp *im, PGconn *c, const char *whose,
    const char *sql, int n, const char *const *v);
/* BEGIN (a read-only repeatable-read snapshot) / COMMIT on a source:
 * 0 / -1 (a failed COMMIT rolls back). */
int imp_src_tx(struct imp *im, PGconn *c, const char *whose, bool begin);
/* A source's room name@service as a JID (into jid, len bytes) when it is
 * a normalised JID on a group chat service this server runs ([muc]):
 * 0, or -1 with the room reported as skipped. */
int imp_room_jid(struct imp *im, const char *name, const char *service, char *jid,
    size_t len);
/* --from CONNINFO, --host H, --dry-run: 0, or -1 (usage). */
int imp_options(struct imp *im, int argc, char **argv, const char **from);
/* The host is one of this server's (hosts in xmpp-core.toml). */
bool imp_host_served(struct imp *im, const char *host);

/* ---- target.c: xmpp-core's tables ---- */

/* The account's transaction: 1 begun (the account is new), 0 it exists
 * already (skipped, reported), -1 database failure (im->err). */
int tgt_account_begin(struct imp *im, const char *host, const char *user,
    const struct imp_cred *c);
/* Flushes what is batched and commits (rolls back with --dry-run or
 * after a failure): 0 / -1. */
int tgt_account_end(struct imp *im);
void tgt_roster(struct imp *im, const struct imp_roster_item *it);
void tgt_roster_version(struct imp *im, long long version);
void tgt_vcard(struct imp *im, const char *xml, size_t len);
void tgt_private(struct imp *im, const char *ns, const char *xml, size_t len);
/* An offline message; a delay stamped at `at` is added when it has none. */
void tgt_offline(struct imp *im, const char *xml, size_t len, time_t at);
/* An archived message of the account: id is its stanza-id (microseconds
 * since the epoch), peer the other party's JID. */
void tgt_archive(struct imp *im, int64_t id, const char *peer, const char *xml,
    size_t len);
void tgt_mamprefs(struct imp *im, const char *mode, const char *const *always,
    size_t nalways, const char *const *never, size_t nnever);
void tgt_block(struct imp *im, const char *jid);
/* A PEP node of the account: its node id in the target, or 0 when skipped. */
long long tgt_pep_node(struct imp *im, const char *node, const struct ps_config *c);
void tgt_pep_item(struct imp *im, long long node_id, const char *node,
    const char *item, const char *publisher, const char *payload, size_t len,
    time_t published);
void tgt_pep_aff(struct imp *im, long long node_id, const char *jid, const char *aff);
void tgt_push(struct imp *im, const char *jid, const char *node, const char *form);
void tgt_last(struct imp *im, time_t seen, const char *status);

/* A room's transaction, as an account's. */
int tgt_room_begin(struct imp *im, const struct imp_room *r, const char *creator);
int tgt_room_end(struct imp *im);
/* aff: 0 outcast, 2 member, 3 admin, 4 owner (muc_affiliation). */
void tgt_room_aff(struct imp *im, const char *jid, int aff);
/* A groupchat message as the room relayed it (from the occupant's
 * real JID in ejabberd's archive): stored as occupants got it. */
void tgt_room_msg(struct imp *im, int64_t id, const char *nick,
    const char *real_bare, const char *xml, size_t len);

/* vcardpep.c: a vcard-temp made from the vcard4 and avatar PEP items
 * (their payload text, NULL where absent; avatar_type may be NULL) and
 * stored with tgt_vcard. */
void imp_vcard_from_pep(struct imp *im, const char *vcard4, const char *avatar_data,
    const char *avatar_type);

/* The JID normalised (PRECIS, RFC 7622) into out: 0, or -1 if invalid;
 * bare: it must have no resource. */
int tgt_jid(const char *in, bool bare, char *out, size_t outlen);

/* ---- the sources ---- */

/* argv after "import ejabberd": exit code (0, 1 failures, 2 usage). */
int ejabberd_import(struct imp *im, int argc, char **argv);
/* argv after "import prosody": as ejabberd_import. */
int prosody_import(struct imp *im, int argc, char **argv);
/* argv after "import xep0227": [--host H] [--dry-run] FILE... */
int xep0227_import(struct imp *im, int argc, char **argv);
/* argv after "export": (--user JID | --all) [--ejabberd] --out FILE
 * (export.c). */
int xep0227_export(struct imp *im, int argc, char **argv);

#endif
