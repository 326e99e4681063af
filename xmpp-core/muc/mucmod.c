/*
 * mucmod — XEP-0425 moderated message retraction (0.3, with the
 * urn:xmpp:message-moderate:0 <apply-to/> form Conversations and Gajim
 * still send): a moderator names a message by the room's stanza-id; the
 * archived message becomes a tombstone (its body and payloads gone, the
 * author's nick and occupant id kept, the moderator and reason added),
 * the kept history copy too, and everyone in the room gets the
 * retraction in both namespaces, itself archived with a stanza-id of its
 * own so that clients catching up through MAM learn of it.
 *
 * Two statements keyed by the room: the message's author is read, then
 * the tombstone written only if the message was not retracted meanwhile
 * (a second moderation of one message is item-not-found).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "mamquery.h"
#include "mucconf.h"
#include "mucmam.h"
#include "mucroom.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

static struct db_stmt st_author = {
	"SELECT nick, occupant_id FROM muc_archive WHERE room = $1 "
	"AND id = $2::bigint AND NOT retracted", 2, 0 };
static struct db_stmt st_tombstone = {
	"UPDATE muc_archive SET stanza = $3, retracted = true WHERE room = $1 "
	"AND id = $2::bigint AND NOT retracted RETURNING id", 3, 0 };

struct mod {
	struct xml_node *iq;
	int64_t id;
	char ids[24];
	char *reason;		/* NULL: none given */
	char by[2 * JID_PART_MAX + 2 + JID_PART_MAX];	/* room@service/nick */
	char by_occ[48];	/* the moderator's occupant id */
	struct xml_node *tomb;	/* the tombstone being written */
	char room[];
};

static void
mod_end(struct mod *m, const char *type, const char *cond)
{
	struct xml_node *r;

	if (type)
		stanza_bounce(m->iq, type, cond);
	else if ((r = stanza_iq_result(m->iq)) != NULL)
		router_route(r);
	xml_free(m->iq);
	xml_free(m->tomb);
	free(m->reason);
	free(m);
}

static void
add_moderated(struct xml_node *parent, const struct mod *m, const char *ns)
{
	struct xml_node *md = xml_add(parent, "moderated", ns), *e;

	if (md == NULL)
		return;
	xml_set_attr(md, "by", m->by);
	if (m->by_occ[0] && (e = xml_add(md, "occupant-id", NS_OCCUPANT_ID)) != NULL)
		xml_set_attr(e, "id", m->by_occ);
}

/* XEP-0425 §5: the archived message as it is returned from now on. */
static struct xml_node *
tombstone(const struct mod *m, const char *nick, const char *occ)
{
	struct xml_node *t = xml_new("message", NS_CLIENT), *rd, *e;
	char from[3 * JID_PART_MAX + 3], stamp[40];

	if (t == NULL)
		return NULL;
	snprintf(from, sizeof(from), nick[0] ? "%s/%s" : "%s", m->room, nick);
	xml_set_attr(t, "from", from);
	xml_set_attr(t, "type", "groupchat");
	if ((rd = xml_add(t, "retracted", NS_RETRACT1)) == NULL) {
		xml_free(t);
		return NULL;
	}
	mam_time_format(mucmam_next_id(), stamp, sizeof(stamp));
	xml_set_attr(rd, "stamp", stamp);
	add_moderated(rd, m, NS_MODERATE1);
	if (m->reason)
		xml_add_with_text(rd, "reason", NULL, m->reason);
	if ((e = xml_add(t, "stanza-id", NS_SID)) != NULL) {
		xml_set_attr(e, "id", m->ids);
		xml_set_attr(e, "by", m->room);
	}
	if (occ[0] && (e = xml_add(t, "occupant-id", NS_OCCUPANT_ID)) != NULL)
		xml_set_attr(e, "id", occ);
	return t;
}

/* §4: what every occupant gets, in the namespaces of 0.3 and of 0.2. */
static struct xml_node *
announcement(const struct mod *m, int64_t sid)
{
	struct xml_node *a = xml_new("message", NS_CLIENT), *rt, *ap, *md, *e;
	char id[25], sids[24];

	if (a == NULL || random_hex(id, 12) == -1) {
		xml_free(a);
		return NULL;
	}
	xml_set_attr(a, "type", "groupchat");
	xml_set_attr(a, "from", m->room);
	xml_set_attr(a, "id", id);
	if ((rt = xml_add(a, "retract", NS_RETRACT1)) == NULL ||
	    (ap = xml_add(a, "apply-to", NS_FASTEN)) == NULL) {
		xml_free(a);
		return NULL;
	}
	xml_set_attr(rt, "id", m->ids);
	add_moderated(rt, m, NS_MODERATE1);
	if (m->reason)
		xml_add_with_text(rt, "reason", NULL, m->reason);
	xml_set_attr(ap, "id", m->ids);
	add_moderated(ap, m, NS_MODERATE0);
	if ((md = xml_child(ap, "moderated", NS_MODERATE0)) != NULL) {
		xml_add(md, "retract", NS_RETRACT0);
		if (m->reason)
			xml_add_with_text(md, "reason", NULL, m->reason);
	}
	snprintf(sids, sizeof(sids), "%lld", (long long)sid);
	if ((e = xml_add(a, "stanza-id", NS_SID)) != NULL) {
		xml_set_attr(e, "id", sids);
		xml_set_attr(e, "by", m->room);
	}
	return a;
}

