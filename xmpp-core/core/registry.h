/*
 * registry — how a feature plugs into the core.
 *
 * The core (streams, SASL, binding, routing, dispatch, database, config)
 * knows no XEP.  Every feature is a module: one static `struct module`
 * table that says, in one place, what the feature handles and when it
 * wants to be called:
 *
 *   - IQ payloads (element + namespace) it answers, and in which scopes
 *     (no 'to', the sender's own bare JID, the server, another local
 *     account, before authentication); replies to IQs it sent, by id
 *     prefix;
 *   - hooks on the stanza paths (a message or presence from a client,
 *     routing, delivery to a local account ...), each with a priority:
 *     handlers of one event run from the highest priority down until one
 *     takes the stanza (Prosody's module:hook, ejabberd's hooks);
 *   - top-level stream elements (by namespace) and stream features;
 *   - disco#info features, identities and forms of the server and of
 *     accounts, and disco#items of the server (the server's entity caps
 *     hash is computed over what the modules add);
 *   - its config section (parsed with the rest of the file, swapped on
 *     SIGHUP), its SQL migrations (its folder's sql/), per-session and
 *     per-user state the core allocates for it, and lifecycle hooks.
 *
 * The tables are checked at start-up (registry_check): two modules
 * claiming one IQ payload in one scope, one stream namespace, one IQ id
 * prefix or one disco feature, a migration nobody claims or claimed
 * twice, is a start-up error naming both modules.  There is no dynamic
 * loading: xmpp-core/modules.c lists the modules in the order their
 * lifecycle hooks run.
 */
#ifndef XMPP_REGISTRY_H
#define XMPP_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct c2s;
struct conf_err;
struct conf_table;
struct jid;
struct pg_conn;
struct user;
struct xml_node;

/* ---- IQs ---- */

/* Where an IQ request is addressed (RFC 6120 §10.3, RFC 6121 §8.5). */
#define IQ_NOTO		0x01	/* no 'to': the sender's account or the server */
#define IQ_SELF		0x02	/* to the sender's own bare JID */
#define IQ_SERVER	0x04	/* to the sender's host domain */
#define IQ_ACCOUNT	0x08	/* to another local account's bare JID */
#define IQ_PREAUTH	0x10	/* on a stream not yet authenticated */
/* to a local host from an entity not on it: another server's (over
 * s2s) or another local host's; r->c is NULL, iq_reply routes the
 * answer.  What a module answers any sender (disco, ping, version). */
#define IQ_REMOTE	0x20
#define IQ_CLIENT	(IQ_NOTO | IQ_SELF)	/* the sender's own account */
#define IQ_HOST		(IQ_SERVER | IQ_REMOTE)	/* the host, from anyone */

struct iq_req {
	struct c2s *c;		/* the sending session; NULL for IQ_ACCOUNT, IQ_REMOTE */
	struct xml_node *iq;	/* ownership passes when the handler returns true */
	struct xml_node *q;	/* the one payload element */
	const struct jid *to;	/* the addressee (IQ_ACCOUNT), else NULL */
	int host;		/* the host the IQ is for */
	unsigned scope;		/* the one scope it came in on */
};

/* true: the handler owns the IQ (it answered or will); false: not taken,
 * the core answers service-unavailable. */
typedef bool iq_handler_fn(struct iq_req *r);

/* As an iq_handler's name: every element of the namespace the module
 * owns, so it answers unknown ones with its own error (bad-request ...).
 * It overlaps every claim of that namespace in a common scope. */
#define IQ_ANY "*"

struct iq_handler {
	const char *name;	/* the payload element, or IQ_ANY */
	const char *ns;
	unsigned scopes;	/* IQ_* */
	iq_handler_fn *fn;
};

/* A result or error answering an IQ the module sent, recognised by the
 * prefix of its id: from a client (c set) to the server or to its own
 * account, or delivered to a local account's bare JID or, from another
 * server, to a local host (to set; its local part empty).  true: taken
 * (n freed by the handler). */
struct iq_result_handler {
	const char *id_prefix;
	bool (*fn)(struct c2s *c, struct xml_node *n, const struct jid *to);
};

