/*
 * follow — the state machine between DNS answers and the installed table.
 * See follow.h.  Everything here runs on the event loop; the lookups
 * themselves run in resolve.c's worker thread.
 */
#include "follow.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#include "rules.h"

/*
 * A target that is one of the addresses we redirect from (SRV records
 * pointing back at the web server, say) would turn every redirected
 * connection into a connection to this host's own closed port: refuse it
 * with a message rather than install rules that can only fail.
 */
static int
check_target(const struct redirect_conf *c, const struct redirect_target *t,
    char *why, size_t len)
{
	const struct nft_ip *v[4] = { &t->client4, &t->client6, &t->server4,
	    &t->server6 };
	char a[64];
	size_t l;

	for (int i = 0; i < 4; i++)
		for (l = 0; l < c->nlisten && v[i]->family; l++)
			if (nft_ip_equal(v[i], &c->listen[l])) {
				snprintf(why, len, "the XMPP host's address %s "
				    "is one of the listen addresses",
				    nft_ip_format(v[i], a, sizeof(a)));
				return -1;
			}
	return 0;
}

static int
install(struct follow *f, const struct redirect_target *t)
{
	char buf[256];

	if (redirect_apply(f->nft, f->conf, t) < 0)
		return -1;
	if (!f->installed || !redirect_target_equal(&f->current, t))
		log_notice("table inet %s: redirecting to %s", f->conf->table,
		    redirect_target_str(t, buf, sizeof(buf)));
	f->current = *t;
	f->installed = true;
	return 0;
}

static void
lookup(struct follow *f)
{
	struct resolve_req req;

	if (resolver_busy(f->resolver)) {
		f->lookup_again = true;
		return;
	}
	resolve_req_from_conf(f->conf, &req);
	if (resolver_start(f->resolver, &req) < 0) {
		log_err("starting a DNS lookup: %s; retrying in %llus",
		    strerror(errno), (unsigned long long)f->conf->retry);
		ev_timer_start(f->loop, &f->timer, f->conf->retry * 1000);
	}
}

static void
on_timer(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	lookup(t->data);
}

static void
on_resolved(const struct resolve_res *res, void *data)
{
	struct follow *f = data;
	const struct redirect_conf *c = f->conf;
	const char *why = res->err;
	bool ok = res->ok;
	char err[200];
	uint64_t next;

	if (f->lookup_again || c->has_static) {
		/* The answer is for an older config. */
		f->lookup_again = false;
		if (!c->has_static)
			lookup(f);
		return;
	}
	if (res->ok && check_target(c, &res->target, err, sizeof(err)) < 0) {
		ok = false;
		why = err;
	}
	if (!ok) {
		if (!f->failing)
			log_warn("DNS: %s; %s, retrying every %llus", why,
			    f->installed ? "keeping the current rules" :
			    "no rules installed yet",
			    (unsigned long long)c->retry);
		f->failing = true;
		ev_timer_start(f->loop, &f->timer, c->retry * 1000);
		return;
	}
	if (f->failing)
		log_notice("DNS answers again for %s", c->domain);
	f->failing = false;
	log_debug("DNS: c2s %s, s2s %s, ttl %u", res->client_host,
	    res->server_host, res->ttl);
	if (f->installed && redirect_target_equal(&f->current, &res->target) &&
	    nft_table_exists(f->nft, c->table) == 0) {
		log_warn("table inet %s was removed by someone else; "
		    "installing it again", c->table);
		f->installed = false;
	}
	if (!f->installed || !redirect_target_equal(&f->current, &res->target)) {
		if (install(f, &res->target) < 0) {
			ev_timer_start(f->loop, &f->timer, c->retry * 1000);
			return;
		}
	}
	next = res->ttl;
	if (next < c->min_ttl)
		next = c->min_ttl;
	if (next > c->max_ttl)
		next = c->max_ttl;
	ev_timer_start(f->loop, &f->timer, next * 1000);
}

int
follow_init(struct follow *f, struct ev_loop *loop, struct nft_sess *nft,
    const struct redirect_conf *conf)
{
	memset(f, 0, sizeof(*f));
	f->loop = loop;
	f->nft = nft;
	f->conf = conf;
	ev_timer_init(&f->timer, on_timer, f);
	if ((f->resolver = resolver_new(loop, on_resolved, f)) == NULL)
		return -1;
	return 0;
}

/* A static target: refuse this host's own addresses, then install. */
static int
install_static(struct follow *f)
{
	char why[200];

	if (check_target(f->conf, &f->conf->target, why, sizeof(why)) < 0) {
		log_err("%s: target: %s", f->conf->file, why);
		return -1;
	}
	return install(f, &f->conf->target);
}

int
follow_start(struct follow *f)
{
	ev_timer_stop(f->loop, &f->timer);
	if (f->conf->has_static)
		return install_static(f);
	f->failing = false;
	lookup(f);
	return 0;
}

int
follow_reconf(struct follow *f, const struct redirect_conf *conf)
{
	if (strcmp(conf->table, f->conf->table) != 0 &&
	    redirect_flush(f->nft, f->conf) == 0)
		log_notice("table inet %s removed (now %s)", f->conf->table,
		    conf->table);
	f->conf = conf;
	f->installed = false;
	return follow_start(f);
}

void
follow_stop(struct follow *f)
{
	ev_timer_stop(f->loop, &f->timer);
	resolver_free(f->resolver);
	f->resolver = NULL;
}

int
follow_once(struct nft_sess *nft, const struct redirect_conf *conf)
{
	struct follow f = { .nft = nft, .conf = conf };
	struct resolve_req req;
	struct resolve_res res;
	atomic_bool stop;

	if (conf->has_static)
		return install_static(&f);
	atomic_init(&stop, false);
	resolve_req_from_conf(conf, &req);
	resolve_targets(&req, &res, &stop);
	if (!res.ok) {
		log_err("DNS: %s", res.err);
		return -1;
	}
	if (check_target(conf, &res.target, res.err, sizeof(res.err)) < 0) {
		log_err("DNS: %s", res.err);
		return -1;
	}
	return install(&f, &res.target);
}
