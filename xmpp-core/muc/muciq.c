/*
 * muciq — IQs to an occupant JID (XEP-0045 §7.x, XEP-0410).
 *
 * A ping to one's own occupant JID is answered by the room (a client
 * that fell out gets not-acceptable and rejoins).  Other requests from
 * an occupant are relayed from the sender's occupant JID: a vCard
 * request to the target's account (its bare JID answers for it), any
 * other to the target's most recent session.  The relayed IQ gets an id
 * of the room's, so the answer — which comes back to the sender's
 * occupant JID — is matched, checked to come from whom the request
 * went to, and passed on with the original id.  Relays waiting for an
 * answer are bounded in number and forgotten after a minute.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "c2s.h"
#include "hmap.h"
#include "mucint.h"
#include "mucnick.h"
#include "mucroom.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

#define RELAY_MAX	4096	/* relayed IQs waiting for their answer */
#define RELAY_TTL	60	/* seconds an answer is waited for */

struct relay {
	TAILQ_ENTRY(relay) q;
	time_t at;
	char *id;		/* ours, the key */
	char *orig_id;		/* the sender's (NULL: none) */
	char *sender;		/* the sender's real full JID */
	char *target;		/* room@service/nick the answer is from */
	char *dest;		/* where the request went (full or bare JID) */
};

static TAILQ_HEAD(, relay) relays = TAILQ_HEAD_INITIALIZER(relays);
static struct hmap by_id;
static unsigned long long relay_seq;

static void
relay_free(struct relay *rl)
{
	TAILQ_REMOVE(&relays, rl, q);
	hmap_del(&by_id, rl->id);
	free(rl->id);
	free(rl->orig_id);
	free(rl->sender);
	free(rl->target);
	free(rl->dest);
	free(rl);
}

/* Oldest first: what waited too long, and the oldest beyond the bound. */
static void
expire(time_t now)
{
	struct relay *rl;

	while ((rl = TAILQ_FIRST(&relays)) != NULL &&
	    (rl->at + RELAY_TTL < now || by_id.n >= RELAY_MAX))
		relay_free(rl);
}

void
muciq_cleanup(void)
{
	while (!TAILQ_EMPTY(&relays))
		relay_free(TAILQ_FIRST(&relays));
	hmap_free(&by_id);
}

static void
iq_err(struct xml_node *n, const char *type, const char *cond)
{
	stanza_bounce(n, type, cond);
	xml_free(n);
}

static void
relay_request(struct muc_room *r, struct muc_sess *s, struct muc_occ *t,
    struct xml_node *n)
{
	const struct xml_node *q = xml_first_elem(n);
	bool vcard = q && xml_is(q, "vCard", "vcard-temp");
	const char *dest = vcard ? t->bare : t->sessions ? muc_sess_jid(t->sessions) : NULL;
	const char *id = xml_attr(n, "id");
	struct relay *rl;
	char ours[48];

	if (dest == NULL) {
		iq_err(n, "cancel", "item-not-found");
		return;
	}
	expire(time(NULL));
	snprintf(ours, sizeof(ours), "muc%llu", ++relay_seq);
	if ((rl = calloc(1, sizeof(*rl))) == NULL) {
		iq_err(n, "wait", "resource-constraint");
		return;
	}
	rl->at = time(NULL);
	rl->id = strdup(ours);
	rl->orig_id = id ? strdup(id) : NULL;
	rl->sender = strdup(xml_attr(n, "from"));
	rl->target = strdup(t->full);
	rl->dest = strdup(dest);
	TAILQ_INSERT_TAIL(&relays, rl, q);
	if (rl->id == NULL || (id && rl->orig_id == NULL) || rl->sender == NULL ||
	    rl->target == NULL || rl->dest == NULL ||
	    hmap_put(&by_id, rl->id, rl) == -1) {
		hmap_del(&by_id, ours);
		relay_free(rl);
		iq_err(n, "wait", "resource-constraint");
		return;
	}
	xml_set_attr(n, "id", ours);
	xml_set_attr(n, "from", s->occ->full);
	xml_set_attr(n, "to", dest);
	(void)r;
	router_route(n);
}

/* An answer to the occupant JID it was relayed from. */
static void
relay_answer(struct xml_node *n)
{
	const char *id = xml_attr(n, "id"), *from = xml_attr(n, "from");
	struct relay *rl = id ? hmap_get(&by_id, id) : NULL;

	if (rl == NULL || from == NULL || strcmp(from, rl->dest) != 0) {
		xml_free(n);	/* no such request, or not from where it went */
		return;
	}
	if (rl->orig_id)
		xml_set_attr(n, "id", rl->orig_id);
	else
		xml_del_attr(n, "id");
	xml_set_attr(n, "from", rl->target);
	xml_set_attr(n, "to", rl->sender);
	relay_free(rl);
	router_route(n);
}

void
muciq_handle(struct muc_room *r, struct xml_node *n, const struct jid *to)
{
	const char *type = stanza_type(n);
	struct muc_from f;
	struct muc_sess *s;
	struct xml_node *q = xml_first_elem(n), *res;
	struct muc_occ *t;
	char key[JID_PART_MAX + 1];

	if (strcmp(type, "result") == 0 || strcmp(type, "error") == 0) {
		relay_answer(n);
		return;
	}
	if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0) {
		xml_free(n);
		return;
	}
	s = r && muc_from(xml_attr(n, "from"), &f) == 0 ? mucroom_sess_of(r, &f) : NULL;
	if (s == NULL) {
		iq_err(n, "cancel", "not-acceptable");
		return;
	}
	if (mucnick_key(to->resource, key, sizeof(key)) < 0 ||
	    (t = mucroom_occ_by_nick(r, key)) == NULL) {
		iq_err(n, "cancel", "item-not-found");
		return;
	}
	if (t == s->occ && q && xml_is(q, "ping", "urn:xmpp:ping") &&
	    strcmp(type, "get") == 0) {
		if ((res = stanza_iq_result(n)) != NULL)
			router_route(res);
		xml_free(n);
		return;
	}
	relay_request(r, s, t, n);
}
