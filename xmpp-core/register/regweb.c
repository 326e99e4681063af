/*
 * regweb — the web pages' registration, password change and removal.
 * See regweb.h.
 *
 * One operation is one struct op, alive from the call that returned
 * REGWEB_PENDING to its callback.  The checks run in register.c's order
 * (what costs the user least first): fields, reserved names, strength,
 * throttle, the captcha (used up, right or wrong), then the account; a
 * taken name is told only after the captcha.  Password change and
 * removal first check the old password off the loop (kdf.h) against the
 * stored SCRAM keys; an unknown account costs the same PBKDF2 run as a
 * wrong password (no probing of who exists).
 */
#include "regweb.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "accept.h"
#include "account.h"
#include "accountrm.h"
#include "crypto.h"
#include "invite.h"
#include "kdf.h"
#include "log.h"
#include "regconf.h"
#include "register.h"
#include "router.h"
#include "server.h"
#include "throttle.h"

enum op_kind { OP_REGISTER, OP_PASSWD, OP_REMOVE, OP_INVITED };

struct op {
	enum op_kind kind;
	int host;
	char local[JID_PART_MAX + 1];
	char ip[64], peer[128];
	struct sockaddr_storage addr;
	char *password;		/* the new one (register, passwd) */
	char *old;		/* the one checked (passwd, remove) */
	bool counted;		/* by the throttle */
	bool admitted;		/* counted by accept.c as a connection of ip */
	char token[INVITE_TOKEN_LEN + 1];	/* OP_INVITED */
	char inviter[JID_PART_MAX + 1];
	regweb_cb *cb;
	void *arg;
};

unsigned
regweb_min_entropy(void)
{
	return reg_cfg()->min_password_entropy;
}

const char *
regweb_text(enum regweb_rc rc)
{
	switch (rc) {
	case REGWEB_OK:
	case REGWEB_PENDING:
		return "Done.";
	case REGWEB_CLOSED:
		return "Registration is not open here.";
	case REGWEB_MISSING:
		return "Please fill in every field.";
	case REGWEB_BAD_USER:
		return "The username is not valid: letters, digits and most punctuation, "
		    "but no spaces, @, / or quotes.";
	case REGWEB_RESERVED:
		return "This username is reserved; please choose another one.";
	case REGWEB_WEAK:
		return "The password is too weak: use a longer one, mixing letters, "
		    "digits and other characters.";
	case REGWEB_THROTTLED:
		return "Too many accounts were registered from your address lately; "
		    "please try again later.";
	case REGWEB_LIMITED:
		return "Too many registration attempts from your address; "
		    "please wait a minute.";
	case REGWEB_CAPTCHA_MISSING:
		return "Please answer the captcha.";
	case REGWEB_CAPTCHA_WRONG:
		return "The captcha answer was wrong; here is a new one.";
	case REGWEB_CAPTCHA_EXPIRED:
		return "The captcha has expired or was answered already; here is a new one.";
	case REGWEB_TAKEN:
		return "This username is taken; please choose another one.";
	case REGWEB_AUTH:
		return "Wrong username or password.";
	case REGWEB_BANNED:
		return "Too many failed attempts from your address; please try again later.";
	case REGWEB_INVITE_GONE:
		return "This invitation is not valid: it was used already, it has expired, "
		    "or the link is incomplete.";
	case REGWEB_BUSY:
		return "The server is busy; please try again in a moment.";
	case REGWEB_ERROR:
		return "Something went wrong on the server; please try again later.";
	}
	return "?";
}

