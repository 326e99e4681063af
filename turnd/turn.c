/*
 * turn — request handling.  See turn.h.
 *
 * Every TURN request is authenticated with the long-term mechanism
 * (RFC 8489 §9.2): a request without integrity gets 401 with REALM and a
 * fresh NONCE; a stale nonce 438; requests on an existing allocation must
 * come from the same username (441) and verify under its key.  Responses
 * to authenticated requests carry the integrity attribute the client
 * used, and a FINGERPRINT when the request had one.
 */
#include "turn.h"
#include "alloc.h"
#include "auth.h"
#include "channel.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "perm.h"
#include "relay.h"
#include "reserve.h"
#include "stun.h"

#include <string.h>

#define RESP_MAX 1024

/* A CreatePermission at the peer limit plus its credentials and the rest
 * fits the decoder, so the limit's 400 is an authenticated one. */
_Static_assert(PERM_MAX_PER_REQUEST + 12 <= STUN_MAX_ATTRS,
    "PERM_MAX_PER_REQUEST does not fit in STUN_MAX_ATTRS");

struct req {
	struct turnd *td;
	const struct client_ep *ep;
	struct stun_msg *m;
	bool authed;
	bool sha256;
	uint8_t key[AUTH_KEY_MAX];
	size_t keylen;
	const char *user;	/* points into the request */
	size_t ulen;
};

static void
begin(struct req *r, struct stun_buf *b, uint8_t *mem, uint16_t cls)
{
	stun_build(b, mem, RESP_MAX, r->m->method, cls, r->m->tid);
}

static void
finish(struct req *r, struct stun_buf *b)
{
	const char *sw = r->td->cfg->software;

	if (sw != NULL && sw[0] != '\0')
		stun_add(b, STUN_A_SOFTWARE, sw, strlen(sw));
	if (r->authed) {
		if (r->sha256)
			stun_add_integrity_sha256(b, r->key, r->keylen);
		else
			stun_add_integrity(b, r->key, r->keylen);
	}
	if (r->m->fingerprint)
		stun_add_fingerprint(b);
	if (!b->err)
		relay_to_client(r->ep, b->p, b->len);
}

static void
reply_error(struct req *r, int code)
{
	uint8_t mem[RESP_MAX];
	struct stun_buf b;

	if (log_get_level() >= LOG_LVL_DEBUG) {
		char cs[64];

		log_debug("%s: method 0x%03x: error %d",
		    sa_str(&r->ep->addr.sa, cs, sizeof(cs)), r->m->method, code);
	}
	begin(r, &b, mem, STUN_ERROR);
	stun_add_error(&b, code, stun_reason(code));
	if (code == 420) {
		uint8_t ua[2 * STUN_MAX_UNKNOWN];

		for (size_t i = 0; i < r->m->nunknown; i++)
			wr16(ua + 2 * i, r->m->unknown[i]);
		stun_add(&b, STUN_A_UNKNOWN_ATTRIBUTES, ua, 2 * r->m->nunknown);
	}
	if (code == 401 || code == 438) {
		char nonce[AUTH_NONCE_LEN + 1];
		const char *realm = r->td->cfg->realm;

		auth_nonce_make(&r->ep->addr.sa, turnd_now_s(),
		    r->td->cfg->nonce_lifetime, nonce);
		stun_add(&b, STUN_A_REALM, realm, strlen(realm));
		stun_add(&b, STUN_A_NONCE, nonce, AUTH_NONCE_LEN);
	}
	finish(r, &b);
}

static void
handle_binding(struct req *r)
{
	uint8_t mem[RESP_MAX];
	struct stun_buf b;

	begin(r, &b, mem, STUN_SUCCESS);
	stun_add_xaddr(&b, STUN_A_XOR_MAPPED_ADDRESS, &r->ep->addr.sa);
	finish(r, &b);
}

/*
 * Long-term authentication.  Returns true when the request may proceed;
 * otherwise the error has been sent.
 */