/* ---- hooks ---- */

enum hook_event {
	/* c, n: a message from a bound session, 'from' stamped and 'to' set,
	 * before it is routed (the core routes it when nobody takes it) */
	EV_MESSAGE_OUT,
	/* c, n: a presence from a bound session (taken by presence) */
	EV_PRESENCE_OUT,
	/* n, to: a stanza about to be routed, before its domain is looked
	 * up: services take the stanzas for their JIDs */
	EV_ROUTE,
	/* n, to, host: any stanza for an entity of a local host, first */
	EV_STANZA_IN,
	/* n, to, host: a message / presence for an entity of a local host */
	EV_MESSAGE_IN,
	EV_PRESENCE_IN,
	/* u, n: n is about to go to u's sessions (router_deliverable):
	 * taken means u will not get it */
	EV_DELIVER,
	/* c, n: a session's available presence, before it is broadcast
	 * (fired by im/presence) */
	EV_PRESENCE_AVAILABLE,
	/* c, n: a session stored its vCard (n, fired by im/vcard) or a
	 * private-storage element (n the set IQ, fired by im/private) */
	EV_VCARD_STORED,
	EV_PRIVATE_STORED,
	/* n, host, u = NULL: a message went to offline storage (im/offline) */
	EV_OFFLINE_STORED,
	/* c: a session lost its connection and lives on, detached; a
	 * detached session got a stanza (raw, rawlen); it was resumed
	 * (fired by im/sm) */
	EV_SESSION_DETACHED,
	EV_DETACHED_STANZA,
	EV_SESSION_RESUMED,
	EV_MAX
};

enum hook_rc { HOOK_NEXT, HOOK_TAKEN };

#define HOOK_PRIO_FIRST	1000
#define HOOK_PRIO_LAST	(-1000)	/* the core's own defaults */

struct hook_args {
	struct c2s *c;
	struct user *u;
	struct xml_node *n;	/* a handler returning HOOK_TAKEN owns it */
	const struct jid *to;
	int host;
	const char *raw;
	size_t rawlen;
	/* where the chain stands (hooks_run, hooks_resume) */
	enum hook_event ev;
	unsigned next;
};

typedef enum hook_rc hook_fn(struct hook_args *a);

struct hook {
	enum hook_event ev;
	int prio;		/* higher runs first */
	hook_fn *fn;
};

/* Runs ev's handlers from the first; HOOK_TAKEN when one took it. */
enum hook_rc hooks_run(enum hook_event ev, struct hook_args *a);
/* Goes on with the handlers after the one that took a (it keeps a copy,
 * with 'to' pointing at its own copy): an archive that stamped a message
 * lets delivery continue. */
enum hook_rc hooks_resume(struct hook_args *a);
/* Whether anything hooks ev (a caller may skip building the arguments). */
bool hooks_any(enum hook_event ev);

/* ---- stream elements and features ---- */

#define ELEM_AUTHED	0x01	/* authenticated, no resource bound yet */
#define ELEM_BOUND	0x02	/* a bound session */
/*
 * Inline in a SASL2 <authenticate/> (XEP-0388 §2.4: ELEM_SASL2, called
 * once authenticated, before anything is bound: SM's <resume/>) or in
 * its Bind2 <bind/> (XEP-0386: ELEM_BIND2, called once bound: SM's
 * <enable/>, carbons, CSI).  What fn sends then (c2s_send*) goes into
 * the <success/> (ELEM_SASL2) or its <bound/> (ELEM_BIND2) element;
 * c2s_send_after_inline is for what must follow the <success/>.
 * Advertised: ELEM_BIND2 as <feature var=ns/> in Bind2's <inline/>,
 * ELEM_SASL2 as <inline_name xmlns=ns/> in SASL2's <inline/>.
 */
#define ELEM_SASL2	0x04
#define ELEM_BIND2	0x08

struct stream_element {
	const char *ns;
	unsigned when;		/* ELEM_* */
	/* ownership of n passes */
	void (*fn)(struct c2s *c, struct xml_node *n);
	const char *inline_name;	/* ELEM_SASL2: the feature element's name */
};

