/*
 * site — reading every daemon's configuration.  See site.h.
 *
 * The keys read from xmpp-core.toml, with the defaults xmpp-core gives
 * them (deploy/xmpp-core.toml documents each):
 *   hosts, user, control_socket; [database] conninfo, password_file;
 *   [tls] cert_file, key_file; [c2s] listen, listen_tls;
 *   [s2s] enabled (false), listen ([::]:5269), listen_tls (port 5270);
 *   [web] listen (127.0.0.1:5080, [::1]:5080), websocket_url, bosh_url;
 *   [upload] service (upload.<host>), url, secret_file;
 *   [extdisco] secret_file, [[extdisco.service]] type, host, port
 *   (3478, 5349 for stuns/turns), transport (udp, tcp for stuns/turns);
 *   [muc] enabled (true), service_jid (conference.<host>);
 *   [pubsub] service (true), service_jid (pubsub.<host>);
 *   [proxy65] service (proxy.<host>), listen ([::]:7777), host, port.
 */
#include "site.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nft.h"
/* the daemons' own loaders; three headers share the name config.h */
#include "../dumbclient-redirect/config.h"
#include "../portmap/forward.h"
#include "../turnd/config.h"
#include "../upload-gw/config.h"

const char *const site_daemons[D_COUNT] = {
	"xmpp-core", "turnd", "upload-gw", "portmap", "dumbclient-redirect",
};

const char *
svc_name(enum svc v)
{
	static const char *const n[] = {
		"xmpp-core c2s (STARTTLS)", "xmpp-core c2s (direct TLS)",
		"xmpp-core s2s", "xmpp-core s2s (direct TLS)", "turnd (UDP)",
		"turnd (TCP)", "turnd (TLS)", "xmpp-core web", "upload-gw",
		"xmpp-core proxy65", "xmpp-core control socket",
	};

	return n[v];
}

static void
add_listener(struct site *s, enum svc v, enum daemon_id d, const char *key,
    const struct edge_addr *a)
{
	if (s->nls == SITE_MAX_LISTEN)
		return;
	s->ls[s->nls].svc = v;
	s->ls[s->nls].daemon = d;
	s->ls[s->nls].key = key;
	s->ls[s->nls].a = *a;
	s->nls++;
}

/* Addresses from a string array, or dflt (NULL-terminated) when absent. */
static void
listen_key(struct site *s, struct conf_table *t, const char *key, int port,
    const char *const *dflt, enum svc v, const char *what)
{
	struct conf_err e;
	struct edge_addr a;
	char err[256];
	char *const *arr = NULL;
	size_t n = 0;

	if (t == NULL || conf_strarr(t, key, &arr, &n, &e) != 1) {
		for (; dflt && *dflt; dflt++)
			if (addr_parse(*dflt, port, &a, err, sizeof(err)) == 0)
				add_listener(s, v, D_XMPP, what, &a);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (addr_parse(arr[i], port, &a, err, sizeof(err)) == 0)
			add_listener(s, v, D_XMPP, what, &a);
}

static void
add_name(struct site *s, const char *name, const char *what, bool xmpp)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || strlen(name) >= NAME_MAX_LEN)
		return;
	for (i = 0; i < s->nnames; i++)
		if (strcasecmp(s->names[i].name, name) == 0)
			break;
	if (i == s->nnames) {
		if (s->nnames == SITE_MAX_NAMES)
			return;
		snprintf(s->names[i].name, sizeof(s->names[i].name), "%s", name);
		s->names[i].what = what;
		s->nnames++;
	}
	if (xmpp)
		s->names[i].xmpp = true;
	else
		s->names[i].web = true;
}

/* The host of an http(s):// or ws(s):// URL into out ("" if none). */
static void
url_host(const char *url, char *out, size_t cap)
{
	const char *p = url ? strstr(url, "://") : NULL;
	size_t n;

	out[0] = '\0';
	if (p == NULL)
		return;
	p += 3;
	if (*p == '[') {
		p++;
		n = strcspn(p, "]");
	} else
		n = strcspn(p, ":/");
	if (n > 0 && n < cap) {
		memcpy(out, p, n);
		out[n] = '\0';
	}
}

static const char *
str_key(struct conf_table *t, const char *key, const char *dflt)
{
	struct conf_err e;
	const char *v = dflt;

	if (t)
		(void)conf_str(t, key, &v, &e);
	return v;
}

static bool
bool_key(struct conf_table *t, const char *key, bool dflt)
{
	struct conf_err e;
	bool v = dflt;

	if (t)
		(void)conf_bool(t, key, &v, &e);
	return v;
}

