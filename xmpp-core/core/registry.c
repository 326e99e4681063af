/*
 * registry — the modules' tables, checked once and indexed for the core.
 * See registry.h.
 *
 * At start-up registry_check walks every table: IQ payloads go into a
 * hash by "namespace name" (each key holding the few claims of different
 * scopes), hooks into one array per event sorted by priority, stream
 * elements into a short list, per-session/per-user state into offsets
 * of the areas the core allocates behind struct c2s and struct user.
 * After that nothing changes until exit; lookups do not allocate.
 */
#include "registry.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "c2s.h"
#include "conf.h"
#include "db.h"
#include "hmap.h"
#include "log.h"
#include "server.h"
#include "xml.h"

#define IQ_KEY_MAX 512

struct iq_claim {
	struct iq_claim *next;
	const struct iq_handler *h;
	const struct module *m;
};

struct hook_ent {
	const struct hook *h;
	const struct module *m;
};

/* the modules checked last (registry_check: the list of modules.c) */
static struct module *const *mods = registry_modules;
static size_t nmods;
static struct hmap iqs;			/* "ns name" -> struct iq_claim list */
static struct hook_ent *chains[EV_MAX];
static unsigned nchain[EV_MAX];
static size_t session_size, user_size;
static uint32_t watch_all;
static bool checked;

/* ---- checks ---- */

static int
fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static void
iq_key(char *out, size_t len, const char *ns, const char *name)
{
	snprintf(out, len, "%s %s", ns ? ns : "", name ? name : "");
}

/* Whether two claims overlap: one namespace, the same element or one of
 * them any element ("*"), and a scope in common. */
static bool
iq_overlap(const struct iq_handler *a, const struct iq_handler *b)
{
	return strcmp(a->ns, b->ns) == 0 && (a->scopes & b->scopes) &&
	    (strcmp(a->name, b->name) == 0 || strcmp(a->name, IQ_ANY) == 0 ||
	    strcmp(b->name, IQ_ANY) == 0);
}

static int
add_iq(const struct module *m, const struct iq_handler *h, char *err, size_t errlen)
{
	char key[IQ_KEY_MAX];
	struct iq_claim *head, *c;

	if (h->ns == NULL || h->fn == NULL || h->scopes == 0)
		return fail(err, errlen, "module %s: IQ handler %s without namespace, "
		    "scope or function", m->name, h->name);
	/* every claim made so far, of this module (before h) and the earlier ones */
	for (unsigned k = 0; k <= m->id; k++) {
		const struct module *o = mods[k];

		for (const struct iq_handler *x = o->iqs; x && x->name && x != h; x++)
			if (iq_overlap(x, h))
				return fail(err, errlen, "modules %s and %s both handle "
				    "<%s xmlns='%s'/> in one scope", o->name, m->name,
				    strcmp(x->name, IQ_ANY) == 0 ? h->name : x->name, h->ns);
	}
	iq_key(key, sizeof(key), h->ns, h->name);
	head = hmap_get(&iqs, key);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return fail(err, errlen, "out of memory");
	c->h = h;
	c->m = m;
	c->next = head;
	if (hmap_put(&iqs, key, c) == -1) {
		free(c);
		return fail(err, errlen, "out of memory");
	}
	return 0;
}

static int
cmp_hook(const void *a, const void *b)
{
	const struct hook_ent *x = a, *y = b;

	if (x->h->prio != y->h->prio)
		return x->h->prio > y->h->prio ? -1 : 1;
	/* equal priorities: the order of modules.c */
	return x->m->id < y->m->id ? -1 : x->m->id > y->m->id;
}

static int
add_hooks(const struct module *m, char *err, size_t errlen)
{
	struct hook_ent *n;

	for (const struct hook *h = m->hooks; h && h->ev != EV_MAX; h++) {
		if ((unsigned)h->ev >= EV_MAX || h->fn == NULL)
			return fail(err, errlen, "module %s: bad hook entry", m->name);
		if ((n = realloc(chains[h->ev], (nchain[h->ev] + 1) * sizeof(*n))) == NULL)
			return fail(err, errlen, "out of memory");
		chains[h->ev] = n;
		n[nchain[h->ev]].h = h;
		n[nchain[h->ev]].m = m;
		nchain[h->ev]++;
	}
	return 0;
}