static bool
authenticate(struct req *r, struct alloc *a)
{
	struct stun_msg *m = r->m;
	const struct turnd_config *c = r->td->cfg;
	const struct stun_attr *u, *realm, *nonce;
	char cs[64];

	if (m->mi < 0 && m->mi256 < 0) {
		reply_error(r, 401);
		return false;
	}
	u = stun_attr_get(m, STUN_A_USERNAME);
	realm = stun_attr_get(m, STUN_A_REALM);
	nonce = stun_attr_get(m, STUN_A_NONCE);
	if (u == NULL || realm == NULL || nonce == NULL || u->len == 0 ||
	    u->len > AUTH_USER_MAX) {
		reply_error(r, 400);
		return false;
	}
	if (auth_nonce_check(&r->ep->addr.sa, turnd_now_s(), nonce->val,
	    nonce->len) < 0) {
		reply_error(r, 438);
		return false;
	}
	if (realm->len != strlen(c->realm) ||
	    memcmp(realm->val, c->realm, realm->len) != 0) {
		reply_error(r, 401);
		return false;
	}
	r->user = (const char *)u->val;
	r->ulen = u->len;
	if (a != NULL) {
		/* §7.3 ff.: same 5-tuple, same credentials. */
		if (strlen(a->user) != u->len || memcmp(a->user, u->val, u->len) != 0) {
			reply_error(r, 441);
			return false;
		}
		/* Credentials are checked on every request: once the
		 * REST username has expired, the allocation gets no refresh. */
		if (!auth_verify_key(m, a->key, a->keylen, &r->sha256) ||
		    auth_expired(c, r->user, r->ulen, turnd_now_s())) {
			reply_error(r, 401);
			return false;
		}
		memcpy(r->key, a->key, a->keylen);
		r->keylen = a->keylen;
		r->authed = true;
		return true;
	}
	if (auth_verify(c, m, r->user, r->ulen, turnd_now_s(), r->key,
	    &r->keylen, &r->sha256) != AUTH_OK) {
		r->td->stats.auth_failures++;
		log_info("authentication failed from %s",
		    sa_str(&r->ep->addr.sa, cs, sizeof(cs)));
		reply_error(r, 401);
		return false;
	}
	r->authed = true;
	return true;
}

static uint32_t
granted_lifetime(const struct turnd_config *c, const struct stun_msg *m)
{
	uint32_t want = c->lifetime_default;

	/* §7.2: min(requested, maximum), but not below the default. */
	if (stun_attr_u32(stun_attr_get(m, STUN_A_LIFETIME), &want) < 0)
		want = c->lifetime_default;
	if (want > c->lifetime_max)
		want = c->lifetime_max;
	if (want < c->lifetime_default)
		want = c->lifetime_default;
	return want;
}

static void
allocate_success(struct req *r, struct alloc *a, const uint8_t *token)
{
	uint8_t mem[RESP_MAX];
	struct stun_buf b;
	uint32_t left = (uint32_t)((a->expire_ms - ev_now(r->td->loop)) / 1000);

	begin(r, &b, mem, STUN_SUCCESS);
	stun_add_xaddr(&b, STUN_A_XOR_RELAYED_ADDRESS, &a->ext.sa);
	stun_add_u32(&b, STUN_A_LIFETIME, left);
	stun_add_xaddr(&b, STUN_A_XOR_MAPPED_ADDRESS, &r->ep->addr.sa);
	if (token != NULL)
		stun_add(&b, STUN_A_RESERVATION_TOKEN, token, RESERVE_TOKEN_LEN);
	finish(r, &b);
}