/* ---- disco ---- */

enum disco_target {
	DISCO_SERVER,		/* the host's domain */
	DISCO_ACCOUNT,		/* an account's bare JID */
};

struct disco;
void disco_add_feature(struct disco *d, const char *var);
void disco_add_identity(struct disco *d, const char *category, const char *type,
    const char *name);
/* An extension form (XEP-0128): x is copied. */
void disco_add_form(struct disco *d, const struct xml_node *x);

/* ---- admin commands (xmppctl, over the control socket) ---- */

/*
 * A line "NAME ARGS" on the control socket runs the command of that name
 * (control.h: ctl_out, ctl_done).  fn: 0 when the answer is complete in
 * ctl_out(req), 1 when it comes later (ctl_done).  An answer beginning
 * with "error: " makes xmppctl exit 1.  Names are unique among modules
 * and the core's own (sessions, stats, deluser, help).
 */
struct ctl_req;
struct ctl_command {
	const char *name;	/* "rooms" */
	const char *usage;	/* "rooms [SERVICE]": for xmppctl help */
	const char *help;	/* one line of what it does */
	int (*fn)(struct ctl_req *req, const char *args);
};

/* ---- the module ---- */

struct module {
	const char *name;	/* "carbons": logs and start-up errors */
	const char *folder;	/* "im": where it lives, whose sql/ it owns */

	/* config: parse its tables of the file into *cfg; 0, or -1 with
	 * the message (file:line: key: ...) in e.  Runs at start and on
	 * every SIGHUP into a new struct (module_cfg gives the current). */
	int (*config_load)(struct conf_table *root, void **cfg, struct conf_err *e);
	void (*config_free)(void *cfg);

	/* migrations of its folder it owns, by name ("020_mam"), NULL-ended */
	const char *const *migrations;

	const struct iq_handler *iqs;		/* ended by { NULL } */
	const struct iq_result_handler *iq_results;
	const struct hook *hooks;		/* ended by { EV_MAX } */
	const struct stream_element *elements;	/* ended by { NULL } */
	const struct ctl_command *commands;	/* ended by { NULL } */
	/* stream features it offers on c now (c->secure, c->authed, c->state) */
	void (*stream_features)(struct c2s *c, struct buf *b);

	/* disco#info: static features (NULL-ended) and dynamic additions */
	const char *const *server_features;
	const char *const *account_features;
	void (*disco_info)(enum disco_target t, int host, struct disco *d);
	/* disco#items of the server: items appended to the query */
	void (*disco_items)(struct xml_node *query, int host);

	/* per-session and per-user state the core allocates (zeroed) with
	 * every struct c2s / struct user; moved with a resumed session */
	size_t session_size;
	size_t user_size;
	/* output of a session that asked (c2s_watch): before a stanza is
	 * serialised for it (true: held back, CSI), after it was written
	 * (serialised, SM's unacked queue) */
	bool (*session_send)(struct c2s *c, const struct xml_node *n);
	void (*session_sent)(struct c2s *c, const char *p, size_t len);
	/* ... and a stanza from it was taken in (SM's count) */
	void (*session_received)(struct c2s *c);