static int
check_elements(const struct module *m, char *err, size_t errlen)
{
	for (const struct stream_element *e = m->elements; e && e->ns; e++) {
		for (size_t i = 0; i < m->id; i++) {
			const struct module *o = mods[i];

			for (const struct stream_element *f = o->elements; f && f->ns; f++)
				if (strcmp(f->ns, e->ns) == 0 && (f->when & e->when))
					return fail(err, errlen, "modules %s and %s both take "
					    "stream elements of %s", o->name, m->name, e->ns);
		}
	}
	return 0;
}

/* the control socket's own commands (control.c) */
static const char *const core_commands[] = { "sessions", "stats", "deluser",
    "help", NULL };

static int
check_commands(const struct module *m, char *err, size_t errlen)
{
	for (const struct ctl_command *c = m->commands; c && c->name; c++) {
		if (c->fn == NULL || c->usage == NULL || c->help == NULL ||
		    c->name[0] == '\0' || strpbrk(c->name, " \t\n") != NULL)
			return fail(err, errlen, "module %s: command \"%s\" needs a "
			    "one-word name, usage, help and a handler", m->name, c->name);
		for (const char *const *k = core_commands; *k; k++)
			if (strcmp(*k, c->name) == 0)
				return fail(err, errlen, "module %s: command %s is the "
				    "core's own", m->name, c->name);
		for (size_t i = 0; i <= m->id; i++) {
			for (const struct ctl_command *d = mods[i]->commands; d && d->name; d++) {
				if (d == c)
					break;
				if (strcmp(d->name, c->name) == 0)
					return fail(err, errlen, "modules %s and %s both "
					    "have the command %s", mods[i]->name, m->name,
					    c->name);
			}
		}
	}
	return 0;
}

static int
check_results(const struct module *m, char *err, size_t errlen)
{
	for (const struct iq_result_handler *r = m->iq_results; r && r->id_prefix; r++) {
		for (size_t i = 0; i < m->id; i++) {
			const struct module *o = mods[i];

			for (const struct iq_result_handler *s = o->iq_results; s && s->id_prefix; s++)
				if (strncmp(s->id_prefix, r->id_prefix, strlen(s->id_prefix)) == 0 ||
				    strncmp(s->id_prefix, r->id_prefix, strlen(r->id_prefix)) == 0)
					return fail(err, errlen, "modules %s and %s both claim IQ "
					    "ids starting with %s", o->name, m->name, r->id_prefix);
		}
	}
	return 0;
}

static int
check_features(const struct module *m, const char *const *(*get)(const struct module *),
    const char *what, char *err, size_t errlen)
{
	for (const char *const *f = get(m); f && *f; f++) {
		for (size_t i = 0; i <= m->id; i++) {
			const struct module *o = mods[i];

			for (const char *const *g = get(o); g && *g; g++) {
				if (g == f)
					break;
				if (strcmp(*g, *f) == 0)
					return fail(err, errlen, "modules %s and %s both add the "
					    "%s disco feature %s", o->name, m->name, what, *f);
			}
		}
	}
	return 0;
}

static const char *const *
server_features(const struct module *m)
{
	return m->server_features;
}

static const char *const *
account_features(const struct module *m)
{
	return m->account_features;
}

/* Every compiled-in migration belongs to exactly one module of its folder. */
static int
check_migrations(char *err, size_t errlen)
{
	for (size_t i = 0; i < db_nmigrations; i++) {
		const struct db_migration *dm = &db_migrations[i];
		const struct module *owner = NULL;

		for (size_t k = 0; k < nmods; k++) {
			const struct module *m = mods[k];

			for (const char *const *n = m->migrations; n && *n; n++) {
				if (strcmp(*n, dm->name) != 0)
					continue;
				if (owner)
					return fail(err, errlen, "migration %s claimed by both %s "
					    "and %s", dm->name, owner->name, m->name);
				if (strcmp(m->folder, dm->owner) != 0)
					return fail(err, errlen, "migration %s lives in %s/ but "
					    "module %s of %s/ claims it", dm->name, dm->owner,
					    m->name, m->folder);
				owner = m;
			}
		}
		if (owner == NULL)
			return fail(err, errlen, "migration %s (%s/sql/) belongs to no module",
			    dm->name, dm->owner);
	}
	for (size_t k = 0; k < nmods; k++) {
		const struct module *m = mods[k];

		for (const char *const *n = m->migrations; n && *n; n++) {
			size_t i;

			for (i = 0; i < db_nmigrations; i++)
				if (strcmp(db_migrations[i].name, *n) == 0)
					break;
			if (i == db_nmigrations)
				return fail(err, errlen, "module %s: migration %s is not built in",
				    m->name, *n);
		}
	}
	return 0;
}