static struct conf_table *
table_key(struct conf_table *root, const char *key)
{
	struct conf_err e;
	int rc;
	struct conf_table *t = conf_table(root, key, &e, &rc);

	return rc == 1 ? t : NULL;
}

/* One name per hosted domain ("conference.<host>"), or the one given. */
static void
service_names(struct site *s, const char *given, const char *prefix,
    const char *what)
{
	char buf[NAME_MAX_LEN];

	if (given) {
		add_name(s, given, what, true);
		return;
	}
	for (size_t i = 0; i < s->nhosts; i++) {
		snprintf(buf, sizeof(buf), "%s.%s", prefix, s->hosts[i]);
		add_name(s, buf, what, true);
	}
}

static void
load_extdisco(struct site *s, struct conf_table *root)
{
	struct conf_table *t = table_key(root, "extdisco");
	struct conf_table *const *sv;
	struct conf_err e;
	size_t n;

	if (t == NULL)
		return;
	s->turn_secret_file = str_key(t, "secret_file", NULL);
	if (conf_tables(t, "service", &sv, &n, &e) != 1)
		return;
	for (size_t i = 0; i < n && s->next < SITE_MAX_EXTDISCO; i++) {
		struct extdisco *x = &s->ext[s->next];
		const char *type = str_key(sv[i], "type", NULL);
		const char *host = str_key(sv[i], "host", NULL);
		const char *tr = str_key(sv[i], "transport", NULL);
		bool tls;
		long long port;

		if (type == NULL || host == NULL || strlen(type) >= sizeof(x->type) ||
		    strlen(host) >= sizeof(x->host))
			continue;
		tls = type[strlen(type) - 1] == 's';
		port = tls ? 5349 : 3478;
		(void)conf_int(sv[i], "port", 1, 65535, &port, &e);
		snprintf(x->type, sizeof(x->type), "%s", type);
		snprintf(x->host, sizeof(x->host), "%s", host);
		x->port = (int)port;
		x->tcp = tr ? strcmp(tr, "tcp") == 0 : tls;
		s->next++;
	}
}