static void
free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static struct op *
op_new(enum op_kind kind, int host, const struct regweb_client *cl, const char *local,
    regweb_cb *cb, void *arg)
{
	struct op *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->kind = kind;
	o->host = host;
	snprintf(o->local, sizeof(o->local), "%s", local);
	snprintf(o->ip, sizeof(o->ip), "%s", cl->ip);
	snprintf(o->peer, sizeof(o->peer), "%s", cl->peer);
	memcpy(&o->addr, cl->addr, cl->addr->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	o->cb = cb;
	o->arg = arg;
	return o;
}

static void
op_finish(struct op *o, enum regweb_rc rc)
{
	char jid[2 * JID_PART_MAX + 2];

	snprintf(jid, sizeof(jid), "%s@%s", o->local, srv.cfg->hosts[o->host]);
	if (rc == REGWEB_OK)
		log_info("web: %s: account %s %s", o->peer, jid,
		    o->kind == OP_REGISTER ? "registered" : o->kind == OP_INVITED ?
		    "registered with an invitation" : o->kind == OP_PASSWD ?
		    "changed its password" : "removed");
	if (o->admitted)
		accept_release(o->ip);
	o->cb(o->arg, rc, rc == REGWEB_OK ? jid : NULL);
	free_secret(o->password);
	free_secret(o->old);
	OPENSSL_cleanse(o->token, sizeof(o->token));
	free(o);
}

static enum regweb_rc
from_check(enum reg_check rc)
{
	switch (rc) {
	case REG_FIELDS_OK:
		return REGWEB_OK;
	case REG_MISSING:
		return REGWEB_MISSING;
	case REG_BAD_USER:
		return REGWEB_BAD_USER;
	case REG_RESERVED:
		return REGWEB_RESERVED;
	case REG_WEAK:
		return REGWEB_WEAK;
	}
	return REGWEB_MISSING;
}

/* ---- the form ---- */

enum regweb_rc
regweb_form(const struct regweb_client *cl, struct regweb_form *f)
{
	const struct reg_config *cfg = reg_cfg();
	char cid[CAPTCHA_CID_LEN + 1];
	unsigned question = 0;

	memset(f, 0, sizeof(*f));
	if (!reg_open_to(cl->addr))
		return REGWEB_CLOSED;
	f->min_entropy = cfg->min_password_entropy;
	if (cfg->captcha == CAPTCHA_OFF)
		return REGWEB_OK;
	switch (captcha_new(cl->addr, &cfg->limits, f->challenge, cid, &question)) {
	case CAPTCHA_OK:
		break;
	case CAPTCHA_LIMITED:
		log_info("web: %s: registration: captcha limit (%u a minute)", cl->peer,
		    cfg->limits.per_minute);
		return REGWEB_LIMITED;
	default:
		return REGWEB_BUSY;
	}
	f->captcha = true;
	f->picture = cfg->captcha == CAPTCHA_IMAGE;
	if (!f->picture)
		snprintf(f->question, sizeof(f->question), "%s",
		    question < cfg->nquestions ? cfg->questions[question].text : "?");
	return REGWEB_OK;
}

/* ---- registration ---- */

static void
created(void *arg, bool ok, const char *err)
{
	struct op *o = arg;

	if (!err && ok) {
		reg_announce(srv.cfg->hosts[o->host], o->local, o->ip);
		op_finish(o, REGWEB_OK);
		return;
	}
	if (o->counted)
		throttle_uncount((const struct sockaddr *)&o->addr);
	if (err)
		log_warn("web: %s: registration of %s: %s", o->peer, o->local, err);
	op_finish(o, err ? REGWEB_ERROR : REGWEB_TAKEN);
}

enum regweb_rc
regweb_register(int host, const struct regweb_client *cl, const struct regweb_submit *s,
    regweb_cb *cb, void *arg)
{
	const struct reg_config *cfg = reg_cfg();
	char local[JID_PART_MAX + 1];
	enum regweb_rc rc;
	struct op *o;

	if (!reg_open_to(cl->addr))
		return REGWEB_CLOSED;
	if ((rc = from_check(reg_check_fields(s->user, s->password, local, true))) !=
	    REGWEB_OK)
		return rc;
	if (!throttle_allows(cfg, cl->addr)) {
		log_info("web: %s: registration throttled", cl->peer);
		return REGWEB_THROTTLED;
	}
	if (cfg->captcha != CAPTCHA_OFF) {
		if (s->challenge == NULL || s->answer == NULL || s->answer[0] == '\0')
			return REGWEB_CAPTCHA_MISSING;
		switch (captcha_check(s->challenge, s->answer, reg_question_match)) {
		case CAPTCHA_OK:
			break;
		case CAPTCHA_WRONG:
			log_info("web: %s: registration: wrong captcha answer", cl->peer);
			return REGWEB_CAPTCHA_WRONG;
		default:
			return REGWEB_CAPTCHA_EXPIRED;
		}
	}
	if ((o = op_new(OP_REGISTER, host, cl, local, cb, arg)) == NULL)
		return REGWEB_BUSY;
	throttle_count(cl->addr);
	o->counted = true;
	if (account_create(srv.cfg->hosts[host], local, s->password,
	    srv.cfg->scram_iterations, created, o) == -1) {
		throttle_uncount(cl->addr);
		free(o);
		return REGWEB_BUSY;
	}
	return REGWEB_PENDING;
}

/* ---- password change and removal: the old password first ---- */

static void
passwd_done(void *arg, bool ok, const char *err)
{
	struct op *o = arg;

	if (err)
		log_warn("web: %s: password change of %s: %s", o->peer, o->local, err);
	op_finish(o, err ? REGWEB_ERROR : ok ? REGWEB_OK : REGWEB_AUTH);
}

static void
removed(void *arg, int result, const char *err)
{
	struct op *o = arg;

	if (result == -1)
		log_warn("web: %s: removal of %s: %s", o->peer, o->local,
		    err ? err : "failed");
	op_finish(o, result == 1 ? REGWEB_OK : result == 0 ? REGWEB_AUTH : REGWEB_ERROR);
}

static void
checked(void *arg, bool ok, const struct scram_keys *keys)
{
	struct op *o = arg;
	struct user *u;

	(void)keys;
	if (!ok) {
		log_info("web: %s: wrong password for %s", o->peer, o->local);
		accept_auth_failed(o->ip, 0);
		op_finish(o, REGWEB_AUTH);
		return;
	}
	if (o->kind == OP_PASSWD) {
		if (account_set_password(srv.cfg->hosts[o->host], o->local, o->password,
		    srv.cfg->scram_iterations, passwd_done, o) == -1)
			op_finish(o, REGWEB_BUSY);
		return;
	}
	if ((u = router_user_get(o->host, o->local)) == NULL) {
		op_finish(o, REGWEB_BUSY);
		return;
	}
	if (accountrm_start(u, removed, o) == -1)
		op_finish(o, REGWEB_BUSY);
	router_user_unref(u);
}

/* Keys for an account that does not exist: stable per name, never matched. */
static void
fake_keys(const struct op *o, struct scram_keys *k)
{
	uint8_t mac[32];
	char in[2 * JID_PART_MAX + 2];

	snprintf(in, sizeof(in), "%s/%s", srv.cfg->hosts[o->host], o->local);
	hmac_sha256(srv.fake_salt_key, sizeof(srv.fake_salt_key), in, strlen(in), mac);
	memset(k, 0, sizeof(*k));
	memcpy(k->salt, mac, SCRAM_SALT_LEN);
	k->saltlen = SCRAM_SALT_LEN;
	k->iter = srv.cfg->scram_iterations;
	random_bytes(k->stored, sizeof(k->stored));
	random_bytes(k->server, sizeof(k->server));
}

static void
got_keys(void *arg, bool found, const struct account_keys *keys, const char *err)
{
	struct op *o = arg;
	enum scram_hash h;
	struct scram_keys fk;
	struct kdf_job *j;

	if (err) {
		log_warn("web: %s: keys of %s: %s", o->peer, o->local, err);
		op_finish(o, REGWEB_ERROR);
		return;
	}
	h = found && !keys->have[SCRAM_SHA256] ? SCRAM_SHA1 : SCRAM_SHA256;
	if (found && !keys->have[h])
		found = false;
	if (!found)
		fake_keys(o, &fk);
	j = kdf_check(h, found ? &keys->k[h] : &fk, o->old, checked, o);
	OPENSSL_cleanse(&fk, sizeof(fk));
	if (j == NULL)
		op_finish(o, REGWEB_BUSY);
}

static enum regweb_rc
with_password(enum op_kind kind, int host, const struct regweb_client *cl,
    const char *user, const char *old, const char *password, regweb_cb *cb, void *arg)
{
	char local[JID_PART_MAX + 1];
	const char *why;
	enum regweb_rc rc;
	struct op *o;

	if (old == NULL || old[0] == '\0' || strlen(old) > REG_PASSWORD_MAX)
		return REGWEB_MISSING;
	/* the new password's rules; for a removal the old one stands in */
	if ((rc = from_check(reg_check_fields(user, password ? password : old, local,
	    false))) != REGWEB_OK && (password || rc != REGWEB_WEAK))
		return rc;
	/*
	 * The check is a connection of the address while it runs (accept.c
	 * keeps what it knows of an address only while it has some): a ban
	 * refuses it, and a wrong password counts towards one.
	 */
	if (accept_admit(cl->ip, &why) == -1)
		return strcmp(why, "banned") == 0 ? REGWEB_BANNED : REGWEB_BUSY;
	if ((o = op_new(kind, host, cl, local, cb, arg)) == NULL ||
	    (o->old = strdup(old)) == NULL ||
	    (password && (o->password = strdup(password)) == NULL))
		goto fail;
	o->admitted = true;
	if (account_get_keys(srv.cfg->hosts[host], local, got_keys, o) == NULL)
		goto fail;
	return REGWEB_PENDING;
fail:
	accept_release(cl->ip);
	if (o) {
		free_secret(o->old);
		free_secret(o->password);
		free(o);
	}
	return REGWEB_BUSY;
}

enum regweb_rc
regweb_passwd(int host, const struct regweb_client *cl, const char *user,
    const char *old, const char *password, regweb_cb *cb, void *arg)
{
	if (password == NULL || password[0] == '\0')
		return REGWEB_MISSING;
	return with_password(OP_PASSWD, host, cl, user, old, password, cb, arg);
}

enum regweb_rc
regweb_remove(int host, const struct regweb_client *cl, const char *user,
    const char *password, regweb_cb *cb, void *arg)
{
	return with_password(OP_REMOVE, host, cl, user, password, NULL, cb, arg);
}

/* ---- invitations ---- */

struct look {
	regweb_invite_cb *cb;
	void *arg;
	char token[INVITE_TOKEN_LEN + 1];
};

static void
looked(void *arg, int ok, int host, const char *inviter)
{
	struct look *l = arg;
	struct regweb_invite inv;

	if (ok != 1) {
		l->cb(l->arg, ok == 0 ? REGWEB_INVITE_GONE : REGWEB_ERROR, NULL);
	} else {
		snprintf(inv.host, sizeof(inv.host), "%s", srv.cfg->hosts[host]);
		snprintf(inv.inviter, sizeof(inv.inviter), "%s", inviter);
		/* as `xmppctl invite` wrote it (XEP-0401 §5.1, XEP-0445 §3) */
		if (inviter[0])
			snprintf(inv.uri, sizeof(inv.uri), "xmpp:%s@%s?roster;preauth=%s;ibr=y",
			    inviter, inv.host, l->token);
		else
			snprintf(inv.uri, sizeof(inv.uri), "xmpp:%s?register;preauth=%s",
			    inv.host, l->token);
		l->cb(l->arg, REGWEB_OK, &inv);
		OPENSSL_cleanse(&inv, sizeof(inv));
	}
	OPENSSL_cleanse(l, sizeof(*l));
	free(l);
}

enum regweb_rc
regweb_invite(const char *token, regweb_invite_cb *cb, void *arg)
{
	struct look *l;

	if (!invite_token_ok(token))
		return REGWEB_INVITE_GONE;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return REGWEB_BUSY;
	l->cb = cb;
	l->arg = arg;
	for (size_t i = 0; i < INVITE_TOKEN_LEN; i++)
		l->token[i] = (char)tolower((unsigned char)token[i]);
	if (invite_lookup(l->token, looked, l) == -1) {
		free(l);
		return REGWEB_BUSY;
	}
	return REGWEB_PENDING;
}

static void
invited_created(void *arg, bool ok, const char *err)
{
	struct op *o = arg;

	if (!err && ok) {
		if (o->inviter[0])
			invite_subscribe(o->host, o->local, o->inviter);
		reg_announce(srv.cfg->hosts[o->host], o->local, o->ip);
		op_finish(o, REGWEB_OK);
		return;
	}
	invite_give_back(o->token, o->host, o->local);	/* nothing half-made */
	if (err)
		log_warn("web: %s: registration of %s: %s", o->peer, o->local, err);
	op_finish(o, err ? REGWEB_ERROR : REGWEB_TAKEN);
}

static void
taken(void *arg, int ok, int host, const char *inviter)
{
	struct op *o = arg;

	if (ok != 1) {
		op_finish(o, ok == 0 ? REGWEB_INVITE_GONE : REGWEB_ERROR);
		return;
	}
	o->host = host;
	snprintf(o->inviter, sizeof(o->inviter), "%s", inviter);
	if (account_create(srv.cfg->hosts[host], o->local, o->password,
	    srv.cfg->scram_iterations, invited_created, o) == -1) {
		invite_give_back(o->token, host, o->local);
		op_finish(o, REGWEB_BUSY);
	}
}

enum regweb_rc
regweb_register_invited(const struct regweb_client *cl, const char *token,
    const char *user, const char *password, regweb_cb *cb, void *arg)
{
	char local[JID_PART_MAX + 1];
	enum regweb_rc rc;
	struct op *o;

	if (!invite_token_ok(token))
		return REGWEB_INVITE_GONE;
	if ((rc = from_check(reg_check_fields(user, password, local, true))) != REGWEB_OK)
		return rc;
	if ((o = op_new(OP_INVITED, 0, cl, local, cb, arg)) == NULL)
		return REGWEB_BUSY;
	for (size_t i = 0; i < INVITE_TOKEN_LEN; i++)
		o->token[i] = (char)tolower((unsigned char)token[i]);
	if ((o->password = strdup(password)) == NULL ||
	    invite_take(o->token, local, taken, o) == -1) {
		free_secret(o->password);
		OPENSSL_cleanse(o->token, sizeof(o->token));
		free(o);
		return REGWEB_BUSY;
	}
	return REGWEB_PENDING;
}