static size_t
align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Drops the claims, chains and layout; the list stays. */
static void
forget(void)
{
	size_t i;

	for (struct hmap_ent *e = hmap_first(&iqs, &i); e; e = hmap_next(&iqs, e, &i))
		for (struct iq_claim *c = e->val, *next; c; c = next) {
			next = c->next;
			free(c);
		}
	hmap_free(&iqs);
	for (unsigned ev = 0; ev < EV_MAX; ev++) {
		free(chains[ev]);
		chains[ev] = NULL;
		nchain[ev] = 0;
	}
	session_size = user_size = 0;
	watch_all = 0;
	checked = false;
}

void
registry_reset(void)
{
	forget();
	mods = registry_modules;
	nmods = 0;
}

int
registry_check(char *err, size_t errlen)
{
	if (checked)
		return 0;
	return registry_check_modules(registry_modules, registry_nmodules, true,
	    err, errlen);
}

int
registry_check_modules(struct module *const *list, size_t n, bool migrations,
    char *err, size_t errlen)
{
	unsigned nwatch = 0;

	registry_reset();
	mods = list;
	nmods = n;
	if (nmods > REGISTRY_MAX)
		return fail(err, errlen, "more than %d modules", REGISTRY_MAX);
	for (size_t k = 0; k < nmods; k++) {
		struct module *m = mods[k];

		m->id = (unsigned)k;
		if (m->name == NULL || m->folder == NULL)
			return fail(err, errlen, "module %zu has no name or folder", k);
		for (size_t i = 0; i < k; i++)
			if (strcmp(mods[i]->name, m->name) == 0)
				return fail(err, errlen, "two modules named %s", m->name);
		for (const struct iq_handler *h = m->iqs; h && h->name; h++)
			if (add_iq(m, h, err, errlen) == -1)
				return -1;
		if (add_hooks(m, err, errlen) == -1 ||
		    check_elements(m, err, errlen) == -1 ||
		    check_results(m, err, errlen) == -1 ||
		    check_commands(m, err, errlen) == -1 ||
		    check_features(m, server_features, "server", err, errlen) == -1 ||
		    check_features(m, account_features, "account", err, errlen) == -1)
			return -1;
		if ((m->config_load == NULL) != (m->config_free == NULL))
			return fail(err, errlen, "module %s: config_load and config_free "
			    "come together", m->name);
		m->session_off = session_size;
		session_size += align8(m->session_size);
		m->user_off = user_size;
		user_size += align8(m->user_size);
		if (m->session_send || m->session_sent || m->session_received) {
			if (nwatch == 32)
				return fail(err, errlen, "more than 32 modules watch sessions");
			m->watch_bit = (uint32_t)1 << nwatch++;
			watch_all |= m->watch_bit;
		}
	}
	for (unsigned ev = 0; ev < EV_MAX; ev++)
		if (nchain[ev] > 1)
			qsort(chains[ev], nchain[ev], sizeof(*chains[ev]), cmp_hook);
	if (migrations && check_migrations(err, errlen) == -1)
		return -1;
	checked = true;
	return 0;
}

/* ---- config ---- */

int
registry_config_load(void **cfgs, struct conf_table *root, struct conf_err *e)
{
	for (size_t k = 0; k < nmods; k++) {
		const struct module *m = mods[k];

		cfgs[k] = NULL;
		if (m->config_load && m->config_load(root, &cfgs[k], e) == -1)
			return -1;
	}
	return 0;
}