static void
load_xmpp(struct site *s)
{
	static const char *const web_default[] = { "127.0.0.1:5080", "[::1]:5080", NULL };
	static const char *const s2s_default[] = { "[::]:5269", NULL };
	static const char *const proxy_default[] = { "[::]:7777", NULL };
	struct daemon_conf *d = &s->d[D_XMPP];
	struct conf_table *root, *t;
	struct conf_err e;
	char *const *hosts;
	char host[NAME_MAX_LEN];
	size_t nh;
	const char *pwfile;

	if ((s->xdoc = conf_parse_file(d->path, 0, &e)) == NULL) {
		snprintf(d->err, sizeof(d->err), "%s", e.msg);
		return;
	}
	root = s->xdoc->root;
	if (conf_strarr(root, "hosts", &hosts, &nh, &e) == 1)
		for (size_t i = 0; i < nh && s->nhosts < SITE_MAX_HOSTS; i++)
			s->hosts[s->nhosts++] = hosts[i];
	for (size_t i = 0; i < s->nhosts; i++)
		add_name(s, s->hosts[i], "XMPP domain", true);
	snprintf(d->user, sizeof(d->user), "%s", str_key(root, "user", "xmpp-core"));
	s->control_socket = str_key(root, "control_socket", NULL);
	if (s->control_socket) {
		char buf[4096 + 8], err[256];
		struct edge_addr a;

		snprintf(buf, sizeof(buf), "unix:%s", s->control_socket);
		if (addr_parse(buf, -1, &a, err, sizeof(err)) == 0)
			add_listener(s, SVC_CONTROL, D_XMPP, "control_socket", &a);
	}

	t = table_key(root, "database");
	s->conninfo = NULL;
	if (t && str_key(t, "conninfo", NULL)) {
		const char *ci = str_key(t, "conninfo", NULL);
		char *pw = NULL;

		pwfile = str_key(t, "password_file", NULL);
		if (pwfile && conf_read_secret_file(pwfile, &pw, &e) == -1)
			pw = NULL;	/* xmpp-core -t has reported it */
		/* the password as a keyword after the string: libpq lets
		 * a later keyword win, and quotes with \ and ' */
		if (pw) {
			size_t n = strlen(ci) + 2 * strlen(pw) + 16;
			char *o;

			if ((s->conninfo = malloc(n)) != NULL) {
				o = s->conninfo + sprintf(s->conninfo, "%s password='", ci);
				for (const char *p = pw; *p; p++) {
					if (*p == '\\' || *p == '\'')
						*o++ = '\\';
					*o++ = *p;
				}
				strcpy(o, "'");
			}
			conf_secret_free(pw);
		} else
			s->conninfo = strdup(ci);
	}

	t = table_key(root, "tls");
	s->x_cert = str_key(t, "cert_file", NULL);
	s->x_key = str_key(t, "key_file", NULL);

	t = table_key(root, "c2s");
	listen_key(s, t, "listen", 5222, NULL, SVC_C2S, "[c2s] listen");
	listen_key(s, t, "listen_tls", 5223, NULL, SVC_C2S_TLS, "[c2s] listen_tls");

	t = table_key(root, "s2s");
	s->s2s = bool_key(t, "enabled", false);
	if (s->s2s) {
		listen_key(s, t, "listen", 5269, s2s_default, SVC_S2S, "[s2s] listen");
		listen_key(s, t, "listen_tls", 5270, NULL, SVC_S2S_TLS, "[s2s] listen_tls");
	}

	if ((t = table_key(root, "web")) != NULL) {
		listen_key(s, t, "listen", -1, web_default, SVC_HTTP, "[web] listen");
		url_host(str_key(t, "websocket_url", NULL), host, sizeof(host));
		add_name(s, host, "WebSocket URL", false);
		url_host(str_key(t, "bosh_url", NULL), host, sizeof(host));
		add_name(s, host, "BOSH URL", false);
	}

	if ((t = table_key(root, "upload")) != NULL) {
		service_names(s, str_key(t, "service", NULL), "upload", "upload service");
		url_host(str_key(t, "url", NULL), host, sizeof(host));
		add_name(s, host, "upload URL", false);
		s->upload_secret_file = str_key(t, "secret_file", NULL);
	}
	load_extdisco(s, root);

	t = table_key(root, "muc");
	if (bool_key(t, "enabled", true))
		service_names(s, str_key(t, "service_jid", NULL), "conference", "MUC service");
	t = table_key(root, "pubsub");
	if (bool_key(t, "service", true))
		service_names(s, str_key(t, "service_jid", NULL), "pubsub", "PubSub service");
	if ((t = table_key(root, "proxy65")) != NULL) {
		long long port;
		size_t first = s->nls;

		service_names(s, str_key(t, "service", NULL), "proxy", "SOCKS5 proxy");
		listen_key(s, t, "listen", -1, proxy_default, SVC_PROXY65, "[proxy65] listen");
		port = first < s->nls ? addr_port(&s->ls[first].a) : 7777;
		(void)conf_int(t, "port", 1, 65535, &port, &e);
		s->proxy_port = (int)port;
		s->proxy_host = str_key(t, "host", NULL);
		if (s->proxy_host == NULL) {
			const char *svc = str_key(t, "service", NULL);

			/* the service JID is what clients are told to dial */
			for (size_t i = 0; svc == NULL && i < s->nnames; i++)
				if (strcmp(s->names[i].what, "SOCKS5 proxy") == 0)
					svc = s->names[i].name;
			s->proxy_host = svc;
		}
	}
	d->loaded = true;
}

static void
load_turnd(struct site *s)
{
	struct daemon_conf *d = &s->d[D_TURND];
	struct turnd_config *c;
	struct conf_doc *doc;
	struct conf_err e;

	if ((c = config_load(d->path, &e)) == NULL) {
		snprintf(d->err, sizeof(d->err), "%s", e.msg);
		return;
	}
	s->priv[D_TURND] = c;
	snprintf(d->user, sizeof(d->user), "%s", c->run_user ? c->run_user : "turnd");
	for (size_t i = 0; i < c->nlisten; i++) {
		add_listener(s, SVC_TURN_UDP, D_TURND, "listen", &c->listen[i]);
		if (c->listen_tcp)
			add_listener(s, SVC_TURN_TCP, D_TURND, "listen", &c->listen[i]);
	}
	for (size_t i = 0; i < c->ntls_listen; i++)
		add_listener(s, SVC_TURN_TLS, D_TURND, "tls_listen", &c->tls_listen[i]);
	s->t_tcp = c->listen_tcp;
	s->t_cert = c->tls_cert;
	s->t_key = c->tls_key;
	s->t_secrets = c->secrets;
	s->nt_secrets = c->nsecrets;
	s->t_realm = c->realm;
	/* the file names, for readability and "the same file": the loader
	 * keeps only the contents */
	if ((doc = conf_parse_file(d->path, 0, &e)) != NULL) {
		char *const *v;
		const char *f;
		size_t n;

		if (conf_str(doc->root, "secret_file", &f, &e) == 1)
			s->t_secret_files[s->nt_secret_files++] = strdup(f);
		if (conf_strarr(doc->root, "secret_files", &v, &n, &e) == 1)
			for (size_t i = 0; i < n && s->nt_secret_files < 16; i++)
				s->t_secret_files[s->nt_secret_files++] = strdup(v[i]);
		conf_free(doc);
	}
	d->loaded = true;
}