static void
written(void *arg, PGresult *res, const char *err)
{
	struct mod *m = arg;
	struct muc_room *r = mucroom_find(m->room);
	struct xml_node *a;
	struct buf b;
	int64_t sid;

	if (res == NULL) {
		log_warn("muc: moderating in %s: %s", m->room, err);
		mod_end(m, "wait", "internal-server-error");
		return;
	}
	if (PQntuples(res) == 0) {
		mod_end(m, "cancel", "item-not-found");
		return;
	}
	sid = mucmam_next_id();
	if ((a = announcement(m, sid)) != NULL) {
		if (r) {
			mucroom_hist_replace(r, m->id, m->tomb);
			mucroom_fanout(r, a, NULL);
			mucroom_hist_add_id(r, a, time(NULL), sid, NULL);
		}
		buf_init(&b);
		if (xml_serialize(&b, a, NS_CLIENT) == 0)
			mucmam_store(m->room, NULL, sid, b.p);
		buf_free(&b);
		xml_free(a);
	}
	mod_end(m, NULL, NULL);
}

static void
author_got(void *arg, PGresult *res, const char *err)
{
	struct mod *m = arg;
	const char *v[3] = { m->room, m->ids, NULL };
	struct buf b;

	if (res == NULL) {
		log_warn("muc: moderating in %s: %s", m->room, err);
		mod_end(m, "wait", "internal-server-error");
		return;
	}
	if (PQntuples(res) == 0) {
		mod_end(m, "cancel", "item-not-found");
		return;
	}
	buf_init(&b);
	if ((m->tomb = tombstone(m, PQgetvalue(res, 0, 0),
	    PQgetvalue(res, 0, 1))) == NULL ||
	    xml_serialize(&b, m->tomb, NS_CLIENT) == -1) {
		buf_free(&b);
		mod_end(m, "wait", "resource-constraint");
		return;
	}
	v[2] = b.p;
	if (db_query_key(srv.db, m->room, &st_tombstone, v, written, m) == NULL)
		mod_end(m, "wait", "resource-constraint");
	buf_free(&b);
}

/* The id and reason of either form: 0, or -1 with the error. */
static int
parse(const struct xml_node *q, const char **id, const struct xml_node **reason,
    const char **cond)
{
	const struct xml_node *md;

	*cond = "bad-request";
	if (xml_is(q, "moderate", NS_MODERATE1)) {
		md = q;
		if (xml_child(md, "retract", NS_RETRACT1) == NULL)
			return -1;
	} else {
		/* 0.2: <apply-to id><moderate><retract/><reason/></moderate> */
		if ((md = xml_child(q, "moderate", NS_MODERATE0)) == NULL ||
		    xml_child(md, "retract", NS_RETRACT0) == NULL)
			return -1;
	}
	*id = xml_attr(q, "id");
	*reason = xml_child(md, "reason", NULL);
	return *id == NULL || (*id)[0] == '\0' ? -1 : 0;
}

bool
mucmod_iq(struct muc_room *r, struct xml_node *n, const struct xml_node *q)
{
	const char *from = xml_attr(n, "from"), *id, *cond;
	const struct xml_node *reason;
	struct muc_from f;
	struct muc_sess *s;
	struct mod *m;
	size_t len;
	char *text = NULL;
	const char *v[2];

	if (!xml_is(q, "moderate", NS_MODERATE1) && !xml_is(q, "apply-to", NS_FASTEN))
		return false;
	s = muc_from(from, &f) == 0 ? mucroom_sess_of(r, &f) : NULL;
	if (strcmp(stanza_type(n), "set") != 0 || parse(q, &id, &reason, &cond) == -1) {
		stanza_bounce(n, "modify", "bad-request");
		goto out;
	}
	if (!mucmam_on(r)) {
		stanza_bounce(n, "cancel", "feature-not-implemented");
		goto out;
	}
	if (s == NULL || s->occ->role != MUC_ROLE_MODERATOR) {
		stanza_bounce(n, "auth", "forbidden");
		goto out;
	}
	if (reason && (text = xml_text(reason)) == NULL) {
		stanza_bounce(n, "wait", "resource-constraint");
		goto out;
	}
	if (text && strlen(text) > muc_cfg()->max_description) {
		stanza_bounce(n, "modify", "not-acceptable");
		goto out;
	}
	len = strlen(r->jid) + 1;
	if ((m = calloc(1, sizeof(*m) + len)) == NULL) {
		stanza_bounce(n, "wait", "resource-constraint");
		goto out;
	}
	memcpy(m->room, r->jid, len);
	m->iq = n;
	n = NULL;
	if (text && text[0]) {
		m->reason = text;
		text = NULL;
	}
	snprintf(m->by, sizeof(m->by), "%s", s->occ->full);
	snprintf(m->by_occ, sizeof(m->by_occ), "%s", s->occ->occ_id);
	if (mam_id_parse(id, &m->id) == -1) {
		mod_end(m, "cancel", "item-not-found");
		goto out;
	}
	snprintf(m->ids, sizeof(m->ids), "%lld", (long long)m->id);
	v[0] = m->room;
	v[1] = m->ids;
	if (db_query_key(srv.db, m->room, &st_author, v, author_got, m) == NULL)
		mod_end(m, "wait", "resource-constraint");
out:
	free(text);
	xml_free(n);
	return true;
}