void
registry_config_free(void **cfgs)
{
	for (size_t k = 0; k < nmods; k++)
		if (cfgs[k] && mods[k]->config_free)
			mods[k]->config_free(cfgs[k]);
}

const void *
module_cfg(const struct module *m)
{
	return srv.cfg->mods[m->id];
}

/* ---- lookups ---- */

const struct iq_handler *
registry_iq(const struct xml_node *q, unsigned scope)
{
	char key[IQ_KEY_MAX];

	if (q == NULL || q->ns == NULL)
		return NULL;
	iq_key(key, sizeof(key), q->ns, q->name);
	for (struct iq_claim *c = hmap_get(&iqs, key); c; c = c->next)
		if (c->h->scopes & scope)
			return c->h;
	/* a module that answers for a whole namespace */
	iq_key(key, sizeof(key), q->ns, IQ_ANY);
	for (struct iq_claim *c = hmap_get(&iqs, key); c; c = c->next)
		if (c->h->scopes & scope)
			return c->h;
	return NULL;
}

const struct iq_result_handler *
registry_iq_result(const char *id)
{
	if (id == NULL)
		return NULL;
	for (size_t k = 0; k < nmods; k++)
		for (const struct iq_result_handler *r = mods[k]->iq_results;
		    r && r->id_prefix; r++)
			if (strncmp(id, r->id_prefix, strlen(r->id_prefix)) == 0)
				return r;
	return NULL;
}

const struct stream_element *
registry_element(const char *ns, unsigned when)
{
	for (size_t k = 0; k < nmods; k++)
		for (const struct stream_element *e = mods[k]->elements;
		    e && e->ns; e++)
			if ((e->when & when) && strcmp(e->ns, ns) == 0)
				return e;
	return NULL;
}

void
registry_inline_features(struct buf *b, unsigned when)
{
	for (size_t k = 0; k < nmods; k++)
		for (const struct stream_element *e = mods[k]->elements;
		    e && e->ns; e++) {
			if (!(e->when & when))
				continue;
			if (when == ELEM_BIND2)
				buf_printf(b, "<feature var='%s'/>", e->ns);
			else if (e->inline_name)
				buf_printf(b, "<%s xmlns='%s'/>", e->inline_name, e->ns);
		}
}

const struct ctl_command *
registry_command(const char *name)
{
	for (size_t k = 0; k < nmods; k++)
		for (const struct ctl_command *c = mods[k]->commands; c && c->name; c++)
			if (strcmp(c->name, name) == 0)
				return c;
	return NULL;
}

void
registry_commands_help(struct buf *b)
{
	for (size_t k = 0; k < nmods; k++)
		for (const struct ctl_command *c = mods[k]->commands; c && c->name; c++)
			buf_printf(b, "%s\t%s\n", c->usage, c->help);
}

void
registry_stream_features(struct c2s *c, struct buf *b)
{
	for (size_t k = 0; k < nmods; k++)
		if (mods[k]->stream_features)
			mods[k]->stream_features(c, b);
}

size_t
registry_session_size(void)
{
	return session_size;
}

size_t
registry_user_size(void)
{
	return user_size;
}

/* ---- hooks ---- */

static enum hook_rc
run_from(struct hook_args *a)
{
	struct hook_ent *ch = chains[a->ev];

	while (a->next < nchain[a->ev]) {
		const struct hook *h = ch[a->next++].h;

		if (h->fn(a) == HOOK_TAKEN)
			return HOOK_TAKEN;
	}
	return HOOK_NEXT;
}

enum hook_rc
hooks_run(enum hook_event ev, struct hook_args *a)
{
	a->ev = ev;
	a->next = 0;
	return run_from(a);
}

enum hook_rc
hooks_resume(struct hook_args *a)
{
	return run_from(a);
}

bool
hooks_any(enum hook_event ev)
{
	return nchain[ev] > 0;
}

/* ---- lifecycle ---- */

#define EACH(field) \
	for (size_t k_ = 0; k_ < nmods; k_++) \
		if (mods[k_]->field)
#define MOD (mods[k_])