static void
load_upload(struct site *s)
{
	struct daemon_conf *d = &s->d[D_UPLOAD];
	struct upload_config *c;
	struct conf_doc *doc;
	struct conf_err e;

	if ((c = upload_config_load(d->path, &e)) == NULL) {
		snprintf(d->err, sizeof(d->err), "%s", e.msg);
		return;
	}
	s->priv[D_UPLOAD] = c;
	snprintf(d->user, sizeof(d->user), "%s", c->user ? c->user : "upload-gw");
	for (size_t i = 0; i < c->nlisten; i++)
		add_listener(s, SVC_UPLOAD, D_UPLOAD, "listen", &c->listen[i]);
	s->u_secret = c->secret;
	s->u_secret_len = c->secret_len;
	if ((doc = conf_parse_file(d->path, CONF_KEYS_NOCASE, &e)) != NULL) {
		const char *f;

		if (conf_str(doc->root, "secret_file", &f, &e) == 1)
			snprintf(s->u_secret_file, sizeof(s->u_secret_file), "%s", f);
		conf_free(doc);
	}
	d->loaded = true;
}

static void
nft_to_ss(const struct nft_ip *ip, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ip->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_addr = ip->u.v4;
		sin->sin_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = ip->u.v6;
		sin6->sin6_port = htons((uint16_t)port);
	}
}

static void
load_portmap(struct site *s)
{
	struct daemon_conf *d = &s->d[D_PORTMAP];
	struct portmap_conf *c;
	struct conf_err e;

	if ((c = portmap_conf_load(d->path, &e)) == NULL) {
		snprintf(d->err, sizeof(d->err), "%s", e.msg);
		return;
	}
	s->priv[D_PORTMAP] = c;
	snprintf(d->user, sizeof(d->user), "root");
	for (size_t i = 0; i < c->nfwd && s->nfwd < SITE_MAX_FWD; i++) {
		const struct forward *f = &c->fwd[i];
		struct fwd *o = &s->fwd[s->nfwd++];

		snprintf(o->name, sizeof(o->name), "%s", f->name);
		o->tcp = f->tcp;
		o->udp = f->udp;
		for (size_t j = 0; j < f->nlisten && j < SITE_MAX_FWD_ADDRS; j++)
			nft_to_ss(&f->listen[j], 0, &o->listen[o->nlisten++]);
		o->port_min = f->port_min;
		o->port_max = f->port_max;
		if (f->to4.family)
			nft_to_ss(&f->to4, 0, &o->to[o->nto++]);
		if (f->to6.family)
			nft_to_ss(&f->to6, 0, &o->to[o->nto++]);
		o->to_port = f->to_port;
	}
	d->loaded = true;
}

static void
load_redirect(struct site *s)
{
	struct daemon_conf *d = &s->d[D_REDIRECT];
	struct redirect_conf *c;
	struct conf_err e;

	if ((c = redirect_conf_load(d->path, &e)) == NULL) {
		snprintf(d->err, sizeof(d->err), "%s", e.msg);
		return;
	}
	s->priv[D_REDIRECT] = c;
	snprintf(d->user, sizeof(d->user), "root");
	s->r_domain = c->domain;
	for (size_t i = 0; i < c->nlisten && i < 16; i++)
		nft_to_ss(&c->listen[i], 0, &s->r_listen[s->nr_listen++]);
	d->loaded = true;
}

void
site_load(struct site *s, const char *dir, unsigned want)
{
	static void (*const loader[D_COUNT])(struct site *) = {
		load_xmpp, load_turnd, load_upload, load_portmap, load_redirect,
	};
	struct stat st;

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < D_COUNT; i++) {
		struct daemon_conf *d = &s->d[i];

		d->name = site_daemons[i];
		snprintf(d->path, sizeof(d->path), "%s/%s.toml", dir, d->name);
		if (!(want & (1u << i)) || stat(d->path, &st) != 0)
			continue;
		d->present = true;
		loader[i](s);
	}
}

void
site_free(struct site *s)
{
	if (s->xdoc)
		conf_free(s->xdoc);
	free(s->conninfo);
	if (s->priv[D_TURND])
		config_free(s->priv[D_TURND]);
	for (size_t i = 0; i < s->nt_secret_files; i++)
		free((char *)s->t_secret_files[i]);
	if (s->priv[D_UPLOAD])
		upload_config_free(s->priv[D_UPLOAD]);
	if (s->priv[D_PORTMAP])
		portmap_conf_free(s->priv[D_PORTMAP]);
	if (s->priv[D_REDIRECT])
		redirect_conf_free(s->priv[D_REDIRECT]);
	memset(s, 0, sizeof(*s));
}