	/* lifecycle, in the order of modules.c */
	/* schema in place, before anything is served (a blocking connection) */
	int (*start)(struct pg_conn *pg, char *err, size_t errlen);
	/* the loop exists, privileges not yet dropped: bind listeners */
	int (*open)(char *err, size_t errlen);
	void (*init)(void);		/* the loop and the database pool are up */
	void (*reload)(void);		/* a new configuration is in place */
	void (*shutdown)(void);		/* graceful stop begins (SIGTERM) */
	void (*stop)(void);		/* the loop has ended, the pool is still there */
	void (*cleanup)(void);		/* the pool is gone: free everything */
	void (*session_bound)(struct c2s *c);
	/* a session was bound inline (Bind2, XEP-0386 §3.2): what the module
	 * appends to b goes into the <bound/> of the SASL2 <success/> (MAM's
	 * <metadata/>).  0: done; 1: it appends later and then calls
	 * sasl2_bound_done(c) once (sasl2.h), the <success/> waiting */
	int (*bind2_bound)(struct c2s *c, struct buf *b);
	void (*session_unbound)(struct c2s *c);	/* before it leaves the router */
	/* the connection of a bound session is lost: true when the module
	 * keeps the session, detached (c2s_detach); at most one does */
	bool (*connection_lost)(struct c2s *c);
	void (*session_moved)(struct c2s *c);	/* the session now lives in c */
	void (*session_free)(struct c2s *c);
	void (*user_offline)(struct user *u, struct c2s *last);
	void (*user_free)(struct user *u);
	/* account removal: made ready (async: done(arg, NULL) once, or with
	 * the reason it cannot go on), then told */
	void (*account_prepare)(struct user *u,
	    void (*done)(void *arg, const char *err), void *arg);
	void (*account_removed)(struct user *u);
	/* the removal did not happen after all (the database, a module's
	 * account_prepare failed): what account_prepare set up is undone */
	void (*account_kept)(struct user *u);
	/* "key\tvalue\n" lines for xmppctl stats */
	void (*stats)(struct buf *b);

	/* filled in by the registry */
	unsigned id;
	size_t session_off, user_off;
	uint32_t watch_bit;
};

#define REGISTRY_MAX 64	/* modules at most */

/* The modules, in order (xmpp-core/modules.c). */
extern struct module *const registry_modules[];
extern const size_t registry_nmodules;

/* Checks the tables and lays out per-session/per-user state: 0, or -1
 * with the reason in err. */
int registry_check(char *err, size_t errlen);
/* The same for another list (unit tests); migrations: also check the
 * compiled-in migrations against it.  registry_reset forgets it all. */
int registry_check_modules(struct module *const *list, size_t n, bool migrations,
    char *err, size_t errlen);
void registry_reset(void);
/* Loads / frees every module's config into cfgs[registry_nmodules]. */
int registry_config_load(void **cfgs, struct conf_table *root, struct conf_err *e);
void registry_config_free(void **cfgs);
/* The module's current config (NULL when it has none). */
const void *module_cfg(const struct module *m);

/* The handler of an IQ payload in a scope, NULL when none. */
const struct iq_handler *registry_iq(const struct xml_node *q, unsigned scope);
const struct iq_result_handler *registry_iq_result(const char *id);
const struct stream_element *registry_element(const char *ns, unsigned when);
/* The module command of that name, NULL when none; "usage\thelp\n"
 * lines of every module command. */
const struct ctl_command *registry_command(const char *name);
void registry_commands_help(struct buf *b);
void registry_stream_features(struct c2s *c, struct buf *b);
/* The inline features of ELEM_SASL2 or ELEM_BIND2 elements (above). */
void registry_inline_features(struct buf *b, unsigned when);

size_t registry_session_size(void);
size_t registry_user_size(void);

/* Lifecycle calls to every module that has the hook. */
int registry_start(struct pg_conn *pg, char *err, size_t errlen);
int registry_open(char *err, size_t errlen);
void registry_init(void);
void registry_reload(void);
void registry_shutdown(void);
void registry_stop(void);
void registry_cleanup(void);
void registry_session_bound(struct c2s *c);
/* The modules' bind2_bound: how many of them answer later. */
unsigned registry_bind2_bound(struct c2s *c, struct buf *b);
void registry_session_unbound(struct c2s *c);
bool registry_connection_lost(struct c2s *c);
void registry_session_moved(struct c2s *c);
void registry_session_free(struct c2s *c);
void registry_user_offline(struct user *u, struct c2s *last);
void registry_user_free(struct user *u);
void registry_account_removed(struct user *u);
void registry_account_kept(struct user *u);
void registry_stats(struct buf *b);
/* Runs the modules' account_prepare one after the other, then done(arg,
 * NULL), or done(arg, why) at the first that fails. */
void registry_account_prepare(struct user *u,
    void (*done)(void *arg, const char *err), void *arg);
/* Session output watchers (c->watch). */
bool registry_session_send(struct c2s *c, const struct xml_node *n);
void registry_session_sent(struct c2s *c, const char *p, size_t len);
void registry_session_received(struct c2s *c);

#endif