static void
handle_allocate(struct req *r, struct alloc *a)
{
	struct stun_msg *m = r->m;
	const struct stun_attr *tr, *fam, *even, *tok;
	struct alloc_req rq = { .family = AF_INET };
	int err;

	if (a != NULL) {
		/* §7.2: a retransmitted Allocate gets the same answer. */
		if (memcmp(a->tid, m->tid, STUN_TID_LEN) == 0)
			allocate_success(r, a, NULL);
		else
			reply_error(r, 437);
		return;
	}
	tr = stun_attr_get(m, STUN_A_REQUESTED_TRANSPORT);
	if (tr == NULL || tr->len != 4) {
		reply_error(r, 400);
		return;
	}
	if (tr->val[0] != 17) {		/* only UDP relaying (no RFC 6062) */
		reply_error(r, 442);
		return;
	}
	fam = stun_attr_get(m, STUN_A_REQUESTED_ADDRESS_FAMILY);
	even = stun_attr_get(m, STUN_A_EVEN_PORT);
	tok = stun_attr_get(m, STUN_A_RESERVATION_TOKEN);
	/* §7.2 / RFC 6156 §4.2: a token excludes EVEN-PORT and a family. */
	if (tok != NULL && (even != NULL || fam != NULL || tok->len != RESERVE_TOKEN_LEN)) {
		reply_error(r, 400);
		return;
	}
	rq.token = tok != NULL ? tok->val : NULL;
	if (even != NULL) {
		if (even->len != 1) {
			reply_error(r, 400);
			return;
		}
		rq.even_port = true;
		rq.reserve = (even->val[0] & 0x80) != 0;
	}
	if (fam != NULL) {
		if (fam->len != 4) {
			reply_error(r, 400);
			return;
		}
		if (fam->val[0] == 0x01)
			rq.family = AF_INET;
		else if (fam->val[0] == 0x02)
			rq.family = AF_INET6;
		else {
			reply_error(r, 440);
			return;
		}
	}
	rq.df = stun_attr_get(m, STUN_A_DONT_FRAGMENT) != NULL;
	rq.user = r->user;
	rq.ulen = r->ulen;
	rq.key = r->key;
	rq.keylen = r->keylen;
	rq.tid = m->tid;
	rq.lifetime = granted_lifetime(r->td->cfg, m);
	if ((a = alloc_create(r->td, r->ep, &rq, &err)) == NULL) {
		reply_error(r, err);
		return;
	}
	if (r->ep->conn != NULL)
		conn_set_alloc(r->ep->conn, a);
	allocate_success(r, a, rq.token_made ? rq.token_out : NULL);
}

static void
handle_refresh(struct req *r, struct alloc *a)
{
	const struct stun_attr *fam = stun_attr_get(r->m, STUN_A_REQUESTED_ADDRESS_FAMILY);
	uint8_t mem[RESP_MAX];
	struct stun_buf b;
	uint32_t want;

	/* RFC 6156 §5.2: a family other than the allocation's is 443. */
	if (fam != NULL && (fam->len != 4 ||
	    (fam->val[0] == 0x01 ? AF_INET : fam->val[0] == 0x02 ? AF_INET6 : -1) !=
	    a->relay.sa.sa_family)) {
		reply_error(r, 443);
		return;
	}
	if (stun_attr_u32(stun_attr_get(r->m, STUN_A_LIFETIME), &want) == 0 &&
	    want == 0) {
		begin(r, &b, mem, STUN_SUCCESS);
		stun_add_u32(&b, STUN_A_LIFETIME, 0);
		finish(r, &b);
		alloc_free(a, "released");
		return;
	}
	alloc_refresh(a, granted_lifetime(r->td->cfg, r->m));
	begin(r, &b, mem, STUN_SUCCESS);
	stun_add_u32(&b, STUN_A_LIFETIME, a->lifetime);
	finish(r, &b);
}

/* Decodes and vets one XOR-PEER-ADDRESS; 0 or the error code. */
static int
peer_addr(struct req *r, struct alloc *a, const struct stun_attr *pa,
    struct sockaddr_storage *peer)
{
	if (stun_xaddr_decode(pa, r->m->tid, peer) < 0)
		return 400;
	if (peer->ss_family != a->relay.sa.sa_family)
		return 443;
	if (!policy_peer_allowed(&r->td->cfg->policy, (struct sockaddr *)peer)) {
		char ps[64], cs[64];

		r->td->stats.peers_refused++;
		log_info("peer %s refused for %s (%s)",
		    sa_str((struct sockaddr *)peer, ps, sizeof(ps)),
		    auth_display_user(a->user),
		    sa_str(&r->ep->addr.sa, cs, sizeof(cs)));
		return 403;
	}
	return 0;
}

static void
handle_create_permission(struct req *r, struct alloc *a)
{
	struct sockaddr_storage peers[PERM_MAX_PER_REQUEST];
	uint64_t now = ev_now(r->td->loop);
	size_t np = 0, fresh = 0;
	uint8_t mem[RESP_MAX];
	struct stun_buf b;
	int err;

	for (size_t i = 0; i < r->m->nattrs; i++) {
		if (r->m->attrs[i].type != STUN_A_XOR_PEER_ADDRESS)
			continue;
		if (np == PERM_MAX_PER_REQUEST) {
			char cs[64];

			log_info("CreatePermission with more than %d peers refused "
			    "for %s (%s)", PERM_MAX_PER_REQUEST,
			    auth_display_user(a->user),
			    sa_str(&r->ep->addr.sa, cs, sizeof(cs)));
			reply_error(r, 400);
			return;
		}
		if ((err = peer_addr(r, a, &r->m->attrs[i], &peers[np])) != 0) {
			reply_error(r, err);
			return;
		}
		if (perm_find(a, (struct sockaddr *)&peers[np]) == NULL)
			fresh++;
		np++;
	}
	if (np == 0) {
		reply_error(r, 400);
		return;
	}
	/* All or nothing (§9.2): check the quota before installing any. */
	if (a->nperms + fresh > r->td->cfg->max_permissions) {
		reply_error(r, 508);
		return;
	}
	for (size_t i = 0; i < np; i++)
		perm_install(a, (struct sockaddr *)&peers[i], now);
	alloc_schedule(a);
	begin(r, &b, mem, STUN_SUCCESS);
	finish(r, &b);
}