int
registry_start(struct pg_conn *pg, char *err, size_t errlen)
{
	char e[400];

	EACH(start) {
		if (MOD->start(pg, e, sizeof(e)) == -1)
			return fail(err, errlen, "%s: %s", MOD->name, e);
	}
	return 0;
}

int
registry_open(char *err, size_t errlen)
{
	char e[400];

	EACH(open) {
		if (MOD->open(e, sizeof(e)) == -1)
			return fail(err, errlen, "%s", e);
	}
	return 0;
}

void
registry_stop(void)
{
	EACH(stop)
		MOD->stop();
}

void
registry_init(void)
{
	EACH(init)
		MOD->init();
}

void
registry_reload(void)
{
	EACH(reload)
		MOD->reload();
}

void
registry_shutdown(void)
{
	EACH(shutdown)
		MOD->shutdown();
}

void
registry_cleanup(void)
{
	EACH(cleanup)
		MOD->cleanup();
	forget();
}

void
registry_session_bound(struct c2s *c)
{
	EACH(session_bound)
		MOD->session_bound(c);
}

unsigned
registry_bind2_bound(struct c2s *c, struct buf *b)
{
	unsigned later = 0;

	EACH(bind2_bound)
		later += MOD->bind2_bound(c, b) == 1;
	return later;
}

void
registry_session_unbound(struct c2s *c)
{
	EACH(session_unbound)
		MOD->session_unbound(c);
}

bool
registry_connection_lost(struct c2s *c)
{
	EACH(connection_lost) {
		if (MOD->connection_lost(c))
			return true;
	}
	return false;
}

void
registry_session_moved(struct c2s *c)
{
	EACH(session_moved)
		MOD->session_moved(c);
}

void
registry_session_free(struct c2s *c)
{
	EACH(session_free)
		MOD->session_free(c);
}

void
registry_user_offline(struct user *u, struct c2s *last)
{
	EACH(user_offline)
		MOD->user_offline(u, last);
}

void
registry_user_free(struct user *u)
{
	EACH(user_free)
		MOD->user_free(u);
}

void
registry_account_removed(struct user *u)
{
	EACH(account_removed)
		MOD->account_removed(u);
}

void
registry_account_kept(struct user *u)
{
	EACH(account_kept)
		MOD->account_kept(u);
}

void
registry_stats(struct buf *b)
{
	EACH(stats)
		MOD->stats(b);
}

struct prep {
	struct user *u;
	size_t k;
	void (*done)(void *, const char *);
	void *arg;
};

static void
prep_next(void *arg, const char *err)
{
	struct prep *p = arg;
	const struct module *m;

	while (err == NULL && p->k < nmods) {
		m = mods[p->k++];
		if (m->account_prepare) {
			m->account_prepare(p->u, prep_next, p);
			return;
		}
	}
	p->done(p->arg, err);
	free(p);
}

void
registry_account_prepare(struct user *u, void (*done)(void *, const char *), void *arg)
{
	struct prep *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		done(arg, "out of memory");
		return;
	}
	p->u = u;
	p->done = done;
	p->arg = arg;
	prep_next(p, NULL);
}

bool
registry_session_send(struct c2s *c, const struct xml_node *n)
{
	uint32_t w = c->watch & watch_all;

	for (size_t k = 0; w && k < nmods; k++) {
		const struct module *m = mods[k];

		if (!(w & m->watch_bit))
			continue;
		w &= ~m->watch_bit;
		if (m->session_send && m->session_send(c, n))
			return true;
	}
	return false;
}

void
registry_session_sent(struct c2s *c, const char *p, size_t len)
{
	uint32_t w = c->watch & watch_all;

	for (size_t k = 0; w && k < nmods; k++) {
		const struct module *m = mods[k];

		if (!(w & m->watch_bit))
			continue;
		w &= ~m->watch_bit;
		if (m->session_sent)
			m->session_sent(c, p, len);
	}
}

void
registry_session_received(struct c2s *c)
{
	uint32_t w = c->watch & watch_all;

	for (size_t k = 0; w && k < nmods; k++) {
		const struct module *m = mods[k];

		if (!(w & m->watch_bit))
			continue;
		w &= ~m->watch_bit;
		if (m->session_received)
			m->session_received(c);
	}
}
