/*
 * mucctl — the group chat commands of xmppctl, on the control socket
 * (control.h), as ejabberd's mod_muc_admin offers them:
 *
 *   rooms [SERVICE]
 *	every room, persistent ones from the database and temporary ones
 *	in memory, in JID order, one per line:
 *	JID  OCCUPANTS  persistent|temporary  public|hidden  FLAGS
 *	(FLAGS: members-only, password, locked, comma-separated, or "-")
 *   room ROOM
 *	one room: its configuration ("key<TAB>value"), then its
 *	affiliations ("affiliation<TAB>JID<TAB>owner") and its occupants
 *	("occupant<TAB>NICK<TAB>JID<TAB>ROLE<TAB>AFFILIATION<TAB>SESSIONS");
 *	the password itself is never shown
 *   room-destroy ROOM [REASON]
 *	destroys the room as its owner would: occupants get the
 *	unavailable presence with <destroy/> and the reason, the stored
 *	room is deleted
 *   room-affiliation ROOM JID owner|admin|member|outcast|none [REASON]
 *	sets an affiliation as an owner would (an outcast is banned,
 *	301; a non-member leaves a members-only room, 321; the room's
 *	last owner stays); "ok" once stored
 *
 * Fields are separated by tabs; a tab, newline or other control
 * character inside a value (a room's name) is shown as a space.  A room
 * that is only in the database is loaded for the command and leaves
 * memory again when nobody is in it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "control.h"
#include "db.h"
#include "jid.h"
#include "log.h"
#include "mucconf.h"
#include "mucint.h"
#include "mucroom.h"
#include "mucstore.h"
#include "registry.h"
#include "server.h"

#define ROOM_MAX	(2 * JID_PART_MAX + 2)

/* A value with its control characters as spaces (one field). */
static void
put_text(struct buf *b, const char *s)
{
	for (; s && *s; s++)
		buf_printf(b, "%c", (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s);
}

/* The next word of args (NUL-terminated in place), or NULL. */
static char *
word(char **args)
{
	char *w = *args + strspn(*args, " "), *end;

	if (*w == '\0')
		return NULL;
	end = w + strcspn(w, " ");
	*args = end + (*end != '\0');
	*end = '\0';
	return w;
}

/* A room JID of one of our services, normalised: its host, or -1 with
 * the error written. */
static int
room_arg(struct buf *o, const char *arg, char room[ROOM_MAX])
{
	struct jid j;
	int host;

	if (arg == NULL || jid_parse(arg, &j) == -1 || j.local[0] == '\0' ||
	    j.resource[0]) {
		buf_printf(o, "error: not a room JID (ROOM@SERVICE)\n");
		return -1;
	}
	if ((host = muc_service_host(j.domain)) < 0) {
		buf_printf(o, "error: %s is not a group chat service of this server\n",
		    j.domain);
		return -1;
	}
	jid_bare(&j, room, ROOM_MAX);
	return host;
}

/* ---- rooms ---- */

struct listing {
	struct ctl_req *req;
	char service[JID_PART_MAX + 1];	/* "": every service */
	struct muc_room **tmp;		/* temporary rooms in memory */
	size_t ntmp;
};

static void
collect_temporary(struct muc_room *r, void *arg)
{
	struct listing *l = arg;
	const char *at = strchr(r->jid, '@');

	if (r->stored || at == NULL || (l->service[0] && strcmp(at + 1, l->service) != 0))
		return;
	l->tmp[l->ntmp++] = r;
}

static int
by_jid(const void *a, const void *b)
{
	return strcmp((*(const struct muc_room *const *)a)->jid,
	    (*(const struct muc_room *const *)b)->jid);
}

static void
room_line(struct buf *o, const char *jid, unsigned nocc, bool persistent,
    bool public_, bool members_only, bool password, bool locked)
{
	const char *sep = "";

	buf_printf(o, "%s\t%u\t%s\t%s\t", jid, nocc,
	    persistent ? "persistent" : "temporary", public_ ? "public" : "hidden");
	if (members_only) {
		buf_printf(o, "members-only");
		sep = ",";
	}
	if (password) {
		buf_printf(o, "%spassword", sep);
		sep = ",";
	}
	if (locked) {
		buf_printf(o, "%slocked", sep);
		sep = ",";
	}
	buf_printf(o, "%s\n", sep[0] ? "" : "-");
}

static void
list_got(void *arg, PGresult *res, const char *err)
{
	struct listing *l = arg;
	struct buf *o = ctl_out(l->req);
	const struct muc_room *r;
	size_t t = 0;
	int i = 0, rows;

	if (res == NULL) {
		buf_printf(o, "error: database: %s\n", err ? err : "failed");
		goto out;
	}
	if ((l->tmp = calloc(mucroom_count() + 1, sizeof(*l->tmp))) == NULL) {
		buf_printf(o, "error: out of memory\n");
		goto out;
	}
	mucroom_each(collect_temporary, l);
	qsort(l->tmp, l->ntmp, sizeof(*l->tmp), by_jid);
	rows = PQntuples(res);
	while (i < rows || t < l->ntmp) {
		if (t < l->ntmp && (i == rows ||
		    strcmp(l->tmp[t]->jid, PQgetvalue(res, i, 0)) < 0)) {
			r = l->tmp[t++];
			room_line(o, r->jid, r->nocc, false, r->cfg.public_,
			    r->cfg.members_only, r->cfg.password_protected, r->locked);
		} else if ((r = mucroom_find(PQgetvalue(res, i, 0))) != NULL) {
			/* in memory: what it is now */
			room_line(o, r->jid, r->nocc, true, r->cfg.public_,
			    r->cfg.members_only, r->cfg.password_protected, r->locked);
			i++;
		} else {
			room_line(o, PQgetvalue(res, i, 0), 0, true,
			    PQgetvalue(res, i, 1)[0] == 't', PQgetvalue(res, i, 2)[0] == 't',
			    PQgetvalue(res, i, 3)[0] == 't', false);
			i++;
		}
	}
out:
	ctl_done(l->req);
	free(l->tmp);
	free(l);
}

static int
cmd_rooms(struct ctl_req *req, const char *args)
{
	struct buf *o = ctl_out(req);
	struct listing *l;
	char a[1024], *p = a, *svc;
	struct jid j;

	snprintf(a, sizeof(a), "%s", args);
	svc = word(&p);
	if (word(&p) != NULL) {
		buf_printf(o, "error: usage: rooms [SERVICE]\n");
		return 0;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		buf_printf(o, "error: out of memory\n");
		return 0;
	}
	if (svc) {
		if (jid_parse(svc, &j) == -1 || j.local[0] || j.resource[0] ||
		    muc_service_host(j.domain) < 0) {
			buf_printf(o, "error: %s is not a group chat service of this "
			    "server\n", svc);
			free(l);
			return 0;
		}
		snprintf(l->service, sizeof(l->service), "%s", j.domain);
	}
	l->req = req;
	if (mucstore_list(l->service[0] ? l->service : NULL, list_got, l) == -1) {
		buf_printf(o, "error: the database queue is full\n");
		free(l);
		return 0;
	}
	return 1;
}

/* ---- one room ---- */

struct room_cmd {
	struct ctl_req *req;
	enum { RC_SHOW, RC_DESTROY, RC_AFF } what;
	char bare[ROOM_MAX];		/* RC_AFF: whose */
	enum muc_aff aff;
	char reason[];
};

static void
show(struct buf *o, const struct muc_room *r)
{
	static const char *const pm[] = { "anyone", "participants", "moderators",
	    "none" };
	const struct muc_roomcfg *c = &r->cfg;
	struct hmap_ent *e;
	size_t i;

	buf_printf(o, "jid\t%s\nname\t", r->jid);
	put_text(o, c->name);
	buf_printf(o, "\ndescription\t");
	put_text(o, c->desc);
	buf_printf(o, "\npersistent\t%s\npublic\t%s\nmembers_only\t%s\n"
	    "moderated\t%s\npassword_protected\t%s\nwhois\t%s\n"
	    "change_subject\t%s\nallow_invites\t%s\nallow_pm\t%s\n"
	    "max_users\t%u\narchive\t%s\nlocked\t%s\nsubject\t",
	    c->persistent ? "yes" : "no", c->public_ ? "yes" : "no",
	    c->members_only ? "yes" : "no", c->moderated ? "yes" : "no",
	    c->password_protected ? "yes" : "no",
	    c->whois_anyone ? "anyone" : "moderators",
	    c->change_subject ? "participants" : "moderators",
	    c->allow_invites ? "participants" : "moderators",
	    pm[c->allow_pm], c->max_users, c->archive && c->persistent ? "yes" : "no",
	    r->locked ? "yes" : "no");
	put_text(o, r->subject);
	buf_printf(o, "\nlang\t%s\npresence_broadcast\t", c->lang);
	for (int k = MUC_ROLE_MODERATOR, n = 0; k >= MUC_ROLE_VISITOR; k--)
		if (c->presence_broadcast & (1u << k))
			buf_printf(o, "%s%s", n++ ? "," : "", muc_role_name((enum muc_role)k));
	buf_printf(o, "\navatar\t%s\noccupants\t%u\n", r->avatar[0] ? r->avatar : "-",
	    r->nocc);
	for (e = hmap_first(&r->affs, &i); e; e = hmap_next(&r->affs, e, &i))
		buf_printf(o, "affiliation\t%s\t%s\n", e->key,
		    muc_aff_name(mucroom_aff(r, e->key)));
	for (const struct muc_occ *oc = r->occs; oc; oc = oc->next) {
		buf_printf(o, "occupant\t");
		put_text(o, oc->nick);
		buf_printf(o, "\t%s\t%s\t%s\t%u\n", oc->bare, muc_role_name(oc->role),
		    muc_aff_name(oc->aff), oc->nsessions);
	}
}

static void
aff_stored(void *arg, int rc)
{
	struct room_cmd *rc_ = arg;

	buf_printf(ctl_out(rc_->req), rc == 0 ? "ok\n" :
	    "error: the affiliation is in effect but was not stored (database)\n");
	ctl_done(rc_->req);
	free(rc_);
}

static void
room_got(void *arg, struct muc_room *r, const char *err)
{
	struct room_cmd *rc = arg;
	struct buf *o = ctl_out(rc->req);
	const char *why;

	if (err) {
		buf_printf(o, "error: %s\n", err);
	} else if (r == NULL) {
		buf_printf(o, "error: no such room\n");
	} else if (rc->what == RC_SHOW) {
		show(o, r);
	} else if (rc->what == RC_DESTROY) {
		if (mucowner_destroy(r, NULL, rc->reason) == -1) {
			buf_printf(o, "error: out of memory\n");
		} else {
			log_info("muc: %s destroyed (xmppctl)", rc->bare);
			buf_printf(o, "ok\n");
			r = NULL;	/* gone */
		}
	} else {
		log_info("muc: %s's affiliation with %s set to %s (xmppctl)",
		    rc->bare, r->jid, muc_aff_name(rc->aff));
		/* aff_stored answers (perhaps already: rc is then gone) */
		if ((why = mucadmin_set_aff(r, rc->bare, rc->aff, rc->reason,
		    aff_stored, rc)) == NULL) {
			mucroom_release(r);
			return;
		}
		buf_printf(o, "error: %s\n", why);
	}
	if (r)
		mucroom_release(r);
	ctl_done(rc->req);
	free(rc);
}

static int
aff_arg(const char *s)
{
	for (int a = MUC_AFF_OUTCAST; a <= MUC_AFF_OWNER; a++)
		if (strcmp(s, muc_aff_name((enum muc_aff)a)) == 0)
			return a;
	return -1;
}

static int
room_command(struct ctl_req *req, const char *args, int what)
{
	static const char *const usage[] = { "room ROOM",
	    "room-destroy ROOM [REASON]",
	    "room-affiliation ROOM JID owner|admin|member|outcast|none [REASON]" };
	struct buf *o = ctl_out(req);
	char a[1024], *p = a, *w, *reason, room[ROOM_MAX];
	struct room_cmd *rc;
	struct jid j;
	size_t rlen;
	int host, aff = 0;

	snprintf(a, sizeof(a), "%s", args);
	if ((host = room_arg(o, word(&p), room)) < 0)
		return 0;
	if ((rc = calloc(1, sizeof(*rc) + strlen(p) + 1)) == NULL) {
		buf_printf(o, "error: out of memory\n");
		return 0;
	}
	rc->req = req;
	rc->what = what;
	if (what == RC_AFF) {
		if ((w = word(&p)) == NULL || jid_parse(w, &j) == -1 || j.resource[0]) {
			buf_printf(o, "error: %s\n", w ? "not a bare JID" : usage[what]);
			goto refused;
		}
		jid_bare(&j, rc->bare, sizeof(rc->bare));
		if ((w = word(&p)) == NULL || (aff = aff_arg(w)) < 0) {
			buf_printf(o, "error: usage: %s\n", usage[what]);
			goto refused;
		}
		rc->aff = (enum muc_aff)aff;
	} else {
		snprintf(rc->bare, sizeof(rc->bare), "%s", room);
	}
	reason = p + strspn(p, " ");
	rlen = strlen(reason);
	if (what == RC_SHOW && rlen) {
		buf_printf(o, "error: usage: %s\n", usage[what]);
		goto refused;
	}
	if (rlen > muc_cfg()->max_description) {
		buf_printf(o, "error: the reason is longer than %zu bytes\n",
		    muc_cfg()->max_description);
		goto refused;
	}
	memcpy(rc->reason, reason, rlen + 1);
	if (muc_room_get(room, host, room_got, rc) == -1) {
		buf_printf(o, "error: too many rooms are being loaded; try again\n");
		goto refused;
	}
	return 1;
refused:
	free(rc);
	return 0;
}

static int
cmd_room(struct ctl_req *req, const char *args)
{
	return room_command(req, args, RC_SHOW);
}

static int
cmd_destroy(struct ctl_req *req, const char *args)
{
	return room_command(req, args, RC_DESTROY);
}

static int
cmd_aff(struct ctl_req *req, const char *args)
{
	return room_command(req, args, RC_AFF);
}

const struct ctl_command mucctl_commands[] = {
	{ "rooms", "rooms [SERVICE]",
	    "group chat rooms: JID, occupants, persistent, public, flags", cmd_rooms },
	{ "room", "room ROOM", "a room's configuration, affiliations and occupants",
	    cmd_room },
	{ "room-destroy", "room-destroy ROOM [REASON]",
	    "destroy a room (occupants are told why)", cmd_destroy },
	{ "room-affiliation",
	    "room-affiliation ROOM JID owner|admin|member|outcast|none [REASON]",
	    "set an affiliation (outcast bans)", cmd_aff },
	{ NULL, NULL, NULL, NULL },
};