static void
handle_channel_bind(struct req *r, struct alloc *a)
{
	const struct stun_attr *ca = stun_attr_get(r->m, STUN_A_CHANNEL_NUMBER);
	const struct stun_attr *pa = stun_attr_get(r->m, STUN_A_XOR_PEER_ADDRESS);
	uint64_t now = ev_now(r->td->loop);
	struct sockaddr_storage peer;
	uint8_t mem[RESP_MAX];
	struct stun_buf b;
	uint16_t num;
	int err;

	if (ca == NULL || ca->len != 4 || pa == NULL) {
		reply_error(r, 400);
		return;
	}
	num = rd16(ca->val);
	if (num < CHANNEL_MIN || num > CHANNEL_MAX) {
		reply_error(r, 400);
		return;
	}
	if ((err = peer_addr(r, a, pa, &peer)) != 0) {
		reply_error(r, err);
		return;
	}
	if ((err = (int)channel_check(a, num, (struct sockaddr *)&peer, now)) != 0) {
		reply_error(r, err);
		return;
	}
	if (!perm_room(a, (struct sockaddr *)&peer)) {
		reply_error(r, 508);
		return;
	}
	if ((err = (int)channel_bind(a, num, (struct sockaddr *)&peer, now)) != 0) {
		reply_error(r, err);
		return;
	}
	/* §12.2: the binding installs or refreshes the permission too. */
	perm_install(a, (struct sockaddr *)&peer, now);
	alloc_schedule(a);
	begin(r, &b, mem, STUN_SUCCESS);
	finish(r, &b);
}

void
turn_handle(struct turnd *td, const struct client_ep *ep, struct alloc *a,
    uint8_t *buf, size_t len)
{
	struct stun_msg m;
	struct req r = { .td = td, .ep = ep, .m = &m };
	char cs[64];

	if (stun_decode(buf, len, &m) < 0) {
		/* Well framed but beyond the decoder's attribute cap: a bound
		 * we chose, so the request is told (400), unauthenticated as
		 * its integrity was not looked at. */
		if (m.too_many && m.cls == STUN_REQUEST) {
			log_info("%s: method 0x%03x with more than %d attributes",
			    sa_str(&ep->addr.sa, cs, sizeof(cs)), m.method,
			    STUN_MAX_ATTRS);
			reply_error(&r, 400);
			return;
		}
		td->stats.dropped++;
		return;		/* malformed: no reply (§6.3) */
	}
	if (m.cls == STUN_INDICATION) {
		if (m.method == TURN_SEND && a != NULL)
			relay_send_indication(a, &m);
		return;
	}
	if (m.cls != STUN_REQUEST)
		return;
	if (m.nunknown > 0) {
		reply_error(&r, 420);
		return;
	}
	switch (m.method) {
	case STUN_BINDING:
		handle_binding(&r);
		return;
	case TURN_ALLOCATE:
	case TURN_REFRESH:
	case TURN_CREATE_PERMISSION:
	case TURN_CHANNEL_BIND:
		break;
	default:
		reply_error(&r, 400);
		return;
	}
	if (!authenticate(&r, a))
		goto out;
	if (m.method == TURN_ALLOCATE)
		handle_allocate(&r, a);
	else if (a == NULL)
		reply_error(&r, 437);
	else if (m.method == TURN_REFRESH)
		handle_refresh(&r, a);
	else if (m.method == TURN_CREATE_PERMISSION)
		handle_create_permission(&r, a);
	else
		handle_channel_bind(&r, a);
out:
	explicit_bzero(r.key, sizeof(r.key));
}
